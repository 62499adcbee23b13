"""The gradebook's "Remove extension": the bulk counterpart of the learner page's removal.
Staff tick learners and an item, see a confirmation page listing who has an extension of
the item's part (its date, who granted it) and who has none (skipped), confirm, and every
listed extension is removed as the single removal removes one (regular due dates, lateness
judged again, audited, the learner told), in a fixed number of statements. What changed
after the confirmation page opened is skipped and named, never removed unseen."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from markupsafe import escape
from sqlalchemy import event, select

from lms.audit.models import AuditAction, AuditEntry
from lms.coursework.models import Assignment, Submission, SubmissionVersion
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook.models import ColumnKind
from lms.gradebook.services import gradebook
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import cohort_today, grant_override, remove_extension
from lms.notifications.models import Notification
from lms.progress.models import ItemKind, ProgressItem
from tests.conftest import PASSWORD
from tests.test_gradebook import CASE, COLUMN, course, csrf_client, url  # noqa: F401

REMOVE = "/gradebook/remove-extensions"


def _extend(world: dict[str, Any], client: Any, learners: list[Any], days: int = 20) -> None:
    """Extensions granted from the gradebook, as staff do."""
    until = cohort_today(world["cohort"], utcnow()) + timedelta(days=days)
    answer = client.post(url(world["cohort"]), data={"action": "extend", "column": COLUMN, "scope": "selected",
                                                       "learner": [u.id for u in learners], "until": until.isoformat()},
                         follow_redirects=True)
    assert f"Extended {len(learners)}." in answer.get_data(as_text=True)
    db.session.expire_all()


def _confirmation(world: dict[str, Any], client: Any, learners: list[Any], column: str = COLUMN) -> tuple[Any, list[str]]:
    """The confirmation page the bulk action answers with, and the pairs it carries."""
    page = client.post(url(world["cohort"]), data={"action": "remove_extension", "column": column, "scope": "selected",
                                                     "learner": [u.id for u in learners]})
    return page, re.findall(r'name="shown" value="(\d+:\d+)"', page.get_data(as_text=True))


def _confirm(world: dict[str, Any], client: Any, shown: list[str], column: str = COLUMN, **extra: Any) -> Any:
    return client.post(url(world["cohort"], "/remove-extensions"), data={"column": column, "shown": shown, **extra})


def _late(learner: Any) -> bool:
    db.session.expire_all()
    return db.session.scalars(select(SubmissionVersion.late).join(Submission).where(Submission.user_id == learner.id)).one()


def _due(learner: Any) -> Any:
    return db.session.scalars(select(ProgressItem.due_on).where(
        ProgressItem.user_id == learner.id, ProgressItem.kind == ItemKind.ASSIGNMENT, ProgressItem.key == CASE)).one()


def _extension_of(learner: Any) -> ScheduleOverride:
    db.session.expire_all()
    return db.session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id == learner.id)
                              .order_by(ScheduleOverride.id.desc()).limit(1)).one()


def test_removing_for_two_of_three_restores_dates_lateness_audited_and_told(course) -> None:  # noqa: F811
    learners = [course["hand_in"](course["cohort"], name)[0] for name in ("Ada Late", "Bo Late", "Cy Kept")]
    ada, bo, cy = learners
    regular = {u.id: _due(u) for u in learners}
    teacher = course["client_for"](course["teacher"])
    assert all(_late(u) for u in learners)  # a month-1 case study handed in five months on
    _extend(course, teacher, learners)
    assert not any(_late(u) for u in learners)
    granted = {u.id: _extension_of(u) for u in learners}

    page, shown = _confirmation(course, teacher, [ada, bo])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2 of the 2 selected learners have an extension, removed when you confirm" in text
    assert "Ada Late" in text and "Bo Late" in text and "Cy Kept" not in text
    assert granted[ada.id].on_date.strftime("%d %B %Y") in text and "Tess Teacher" in text  # the date, who granted it
    assert sorted(shown) == sorted(f"{u.id}:{granted[u.id].id}" for u in (ada, bo))
    db.session.expire_all()
    assert db.session.scalars(select(ScheduleOverride.removed_at)).all() == [None] * 3  # the confirmation wrote nothing

    answer = _confirm(course, teacher, shown)
    assert answer.status_code == 302 and f"/cohorts/{course['cohort'].id}/gradebook" in answer.headers["Location"]
    assert "Removed 2 extensions." in teacher.get(answer.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    for learner in (ada, bo):
        removed = db.session.get_one(ScheduleOverride, granted[learner.id].id)
        assert removed.removed_at is not None and removed.removed_by_id == course["teacher"].id
        assert _due(learner) == regular[learner.id] and _late(learner)  # the regular date, late again
    assert db.session.get_one(ScheduleOverride, granted[cy.id].id).removed_at is None
    assert not _late(cy) and _due(cy) == granted[cy.id].on_date
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.OVERRIDE_REVOKED)).all()
    assert sorted(e.target.split()[0] for e in entries) == sorted(f"user:{u.id}" for u in (ada, bo))
    assert all(e.actor_id == course["teacher"].id and e.before and e.before["kind"] == "extension" for e in entries)
    told = db.session.scalars(select(Notification).where(Notification.key.like("schedule:%:removed"))).all()
    assert sorted(n.user_id for n in told) == sorted([ada.id, bo.id])
    assert all("is removed" in n.title and n.link == "/schedule" for n in told)


def test_learners_without_an_extension_are_listed_skipped_and_named(course) -> None:  # noqa: F811
    ada, _ = course["hand_in"](course["cohort"], "Ada Extended")
    dan = course["enrol"](course["cohort"], name="Dan None")
    teacher = course["client_for"](course["teacher"])
    _extend(course, teacher, [ada])
    page, shown = _confirmation(course, teacher, [ada, dan])
    text = page.get_data(as_text=True)
    assert "1 of the 2 selected learners has an extension, removed when you confirm" in text
    assert "1 has no extension on this item, and is left out" in text and "Dan None" in text
    answer = _confirm(course, teacher, shown)
    message = teacher.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Removed 1 extension; skipped: Dan None (had no extension on this item)." in message

    nobody, none_shown = _confirmation(course, teacher, [ada, dan])  # both have none now
    text = nobody.get_data(as_text=True)
    assert nobody.status_code == 200 and "there is nothing to remove" in text
    assert REMOVE not in text and none_shown == []  # nothing to confirm

    exam = next(c for c in gradebook(db.session, course["cohort"], utcnow()).columns if c.kind == ColumnKind.EXAM)
    refused, _ = _confirmation(course, teacher, [ada], column=exam.id)
    assert refused.status_code == 400 and "level exams have none" in refused.get_data(as_text=True)


def test_a_grant_or_removal_after_the_confirmation_opened_is_skipped_and_named(course) -> None:  # noqa: F811
    ada, _ = course["hand_in"](course["cohort"], "Ada Regranted")
    bo, _ = course["hand_in"](course["cohort"], "Bo Removed")
    cy, _ = course["hand_in"](course["cohort"], "Cy Removable")
    dan = course["enrol"](course["cohort"], name="Dan Granted")
    teacher = course["client_for"](course["teacher"])
    _extend(course, teacher, [ada, bo, cy])
    _page, shown = _confirmation(course, teacher, [ada, bo, cy, dan])
    # A colleague, meanwhile: a newer extension for Ada, a first one for Dan, Bo's removed on the learner page.
    phase_id = db.session.scalar(select(Assignment.phase_id).where(Assignment.key == CASE))
    today = cohort_today(course["cohort"], utcnow())
    newer = grant_override(db.session, course["cohort"], ada, phase_id, OverrideKind.EXTENSION, today + timedelta(days=30),
                           "", course["org_admin"], utcnow())
    dans = grant_override(db.session, course["cohort"], dan, phase_id, OverrideKind.EXTENSION, today + timedelta(days=30),
                          "", course["org_admin"], utcnow())
    remove_extension(db.session, course["cohort"], bo, _extension_of(bo).id, course["org_admin"])
    db.session.commit()
    newer_id, dans_id = newer.id, dans.id

    answer = _confirm(course, teacher, shown)
    assert answer.status_code == 302
    message = teacher.get(answer.headers["Location"]).get_data(as_text=True)
    day = (today + timedelta(days=30)).strftime("%d %B %Y")
    assert str(escape(
        f"Removed 1 extension; skipped: Dan Granted (was granted an extension after the confirmation page opened; it stays); "
        f"Ada Regranted (was granted a newer extension after the confirmation page opened (by Olga Admin, to {day}); it stays); "
        "Bo Removed (had the extension shown removed meanwhile by someone else).")) in message
    db.session.expire_all()
    assert db.session.get_one(ScheduleOverride, newer_id).removed_at is None
    assert db.session.get_one(ScheduleOverride, dans_id).removed_at is None
    assert _extension_of(cy).removed_by_id == course["teacher"].id
    assert _due(ada) == today + timedelta(days=30) and not _late(ada)
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.OVERRIDE_REVOKED)).all()) == 2


def test_the_statements_stay_the_same_as_the_selection_grows(course, app) -> None:  # noqa: F811
    """The confirmation and the removal each run the same statements for 2 learners as for 4.
    The mails the notices queue are delivered after the request's work has committed, one
    message at a time by nature (in production away from the request): not counted."""
    teacher = course["client_for"](course["teacher"])
    learners = [course["hand_in"](course["cohort"], f"Learner {n}")[0] for n in range(7)]
    _extend(course, teacher, learners)
    with app.app_context():
        engine = db.engine

    def count(action: Any) -> int:
        statements: list[str] = []

        def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            # a mail delivered: its one UPDATE stamps sent_at (and, since the outbox blanks one-time
            # links once sent, swaps in the redacted body first, so the statement no longer opens with sent_at)
            if not (statement.startswith("UPDATE outbox_messages SET") and "sent_at=" in statement):
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", note)
        try:
            action()
        finally:
            event.remove(engine, "before_cursor_execute", note)
        db.session.expire_all()
        return len(statements)

    def counted(chosen: list[Any]) -> tuple[int, int]:
        ids = [u.id for u in chosen]  # read before counting: the test's own objects are expired
        shown: list[str] = []

        def confirmation() -> None:
            page = teacher.post(url(course["cohort"]), data={"action": "remove_extension", "column": COLUMN, "learner": ids})
            shown.extend(re.findall(r'name="shown" value="(\d+:\d+)"', page.get_data(as_text=True)))

        opened = count(confirmation)
        removed = count(lambda: _confirm(course, teacher, shown))
        assert len(shown) == len(chosen)
        return opened, removed

    counted(learners[:1])  # the kept curriculum, read once by the process
    few = counted(learners[1:3])
    many = counted(learners[3:7])
    assert few == many, (few, many)
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.OVERRIDE_REVOKED)).all()) == 7


def test_bad_input_is_answered_with_a_message_and_removes_nothing(course) -> None:  # noqa: F811
    ada, _ = course["hand_in"](course["cohort"], "Ada Mine")
    stranger, _ = course["hand_in"](course["other"], "Sam Stranger")
    teacher = course["client_for"](course["teacher"])
    _extend(course, teacher, [ada])
    _page, shown = _confirmation(course, teacher, [ada])
    cases = {
        "no learner was listed": _confirm(course, teacher, []),
        "the confirmation did not come from its page": _confirm(course, teacher, ["x:1"]),
        "the item is not in the gradebook": _confirm(course, teacher, shown, column="assignment:nope"),
        "a learner listed is not a learner of this cohort": _confirm(course, teacher, [*shown, f"{stranger.id}:0"]),
    }
    for message, answer in cases.items():
        assert answer.status_code == 400, message
        assert f"Nothing was removed: {message}" in answer.get_data(as_text=True)
    twice = _confirm(course, teacher, [*shown, shown[0]])
    assert twice.status_code == 400
    not_theirs = _confirm(course, teacher, [f"{ada.id}:999999"])
    assert "not removed: Choose an extension listed on this page." in teacher.get(
        not_theirs.headers["Location"]).get_data(as_text=True)
    # the selection step: nobody ticked, another cohort's learner, an unknown item
    nobody = teacher.post(url(course["cohort"]), data={"action": "remove_extension", "column": COLUMN, "learner": []})
    assert nobody.status_code == 400 and "Tick the learners first" in nobody.get_data(as_text=True)
    other, _ = _confirmation(course, teacher, [ada, stranger])
    assert other.status_code == 404 and "not part of the gradebook of this cohort" in other.get_data(as_text=True)
    unknown, _ = _confirmation(course, teacher, [ada], column="assignment:nope")
    assert unknown.status_code == 404
    # the other cohort's instructor reaches neither step of cohort A
    other_teacher = course["client_for"](course["other_teacher"])
    assert _confirm(course, other_teacher, shown).status_code == 404
    db.session.expire_all()
    assert db.session.scalars(select(ScheduleOverride.removed_at)).all() == [None]


def test_the_confirmation_carries_its_csrf_token_and_nothing_is_removed_without_it(course, csrf_client) -> None:  # noqa: F811
    ada, _ = course["hand_in"](course["cohort"], "Ada Token")
    _extend(course, course["client_for"](course["teacher"]), [ada])
    token_of = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
    login = token_of.search(csrf_client.get("/login").get_data(as_text=True))
    assert login
    csrf_client.post("/login", data={"email": course["teacher"].email, "password": PASSWORD, "csrf_token": login.group(1)})
    book = token_of.search(csrf_client.get(url(course["cohort"])).get_data(as_text=True))
    assert book
    page = csrf_client.post(url(course["cohort"]), data={"action": "remove_extension", "column": COLUMN, "learner": [ada.id],
                                                          "csrf_token": book.group(1)}).get_data(as_text=True)
    token = token_of.search(page)
    shown = re.findall(r'name="shown" value="(\d+:\d+)"', page)
    assert token and shown
    assert _confirm(course, csrf_client, shown).status_code == 400
    db.session.expire_all()
    assert _extension_of(ada).removed_at is None
    assert _confirm(course, csrf_client, shown, csrf_token=token.group(1)).status_code == 302
    assert _extension_of(ada).removed_at is not None
