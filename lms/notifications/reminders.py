"""What ``flask lms send-reminders`` sends: work due in 3 days and in 24 hours (the end of
the due day in the cohort's time zone, when work handed in later counts as late:
``lms.coursework.services.handed_in_late``; told in the learner's own time; for a quiz or exam
that closes, its closing: the start of its due day in the cohort's time zone, as
``quiz_window`` has it), a new month opening, staff's daily count of
work awaiting grading, learners newly at risk, and the daily digest emails.

It is safe to run every few minutes: every notice has a key naming its occurrence (the item
and its due date, the month, the day, the date the risk began), and a notice whose key the
user already has is not made again; a digest is sent at most once a user and local day
(a unique row per user and day). The statements run do not grow with the number of
learners: a cohort's items falling due are read from its learners' kept schedule state
(``lms.progress.state``: nothing worked out from their records), the months opening from
their enrolments, the learners at risk as the heat map counts them, each in a fixed number
of statements per cohort, and notices are made in bulk (``notify_all``). Flush only, but
for ``run_reminders``, the job cron runs, which commits one cohort at a time."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, select, update

from lms.accounts.models import User
from lms.assessment.models import Attempt, Quiz
from lms.cohorts.models import Cohort, Enrolment, Pace, cohort_instructors
from lms.competency.services import at_risk_rows
from lms.coursework.models import Submission, SubmissionStatus
from lms.database import DbSession, among, unit_of_work, upsert_insert, zone_named
from lms.grading.models import Grade
from lms.learning.services import PROGRAM_MONTHS, catch_up_days, cohort_today, joined_timeline, opens_at
from lms.mail.services import queue_keyed, queue_mails
from lms.notifications.models import Channel, DigestSent, Notification, NotificationEvent
from lms.notifications.receivers import link_to
from lms.notifications.services import (
    CHUNK,
    TITLE_LENGTH,
    Notice,
    digest_key,
    digest_mail,
    email_body,
    notify_all,
    replace_digests,
)
from lms.progress.models import ItemKind, ProgressItem

log = logging.getLogger(__name__)
SOON = timedelta(days=3)
TOMORROW = timedelta(hours=24)
MONTH_NOTICE_DAYS = 7  # a month that opened longer ago than this is not announced any more
ITEM_PAGES: dict[ItemKind, str] = {ItemKind.QUIZ: "assessment.quiz", ItemKind.EXAM: "assessment.quiz",
                                   ItemKind.ASSIGNMENT: "coursework.work"}


@dataclass
class Report:
    """What one run did."""

    notices: dict[NotificationEvent, int] = field(default_factory=dict)
    digests: int = 0
    failed: dict[int, str] = field(default_factory=dict)  # cohort id -> the error its reminders met

    @property
    def made(self) -> int:
        return sum(self.notices.values())

    @property
    def problem(self) -> str:
        """The cohorts whose reminders failed, for an error message (empty when none)."""
        return "; ".join(f"the reminders of cohort {cohort_id} failed: {error}" for cohort_id, error in self.failed.items())

    def count(self, made: Sequence[Notification]) -> None:
        for notification in made:
            self.notices[notification.event] = self.notices.get(notification.event, 0) + 1


def zone_of(user: User) -> ZoneInfo:
    return zone_named(user.timezone)


def due_moment(due_on: date, zone: ZoneInfo) -> datetime:
    """Work due on a day is due by the end of that day in ``zone``: the cohort's, where its
    schedule counts days and work handed in later is late (``handed_in_late``)."""
    return datetime.combine(due_on + timedelta(days=1), time(0), tzinfo=zone)


# An item is due by the end of its day in its cohort's zone, UTC-12 to UTC+14: an item due
# within SOON of now falls due between two days before now's UTC date and five days after it.
# The statement reads that window of the kept state; the cohort's zone decides exactly.
WINDOW_BEFORE, WINDOW_AFTER = timedelta(days=2), SOON + timedelta(days=2)


@dataclass(frozen=True)
class DueItem:
    """An assessed item of a learner's kept schedule (``lms.progress.state``), still owed,
    open and due about now, with the learner's time zone (the reminder's words) and the
    cohort's (where the due day ends): one row read. ``closes_at``: when a quiz or exam with
    a closing time closes (None: work due by the end of its day)."""

    user_id: int
    timezone: str
    kind: ItemKind
    key: str
    title: str
    due_on: date
    closes_at: datetime | None = None
    cohort_timezone: str = "UTC"

    def deadline(self) -> datetime:
        """The moment it can no longer be done or handed in on time: the end of its due day
        in the cohort's zone, as ``handed_in_late`` counts it (not where the learner lives: a
        learner west of the cohort told "by the end of your day" handed in late)."""
        return self.closes_at or due_moment(self.due_on, zone_named(self.cohort_timezone))


def due_items(session: DbSession, cohort: Cohort, now: datetime) -> list[DueItem]:
    """The cohort's current learners' assessed items still owed (not done, nothing handed
    in waiting for its grade), open on the cohort's day and falling due about now, from the
    kept schedule state: one statement, through its index on (cohort, done, due date),
    however many learners the cohort has. A quiz or exam that closes closes at the start of
    its due day in the cohort's time zone (``lms.assessment.services.quiz_window``)."""
    today = cohort_today(cohort, now)
    rows = session.execute(
        select(ProgressItem.user_id, User.timezone, ProgressItem.kind, ProgressItem.key, ProgressItem.title,
               ProgressItem.due_on, Quiz.closes_after_days.is_not(None))
        .join(Enrolment, and_(Enrolment.user_id == ProgressItem.user_id, Enrolment.cohort_id == ProgressItem.cohort_id))
        .join(User, User.id == ProgressItem.user_id)
        .outerjoin(Quiz, and_(Quiz.key == ProgressItem.key, ProgressItem.kind.in_([ItemKind.QUIZ, ItemKind.EXAM])))
        .where(ProgressItem.cohort_id == cohort.id, ProgressItem.done.is_(False), ProgressItem.handed_in.is_(False),
               ProgressItem.due_on.between((now - WINDOW_BEFORE).date(), (now + WINDOW_AFTER).date()),
               ProgressItem.kind != ItemKind.LESSON, ProgressItem.opens_on <= today, Enrolment.active)
        .order_by(ProgressItem.user_id, ProgressItem.position))
    return [DueItem(user_id, zone, kind, key, title, due_on, opens_at(cohort, due_on) if closes else None,
                    cohort_timezone=cohort.timezone)
            for user_id, zone, kind, key, title, due_on, closes in rows]


def due_notices(items: Sequence[DueItem], now: datetime) -> list[Notice]:
    """The due-in-3-days and due-tomorrow (or today) notices of ``items`` at ``now``, counted
    to the end of the due day in the cohort's zone and told in the learner's own (the hour
    too when that is not their midnight); a quiz or exam that closes, before it closes, with
    its closing time in the learner's zone (none once it has closed)."""
    notices = []
    for item in items:
        left = item.deadline() - now
        if left <= timedelta(0) or left > SOON:
            continue
        endpoint = ITEM_PAGES.get(item.kind)
        link = link_to(endpoint, key=item.key) if endpoint else None
        if item.closes_at is not None:
            notices.append(_closing_notice(item, item.closes_at, left, link))
            continue
        when = _due_words(item.deadline().astimezone(zone_named(item.timezone)))
        if left <= TOMORROW:
            notices.append(Notice(item.user_id, NotificationEvent.DUE_TOMORROW, f"due-24h:{item.kind}:{item.key}:{item.due_on}",
                                  f"{item.title} is due tomorrow" if left > timedelta(hours=12) else f"{item.title} is due today",
                                  f"Due by {when} (your time).", link))
        else:
            notices.append(Notice(item.user_id, NotificationEvent.DUE_SOON, f"due-3d:{item.kind}:{item.key}:{item.due_on}",
                                  f"{item.title} is due in 3 days", f"Due by {when} (your time).", link))
    return notices


def _due_words(local: datetime) -> str:
    """A deadline in the learner's zone: "the end of Sun 03 Jan" when it falls at their
    midnight, else "16:00 on Sun 03 Jan" (the cohort's day may end at another hour there)."""
    if local.time() == time(0):
        return f"the end of {local - timedelta(days=1):%a %d %b}"
    return f"{local:%H:%M} on {local:%a %d %b}"


def _closing_notice(item: DueItem, closes_at: datetime, left: timedelta, link: str | None) -> Notice:
    """A quiz or exam closing within ``SOON`` (or ``TOMORROW``): when, in the learner's time
    zone (the cohort's midnight may be another day there)."""
    local = closes_at.astimezone(zone_named(item.timezone))
    body = f"It closes at {local:%H:%M} on {local:%a %d %b} (your time)."
    if left <= TOMORROW:
        return Notice(item.user_id, NotificationEvent.DUE_TOMORROW, f"due-24h:{item.kind}:{item.key}:{item.due_on}",
                      f"{item.title} closes within 24 hours", body, link)
    return Notice(item.user_id, NotificationEvent.DUE_SOON, f"due-3d:{item.kind}:{item.key}:{item.due_on}",
                  f"{item.title} closes in 3 days", body, link)


def month_notices(session: DbSession, cohort: Cohort, now: datetime) -> list[Notice]:
    """A new program month open for less than ``MONTH_NOTICE_DAYS``, for each current learner
    of the cohort on their own timeline (their joining day and pace): one statement, and the
    month worked out once for each joining day and pace the cohort's learners have."""
    today = cohort_today(cohort, now)
    days = catch_up_days()
    opened: dict[tuple[date, Pace], int | None] = {}  # joining day and pace -> the month newly open, if any
    notices = []
    for user_id, started_at, pace in session.execute(
            select(Enrolment.user_id, Enrolment.started_at, Enrolment.pace)
            .where(Enrolment.cohort_id == cohort.id, Enrolment.active).order_by(Enrolment.user_id)):
        joined = (cohort_today(cohort, started_at), Pace(pace))
        if joined not in opened:
            timeline = joined_timeline(cohort, started_at, pace, days)
            month = timeline.month(today)
            new = 1 <= month <= PROGRAM_MONTHS and 0 <= (today - timeline.month_opens(month)).days < MONTH_NOTICE_DAYS
            opened[joined] = month if new else None
        month_open = opened[joined]
        if month_open is not None:
            notices.append(Notice(user_id, NotificationEvent.MONTH_OPENS, f"month:{cohort.id}:{month_open}",
                                  f"Month {month_open} of the program is open",
                                  f"{cohort.name}: the new month's lessons, quizzes and assignments are on your schedule.",
                                  link_to("learning.schedule")))
    return notices


def _instructors(session: DbSession, cohort_ids: Sequence[int]) -> dict[int, list[User]]:
    """Each cohort's instructors, in one statement."""
    result: dict[int, list[User]] = defaultdict(list)
    if cohort_ids:
        rows = session.execute(select(cohort_instructors.c.cohort_id, User).join(User, User.id == cohort_instructors.c.user_id)
                               .where(cohort_instructors.c.cohort_id.in_(list(cohort_ids))))
        for cohort_id, user in rows:
            result[cohort_id].append(user)
    return result


def at_risk_notices(session: DbSession, cohort: Cohort, staff: Sequence[User], now: datetime) -> list[Notice]:
    """A learner newly at risk, for the cohort's instructors: once per learner and the day
    their risk began (a learner who recovers and falls behind again is news again)."""
    if not staff:
        return []
    notices = []
    for row in at_risk_rows(session, cohort, now):
        since = min(reason.since for reason in row.reasons)
        reasons = "; ".join(reason.text for reason in row.reasons)
        link = link_to("competency.at_risk_learner", cohort_id=cohort.id, user_id=row.user.id)
        notices += [Notice(person.id, NotificationEvent.LEARNER_AT_RISK, f"at-risk:{cohort.id}:{row.user.id}:{since}",
                           f"{row.user.name} ({cohort.name}) is at risk", reasons, link) for person in staff]
    return notices


def _awaiting_totals(session: DbSession, instructors: dict[int, list[User]]) -> list[tuple[User, int, int]]:
    """Each instructor's work (pieces handed in, quiz attempts with essays) awaiting grading
    across ``instructors``' cohorts: two statements, grouped by cohort."""
    cohort_ids = list(instructors)
    if not cohort_ids:
        return []
    work = dict(session.execute(select(Submission.cohort_id, func.count()).where(
        Submission.cohort_id.in_(cohort_ids), Submission.status == SubmissionStatus.SUBMITTED).group_by(Submission.cohort_id)).all())
    essays = dict(session.execute(select(Attempt.cohort_id, func.count()).where(
        Attempt.cohort_id.in_(cohort_ids), Attempt.pending_manual.is_(True), Attempt.submitted_at.is_not(None))
        .group_by(Attempt.cohort_id)).all())
    totals: dict[int, tuple[User, int, int]] = {}
    for cohort_id, people in instructors.items():
        for person in people:
            _user, w, e = totals.get(person.id, (person, 0, 0))
            totals[person.id] = (person, w + work.get(cohort_id, 0), e + essays.get(cohort_id, 0))
    return list(totals.values())


def _awaiting_key(person: User, now: datetime) -> str:
    """The key of ``person``'s notice of the work awaiting grading: one a day of their zone."""
    return f"awaiting-grading:{now.astimezone(zone_of(person)).date()}"


def _awaiting_title(w: int, e: int) -> str:
    parts = [f"{w} piece{'s' if w != 1 else ''} of work"] if w else []
    parts += [f"{e} quiz attempt{'s' if e != 1 else ''} with essays"] if e else []
    return f"{' and '.join(parts)} await{'s' if w + e == 1 else ''} grading"


def awaiting_counts(w: int, e: int) -> dict[str, int]:
    """What a notice of work awaiting grading tells, kept on it (``Notification.counts``):
    pieces of work, quiz attempts with essays."""
    return {"work": w, "essays": e}


def _told(counts: dict[str, int] | None) -> tuple[int, int] | None:
    """The counts a notice of work awaiting grading told (None: not kept, as on a notice
    made elsewhere)."""
    if not counts:
        return None
    return int(counts.get("work", 0)), int(counts.get("essays", 0))


def _awaiting_notice(person: User, w: int, e: int, now: datetime) -> Notice:
    return Notice(person.id, NotificationEvent.AWAITING_GRADING, _awaiting_key(person, now), _awaiting_title(w, e),
                  "Work handed in and not yet graded, in your cohorts.", link_to("grading.queue"),
                  counts=awaiting_counts(w, e))


def awaiting_notices(session: DbSession, instructors: dict[int, list[User]], now: datetime) -> list[Notice]:
    """Each instructor's count of work awaiting grading, once a day of their time zone."""
    return [_awaiting_notice(person, w, e, now) for person, w, e in _awaiting_totals(session, instructors) if w + e]


def recount_awaiting(session: DbSession, instructors: dict[int, list[User]], now: datetime) -> int:
    """Bring the instructors' notices of the day (``awaiting_notices``) in line with the work
    awaiting grading now: a hand-in (or a grade) after the day's notice was made left it
    telling the morning's count ("4 pieces of work await grading" with 5 there), in the
    centre and in the digest mailed later. Each notice of the day is revised in place (one a
    day, never a second); one whose work is all graded is taken back. No notice is made here
    (``notify_all`` of ``awaiting_notices`` does that, once a day).

    When more waits than the notice told (more pieces of work, or more quiz attempts with
    essays: the counts it told are kept on it, ``Notification.counts``, never read back
    from its words, so a new wording of the title is not news), a notice its instructor
    had read is new again: unread (counted in the bell) and at the top of the centre
    (``created_at`` now). What is mailed follows their channel for the kind, as for a new
    notice, but never more than the news: on email, one email each time the notice turns
    new again (not for each hand-in while it is still unread, whose email they have); on
    the digest, the day's one digest carries the notice as it stands when it is sent, and
    a notice that digest already mailed is not mailed again; in the app only, nothing. A
    count that only shrinks changes the title alone, read or not. A notice taken back
    leaves an unsent digest that lists it (``replace_digests``). Answers how many were
    changed: two statements to count, one to read the day's notices, one for each notice
    whose count changed, one to take back those with nothing waiting (and up to four for
    the digests listing them), and one to queue the emails."""
    totals = _awaiting_totals(session, instructors)
    if not totals:
        return 0
    wanted = {(person.id, _awaiting_key(person, now)): (_awaiting_notice(person, w, e, now) if w + e else None)
              for person, w, e in totals}
    counts = {person.id: (w, e) for person, w, e in totals}
    people = {person.id: person for person, _w, _e in totals}
    there = session.execute(select(Notification.id, Notification.user_id, Notification.key, Notification.title,
                                   Notification.counts, Notification.read_at, Notification.channel).where(
        among(Notification.user_id, {user_id for user_id, _key in wanted}),
        Notification.key.in_({key for _user_id, key in wanted}),
        Notification.event == NotificationEvent.AWAITING_GRADING)).all()
    changed, gone, mails = 0, [], []
    for notice_id, user_id, key, title, told_counts, read_at, channel in there:
        if (user_id, key) not in wanted:
            continue  # another user's day
        notice = wanted[(user_id, key)]
        if notice is None:
            gone.append(notice_id)
            continue
        told, same_words = _told(told_counts), notice.title[:TITLE_LENGTH] == title
        if same_words and told == counts[user_id]:
            continue
        # More than it told is news; its words alone (another wording, the counts kept) are not.
        grew = not same_words and (told is None or any(now_n > then_n
                                                       for now_n, then_n in zip(counts[user_id], told, strict=True)))
        values: dict[str, Any] = {"title": notice.title[:TITLE_LENGTH], "counts": notice.counts}
        if grew and read_at is not None:
            values |= {"read_at": None, "created_at": now}
            if channel == Channel.EMAIL:
                values["mailed_at"] = now
                person = people[user_id]
                mails.append(((person.email, notice.title, email_body(session, person, notice)), key))
        session.execute(update(Notification).where(Notification.id == notice_id).values(**values)
                        .execution_options(synchronize_session=False))
        changed += 1
    if gone:  # taken back, and so from a digest not yet sent (one of the rest in its place)
        replace_digests(session, {digest_id for digest_id in session.scalars(
            delete(Notification).where(Notification.id.in_(gone)).returning(Notification.digest_id)
            .execution_options(synchronize_session=False)) if digest_id is not None}, now)
    if mails:
        queue_mails(session, [mail for mail, _key in mails], recall_keys=[key for _mail, key in mails])
    session.flush()
    return changed + len(gone)


def on_work_changed(session: DbSession, cohort_id: int | None, now: datetime) -> None:
    """Work handed in or graded in ``cohort_id``: its instructors' notices of the day of the
    work awaiting grading tell the count now (``recount_awaiting``), not the morning's."""
    if cohort_id is None:
        return
    staff = _instructors(session, [cohort_id]).get(cohort_id, [])
    if not staff:
        return
    cohorts = session.execute(select(cohort_instructors.c.cohort_id, User)
                              .join(User, User.id == cohort_instructors.c.user_id)
                              .join(Cohort, Cohort.id == cohort_instructors.c.cohort_id)
                              .where(cohort_instructors.c.user_id.in_([person.id for person in staff]),
                                     Cohort.archived_at.is_(None)))
    instructors: dict[int, list[User]] = defaultdict(list)
    for other_cohort_id, user in cohorts:
        instructors[other_cohort_id].append(user)
    recount_awaiting(session, instructors, now)


def on_work_submitted(_version: object, *, session: DbSession, now: datetime, submission: Submission, **_: object) -> None:
    """A learner handed work in (``work_submitted``): ``on_work_changed``."""
    on_work_changed(session, submission.cohort_id, now)


def on_attempt_handed_in(cohort_id: int, *, session: DbSession, now: datetime, **_: object) -> None:
    """Quiz attempts with essays closed in the cohort (``attempt_handed_in``: handed in, or
    their time ran out): ``on_work_changed``, as for work handed in, once for the cohort;
    its instructors' count tells them now, not at the next run."""
    on_work_changed(session, cohort_id, now)


def on_essays_graded(attempt: Attempt, *, session: DbSession, now: datetime, **_: object) -> None:
    """A quiz attempt's last essay graded (``essays_graded``): the attempt awaits grading no
    more, ``on_work_changed``."""
    on_work_changed(session, attempt.cohort_id, now)


def on_grade_saved_recount(grade: Grade, session: DbSession, now: datetime) -> None:
    """A grade saved (``grade_saved``): its work may await grading no more, ``on_work_changed``."""
    on_work_changed(session, grade.submission.cohort_id, now)


def digests_due(session: DbSession, now: datetime) -> list[int]:
    """The users with notices waiting for their digest (read through the partial index
    ``ix_notifications_digest_waiting``, which holds those notices alone) who have had no
    digest on their local day yet: most users with notices waiting got that day's digest
    already, and are left out here without their notices being read. Two statements a
    ``CHUNK`` of waiting users."""
    waiting = list(session.execute(select(Notification.user_id, User.timezone).join(User, User.id == Notification.user_id)
                                   .where(Notification.channel == Channel.DIGEST, Notification.mailed_at.is_(None))
                                   .distinct()))
    today = {zone: now.astimezone(zone_named(zone)).date() for zone in {zone for _user_id, zone in waiting}}
    day_of = {user_id: today[zone] for user_id, zone in waiting}
    due: list[int] = []
    users = sorted(day_of)
    for start in range(0, len(users), CHUNK):
        chunk = users[start:start + CHUNK]
        sent = set(session.execute(select(DigestSent.user_id, DigestSent.day)
                                   .where(among(DigestSent.user_id, chunk), DigestSent.day.in_(set(today.values())))))
        due += [user_id for user_id in chunk if (user_id, day_of[user_id]) not in sent]
    return due


def send_digests(session: DbSession, now: datetime) -> int:
    """One email a user and local day listing their notices on the digest channel not yet
    mailed. Returns how many digests were queued. Only the users due one are read
    (``digests_due``), ``CHUNK`` at a time: a run's work follows the digests it sends, not
    the notices waiting for tomorrow's."""
    queued = 0
    due = digests_due(session, now)
    for start in range(0, len(due), CHUNK):
        users = {user.id: user for user in session.scalars(select(User).where(among(User.id, due[start:start + CHUNK])))}
        days = {user.id: now.astimezone(zone_of(user)).date() for user in users.values()}
        rows = [{"user_id": user_id, "day": day, "sent_at": now} for user_id, day in days.items()]
        if not rows:
            continue
        stmt = upsert_insert(session)(DigestSent).values(rows).on_conflict_do_nothing(index_elements=["user_id", "day"])
        claimed = sorted(set(session.scalars(stmt.returning(DigestSent.user_id))))
        if not claimed:
            continue
        # The notices waiting are marked mailed as they are read (one conditional write): a
        # notice taken back meanwhile is not listed, and one being taken back waits for
        # this unit of work, then finds the digest that lists it (``services.withdraw``).
        items: dict[int, list[tuple[datetime, int, str, str | None]]] = defaultdict(list)
        for notice_id, user_id, title, link, made_at in session.execute(
                update(Notification).where(among(Notification.user_id, claimed), Notification.channel == Channel.DIGEST,
                                           Notification.mailed_at.is_(None))
                .values(mailed_at=now)
                .returning(Notification.id, Notification.user_id, Notification.title, Notification.link,
                           Notification.created_at).execution_options(synchronize_session=False)):
            items[user_id].append((made_at, notice_id, title, link))
        listing = [user_id for user_id in claimed if items[user_id]]  # none: mailed meanwhile by another run
        if not listing:
            continue
        made = queue_keyed(session, {
            digest_key(user_id, days[user_id]): digest_mail(session, users[user_id],
                                                            [(title, link) for _at, _id, title, link in sorted(items[user_id])])
            for user_id in listing})
        digests = {user_id: made[digest_key(user_id, days[user_id])] for user_id in listing}
        # each notice by the digest that lists it (one taken back while that is unsent recalls it)
        session.execute(update(Notification)
                        .where(among(Notification.id, [notice_id for user_id in listing for _at, notice_id, _t, _l in items[user_id]]))
                        .values(digest_id=case(digests, value=Notification.user_id))
                        .execution_options(synchronize_session=False))
        queued += len(listing)
    session.flush()
    return queued


def active_cohorts(session: DbSession) -> list[int]:
    """The ids of the cohorts not archived, in order: those whose people get reminders."""
    return list(session.scalars(select(Cohort.id).where(Cohort.archived_at.is_(None)).order_by(Cohort.id)))


def remind_cohort(session: DbSession, cohort: Cohort, now: datetime) -> list[Notification]:
    """One cohort's reminders: its learners' work falling due and their month opening, read
    from the kept schedule state and the enrolments (never worked out from their records),
    and its learners newly at risk, for its instructors. The notices made. Flush only."""
    notices = due_notices(due_items(session, cohort, now), now) + month_notices(session, cohort, now)
    notices += at_risk_notices(session, cohort, _instructors(session, [cohort.id]).get(cohort.id, []), now)
    return notify_all(session, notices, now)


def remind_staff(session: DbSession, now: datetime, report: Report) -> None:
    """The instructors' counts of work awaiting grading, then the digests due; counted in
    ``report``. Flush only."""
    instructors = _instructors(session, active_cohorts(session))
    recount_awaiting(session, instructors, now)  # the day's notices made before, told the count now
    report.count(notify_all(session, awaiting_notices(session, instructors, now), now))
    report.digests = send_digests(session, now)


def send_reminders(session: DbSession, now: datetime) -> Report:
    """Make every reminder due now and send the digests; see the module's docstring. A
    cohort at a time, so a run's time and memory follow the notices it makes, not the
    number of learners. Flush only: the caller's unit of work holds the whole run
    (``run_reminders`` commits a cohort at a time)."""
    report = Report()
    for cohort_id in active_cohorts(session):
        report.count(remind_cohort(session, session.get_one(Cohort, cohort_id), now))
    remind_staff(session, now, report)
    return report


def run_reminders(session: DbSession, now: datetime) -> Report:
    """``send_reminders`` as cron's job runs it: each cohort's reminders committed in a unit
    of work of their own, so a large site never holds one transaction (on SQLite, the
    database's one write lock) for every cohort's notices, and a cohort whose reminders fail
    holds back no other's; then the staff's counts and the digests. The cohorts that failed
    are in the report's ``failed`` (a run again makes their reminders: every notice is made
    once), for the caller to fail with once the rest is done."""
    report = Report()
    for cohort_id in active_cohorts(session):
        try:
            with unit_of_work(session):
                report.count(remind_cohort(session, session.get_one(Cohort, cohort_id), now))
        except Exception as exc:  # rolled back; the other cohorts' reminders still go out
            log.exception("the reminders of cohort %s failed", cohort_id)
            report.failed[cohort_id] = f"{exc.__class__.__name__}: {exc}"
    with unit_of_work(session):
        remind_staff(session, now, report)
    return report
