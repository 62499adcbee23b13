"""The inbox's services: open a conversation per learner a staff message reaches, reply
(notifying the other side), mark read, and the lists the pages show, each in a fixed number
of statements. Services take a session and plain arguments and only flush."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    CompoundSelect,
    ScalarSelect,
    Select,
    String,
    and_,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased, selectinload

from lms.accounts.models import User
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort, cohort_instructors, organization_admins
from lms.database import DbSession, insert_unless_there, upsert_insert
from lms.inbox.models import BODY_LENGTH, SUBJECT_LENGTH, Conversation, ConversationRead, Message, notice_key
from lms.notifications.models import NotificationEvent
from lms.notifications.services import Notice, mark_keys_read, notify_all
from lms.web.markdown import excerpt

LinkFor = Callable[[Conversation], str]
EXCERPT = 280
LISTED = 200  # conversations on the inbox page, latest first


class InboxError(ValueError):
    """Something the service refuses, with a message for the person."""


def _body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise InboxError("Write a message first.")
    if len(body) > BODY_LENGTH:
        raise InboxError(f"Keep a message to {BODY_LENGTH:,} characters.")
    return body


# ------------------------------------------------------------------ who is staff of a conversation


def staff_cohort_ids(user_id: ColumnExpressionArgument[int] | int) -> Any:
    """The ids of the cohorts ``user_id`` teaches or whose organization they administer (a
    subquery, correlated when ``user_id`` is a column)."""
    taught = select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user_id) \
        .correlate_except(cohort_instructors)
    managed = (select(Cohort.id).join(organization_admins, organization_admins.c.organization_id == Cohort.organization_id)
               .where(organization_admins.c.user_id == user_id).correlate_except(Cohort, organization_admins))
    return taught.union(managed)


def _visible_to(user_id: ColumnExpressionArgument[int] | int) -> ColumnElement[bool]:
    """Conversations ``user_id`` takes part in: their own as the learner, and those of the
    cohorts they work on."""
    return or_(Conversation.learner_id == user_id, Conversation.cohort_id.in_(staff_cohort_ids(user_id)))


def _counted_for(user_id: ColumnExpressionArgument[int] | int) -> ColumnElement[bool]:
    """Conversations whose unread messages ``user_id``'s navigation counts: their own as the
    learner, those they started, and those of the cohorts they teach. An organization's
    administrators read every one of its cohorts' conversations, but are not counted each
    reply to another's message (they would see every learner's every answer as unread)."""
    taught = select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user_id) \
        .correlate_except(cohort_instructors)
    return or_(Conversation.learner_id == user_id, Conversation.started_by_id == user_id,
               Conversation.cohort_id.in_(taught))


def _unread(user_id: ColumnExpressionArgument[int] | int) -> ScalarSelect[int]:
    """How many messages of the conversation (correlated) others wrote after what
    ``user_id`` has read of it."""
    read_up_to = (select(ConversationRead.read_up_to)
                  .where(ConversationRead.conversation_id == Conversation.id, ConversationRead.user_id == user_id)
                  .correlate_except(ConversationRead).scalar_subquery())
    return (select(func.count(Message.id))
            .where(Message.conversation_id == Conversation.id, Message.author_id != user_id,
                   Message.id > func.coalesce(read_up_to, 0))
            .correlate_except(Message).scalar_subquery())


def unread_count_of_users_row() -> ScalarSelect[int]:
    """The conversations with unread messages of the user (correlated to ``users.id``), for
    the navigation: read with the signed-in user (``load_with_signed_in_user``)."""
    return (select(func.count(Conversation.id)).where(_counted_for(User.id), _unread(User.id) > 0)
            .correlate(User).scalar_subquery())


def unread_count(session: DbSession, user_id: int) -> int:
    return session.scalar(select(func.count(Conversation.id)).where(_counted_for(user_id), _unread(user_id) > 0)) or 0


def replies_not_read(session: DbSession, user_id: int, cohort_ids: Sequence[int]) -> dict[int, int]:
    """Cohort id -> how many of its conversations ``user_id``'s navigation counts
    (``_counted_for``) hold a reply of their learner that ``user_id`` has not read (a
    colleague's message is no reply waiting for them): one statement, grouped by cohort."""
    if not cohort_ids:
        return {}
    read = aliased(ConversationRead)
    query = (select(Conversation.cohort_id, func.count(distinct(Conversation.id)))
             .join(Message, and_(Message.conversation_id == Conversation.id, Message.author_id == Conversation.learner_id))
             .outerjoin(read, and_(read.conversation_id == Conversation.id, read.user_id == user_id))
             .where(Conversation.cohort_id.in_(list(cohort_ids)), _counted_for(user_id),
                    Conversation.learner_id != user_id, Message.id > func.coalesce(read.read_up_to, 0))
             .group_by(Conversation.cohort_id))
    return {cohort_id: int(count) for cohort_id, count in session.execute(query)}


def is_staff_of(session: DbSession, user: User, conversation: Conversation) -> bool:
    """Whether ``user`` answers ``conversation`` as staff: a site admin, an instructor of its
    cohort or an administrator of its organization. One statement (none for a site admin)."""
    if user.is_admin:
        return True
    return session.scalar(select(Cohort.id).where(Cohort.id == conversation.cohort_id,
                                                  Cohort.id.in_(staff_cohort_ids(user.id)))) is not None


# ------------------------------------------------------------------ writing


def open_conversations(session: DbSession, cohort: Cohort, sender: User, learners: Sequence[User], subject: str,
                       body: str, key: str, now: datetime) -> dict[int, Conversation]:
    """A conversation for each learner a staff message reaches, opened by the message: two
    statements and one INSERT a learner, whatever was there (one per learner and ``key``)."""
    subject = " ".join(subject.split())[:SUBJECT_LENGTH]
    body = _body(body)
    found: dict[int, Conversation] = {}
    ids = [u.id for u in learners]
    if not ids:
        return found
    there = {c.learner_id: c for c in session.scalars(select(Conversation).where(
        Conversation.source_key == key, Conversation.learner_id.in_(ids)))}
    fresh = [Conversation(cohort_id=cohort.id, learner_id=uid, started_by_id=sender.id, subject=subject, source_key=key,
                          created_at=now, last_message_at=now) for uid in ids if uid not in there]
    session.add_all(fresh)
    session.flush()
    session.add_all([Message(conversation_id=c.id, author_id=sender.id, body=body, created_at=now) for c in fresh])
    session.flush()
    found.update(there)
    found.update({c.learner_id: c for c in fresh})
    return found


@dataclass(frozen=True)
class Started:
    conversation: Conversation
    made: bool  # False: the same form had been sent before (a double click) and this is its conversation
    notified: bool  # the learner has a notice of it (not when they switched staff messages off)


def start_key(sender_id: int, token: str) -> str:
    """The ``source_key`` of a conversation staff start from a learner's page, and its notice's key."""
    return f"inbox-start:{sender_id}:{token}"


def _subject(subject: str) -> str:
    """A conversation's subject on one line, or the reason it is refused."""
    subject = " ".join((subject or "").split())
    if not subject:
        raise InboxError("Write a subject.")
    if len(subject) > SUBJECT_LENGTH:
        raise InboxError(f"Keep the subject to {SUBJECT_LENGTH} characters.")
    return subject


def _open(session: DbSession, cohort_id: int, learner_id: int, started_by_id: int, subject: str, key: str,
          now: datetime) -> tuple[Conversation, bool]:
    """The conversation under ``key``, opened now unless the same form opened it before
    (``made`` False then: a double click)."""
    made = insert_unless_there(session, Conversation, {
        "cohort_id": cohort_id, "learner_id": learner_id, "started_by_id": started_by_id, "subject": subject,
        "source_key": key, "created_at": now, "last_message_at": now}, ("source_key", "learner_id"))
    conversation = session.scalars(select(Conversation).where(Conversation.source_key == key,
                                                              Conversation.learner_id == learner_id)).one()
    return conversation, made


def start_conversation(session: DbSession, cohort: Cohort, sender: User, learner: User, subject: str, body: str,
                       now: datetime, link_for: LinkFor, token: str = "") -> Started:
    """Staff open a conversation with one learner of ``cohort`` (the learner's page, "Send a
    message"), and the learner is notified as by the gradebook's message: a message from
    staff, in their notification centre and mailed as their preference says. ``token`` names
    the form it came from (its checked one-time value, ``OneTimeField.value``; "" for none):
    the same form sent again (a double click) finds the conversation it opened and sends
    nothing more."""
    subject = _subject(subject)
    text = _body(body)
    if learner.deactivated_at is not None:
        raise InboxError(f"The account of {learner.name} is closed: they read no messages.")
    key = start_key(sender.id, token or uuid.uuid4().hex)
    conversation, made = _open(session, cohort.id, learner.id, sender.id, subject, key, now)
    if not made:
        return Started(conversation, False, True)
    session.add(Message(conversation_id=conversation.id, author_id=sender.id, body=text, created_at=now))
    session.flush()
    notices = notify_all(session, [Notice(user_id=learner.id, event=NotificationEvent.MESSAGE, key=key,
                                          title=f"{cohort.name}: {subject}", body=f"{text}\n\n— {sender.name}",
                                          link=link_for(conversation))], now)
    return Started(conversation, True, bool(notices))


def write_to_staff(session: DbSession, learner: User, subject: str, body: str, now: datetime, link_for: LinkFor,
                   token: str = "") -> Started:
    """A learner opens a conversation with their own cohort's instructors (the inbox's
    "Message your instructors": to ask for an extension, or anything not for the whole
    cohort's discussions). The cohort is their current enrolment's, never one they name: a
    learner writes to their own cohort's staff alone. Each instructor with an open account is
    notified as of a learner's reply (their preference for it), under the message's notice key,
    so reading the conversation marks the notice read. ``token`` as ``start_conversation``'s: a
    double click opens one conversation. ``notified``: some instructor has a notice of it."""
    subject = _subject(subject)
    text = _body(body)
    enrolment = active_enrolment(session, learner.id)
    if enrolment is None:
        raise InboxError("You are not enrolled in a cohort now, so there are no instructors to write to.")
    cohort = enrolment.cohort
    staff = list(session.scalars(select(cohort_instructors.c.user_id).join(User, User.id == cohort_instructors.c.user_id)
                                 .where(cohort_instructors.c.cohort_id == cohort.id, User.deactivated_at.is_(None))
                                 .order_by(User.id)))
    if not staff:
        raise InboxError(f"{cohort.name} has no instructor yet: ask in your cohort's discussions instead.")
    key = start_key(learner.id, token or uuid.uuid4().hex)
    conversation, made = _open(session, cohort.id, learner.id, learner.id, subject, key, now)
    if not made:
        return Started(conversation, False, True)
    message = Message(conversation_id=conversation.id, author_id=learner.id, body=text, created_at=now)
    session.add(message)
    session.flush()
    mark_read(session, conversation, learner.id, message.id, now)
    notices = notify_all(session, [Notice(user_id=uid, event=NotificationEvent.MESSAGE_REPLY, key=notice_key(message.id),
                                          title=f"{learner.name} wrote ({cohort.name}): {subject}",
                                          body=excerpt(text, EXCERPT), link=link_for(conversation)) for uid in staff], now)
    return Started(conversation, True, bool(notices))


@dataclass(frozen=True)
class Sent:
    message: Message
    made: bool  # False: the same form had been sent before (a double click) and this is its message


def reply(session: DbSession, conversation: Conversation, author: User, body: str, now: datetime, link_for: LinkFor,
          token: str = "") -> Sent:
    """Add ``author``'s reply and notify the other side: a learner's reply, the staff who
    wrote in the conversation (its cohort's instructors if none of them has an open account
    any more); a staff reply, the learner. Each their preference for the kind of event (a
    message from staff, a learner's reply) says. Two replies sent at once are two rows, and
    the conversation's time moves forward by a conditional UPDATE (no read-modify-write: no
    reply is lost). ``token`` names the form it came from (its checked one-time value,
    ``OneTimeField.value``; "" for none): the same form sent again finds the message it made
    and sends nothing."""
    text = _body(body)
    tokened = bool(token)
    values: dict[str, Any] = {"conversation_id": conversation.id, "author_id": author.id, "body": text, "created_at": now,
              "token": token if tokened else None}
    if tokened:
        made = insert_unless_there(session, Message, values, ("author_id", "token"))
        message = session.scalars(select(Message).where(Message.author_id == author.id, Message.token == token)
                                  .execution_options(populate_existing=True)).one()
        if not made:
            return Sent(message, False)
    else:
        message = Message(**values)
        session.add(message)
        session.flush()
    session.execute(update(Conversation).where(Conversation.id == conversation.id, Conversation.last_message_at < now)
                    .values(last_message_at=now).execution_options(synchronize_session=False))
    mark_read(session, conversation, author.id, message.id, now)
    _notify(session, conversation, author, message, now, link_for)
    return Sent(message, True)


def _notify(session: DbSession, conversation: Conversation, author: User, message: Message, now: datetime,
            link_for: LinkFor) -> None:
    title = f"{author.name} replied: {conversation.subject}"
    common: dict[str, Any] = {"key": notice_key(message.id), "title": title, "body": excerpt(message.body, EXCERPT),
              "link": link_for(conversation)}
    if author.id != conversation.learner_id:
        notify_all(session, [Notice(user_id=conversation.learner_id, event=NotificationEvent.MESSAGE, **common)], now)
        return
    wrote = select(Message.author_id).where(Message.conversation_id == conversation.id, Message.author_id != author.id)
    staff = list(session.scalars(select(User.id).where(User.id.in_(wrote), User.deactivated_at.is_(None)).order_by(User.id)))
    if not staff:
        staff = list(session.scalars(select(cohort_instructors.c.user_id).join(User, User.id == cohort_instructors.c.user_id)
                                     .where(cohort_instructors.c.cohort_id == conversation.cohort_id,
                                            User.deactivated_at.is_(None)).order_by(User.id)))
    notify_all(session, [Notice(user_id=uid, event=NotificationEvent.MESSAGE_REPLY, **common) for uid in staff], now)


def mark_read(session: DbSession, conversation: Conversation, user_id: int, up_to: int | None, now: datetime) -> None:
    """``user_id`` has read ``conversation`` up to message ``up_to`` (the last message a page
    showed them; its latest when None; never beyond its latest): an upsert that only ever
    moves the mark forward, so two tabs never move it back. Their notices of what they have
    read are marked read in the notification centre too: of each message up to the mark
    (``notice_key``), and, for its learner, of the staff message that opened it (keyed the
    conversation's ``source_key``); later messages keep theirs. Three statements."""
    latest = select(func.max(Message.id)).where(Message.conversation_id == conversation.id)
    if up_to is not None:
        latest = latest.where(Message.id <= up_to)
    up_to = session.scalar(latest) or 0
    stmt = upsert_insert(session)(ConversationRead).values(conversation_id=conversation.id, user_id=user_id,
                                                           read_up_to=up_to, read_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["conversation_id", "user_id"],
                                      set_={"read_up_to": stmt.excluded.read_up_to, "read_at": stmt.excluded.read_at},
                                      where=ConversationRead.read_up_to < stmt.excluded.read_up_to)
    session.execute(stmt)
    session.flush()
    if up_to:
        mark_keys_read(session, user_id, _notice_keys(conversation, user_id, up_to), now)


def _notice_keys(conversation: Conversation, user_id: int, up_to: int) -> Select[str] | CompoundSelect[str]:
    """The keys of the notices that announced ``conversation``'s messages up to ``up_to`` to
    ``user_id`` (a query: one key a message, and the opening's key for its learner)."""
    prefix = notice_key(0)[:-1]
    keys = select(literal(prefix, String) + cast(Message.id, String)).where(Message.conversation_id == conversation.id,
                                                                            Message.id <= up_to)
    if conversation.learner_id == user_id:
        return keys.union_all(select(literal(conversation.source_key, String)))
    return keys


def mark_noticed_read(session: DbSession, user: User, key: str, now: datetime) -> Conversation | None:
    """``user`` followed a notice (``lms.notifications``, keyed ``key``): the conversation it
    announced is read up to the message it announced (a reply's notice, ``notice_key``), or
    up to the opening message (the notice of the staff message that opened it, whose key the
    conversation keeps as ``source_key``). Later messages stay unread: they have notices of
    their own. Nothing for a key of anything else, or a conversation ``user`` no longer
    takes part in. Answers the conversation marked. Two statements and ``mark_read``, which
    reads the notices of the messages before it too."""
    prefix = notice_key(0)[:-1]
    if key.startswith(prefix):
        try:
            message_id = int(key[len(prefix):])
        except ValueError:
            return None
        found = session.execute(select(Conversation, Message.id).join(Message, Message.conversation_id == Conversation.id)
                                .where(Message.id == message_id)).first()
    else:
        first = (select(func.min(Message.id)).where(Message.conversation_id == Conversation.id)
                 .correlate(Conversation).scalar_subquery())
        found = session.execute(select(Conversation, first).where(Conversation.source_key == key,
                                                                  Conversation.learner_id == user.id)).first()
    if found is None or found[1] is None:
        return None
    conversation, up_to = found
    if conversation.learner_id != user.id and not is_staff_of(session, user, conversation):
        return None
    mark_read(session, conversation, user.id, up_to, now)
    return conversation


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Row:
    """A conversation as the inbox lists it."""

    conversation: Conversation
    messages: int
    unread: int
    last_author: User | None


def inbox(session: DbSession, user: User) -> list[Row]:
    """The conversations ``user`` takes part in (as the learner, or as staff of the cohort),
    latest first, with their message and unread counts and who wrote last. Four statements
    whatever the number of conversations (the rows, their learners, starters and cohorts)."""
    count = (select(func.count(Message.id)).where(Message.conversation_id == Conversation.id)
             .correlate(Conversation).scalar_subquery())
    last = aliased(Message)
    last_author = (select(last.author_id).where(last.conversation_id == Conversation.id)
                   .order_by(last.id.desc()).limit(1).correlate(Conversation).scalar_subquery())
    rows = session.execute(
        select(Conversation, count, _unread(user.id), last_author)
        .where(_visible_to(user.id))
        .options(selectinload(Conversation.learner), selectinload(Conversation.started_by),
                 selectinload(Conversation.cohort))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(LISTED)).all()
    people = {c.learner_id: c.learner for c, *_ in rows} | {c.started_by_id: c.started_by for c, *_ in rows}
    missing = {a for *_, a in rows if a is not None and a not in people}
    if missing:
        people |= {u.id: u for u in session.scalars(select(User).where(User.id.in_(missing)))}
    return [Row(c, n or 0, u or 0, people.get(a) if a is not None else None) for c, n, u, a in rows]


def messages_of(session: DbSession, conversation: Conversation) -> list[Message]:
    """The conversation's messages in order, with their authors: two statements."""
    return list(session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                .options(selectinload(Message.author)).order_by(Message.id)))


def read_up_to(session: DbSession, conversation: Conversation, user_id: int) -> int:
    return session.scalar(select(ConversationRead.read_up_to).where(
        and_(ConversationRead.conversation_id == conversation.id, ConversationRead.user_id == user_id))) or 0
