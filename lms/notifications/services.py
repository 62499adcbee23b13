"""Make notifications, honouring each user's preference per kind of event, and read them.

``notify`` is what other features call: one notice to one user, made at most once per
``(user_id, key)`` (an ``INSERT ... ON CONFLICT DO NOTHING`` on the unique constraint, so
two racing callers make one row on SQLite and PostgreSQL alike). ``notify_all`` does the
same for many notices in a fixed number of statements. Services only flush."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from blinker import Namespace
from flask import current_app, has_app_context
from sqlalchemy import CompoundSelect, ScalarSelect, Select, case, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.database import DbSession, among, rowcount, upsert_insert, utcnow
from lms.mail.services import cancel, queue_keyed, queue_mails, recall
from lms.notifications.models import EVENTS, Channel, Notification, NotificationEvent, NotificationPreference

events = Namespace()

# Sent by ``flask lms send-reminders`` inside its unit of work, with ``session`` and ``now``:
# features with notices of their own that fall due with time (scheduled announcements)
# connect here, so one cron entry serves them all and this feature imports none of them.
reminders_due = events.signal("reminders-due")

# Sent by ``open_notification`` (the centre's Open: one POST) once the notice is marked read,
# with ``session``, ``notification`` and ``now``: the feature whose page the notice links
# marks what it announced read there too (the inbox, the conversation), without this
# feature importing it. Keyed on the notice's ``key``, which names the occurrence.
notification_opened = events.signal("notification-opened")

# Requests (and the reminder command) put the site's root URL here, so emails carry
# absolute links; without it an email shows the link as the path it was given.
BASE_URL = "lms.notifications.base_url"
KEY_LENGTH = 200
TITLE_LENGTH = 300
CHUNK = 500  # rows per INSERT, well under every database's limit on bound parameters


class NotificationError(ValueError):
    """A notice or preference the service refuses."""


@dataclass(frozen=True)
class Notice:
    """One notice to make: who, what kind, its once-only key, and what it says."""

    user_id: int
    event: NotificationEvent
    key: str
    title: str
    body: str = ""
    link: str | None = None
    # What it tells as numbers, kept on the notice for a revision to compare with
    # (``Notification.counts``); None: nothing to compare.
    counts: dict[str, int] | None = None


def channels_for(session: DbSession, user_ids: Iterable[int]) -> dict[tuple[int, NotificationEvent], Channel]:
    """The channels users chose, per (user, event); a kind they never chose is absent."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(NotificationPreference.user_id, NotificationPreference.event,
                                  NotificationPreference.channel).where(NotificationPreference.user_id.in_(ids)))
    return {(user_id, event): channel for user_id, event, channel in rows}


def preferences(session: DbSession, user_id: int) -> dict[NotificationEvent, Channel]:
    """Every kind of event with the channel this user gets it on (their choice or the default)."""
    chosen = channels_for(session, [user_id])
    return {event: chosen.get((user_id, event), kind.default) for event, kind in EVENTS.items()}


def set_preferences(session: DbSession, user_id: int, choices: Mapping[NotificationEvent | str, Channel | str]) -> None:
    """Store the user's channel per event (an upsert, so concurrent saves never clash)."""
    rows = []
    for event, channel in choices.items():
        try:
            rows.append({"user_id": user_id, "event": NotificationEvent(event), "channel": Channel(channel)})
        except ValueError:
            raise NotificationError(f"Unknown event or channel: {event!r}, {channel!r}.") from None
    if not rows:
        return
    stmt = upsert_insert(session)(NotificationPreference).values(rows)
    stmt = stmt.on_conflict_do_update(index_elements=["user_id", "event"], set_={"channel": stmt.excluded.channel})
    session.execute(stmt)
    session.flush()


NO_BASE_URL = ("no site address is configured (LMS_BASE_URL, e.g. https://lms.example.org), so the links in the "
               "emails queued here are paths without the site's address; set it (make run sets http://HOST:PORT).")


def mail_base_url(session: DbSession) -> str:
    """The site's address for links in emails: the request's (``remember_base_url``) or a
    command's ``--base-url``, else the configured ``BASE_URL`` (``LMS_BASE_URL``), which a
    command or job outside any request has too; empty when none is."""
    base = str(session.info.get(BASE_URL) or "")
    if not base and has_app_context():
        base = str(current_app.config.get("BASE_URL") or "")
    return base.rstrip("/")


def absolute_link(session: DbSession, link: str) -> str:
    """``link`` (a path on this site) as a whole address (``mail_base_url``); as it is when no
    address is known (the commands warn of it)."""
    base = mail_base_url(session)
    if base and link.startswith("/"):
        return base + link
    return link


def email_body(session: DbSession, user: User, notification: Notice | Notification) -> str:
    """The email of one notice to ``user``: its title, body and link (as a whole address)."""
    parts = [f"Hello {user.name},", "", notification.title]
    if notification.body:
        parts += ["", notification.body]
    if notification.link:
        parts += ["", f"Open it here: {absolute_link(session, notification.link)}"]
    parts += ["", "You can choose which notices you get, and how, under Account > Notification preferences."]
    return "\n".join(parts) + "\n"


def notify_all(session: DbSession, notices: Sequence[Notice], now: datetime | None = None) -> list[Notification]:
    """Make every notice not made before (per user and key) whose kind the user has not
    switched off, and queue an email for those whose channel is email. Returns the new
    notifications. A closed account (deactivated, or erased) is given none: nobody reads
    its centre, and its address must not be mailed. A fixed number of statements however
    many notices there are (but one SELECT of those already made and one INSERT of the rest
    per ``CHUNK`` of them)."""
    now = now or utcnow()
    chosen = channels_for(session, (n.user_id for n in notices))
    closed = set(session.scalars(select(User.id).where(among(User.id, {n.user_id for n in notices}),
                                                       User.deactivated_at.is_not(None)))) if notices else set()
    rows: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for notice in notices:
        event = NotificationEvent(notice.event)
        if not notice.key or len(notice.key) > KEY_LENGTH:
            raise NotificationError(f"A notification key must be 1 to {KEY_LENGTH} characters: {notice.key!r}.")
        channel = chosen.get((notice.user_id, event), EVENTS[event].default)
        if channel == Channel.OFF or notice.user_id in closed or (notice.user_id, notice.key) in seen:
            continue
        seen.add((notice.user_id, notice.key))
        rows.append({"user_id": notice.user_id, "event": event, "key": notice.key,
                     "title": notice.title[:TITLE_LENGTH], "body": notice.body, "link": notice.link,
                     "counts": notice.counts, "channel": channel, "created_at": now, "read_at": None,
                     "mailed_at": now if channel == Channel.EMAIL else None})
    if not rows:
        return []
    insert = upsert_insert(session)
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        # The notices already made are read first and left out: a periodic run finds most of
        # its notices made by the run before, and an INSERT of every row, each then dropped
        # by the conflict clause, took most of its time (its VALUES built for every row). A
        # notice made meanwhile by another session is still dropped by that clause. Users and
        # keys as two lists, read by the (user, key) index user by user (a list of pairs made
        # SQLite scan the whole index); a pair of one user's and another's key read as well
        # is made, so leaving it out is right too.
        there = {(user_id, key) for user_id, key in session.execute(
            select(Notification.user_id, Notification.key)
            .where(among(Notification.user_id, {r["user_id"] for r in chunk}), Notification.key.in_({r["key"] for r in chunk})))}
        fresh = [r for r in chunk if (r["user_id"], r["key"]) not in there]
        if fresh:
            stmt = (insert(Notification).values(fresh)
                    .on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(Notification.id))
            ids += session.scalars(stmt)
    if not ids:
        return []
    made = list(session.scalars(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)))
    emailed = [n for n in made if n.channel == Channel.EMAIL]
    if emailed:
        users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({n.user_id for n in emailed})))}
        queue_mails(session, [(users[n.user_id].email, n.title, email_body(session, users[n.user_id], n))
                              for n in emailed], recall_keys=[n.key for n in emailed])
    return made


def notify(session: DbSession, *, user_id: int, event: NotificationEvent, key: str, title: str, body: str = "",
           link: str | None = None) -> Notification | None:
    """Notify one user of one event, once: a second call with the same ``key`` for the same
    user (or a kind the user switched off) makes nothing, sends nothing and returns None.
    ``link`` is a path on this site (``url_for(...)``); ``body`` is plain text or Markdown
    (a message as staff wrote it): mailed as it is, rendered in the centre."""
    made = notify_all(session, [Notice(user_id, event, key, title, body, link)])
    return made[0] if made else None


def withdraw(session: DbSession, keys: Collection[str], now: datetime | None = None) -> int:
    """Take back every user's notice under ``keys``, of something that is gone (a deleted
    announcement, a reply hidden by a moderator, a grade release taken back): they are
    deleted, so no centre lists them, counts them unread or links to what is no longer
    there, and no digest not yet made mails them. Their own emails still unsent are
    cancelled (``lms.mail.services.recall``: kept in the outbox as cancelled, never sent);
    one already sent, or being sent at that moment, stays sent. A digest queued and not yet
    sent that lists one of them is cancelled too, and a digest of the notices it still lists
    queued in its place (``replace_digests``). Returns how many notices were taken back; two
    statements (read by the keys' indexes) a ``CHUNK`` of keys, and four for the digests."""
    now = now or utcnow()
    wanted, taken, digests = sorted(set(keys)), 0, set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        listed = list(session.scalars(delete(Notification).where(Notification.key.in_(chunk))
                                      .returning(Notification.digest_id).execution_options(synchronize_session=False)))
        taken += len(listed)
        digests |= {digest_id for digest_id in listed if digest_id is not None}
        recall(session, chunk, now)
    replace_digests(session, digests, now)
    session.flush()
    return taken


# ------------------------------------------------------------------ digests


DIGEST_SUBJECT = "Your daily digest"


def digest_key(user_id: int, day: date) -> str:
    """A digest email's recall key (``lms.mail.services.queue_keyed``): its user and the
    day of their time zone it is for; the digest queued in its place keeps it."""
    return f"digest:{user_id}:{day.isoformat()}"


def digest_mail(session: DbSession, user: User, notices: Sequence[tuple[str, str | None]]) -> tuple[str, str, str]:
    """The digest email to ``user`` listing ``notices`` (title and link, in order): its
    recipient, subject and body."""
    lines = [f"Hello {user.name},", "", "Your daily digest:", ""]
    lines += [f"- {title}" + (f": {absolute_link(session, link)}" if link else "") for title, link in notices]
    lines += ["", "You can choose which notices you get, and how, under Account > Notification preferences."]
    count = len(notices)
    return user.email, f"{DIGEST_SUBJECT}: {count} notice{'s' if count != 1 else ''}", "\n".join(lines) + "\n"


def replace_digests(session: DbSession, digest_ids: Collection[int], now: datetime) -> int:
    """Digests (their outbox messages) that listed notices just taken back: each still
    unsent and held by no deliverer is cancelled (``lms.mail.services.cancel``), and when
    notices remain in it a digest of those (their words now, in their order) is queued in
    its place, to the same user for the same day; a digest sent, or being sent, stays as
    it is. Answers how many digests were cancelled. At most four statements, however many
    digests and notices: cancel, read what remains, queue, point the notices at their new
    digest. Flushes only."""
    cancelled = cancel(session, sorted(set(digest_ids)), now)
    if not cancelled:
        return 0
    remaining: dict[int, tuple[User, list[tuple[str, str | None]]]] = {}
    for digest_id, title, link, user in session.execute(
            select(Notification.digest_id, Notification.title, Notification.link, User)
            .join(User, User.id == Notification.user_id).where(among(Notification.digest_id, list(cancelled)))
            .order_by(Notification.digest_id, Notification.created_at, Notification.id)):
        if digest_id is not None:  # (never: the digests' own notices)
            remaining.setdefault(digest_id, (user, []))[1].append((title, link))
    if remaining:
        # the new digest under the old one's key (its user and day); each old one's own
        keys = {digest_id: cancelled[digest_id] or f"digest:{digest_id}" for digest_id in remaining}
        made = queue_keyed(session, {keys[digest_id]: digest_mail(session, user, items)
                                     for digest_id, (user, items) in remaining.items()})
        session.execute(update(Notification).where(among(Notification.digest_id, list(remaining)))
                        .values(digest_id=case({digest_id: made[key] for digest_id, key in keys.items()},
                                               value=Notification.digest_id))
                        .execution_options(synchronize_session=False))
    session.flush()
    return len(cancelled)


def revise(session: DbSession, key: str, title: str, body: str = "") -> int:
    """Bring every user's notice under ``key`` in line with what it tells of now (an
    edited announcement or reply): its title and body, read or not (an edit does not make
    it unread again). A digest not yet sent mails the new text; an email already queued
    keeps the old. Returns how many were revised; one statement."""
    result = session.execute(update(Notification).where(Notification.key == key)
                             .values(title=title[:TITLE_LENGTH], body=body).execution_options(synchronize_session=False))
    session.flush()
    return rowcount(result)


# ------------------------------------------------------------------ the centre


def unread_count(session: DbSession, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def unread_count_of_users_row() -> ScalarSelect[int]:
    """``unread_count`` as a scalar subquery correlated to ``users.id`` (read with the user)."""
    return (select(func.count()).select_from(Notification)
            .where(Notification.user_id == User.id, Notification.read_at.is_(None)).scalar_subquery())


def recent(session: DbSession, user_id: int, limit: int = 100) -> list[Notification]:
    """The user's latest notifications, newest first."""
    return list(session.scalars(select(Notification).where(Notification.user_id == user_id)
                                .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def own_notification(session: DbSession, user_id: int, notification_id: int) -> Notification | None:
    notification = session.get(Notification, notification_id)
    return notification if notification is not None and notification.user_id == user_id else None


def mark_read(session: DbSession, notification: Notification, now: datetime) -> None:
    if notification.read_at is None:
        notification.read_at = now
        session.flush()


def open_notification(session: DbSession, notification: Notification, now: datetime) -> str | None:
    """The recipient follows the notice: it is marked read, and so is what it announced on the
    page it links (receivers of ``notification_opened``). Answers the link when it is a page
    of this site (a path), None otherwise."""
    mark_read(session, notification, now)
    notification_opened.send(session=session, notification=notification, now=now)
    link = notification.link or ""
    return link if link.startswith("/") and not link.startswith("//") and "\\" not in link else None


def mark_keys_read(session: DbSession, user_id: int, keys: Collection[str] | Select[str] | CompoundSelect[str],
                   now: datetime) -> int:
    """Mark read the user's unread notices under ``keys`` (a list, or a query of keys): a
    feature whose page shows what they announced marks them read when it is read there (the
    inbox, a conversation read up to a message). Answers how many were unread; one statement."""
    if not isinstance(keys, Select | CompoundSelect):
        keys = sorted(set(keys))
        if not keys:
            return 0
    result = session.execute(update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None),
                                                         Notification.key.in_(keys))
                             .values(read_at=now).execution_options(synchronize_session=False))
    session.flush()
    return rowcount(result)


def mark_all_read(session: DbSession, user_id: int, now: datetime) -> int:
    """Mark every unread notification of the user read; returns how many were unread."""
    result = session.execute(update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
                             .values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What every cached page (``lms.web.page_cache``) shows from this feature: the unread
    count in the navigation."""
    return [select(func.count()).select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None)).scalar_subquery()]
