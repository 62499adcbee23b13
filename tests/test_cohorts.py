"""Organizations, cohorts and enrolment, end to end: the services on their own, then the
pages an admin, an org admin, an instructor, a learner and an invited person use.

Requests run in their own session: the test commits before a request and expires its
session after one (``db.session.expire_all()``) before looking at rows again."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lms.accounts.models import PasswordResetToken, User
from lms.accounts.services import find_user
from lms.audit.models import AuditAction, AuditEntry
from lms.cohorts import views as cohort_views
from lms.cohorts.csv_import import preview_import
from lms.cohorts.enrolment import enrol, move_learner
from lms.cohorts.invitations import accept_invitation, accept_invitation_as, check_invitation, invite_learner
from lms.cohorts.models import (
    Cohort,
    Enrolment,
    EnrolmentImport,
    Invitation,
    InvitationRole,
    Organization,
    Pace,
    cohort_instructors,
    organization_admins,
)
from lms.cohorts.roles import add_organization_admin
from lms.cohorts.services import (
    CohortError,
    archive_cohort,
    create_cohort,
    create_organization,
    unarchive_cohort,
    update_cohort,
)
from lms.extensions import db
from lms.mail.models import OutboxMessage
from tests.conftest import PASSWORD, World, sent_body
from tests.races import second_waits_for_first

GOOD_PASSWORD = "violet-otter-canoe-42"


# --------------------------------------------------------------------------- helpers


def invitation_link(token: str) -> str:
    return f"http://localhost/invitations/{token}"


def mails(recipient: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if recipient is not None:
        query = query.where(OutboxMessage.recipient == recipient)
    return list(db.session.scalars(query))


def invitation_token(message: OutboxMessage) -> str:
    found = re.search(r"/invitations/([A-Za-z0-9_-]+)", sent_body(message))
    assert found, f"no invitation link in: {sent_body(message)!r}"
    return found.group(1)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def active_cohort_of(user_id: int) -> int | None:
    return db.session.scalar(select(Enrolment.cohort_id).where(Enrolment.user_id == user_id, Enrolment.ended_at.is_(None)))


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def upload(client: Any, cohort_id: int, data: bytes, filename: str = "learners.csv") -> Any:
    """POST a CSV file to the import form, as a browser does (multipart/form-data).

    The body is encoded in memory: given ``data={"file": (io.BytesIO(...), name)}`` the test
    client spools a large body to a temporary file it never closes, and the 10 MB case
    would then fail a later test with a ResourceWarning."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename, content_type="text/csv")})
    return client.post(f"/cohorts/{cohort_id}/import", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def preview_url(response: Any) -> str:
    assert response.status_code == 302, text(response)
    location = response.headers["Location"]
    assert re.search(r"/cohorts/\d+/import/\d+$", location), location
    return location


def past() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


# --------------------------------------------------------------------------- organizations (services)


def test_organization_names_are_unique_ignoring_case(app) -> None:
    org = create_organization(db.session, "  Acme Learning ")
    db.session.commit()
    assert org.name == "Acme Learning"
    for clash in ("Acme Learning", "ACME LEARNING", " acme learning"):
        with pytest.raises(CohortError, match="already exists"):
            create_organization(db.session, clash)
    with pytest.raises(CohortError, match="needs a name"):
        create_organization(db.session, "   ")
    assert count(Organization) == 1


def test_a_new_org_admin_is_invited_and_no_account_is_made_before_they_accept(app) -> None:
    org = create_organization(db.session, "Acme")
    invitation = add_organization_admin(db.session, org, " Ada@Example.com ", "Ada Admin", invitation_link)
    db.session.commit()

    assert (invitation.email, invitation.name, invitation.role) == ("ada@example.com", "Ada Admin", InvitationRole.ORGANIZATION_ADMIN)
    assert (invitation.organization_id, invitation.cohort_id) == (org.id, None)
    assert count(User) == 0 and org.admins == []
    [message] = mails("ada@example.com")
    assert message.subject == "Administer Acme on the AI Operations program" and "be an administrator of Acme" in message.body
    accept_invitation(db.session, invitation_token(message), "Ada Admin", GOOD_PASSWORD)
    db.session.commit()
    ada = find_user(db.session, "ada@example.com")
    assert ada is not None and ada.has_password and [u.id for u in org.admins] == [ada.id]
    assert active_cohort_of(ada.id) is None  # an administrator, not a learner


def test_an_existing_account_is_not_made_org_admin_before_it_accepts(app, make_user) -> None:
    """The QA report: the site admin typed an address that had an account, and its owner
    was an administrator at once, unasked. Now they are sent an invitation like anybody."""
    existing = make_user(email="bob@example.com", name="Bob")
    org = create_organization(db.session, "Acme")
    add_organization_admin(db.session, org, "BOB@example.com", "Someone Else", invitation_link)
    db.session.commit()

    assert org.admins == [] and count(User) == 1
    [message] = mails("bob@example.com")
    assert "Hello Someone Else," in message.body  # the name the site admin typed, never the account's
    accept_invitation_as(db.session, invitation_token(message), existing)
    db.session.commit()
    assert [u.id for u in org.admins] == [existing.id] and existing.name == "Bob"
    with pytest.raises(CohortError, match="already an administrator"):
        add_organization_admin(db.session, org, "bob@example.com", "", invitation_link)


def test_org_admin_with_a_bad_email_is_refused(app) -> None:
    org = create_organization(db.session, "Acme")
    with pytest.raises(CohortError, match="not a valid email"):
        add_organization_admin(db.session, org, "not-an-address", "X", invitation_link)
    assert count(User) == 0 and mails() == []


# --------------------------------------------------------------------------- cohorts (services)


def test_create_cohort_checks_name_uniqueness_and_time_zone(app, make_org) -> None:
    org, other = make_org("Acme"), make_org("Other")
    cohort = create_cohort(db.session, org, " Spring 2026 ", date(2026, 3, 1), "Europe/Paris", [])
    db.session.commit()
    assert (cohort.name, cohort.start_date, cohort.timezone) == ("Spring 2026", date(2026, 3, 1), "Europe/Paris")

    with pytest.raises(CohortError, match="needs a name"):
        create_cohort(db.session, org, "  ", date(2026, 3, 1), "UTC", [])
    with pytest.raises(CohortError, match="already has a cohort"):
        create_cohort(db.session, org, "SPRING 2026", date(2026, 4, 1), "UTC", [])
    with pytest.raises(CohortError, match="Unknown time zone"):
        create_cohort(db.session, org, "Autumn", date(2026, 9, 1), "Mars/Olympus_Mons", [])
    # The same name in another organization is fine.
    create_cohort(db.session, other, "Spring 2026", date(2026, 3, 1), "UTC", [])
    db.session.commit()
    assert count(Cohort, Cohort.organization_id == org.id) == 1
    assert count(Cohort) == 2


def test_instructors_are_chosen_among_the_organizations_staff(app, make_org, make_user, make_cohort) -> None:
    """Its administrators and the instructors of its cohorts; nobody is made an account or
    sent a mail."""
    boss, teacher = make_user(email="boss@example.com"), make_user(email="teacher@example.com")
    org = make_org("Acme", admins=[boss])
    make_cohort(org, "Earlier", instructors=[teacher])
    users_before = count(User)
    cohort = create_cohort(db.session, org, "C1", date(2026, 1, 1), "UTC",
                           ["Teacher@example.com", "boss@example.com", "TEACHER@example.com", " "])
    db.session.commit()
    assert sorted(u.email for u in cohort.instructors) == ["boss@example.com", "teacher@example.com"]
    assert count(User) == users_before and mails() == []

    with pytest.raises(CohortError, match="not a valid email") as refused:
        create_cohort(db.session, org, "C2", date(2026, 1, 1), "UTC", ["nope"])
    assert refused.value.field == "instructors"


def test_no_one_outside_the_organizations_staff_is_made_an_instructor(app, world: World, make_user) -> None:
    """Another organization's admin, instructor and learner, a site admin, this
    organization's own learner, someone with no role and an address with no account: each
    refused in the same words (nothing says whether the account exists, nor its name), and
    nothing made, attached or mailed."""
    outsiders = [world.org_admin_a, world.instructor_a, world.learner_a, world.admin, world.learner_b, world.nobody]
    users_before = count(User)
    messages = []
    for address in [u.email for u in outsiders] + ["stranger@example.com"]:
        with pytest.raises(CohortError) as refused:
            create_cohort(db.session, world.org_b, "Beta 2", date(2026, 1, 1), "UTC", [world.instructor_b.email, address])
        db.session.rollback()
        assert refused.value.field == "instructors"
        messages.append(str(refused.value).replace(address, "ADDRESS"))
    assert messages == ["ADDRESS is not on the staff of Beta Org yet: only its administrators and the instructors of its "
                        "cohorts can be named instructors here. To bring someone new in, save the cohort without them, "
                        "then invite them from the cohort's page (\"Invite an instructor\"): they become its instructor "
                        "when they accept."] * len(messages)
    with pytest.raises(CohortError, match=r"^x@example.com, y@example.com are not on the staff of Beta Org yet"):
        create_cohort(db.session, world.org_b, "Beta 2", date(2026, 1, 1), "UTC", ["x@example.com", "y@example.com"])
    db.session.rollback()
    db.session.expire_all()
    assert count(Cohort, Cohort.organization_id == world.org_b.id) == 1 and count(User) == users_before and mails() == []
    assert [u.id for u in db.session.get(Cohort, world.cohort_b.id).instructors] == [world.instructor_b.id]


def test_a_learner_of_the_cohort_cannot_teach_it(app, world: World) -> None:
    enrol(db.session, world.cohort_a2, world.org_admin_a)
    db.session.commit()
    with pytest.raises(CohortError, match=r"is a learner of this cohort, and a learner cannot teach their own cohort"):
        update_cohort(db.session, world.cohort_a2, "Alpha 2", world.cohort_a2.start_date, "UTC", [world.org_admin_a.email], 0)
    db.session.rollback()
    assert db.session.get(Cohort, world.cohort_a2.id).instructors == []


def test_archived_cohort_takes_no_enrolments_or_invitations(app, make_cohort, make_user) -> None:
    cohort = make_cohort(name="Old")
    staff, person = make_user(), make_user()
    archive_cohort(db.session, cohort)
    db.session.commit()
    assert cohort.archived

    with pytest.raises(CohortError, match="archived"):
        enrol(db.session, cohort, person)
    with pytest.raises(CohortError, match="archived"):
        invite_learner(db.session, cohort, "someone@example.com", "", staff, invitation_link)
    with pytest.raises(CohortError, match="archived"):
        preview_import(db.session, cohort, "l.csv", b"email,name\nx@example.com,X\n", staff)
    db.session.rollback()
    assert count(Enrolment) == 0 and count(Invitation) == 0 and count(EnrolmentImport) == 0

    unarchive_cohort(db.session, cohort)
    enrol(db.session, cohort, person)
    db.session.commit()
    assert active_cohort_of(person.id) == cohort.id


def test_enrol_refuses_someone_already_enrolled(app, make_org, make_cohort, enrol_learner) -> None:
    org = make_org()
    first, second = make_cohort(org, "First"), make_cohort(org, "Second")
    learner = enrol_learner(first)
    for cohort, where in ((first, "this cohort"), (second, "First")):
        with pytest.raises(CohortError, match=f"already enrolled in {where}"):
            enrol(db.session, cohort, learner)
    assert count(Enrolment) == 1


def test_move_learner_ends_one_enrolment_and_starts_another(app, world: World) -> None:
    learner_id = world.learner_a.id
    move_learner(db.session, world.learner_a, world.cohort_a, world.cohort_a2)
    db.session.commit()
    db.session.expire_all()

    rows = list(db.session.scalars(select(Enrolment).where(Enrolment.user_id == learner_id).order_by(Enrolment.id)))
    assert len(rows) == 2
    old, new = rows
    assert old.cohort_id == world.cohort_a.id and old.ended_at is not None
    assert old.ended_reason == "moved to Alpha 2"
    assert new.cohort_id == world.cohort_a2.id and new.ended_at is None and new.user_id == learner_id
    assert active_cohort_of(learner_id) == world.cohort_a2.id
    assert find_user(db.session, world.learner_a.email).id == learner_id


def test_move_learner_refuses_another_organizations_cohort(app, world: World) -> None:
    with pytest.raises(CohortError, match="same organization"):
        move_learner(db.session, world.learner_a, world.cohort_a, world.cohort_b)
    with pytest.raises(CohortError, match="not enrolled in Alpha 2"):
        move_learner(db.session, world.learner_a, world.cohort_a2, world.cohort_a)
    db.session.rollback()
    db.session.expire_all()
    assert count(Enrolment, Enrolment.user_id == world.learner_a.id) == 1
    assert active_cohort_of(world.learner_a.id) == world.cohort_a.id


def test_move_through_the_view_keeps_history(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    learner_id, target = world.learner_a.id, world.cohort_a2.id
    response = client.post(f"/cohorts/{world.cohort_a.id}/learners/{learner_id}/move", data={"move-target": target})
    assert response.status_code == 302
    db.session.expire_all()
    assert active_cohort_of(learner_id) == target
    assert count(Enrolment, Enrolment.user_id == learner_id) == 2


def test_ending_an_enrolment_asks_first_keeps_the_work_and_frees_the_learner_to_join_elsewhere(
        app, client, world: World, login) -> None:
    """An org admin ends a learner's enrolment (they withdrew): the learner leaves the
    cohort's roster and pages, the ending is audited, and they can accept another
    organization's invitation, which told them to have this enrolment ended first."""
    learner, cohort = world.learner_a, world.cohort_a
    login(client, world.org_admin_a)
    roster = text(client.get(f"/cohorts/{cohort.id}"))
    url = f"/cohorts/{cohort.id}/learners/{learner.id}/end"
    assert f'href="{url}"' in roster
    page = client.get(url)
    assert page.status_code == 200 and learner.email in text(page) and "What they did stays" in text(page)

    unconfirmed = client.post(url, data={"reason": "Withdrew from the program"})
    assert unconfirmed.status_code == 400 and "Tick the box to confirm." in text(unconfirmed)
    assert 'value="Withdrew from the program"' in text(unconfirmed)
    too_long = client.post(url, data={"reason": "x" * 41, "confirm": "y"})
    assert too_long.status_code == 400
    db.session.expire_all()
    assert active_cohort_of(learner.id) == cohort.id

    ended = client.post(url, data={"reason": "  Withdrew   from the program ", "confirm": "y"})
    assert ended.status_code == 302
    db.session.expire_all()
    assert active_cohort_of(learner.id) is None
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.user_id == learner.id)).one()
    assert enrolment.ended_reason == "Withdrew from the program" and enrolment.ended_at is not None
    assert learner.email not in text(client.get(f"/cohorts/{cohort.id}"))
    assert client.get(url).status_code == 404  # nothing left to end
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.ENROLMENT_ENDED)).one()
    assert entry.organization_id == world.org_a.id and entry.actor_id == world.org_admin_a.id

    invitation = invite_learner(db.session, world.cohort_b, learner.email, "", world.org_admin_b, invitation_link)
    db.session.commit()
    token = invitation_token(mails(learner.email)[-1])
    accept_invitation_as(db.session, token, db.session.get(User, learner.id))
    db.session.commit()
    assert active_cohort_of(learner.id) == world.cohort_b.id
    assert invitation.id


def test_ending_an_enrolment_is_refused_to_another_cohorts_learner(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    assert client.get(f"/cohorts/{world.cohort_a.id}/learners/{world.learner_a2.id}/end").status_code in (403, 404)
    assert client.post(f"/cohorts/{world.cohort_a.id}/learners/{world.learner_b.id}/end",
                       data={"reason": "x", "confirm": "y"}).status_code in (403, 404)
    db.session.expire_all()
    assert active_cohort_of(world.learner_b.id) == world.cohort_b.id


def test_the_site_admin_removes_an_organization_admin(app, client, world: World, login) -> None:
    """An organization admin who left can lose the role (the erasure page tells the site
    admin to remove it first; no page could); the change is audited."""
    login(client, world.admin)
    url = f"/admin/organizations/{world.org_a.id}/admins/{world.org_admin_a.id}/remove"
    assert url in text(client.get(f"/admin/organizations/{world.org_a.id}"))
    assert client.post(url).status_code == 302
    db.session.expire_all()
    assert world.org_admin_a.id not in [a.id for a in db.session.get(Organization, world.org_a.id).admins]
    assert "is no longer an administrator of Alpha Org" in text(client.get(f"/admin/organizations/{world.org_a.id}"))
    again = client.post(url, follow_redirects=True)
    assert "is not an administrator of Alpha Org" in text(again)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.ORGANIZATION_EDITED)
                               .order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.after == {"admins": []}
    other = app.test_client()
    login(other, world.org_admin_b)
    assert other.post(f"/admin/organizations/{world.org_b.id}/admins/{world.org_admin_b.id}/remove").status_code == 403


def test_removing_an_organization_admin_asks_first(app, client, world: World, login) -> None:
    """Taking the role away is undone only by a new invitation the person has to accept:
    the button opens a question naming the person before the form that removes them."""
    login(client, world.admin)
    page = text(client.get(f"/admin/organizations/{world.org_a.id}"))
    question = re.search(r'<details class="confirm remove-admin">(.*?)</details>', page, re.S)
    assert question and f"/admins/{world.org_admin_a.id}/remove" in question.group(1)
    assert world.org_admin_a.name in question.group(1) and "Yes, remove" in question.group(1)


def test_a_move_to_a_cohort_with_a_long_name_fits_the_reason_it_keeps(app, client, world: World, login) -> None:
    """The ended enrolment keeps "moved to <cohort>" in 40 characters; a longer cohort name
    failed the move on PostgreSQL (value too long for the column)."""
    world.cohort_a2.name = "Alpha 2, the spring intake for the northern region offices"
    db.session.commit()
    login(client, world.org_admin_a)
    assert client.post(f"/cohorts/{world.cohort_a.id}/learners/{world.learner_a.id}/move",
                       data={"move-target": world.cohort_a2.id}).status_code == 302
    db.session.expire_all()
    assert active_cohort_of(world.learner_a.id) == world.cohort_a2.id
    reason = db.session.scalar(select(Enrolment.ended_reason).where(Enrolment.user_id == world.learner_a.id,
                                                                     Enrolment.ended_at.is_not(None)))
    assert reason == "moved to Alpha 2, the spring intake for"


# --------------------------------------------------------------------------- invitations (services)


def test_invitation_mail_carries_the_link(app, world: World) -> None:
    invitation = invite_learner(db.session, world.cohort_a, " New@Example.com ", "New Person",
                                world.org_admin_a, invitation_link)
    db.session.commit()
    assert invitation.email == "new@example.com"
    [message] = mails("new@example.com")
    assert "Alpha 1" in message.subject
    check = check_invitation(db.session, invitation_token(message))
    assert check.invitation is not None and check.invitation.id == invitation.id
    assert check.existing_user is None


def test_reinviting_revokes_the_previous_link(app, world: World) -> None:
    invite_learner(db.session, world.cohort_a, "new@example.com", "", world.org_admin_a, invitation_link)
    invite_learner(db.session, world.cohort_a, "new@example.com", "", world.org_admin_a, invitation_link)
    db.session.commit()
    first, second = mails("new@example.com")
    old, new = invitation_token(first), invitation_token(second)
    assert old != new
    assert check_invitation(db.session, old).invitation is None
    assert "not valid" in (check_invitation(db.session, old).problem or "")
    assert check_invitation(db.session, new).invitation is not None
    with pytest.raises(CohortError, match="not valid"):
        accept_invitation(db.session, old, "New", GOOD_PASSWORD)


def test_no_invitation_for_the_organizations_own_learners(app, world: World) -> None:
    for cohort, where in ((world.cohort_a, "this cohort"), (world.cohort_a2, "Alpha 1")):
        with pytest.raises(CohortError, match=f"already a learner of {where}"):
            invite_learner(db.session, cohort, world.learner_a.email, "", world.org_admin_a, invitation_link)
    db.session.rollback()
    assert count(Invitation) == 0 and mails() == []


def test_an_instructor_is_not_invited_imported_or_enrolled_into_the_cohort_they_teach(app, client, world: World,
                                                                                     login) -> None:
    """The QA report: inviting or importing a cohort's instructor into it showed no problem,
    and accepting made them both its instructor and its learner."""
    instructor = world.instructor_a
    with pytest.raises(CohortError, match=f"{instructor.email} is an instructor of this cohort, who cannot also be one "
                                          "of its learners"):
        invite_learner(db.session, world.cohort_a, instructor.email, "", world.org_admin_a, invitation_link)
    db.session.rollback()
    preview = preview_import(db.session, world.cohort_a, "l.csv", _csv("email,name", f"{instructor.email},Instructor A",
                                                                       "fresh@example.com,Fresh"), world.org_admin_a)
    assert [(r["email"], r["problem"]) for r in preview.bad] == [
        (instructor.email, "an instructor of this cohort, who cannot also be one of its learners")]
    db.session.commit()
    login(client, world.org_admin_a)
    refused = client.post(f"/cohorts/{world.cohort_a.id}/invitations", data={"email": instructor.email})
    assert refused.status_code == 400 and "an instructor of this cohort" in text(refused)
    # Invited to another cohort of the organization, which they do not teach: fine.
    assert client.post(f"/cohorts/{world.cohort_a2.id}/invitations", data={"email": instructor.email}).status_code == 302

    # Invited before they were made its instructor: accepting is refused, and they stay staff only.
    client.post("/logout")
    token = _invite(world, email=world.nobody.email)
    db.session.get(Cohort, world.cohort_a.id).instructors.append(db.session.get(User, world.nobody.id))
    db.session.commit()
    with pytest.raises(CohortError, match="You teach Alpha 1, so you cannot also join it as a learner"):
        accept_invitation_as(db.session, token, world.nobody)
    db.session.rollback()
    login(client, world.nobody)
    answer = client.post(f"/invitations/{token}", data={})
    assert answer.status_code == 400 and "You teach Alpha 1" in text(answer)
    db.session.expire_all()
    assert active_cohort_of(world.nobody.id) is None and active_cohort_of(instructor.id) is None
    assert count(Enrolment, Enrolment.user_id.in_([world.nobody.id, instructor.id])) == 0


def test_nobody_is_enrolled_or_moved_as_a_learner_into_a_cohort_they_teach(app, client, world: World, login) -> None:
    """Invitations and the CSV import refused a cohort's instructor as its learner, but
    ``enrol`` and a move did not: the same rule now holds however someone would join it,
    and a refused move leaves the learner where they were."""
    instructor = world.instructor_a
    with pytest.raises(CohortError, match=f"{instructor.email} is an instructor of this cohort, who cannot also be one "
                                          "of its learners"):
        enrol(db.session, world.cohort_a, instructor)
    db.session.rollback()
    assert active_cohort_of(instructor.id) is None

    # Learner A2 made an instructor of cohort A: not moved into it, by the service or the page.
    db.session.get(Cohort, world.cohort_a.id).instructors.append(db.session.get(User, world.learner_a2.id))
    db.session.commit()
    learner = db.session.get(User, world.learner_a2.id)
    with pytest.raises(CohortError, match="an instructor of this cohort, who cannot also be one of its learners"):
        move_learner(db.session, learner, world.cohort_a2, world.cohort_a)
    db.session.rollback()
    login(client, world.org_admin_a)
    refused = client.post(f"/cohorts/{world.cohort_a2.id}/learners/{world.learner_a2.id}/move",
                          data={"move-target": world.cohort_a.id}, follow_redirects=True)
    assert "an instructor of this cohort, who cannot also be one of its learners" in text(refused)
    db.session.expire_all()
    assert active_cohort_of(world.learner_a2.id) == world.cohort_a2.id


def test_another_organizations_learner_is_invited_and_told_the_conflict_when_accepting(app, world: World) -> None:
    """Organization B's admin is not told that learner A is enrolled elsewhere: the
    invitation goes out like any other; learner A, accepting, is told, and stays where
    they are."""
    invitation = invite_learner(db.session, world.cohort_b, world.learner_a.email, "", world.org_admin_b, invitation_link)
    db.session.commit()
    assert invitation.accepted_at is None
    assert active_cohort_of(world.learner_a.id) == world.cohort_a.id
    token = invitation_token(mails(world.learner_a.email)[0])
    with pytest.raises(CohortError, match=r"already a learner of Alpha 1 \(Alpha Org\)"):
        accept_invitation_as(db.session, token, world.learner_a)
    db.session.rollback()
    assert active_cohort_of(world.learner_a.id) == world.cohort_a.id
    assert count(Enrolment, Enrolment.user_id == world.learner_a.id) == 1
    assert db.session.get(Invitation, invitation.id).accepted_at is None


# --------------------------------------------------------------------------- invitations (pages)


def _invite(world: World, email: str = "new@example.com", name: str = "") -> str:
    invite_learner(db.session, world.cohort_a, email, name, world.org_admin_a, invitation_link)
    db.session.commit()
    return invitation_token(mails(email)[-1])


def test_invite_through_the_cohort_page(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    response = client.post(f"/cohorts/{world.cohort_a.id}/invitations", data={"email": "viaform@example.com", "name": "Via Form"})
    assert response.status_code == 302
    db.session.expire_all()
    [message] = mails("viaform@example.com")
    assert "/invitations/" in sent_body(message)
    assert "viaform@example.com" in text(client.get(f"/cohorts/{world.cohort_a.id}"))  # pending list

    refused = client.post(f"/cohorts/{world.cohort_a.id}/invitations", data={"email": world.learner_a2.email})
    assert refused.status_code == 400
    assert "already a learner of Alpha 2" in text(refused)


def test_the_invited_list_is_paged_with_a_fixed_number_of_statements(app, client, world: World, login, count_queries,
                                                                      monkeypatch) -> None:
    """An import invites up to 2,000 at once: the cohort page lists them a page at a time
    (oldest first, each page with its own Send again / Withdraw buttons), counts them all in
    its heading, and its statements do not grow with them."""
    monkeypatch.setattr(cohort_views, "INVITED_PER_PAGE", 2)
    login(client, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}"

    def invite(numbers: range) -> None:
        for n in numbers:
            assert client.post(f"{url}/invitations", data={"email": f"wave{n}@example.com", "name": f"Wave {n}"}).status_code == 302
        db.session.expire_all()

    invite(range(1, 4))
    few = count_queries(lambda: client.get(url))
    invite(range(4, 8))
    assert count_queries(lambda: client.get(url)) == few
    first = text(client.get(url))
    assert "7 invited, not joined" in first and "Invitations 1–2 of 7, oldest first." in first
    assert "wave1@example.com" in first and "wave2@example.com" in first and "wave3@example.com" not in first
    assert f'href="{url}?invited=2#invited"' in first
    last = text(client.get(f"{url}?invited=4"))
    assert "Invitations 7–7 of 7" in last and "wave7@example.com" in last and "wave6@example.com" not in last
    assert "Withdraw the invitation of wave7@example.com" in last
    assert "wave7@example.com" in text(client.get(f"{url}?invited=99"))  # out of range: the last page
    # Withdrawing or sending again from page 2 comes back to page 2, not the first.
    second = text(client.get(f"{url}?invited=2"))
    assert 'name="invited" value="2"' in second
    wave3 = db.session.scalar(select(Invitation).where(Invitation.email == "wave3@example.com"))
    withdrawn = client.post(f"{url}/invitations/{wave3.id}/withdraw", data={"invited": "2"})
    assert withdrawn.headers["Location"].endswith(f"{url}?invited=2#invited")
    wave4 = db.session.scalar(select(Invitation).where(Invitation.email == "wave4@example.com"))
    resent = client.post(f"{url}/invitations/{wave4.id}/resend", data={"invited": "2"})
    assert resent.headers["Location"].endswith(f"{url}?invited=2#invited")


def test_anonymous_visitor_sees_the_set_password_form(app, client, world: World) -> None:
    token = _invite(world, name="Nina New")
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 200
    page = text(response)
    assert "Join Alpha 1" in page and "new@example.com" in page
    assert 'name="password"' in page and 'name="confirm"' in page and 'value="Nina New"' in page


@pytest.mark.parametrize(("password", "message"), [
    ("password123", "too common"),
    ("short", "Use at least 10 characters"),
    ("NinaNew-2026!", "from your name or email"),
])
def test_weak_password_saves_nothing(app, client, world: World, password: str, message: str) -> None:
    token = _invite(world)
    users_before = count(User)
    response = client.post(f"/invitations/{token}", data={"name": "Nina New", "password": password, "confirm": password})
    assert response.status_code == 400
    assert message in text(response)
    assert 'name="password"' in text(response)
    db.session.expire_all()
    assert count(User) == users_before
    assert find_user(db.session, "new@example.com") is None
    assert db.session.scalar(select(Invitation)).accepted_at is None
    assert client.get("/account").status_code == 302  # not signed in


def test_accepting_creates_enrols_and_signs_in(app, client, world: World) -> None:
    token = _invite(world)
    response = client.post(f"/invitations/{token}", data={"name": "Nina New", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/home")

    db.session.expire_all()
    user = find_user(db.session, "new@example.com")
    assert user is not None and user.name == "Nina New" and user.has_password
    assert active_cohort_of(user.id) == world.cohort_a.id
    assert db.session.scalar(select(Invitation)).accepted_at is not None
    # The enrolment is the person's own action in the audit log, not the system's: they
    # were not signed in yet when they accepted (an instructor's acceptance is theirs too).
    [joined] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.LEARNER_ENROLLED,
                                                           AuditEntry.target == f"user:{user.id} cohort:{world.cohort_a.id}"))
    assert joined.actor_id == user.id
    account = client.get("/account")
    assert account.status_code == 200 and "new@example.com" in text(account)

    # Its owner following the mail's link again, signed in, is sent home and told they are
    # done (it answered 400 "already been accepted. Sign in instead." to someone signed in).
    again = client.get(f"/invitations/{token}")
    assert again.status_code == 302 and again.headers["Location"].endswith("/home")
    assert "You accepted this invitation already: there is nothing more to do." in text(client.get("/home"))
    client.post("/logout")
    assert "already been accepted" in text(client.get(f"/invitations/{token}"))


def test_a_new_account_starts_on_the_cohorts_clock_or_the_zone_chosen_when_accepting(app, client, world: World) -> None:
    """Every deadline a learner reads is on their account's clock: an account made by accepting
    starts on the cohort's zone (not UTC, whatever the cohort's), and the form offers the zones of
    the browser's languages' countries first, the cohort's selected; another zone chosen is kept."""
    world.cohort_a.timezone = "America/New_York"
    db.session.commit()
    token = _invite(world)
    form = client.get(f"/invitations/{token}", headers={"Accept-Language": "de-DE,de;q=0.9"})
    page = form.get_data(as_text=True)
    zone_select = page[page.index('name="timezone"'):page.index("</select>", page.index('name="timezone"'))]
    assert '<option selected value="America/New_York">' in zone_select
    likely = zone_select[zone_select.index('label="Likely for you"'):zone_select.index("</optgroup>")]
    assert "America/New_York" in likely and "Europe/Berlin" in likely
    tag = re.search(r'<select[^>]*name="timezone"[^>]*>', page)
    assert "/static/accounts/timezone.js" in page and tag is not None and 'data-zone-from-browser="choose"' in tag.group(0)

    response = client.post(f"/invitations/{token}", data={"name": "Nina New", "password": GOOD_PASSWORD,
                                                         "confirm": GOOD_PASSWORD})  # no zone sent: the cohort's
    assert response.status_code == 302
    db.session.expire_all()
    assert find_user(db.session, "new@example.com").timezone == "America/New_York"

    client.post("/logout")
    other = _invite(world, email="zoned@example.com")
    refused = client.post(f"/invitations/{other}", data={"name": "Zed Zoned", "password": GOOD_PASSWORD,
                                                         "confirm": GOOD_PASSWORD, "timezone": "Mars/Olympus_Mons"})
    assert refused.status_code == 400 and "Not a valid choice" in text(refused)
    assert 'value="Zed Zoned"' in refused.get_data(as_text=True)
    assert find_user(db.session, "zoned@example.com") is None
    chosen = client.post(f"/invitations/{other}", data={"name": "Zed Zoned", "password": GOOD_PASSWORD,
                                                        "confirm": GOOD_PASSWORD, "timezone": "Asia/Kolkata"})
    assert chosen.status_code == 302
    db.session.expire_all()
    assert find_user(db.session, "zoned@example.com").timezone == "Asia/Kolkata"


def test_an_administrator_invited_without_a_cohort_starts_on_utc_unless_they_choose(app) -> None:
    org = create_organization(db.session, "Acme")
    invitation = add_organization_admin(db.session, org, "ada@example.com", "Ada Admin", invitation_link)
    bea = add_organization_admin(db.session, org, "bea@example.com", "Bea Admin", invitation_link)
    db.session.commit()
    assert invitation.cohort is None
    accept_invitation(db.session, invitation_token(mails("ada@example.com")[0]), "Ada Admin", GOOD_PASSWORD)
    accept_invitation(db.session, invitation_token(mails("bea@example.com")[0]), "Bea Admin", GOOD_PASSWORD,
                      timezone="Europe/Lisbon")
    db.session.commit()
    assert find_user(db.session, "ada@example.com").timezone == "UTC"
    assert find_user(db.session, "bea@example.com").timezone == "Europe/Lisbon"
    assert bea.accepted_at is not None


def _zone_help(page: str) -> str:
    found = re.search(r'<small class="muted" id="timezone-help"><span data-zone-default>([^<]*)</span>', page)
    assert found, "the time-zone field says which zone it preselected"
    return html.unescape(found.group(1))


def test_an_administrator_accepting_starts_on_the_zone_of_most_cohorts_of_the_organization(app, client, world: World,
                                                                                              make_cohort) -> None:
    """An administrator's invitation has no cohort: the acceptance form preselects the zone most of
    the organization's cohorts are on (its open ones first), says so, and a zone chosen is kept."""
    world.cohort_a.timezone = "Europe/Paris"
    world.cohort_a2.timezone = "Asia/Tokyo"
    make_cohort(world.org_a, "Alpha 3", timezone="Asia/Tokyo")
    for name in ("Old 1", "Old 2", "Old 3"):  # archived: counted after the open cohorts
        make_cohort(world.org_a, name, timezone="America/Chicago").archived_at = past()
    db.session.commit()
    add_organization_admin(db.session, world.org_a, "ada@example.com", "Ada Admin", invitation_link)
    add_organization_admin(db.session, world.org_a, "bea@example.com", "Bea Admin", invitation_link)
    db.session.commit()
    ada, bea = invitation_token(mails("ada@example.com")[-1]), invitation_token(mails("bea@example.com")[-1])

    page = text(client.get(f"/invitations/{ada}"))
    zone_select = page[page.index('name="timezone"'):page.index("</select>", page.index('name="timezone"'))]
    assert '<option selected value="Asia/Tokyo">' in zone_select
    assert _zone_help(page) == "Preselected: Asia/Tokyo, the most common time zone of the cohorts of Alpha Org."
    tag = re.search(r'<select[^>]*name="timezone"[^>]*>', page)
    assert tag is not None and 'data-zone-from-browser="choose"' in tag.group(0) and "/static/accounts/timezone.js" in page
    assert 'aria-describedby="timezone-help"' in tag.group(0)

    kept = client.post(f"/invitations/{ada}", data={"name": "Ada Admin", "password": GOOD_PASSWORD,
                                                    "confirm": GOOD_PASSWORD})  # no zone sent: the preselected one
    assert kept.status_code == 302
    client.post("/logout")
    chosen = client.post(f"/invitations/{bea}", data={"name": "Bea Admin", "password": GOOD_PASSWORD,
                                                      "confirm": GOOD_PASSWORD, "timezone": "Europe/Lisbon"})
    assert chosen.status_code == 302
    db.session.expire_all()
    assert find_user(db.session, "ada@example.com").timezone == "Asia/Tokyo"
    assert find_user(db.session, "bea@example.com").timezone == "Europe/Lisbon"
    assert {u.email for u in db.session.get(Organization, world.org_a.id).admins} >= {"ada@example.com", "bea@example.com"}


def test_an_administrator_of_an_organization_without_cohorts_is_told_utc_was_preselected(app, client) -> None:
    org = create_organization(db.session, "Acme")
    add_organization_admin(db.session, org, "ada@example.com", "Ada Admin", invitation_link)
    db.session.commit()
    url = f"/invitations/{invitation_token(mails('ada@example.com')[-1])}"
    page = text(client.get(url))
    assert '<option selected value="UTC">' in page
    assert _zone_help(page) == "Preselected: UTC, as Acme has no cohort to take a time zone from."
    refused = client.post(url, data={"name": "Ada Admin", "password": GOOD_PASSWORD, "confirm": "different!!",
                                     "timezone": "Asia/Kolkata"})
    assert refused.status_code == 400 and "data-zone-default" not in text(refused)  # their choice, not a default
    assert client.post(url, data={"name": "Ada Admin", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD,
                                  "timezone": "Asia/Kolkata"}).status_code == 302
    db.session.expire_all()
    assert find_user(db.session, "ada@example.com").timezone == "Asia/Kolkata"


def test_a_learner_invitation_keeps_the_cohort_zone_without_a_note(app, client, world: World) -> None:
    page = text(client.get(f"/invitations/{_invite(world)}"))
    assert "data-zone-default" not in page and "Deadlines and times are shown on this clock." in page


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u202e", "\n"])
def test_accepting_with_an_invisible_name_makes_no_account_and_keeps_the_input(app, client, world: World, name: str) -> None:
    token = _invite(world)
    response = client.post(f"/invitations/{token}", data={"name": name, "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 400
    page = text(response)
    assert "at least one letter or digit" in page or "This field is required" in page
    assert 'name="password"' in page
    db.session.expire_all()
    assert find_user(db.session, "new@example.com") is None
    assert db.session.scalar(select(Invitation)).accepted_at is None


def test_accepting_takes_invisible_characters_out_of_the_name(app, client, world: World, make_user) -> None:
    # Both ways an acceptance sets a name: a new account, and one an administrator made
    # without a password (the person names themself when they accept).
    made = make_user(email="made@example.com", name="Made By Staff", password=None)
    for email in ("new@example.com", made.email):
        token = _invite(world, email=email)
        response = client.post(f"/invitations/{token}", data={"name": "\u202eNina\u200b \n New",
                                                               "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
        assert response.status_code == 302, text(response)
        client.post("/logout")
    db.session.expire_all()
    assert [find_user(db.session, e).name for e in ("new@example.com", made.email)] == ["Nina New", "Nina New"]


def test_an_invisible_name_is_refused_when_inviting(app, client, world: World, login) -> None:
    with pytest.raises(CohortError, match="at least one letter or digit"):
        invite_learner(db.session, world.cohort_a, "new@example.com", "\u200b\u200b", world.org_admin_a, invitation_link)
    db.session.rollback()
    login(client, world.org_admin_a)
    refused = client.post(f"/cohorts/{world.cohort_a.id}/invitations", data={"email": "viaform@example.com", "name": "\u202e"})
    assert refused.status_code == 400 and "at least one letter or digit" in text(refused)
    sent = client.post(f"/cohorts/{world.cohort_a.id}/invitations", data={"email": "viaform@example.com", "name": "Via\u200b Form\n"})
    assert sent.status_code == 302
    db.session.expire_all()
    assert list(db.session.scalars(select(Invitation.name))) == ["Via Form"]


def test_expired_invitation_is_refused(app, client, world: World) -> None:
    token = _invite(world)
    db.session.scalar(select(Invitation)).expires_at = past()
    db.session.commit()
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 400
    assert "expired" in text(response)
    posted = client.post(f"/invitations/{token}", data={"name": "Late", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert posted.status_code == 400
    db.session.expire_all()
    assert find_user(db.session, "new@example.com") is None


def test_unknown_token_is_refused(app, client) -> None:
    response = client.get("/invitations/not-a-real-token")
    assert response.status_code == 400
    assert "not valid" in text(response)


def test_existing_user_signs_in_then_accepts_with_the_button(app, client, world: World, make_user, login) -> None:
    person = make_user(email="has.account@example.com", name="Has Account")
    token = _invite(world, email=person.email)
    url = f"/invitations/{token}"

    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"] and "next=" in response.headers["Location"]
    # No form that would create a second account.
    assert client.post(url, data={"name": "X", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}).status_code == 302

    signed_in = client.post(f"/login?next={url}", data={"email": person.email, "password": PASSWORD})
    assert signed_in.headers["Location"] == url
    page = client.get(url)
    assert page.status_code == 200 and f"Accept as {person.email}" in text(page)
    accepted = client.post(url, data={})
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith("/home")
    db.session.expire_all()
    assert active_cohort_of(person.id) == world.cohort_a.id
    assert count(User, User.email == person.email) == 1
    assert db.session.scalar(select(Invitation)).accepted_at is not None


def test_signed_in_as_someone_else_is_refused(app, client, world: World, login) -> None:
    token = _invite(world, email="invited@example.com")
    login(client, world.nobody)
    shown = client.get(f"/invitations/{token}")
    assert shown.status_code == 400 and "Sign out and open the link again" in text(shown)
    assert "Accept as" not in text(shown)  # no button that could only fail
    response = client.post(f"/invitations/{token}", data={})
    assert response.status_code == 400
    page = text(response)
    assert "This invitation is for invited@example.com" in page and world.nobody.email in page
    db.session.expire_all()
    assert active_cohort_of(world.nobody.id) is None
    assert db.session.scalar(select(Invitation)).accepted_at is None


# --------------------------------------------------------------------------- staff invitations


def _invite_to_teach(client: Any, world: World, email: str) -> Any:
    """Org admin A invites ``email`` to teach cohort A through the cohort page."""
    return client.post(f"/cohorts/{world.cohort_a.id}/instructor-invitations", data={"instructor-email": email})


def _teachers(cohort_id: int) -> list[str]:
    db.session.expire_all()
    return sorted(user.email for user in db.session.get(Cohort, cohort_id).instructors)


def test_an_org_admin_invites_a_new_instructor_who_teaches_once_they_accept(app, client, world: World, login) -> None:
    """The QA report: since the cohort form names only the organization's staff, an
    organization admin had no way to bring in a new instructor. Now they invite them from
    the cohort page; the person makes their account through the link, and only then
    teaches the cohort."""
    login(client, world.org_admin_a)
    page = text(client.get(f"/cohorts/{world.cohort_a.id}"))
    assert "Invite an instructor" in page and f'action="/cohorts/{world.cohort_a.id}/instructor-invitations"' in page
    sent = _invite_to_teach(client, world, " New.Teacher@Example.com ")
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/cohorts/{world.cohort_a.id}")
    listed = text(client.get(sent.headers["Location"]))
    assert ("An invitation is on its way to new.teacher@example.com. They become an instructor of Alpha 1 when they "
            "accept it.") in listed
    assert re.search(r"<td>new.teacher@example.com</td><td>instructor</td>", listed), listed
    # Invited, not yet an instructor: no account, not on the cohort, nothing the cohort form would keep.
    assert _teachers(world.cohort_a.id) == [world.instructor_a.email]
    assert find_user(db.session, "new.teacher@example.com") is None
    invitation = db.session.scalar(select(Invitation).where(Invitation.email == "new.teacher@example.com"))
    assert (invitation.role, invitation.cohort_id, invitation.organization_id) == (
        InvitationRole.INSTRUCTOR, world.cohort_a.id, world.org_a.id)
    [message] = mails("new.teacher@example.com")
    assert message.subject == "Teach Alpha 1 on the AI Operations program"
    assert message.body.startswith("Hello,\n") and "teach the cohort Alpha 1 of Alpha Org" in message.body
    client.post("/logout")

    url = f"/invitations/{invitation_token(message)}"
    shown = text(client.get(url))
    assert "Teach Alpha 1" in shown and 'name="name"' in shown and "Accept the invitation" in shown
    accepted = client.post(url, data={"name": "Nora Teacher", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"/cohorts/{world.cohort_a.id}")
    assert _teachers(world.cohort_a.id) == sorted([world.instructor_a.email, "new.teacher@example.com"])
    nora = find_user(db.session, "new.teacher@example.com")
    assert nora is not None and nora.has_password and active_cohort_of(nora.id) is None
    roster = client.get(f"/cohorts/{world.cohort_a.id}")  # signed in, as the cohort's instructor
    assert roster.status_code == 200 and "You are now an instructor of Alpha 1." in text(roster)
    assert "new.teacher@example.com" not in text(roster).split('id="invited-not-joined"')[1]  # no longer invited
    # Audited: the invitation by the org admin, the acceptance by the person.
    invited, edited = db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(
        [AuditAction.STAFF_INVITED, AuditAction.COHORT_EDITED])).order_by(AuditEntry.id))
    assert (invited.action, invited.actor_id, invited.target) == (
        AuditAction.STAFF_INVITED, world.org_admin_a.id, f"invitation:{invitation.id} cohort:{world.cohort_a.id}")
    assert (edited.action, edited.actor_id) == (AuditAction.COHORT_EDITED, nora.id)
    assert edited.before["instructors"] == [world.instructor_a.id]
    assert edited.after["instructors"] == sorted([world.instructor_a.id, nora.id])
    # The link is used up.
    client.post("/logout")
    again = client.get(url)
    assert again.status_code == 400 and "already been accepted" in text(again)


def test_an_existing_account_invited_to_teach_signs_in_and_accepts(app, client, world: World, login) -> None:
    """Another organization's instructor: invited like anybody, attached only by their own click."""
    teacher = world.instructor_b
    login(client, world.org_admin_a)
    assert _invite_to_teach(client, world, teacher.email).status_code == 302
    client.post("/logout")
    assert _teachers(world.cohort_a.id) == [world.instructor_a.email]
    url = f"/invitations/{invitation_token(mails(teacher.email)[-1])}"
    assert "/login" in client.get(url).headers["Location"]  # no form that would make a second account
    login(client, teacher)
    shown = text(client.get(url))
    assert "Teach Alpha 1" in shown and f"Accept as {teacher.email}" in shown
    accepted = client.post(url, data={})
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"/cohorts/{world.cohort_a.id}")
    assert _teachers(world.cohort_a.id) == sorted([world.instructor_a.email, teacher.email])
    assert _teachers(world.cohort_b.id) == [teacher.email]  # what they were elsewhere is unchanged


def test_inviting_an_instructor_reads_the_same_whoever_the_address_belongs_to(app, client, world: World, login) -> None:
    """Another organization's admin, instructor and learner, a site admin, someone with no
    role and an address with no account: the same answer, the same page and the same mail,
    no name, and nobody made, attached or enrolled."""
    login(client, world.org_admin_b)
    before = _people_and_memberships()
    pages, bodies = [], []
    for address in (world.org_admin_a.email, world.instructor_a.email, world.learner_a.email, world.admin.email,
                    world.nobody.email, "stranger@example.com"):
        sent = client.post(f"/cohorts/{world.cohort_b.id}/instructor-invitations", data={"instructor-email": address},
                           follow_redirects=True)
        assert sent.status_code == 200
        page = text(sent)
        for name in ("Org Admin A", "Instructor A", "Learner A", "Site Admin", "Nobody"):
            assert name not in page
        # What the answer says of this address: the message, and its row among the invited.
        row = re.search(rf"<tr>\s*<td>[^<]*</td><td>{re.escape(address)}</td>.*?</tr>", page, re.S)
        assert row is not None, page
        said = "\n".join([*_flashes(page), re.sub(r"/invitations/\d+/", "/invitations/ID/", row.group(0))])
        pages.append(said.replace(address, "ADDRESS"))
        db.session.expire_all()
        [message] = mails(address)
        bodies.append(re.sub(r"/invitations/\S+", "/invitations/TOKEN", sent_body(message)))
    assert "An invitation is on its way to ADDRESS. They become an instructor of Beta 1 when they accept it." in pages[0]
    assert all(page == pages[0] for page in pages), "the answer differs by whom the address belongs to"
    assert all(body == bodies[0] for body in bodies) and bodies[0].startswith("Hello,\n")
    assert _people_and_memberships() == before


def test_an_instructor_invitation_expired_withdrawn_or_used_is_refused(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    for email in ("late@example.com", "withdrawn@example.com"):
        assert _invite_to_teach(client, world, email).status_code == 302
    db.session.expire_all()
    late = db.session.scalar(select(Invitation).where(Invitation.email == "late@example.com"))
    late.expires_at = past()
    withdrawn = db.session.scalar(select(Invitation).where(Invitation.email == "withdrawn@example.com"))
    db.session.commit()
    assert client.post(f"/cohorts/{world.cohort_a.id}/invitations/{withdrawn.id}/withdraw", data={}).status_code == 302
    client.post("/logout")
    form = {"name": "Too Late", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}
    for email, problem in (("late@example.com", "This invitation has expired."),
                           ("withdrawn@example.com", "This invitation link is not valid.")):
        url = f"/invitations/{invitation_token(mails(email)[-1])}"
        assert problem in text(client.get(url))
        refused = client.post(url, data=form)
        assert refused.status_code == 400 and problem in text(refused)
        assert find_user(db.session, email) is None
    assert _teachers(world.cohort_a.id) == [world.instructor_a.email]
    # Sent again, the late one works; once used it is refused.
    login(client, world.org_admin_a)
    assert client.post(f"/cohorts/{world.cohort_a.id}/invitations/{late.id}/resend", data={}).status_code == 302
    client.post("/logout")
    [_, again] = mails("late@example.com")
    assert again.subject == "Teach Alpha 1 on the AI Operations program"
    url = f"/invitations/{invitation_token(again)}"
    assert client.post(url, data=form).status_code == 302
    client.post("/logout")
    used = client.post(url, data=form)
    assert used.status_code == 400 and "already been accepted" in text(used)
    assert _teachers(world.cohort_a.id) == sorted([world.instructor_a.email, "late@example.com"])


def test_an_instructor_invitation_to_a_learner_of_the_cohort_is_refused(app, client, world: World, login) -> None:
    """At the invitation when the organization sees it (its own learner), and at the
    acceptance when the person became a learner of the cohort since: told to them, and the
    invitation stays valid."""
    login(client, world.org_admin_a)
    refused = _invite_to_teach(client, world, world.learner_a.email)
    assert refused.status_code == 400
    assert f"{world.learner_a.email} is a learner of Alpha 1, and a learner cannot teach their own cohort." in text(refused)
    assert _invite_to_teach(client, world, world.instructor_a.email).status_code == 400  # already teaches it
    assert _invite_to_teach(client, world, world.nobody.email).status_code == 302
    client.post("/logout")
    db.session.expire_all()
    enrol(db.session, db.session.get(Cohort, world.cohort_a.id), db.session.get(User, world.nobody.id), datetime.now(UTC))
    db.session.commit()
    url = f"/invitations/{invitation_token(mails(world.nobody.email)[-1])}"
    login(client, world.nobody)
    answer = client.post(url, data={})
    assert answer.status_code == 400
    assert "You are a learner of Alpha 1, and a learner cannot teach their own cohort." in text(answer)
    assert _teachers(world.cohort_a.id) == [world.instructor_a.email]
    assert db.session.scalar(select(Invitation).where(Invitation.email == world.nobody.email)).accepted_at is None
    assert active_cohort_of(world.nobody.id) == world.cohort_a.id


def test_an_instructor_invitation_accepted_twice_at_once_adds_them_once(app, client, world: World, login) -> None:
    """A double click on "Accept": the second finds the invitation taken, told so, not a 500."""
    login(client, world.org_admin_a)
    assert _invite_to_teach(client, world, world.nobody.email).status_code == 302
    token, user_id = invitation_token(mails(world.nobody.email)[-1]), world.nobody.id
    db.session.commit()

    def accept(session: Any) -> str:
        try:
            accept_invitation_as(session, token, session.get_one(User, user_id))
        except CohortError as exc:
            session.rollback()  # as the view does
            return str(exc)
        return "accepted"

    first, second = second_waits_for_first(app, accept, accept)
    assert (first, second) == ("accepted", "This invitation has already been accepted. Sign in instead.")
    assert _teachers(world.cohort_a.id) == sorted([world.instructor_a.email, world.nobody.email])


def test_a_cohort_form_opened_before_an_instructor_accepted_does_not_drop_them(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}/edit"
    assert 'name="revision" type="hidden" value="0"' in text(client.get(url))
    assert _invite_to_teach(client, world, world.nobody.email).status_code == 302
    token = invitation_token(mails(world.nobody.email)[-1])
    accept_invitation_as(db.session, token, db.session.get(User, world.nobody.id))
    db.session.commit()
    stale = client.post(url, data={"name": "Alpha 1", "start_date": world.cohort_a.start_date.isoformat(), "timezone": "UTC",
                                   "instructors": world.instructor_a.email, "revision": 0})
    assert stale.status_code == 409 and "someone else changed this cohort" in text(stale)
    assert _teachers(world.cohort_a.id) == sorted([world.instructor_a.email, world.nobody.email])


def test_the_cohort_form_points_to_the_instructor_invitation(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    refused = client.post(f"/cohorts/{world.cohort_a.id}/edit", data={
        "name": "Alpha 1", "start_date": "2026-01-01", "timezone": "UTC", "instructors": "new@example.com", "revision": 0})
    assert "then invite them from the cohort&#39;s page (&#34;Invite an instructor&#34;)" in text(refused)
    assert 'Someone new is invited from the cohort&#39;s page' in text(client.get(f"/organizations/{world.org_a.id}/cohorts/new"))


def test_an_org_admin_invitation_attaches_nobody_until_accepted_and_can_be_withdrawn(app, client, world: World, login) -> None:
    login(client, world.admin)
    admin_page = f"/admin/organizations/{world.org_a.id}"
    for email in (world.nobody.email, "mistake@example.com"):
        assert client.post(admin_page, data={"email": email}).status_code == 302
    db.session.expire_all()
    assert [a.id for a in db.session.get(Organization, world.org_a.id).admins] == [world.org_admin_a.id]
    mistake = db.session.scalar(select(Invitation).where(Invitation.email == "mistake@example.com"))
    withdrawn = client.post(f"{admin_page}/invitations/{mistake.id}/withdraw", data={}, follow_redirects=True)
    assert "The invitation of mistake@example.com is withdrawn" in text(withdrawn)
    invited = text(withdrawn).split('id="invited-admins"')[1].split("</ul>")[0]
    assert world.nobody.email in invited and "mistake@example.com" not in invited
    assert world.nobody.email not in text(client.get(f"/cohorts/{world.cohort_a.id}"))  # not a cohort's invitation
    refused = client.post(admin_page, data={"email": world.org_admin_a.email})
    assert refused.status_code == 400 and "already an administrator of Alpha Org" in text(refused)
    client.post("/logout")
    assert "not valid" in text(client.get(f"/invitations/{invitation_token(mails('mistake@example.com')[-1])}"))

    login(client, world.nobody)
    assert client.get(f"/organizations/{world.org_a.id}").status_code == 404  # not yet an administrator
    url = f"/invitations/{invitation_token(mails(world.nobody.email)[-1])}"
    assert "Administer Alpha Org" in text(client.get(url))
    accepted = client.post(url, data={})
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"/organizations/{world.org_a.id}")
    assert client.get(f"/organizations/{world.org_a.id}").status_code == 200
    db.session.expire_all()
    assert sorted(a.id for a in db.session.get(Organization, world.org_a.id).admins) == sorted(
        [world.org_admin_a.id, world.nobody.id])


# --------------------------------------------------------------------------- CSV import


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_import_names_a_row_by_the_line_it_starts_on(app, client, world: World, login) -> None:
    """A quoted field over two lines, and a quote never closed: each row is named by the
    line it starts on (where the person looks), not the line the reader stopped at."""
    login(client, world.org_admin_a)
    data = _csv(
        "email,name",
        'multi@example.com,"Ada',                  # 2-3 a name with a line break in quotes
        'Lovelace"',
        "after@example.com,After",               # 4
        '"open@example.com,Never Closed',         # 5 an unclosed quote takes the rest
        "lost@example.com,Lost",
    )
    page = text(client.get(preview_url(upload(client, world.cohort_a.id, data))))
    assert re.search(r"<td>4</td>\s*<td>after@example.com</td>", page)
    assert re.search(r"<td>2</td>\s*<td>multi@example.com</td>", page)
    assert re.search(r"<td>5</td>.*?<td class=\"error\">row has 1 fields, expected 2 \(read as one row from line 5 "
                     r"to line 6: a quote opened there is not closed where it should be\)", page, re.S)


def test_import_preview_names_every_bad_row_then_confirm_invites_the_good_ones(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    data = _csv(
        "email,name",
        "fresh1@example.com,Fresh One",           # 2 good, new person
        "not-an-email,Bad Address",               # 3 bad email
        "FRESH1@example.com,Fresh Again",         # 4 duplicate of line 2
        f"{world.learner_a2.email},Learner A2",   # 5 a learner of Alpha 2
        "noname@example.com,",                    # 6 missing name
        f"{world.nobody.email},Nobody",           # 7 good, has an account
        "fresh2@example.com,Fresh Two",           # 8 good, new person
    )
    enrolments_before, users_before = count(Enrolment), count(User)
    url = preview_url(upload(client, world.cohort_a.id, data))

    page = text(client.get(url))
    for line, reason in [(3, "bad email: not-an-email"), (4, "duplicate: the same email is on line 2"),
                         (5, "already a learner of Alpha 2: move them from there instead"), (6, "missing name")]:
        assert re.search(rf"<td>{line}</td>.*?<td class=\"error\">{re.escape(reason)}", page), (line, reason)
    assert "<strong>3</strong> people will be invited" in page
    assert "<strong>4</strong> rows with problems" in page

    db.session.expire_all()
    assert count(Enrolment) == enrolments_before
    assert find_user(db.session, "fresh1@example.com") is None
    assert mails() == [] and count(Invitation) == 0

    confirmed = client.post(url, data={})
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"].endswith(f"/cohorts/{world.cohort_a.id}")
    db.session.expire_all()
    # Nobody is enrolled and no account is made: each good row is an invitation.
    assert count(Enrolment) == enrolments_before and count(User) == users_before
    assert find_user(db.session, "fresh1@example.com") is None
    assert active_cohort_of(world.nobody.id) is None
    assert active_cohort_of(world.learner_a2.id) == world.cohort_a2.id
    for email in ("fresh1@example.com", "fresh2@example.com", world.nobody.email):
        [message] = mails(email)
        check = check_invitation(db.session, invitation_token(message))
        assert check.invitation is not None and check.invitation.cohort_id == world.cohort_a.id, email
    assert count(Invitation) == 3
    roster = text(client.get(f"/cohorts/{world.cohort_a.id}"))
    assert "3 invited, not joined" in roster

    again = client.post(url, data={})
    assert again.status_code == 400 and "already confirmed" in text(again)
    db.session.expire_all()
    assert count(Invitation) == 3 and count(Enrolment) == enrolments_before

    # The new person sets a password through the invitation and is in the cohort.
    client.post("/logout")
    token = invitation_token(mails("fresh1@example.com")[0])
    form = client.get(f"/invitations/{token}")
    assert form.status_code == 200 and 'name="password"' in text(form) and 'value="Fresh One"' in text(form)
    joined = client.post(f"/invitations/{token}", data={"name": "Fresh One", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert joined.status_code == 302
    db.session.expire_all()
    fresh1 = find_user(db.session, "fresh1@example.com")
    assert fresh1.has_password and active_cohort_of(fresh1.id) == world.cohort_a.id
    assert count(Enrolment, Enrolment.user_id == fresh1.id) == 1

    # The person with an account joins only by accepting, signed in.
    client.post("/logout")
    login(client, world.nobody)
    nobody_url = f"/invitations/{invitation_token(mails(world.nobody.email)[0])}"
    assert client.post(nobody_url, data={}).status_code == 302
    db.session.expire_all()
    assert active_cohort_of(world.nobody.id) == world.cohort_a.id


def test_import_preview_flags_a_name_longer_than_an_account_can_hold(app, client, world: World, login) -> None:
    """The single invitation form and the API refuse a name over 200 characters; so does
    the import, as a bad row (the accept form and the name column would refuse it later)."""
    login(client, world.org_admin_a)
    long_name = "N" * 5000
    url = preview_url(upload(client, world.cohort_a.id, _csv("email,name", f"long@example.com,{long_name}",
                                                             f"just@example.com,{'J' * 200}"), filename="x" * 400 + ".csv"))
    page = text(client.get(url))
    assert re.search(r"<td>2</td>.*?<td class=\"error\">name too long: 5000 characters, at most 200", page)
    assert "<strong>1</strong> person will be invited" in page and "<strong>1</strong> row with problems" in page
    assert len(db.session.scalar(select(EnrolmentImport)).filename) == 255
    assert client.post(url, data={}).status_code == 302
    db.session.expire_all()
    [invitation] = db.session.scalars(select(Invitation))
    assert invitation.email == "just@example.com" and invitation.name == "J" * 200 and mails("long@example.com") == []


def test_confirm_imports_nothing_if_a_row_changed_since_the_preview(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    url = preview_url(upload(client, world.cohort_a.id, _csv("email,name", "late@example.com,Late Comer", "other@example.com,Other One")))
    db.session.expire_all()
    late = User(email="late@example.com", name="Late Comer")
    db.session.add(late)
    db.session.flush()
    enrol(db.session, world.cohort_a2, late)
    db.session.commit()
    enrolments_before = count(Enrolment)

    response = client.post(url, data={})
    assert response.status_code == 400
    assert "Nothing was imported" in text(response) and "already a learner of Alpha 2" in text(response)
    db.session.expire_all()
    assert count(Enrolment) == enrolments_before
    assert find_user(db.session, "other@example.com") is None
    assert mails() == [] and count(Invitation) == 0
    assert db.session.scalar(select(EnrolmentImport)).confirmed_at is None


def test_already_a_learner_is_judged_by_identity_and_says_nothing_of_other_organizations(
        app, world: World, make_cohort, enrol_learner) -> None:
    namesake = make_cohort(world.org_b, "Alpha 1")  # another organization's cohort with the same name
    elsewhere = enrol_learner(namesake, email="elsewhere@example.com", password=None)
    data = _csv("email,name", f"{world.learner_a.email},Learner A", f"{elsewhere.email},Elsewhere")
    preview = preview_import(db.session, world.cohort_a, "l.csv", data, world.org_admin_a)
    # Organization A's admin is told nothing about organization B's learner: the row is
    # to be invited like any other, and the person decides.
    assert [r["problem"] for r in preview.bad] == ["already a learner of this cohort"]
    assert [r["email"] for r in preview.good] == [elsewhere.email]


LATIN1 = "email,name\njérôme@x.com,Jérôme\n".encode("latin-1")
assert LATIN1 == b"email,name\nj\xe9r\xf4me@x.com,J\xe9r\xf4me\n"


@pytest.mark.parametrize(("data", "message"), [
    (b"mail,fullname\na@example.com,A\n", "The columns must be exactly: email, name (found: mail, fullname)"),
    (b"email\na@example.com\n", "The columns must be exactly: email, name"),
    (LATIN1, "not UTF-8"),
    (b"", "The file is empty"),
    (b"email,name\n", "header but no learners"),
    (b"email,name\n\n  \n", "header but no learners"),
    (b"email,name\n" + b"x" * (10 * 1024 * 1024), "larger than 1024 KB"),
], ids=["wrong-columns", "one-column", "latin-1", "empty", "header-only", "blank-rows", "10MB"])
def test_file_level_errors_rerender_the_upload_form(app, client, world: World, login, data: bytes, message: str) -> None:
    login(client, world.org_admin_a)
    response = upload(client, world.cohort_a.id, data)
    assert response.status_code == 400
    page = text(response)
    assert message in page, page
    assert 'enctype="multipart/form-data"' in page  # the upload form, not an error page
    db.session.expire_all()
    assert count(EnrolmentImport) == 0


def test_import_refuses_a_file_that_is_not_csv_by_name(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    response = upload(client, world.cohort_a.id, _csv("email,name", "a@example.com,A"), filename="learners.xlsx")
    assert response.status_code == 400 and "Upload a .csv file." in text(response)
    no_file = client.post(f"/cohorts/{world.cohort_a.id}/import", data={}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and "Choose a CSV file." in text(no_file)
    db.session.expire_all()
    assert count(EnrolmentImport) == 0


@pytest.mark.parametrize("data", [
    b"email;name\nsemi@example.com;Semi Colon\nsemi2@example.com;Semi Two\n",
    b"\xef\xbb\xbfemail,name\nsemi@example.com,Semi Colon\nsemi2@example.com,Semi Two\n",
    b"\xef\xbb\xbfName;Email\r\nSemi Colon;semi@example.com\r\nSemi Two;semi2@example.com\r\n",
], ids=["semicolons", "utf8-bom", "bom-semicolons-crlf-reordered"])
def test_semicolons_and_byte_order_mark_are_accepted(app, client, world: World, login, data: bytes) -> None:
    login(client, world.org_admin_a)
    url = preview_url(upload(client, world.cohort_a.id, data))
    db.session.expire_all()
    rows = db.session.scalar(select(EnrolmentImport)).rows
    assert [(r["email"], r["name"], r["problem"]) for r in rows] == [
        ("semi@example.com", "Semi Colon", None), ("semi2@example.com", "Semi Two", None)]
    assert client.post(url, data={}).status_code == 302
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Invitation.name))) == ["Semi Colon", "Semi Two"]
    assert find_user(db.session, "semi@example.com") is None


def test_names_with_commas_and_accents_survive_the_import(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    data = 'email,name\nq@example.com,"Lovelace, Ada"\nz@example.com,Zoë Ñúñez\n'.encode()
    preview_url(upload(client, world.cohort_a.id, data))
    db.session.expire_all()
    rows = db.session.scalar(select(EnrolmentImport)).rows
    assert [(r["name"], r["problem"]) for r in rows] == [("Lovelace, Ada", None), ("Zoë Ñúñez", None)]


def test_import_takes_invisible_characters_out_of_names_and_refuses_a_name_without_a_letter(app, client, world: World,
                                                                                            login) -> None:
    login(client, world.org_admin_a)
    data = "email,name\nq@example.com,\u202eZoë\u200b  Ñúñez\nz@example.com,\u200b\u200b\nl@example.com,{}\n".format("x" * 201)
    preview_url(upload(client, world.cohort_a.id, data.encode()))
    db.session.expire_all()
    rows = db.session.scalar(select(EnrolmentImport)).rows
    assert [(r["name"], r["problem"]) for r in rows] == [
        ("Zoë Ñúñez", None),
        ("\u200b\u200b", "bad name: A name needs at least one letter or digit (invisible characters are not kept)."),
        ("x" * 201, "name too long: 201 characters, at most 200")]


def test_import_preview_of_another_cohort_is_not_found(app, client, world: World, login) -> None:
    record = preview_import(db.session, world.cohort_a, "l.csv", _csv("email,name", "a@example.com,A"), world.org_admin_a)
    db.session.commit()
    login(client, world.org_admin_a)
    assert client.get(f"/cohorts/{world.cohort_a2.id}/import/{record.record.id}").status_code == 404
    assert client.post(f"/cohorts/{world.cohort_a2.id}/import/{record.record.id}", data={}).status_code == 404


# --------------------------------------------------------------------------- consent on enrolment


def _people_and_memberships() -> tuple[Any, ...]:
    """Every account, enrolment, staff role and reset token, column by column: what an
    import must leave untouched."""
    db.session.expire_all()
    tables = (User.__table__, Enrolment.__table__, PasswordResetToken.__table__, organization_admins, cohort_instructors)
    return tuple(sorted(map(tuple, db.session.execute(select(table)).all())) for table in tables)


def _flashes(page: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+" role="status">(.*?)</p>', page, re.S)


def test_import_naming_other_organizations_accounts_enrols_nobody_until_they_accept(app, client, world: World, login) -> None:
    """Organization A's admin lists organization B's learner, instructor and admin and a
    site admin: nothing about those accounts changes; each gets an invitation, and only
    the one who accepts, signed in, joins, at the pace the admin chose."""
    outsiders = [world.learner_b, world.instructor_b, world.org_admin_b, world.admin]
    login(client, world.org_admin_a)
    before = _people_and_memberships()
    url = preview_url(upload(client, world.cohort_a.id, _csv("email,name", *(f"{u.email},Renamed {n}" for n, u in enumerate(outsiders)))))
    page = text(client.get(url))
    assert "<strong>4</strong> people will be invited" in page and "with problems" not in page
    assert client.post(url, data={"pace": "own_start"}).status_code == 302
    assert _people_and_memberships() == before  # nobody enrolled, renamed or given a role
    invitations = {i.email: i for i in db.session.scalars(select(Invitation))}
    assert sorted(invitations) == sorted(u.email for u in outsiders)
    assert {i.pace for i in invitations.values()} == {Pace.OWN_START}
    # Not learners of cohort A: its staff get nothing of theirs.
    assert client.get(f"/cohorts/{world.cohort_a.id}/learners/{world.instructor_b.id}/progress").status_code == 404
    assert client.get(f"/cohorts/{world.cohort_a.id}/learners/{world.admin.id}").status_code == 404

    # Organization B's instructor accepts, signed in: enrolled with the chosen pace.
    client.post("/logout")
    login(client, world.instructor_b)
    accept_url = f"/invitations/{invitation_token(mails(world.instructor_b.email)[0])}"
    assert f"Accept as {world.instructor_b.email}" in text(client.get(accept_url))
    assert client.post(accept_url, data={}).status_code == 302
    db.session.expire_all()
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == world.instructor_b.id))
    assert enrolment.cohort_id == world.cohort_a.id and enrolment.pace == Pace.OWN_START and enrolment.ended_at is None
    assert db.session.get(User, world.instructor_b.id).name == "Instructor B"

    # Organization B's learner is told the conflict themself, and stays where they are.
    client.post("/logout")
    login(client, world.learner_b)
    refused = client.post(f"/invitations/{invitation_token(mails(world.learner_b.email)[0])}", data={})
    assert refused.status_code == 400
    assert "already a learner of Beta 1 (Beta Org)" in text(refused)
    db.session.expire_all()
    assert active_cohort_of(world.learner_b.id) == world.cohort_b.id
    assert invitations[world.learner_b.email].accepted_at is None


def test_preview_and_messages_read_the_same_whoever_the_address_belongs_to(app, client, world: World, login) -> None:
    """An unknown address, another organization's learner, instructor and admin, and a
    site admin: the admin of A sees the same preview, the same confirmation and the same
    invitation message, the address aside."""
    login(client, world.org_admin_a)
    addresses = ["stranger@example.com", world.learner_b.email, world.instructor_b.email, world.org_admin_b.email,
                 world.admin.email]
    previews, confirmations, invited = [], [], []

    def same(page: str, address: str) -> str:
        page = re.sub(r'<input[^>]*name="csrf_token"[^>]*>', "", page)  # signed with the time
        return page.replace(address, "ADDRESS")

    for n, address in enumerate(addresses):
        url = preview_url(upload(client, world.cohort_a.id, _csv("email,name", f"{address},Same Name")))
        page = text(client.get(url))
        assert "ADDRESS" not in page
        previews.append(same(page, address))
        assert client.post(url, data={}).status_code == 302
        confirmations.append(_flashes(text(client.get(f"/cohorts/{world.cohort_a2.id}"))))
        # The invitation form, with another cohort so that the address is fresh there.
        response = client.post(f"/cohorts/{world.cohort_a2.id}/invitations", data={"email": address, "name": f"Same {n}"})
        assert response.status_code == 302, address
        invited.append([same(f, address) for f in _flashes(text(client.get(f"/cohorts/{world.cohort_a.id}")))])
    row = re.search(r"<h2>Rows to invite</h2>.*?<tbody>(.*?)</tbody>", previews[0], re.S)
    assert row and "<td>2</td><td>ADDRESS</td><td>Same Name</td>" in row.group(1)
    assert all(p == previews[0] for p in previews), "the preview differs by whom the address belongs to"
    assert all(c == confirmations[0] for c in confirmations) and "1 invitation sent" in confirmations[0][0]
    assert all(i == invited[0] for i in invited) and invited[0] == [
        "An invitation is on its way to ADDRESS. They join Alpha 2 when they accept it."]
    db.session.expire_all()
    assert count(Invitation) == 2 * len(addresses)
    assert count(Enrolment, Enrolment.cohort_id.in_([world.cohort_a.id, world.cohort_a2.id])) == 2


def test_invited_not_joined_are_listed_apart_and_counted_nowhere(app, client, world: World, login, loaded) -> None:
    login(client, world.org_admin_a)
    cohort = world.cohort_a.id

    def figures() -> tuple[Any, ...]:
        heat_map = client.get(f"/cohorts/{cohort}/competency.json").get_json(force=True)
        org_page = text(client.get(f"/organizations/{world.org_a.id}"))
        return ([r["user_id"] for r in heat_map["rows"]], [r["name"] for r in heat_map["at_risk"]],
                heat_map["distributions"], heat_map["funnel"], re.sub(r'value="[^"]*"', "", org_page))

    before = figures()
    invite_learner(db.session, world.cohort_a, "pending@example.com", "Pending Person", world.org_admin_a, invitation_link)
    invite_learner(db.session, world.cohort_a, world.learner_b.email, "Learner Bee", world.org_admin_a, invitation_link)
    db.session.commit()
    assert figures() == before

    page = text(client.get(f"/cohorts/{cohort}"))
    assert "1 learner ·" in page and "2 invited, not joined" in page
    learners = re.search(r"<h2>Learners</h2>(.*?)</table>", page, re.S).group(1)
    invited = re.search(r'<table id="invited-not-joined">(.*?)</table>', page, re.S).group(1)
    assert world.learner_a.email in learners and "pending@example.com" not in learners and world.learner_b.email not in learners
    assert "pending@example.com" in invited and world.learner_b.email in invited and world.learner_a.email not in invited
    assert invited.count(">Send again<") == 2 and invited.count(">Withdraw<") == 2
    # The instructor sees who is coming, without the actions.
    client.post("/logout")
    login(client, world.instructor_a)
    invited = re.search(r'<table id="invited-not-joined">(.*?)</table>', text(client.get(f"/cohorts/{cohort}")), re.S).group(1)
    assert "pending@example.com" in invited and "Send again" not in invited


def test_resend_gives_a_new_link_and_expiry_even_when_expired(app, client, world: World, login) -> None:
    old_token = _invite(world, name="Nina New")
    invitation = db.session.scalar(select(Invitation))
    invitation.expires_at = past()
    db.session.commit()
    login(client, world.org_admin_a)
    invited = re.search(r'<table id="invited-not-joined">(.*?)</table>', text(client.get(f"/cohorts/{world.cohort_a.id}")), re.S).group(1)
    assert "new@example.com" in invited and "expired" in invited and "Send again" in invited

    response = client.post(f"/cohorts/{world.cohort_a.id}/invitations/{invitation.id}/resend", data={})
    assert response.status_code == 302
    db.session.expire_all()
    first, second = mails("new@example.com")
    assert second.sent_at is not None  # delivered after the commit, by the mail feature
    new_token = invitation_token(second)
    assert new_token != old_token
    assert check_invitation(db.session, old_token).invitation is None
    check = check_invitation(db.session, new_token)
    assert check.invitation is not None and check.invitation.id == invitation.id
    assert check.invitation.resent_at is not None and check.invitation.expires_at > datetime.now(UTC) + timedelta(days=13)
    assert "expired" not in re.search(r'<table id="invited-not-joined">(.*?)</table>',
                                      text(client.get(f"/cohorts/{world.cohort_a.id}")), re.S).group(1)
    client.post("/logout")
    joined = client.post(f"/invitations/{new_token}", data={"name": "Nina New", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert joined.status_code == 302
    db.session.expire_all()
    assert active_cohort_of(find_user(db.session, "new@example.com").id) == world.cohort_a.id


def test_withdraw_ends_the_link_and_the_listing(app, client, world: World, login) -> None:
    token = _invite(world)
    invitation_id = db.session.scalar(select(Invitation.id))
    login(client, world.org_admin_a)
    assert client.post(f"/cohorts/{world.cohort_a.id}/invitations/{invitation_id}/withdraw", data={}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Invitation, invitation_id).revoked_at is not None
    page = text(client.get(f"/cohorts/{world.cohort_a.id}"))
    assert _flashes(page) == ["The invitation of new@example.com is withdrawn; its link no longer works."]
    assert "new@example.com" not in re.search(r'<table id="invited-not-joined">(.*?)</table>', page, re.S).group(1)
    assert "not valid" in (check_invitation(db.session, token).problem or "")
    # Nothing to send again or to withdraw twice.
    for action in ("resend", "withdraw"):
        client.post(f"/cohorts/{world.cohort_a.id}/invitations/{invitation_id}/{action}", data={})
        assert "withdrawn" in text(client.get(f"/cohorts/{world.cohort_a.id}"))
    db.session.expire_all()
    assert len(mails("new@example.com")) == 1


def test_resend_and_withdraw_are_refused_to_other_organizations_and_other_cohorts(app, client, world: World, login) -> None:
    _invite(world)
    invitation = db.session.scalar(select(Invitation))
    expires, token_hash, invitation_id = invitation.expires_at, invitation.token_hash, invitation.id
    answers = {}
    for person, cohort in ((world.org_admin_b, world.cohort_a), (world.org_admin_b, world.cohort_b),
                           (world.instructor_a, world.cohort_a), (world.learner_a, world.cohort_a),
                           (world.org_admin_a, world.cohort_a2)):
        login(client, person)
        for action in ("resend", "withdraw"):
            answers[(person.email, cohort.name, action)] = client.post(
                f"/cohorts/{cohort.id}/invitations/{invitation_id}/{action}", data={}).status_code
        client.post("/logout")
    assert answers == {
        (world.org_admin_b.email, "Alpha 1", "resend"): 404, (world.org_admin_b.email, "Alpha 1", "withdraw"): 404,
        (world.org_admin_b.email, "Beta 1", "resend"): 404, (world.org_admin_b.email, "Beta 1", "withdraw"): 404,
        (world.instructor_a.email, "Alpha 1", "resend"): 403, (world.instructor_a.email, "Alpha 1", "withdraw"): 403,
        (world.learner_a.email, "Alpha 1", "resend"): 403, (world.learner_a.email, "Alpha 1", "withdraw"): 403,
        (world.org_admin_a.email, "Alpha 2", "resend"): 404, (world.org_admin_a.email, "Alpha 2", "withdraw"): 404,
    }
    db.session.expire_all()
    unchanged = db.session.get(Invitation, invitation_id)
    assert (unchanged.expires_at, unchanged.token_hash, unchanged.revoked_at, unchanged.resent_at) == (expires, token_hash, None, None)
    assert len(mails("new@example.com")) == 1


def test_pace_is_asked_once_the_cohort_started_and_used_when_accepting(app, client, world: World, login, make_cohort) -> None:
    future = make_cohort(world.org_a, "Future", start=date.today() + timedelta(days=30))
    login(client, world.org_admin_a)
    assert 'name="pace"' in text(client.get(f"/cohorts/{world.cohort_a.id}"))
    assert 'name="pace"' not in text(client.get(f"/cohorts/{future.id}"))
    url = preview_url(upload(client, world.cohort_a.id, _csv("email,name", "csv@example.com,Csv Person")))
    assert 'name="pace"' in text(client.get(url))
    assert client.post(url, data={"pace": "fast"}).status_code == 302  # not a choice: back to the preview, nothing sent
    db.session.expire_all()
    assert count(Invitation) == 0

    assert client.post(f"/cohorts/{world.cohort_a.id}/invitations",
                       data={"email": "own@example.com", "name": "Own Start", "pace": "own_start"}).status_code == 302
    assert client.post(url, data={"pace": "catch_up"}).status_code == 302
    assert client.post(f"/cohorts/{future.id}/invitations", data={"email": "early@example.com"}).status_code == 302
    db.session.expire_all()
    assert dict(db.session.execute(select(Invitation.email, Invitation.pace)).all()) == {
        "own@example.com": Pace.OWN_START, "csv@example.com": Pace.CATCH_UP, "early@example.com": Pace.CATCH_UP}
    page = re.search(r'<table id="invited-not-joined">(.*?)</table>', text(client.get(f"/cohorts/{world.cohort_a.id}")), re.S).group(1)
    assert "Own start" in page and "Catch-up" in page

    client.post("/logout")
    token = invitation_token(mails("own@example.com")[0])
    assert client.post(f"/invitations/{token}", data={"name": "Own Start", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}).status_code == 302
    db.session.expire_all()
    enrolment = db.session.scalar(select(Enrolment).join(User).where(User.email == "own@example.com"))
    assert enrolment.cohort_id == world.cohort_a.id and enrolment.pace == Pace.OWN_START


# --------------------------------------------------------------------------- cohort form


def test_the_new_cohort_form_starts_in_the_admins_time_zone(app, client, world: World, login) -> None:
    """It started at UTC whatever the admin's zone: a London admin who did not notice made a
    cohort whose months open at 01:00 their time (in summer), unlike their other cohorts."""
    world.org_admin_a.timezone = "Europe/London"
    db.session.commit()
    login(client, world.org_admin_a)
    page = text(client.get(f"/organizations/{world.org_a.id}/cohorts/new"))
    assert re.search(r'<option selected value="Europe/London">|<option value="Europe/London" selected>', page)
    assert not re.search(r'<option selected value="UTC">|<option value="UTC" selected>', page)


def test_new_cohort_with_a_badly_formatted_date_creates_nothing(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    before = count(Cohort)
    response = client.post(f"/organizations/{world.org_a.id}/cohorts/new",
                           data={"name": "Gamma", "start_date": "12/31/2026", "timezone": "UTC", "instructors": ""})
    assert response.status_code == 200
    assert "YYYY-MM-DD" in text(response)
    assert 'value="Gamma"' in text(response)
    db.session.expire_all()
    assert count(Cohort) == before


def test_new_cohort_with_a_duplicate_name_creates_nothing(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    before = count(Cohort)
    response = client.post(f"/organizations/{world.org_a.id}/cohorts/new",
                           data={"name": "alpha 1", "start_date": "2026-12-31", "timezone": "UTC", "instructors": ""})
    assert response.status_code == 200
    assert "Alpha Org already has a cohort called &#39;alpha 1&#39;" in text(response)
    db.session.expire_all()
    assert count(Cohort) == before


@pytest.mark.parametrize("start", ["9999-12-31", "0001-01-01"])
def test_a_start_date_the_calendar_cannot_hold_is_refused_when_made_or_edited(app, client, world: World, login, start) -> None:
    """A typed 9999 was kept, and the cohort's heat map, gradebook and exports then failed
    (month 2 would be in the year 10000)."""
    login(client, world.org_admin_a)
    before = count(Cohort)
    response = client.post(f"/organizations/{world.org_a.id}/cohorts/new",
                           data={"name": "Gamma", "start_date": start, "timezone": "UTC", "instructors": ""})
    assert response.status_code == 200
    assert "Choose a start date between 01 January 2000 and 31 December 2099." in text(response)
    assert 'value="Gamma"' in text(response)
    db.session.expire_all()
    assert count(Cohort) == before
    cohort = world.cohort_a
    kept = cohort.start_date
    edited = client.post(f"/cohorts/{cohort.id}/edit", data={"name": cohort.name, "start_date": start, "timezone": "UTC",
                                                            "instructors": "", "revision": 0})
    assert "Choose a start date between" in text(edited)
    db.session.expire_all()
    assert db.session.get(Cohort, cohort.id).start_date == kept


def _invalid(page: str, name: str) -> str:
    """The ``aria-invalid`` of the form control named ``name``."""
    tag = re.search(rf'<(?:input|textarea|select)\b[^>]*\bname="{name}"[^>]*>', page)
    assert tag, name
    found = re.search(r'aria-invalid="(\w+)"', tag.group(0))
    assert found, tag.group(0)
    return found.group(1)


def test_a_bad_instructor_email_is_shown_on_the_instructors_field(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    before = count(Cohort)
    response = client.post(f"/organizations/{world.org_a.id}/cohorts/new", data={
        "name": "Gamma", "start_date": "2026-12-31", "timezone": "UTC", "instructors": "garbage line"})
    assert response.status_code == 200
    page = text(response)
    assert (_invalid(page, "instructors"), _invalid(page, "name")) == ("true", "false")
    error = re.search(r'<p class="error" role="alert" id="(\w+)-error-1">([^<]*)</p>', page)
    assert error and error.group(1) == "instructors" and "garbage line" in error.group(2), page
    assert 'value="Gamma"' in page and "garbage line</textarea>" in page  # the input is kept
    edited = text(client.post(f"/cohorts/{world.cohort_a.id}/edit", data={
        "name": "Alpha 1", "start_date": "2026-01-01", "timezone": "UTC", "instructors": "garbage line", "revision": 0}))
    assert (_invalid(edited, "instructors"), _invalid(edited, "name")) == ("true", "false")
    # A refusal about the name stays on the name.
    clash = text(client.post(f"/organizations/{world.org_a.id}/cohorts/new", data={
        "name": "Alpha 2", "start_date": "2026-12-31", "timezone": "UTC", "instructors": ""}))
    assert (_invalid(clash, "instructors"), _invalid(clash, "name")) == ("false", "true")
    db.session.expire_all()
    assert count(Cohort) == before


def test_new_cohort_with_instructors(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    response = client.post(f"/organizations/{world.org_a.id}/cohorts/new", data={
        "name": "Gamma", "start_date": "2026-12-31", "timezone": "America/New_York",
        "instructors": f"{world.instructor_a.email}\n{world.org_admin_a.email}"})
    assert response.status_code == 302
    db.session.expire_all()
    cohort = db.session.scalar(select(Cohort).where(Cohort.name == "Gamma"))
    assert cohort.organization_id == world.org_a.id
    assert (cohort.start_date, cohort.timezone) == (date(2026, 12, 31), "America/New_York")
    assert response.headers["Location"].endswith(f"/cohorts/{cohort.id}")
    assert sorted(u.email for u in cohort.instructors) == sorted([world.instructor_a.email, world.org_admin_a.email])
    assert mails() == []


def test_cohort_form_refuses_people_of_other_organizations_without_naming_them(app, client, world: World, login) -> None:
    """The QA report: organization B's admin typed organization A's admin and a learner, and
    the cohort page showed their names; they had become staff of B's cohort, unasked. Now the
    form comes back with the typed text and one message per address that reads the same
    whether the address has an account or not."""
    login(client, world.org_admin_b)
    before = _people_and_memberships()
    pages = []
    for address in (world.org_admin_a.email, world.learner_a.email, "stranger@example.com"):
        typed = f"{world.instructor_b.email}\n{address}"
        response = client.post(f"/organizations/{world.org_b.id}/cohorts/new", data={
            "name": "Beta 2", "start_date": "2026-12-31", "timezone": "UTC", "instructors": typed})
        assert response.status_code == 200
        page = text(response)
        assert f"{typed}</textarea>" in page and 'value="Beta 2"' in page
        assert _invalid(page, "instructors") == "true"
        assert "Org Admin A" not in page and "Learner A" not in page
        pages.append(re.sub(r'<input[^>]*name="csrf_token"[^>]*>', "", page).replace(address, "ADDRESS"))
        edited = client.post(f"/cohorts/{world.cohort_b.id}/edit", data={
            "name": "Beta 1", "start_date": "2026-01-01", "timezone": "UTC", "instructors": typed, "revision": 0})
        assert edited.status_code == 200 and "not on the staff of Beta Org yet" in text(edited)
    assert "ADDRESS is not on the staff of Beta Org yet" in pages[0]
    assert all(page == pages[0] for page in pages), "the refusal differs by whom the address belongs to"
    assert _people_and_memberships() == before and mails() == []
    assert count(Cohort, Cohort.organization_id == world.org_b.id) == 1
    # The organization's own learner cannot teach the cohort they learn in.
    client.post("/logout")
    login(client, world.org_admin_a)
    before = _people_and_memberships()
    with_learner = client.post(f"/cohorts/{world.cohort_a.id}/edit", data={
        "name": "Alpha 1", "start_date": "2026-01-01", "timezone": "UTC", "instructors": world.learner_a.email, "revision": 0})
    assert "not on the staff of Alpha Org yet" in text(with_learner)
    assert _people_and_memberships() == before


def test_a_later_start_that_would_close_a_running_cohort_asks_first(app, client, world: World, login, make_cohort) -> None:
    """Alpha 1 started five months ago and has learners: a start date next year (one
    mistyped digit) would close every month they have open. It is refused with the reason
    and a box to tick; ticked, the start moves. A cohort with no learners yet moves freely."""
    login(client, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}/edit"
    kept = world.cohort_a.start_date
    later = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    sent = {"name": "Alpha 1", "start_date": later, "timezone": "UTC", "instructors": world.instructor_a.email,
            "revision": 0}
    refused = client.post(url, data=sent)
    page = text(refused)
    assert refused.status_code == 400 and "would close all of them until then" in page
    assert _invalid(page, "start_date") == "true" and 'name="later_start"' in page and f'value="{later}"' in page
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a.id).start_date == kept
    assert client.post(url, data={**sent, "later_start": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a.id).start_date.isoformat() == later
    # An earlier date, or a cohort nobody learns in yet, needs no tick.
    empty = make_cohort(world.org_a, "Empty", months_ago=2)
    assert client.post(f"/cohorts/{empty.id}/edit", data={**sent, "name": "Empty", "instructors": ""}).status_code == 302
    assert client.post(url, data={**sent, "start_date": kept.isoformat(), "revision": 1}).status_code == 302


def test_edit_cohort_changes_start_date_and_instructors(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}/edit"
    form = text(client.get(url))
    assert world.instructor_a.email in form and 'value="Alpha 1"' in form

    response = client.post(url, data={"name": "Alpha 1", "start_date": "2026-02-01", "timezone": "Europe/Paris",
                                      "instructors": f"{world.org_admin_a.email}, {world.instructor_a.email}", "revision": 0})
    assert response.status_code == 302
    db.session.expire_all()
    cohort = db.session.get(Cohort, world.cohort_a.id)
    assert (cohort.name, cohort.start_date, cohort.timezone) == ("Alpha 1", date(2026, 2, 1), "Europe/Paris")
    assert sorted(u.email for u in cohort.instructors) == sorted([world.org_admin_a.email, world.instructor_a.email])
    # Renaming onto another cohort of the organization is refused.
    clash = client.post(url, data={"name": "Alpha 2", "start_date": "2026-02-01", "timezone": "UTC", "instructors": "",
                                   "revision": 1})
    assert "already has a cohort called" in text(clash)
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a.id).name == "Alpha 1"


def test_two_tabs_editing_a_cohort_keep_the_first_and_tell_the_second(app, client, world: World, login) -> None:
    """The QA report: tab A renamed the cohort, tab B (its form from before) changed the time
    zone, both were told "saved" and the rename was lost."""
    login(client, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}/edit"
    assert 'name="revision" type="hidden" value="0"' in text(client.get(url))
    seen = {"start_date": world.cohort_a.start_date.isoformat(), "instructors": world.instructor_a.email, "revision": 0}
    assert client.post(url, data={**seen, "name": "Alpha One", "timezone": "UTC"}).status_code == 302
    stale = client.post(url, data={**seen, "name": "Alpha 1", "timezone": "Asia/Tokyo"})
    assert stale.status_code == 409
    page = text(stale)
    assert "Not saved: someone else changed this cohort since you opened the form. It is now &#39;Alpha One&#39;" in page
    assert 'value="Alpha 1"' in page and '<option selected value="Asia/Tokyo">' in page  # B's input is kept
    assert 'name="revision" type="hidden" value="1"' in page  # saving again applies to what is there now
    db.session.expire_all()
    cohort = db.session.get(Cohort, world.cohort_a.id)
    assert (cohort.name, cohort.timezone, cohort.revision) == ("Alpha One", "UTC", 1)
    again = client.post(url, data={**seen, "name": "Alpha One", "timezone": "Asia/Tokyo", "revision": 1})
    assert again.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Cohort, world.cohort_a.id).name, db.session.get(Cohort, world.cohort_a.id).timezone) == (
        "Alpha One", "Asia/Tokyo")
    # A form without its revision is refused, not applied.
    assert client.post(url, data={**seen, "name": "No Revision", "timezone": "UTC", "revision": ""}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a.id).name == "Alpha One"


def test_a_refused_edit_keeps_what_the_second_tab_changed_over_what_the_first_saved(app, client, world: World,
                                                                                    login) -> None:
    """Tab A renames the cohort; tab B, opened before, changes the time zone. B is refused,
    and its form now holds A's name (B left the name as shown) with B's time zone, so that
    saving again keeps both instead of undoing the rename."""
    login(client, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}/edit"
    form = text(client.get(url))
    shown = re.search(r'name="shown" type="hidden" value="([^"]*)"', form)
    assert shown is not None
    opened = {"name": "Alpha 1", "start_date": world.cohort_a.start_date.isoformat(), "timezone": "UTC",
              "instructors": world.instructor_a.email, "revision": 0, "shown": html.unescape(shown.group(1))}
    assert client.post(url, data={**opened, "name": "Alpha One"}).status_code == 302
    stale = client.post(url, data={**opened, "timezone": "Asia/Tokyo"})
    page = text(stale)
    assert stale.status_code == 409 and "what you left as it was shows it as it is now" in page
    assert 'value="Alpha One"' in page and 'value="Alpha 1"' not in page  # A's rename, which B did not touch
    assert '<option selected value="Asia/Tokyo">' in page  # B's own change
    again = {name: html.unescape(value) for name, value in re.findall(
        r'<input[^>]*name="(name|start_date|revision|shown)"[^>]*value="([^"]*)"', page)}
    assert client.post(url, data={**again, "timezone": "Asia/Tokyo", "instructors": world.instructor_a.email}).status_code == 302
    db.session.expire_all()
    cohort = db.session.get(Cohort, world.cohort_a.id)
    assert (cohort.name, cohort.timezone) == ("Alpha One", "Asia/Tokyo")


def test_two_edits_of_one_version_at_once_keep_one(app, world: World) -> None:
    cohort_id, start, teacher = world.cohort_a.id, world.cohort_a.start_date, world.instructor_a.email
    db.session.commit()

    def edit(name: str, timezone: str) -> Any:
        def run(session: Any) -> str:
            try:
                update_cohort(session, session.get_one(Cohort, cohort_id), name, start, timezone, [teacher], 0)
            except CohortError as exc:
                session.rollback()  # as the view does
                return str(exc)
            return "saved"
        return run

    first, second = second_waits_for_first(app, edit("Alpha One", "UTC"), edit("Alpha 1", "Asia/Tokyo"))
    assert first == "saved" and second.startswith("Not saved: someone else changed this cohort")
    cohort = db.session.get(Cohort, cohort_id)
    assert (cohort.name, cohort.timezone, cohort.revision) == ("Alpha One", "UTC", 1)


def test_the_same_new_cohort_sent_twice_at_once_is_made_once(app, world: World) -> None:
    """The QA report: six copies of one new-cohort form sent at once answered 500 for some,
    with the database's refusal of a second (organization, name)."""
    org_id = world.org_a.id
    db.session.commit()

    def create(session: Any) -> str:
        try:
            return create_cohort(session, session.get_one(Organization, org_id), "Gamma", date(2026, 12, 31), "UTC", []).name
        except CohortError as exc:
            session.rollback()  # as the view does
            assert exc.field == "name"
            return str(exc)

    first, second = second_waits_for_first(app, create, create)
    assert (first, second) == ("Gamma", "Alpha Org already has a cohort called 'Gamma'.")
    assert count(Cohort, Cohort.organization_id == org_id, Cohort.name == "Gamma") == 1


def test_archive_through_the_page(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    assert client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "archive"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a2.id).archived
    refused = client.post(f"/cohorts/{world.cohort_a2.id}/invitations", data={"email": "x@example.com"})
    assert refused.status_code == 400 and "archived" in text(refused)
    # The archived cohort's page offers no invitation or import it would then refuse, and says why.
    archived = text(client.get(f"/cohorts/{world.cohort_a2.id}"))
    assert "is archived: it takes no new learners or instructors" in archived
    assert f'action="/cohorts/{world.cohort_a2.id}/invitations"' not in archived and "/import" not in archived
    assert client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "unarchive"}).status_code == 302
    active = text(client.get(f"/cohorts/{world.cohort_a2.id}"))
    assert f'action="/cohorts/{world.cohort_a2.id}/invitations"' in active and "is archived:" not in active
    db.session.expire_all()
    assert not db.session.get(Cohort, world.cohort_a2.id).archived


def test_archiving_asks_first_and_unarchiving_does_not(app, client, world: World, login) -> None:
    """Archiving stops the cohort's reminders, invitations and LTI launches: the button
    opens a question saying so before the form that archives; bringing it back is one press."""
    login(client, world.org_admin_a)
    page = text(client.get(f"/cohorts/{world.cohort_a2.id}"))
    question = re.search(r'<details class="confirm archive-cohort">(.*?)</details>', page, re.S)
    assert question and 'name="to" value="archive"' in question.group(1) and "Yes, archive it" in question.group(1)
    assert "reminders" in question.group(1)
    client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "archive"})
    archived = text(client.get(f"/cohorts/{world.cohort_a2.id}"))
    assert 'class="confirm archive-cohort"' not in archived and 'name="to" value="unarchive"' in archived


def test_archive_pressed_in_two_tabs_archives_once(app, client, world: World, login) -> None:
    """Two admins (or two tabs) have the cohort's page open and both press Archive: the
    second press finds it archived and leaves it so, instead of reading as Unarchive."""
    login(client, world.org_admin_a)
    page = text(client.get(f"/cohorts/{world.cohort_a2.id}"))
    assert 'name="to" value="archive"' in page
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    first = client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "archive"}, follow_redirects=True)
    assert "is archived" in text(first)
    second = client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={"to": "archive"}, follow_redirects=True)
    assert "was already archived: nothing was changed" in text(second)
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a2.id).archived
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))][before:] == [
        AuditAction.COHORT_ARCHIVED]
    assert 'name="to" value="unarchive"' in text(second)
    # A post that does not say what it asks for changes nothing.
    unclear = client.post(f"/cohorts/{world.cohort_a2.id}/archive", data={}, follow_redirects=True)
    assert "Nothing was changed" in text(unclear)
    db.session.expire_all()
    assert db.session.get(Cohort, world.cohort_a2.id).archived


# --------------------------------------------------------------------------- site admin pages


def test_site_admin_creates_an_organization_and_its_admin(app, client, make_user, login) -> None:
    login(client, make_user(email="root@example.com", admin=True))
    response = client.post("/admin/organizations", data={"name": "Gamma Group"})
    assert response.status_code == 302
    db.session.expire_all()
    org = db.session.scalar(select(Organization).where(Organization.name == "Gamma Group"))
    assert response.headers["Location"].endswith(f"/admin/organizations/{org.id}")

    duplicate = client.post("/admin/organizations", data={"name": "GAMMA GROUP"})
    assert duplicate.status_code == 200 and "already exists" in text(duplicate)
    db.session.expire_all()
    assert count(Organization) == 1

    added = client.post(f"/admin/organizations/{org.id}", data={"email": "boss@gamma.example", "name": "Gamma Boss"},
                        follow_redirects=True)
    assert "An invitation is on its way to boss@gamma.example. They become an administrator of Gamma Group when they " \
           "accept it." in text(added)
    assert "Invited, not joined" in text(added) and "boss@gamma.example (Gamma Boss)" in text(added)
    db.session.expire_all()
    assert find_user(db.session, "boss@gamma.example") is None and db.session.get(Organization, org.id).admins == []
    [invited] = mails("boss@gamma.example")
    assert "Gamma Group" in invited.body

    # The new admin makes their account through the link and manages the organization.
    client.post("/logout")
    url = f"/invitations/{invitation_token(invited)}"
    page = text(client.get(url))
    assert "Administer Gamma Group" in page and 'value="Gamma Boss"' in page and "Accept the invitation" in page
    accepted = client.post(url, data={"name": "Gamma Boss", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"/organizations/{org.id}")
    db.session.expire_all()
    boss = find_user(db.session, "boss@gamma.example")
    assert boss is not None and boss.has_password
    assert [a.id for a in db.session.get(Organization, org.id).admins] == [boss.id]
    assert client.get(f"/organizations/{org.id}").status_code == 200
    assert "Gamma Group" in text(client.get("/home"))
    assert client.get(url).headers["Location"].endswith("/home")  # its owner, signed in: nothing more to do


# --------------------------------------------------------------------------- who sees what


def test_roster_lists_only_the_cohorts_current_learners(app, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    page = text(client.get(f"/cohorts/{world.cohort_a.id}"))
    assert world.learner_a.email in page
    assert world.learner_a2.email not in page and world.learner_b.email not in page
    # A learner moved away leaves the roster.
    move_learner(db.session, world.learner_a, world.cohort_a, world.cohort_a2)
    db.session.commit()
    page = text(client.get(f"/cohorts/{world.cohort_a.id}"))
    assert world.learner_a.email not in page
    assert world.learner_a.email in text(client.get(f"/cohorts/{world.cohort_a2.id}"))


def test_other_organizations_admin_is_told_nothing_exists(app, client, world: World, login) -> None:
    login(client, world.org_admin_b)
    cohort = world.cohort_a.id
    for url in (f"/cohorts/{cohort}", f"/cohorts/{cohort}/edit", f"/cohorts/{cohort}/import",
                f"/organizations/{world.org_a.id}", f"/organizations/{world.org_a.id}/cohorts/new"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/cohorts/{cohort}/invitations", data={"email": "x@example.com"}).status_code == 404
    assert client.get(f"/organizations/{world.org_b.id}").status_code == 200
    db.session.expire_all()
    assert count(Invitation) == 0


def test_instructor_sees_the_roster_but_cannot_manage(app, client, world: World, login) -> None:
    login(client, world.instructor_a)
    cohort = world.cohort_a.id
    roster = client.get(f"/cohorts/{cohort}")
    assert roster.status_code == 200 and world.learner_a.email in text(roster)
    assert f"/cohorts/{cohort}/edit" not in text(roster) and "Invite a learner" not in text(roster)
    for url in (f"/cohorts/{cohort}/edit", f"/cohorts/{cohort}/import"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/cohorts/{cohort}/invitations", data={"email": "x@example.com"}).status_code == 403
    assert upload(client, cohort, _csv("email,name", "x@example.com,X")).status_code == 403
    assert client.post(f"/cohorts/{cohort}/edit", data={"name": "Hijacked", "start_date": "2026-01-01", "timezone": "UTC"}).status_code == 403
    db.session.expire_all()
    assert count(Invitation) == 0 and count(EnrolmentImport) == 0
    assert db.session.get(Cohort, cohort).name == "Alpha 1"


def test_learner_cannot_see_their_own_cohorts_roster(app, client, world: World, login) -> None:
    login(client, world.learner_a)
    assert client.get(f"/cohorts/{world.cohort_a.id}").status_code == 403
    assert client.get(f"/cohorts/{world.cohort_a.id}/import").status_code == 403


# --------------------------------------------------------------------------- query counts


def _add_learners(cohort: Cohort, how_many: int, make_user, start: int) -> None:
    for n in range(start, start + how_many):
        enrol(db.session, cohort, make_user(email=f"bulk{n}@example.com", name=f"Bulk {n:03d}", password=None))
    db.session.commit()


def _statements(client: Any, count_queries, url: str) -> int:
    assert client.get(url).status_code == 200, url  # warm up
    counted = count_queries(lambda: client.get(url))
    return counted


def test_pages_run_the_same_queries_for_3_and_30_learners(app, client, make_user, make_org, make_cohort, login, count_queries) -> None:
    site_admin = make_user(email="root@example.com", admin=True)
    org_admin = make_user(email="orgadmin@example.com")
    org = make_org("Scale Org", admins=[org_admin])
    teacher = make_user(email="teacher@example.com")
    cohort = make_cohort(org, "Scale 1", instructors=[teacher])
    make_cohort(org, "Scale 2")
    _add_learners(cohort, 3, make_user, 0)
    for n in range(2):  # pending invitations are listed on the roster too
        invite_learner(db.session, cohort, f"pending{n}@example.com", "", org_admin, invitation_link)
    db.session.commit()

    urls = {org_admin: [f"/cohorts/{cohort.id}", f"/organizations/{org.id}", "/home"],
            site_admin: ["/admin/organizations", f"/cohorts/{cohort.id}"]}

    def measure() -> dict[tuple[str, str], int]:
        counts = {}
        for person, pages in urls.items():
            login(client, person)
            for url in pages:
                counts[(person.email, url)] = _statements(client, count_queries, url)
            client.post("/logout")
        return counts

    few = measure()
    _add_learners(cohort, 27, make_user, 3)
    for n in range(2, 12):
        invite_learner(db.session, cohort, f"pending{n}@example.com", "", org_admin, invitation_link)
    db.session.commit()
    many = measure()
    assert many == few
    login(client, org_admin)
    assert text(client.get(f"/cohorts/{cohort.id}")).count("bulk") >= 30


def test_lists_run_the_same_queries_for_more_organizations_and_cohorts(app, client, make_user, make_org, make_cohort,
                                                                       enrol_learner, login, count_queries) -> None:
    site_admin = make_user(email="root@example.com", admin=True)
    org_admin = make_user(email="orgadmin@example.com")

    def grow(n: int) -> Organization:
        org = make_org(f"Org {n}", admins=[org_admin, make_user(password=None)])
        for c in range(2):
            enrol_learner(make_cohort(org, f"Org {n} cohort {c}", instructors=[make_user(password=None)]), password=None)
        return org

    first = grow(0)
    urls = {org_admin: [f"/organizations/{first.id}", "/home"], site_admin: ["/admin/organizations"]}

    def measure() -> dict[tuple[str, str], int]:
        counts = {}
        for person, pages in urls.items():
            login(client, person)
            for url in pages:
                counts[(person.email, url)] = _statements(client, count_queries, url)
            client.post("/logout")
        return counts

    few = measure()
    for n in range(1, 6):
        grow(n)
        enrol_learner(make_cohort(first, f"Org 0 more {n}", instructors=[make_user(password=None)]), password=None)
    many = measure()
    assert many == few


def test_the_cohort_list_and_the_comparison_say_the_same_stage(app, loaded, client, login, make_user, make_org, make_cohort) -> None:
    """A cohort whose twelve months are over is "finished" in the organization's cohort list, as
    the comparison says (one definition: ``lms.cohorts.calendar``); one under way is "active",
    one not begun "not started", an archived one "archived"."""
    admin = make_user()
    org = make_org(admins=[admin])
    today = datetime.now(UTC).date()
    finished = make_cohort(org=org, name="Done Cohort", start=today - timedelta(days=400))
    running = make_cohort(org=org, name="Busy Cohort", months_ago=3)
    waiting = make_cohort(org=org, name="Later Cohort", start=today + timedelta(days=20))
    shelved = make_cohort(org=org, name="Shelved Cohort", months_ago=3)
    shelved.archived_at = datetime.now(UTC)
    db.session.commit()
    login(client, admin)
    listed = client.get(f"/organizations/{org.id}").get_data(as_text=True)
    status = {name: re.search(rf'>{name}</a>.*?<td class="cohort-status">(.*?)</td>', listed, re.S).group(1)
              for name in ("Done Cohort", "Busy Cohort", "Later Cohort", "Shelved Cohort")}
    assert status == {"Done Cohort": "finished", "Busy Cohort": "active", "Later Cohort": "not started", "Shelved Cohort": "archived"}
    compared = client.get(f"/organizations/{org.id}/competency").get_data(as_text=True)
    month = {c.id: re.search(rf'<tr data-cohort="{c.id}">.*?<td class="num">(.*?)</td>', compared, re.S).group(1)
             for c in (finished, running, waiting)}
    assert month == {finished.id: "finished", running.id: "4", waiting.id: "not started"}
