"""Notifications: once per (user, key), the user's channel per event, email through the
outbox, the centre (unread count, mark read), and the reminder command."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lms.accounts.models import User
from lms.assessment import services as quiz_services
from lms.assessment.models import Attempt, Quiz, Response
from lms.assessment.services import (
    attempt_handed_in,
    get_quiz,
    grade_essay,
    page_views,
    quiz_window,
    save_page,
    start_attempt,
    submit_attempt,
)
from lms.catalog.models import Level, Module
from lms.certificates.models import Certificate
from lms.certificates.services import certificate_issued
from lms.cohorts.models import Cohort, Enrolment, Pace
from lms.coursework.models import Submission, SubmissionStatus
from lms.coursework.services import dates_for, get_assignment, start_submission, submit
from lms.database import utcnow, zone_named
from lms.expert import services as expert_services
from lms.extensions import db
from lms.feedback import services as feedback_services
from lms.grading.models import Grade
from lms.grading.peer import complete_review, reviews_to_do
from lms.jobs.models import Job, JobStatus
from lms.jobs.outbox import Backoff, Outcome, deliver
from lms.learning.services import PROGRAM_MONTHS, build_schedule, opens_at
from lms.mail import services as mail_services
from lms.mail.models import MailStatus, OutboxMessage
from lms.mail.services import LogTransport
from lms.notifications import reminders
from lms.notifications.models import Channel, DigestSent, Notification, NotificationEvent
from lms.notifications.reminders import (
    digests_due,
    due_items,
    due_moment,
    due_notices,
    month_notices,
    send_digests,
    send_reminders,
)
from lms.notifications.services import (
    Notice,
    mark_all_read,
    mark_read,
    notify,
    notify_all,
    preferences,
    recent,
    revise,
    set_preferences,
    unread_count,
    withdraw,
)
from lms.progress.completion import cohort_progress, learner_progress
from lms.progress.models import ItemKind
from tests.plans import plan_of, scans_whole, statements_during
from tests.races import second_waits_for_first

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def all_notifications() -> list[Notification]:
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def notifications_of(user_id: int) -> list[Notification]:
    return [n for n in all_notifications() if n.user_id == user_id]


def test_notify_once_per_key_and_emails_by_default(make_user) -> None:
    user = make_user()
    made = notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="grade:1:released",
                  title="Your grade for Case study 1 is released", body="Score 8/10", link="/grading/1")
    assert made is not None and made.read_at is None and made.channel == Channel.EMAIL
    again = notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="grade:1:released",
                   title="Your grade for Case study 1 is released")
    assert again is None
    db.session.commit()
    mails = outbox()
    assert [(m.recipient, m.subject) for m in mails] == [(user.email, "Your grade for Case study 1 is released")]
    assert "/grading/1" in mails[0].body
    assert unread_count(db.session, user.id) == 1


def test_a_closed_account_is_given_no_notice_and_mailed_nothing(make_user) -> None:
    """A deactivated or erased account (``deactivated_at``): nobody reads its centre and its
    address must not be mailed, whichever feature sends (announcements, reminders, a grade,
    a digest later); an open account beside it gets its notice as before."""
    closed, digest, open_ = make_user(), make_user(), make_user()
    set_preferences(db.session, digest.id, {NotificationEvent.ANNOUNCEMENT: Channel.DIGEST})
    closed.deactivated_at = digest.deactivated_at = utcnow()
    db.session.commit()
    made = notify_all(db.session, [Notice(u.id, NotificationEvent.ANNOUNCEMENT, "announcement:1", "Welcome")
                                   for u in (closed, digest, open_)])
    db.session.commit()
    assert [n.user_id for n in made] == [open_.id]
    assert [m.recipient for m in outbox()] == [open_.email]
    assert reminders.send_digests(db.session, utcnow()) == 0


def test_preferences_choose_the_channel(make_user) -> None:
    user = make_user()
    assert preferences(db.session, user.id)[NotificationEvent.PEER_REVIEW_RECEIVED] == Channel.IN_APP
    set_preferences(db.session, user.id, {NotificationEvent.GRADE_RELEASED: Channel.IN_APP,
                                          NotificationEvent.MESSAGE: Channel.OFF})
    set_preferences(db.session, user.id, {NotificationEvent.MESSAGE: "off"})  # an upsert, not a clash
    db.session.commit()
    assert preferences(db.session, user.id)[NotificationEvent.GRADE_RELEASED] == Channel.IN_APP
    assert notify(db.session, user_id=user.id, event=NotificationEvent.MESSAGE, key="m1", title="Hi") is None
    made = notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="g1", title="Grade")
    assert made is not None and made.channel == Channel.IN_APP
    db.session.commit()
    assert outbox() == []


def test_mark_read_and_all_read(make_user) -> None:
    user, other = make_user(), make_user()
    first = notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key="a1", title="One")
    notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key="a2", title="Two")
    notify(db.session, user_id=other.id, event=NotificationEvent.ANNOUNCEMENT, key="a1", title="One")
    assert first is not None
    mark_read(db.session, first, NOW)
    assert unread_count(db.session, user.id) == 1
    assert mark_all_read(db.session, user.id, NOW) == 1
    db.session.commit()
    assert unread_count(db.session, user.id) == 0 and unread_count(db.session, other.id) == 1


def test_notify_all_is_a_fixed_number_of_statements(make_user, count_queries) -> None:
    def run(users: list, tag: str) -> int:
        notices = [Notice(u.id, NotificationEvent.MONTH_OPENS, f"month:{tag}", "Month 2 opens", link="/")
                   for u in users]
        count = count_queries(lambda: notify_all(db.session, notices))
        db.session.commit()
        return count

    few = [make_user() for _ in range(2)]
    many = few + [make_user() for _ in range(8)]
    assert run(few, "a") == run(many, "b")
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 12
    assert len(outbox()) == 12


def test_notices_made_before_are_left_out_before_the_insert(app: Flask, make_user) -> None:
    """A periodic run offers mostly the notices the run before made: they are read and left
    out, so nothing is inserted for them (the conflict clause only settles a race)."""
    users = [make_user() for _ in range(5)]
    notices = [Notice(u.id, NotificationEvent.MONTH_OPENS, "month:again", "Month 3 opens", link="/") for u in users]
    assert len(notify_all(db.session, notices)) == 5
    db.session.commit()
    inserts: list[int] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.startswith("INSERT INTO notifications"):
            inserts.append(len(parameters) // 10)  # ten columns a row

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert notify_all(db.session, notices) == [] and inserts == []
        extra = make_user()
        made = notify_all(db.session, [*notices, Notice(extra.id, NotificationEvent.MONTH_OPENS, "month:again", "Month 3 opens")])
        assert [n.user_id for n in made] == [extra.id] and inserts == [1]
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 6


# --------------------------------------------------------------------------- events of other features

CASE = "mlops-case-coldwatch"


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login):
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Main", months_ago=5, instructors=[teacher])

    def client_for(user):
        client = app.test_client()
        login(client, user)
        return client

    def hand_in(name: str) -> tuple:
        learner = enrol_learner(cohort, name=name)
        client = client_for(learner)
        client.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"})
        db.session.expire_all()
        work = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
        return learner, client, work

    return {"cohort": cohort, "teacher": teacher, "client_for": client_for, "hand_in": hand_in}


def grade_form(work, action: str, revision: str = "") -> dict[str, str]:
    levels = {f"level-{c.id}": c.levels[1].id for c in work.assignment.rubric.current.criteria}
    return {**levels, "feedback": "Clear diagnosis.", "action": action, "revision": revision}


def test_a_released_grade_reaches_the_learner_and_opens_the_feedback(course) -> None:
    learner, learner_client, work = course["hand_in"]("Lia Learner")
    teacher = course["client_for"](course["teacher"])
    url = f"/cohorts/{work.cohort_id}/submissions/{work.id}"
    assert teacher.post(url, data=grade_form(work, "draft")).status_code == 302
    assert notifications_of(learner.id) == []  # a draft tells nobody
    grade = db.session.scalar(select(Grade))
    assert teacher.post(url, data=grade_form(work, "release", str(grade.revision))).status_code == 302
    [made] = notifications_of(learner.id)
    assert made.event == NotificationEvent.GRADE_RELEASED and made.link == f"/assignments/{CASE}/feedback"
    [mail] = [m for m in outbox() if m.recipient == learner.email]
    assert f"http://localhost/assignments/{CASE}/feedback" in mail.body  # an absolute link, from the request

    page = learner_client.get("/notifications").get_data(as_text=True)
    assert "Your grade for" in page and "1 unread" in page
    assert 'class="notification-count"' in learner_client.get("/home").get_data(as_text=True)
    opened = learner_client.post(f"/notifications/{made.id}/open")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/assignments/{CASE}/feedback")
    assert unread_count(db.session, learner.id) == 0
    # Another user's notification does not exist for them.
    assert teacher.post(f"/notifications/{made.id}/open").status_code == 404

    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert teacher.post(url, data=grade_form(work, "return", str(grade.revision))).status_code == 302
    # the release is over: its notice goes, and the return's tells the learner
    events = [n.event for n in notifications_of(learner.id)]
    assert events == [NotificationEvent.RETURNED_FOR_REVISION]


def test_mark_all_read_and_preferences_pages(course) -> None:
    learner, client, _work = course["hand_in"]("Lia Learner")
    for n in range(3):
        notify(db.session, user_id=learner.id, event=NotificationEvent.MESSAGE, key=f"m{n}", title=f"Message {n}")
    db.session.commit()
    assert client.post("/notifications/read-all").status_code == 302
    assert unread_count(db.session, learner.id) == 0
    page = client.get("/notifications/preferences").get_data(as_text=True)
    assert "A grade is released" in page and "Work is awaiting grading" not in page  # a learner sees a learner's kinds
    assert client.post("/notifications/preferences", data={"grade_released": "off"}).status_code == 302
    assert preferences(db.session, learner.id)[NotificationEvent.GRADE_RELEASED] == Channel.OFF
    refused = client.post("/notifications/preferences", data={"grade_released": "carrier-pigeon"})
    assert refused.status_code == 400 and "choose one of the listed options" in refused.get_data(as_text=True)
    staff_page = course["client_for"](course["teacher"]).get("/notifications/preferences").get_data(as_text=True)
    assert "Work is awaiting grading" in staff_page
    # one setting covers a learner's reply and a conversation a learner starts: its label says both
    assert "A learner writes to you or replies to a message" in staff_page
    assert "/notifications/preferences" in client.get("/account").get_data(as_text=True)


# --------------------------------------------------------------------------- send-reminders


def test_send_reminders_twice_sends_once(course, app: Flask) -> None:
    learner, _client, _work = course["hand_in"]("Lia Learner")  # five months in, nothing else done: at risk
    runner = app.test_cli_runner()
    first = runner.invoke(args=["lms", "send-reminders"])
    assert first.exit_code == 0, first.output
    db.session.expire_all()
    made, mails = len(all_notifications()), len(outbox())
    teacher_events = {n.event for n in notifications_of(course["teacher"].id)}
    assert {NotificationEvent.LEARNER_AT_RISK, NotificationEvent.AWAITING_GRADING} <= teacher_events
    assert NotificationEvent.MONTH_OPENS in {n.event for n in notifications_of(learner.id)}  # month 6 opened today
    # the awaiting-grading count is on the digest channel: one digest email for the teacher today
    assert [m.subject for m in outbox() if m.recipient == course["teacher"].email and "digest" in m.subject]
    second = runner.invoke(args=["lms", "send-reminders"])
    assert second.exit_code == 0 and "Made 0 notices" in second.output and "queued 0 digests" in second.output
    db.session.expire_all()
    assert (len(all_notifications()), len(outbox())) == (made, mails)
    assert runner.invoke(args=["lms", "send-reminders", "--at", "yesterday"]).exit_code == 2



def test_send_reminders_says_when_its_emails_links_lack_the_sites_address(course, app: Flask) -> None:
    """Outside a request only ``--base-url`` (or LMS_BASE_URL) gives the links in the emails
    the site's address: without it the command says so (a digest's links were bare paths, and
    nothing said why); with it, they are whole addresses."""
    course["hand_in"]("Lia Learner")  # the teacher's digest counts work awaiting grading
    runner = app.test_cli_runner()
    bare = runner.invoke(args=["lms", "send-reminders"], env={"LMS_BASE_URL": ""})
    assert bare.exit_code == 0 and "warning: no --base-url (or LMS_BASE_URL)" in bare.output, bare.output
    db.session.query(DigestSent).delete()
    db.session.query(Notification).update({Notification.mailed_at: None})
    db.session.commit()
    whole = runner.invoke(args=["lms", "send-reminders", "--base-url", "https://lms.example.org"])
    assert whole.exit_code == 0 and "warning" not in whole.output, whole.output
    digest = [m for m in outbox() if m.recipient == course["teacher"].email and "digest" in m.subject][-1]
    assert "https://lms.example.org/grading" in digest.body


def test_a_cohort_whose_reminders_fail_holds_back_no_other(course, app: Flask, make_org, make_cohort, enrol_learner,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Cron's run commits one cohort at a time: a cohort whose reminders fail is rolled back
    alone and named in the error (the command exits 1, the job is tried again), the other
    cohorts' reminders and the digests are made, and the next run makes the failed one's."""
    learner, _client, _work = course["hand_in"]("Lia Learner")
    broken = make_cohort(make_org(), "Broken", months_ago=5)
    other = enrol_learner(broken, name="Olu Other")
    db.session.commit()
    real = reminders.month_notices

    def failing(session: Any, cohort: Cohort, now: datetime) -> list[Notice]:
        made = real(session, cohort, now)
        if cohort.id == broken.id:
            notify_all(session, made, now)  # written, then lost with the cohort's rollback
            raise RuntimeError("the schedule of this cohort cannot be read")
        return made

    monkeypatch.setattr(reminders, "month_notices", failing)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["lms", "send-reminders"])
    assert result.exit_code == 1, result.output
    assert f"the reminders of cohort {broken.id} failed: RuntimeError: the schedule of this cohort cannot be read" in result.output
    db.session.expire_all()
    assert NotificationEvent.MONTH_OPENS in {n.event for n in notifications_of(learner.id)}
    assert notifications_of(other.id) == []
    assert [m.subject for m in outbox() if m.recipient == course["teacher"].email and "digest" in m.subject]  # the digests went
    monkeypatch.setattr(reminders, "month_notices", real)
    again = runner.invoke(args=["lms", "send-reminders"])
    assert again.exit_code == 0, again.output
    db.session.expire_all()
    assert {n.event for n in notifications_of(other.id)} == {NotificationEvent.MONTH_OPENS}
    assert len([n for n in notifications_of(learner.id) if n.event == NotificationEvent.MONTH_OPENS]) == 1


def test_the_reminders_job_fails_with_the_cohort_named_after_making_the_rest(course, app: Flask, make_org, make_cohort,
                                                                           enrol_learner, monkeypatch: pytest.MonkeyPatch) -> None:
    learner, _client, _work = course["hand_in"]("Lia Learner")
    broken = make_cohort(make_org(), "Broken", months_ago=5)
    enrol_learner(broken, name="Olu Other")
    db.session.commit()
    real = reminders.due_items

    def failing(session: Any, cohort: Cohort, now: datetime) -> list[Any]:
        if cohort.id == broken.id:
            raise RuntimeError("no schedule")
        return real(session, cohort, now)

    monkeypatch.setattr(reminders, "due_items", failing)
    result = app.test_cli_runner().invoke(args=["lms", "queue-job", "send-reminders"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    job = db.session.scalars(select(Job).order_by(Job.id.desc())).first()
    assert job is not None and job.status in (JobStatus.QUEUED, JobStatus.FAILED)  # to be tried again after its backoff
    assert f"the reminders of cohort {broken.id} failed: RuntimeError: no schedule" in job.error
    assert NotificationEvent.MONTH_OPENS in {n.event for n in notifications_of(learner.id)}

def _reminders_by_definition(now: datetime) -> set[tuple[int, str]]:
    """The learners' due and month reminders at ``now`` as their definition gives them: each
    current learner's schedule worked out from their records (``lms.progress.completion``),
    as ``send_reminders`` found them before it read the kept schedule state."""
    found: set[tuple[int, str]] = set()
    closing = {key for key, days in db.session.execute(select(Quiz.key, Quiz.closes_after_days)) if days is not None}
    for cohort in db.session.scalars(select(Cohort).where(Cohort.archived_at.is_(None))):
        zones = {uid: zone_named(tz) for uid, tz in db.session.execute(
            select(User.id, User.timezone).join(Enrolment, Enrolment.user_id == User.id)
            .where(Enrolment.cohort_id == cohort.id, Enrolment.active))}
        for uid, progress in cohort_progress(db.session, cohort, sorted(zones), now).items():
            for item in progress.items:
                if item.done or item.handed_in or not item.assessed or item.opens_on > progress.today:
                    continue
                # a quiz or exam that closes: at the start of its due day, in the cohort's zone;
                # work: by the end of its due day there (handed in later, it is late)
                closes = item.kind in (ItemKind.QUIZ, ItemKind.EXAM) and item.key in closing
                left = (opens_at(cohort, item.due_on) if closes else due_moment(item.due_on, zone_named(cohort.timezone))) - now
                if timedelta(0) < left <= timedelta(days=3):
                    found.add((uid, f"{'due-24h' if left <= timedelta(hours=24) else 'due-3d'}:{item.kind}:{item.key}:{item.due_on}"))
            month = progress.month
            if 1 <= month <= PROGRAM_MONTHS and 0 <= (progress.today - progress.timeline.month_opens(month)).days < 7:
                found.add((uid, f"month:{cohort.id}:{month}"))
    return found


def test_reminders_read_from_the_kept_state_are_those_the_learners_records_give(
        loaded: Flask, demo_command, enrol_learner) -> None:
    """The reminders come from the kept schedule state (``lms.progress.state``) and the
    enrolments, in a few statements a cohort (1.5 s and 19 MiB a run for 500 learners, 4.2 s
    and 77 MiB for 2,000, when every learner's schedule was worked out from their records:
    ``bench/periodic.py``).
    For the demo's learners (months of work done, handed in, graded), a late joiner at their
    own pace on the other side of the world and one catching up, at moments every seven hours
    through the next forty days (month 7 opening among them), they are the reminders the
    learners' records give."""
    assert demo_command().exit_code == 0
    cohort = db.session.scalar(select(Cohort).where(Cohort.name == "Northwind cohort 1"))
    assert cohort is not None
    joined = utcnow() - timedelta(days=40)
    enrol_learner(cohort, joined=joined, pace=Pace.OWN_START, timezone="Pacific/Auckland")
    enrol_learner(cohort, joined=joined, pace=Pace.CATCH_UP, timezone="America/Los_Angeles")
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    kinds: Counter[str] = Counter()
    for step in range(0, 40 * 24, 7):
        now = start + timedelta(hours=step)
        kept: set[tuple[int, str]] = set()
        for each in db.session.scalars(select(Cohort).where(Cohort.archived_at.is_(None))):
            notices = due_notices(due_items(db.session, each, now), now) + month_notices(db.session, each, now)
            kept |= {(n.user_id, n.key) for n in notices}
        assert kept == _reminders_by_definition(now), now
        kinds.update(key.split(":")[0] for _uid, key in kept)
    assert kinds["due-3d"] and kinds["due-24h"] and kinds["month"]  # every kind met on the way


def test_due_reminders_count_down_to_the_cohorts_deadline_told_in_the_learners_time(course, enrol_learner) -> None:
    """Work handed in after the end of its due day in the cohort's zone is late
    (``handed_in_late``): the reminders count down to that moment, wherever the learner
    lives, and say when it is in their own time. They counted to the end of the due day
    where the learner lives: a learner west of the cohort was told "due today, by the end of
    <the day> (your time)" hours after their work had become late."""
    cohort = course["cohort"]  # UTC
    here = enrol_learner(cohort, timezone="UTC")
    west, east = enrol_learner(cohort, timezone="America/Los_Angeles"), enrol_learner(cohort, timezone="Pacific/Auckland")
    progress = learner_progress(db.session, cohort, here.id, utcnow())
    # work due by the end of its day (a quiz closes at its day's start in the cohort's zone: the test below)
    item = next(i for i in progress.items if i.assessed and not i.done and i.opens_on <= progress.today <= i.due_on
                and i.kind not in (ItemKind.QUIZ, ItemKind.EXAM))
    deadline = due_moment(item.due_on, ZoneInfo("UTC"))
    dates = dates_for(get_assignment(db.session, item.key), build_schedule(db.session, cohort, west.id, utcnow()))
    assert dates is not None and dates.late(deadline) and not dates.late(deadline - timedelta(seconds=1))

    def events_at(moment: datetime, user) -> dict[str, str]:
        send_reminders(db.session, moment)
        db.session.commit()
        return {n.key.split(":")[0]: n.body for n in notifications_of(user.id) if item.key in n.key}

    # 30 hours before the cohort's deadline: due in 3 days for everyone, the east's day over or not
    moment = deadline - timedelta(hours=30)
    assert set(events_at(moment, here)) == set(events_at(moment, west)) == set(events_at(moment, east)) == {"due-3d"}
    # an hour after it, the work is late: no "due today" for the west, whose own day is not over
    after = deadline + timedelta(hours=1)
    assert set(events_at(after, west)) == {"due-3d"}
    # two hours before it, each is told the one deadline in their own time
    before = deadline - timedelta(hours=2)
    local_west, local_east = deadline.astimezone(ZoneInfo("America/Los_Angeles")), deadline.astimezone(ZoneInfo("Pacific/Auckland"))
    assert events_at(before, here)["due-24h"] == f"Due by the end of {item.due_on:%a %d %b} (your time)."
    assert events_at(before, west)["due-24h"] == f"Due by {local_west:%H:%M} on {local_west:%a %d %b} (your time)."
    assert events_at(before, east)["due-24h"] == f"Due by {local_east:%H:%M} on {local_east:%a %d %b} (your time)."


def test_a_quiz_is_reminded_of_before_it_closes_and_never_after(course, enrol_learner) -> None:
    """A quiz or exam closes at the start of its due day in the cohort's zone: its reminders
    come before then, saying when in the learner's own zone, and none comes once it has
    closed (it said "due in 3 days" or "due today, by the end of <its day>" after it closed,
    by the end of the due day where the learner lives)."""
    cohort = course["cohort"]  # UTC
    learner = enrol_learner(cohort, timezone="America/Los_Angeles")
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    item = next(i for i in progress.items if i.kind in (ItemKind.QUIZ, ItemKind.EXAM) and not i.done
                and i.opens_on <= progress.today < i.due_on)
    quiz = get_quiz(db.session, item.key)
    assert quiz is not None and quiz.closes_after_days
    closes = quiz_window(db.session, quiz, cohort, learner.id, utcnow()).closes_at
    assert closes == opens_at(cohort, item.due_on)

    def reminded(moment: datetime) -> list[Notice]:
        return [n for n in due_notices(due_items(db.session, cohort, moment), moment)
                if n.user_id == learner.id and item.key in n.key]

    assert reminded(closes + timedelta(hours=2)) == []  # closed, though the due day has not ended in Los Angeles
    (soon,) = reminded(closes - timedelta(hours=2))
    local = closes.astimezone(ZoneInfo("America/Los_Angeles"))
    assert soon.event == NotificationEvent.DUE_TOMORROW and soon.title == f"{item.title} closes within 24 hours"
    assert soon.body == f"It closes at {local:%H:%M} on {local:%a %d %b} (your time)."
    assert local.date() == item.due_on - timedelta(days=1)  # the day before, where the learner lives
    (early,) = reminded(closes - timedelta(days=2))
    assert early.event == NotificationEvent.DUE_SOON and early.title == f"{item.title} closes in 3 days"
    assert reminded(closes - timedelta(days=3, hours=1)) == []


def test_reminder_statements_do_not_grow_with_learners(app: Flask, loaded, make_org, make_cohort, enrol_learner,
                                                       make_user, count_queries) -> None:
    now = utcnow()

    def cohort_with(learners: int) -> None:
        teacher = make_user()
        set_preferences(db.session, teacher.id, {NotificationEvent.LEARNER_AT_RISK: Channel.DIGEST})
        cohort = make_cohort(make_org(), months_ago=5, instructors=[teacher])
        for _ in range(learners):
            enrol_learner(cohort)
        db.session.commit()

    def run() -> int:
        count = count_queries(lambda: send_reminders(db.session, now))
        db.session.commit()
        for cohort in db.session.scalars(select(Cohort)):
            cohort.archived_at = now  # the next run sees only the next cohort
        db.session.commit()
        return count

    cohort_with(1)
    run()  # warm up: the first run fills the per-process curriculum caches (5 statements)
    cohort_with(2)
    few = run()
    cohort_with(8)
    assert run() == few
    # month 6 opens for each learner; each is at risk (to their instructor); on some days an item
    # falls due soon as well, for every learner alike
    events = Counter(n.event for n in all_notifications())
    assert events[NotificationEvent.MONTH_OPENS] == events[NotificationEvent.LEARNER_AT_RISK] == 1 + 2 + 8
    assert all(count % (1 + 2 + 8) == 0 for count in events.values()), events



def bound_ids(parameters: Any) -> set[int]:
    """The ids bound in one statement's parameters: an ``among`` list (JSON text on SQLite)."""
    values = parameters.values() if isinstance(parameters, dict) else parameters
    found: set[int] = set()
    for value in values:
        if isinstance(value, str) and value.startswith("["):
            found |= set(json.loads(value))
        elif isinstance(value, list):
            found |= set(value)
    return found


def test_digests_read_the_notices_of_the_users_due_one_on_their_own_day_only(make_user) -> None:
    """At 12:00 UTC it is already the 7th at Kiritimati (UTC+14) and still the 6th in Los
    Angeles. Each has a notice waiting and had a digest on the 6th: Kiritimati's is due
    (a new local day), Los Angeles' is not, and a run does not read its notices."""
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    due, done = make_user(timezone="Pacific/Kiritimati"), make_user(timezone="America/Los_Angeles")
    fresh, quiet = make_user(), make_user()
    for user in (due, done, fresh):
        notify_all(db.session, [Notice(user.id, NotificationEvent.AWAITING_GRADING, f"awaiting:{n}", f"Notice {n}", link="/grading")
                                for n in range(2)], now - timedelta(hours=1))
    notify(db.session, user_id=quiet.id, event=NotificationEvent.DUE_SOON, key="in-app", title="In the centre only")
    db.session.add_all([DigestSent(user_id=due.id, day=date(2026, 12, 6), sent_at=now - timedelta(hours=12)),
                        DigestSent(user_id=done.id, day=date(2026, 12, 6), sent_at=now - timedelta(hours=1))])
    db.session.commit()
    assert digests_due(db.session, now) == sorted([due.id, fresh.id])
    statements = statements_during(lambda: send_digests(db.session, now))
    db.session.commit()
    assert [(m.recipient, m.subject) for m in outbox()] == [(due.email, "Your daily digest: 2 notices"),
                                                           (fresh.email, "Your daily digest: 2 notices")]
    # the notices read (marked mailed as they are): an UPDATE ... RETURNING their titles
    titles = [parameters for statement, parameters in statements if "RETURNING" in statement and "title" in statement
              and statement.startswith("UPDATE notifications")]
    assert len(titles) == 1 and bound_ids(titles[0]) == {due.id, fresh.id}  # not the Los Angeles user's
    assert [n.mailed_at is None for n in notifications_of(done.id)] == [True, True]  # tomorrow's digest
    assert digests_due(db.session, now) == [] and send_digests(db.session, now) == 0
    assert digests_due(db.session, now + timedelta(hours=19)) == []  # 23:00 on the 6th in Los Angeles
    assert digests_due(db.session, now + timedelta(hours=21)) == [done.id]  # 01:00 on the 7th


def test_the_notices_waiting_for_a_digest_are_found_by_their_index(app: Flask, make_user) -> None:
    """Every notice ever made stays in its table; a run looks for the few waiting for a
    digest through a partial index that holds only those (on PostgreSQL, with sequential
    scans priced out so that the plan shows whether the index can serve the statement)."""
    user = make_user()
    notify(db.session, user_id=user.id, event=NotificationEvent.AWAITING_GRADING, key="waiting", title="Waiting")
    db.session.commit()
    [(statement, parameters)] = [(st, params) for st, params in statements_during(lambda: digests_due(db.session, NOW))
                                 if "DISTINCT" in st]
    db.session.rollback()
    plan = plan_of(statement, parameters)
    assert "ix_notifications_digest_waiting" in plan, plan
    assert not scans_whole("notifications", plan), plan

def test_withdrawn_notices_leave_every_centre_and_the_digests_not_yet_sent(make_user) -> None:
    """Something deleted or hidden takes back every user's notice of it: none is listed,
    counted unread or mailed in a digest not yet sent; other notices stay as they were."""
    emailed, digested = make_user(), make_user()
    set_preferences(db.session, digested.id, {NotificationEvent.ANNOUNCEMENT: Channel.DIGEST})
    for user in (emailed, digested):
        notify_all(db.session, [Notice(user.id, NotificationEvent.ANNOUNCEMENT, key, f"About {key}", link=f"/x#{key}")
                                for key in ("gone:1", "gone:2", "kept:1")], NOW)
    db.session.commit()
    sent = len(outbox())  # the emails of the email channel, queued at once: recalled below while unsent
    assert withdraw(db.session, ["gone:1", "gone:2", "gone:1"]) == 4
    assert withdraw(db.session, ["gone:1"]) == 0 and withdraw(db.session, []) == 0
    db.session.commit()
    assert [(n.user_id, n.key) for n in all_notifications()] == [(emailed.id, "kept:1"), (digested.id, "kept:1")]
    assert unread_count(db.session, emailed.id) == unread_count(db.session, digested.id) == 1
    assert send_digests(db.session, NOW) == 1
    db.session.commit()
    digest = outbox()[sent:]
    assert [m.subject for m in digest] == ["Your daily digest: 1 notice"] and "About kept:1" in digest[0].body
    assert {(m.subject, m.status) for m in outbox()[:sent]} == {
        ("About gone:1", MailStatus.CANCELLED), ("About gone:2", MailStatus.CANCELLED), ("About kept:1", MailStatus.PENDING)}


def test_withdrawing_a_notice_cancels_its_mail_not_yet_sent(make_user, app: Flask, client, login) -> None:
    """A grade release taken back, a hidden reply: the notice went from the centre, but its
    email still sat in the outbox and went out. Now an unsent email of a withdrawn notice
    is cancelled (kept, marked cancelled, listed on the outbox page, never sent nor retried);
    one already sent stays sent; one a deliverer holds at that moment (claimed) goes out:
    the cancel is a conditional write that loses to the claim."""
    user = make_user(email="lia@example.com")
    for key in ("unsent", "sent", "held", "given-up", "other"):
        notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key=key, title=f"Grade {key}")
    db.session.commit()
    by_subject = {m.subject: m for m in outbox()}
    assert mail_services.deliver_pending(db.session, LogTransport({}), ids=[by_subject["Grade sent"].id]) == 1
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == by_subject["Grade given-up"].id)
                       .values(status=MailStatus.FAILED, attempts=8, error="Connection refused"))
    now = utcnow()
    [held] = mail_services.claim(db.session, now, timedelta(minutes=5), ids=[by_subject["Grade held"].id])
    db.session.commit()

    assert withdraw(db.session, ["unsent", "sent", "held", "given-up"], now) == 4
    db.session.commit()
    db.session.expire_all()
    state = {m.subject: (m.status, m.cancelled_at is not None) for m in outbox()}
    # the held one is marked recalled: were this try to fail, it would never be tried again
    assert state == {"Grade unsent": (MailStatus.CANCELLED, True), "Grade sent": (MailStatus.SENT, False),
                     "Grade held": (MailStatus.PENDING, True), "Grade given-up": (MailStatus.CANCELLED, True),
                     "Grade other": (MailStatus.PENDING, False)}
    # the worker that held one finishes sending it: recorded sent, as it went out
    mail_services.MailOutbox(LogTransport({})).record(db.session, [held], now, Outcome())
    # what is due now goes out, but never a cancelled message; a retry does not bring one back
    assert mail_services.deliver_pending(db.session, LogTransport({})) == 1  # "Grade other"
    cancelled = [m.id for m in outbox() if m.status == MailStatus.CANCELLED]
    assert mail_services.retry(db.session, cancelled) == 0
    db.session.commit()
    db.session.expire_all()
    assert {m.subject: m.status for m in outbox()} == {
        "Grade unsent": MailStatus.CANCELLED, "Grade sent": MailStatus.SENT, "Grade held": MailStatus.SENT,
        "Grade given-up": MailStatus.CANCELLED, "Grade other": MailStatus.SENT}
    # the site admin sees what was cancelled, and it is not counted as waiting
    login(client, make_user(email="root@example.com", admin=True))
    page = client.get("/admin/mail").get_data(as_text=True)
    cancelled_part = page[page.index("Cancelled before sending"):]
    assert "Grade unsent" in cancelled_part and "Grade given-up" in cancelled_part and "Grade other" not in cancelled_part
    assert "0 messages waiting to be sent." in page and "The latest 2 messages cancelled, newest first" in page


def test_a_claim_and_a_cancel_never_both_win(make_user) -> None:
    """Cancelled first, a deliverer claims nothing: the message is never sent."""
    user = make_user()
    notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="race", title="Race")
    db.session.commit()
    now = utcnow()
    assert withdraw(db.session, ["race"], now) == 1
    assert mail_services.claim(db.session, now, timedelta(minutes=5)) == []
    db.session.commit()
    assert [m.status for m in outbox()] == [MailStatus.CANCELLED]


class Refused(mail_services.Transport):
    """A mail server that refuses every connection."""

    name = "refused"

    def send(self, message: mail_services.Letter) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


def fail_once(message_ids: list[int], at: datetime) -> None:
    """One failed try of each message at ``at``: each then waits out the wait (a minute)
    before its next try."""
    backoff = Backoff(first=timedelta(minutes=1))
    assert mail_services.deliver_pending(db.session, Refused({}), ids=message_ids, now=at, backoff=backoff) == 0
    db.session.expire_all()


def test_a_message_waiting_out_a_retry_is_recalled_and_one_held_for_its_retry_is_not(make_user) -> None:
    """A message whose try failed waits for its next try, its next attempt ahead as a held
    one's is: a recall took it for held and it went out later, its notice withdrawn. Now
    one waiting is cancelled, never tried again; one a worker holds for its second try goes
    out and is recorded sent; one held whose try then fails is never tried again either."""
    user = make_user()
    for key in ("waiting", "held"):
        notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key=key, title=f"Grade {key}")
    db.session.commit()
    by_subject = {m.subject: m.id for m in outbox()}
    fail_once(list(by_subject.values()), NOW)
    assert {m.subject: (m.status, m.attempts, m.next_attempt_at) for m in outbox()} == {
        "Grade waiting": (MailStatus.PENDING, 1, NOW + timedelta(minutes=1)),
        "Grade held": (MailStatus.PENDING, 1, NOW + timedelta(minutes=1))}
    later = NOW + timedelta(minutes=2)  # the wait is over: a worker takes "held" for its second try
    [held] = mail_services.claim(db.session, later, timedelta(minutes=5), ids=[by_subject["Grade held"]])
    db.session.commit()

    now = NOW + timedelta(seconds=30)  # "waiting" still waits; "held" is held (its next attempt ahead too)
    assert withdraw(db.session, ["waiting"], now) == 1
    assert withdraw(db.session, ["held"], later) == 1
    db.session.commit()
    db.session.expire_all()
    assert {m.subject: (m.status, m.cancelled_at) for m in outbox()} == {
        "Grade waiting": (MailStatus.CANCELLED, now), "Grade held": (MailStatus.PENDING, later)}  # marked recalled
    mail_services.MailOutbox(LogTransport({})).record(db.session, [held], later, Outcome())
    assert mail_services.deliver_pending(db.session, LogTransport({}), now=NOW + timedelta(days=1)) == 0
    db.session.commit()
    db.session.expire_all()
    assert {m.subject: (m.status, m.cancelled_at) for m in outbox()} == {
        "Grade waiting": (MailStatus.CANCELLED, now), "Grade held": (MailStatus.SENT, None)}

    # held when it was withdrawn, and that try failed: cancelled when its next try comes, never sent
    notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="held-fails", title="Grade held-fails")
    db.session.commit()
    [message] = [m.id for m in outbox() if m.subject == "Grade held-fails"]
    [claimed] = mail_services.claim(db.session, NOW, timedelta(minutes=5), ids=[message])
    assert withdraw(db.session, ["held-fails"], NOW) == 1
    mail_services.MailOutbox(Refused({}), Backoff(first=timedelta(minutes=1))).record(
        db.session, [claimed], NOW, Outcome("ConnectionRefusedError: refused"))
    db.session.commit()
    assert mail_services.deliver_pending(db.session, LogTransport({}), now=NOW + timedelta(minutes=2)) == 0
    db.session.commit()
    db.session.expire_all()
    [state] = [(m.status, m.attempts, m.cancelled_at) for m in outbox() if m.id == message]
    assert state == (MailStatus.CANCELLED, 1, NOW)


def test_a_run_whose_claim_is_all_recalled_mail_goes_on_to_the_rest(app: Flask) -> None:
    """A claim made only of messages recalled while a worker held them (each cancelled as it
    is claimed, none sent) is no reason for the run to stop: the messages due after them go
    out in the same run."""
    def message(subject: str, recalled: bool) -> OutboxMessage:
        return OutboxMessage(recipient="ann@example.com", subject=subject, body="", status=MailStatus.PENDING,
                             attempts=1 if recalled else 0, next_attempt_at=NOW, retry_at=NOW if recalled else None,
                             cancelled_at=NOW if recalled else None)

    db.session.add_all([message(f"Recalled {n}", True) for n in range(3)] + [message("Due after them", False)])
    db.session.commit()
    outbox = mail_services.MailOutbox(LogTransport({}))
    outbox.claim_size = 3  # the first claim: the three recalled
    assert deliver(db.session, outbox, now=NOW + timedelta(minutes=1)) == 1
    db.session.expire_all()
    assert {m.subject: m.status for m in db.session.scalars(select(OutboxMessage))} == {
        **{f"Recalled {n}": MailStatus.CANCELLED for n in range(3)}, "Due after them": MailStatus.SENT}


def test_a_worker_claiming_a_retry_and_a_recall_never_both_win(app: Flask, make_user) -> None:
    """Two connections at once: a worker claims a message for its second try while its
    notice is withdrawn in another. Claimed first, the recall waits and then finds it held:
    it goes out. Recalled first (while it still waits for its try), the worker waits and
    then claims nothing: it is never sent."""
    user = make_user()
    for key in ("claimed-first", "recalled-first"):
        notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key=key, title=key)
    db.session.commit()
    ids = {m.subject: m.id for m in outbox()}
    fail_once(list(ids.values()), NOW)
    db.session.commit()
    due = NOW + timedelta(minutes=2)  # the retry's wait is over
    lease = timedelta(minutes=5)

    claimed, taken = second_waits_for_first(
        app, lambda one: [c.id for c in mail_services.claim(one, due, lease, ids=[ids["claimed-first"]])],
        lambda two: withdraw(two, ["claimed-first"], due))
    assert claimed == [ids["claimed-first"]] and taken == 1

    waiting = NOW + timedelta(seconds=30)  # withdrawn while it waits; the worker comes once the wait is over
    taken, claimed = second_waits_for_first(
        app, lambda one: withdraw(one, ["recalled-first"], waiting),
        lambda two: [c.id for c in mail_services.claim(two, due, lease, ids=[ids["recalled-first"]])])
    assert taken == 1 and claimed == []
    assert {m.subject: m.status for m in outbox()} == {"claimed-first": MailStatus.PENDING,
                                                        "recalled-first": MailStatus.CANCELLED}
    assert [m.next_attempt_at for m in outbox() if m.subject == "claimed-first"] == [due + lease]  # held by its worker


def digests_of(user: User) -> list[tuple[str, MailStatus, str]]:
    """``user``'s digest emails, oldest first: subject, status and the notices listed."""
    db.session.expire_all()
    return [(m.subject, m.status, " ".join(line[2:] for line in m.body.splitlines() if line.startswith("- ")))
            for m in outbox() if m.recipient == user.email and m.subject.startswith("Your daily digest")]


def test_a_withdrawn_notice_leaves_the_digest_queued_and_not_yet_sent(make_user) -> None:
    """A digest queued (not yet sent) listed a notice withdrawn since: it went out telling of
    it. Now the digest is cancelled and one of the notices left is queued in its place (the
    same user and day); a digest of that notice alone is cancelled; one already sent, or
    being sent, stays as it is; other users' digests are untouched."""
    several, alone, sent, held, other = (make_user() for _ in range(5))
    for user, keys in ((several, ("gone", "kept:1", "kept:2")), (alone, ("gone",)), (sent, ("gone", "kept:1")),
                       (held, ("gone", "kept:1")), (other, ("kept:1",))):
        set_preferences(db.session, user.id, {NotificationEvent.ANNOUNCEMENT: Channel.DIGEST})
        notify_all(db.session, [Notice(user.id, NotificationEvent.ANNOUNCEMENT, key, f"About {key}") for key in keys], NOW)
    assert send_digests(db.session, NOW) == 5
    db.session.commit()
    digest_ids = {m.recipient: m.id for m in outbox()}
    assert mail_services.deliver_pending(db.session, LogTransport({}), ids=[digest_ids[sent.email]], now=NOW) == 1
    mail_services.claim(db.session, NOW, timedelta(minutes=5), ids=[digest_ids[held.email]])
    db.session.commit()

    assert withdraw(db.session, ["gone"], NOW + timedelta(minutes=1)) == 4
    db.session.commit()
    assert digests_of(several) == [("Your daily digest: 3 notices", MailStatus.CANCELLED, "About gone About kept:1 About kept:2"),
                                   ("Your daily digest: 2 notices", MailStatus.PENDING, "About kept:1 About kept:2")]
    assert digests_of(alone) == [("Your daily digest: 1 notice", MailStatus.CANCELLED, "About gone")]
    assert digests_of(sent) == [("Your daily digest: 2 notices", MailStatus.SENT, "About gone About kept:1")]
    assert digests_of(held) == [("Your daily digest: 2 notices", MailStatus.PENDING, "About gone About kept:1")]
    assert digests_of(other) == [("Your daily digest: 1 notice", MailStatus.PENDING, "About kept:1")]
    [old, new] = [m for m in outbox() if m.recipient == several.email]
    assert new.recall_key == old.recall_key == f"digest:{several.id}:{NOW.date()}"  # the same user and day
    assert {n.digest_id for n in notifications_of(several.id)} == {new.id}

    # the digest in its place is a digest like any other: a notice it lists withdrawn, it is replaced in turn
    assert withdraw(db.session, ["kept:2"]) == 1
    db.session.commit()
    assert [(subject, status) for subject, status, _ in digests_of(several)][1:] == [
        ("Your daily digest: 2 notices", MailStatus.CANCELLED), ("Your daily digest: 1 notice", MailStatus.PENDING)]
    assert digests_of(several)[-1][2] == "About kept:1"
    # the one in its place, the other user's, and the held one (its worker gone: its lease ran out)
    assert mail_services.deliver_pending(db.session, LogTransport({}), now=NOW + timedelta(hours=1)) == 3
    db.session.commit()
    assert [status for _s, status, _n in digests_of(several)] == [MailStatus.CANCELLED, MailStatus.CANCELLED,
                                                                  MailStatus.SENT]
    assert send_digests(db.session, NOW + timedelta(hours=1)) == 0  # no second digest that day


def test_a_notice_withdrawn_while_its_digest_is_made_is_never_mailed(app: Flask, make_user) -> None:
    """Two connections at once, the digest run and a withdrawal. Digest first: the
    withdrawal waits for it, then finds the digest listing the notice and replaces it with
    one of the rest. Withdrawal first: the digest run waits for it and lists the rest alone
    (it read the notices as it marked them mailed, not before)."""
    first, second = make_user(), make_user()
    for user in (first, second):
        set_preferences(db.session, user.id, {NotificationEvent.ANNOUNCEMENT: Channel.DIGEST})
        notify_all(db.session, [Notice(user.id, NotificationEvent.ANNOUNCEMENT, f"{key}:{user.id}", f"About {key}")
                                for key in ("gone", "kept")], NOW)
    db.session.commit()
    queued, taken = second_waits_for_first(app, lambda one: send_digests(one, NOW),
                                           lambda two: withdraw(two, [f"gone:{first.id}"], NOW))
    assert queued == 2 and taken == 1
    assert digests_of(first) == [("Your daily digest: 2 notices", MailStatus.CANCELLED, "About gone About kept"),
                                 ("Your daily digest: 1 notice", MailStatus.PENDING, "About kept")]

    later = NOW + timedelta(days=1)
    notify_all(db.session, [Notice(second.id, NotificationEvent.ANNOUNCEMENT, f"{key}:{second.id}:2", f"About {key} 2")
                            for key in ("gone", "kept")], later)
    db.session.commit()
    taken, queued = second_waits_for_first(app, lambda one: withdraw(one, [f"gone:{second.id}:2"], later),
                                           lambda two: send_digests(two, later))
    assert taken == 1 and queued == 1
    assert digests_of(second)[-1] == ("Your daily digest: 1 notice", MailStatus.PENDING, "About kept 2")


def test_withdrawing_notices_from_digests_is_a_fixed_number_of_statements(make_user, count_queries) -> None:
    """However many digests list the notices withdrawn, and however many notices each lists."""

    def run(users: list[User], tag: str) -> int:
        for user in users:
            set_preferences(db.session, user.id, {NotificationEvent.ANNOUNCEMENT: Channel.DIGEST})
            notify_all(db.session, [Notice(user.id, NotificationEvent.ANNOUNCEMENT, f"{tag}:{n}", f"About {n}")
                                    for n in range(len(users) + 1)], NOW)
        db.session.execute(sa.delete(DigestSent))
        send_digests(db.session, NOW)
        db.session.commit()
        count = count_queries(lambda: withdraw(db.session, [f"{tag}:0"], NOW))
        db.session.commit()
        return count

    few = [make_user() for _ in range(1)]
    many = [make_user() for _ in range(6)]
    assert run(few, "a") == run(many, "b")
    assert [(m.status, m.subject) for m in outbox() if m.recipient == many[-1].email] == [
        (MailStatus.CANCELLED, "Your daily digest: 7 notices"), (MailStatus.PENDING, "Your daily digest: 6 notices")]


def test_revised_notices_say_the_new_text_and_keep_their_read_state(make_user) -> None:
    first, second = make_user(), make_user()
    for user in (first, second):
        notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key="edited:1", title="Old title",
               body="Old body", link="/a")
        notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key="other:1", title="Other")
    mark_read(db.session, notifications_of(first.id)[0], NOW)
    assert revise(db.session, "edited:1", "New title " + "x" * 400, "New body") == 2
    db.session.commit()
    db.session.expire_all()
    edited = [n for n in all_notifications() if n.key == "edited:1"]
    assert {(n.title[:9], len(n.title), n.body, n.link) for n in edited} == {("New title", 300, "New body", "/a")}
    assert [n.read_at is not None for n in edited] == [True, False]
    assert {n.title for n in all_notifications() if n.key == "other:1"} == {"Other"}


def test_notices_are_taken_back_by_their_key_index(app: Flask, make_user) -> None:
    """Taking back or revising the notices of one occurrence names no user: the key's own
    index serves it, never a read of every notice ever made."""
    user = make_user()
    # Many notices, and the table analysed: with one row every index costs the same to
    # PostgreSQL's planner, which may then pick the (user, key) constraint's index, read end
    # to end, as readily as the key's own; the test is about the plan a real table gets.
    for n in range(1, 1001):
        notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key=f"announcement:{n}", title="One")
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE notifications")
            connection.commit()
    for action in (lambda: withdraw(db.session, ["announcement:1"]), lambda: revise(db.session, "announcement:1", "T")):
        [(statement, parameters)] = [(st, params) for st, params in statements_during(action)
                                     if st.startswith(("DELETE FROM notifications", "UPDATE notifications"))]
        db.session.rollback()
        plan = plan_of(statement, parameters)
        assert "ix_notifications_key" in plan and not scans_whole("notifications", plan), plan


def test_the_log_transport_prints_recipient_subject_and_links(capsys) -> None:
    message = OutboxMessage(recipient="ana@example.com", subject="Your grade is released",
                            body="Hello Ana,\n\nOpen it here: http://localhost/assignments/case/feedback.\n")
    LogTransport({}).send(message)
    printed = capsys.readouterr().err
    assert "ana@example.com: Your grade is released" in printed
    assert "http://localhost/assignments/case/feedback\n" in printed + "\n"


# --------------------------------------------------------------------------- feedback, experts, certificates


def test_stakeholder_and_expert_answers_notify_the_learner_and_staff(course) -> None:
    learner, _client, work = course["hand_in"]("Lia Learner")
    teacher = course["teacher"]
    mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
    _invite, token = feedback_services.invite(db.session, learner, mlops, "Dana Client", "dana@client.example", "customer",
                                              utcnow(), lambda t: f"/f/{t}")
    feedback_services.answer(db.session, token, {"reliability": "4", "communication": "5", "results": "3", "recommend": "4"},
                             "", utcnow())
    _item, expert_token = expert_services.invite(db.session, work, teacher, "Erin Expert", "erin@expert.example", "",
                                                 utcnow(), lambda t: f"/e/{t}")
    levels = {c.id: "proficient" for c in work.assignment.rubric.current.criteria}
    expert_services.rate(db.session, expert_token, {"role": "Head of ML", "organization": "Brightfield", "years": "12",
                                                    "qualification": "Runs the platform team"},
                         levels, {}, "Sound analysis.", utcnow())
    db.session.commit()
    assert [(n.event, n.link) for n in notifications_of(learner.id)] == [
        (NotificationEvent.FEEDBACK_RECEIVED, "/feedback"),
        (NotificationEvent.FEEDBACK_RECEIVED, f"/assignments/{CASE}/experts")]
    assert [(n.event, n.link) for n in notifications_of(teacher.id)] == [
        (NotificationEvent.FEEDBACK_LINK_ANSWERED, f"/cohorts/{course['cohort'].id}/learners/{learner.id}/feedback"),
        (NotificationEvent.FEEDBACK_LINK_ANSWERED, f"/cohorts/{course['cohort'].id}/submissions/{work.id}/experts")]


def test_an_issued_certificate_notifies_its_holder_once(course, enrol_learner) -> None:
    learner = enrol_learner(course["cohort"])
    level = db.session.scalar(select(Level).order_by(Level.position))
    certificate = Certificate(user_id=learner.id, level=level, code="a-code-for-the-test", issued_at=utcnow(),
                              holder_name=learner.name)
    db.session.add(certificate)
    db.session.flush()
    for _ in range(2):
        certificate_issued.send(certificate, session=db.session, now=utcnow())
    db.session.commit()
    [made] = notifications_of(learner.id)
    assert made.event == NotificationEvent.CERTIFICATE_ISSUED and made.link == "/certificates/a-code-for-the-test"
    assert level.title in made.title


def test_two_sessions_racing_on_one_key_make_one_notification(app: Flask, make_user) -> None:
    """Two transactions insert the same (user, key) at the same time: the second waits for
    the first (PostgreSQL's unique index, SQLite's write lock), then makes nothing."""
    user = make_user()
    first, second = Session(db.engine), Session(db.engine)
    results: list[object] = []
    try:
        made = notify(first, user_id=user.id, event=NotificationEvent.MESSAGE, key="race", title="One")
        racer = threading.Thread(target=lambda: (results.append(notify(second, user_id=user.id, event=NotificationEvent.MESSAGE,
                                                                      key="race", title="Two")), second.commit()))
        racer.start()
        time.sleep(0.3)
        first.commit()
        racer.join(timeout=30)
        assert made is not None and results == [None]
    finally:
        first.close()
        second.close()
    assert [n.title for n in notifications_of(user.id)] == ["One"]
    assert len(outbox()) == 1


def hand_in_essays(quiz: Quiz, learner: User, at: datetime) -> Attempt:
    """An attempt of ``quiz`` with its essays answered, handed in at ``at`` (committed)."""
    attempt = start_attempt(db.session, quiz, learner, at)
    for number, page in enumerate(page_views(db.session, attempt)):
        if page.parts[0].kind == "essay":
            save_page(db.session, attempt, number, MultiDict({f"p{number}": "An answer to grade."}), at)
    submit_attempt(db.session, attempt, at)
    db.session.commit()
    return attempt


def test_graded_essays_and_a_peer_review_notify_the_learner(course, enrol_learner) -> None:
    """Each notice leads to where the learner reads what it announces: a peer review's to
    the assignment's peer review page (it led to the grade's page, which says only that no
    grade is released yet and shows no peer's review)."""
    cohort, teacher = course["cohort"], course["teacher"]
    learner, client, _work = course["hand_in"]("Lia Learner")
    quiz = get_quiz(db.session, "mlops-quiz")
    opening = quiz_window(db.session, quiz, cohort, learner.id, utcnow()).opens_at
    attempt = hand_in_essays(quiz, learner, opening)
    assert notifications_of(learner.id) == []  # scored automatically, essays pending: nothing yet
    essays = [r for r in db.session.scalars(select(Response).where(Response.attempt_id == attempt.id)) if r.score is None]
    assert essays
    for response in essays:
        grade_essay(db.session, response, 1, "Fine.", teacher, utcnow())
    db.session.commit()
    [graded] = notifications_of(learner.id)
    assert graded.event == NotificationEvent.ESSAY_GRADED and graded.link == f"/attempts/{attempt.id}"

    hands_on = get_assignment(db.session, "cs-hands-on-own-operation")  # reviewed by peers
    classmate = enrol_learner(cohort)
    for person in (learner, classmate):
        mine = start_submission(db.session, hands_on, person.id, cohort.id, utcnow())
        mine.draft_body = "My plan."
        submit(db.session, mine, dates_for(hands_on, build_schedule(db.session, cohort, person.id, utcnow())), utcnow())
    db.session.commit()
    [review] = reviews_to_do(db.session, hands_on, classmate, utcnow())
    levels = {c.id: c.levels[1].id for c in review.rubric_version.criteria}
    complete_review(db.session, review, levels, "Clear plan; name the owner.", utcnow())
    db.session.commit()
    assert [n.event for n in notifications_of(learner.id)] == [NotificationEvent.ESSAY_GRADED,
                                                              NotificationEvent.PEER_REVIEW_RECEIVED]
    received = notifications_of(learner.id)[-1]
    assert received.link == f"/assignments/{hands_on.key}/peer-reviews"
    opened = client.get(received.link)
    assert opened.status_code == 200 and "Clear plan; name the owner." in opened.get_data(as_text=True)


def test_open_goes_only_to_a_page_of_this_site(course) -> None:
    learner, client, _work = course["hand_in"]("Lia Learner")
    made = [notify(db.session, user_id=learner.id, event=NotificationEvent.MESSAGE, key=f"link:{n}", title="Look", link=link)
            for n, link in enumerate(["//evil.example/x", "https://evil.example/", None])]
    db.session.commit()
    for notification in made:
        answer = client.post(f"/notifications/{notification.id}/open")
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/notifications")
    assert unread_count(db.session, learner.id) == 0


def test_a_grade_taken_back_by_a_draft_takes_its_notice_with_it(course) -> None:
    """The notice gave points the learner can no longer read once a draft takes the grade
    back; it goes, and the next release tells them again."""
    learner, _client, work = course["hand_in"]("Tom Takenback")
    teacher = course["client_for"](course["teacher"])
    url = f"/cohorts/{work.cohort_id}/submissions/{work.id}"
    assert teacher.post(url, data=grade_form(work, "release")).status_code == 302
    assert [n.event for n in notifications_of(learner.id)] == [NotificationEvent.GRADE_RELEASED]
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert teacher.post(url, data=grade_form(work, "draft", str(grade.revision))).status_code == 302
    assert notifications_of(learner.id) == []
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert teacher.post(url, data=grade_form(work, "release", str(grade.revision))).status_code == 302
    [again] = notifications_of(learner.id)
    assert again.event == NotificationEvent.GRADE_RELEASED and again.body.endswith("points.")


def test_work_returned_after_its_release_withdraws_the_release_notice(course) -> None:
    """A returned grade is no longer released: the notice list said "Your grade is released"
    above "was returned for revision" (its link, the feedback page, explained the return).
    The release's notice goes, and the learner is told of the return, in the centre and by mail."""
    learner, learner_client, work = course["hand_in"]("Rita Returned")
    teacher = course["client_for"](course["teacher"])
    url = f"/cohorts/{work.cohort_id}/submissions/{work.id}"
    assert teacher.post(url, data=grade_form(work, "release")).status_code == 302
    assert "Your grade for" in learner_client.get("/notifications").get_data(as_text=True)
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert teacher.post(url, data=grade_form(work, "return", str(grade.revision))).status_code == 302
    [told] = notifications_of(learner.id)
    assert told.event == NotificationEvent.RETURNED_FOR_REVISION and told.read_at is None
    assert told.title.endswith("was returned for revision") and told.body.startswith("Read the feedback")
    page = learner_client.get("/notifications").get_data(as_text=True)
    assert "was returned for revision" in page and "is released" not in page and "1 unread" in page
    assert [m.subject for m in outbox() if m.recipient == learner.email][-1] == told.title
    # released again after the revision: a release notice once more, the return's stays
    learner_client.post(f"/assignments/{CASE}/work", data={"body": "Revised.", "action": "submit"})
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert teacher.post(url, data=grade_form(work, "release", str(grade.revision))).status_code == 302
    assert [n.event for n in notifications_of(learner.id)] == [NotificationEvent.RETURNED_FOR_REVISION,
                                                              NotificationEvent.GRADE_RELEASED]


def awaiting_titles(user_id: int) -> list[str]:
    db.session.expire_all()
    return [n.title for n in notifications_of(user_id) if n.event == NotificationEvent.AWAITING_GRADING]


def test_the_days_awaiting_grading_notice_tells_the_count_now(course) -> None:
    """The day's "N pieces of work await grading" kept the count of the morning's run: a
    hand-in the same day left it saying 4 with 5 there. A hand-in (or a grade) revises the
    day's notice in place, the next run too; one notice a day, never a second; all graded,
    it is taken back."""
    teacher = course["teacher"]
    handed = [course["hand_in"](f"Learner {n}") for n in range(4)]
    send_reminders(db.session, utcnow())
    db.session.commit()
    assert awaiting_titles(teacher.id) == ["4 pieces of work await grading"]
    course["hand_in"]("Learner 5")
    assert awaiting_titles(teacher.id) == ["5 pieces of work await grading"]
    report = send_reminders(db.session, utcnow())
    db.session.commit()
    assert NotificationEvent.AWAITING_GRADING not in report.notices
    assert awaiting_titles(teacher.id) == ["5 pieces of work await grading"]
    grader = course["client_for"](teacher)
    _learner, _client, work = handed[0]
    assert grader.post(f"/cohorts/{work.cohort_id}/submissions/{work.id}", data=grade_form(work, "release")).status_code == 302
    assert awaiting_titles(teacher.id) == ["4 pieces of work await grading"]
    db.session.execute(sa.update(Submission).values(status=SubmissionStatus.RELEASED))
    db.session.commit()
    reminders.recount_awaiting(db.session, reminders._instructors(db.session, [course["cohort"].id]), utcnow())
    db.session.commit()
    assert awaiting_titles(teacher.id) == []  # nothing waits: the day's notice is taken back


def test_the_days_awaiting_notice_taken_back_leaves_the_digest_not_yet_sent(course) -> None:
    """All the work graded, the day's notice of work awaiting grading is taken back: a
    digest queued with it and not yet sent no longer tells of it (one of the rest in its
    place)."""
    teacher = course["teacher"]
    set_preferences(db.session, teacher.id, {NotificationEvent.ANNOUNCEMENT: Channel.DIGEST})
    notify(db.session, user_id=teacher.id, event=NotificationEvent.ANNOUNCEMENT, key="a:1", title="A word from staff")
    course["hand_in"]("Learner 1")
    send_reminders(db.session, utcnow())
    db.session.commit()
    assert digests_of(teacher) == [("Your daily digest: 2 notices", MailStatus.PENDING,
                                    "A word from staff 1 piece of work awaits grading: /grading")]
    db.session.execute(sa.update(Submission).values(status=SubmissionStatus.RELEASED))
    db.session.commit()
    reminders.recount_awaiting(db.session, reminders._instructors(db.session, [course["cohort"].id]), utcnow())
    db.session.commit()
    assert awaiting_titles(teacher.id) == []
    assert digests_of(teacher) == [
        ("Your daily digest: 2 notices", MailStatus.CANCELLED, "A word from staff 1 piece of work awaits grading: /grading"),
        ("Your daily digest: 1 notice", MailStatus.PENDING, "A word from staff")]


def awaiting_of(user_id: int) -> Notification:
    db.session.expire_all()
    [notice] = [n for n in notifications_of(user_id) if n.event == NotificationEvent.AWAITING_GRADING]
    return notice


def mails_to(user: User) -> list[str]:
    """The subjects mailed to ``user``, but for the learners at risk (their own kind's mail)."""
    return [m.subject for m in outbox() if m.recipient == user.email and not m.subject.endswith("is at risk")]


def test_the_awaiting_notice_compares_the_counts_it_told_not_its_words(course) -> None:
    """Whether more waits than the day's notice told was read back from its title with a
    pattern: a notice made under other words (an earlier release's, a change of wording)
    read as telling nothing, so any recount made it new again, read or not. The counts it
    told are kept on it now: new words alone change its title and leave it read; more work
    than it told makes it new again, whatever its words."""
    teacher = course["teacher"]
    for n in range(2):
        course["hand_in"](f"Learner {n}")
    send_reminders(db.session, utcnow())
    db.session.commit()
    notice = awaiting_of(teacher.id)
    assert (notice.title, notice.counts) == ("2 pieces of work await grading", {"work": 2, "essays": 0})
    mark_all_read(db.session, teacher.id, utcnow())
    db.session.execute(sa.update(Notification).where(Notification.id == notice.id)
                       .values(title="Two hand-ins are waiting for your grade"))  # the words of another release
    db.session.commit()
    instructors = reminders._instructors(db.session, [course["cohort"].id])
    assert reminders.recount_awaiting(db.session, instructors, utcnow()) == 1
    db.session.commit()
    notice = awaiting_of(teacher.id)  # today's words, the same count: not news
    assert (notice.title, notice.counts) == ("2 pieces of work await grading", {"work": 2, "essays": 0})
    assert notice.read_at is not None and unread_count(db.session, teacher.id) == 0
    assert reminders.recount_awaiting(db.session, instructors, utcnow()) == 0  # nothing changed since
    db.session.execute(sa.update(Notification).where(Notification.id == notice.id).values(title="Work to grade"))
    db.session.commit()
    course["hand_in"]("Learner 2")  # more than it told, whatever its words: new again
    notice = awaiting_of(teacher.id)
    assert (notice.title, notice.counts, notice.read_at) == ("3 pieces of work await grading", {"work": 3, "essays": 0}, None)


def test_the_days_awaiting_notice_is_new_again_when_more_waits(course) -> None:
    """The day's notice was revised in place, read or not: an instructor who had read "2
    pieces" never saw that a third came in. More waiting makes it unread again (the bell
    counts it, the centre lists it first); less waiting changes only its words. On the
    digest channel (the default) nothing more is mailed: the day's one digest was sent."""
    teacher = course["teacher"]
    for n in range(2):
        course["hand_in"](f"Learner {n}")
    send_reminders(db.session, utcnow())
    db.session.commit()
    notice = awaiting_of(teacher.id)
    assert notice.title == "2 pieces of work await grading" and notice.channel == Channel.DIGEST
    mailed = mails_to(teacher)
    assert mailed == ["Your daily digest: 1 notice"]
    mark_all_read(db.session, teacher.id, utcnow())
    db.session.commit()
    assert unread_count(db.session, teacher.id) == 0

    notify(db.session, user_id=teacher.id, event=NotificationEvent.MESSAGE, key="later", title="A later notice")
    db.session.commit()
    course["hand_in"]("Learner 3")
    notice = awaiting_of(teacher.id)
    assert notice.title == "3 pieces of work await grading" and notice.read_at is None
    assert unread_count(db.session, teacher.id) == 2  # the bell counts it again
    assert recent(db.session, teacher.id)[0].id == notice.id  # listed first: new again
    send_reminders(db.session, utcnow())
    db.session.commit()
    assert mails_to(teacher) == [*mailed, "A later notice"]  # no second digest today, no email of its own

    mark_read(db.session, awaiting_of(teacher.id), utcnow())
    db.session.commit()
    _learner, _client, work = course["hand_in"]("Learner 4")
    grader = course["client_for"](teacher)
    assert grader.post(f"/cohorts/{work.cohort_id}/submissions/{work.id}", data=grade_form(work, "release")).status_code == 302
    notice = awaiting_of(teacher.id)  # 4 waited (unread again), then one was graded
    assert notice.title == "3 pieces of work await grading" and notice.read_at is None
    mark_read(db.session, notice, utcnow())
    db.session.commit()
    _learner, _client, work = course["hand_in"]("Learner 5")  # 4 again: more than it said, new again
    assert awaiting_of(teacher.id).read_at is None
    mark_read(db.session, awaiting_of(teacher.id), utcnow())
    db.session.commit()
    assert grader.post(f"/cohorts/{work.cohort_id}/submissions/{work.id}", data=grade_form(work, "release")).status_code == 302
    notice = awaiting_of(teacher.id)  # fewer: the words change, it stays read
    assert notice.title == "3 pieces of work await grading" and notice.read_at is not None


def test_the_awaiting_notice_new_again_is_emailed_once_on_the_email_channel(course) -> None:
    """An instructor who chose email for the count gets the day's notice by email, and one
    more each time it turns new again (they had read it and more came in): not one for
    every hand-in while it is unread, whose email they already have."""
    teacher = course["teacher"]
    set_preferences(db.session, teacher.id, {NotificationEvent.AWAITING_GRADING: Channel.EMAIL})
    course["hand_in"]("Learner 1")
    send_reminders(db.session, utcnow())
    db.session.commit()
    assert mails_to(teacher) == ["1 piece of work awaits grading"]
    course["hand_in"]("Learner 2")  # still unread: the title changes, no email
    assert awaiting_of(teacher.id).title == "2 pieces of work await grading"
    assert mails_to(teacher) == ["1 piece of work awaits grading"]
    mark_read(db.session, awaiting_of(teacher.id), utcnow())
    db.session.commit()
    course["hand_in"]("Learner 3")  # read, then more: new again, one email
    course["hand_in"]("Learner 4")  # unread again: no other
    assert mails_to(teacher) == ["1 piece of work awaits grading", "3 pieces of work await grading"]
    [again] = [m for m in outbox() if m.subject == "3 pieces of work await grading"]
    assert "Open it here: http://localhost/grading" in again.body
    assert awaiting_of(teacher.id).title == "4 pieces of work await grading"


def day_of_essay_quiz(course) -> tuple[User, Quiz, datetime]:
    """A learner of ``course`` who handed in a piece of work, the essay quiz and the moment it
    opens for them, when the reminders run made the instructor's notice of the day."""
    learner, _client, _work = course["hand_in"]("Lia Learner")
    quiz = get_quiz(db.session, "mlops-quiz")
    opening = quiz_window(db.session, quiz, course["cohort"], learner.id, utcnow()).opens_at
    send_reminders(db.session, opening)
    db.session.commit()
    return learner, quiz, opening


def test_a_quiz_attempt_with_essays_counts_as_awaiting_grading_when_handed_in(course) -> None:
    """An essay quiz handed in reached the day's count only at the next reminders run, while
    an assignment's hand-in revised it at once: now the attempt does too, and a notice its
    instructor had read is new again."""
    teacher = course["teacher"]
    learner, quiz, opening = day_of_essay_quiz(course)
    notice = awaiting_of(teacher.id)
    assert notice.title == "1 piece of work awaits grading"
    mark_read(db.session, notice, opening)
    db.session.commit()
    attempt = hand_in_essays(quiz, learner, opening)
    assert attempt.pending_manual
    notice = awaiting_of(teacher.id)
    assert notice.title == "1 piece of work and 1 quiz attempt with essays await grading" and notice.read_at is None


def start_essays(quiz: Quiz, learner: User, at: datetime) -> Attempt:
    """An attempt of ``quiz`` started at ``at`` with its essays answered and not handed in
    (committed): its time runs out ``quiz.time_limit_minutes`` later."""
    attempt = start_attempt(db.session, quiz, learner, at)
    for number, page in enumerate(page_views(db.session, attempt)):
        if page.parts[0].kind == "essay":
            save_page(db.session, attempt, number, MultiDict({f"p{number}": "An answer to grade."}), at)
    db.session.commit()
    return attempt


def pending_essays_of(attempt: Attempt) -> list[Response]:
    return [r for r in db.session.scalars(select(Response).where(Response.attempt_id == attempt.id).order_by(Response.id))
            if r.score is None]


def test_grading_an_attempts_essays_takes_it_off_the_days_count(course) -> None:
    """Grading a quiz attempt's essays left the day's count telling it as awaiting grading
    until the next reminders run, while a grade saved for work revised it at once: now the
    attempt's last essay graded revises it too (not before: it still waits)."""
    teacher = course["teacher"]
    learner, quiz, opening = day_of_essay_quiz(course)
    attempt = hand_in_essays(quiz, learner, opening)
    assert awaiting_of(teacher.id).title == "1 piece of work and 1 quiz attempt with essays await grading"
    *first, last = pending_essays_of(attempt)
    for response in first:
        grade_essay(db.session, response, 1, "Fine.", teacher, opening)
        db.session.commit()
        assert awaiting_of(teacher.id).title == "1 piece of work and 1 quiz attempt with essays await grading"
    grade_essay(db.session, last, 1, "Fine.", teacher, opening)
    db.session.commit()
    assert not db.session.get(Attempt, attempt.id).pending_manual
    assert awaiting_of(teacher.id).title == "1 piece of work awaits grading"
    grade_essay(db.session, db.session.get(Response, last.id), 2, "Better on a second reading.", teacher, opening)
    db.session.commit()
    assert awaiting_of(teacher.id).title == "1 piece of work awaits grading"


def test_withdrawing_an_attempts_last_essays_with_a_regrade_takes_it_off_the_days_count(course) -> None:
    """A question withdrawn with a regrade takes its essays out of the cohort's attempts: an
    attempt whose only essays left to grade were its own awaits grading no more, and the
    day's count says so at once (it had waited for the next reminders run)."""
    cohort, teacher = course["cohort"], course["teacher"]
    learner, quiz, opening = day_of_essay_quiz(course)
    attempt = hand_in_essays(quiz, learner, opening)
    keys = sorted({response.version.question.key for response in pending_essays_of(attempt)})
    *first, last = keys
    for key in first:
        quiz_services.withdraw_item(db.session, quiz, cohort, key, "Unclear prompt.", teacher, opening, regrade=True)
        db.session.commit()
        assert awaiting_of(teacher.id).title == "1 piece of work and 1 quiz attempt with essays await grading"
    quiz_services.withdraw_item(db.session, quiz, cohort, last, "Unclear prompt.", teacher, opening, regrade=True)
    db.session.commit()
    assert not db.session.get(Attempt, attempt.id).pending_manual
    assert awaiting_of(teacher.id).title == "1 piece of work awaits grading"


def test_attempts_closed_when_their_time_ran_out_join_the_days_count(course, make_cohort, enrol_learner) -> None:
    """An essay attempt closed by its time limit, by ``close-expired-attempts`` rather than
    the learner's submit, reached the day's count only at the next reminders run: now the
    job tells it at once, one recount a cohort however many attempts it closed there."""
    cohort, teacher = course["cohort"], course["teacher"]
    other = make_cohort(cohort.organization, "Other", months_ago=5, instructors=[teacher])
    learner, quiz, opening = day_of_essay_quiz(course)
    assert awaiting_of(teacher.id).title == "1 piece of work awaits grading"
    learners = [learner, enrol_learner(cohort, name="Ben Learner"), enrol_learner(other, name="Cal Learner")]
    for person in learners:
        start_essays(quiz, person, opening)
    sent: list[object] = []
    with attempt_handed_in.connected_to(lambda cohort_id, **_: sent.append(cohort_id)):
        closed = quiz_services.close_expired_attempts(db.session, opening + timedelta(minutes=quiz.time_limit_minutes + 1))
    db.session.commit()
    assert closed == 3
    assert awaiting_of(teacher.id).title == "1 piece of work and 3 quiz attempts with essays await grading"
    assert sorted(sent) == sorted([cohort.id, other.id])  # once a cohort, not once an attempt


def test_an_attempt_closed_on_the_learners_next_action_joins_the_days_count(course) -> None:
    """The attempt whose time ran out is closed by the learner's next action on it (a page
    saved too late): that tells the day's count too."""
    teacher = course["teacher"]
    learner, quiz, opening = day_of_essay_quiz(course)
    attempt = start_essays(quiz, learner, opening)
    late = opening + timedelta(minutes=quiz.time_limit_minutes + 1)
    with pytest.raises(quiz_services.AttemptClosed):
        save_page(db.session, attempt, 0, MultiDict({"p0": "Too late."}), late)
    db.session.commit()
    assert db.session.get(Attempt, attempt.id).closed_by == "time_limit"
    assert awaiting_of(teacher.id).title == "1 piece of work and 1 quiz attempt with essays await grading"


def test_the_digest_tells_the_count_when_it_is_sent(course) -> None:
    """A notice of the day made before a hand-in it did not hear of (an essay's, say): the
    run that mails the digest recounts first, so the digest says how much waits now."""
    teacher = course["teacher"]
    for n in range(2):
        course["hand_in"](f"Learner {n}")
    now = utcnow()
    notify_all(db.session, [Notice(teacher.id, NotificationEvent.AWAITING_GRADING,
                                   f"awaiting-grading:{now.astimezone(zone_named(teacher.timezone)).date()}",
                                   "1 piece of work awaits grading", link="/grading")], now)
    db.session.commit()
    send_reminders(db.session, now)
    db.session.commit()
    assert awaiting_titles(teacher.id) == ["2 pieces of work await grading"]
    [digest] = [m for m in outbox() if m.recipient == teacher.email and "digest" in m.subject]
    assert "2 pieces of work await grading" in digest.body and "1 piece of work" not in digest.body


def test_mail_made_outside_a_request_links_the_configured_site_address(course, app: Flask, monkeypatch) -> None:
    """``lms demo`` queued mail with bare paths ("/inbox/1") while only ``send-reminders``
    took ``--base-url``: every mail made outside a request now takes the configured address
    (LMS_BASE_URL), and the commands warn only when there is none."""
    course["hand_in"]("Lia Learner")
    monkeypatch.setitem(app.config, "BASE_URL", "https://lms.example.org")
    teacher = course["teacher"]
    notify(db.session, user_id=teacher.id, event=NotificationEvent.MESSAGE, key="outside", title="A message",
           link="/inbox/1")  # no request: as a command or the demo makes it
    db.session.commit()
    [mail] = [m for m in outbox() if m.subject == "A message"]
    assert "Open it here: https://lms.example.org/inbox/1" in mail.body
    result = app.test_cli_runner().invoke(args=["lms", "send-reminders"], env={"LMS_BASE_URL": ""})
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    digest = [m for m in outbox() if m.recipient == teacher.email and "digest" in m.subject][-1]
    assert "https://lms.example.org/grading" in digest.body
    published = app.test_cli_runner().invoke(args=["lms", "publish-announcements"], env={"LMS_BASE_URL": ""})
    assert published.exit_code == 0 and "warning" not in published.output, published.output
    monkeypatch.setitem(app.config, "BASE_URL", "")
    bare = app.test_cli_runner().invoke(args=["lms", "publish-announcements"], env={"LMS_BASE_URL": ""})
    assert "warning: no site address is configured (LMS_BASE_URL" in bare.output, bare.output
