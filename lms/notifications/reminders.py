"""What ``flask lms send-reminders`` sends: work due in 3 days and in 24 hours (the end of
the due day in the learner's own time zone), a new month opening, staff's daily count of
work awaiting grading, learners newly at risk, and the daily digest emails.

It is safe to run every few minutes: every notice has a key naming its occurrence (the item
and its due date, the month, the day, the date the risk began), and a notice whose key the
user already has is not made again; a digest is sent at most once a user and local day
(a unique row per user and day). The statements run do not grow with the number of
learners: the schedule and the risk of a cohort's learners are computed from a fixed
number of queries per cohort, and notices are made in bulk (``notify_all``). Flush only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from lms.accounts.models import User
from lms.assessment.models import Attempt
from lms.cohorts.models import Cohort, cohort_instructors
from lms.competency.services import at_risk_rows, learners_of
from lms.coursework.models import Submission, SubmissionStatus
from lms.database import DbSession, upsert_insert, zone_named
from lms.learning.services import PROGRAM_MONTHS
from lms.mail.services import queue_mails
from lms.notifications.models import Channel, DigestSent, Notification, NotificationEvent
from lms.notifications.receivers import link_to
from lms.notifications.services import Notice, absolute_link, notify_all
from lms.progress.completion import LearnerProgress, cohorts_progress
from lms.progress.models import ItemKind

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

    @property
    def made(self) -> int:
        return sum(self.notices.values())


def zone_of(user: User) -> ZoneInfo:
    return zone_named(user.timezone)


def due_moment(due_on: date, zone: ZoneInfo) -> datetime:
    """Work due on a day is due by the end of that day where the learner lives."""
    return datetime.combine(due_on + timedelta(days=1), time(0), tzinfo=zone)


def learner_notices(user: User, cohort: Cohort, progress: LearnerProgress, now: datetime) -> list[Notice]:
    """The due-soon, due-tomorrow and month-opens notices one learner should have now."""
    notices = []
    zone = zone_of(user)
    for item in progress.items:
        if item.done or item.handed_in or not item.assessed or item.opens_on > progress.today:
            continue
        left = due_moment(item.due_on, zone) - now
        if left <= timedelta(0) or left > SOON:
            continue
        endpoint = ITEM_PAGES.get(item.kind)
        link = link_to(endpoint, key=item.key) if endpoint else None
        local_due = item.due_on.strftime("%a %d %b")
        if left <= TOMORROW:
            notices.append(Notice(user.id, NotificationEvent.DUE_TOMORROW, f"due-24h:{item.kind}:{item.key}:{item.due_on}",
                                  f"{item.title} is due tomorrow" if left > timedelta(hours=12) else f"{item.title} is due today",
                                  f"Due by the end of {local_due} (your time).", link))
        else:
            notices.append(Notice(user.id, NotificationEvent.DUE_SOON, f"due-3d:{item.kind}:{item.key}:{item.due_on}",
                                  f"{item.title} is due in 3 days", f"Due by the end of {local_due} (your time).", link))
    month = progress.month
    if 1 <= month <= PROGRAM_MONTHS:
        opened = progress.timeline.month_opens(month)
        if 0 <= (progress.today - opened).days < MONTH_NOTICE_DAYS:
            notices.append(Notice(user.id, NotificationEvent.MONTH_OPENS, f"month:{cohort.id}:{month}",
                                  f"Month {month} of the program is open",
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


def awaiting_notices(session: DbSession, instructors: dict[int, list[User]], now: datetime) -> list[Notice]:
    """Each instructor's count of work awaiting grading, once a day of their time zone."""
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
    notices = []
    for person, w, e in totals.values():
        if w + e == 0:
            continue
        day = now.astimezone(zone_of(person)).date()
        parts = [f"{w} piece{'s' if w != 1 else ''} of work"] if w else []
        parts += [f"{e} quiz attempt{'s' if e != 1 else ''} with essays"] if e else []
        notices.append(Notice(person.id, NotificationEvent.AWAITING_GRADING, f"awaiting-grading:{day}",
                              f"{' and '.join(parts)} await{'s' if w + e == 1 else ''} grading",
                              "Work handed in and not yet graded, in your cohorts.", link_to("grading.queue")))
    return notices


def send_digests(session: DbSession, now: datetime) -> int:
    """One email a user and local day listing their notices on the digest channel not yet
    mailed. Returns how many digests were queued."""
    pending = list(session.execute(select(Notification, User).join(User, User.id == Notification.user_id)
                                   .where(Notification.channel == Channel.DIGEST, Notification.mailed_at.is_(None))
                                   .order_by(Notification.user_id, Notification.created_at, Notification.id)))
    if not pending:
        return 0
    by_user: dict[int, tuple[User, list[Notification]]] = {}
    for notification, user in pending:
        by_user.setdefault(user.id, (user, []))[1].append(notification)
    rows = [{"user_id": user.id, "day": now.astimezone(zone_of(user)).date(), "sent_at": now} for user, _ in by_user.values()]
    stmt = upsert_insert(session)(DigestSent).values(rows).on_conflict_do_nothing(index_elements=["user_id", "day"])
    claimed = set(session.scalars(stmt.returning(DigestSent.user_id)))
    if not claimed:
        return 0
    messages, mailed = [], []
    for user_id in sorted(claimed):
        user, items = by_user[user_id]
        lines = [f"Hello {user.name},", "", "Your daily digest:", ""]
        for item in items:
            lines.append(f"- {item.title}" + (f": {absolute_link(session, item.link)}" if item.link else ""))
        lines += ["", "You can choose which notices you get, and how, under Account > Notification preferences."]
        count = len(items)
        messages.append((user.email, f"Your daily digest: {count} notice{'s' if count != 1 else ''}", "\n".join(lines) + "\n"))
        mailed += [item.id for item in items]
    queue_mails(session, messages)
    session.execute(update(Notification).where(Notification.id.in_(mailed)).values(mailed_at=now)
                    .execution_options(synchronize_session=False))
    session.flush()
    return len(messages)


def send_reminders(session: DbSession, now: datetime) -> Report:
    """Make every reminder due now and send the digests; see the module's docstring."""
    cohorts = list(session.scalars(select(Cohort).where(Cohort.archived_at.is_(None)).order_by(Cohort.id)))
    cohort_ids = [c.id for c in cohorts]
    learners = learners_of(session, cohort_ids)
    instructors = _instructors(session, cohort_ids)
    progress = cohorts_progress(session, [(c, [u.id for u in learners[c.id]]) for c in cohorts], now)
    notices: list[Notice] = []
    for cohort in cohorts:
        for user in learners[cohort.id]:
            mine = progress[cohort.id].get(user.id)
            if mine is not None:
                notices += learner_notices(user, cohort, mine, now)
        if learners[cohort.id]:
            notices += at_risk_notices(session, cohort, instructors.get(cohort.id, []), now)
    notices += awaiting_notices(session, instructors, now)
    report = Report()
    for made in notify_all(session, notices, now):
        report.notices[made.event] = report.notices.get(made.event, 0) + 1
    report.digests = send_digests(session, now)
    return report
