"""The site admin console and the audit log's pages: find users (paged, a fixed number of
statements), their roles and memberships, deactivate / reactivate (confirmed, conditional
on the version the page showed), send a reset link, end every session — each audited with
who and from where; the log page filters and exports, and shows an organization admin
only their organization's entries."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.admin import services
from lms.audit.models import AuditAction, AuditEntry
from lms.audit.services import Origin, record
from lms.coursework.models import Submission
from lms.extensions import db
from lms.grading.models import Grade
from lms.mail.models import OutboxMessage
from tests.conftest import PASSWORD, World, sent_body

CASE = "mlops-case-coldwatch"


def entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


CONSOLE = {AuditAction.USER_DEACTIVATED, AuditAction.USER_REACTIVATED, AuditAction.SESSIONS_ENDED,
           AuditAction.RESET_LINK_SENT}


def console_entries() -> list[AuditEntry]:
    """The console's entries (the world's enrolments are audited too)."""
    return [e for e in entries() if e.action in CONSOLE]


def signed_in_client(app: Flask, login, user: Any) -> Any:
    client = app.test_client()
    login(client, user)
    return client


def fresh(user: Any) -> User:
    db.session.expire_all()
    found = db.session.get(User, user.id)
    assert found is not None
    return found


# --------------------------------------------------------------------------- users


def test_search_finds_part_of_a_name_or_email_in_any_case_and_pages(app: Flask, make_user) -> None:
    for n in range(30):
        make_user(email=f"pat{n:02d}@Example.org".lower(), name=f"Pat {n:02d}")
    make_user(email="someone@else.net", name="Robin 100%_off")
    with app.app_context():
        assert services.search_users(db.session, "EXAMPLE.ORG").total == 30
        first = services.search_users(db.session, "example.org", page=1)
        second = services.search_users(db.session, "example.org", page=2)
        assert (first.pages, len(first.rows), len(second.rows)) == (2, 25, 5)
        assert [r.user.name for r in services.search_users(db.session, "100%_").rows] == ["Robin 100%_off"]
        assert services.search_users(db.session, "%").total == 1  # wildcards are text
        assert services.search_users(db.session, "pat", page=99).page == 2


def test_search_finds_names_in_any_case_of_any_alphabet(app: Flask, world: World, make_user, client, login) -> None:
    """SQLite's lower() lowers ASCII letters only: names starting with a capital outside
    ASCII were found by the rest of the name only."""
    for name in ("Ünïcødé 名前", "Élodie Durand", "Özil Mesut", "Łukasz Nowak"):
        made = make_user(name=name)
    with app.app_context():
        _entry(db.session, AuditAction.COHORT_EDITED, world.org_a.id, made.id, "cohort:1")  # by Łukasz
        db.session.commit()
        for typed, found in [("Ünï", "Ünïcødé 名前"), ("ünï", "Ünïcødé 名前"), ("ÜNÏCØDÉ", "Ünïcødé 名前"), ("名前", "Ünïcødé 名前"),
                             ("élodie", "Élodie Durand"), ("ÉLODIE", "Élodie Durand"), ("özil", "Özil Mesut"),
                             ("łukasz", "Łukasz Nowak"), ("ŁUKASZ N", "Łukasz Nowak")]:
            assert [r.user.name for r in services.search_users(db.session, typed).rows] == [found], typed
    login(client, world.admin)
    assert "Łukasz Nowak" in client.get("/admin/users", query_string={"q": "łuk"}).get_data(as_text=True)
    assert "Łukasz Nowak" in table(client.get("/admin/audit", query_string={"actor": "łukasz"}))


def test_user_list_and_detail_show_organizations_and_roles(world: World, client, login) -> None:
    login(client, world.admin)
    page = client.get("/admin/users?q=learner a")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Learner A2" in text and "Alpha Org" in text and "Beta Org" not in text
    detail = client.get(f"/admin/users/{world.instructor_a.id}").get_data(as_text=True)
    assert "instructor" in detail and "Alpha 1" in detail and "Alpha Org" in detail
    detail = client.get(f"/admin/users/{world.org_admin_a.id}").get_data(as_text=True)
    assert "organization admin" in detail


def test_user_search_runs_a_fixed_number_of_statements(world: World, client, login, count_queries,
                                                       enrol_learner) -> None:
    login(client, world.admin)

    def count() -> int:
        db.session.expire_all()
        return count_queries(lambda: client.get("/admin/users?q=example"))

    few = count()
    for n in range(8):
        enrol_learner(world.cohort_a if n % 2 else world.cohort_b)
    assert count() == few


def test_deactivating_ends_sessions_refuses_sign_in_and_is_audited(app: Flask, world: World, client, login) -> None:
    learner_client = signed_in_client(app, login, world.learner_a)
    assert learner_client.get("/account").status_code == 200
    login(client, world.admin)
    version = world.learner_a.session_version
    answer = client.post(f"/admin/users/{world.learner_a.id}/deactivate", data={"version": version, "confirm": "y"},
                         environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert answer.status_code == 302
    learner = fresh(world.learner_a)
    assert learner.deactivated_at is not None and learner.session_version == version + 1
    assert learner_client.get("/account").status_code == 302  # sent to sign in: the session ended
    refused = app.test_client().post("/login", data={"email": learner.email, "password": PASSWORD})
    assert refused.status_code == 403 and "deactivated" in refused.get_data(as_text=True)
    (entry,) = console_entries()
    assert (entry.actor_id, entry.action, entry.target, entry.ip) == (
        world.admin.id, AuditAction.USER_DEACTIVATED, f"user:{learner.id}", "203.0.113.7")
    assert entry.before == {"active": True, "session_version": version}
    assert entry.after == {"active": False, "session_version": version + 1}

    back = client.post(f"/admin/users/{learner.id}/reactivate", data={"version": version + 1, "confirm": "y"})
    assert back.status_code == 302 and fresh(learner).deactivated_at is None
    assert app.test_client().post("/login", data={"email": learner.email, "password": PASSWORD}).status_code == 302
    assert [e.action for e in console_entries()] == [AuditAction.USER_DEACTIVATED, AuditAction.USER_REACTIVATED]


def test_deactivation_needs_confirmation_and_the_version_the_page_showed(world: World, client, login) -> None:
    login(client, world.admin)
    url = f"/admin/users/{world.learner_a.id}/deactivate"
    version = world.learner_a.session_version
    unconfirmed = client.post(url, data={"version": version})
    assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.get_data(as_text=True)
    stale = client.post(url, data={"version": version + 5, "confirm": "y"})
    assert stale.status_code == 409 and "changed since the page was shown" in stale.get_data(as_text=True)
    assert client.post(url, data={"version": "x", "confirm": "y"}).status_code == 400
    assert fresh(world.learner_a).deactivated_at is None and console_entries() == []
    own = client.post(f"/admin/users/{world.admin.id}/deactivate",
                      data={"version": world.admin.session_version, "confirm": "y"})
    assert own.status_code == 409 and fresh(world.admin).deactivated_at is None
    assert client.post("/admin/users/999999/deactivate", data={"version": 1, "confirm": "y"}).status_code == 404


def test_two_admins_deactivating_at_once_make_one_change(app: Flask, world: World, make_user) -> None:
    other = make_user(admin=True)
    with app.app_context():
        user = db.session.get(User, world.learner_a.id)
        assert user is not None
        version = user.session_version
        services.deactivate(db.session, user, version, Origin(world.admin.id, None))
        db.session.commit()
    with app.app_context():
        user = db.session.get(User, world.learner_a.id)
        assert user is not None
        try:
            services.reactivate(db.session, user, version, Origin(other.id, None))  # saw the old page
        except services.StaleUser:
            db.session.rollback()
        else:
            raise AssertionError("a stale reactivation was applied")
        assert [e.action for e in console_entries()] == [AuditAction.USER_DEACTIVATED]


def test_end_sessions_and_reset_link(app: Flask, world: World, client, login) -> None:
    learner_client = signed_in_client(app, login, world.learner_a)
    login(client, world.admin)
    version = world.learner_a.session_version
    assert client.post(f"/admin/users/{world.learner_a.id}/end-sessions", data={"version": version}).status_code == 302
    assert learner_client.get("/account").status_code == 302
    assert client.post(f"/admin/users/{world.learner_a.id}/reset-link",
                       data={"version": version + 1}).status_code == 302
    mails = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == world.learner_a.email)))
    assert len(mails) == 1 and "/password/reset/" in sent_body(mails[0])
    assert [e.action for e in console_entries()] == [AuditAction.SESSIONS_ENDED, AuditAction.RESET_LINK_SENT]


# --------------------------------------------------------------------------- the audit log


def _entry(session: Any, action: AuditAction, org_id: int | None, actor_id: int | None, target: str,
           at: datetime | None = None) -> None:
    entry = record(session, actor_id=actor_id, action=action, organization_id=org_id, target=target,
                   before={"name": "old"}, after={"name": "=new"}, ip="192.0.2.1")
    if at is not None:
        entry.created_at = at


def _log(app: Flask, world: World) -> None:
    with app.app_context():
        _entry(db.session, AuditAction.COHORT_EDITED, world.org_a.id, world.org_admin_a.id, "cohort:1")
        _entry(db.session, AuditAction.GRADE_RELEASED, world.org_a.id, world.instructor_a.id, "grade:1 submission:3")
        _entry(db.session, AuditAction.COHORT_ARCHIVED, world.org_b.id, world.org_admin_b.id, "cohort:2")
        _entry(db.session, AuditAction.USER_DEACTIVATED, None, world.admin.id, "user:9",
               at=datetime.now(UTC) - timedelta(days=40))
        db.session.commit()


def table(response: Any) -> str:
    """The log's table of a page (the filters list every action and organization too)."""
    text: str = response.get_data(as_text=True)
    return text.partition('id="audit-log"')[2].partition("</table>")[0]


def _rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_site_admin_filters_the_log(app: Flask, world: World, client, login) -> None:
    _log(app, world)
    login(client, world.admin)
    page = table(client.get("/admin/audit"))
    assert "192.0.2.1" in page and "Instructor A" in page
    by_actor = table(client.get("/admin/audit?actor=instructor"))
    assert "Grade released" in by_actor and "Cohort edited" not in by_actor
    by_org = table(client.get(f"/admin/audit?organization={world.org_b.id}"))
    assert "Cohort archived" in by_org and "Cohort edited" not in by_org
    recent = datetime.now(UTC).date() - timedelta(days=7)
    dated = table(client.get(f"/admin/audit?since={recent.isoformat()}"))
    assert "User deactivated" not in dated and "Cohort edited" in dated
    by_target = table(client.get("/admin/audit?target=grade:1"))
    assert "Grade released" in by_target and "Cohort edited" not in by_target
    assert table(client.get("/admin/audit?action=cohort_edited")).count("<tr>") == 2


def test_action_names_spell_acronyms_and_compounds_as_written(world: World, client, login) -> None:
    """The log names its actions in plain English: "API token created", not "Api token
    created"; "Single sign-on configured", not "Sso configured"; "Two-factor reset"."""
    login(client, world.admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    for name in ("API token created", "API token revoked", "Single sign-on configured", "Two-factor reset",
                 "Two-factor policy changed", "Site admin rights granted"):
        assert f">{name}</option>" in page, name
    for wrong in ("Api token", "Sso configured", "Two factor"):
        assert wrong not in page, wrong


def test_bad_filters_answer_400_with_a_message(world: World, client, login) -> None:
    login(client, world.admin)
    for query, message in [("since=2026-13-01", "is not a date"), ("action=nope", "Unknown action"),
                           ("organization=x", "Unknown organization"),
                           ("since=2026-02-01&until=2026-01-01", "comes after"),
                           # days whose bounds a time cannot hold (the day after 9999-12-31; 0001-01-01 east of UTC)
                           ("until=9999-12-31", "Choose a date between"), ("since=0001-01-01", "Choose a date between")]:
        answer = client.get(f"/admin/audit?{query}")
        assert answer.status_code == 400 and message in answer.get_data(as_text=True), query
        assert client.get(f"/admin/audit/export.csv?{query}").status_code == 400
    assert client.get("/admin/audit/export.xlsx").status_code == 404


def test_exports_carry_the_filtered_entries(app: Flask, world: World, client, login) -> None:
    _log(app, world)
    login(client, world.admin)
    answer = client.get(f"/admin/audit/export.csv?organization={world.org_a.id}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = [r for r in _rows(answer) if r["ip"] == "192.0.2.1"]  # not the world's enrolments
    assert [r["action"] for r in rows] == ["grade_released", "cohort_edited"]
    assert rows[0]["actor_email"] == world.instructor_a.email and rows[0]["ip"] == "192.0.2.1"
    assert json.loads(rows[0]["before"]) == {"name": "old"}
    data = client.get("/admin/audit/export.json?action=cohort_archived").get_json()
    assert [(r["action"], r["organization"], r["after"]) for r in data["rows"]] == [
        ("cohort_archived", "Beta Org", {"name": "=new"})]


def test_an_organization_admin_sees_only_their_organizations_entries(app: Flask, world: World, client, login) -> None:
    _log(app, world)
    login(client, world.org_admin_a)
    page = table(client.get("/admin/audit"))
    assert "Cohort edited" in page and "Grade released" in page
    assert "Cohort archived" not in page and "User deactivated" not in page and "Beta Org" not in page
    assert "Cohort archived" not in table(client.get(f"/admin/audit?organization={world.org_b.id}"))
    rows = _rows(client.get("/admin/audit/export.csv"))
    assert {r["organization"] for r in rows} == {"Alpha Org"}
    assert sorted(r["action"] for r in rows if r["ip"]) == ["cohort_edited", "grade_released"]


def test_log_page_and_export_run_a_fixed_number_of_statements(app: Flask, world: World, client, login,
                                                              count_queries) -> None:
    login(client, world.admin)
    urls = ["/admin/audit", "/admin/audit/export.csv", "/admin/audit/export.json"]

    def counts() -> list[int]:
        db.session.expire_all()
        return [count_queries(lambda url=url: client.get(url)) for url in urls]  # type: ignore[misc]

    _log(app, world)
    few = counts()
    for _ in range(5):
        _log(app, world)
    assert counts() == few


# --------------------------------------------------------------------------- actions of other features


def test_enrolment_and_cohort_actions_are_audited_with_who_and_where(app: Flask, world: World, client, login) -> None:
    existing = len(entries())  # the world's enrolments, made outside any request
    assert {e.action for e in entries()} == {AuditAction.ORGANIZATION_CREATED, AuditAction.LEARNER_ENROLLED}
    login(client, world.org_admin_a)
    sent = client.post(f"/cohorts/{world.cohort_a.id}/invitations", data={"email": "viaform@example.com", "name": "V"},
                       environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert sent.status_code == 302
    assert client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "archive"}).status_code == 302
    assert client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "unarchive"}).status_code == 302
    new = entries()[existing:]
    assert [e.action for e in new] == [AuditAction.LEARNER_INVITED, AuditAction.COHORT_ARCHIVED,
                                       AuditAction.COHORT_UNARCHIVED]
    assert {(e.actor_id, e.organization_id) for e in new} == {(world.org_admin_a.id, world.org_a.id)}
    assert new[0].ip == "198.51.100.23" and new[0].target.startswith("invitation:")
    assert new[1].before == {"archived_at": None} and new[1].after is not None and new[1].after["archived_at"]
    # organization admin A reads them; B does not
    other = signed_in_client(app, login, world.org_admin_b)
    assert "Cohort archived" not in table(other.get("/admin/audit"))


def test_grade_saves_are_audited_from_the_grading_signal(app: Flask, loaded, make_org, make_cohort,
                                                        enrol_learner, make_user, login) -> None:
    teacher = make_user(name="Tess Teacher")
    org = make_org(admins=[])
    cohort = make_cohort(org, "Main", months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lia Learner")
    signed_in_client(app, login, learner).post(f"/assignments/{CASE}/work", data={"body": "Mine.", "action": "submit"})
    db.session.expire_all()
    work = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
    assert work is not None
    teacher_client = signed_in_client(app, login, teacher)
    form = {**{f"level-{c.id}": c.levels[1].id for c in work.assignment.rubric.current.criteria},
            "feedback": "Clear.", "action": "draft", "revision": ""}
    url = f"/cohorts/{cohort.id}/submissions/{work.id}"
    for action in ("draft", "release", "release", "return"):
        db.session.expire_all()
        grade = db.session.scalar(select(Grade))
        revision = "" if grade is None else str(grade.revision)
        answer = teacher_client.post(url, data={**form, "action": action, "revision": revision},
                                     environ_base={"REMOTE_ADDR": "192.0.2.50"})
        assert answer.status_code == 302, action
    graded = [e for e in entries() if e.target.startswith("grade:")]
    assert [e.action for e in graded] == [AuditAction.GRADE_SAVED, AuditAction.GRADE_RELEASED, AuditAction.REGRADED,
                                          AuditAction.GRADE_RETURNED]
    assert {(e.actor_id, e.organization_id, e.ip) for e in graded} == {(teacher.id, org.id, "192.0.2.50")}
    assert graded[0].before is None and graded[1].before is not None and graded[1].before["status"] == "draft"
    assert graded[1].after is not None and graded[1].after["status"] == "released"


def test_organization_admins_added_and_site_admins_made_are_audited(app: Flask, world: World, client, login) -> None:
    """A site admin's invitation of an organization admin (by whom), then its acceptance (by
    the person, who becomes an administrator then)."""
    login(client, world.admin)
    added = client.post(f"/admin/organizations/{world.org_a.id}", data={"email": "new.admin@example.com", "name": "N"})
    assert added.status_code == 302
    client.post("/logout")
    invitation = sent_body(db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "new.admin@example.com")).one())
    assert invitation is not None
    link = invitation.split("http://localhost", 1)[1].split()[0]
    accepted = client.post(link, data={"name": "New Admin", "password": "a-long-passphrase-2", "confirm": "a-long-passphrase-2"})
    assert accepted.status_code == 302
    result = app.test_cli_runner().invoke(args=["lms", "create-admin", "--email", "root@example.com", "--name", "Root",
                                                "--password", "a-long-passphrase-1"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    invited, edited, granted = [e for e in entries() if e.action in (
        AuditAction.STAFF_INVITED, AuditAction.ORGANIZATION_EDITED, AuditAction.ADMIN_GRANTED)]
    new_admin = db.session.scalar(select(User).where(User.email == "new.admin@example.com"))
    assert new_admin is not None
    assert (invited.action, invited.actor_id, invited.organization_id) == (AuditAction.STAFF_INVITED, world.admin.id, world.org_a.id)
    assert invited.after is not None and invited.after["role"] == "organization_admin"
    assert (edited.actor_id, edited.organization_id, edited.before) == (new_admin.id, world.org_a.id,
                                                                       {"admins": [world.org_admin_a.id]})
    assert edited.after == {"admins": sorted([world.org_admin_a.id, new_admin.id])}
    assert (granted.action, granted.actor_id, granted.ip) == (AuditAction.ADMIN_GRANTED, None, None)
