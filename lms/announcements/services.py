"""Announcements: post, edit (a conditional write on the revision the editor saw), delete,
dismiss, the lists each page shows, and notifying a cohort's learners once an
announcement is visible (at once, or by ``publish_due`` when its scheduled time comes).
Services take a session and plain arguments and only flush."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.announcements.models import Announcement, AnnouncementDismissal
from lms.cohorts.models import Cohort, Enrolment
from lms.database import DbSession, rowcount, zone_named
from lms.notifications.models import NotificationEvent
from lms.notifications.services import Notice, notify_all, revise, withdraw
from lms.web.markdown import excerpt
from lms.web.page_cache import fingerprint

# Where a notification links to: the learner's list of announcements, at this one.
LinkFor = Callable[[Announcement], str]
TITLE_LENGTH = 200
EXCERPT = 280


class AnnouncementError(ValueError):
    """Something the service refuses, with a message for the person."""


class StaleAnnouncement(AnnouncementError):
    """The announcement changed since the editor loaded it."""

    def __init__(self, current: Announcement, editor_name: str) -> None:
        self.current = current
        super().__init__(f"Not saved: this announcement was changed by {editor_name} in the meantime. "
                         "Its current text is below; make your change again.")


def notice_key(announcement_id: int) -> str:
    """The key of every learner's notice of the announcement (``lms.notifications``)."""
    return f"announcement:{announcement_id}"


def notice_text(announcement: Announcement) -> tuple[str, str]:
    """A notice's title and body for the announcement as it reads now."""
    return f"Announcement: {announcement.title}", excerpt(announcement.body, EXCERPT)


def to_utc(local: datetime, timezone: str) -> datetime:
    """A naive wall-clock time in ``timezone`` (a form's date and time) as an aware UTC time."""
    return local.replace(tzinfo=zone_named(timezone))


def to_local(value: datetime, timezone: str) -> datetime:
    """An aware time as the naive wall-clock time of ``timezone``, to fill a form."""
    return value.astimezone(zone_named(timezone)).replace(tzinfo=None)


def _clean(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    if not title:
        raise AnnouncementError("Give the announcement a title.")
    if len(title) > TITLE_LENGTH:
        raise AnnouncementError(f"Keep the title to {TITLE_LENGTH} characters.")
    if not body:
        raise AnnouncementError("Write the announcement.")
    return title, body


def post(session: DbSession, cohort: Cohort, author: User, title: str, body: str, publish_at: datetime | None,
         now: datetime, link_for: LinkFor) -> Announcement:
    """Post to ``cohort``: visible at once (``publish_at`` None or past) or from ``publish_at``."""
    title, body = _clean(title, body)
    announcement = Announcement(cohort_id=cohort.id, author_id=author.id, title=title, body=body,
                                publish_at=max(publish_at or now, now), created_at=now, updated_at=now)
    session.add(announcement)
    session.flush()
    publish_due(session, now, link_for, cohort_id=cohort.id)
    return announcement


def edit(session: DbSession, announcement: Announcement, editor: User, title: str, body: str,
         publish_at: datetime | None, expected_revision: int, now: datetime, link_for: LinkFor) -> Announcement:
    """Change the text (and, while it is still scheduled, the time). Written only where the
    row is still at ``expected_revision``: of two edits from one view exactly one is kept,
    the other raises ``StaleAnnouncement`` having written nothing."""
    title, body = _clean(title, body)
    values: dict[str, object] = {"title": title, "body": body, "updated_at": now, "edited_by_id": editor.id,
                                 "revision": expected_revision + 1}
    if announcement.notified_at is None and not announcement.visible(now):
        values["publish_at"] = max(publish_at or now, now)
    result = session.execute(
        update(Announcement).where(Announcement.id == announcement.id, Announcement.revision == expected_revision)
        .values(**values).execution_options(synchronize_session=False))
    session.refresh(announcement)
    if rowcount(result) != 1:
        who = announcement.edited_by or announcement.author
        raise StaleAnnouncement(announcement, who.name)
    if announcement.notified_at is not None:
        # The learners already notified see the corrected text in their centre (and in a
        # digest not yet sent), not the old title.
        revise(session, notice_key(announcement.id), *notice_text(announcement))
    publish_due(session, now, link_for, cohort_id=announcement.cohort_id)
    return announcement


def remove(session: DbSession, announcement: Announcement) -> None:
    """Delete it, its dismissals and its learners' notices: a centre no longer lists (or
    counts unread) a notice of an announcement that is gone, nor links to it, and a digest
    not yet sent leaves it out. Their emails not yet sent are cancelled (``withdraw``)."""
    session.execute(delete(AnnouncementDismissal).where(AnnouncementDismissal.announcement_id == announcement.id))
    withdraw(session, [notice_key(announcement.id)])
    session.delete(announcement)
    session.flush()


def publish_due(session: DbSession, now: datetime, link_for: LinkFor, cohort_id: int | None = None) -> int:
    """Notify the learners of every announcement that is visible and not yet notified
    (per preference, through notifications), and mark it notified. Safe to run again and
    from two places at once: a notification is made once per learner and announcement.
    Returns how many announcements it notified about."""
    query = select(Announcement).where(Announcement.publish_at <= now, Announcement.notified_at.is_(None))
    if cohort_id is not None:
        query = query.where(Announcement.cohort_id == cohort_id)
    due = list(session.scalars(query.order_by(Announcement.publish_at, Announcement.id)))
    if not due:
        return 0
    learners: dict[int, list[int]] = {}
    for cid, uid in session.execute(select(Enrolment.cohort_id, Enrolment.user_id).where(
            Enrolment.cohort_id.in_({a.cohort_id for a in due}), Enrolment.active)):
        learners.setdefault(cid, []).append(uid)
    notices = [Notice(uid, NotificationEvent.ANNOUNCEMENT, notice_key(a.id), *notice_text(a), link=link_for(a))
               for a in due for uid in learners.get(a.cohort_id, [])]
    notify_all(session, notices, now)
    for announcement in due:
        announcement.notified_at = now
    session.flush()
    return len(due)


def dismiss(session: DbSession, announcement: Announcement, user_id: int, now: datetime) -> None:
    """Hide it from the learner's home; dismissing twice (two tabs) is the same as once."""
    try:
        with session.begin_nested():
            session.add(AnnouncementDismissal(announcement_id=announcement.id, user_id=user_id, dismissed_at=now))
    except IntegrityError:
        pass  # already dismissed


@dataclass(frozen=True)
class StaffRow:
    announcement: Announcement
    dismissed: int


def cohort_announcements(session: DbSession, cohort_id: int) -> list[StaffRow]:
    """Every announcement of the cohort, newest first, with how many learners dismissed it:
    one statement (and one for the authors) whatever their number."""
    dismissed = (select(func.count()).where(AnnouncementDismissal.announcement_id == Announcement.id)
                 .correlate(Announcement).scalar_subquery())
    rows = session.execute(select(Announcement, dismissed).where(Announcement.cohort_id == cohort_id)
                           .options(selectinload(Announcement.author))
                           .order_by(Announcement.publish_at.desc(), Announcement.id.desc()))
    return [StaffRow(a, n or 0) for a, n in rows]


@dataclass(frozen=True)
class LearnerRow:
    announcement: Announcement
    dismissed: bool


def learner_announcements(session: DbSession, cohort_id: int, user_id: int, now: datetime,
                          include_dismissed: bool = True) -> list[LearnerRow]:
    """The cohort's visible announcements for one learner, newest first, with whether they
    dismissed each (their home shows only the ones they did not)."""
    mine = exists().where(AnnouncementDismissal.announcement_id == Announcement.id,
                          AnnouncementDismissal.user_id == user_id)
    query = (select(Announcement, mine).where(Announcement.cohort_id == cohort_id, Announcement.publish_at <= now)
             .options(selectinload(Announcement.author))
             .order_by(Announcement.publish_at.desc(), Announcement.id.desc()))
    if not include_dismissed:
        query = query.where(~mine)
    return [LearnerRow(a, bool(d)) for a, d in session.execute(query)]


def learner_cohort_id(session: DbSession, user_id: int) -> int | None:
    return session.scalar(select(Enrolment.cohort_id).where(Enrolment.user_id == user_id,
                                                            Enrolment.active))


def learners_count(session: DbSession, cohort_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Enrolment).where(
        and_(Enrolment.cohort_id == cohort_id, Enrolment.active))) or 0


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: their
    cohorts' announcements (with whether each is published by now, and its author's name)
    and the ones they dismissed."""
    cohorts = select(Enrolment.cohort_id).where(Enrolment.user_id == user_id)
    return [select(fingerprint(Announcement.id, Announcement.revision, Announcement.updated_at, Announcement.publish_at,
                               Announcement.publish_at <= now, User.name))
            .select_from(Announcement).join(User, User.id == Announcement.author_id)
            .where(Announcement.cohort_id.in_(cohorts)).scalar_subquery(),
            select(fingerprint(AnnouncementDismissal.announcement_id))
            .where(AnnouncementDismissal.user_id == user_id).scalar_subquery()]
