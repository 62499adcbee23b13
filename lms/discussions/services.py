"""Module discussions: start a thread (notifying the cohort's instructors: a learner's
question otherwise waited unseen until someone happened to open the module's page), reply
(notifying the thread's other participants),
edit one's own post (a conditional write on the revision the author saw), moderate (a
registry of actions, each logged with who, when and why), and the lists the pages show,
each in a fixed number of statements. Services take a session and plain arguments and
only flush."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, select, update
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.catalog.models import Module
from lms.cohorts.models import Cohort, cohort_instructors
from lms.database import DbSession, rowcount
from lms.discussions.models import Moderation, ModerationAction, Post, Thread, notice_key
from lms.discussions.moderation import MODERATORS, ModerationRefused
from lms.notifications.models import NotificationEvent
from lms.notifications.services import Notice, mark_keys_read, notify_all, revise
from lms.web.markdown import excerpt

LinkFor = Callable[[Post], str]
TITLE_LENGTH = 200
BODY_LENGTH = 20_000
EXCERPT = 280


class DiscussionError(ValueError):
    """Something the service refuses, with a message for the person. ``field``: the form
    field it is about (``"reason"``, a moderation's), when it is about one, for the page to
    show it there and mark that field invalid."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StalePost(DiscussionError):
    def __init__(self, current: Post) -> None:
        self.current = current
        super().__init__("Not saved: this post was changed (in another tab or window) since you opened it. "
                         "Its current text is below; make your change again.")


def _body(body: str) -> str:
    body = body.strip()
    if not body:
        raise DiscussionError("Write something first.")
    if len(body) > BODY_LENGTH:
        raise DiscussionError(f"Keep a post to {BODY_LENGTH:,} characters.")
    return body


def _title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise DiscussionError("Give the thread a title.")
    if len(title) > TITLE_LENGTH:
        raise DiscussionError(f"Keep the title to {TITLE_LENGTH} characters.")
    return title


# ------------------------------------------------------------------ writing


def start_thread(session: DbSession, cohort: Cohort, module: Module, author: User, title: str, body: str,
                 now: datetime, link_for: LinkFor) -> Thread:
    """Start a thread and notify the cohort's instructors (active, the author aside), so a
    learner's question reaches the people who answer it."""
    thread = Thread(cohort_id=cohort.id, module_id=module.id, author_id=author.id, title=_title(title),
                    created_at=now, last_post_at=now)
    session.add(thread)
    session.flush()
    opening = Post(thread_id=thread.id, author_id=author.id, body=_body(body), opening=True, created_at=now)
    session.add(opening)
    session.flush()
    staff = session.scalars(select(cohort_instructors.c.user_id).join(User, User.id == cohort_instructors.c.user_id)
                            .where(cohort_instructors.c.cohort_id == cohort.id, User.deactivated_at.is_(None),
                                   User.id != author.id).order_by(User.id))
    notify_all(session, [Notice(user_id=uid, event=NotificationEvent.DISCUSSION_THREAD, key=notice_key(opening.id),
                                title=thread_title(author.name, module.title, thread.title),
                                body=excerpt(opening.body, EXCERPT), link=link_for(opening))
                         for uid in staff], now)
    return thread


def thread_title(author_name: str, module_title: str, title: str) -> str:
    """The title of a new thread's notices."""
    return f"{author_name} started a thread in {module_title}: “{title}”"


def reply_title(author_name: str, thread_title: str) -> str:
    """The title of a reply's notices."""
    return f"{author_name} replied in “{thread_title}”"


def reply(session: DbSession, thread: Thread, author: User, body: str, now: datetime, link_for: LinkFor) -> Post:
    """Add a reply and notify everyone else who has posted in the thread. A locked or
    hidden thread takes no replies. The author has read what they answer: their own notices
    of the thread's posts (an instructor's of the new question, a participant's of the
    replies) are marked read, as a reply in the inbox marks its conversation read, rather
    than waiting, unread, in their notification centre for a question already answered."""
    if thread.hidden:
        raise DiscussionError("This thread is hidden: it takes no replies.")
    # Lock the thread's row while replying (PostgreSQL): a lock given meanwhile is seen.
    session.refresh(thread, with_for_update=True)
    if thread.locked:
        raise DiscussionError("This thread is locked: it takes no new replies.")
    post = Post(thread_id=thread.id, author_id=author.id, body=_body(body), created_at=now)
    session.add(post)
    thread.last_post_at = now
    session.flush()
    posts = session.execute(select(Post.id, Post.author_id).where(Post.thread_id == thread.id)).all()
    mark_keys_read(session, author.id, [notice_key(post_id) for post_id, _ in posts if post_id != post.id], now)
    participants = {author_id for _, author_id in posts}
    participants.discard(author.id)
    notify_all(session, [Notice(user_id=uid, event=NotificationEvent.DISCUSSION_REPLY,
                                key=notice_key(post.id), title=reply_title(author.name, thread.title),
                                body=excerpt(post.body, EXCERPT), link=link_for(post))
                         for uid in sorted(participants)], now)
    return post


def why_not_editable(post: Post, editor: User) -> str | None:
    """Why ``editor`` cannot edit ``post`` now (None: they can): the edit page says it
    instead of offering a form whose save would be refused."""
    if post.author_id != editor.id:
        return "Only a post's author can edit it."
    if post.hidden or post.thread.hidden:
        return "A hidden post cannot be edited."
    if post.thread.locked:
        return "This thread is locked: its posts can no longer be edited."
    return None


def edit_post(session: DbSession, post: Post, editor: User, body: str, title: str | None, expected_revision: int,
              now: datetime) -> Post:
    """The author changes their post (and, for the opening post, the thread's title).
    Written only where the post is still at ``expected_revision``: of two saves from one
    view exactly one is kept; the other raises ``StalePost`` having written nothing."""
    refused = why_not_editable(post, editor)
    if refused is not None:
        raise DiscussionError(refused)
    thread = post.thread
    new_body = _body(body)
    new_title = _title(title) if post.opening and title is not None else None
    result = session.execute(
        update(Post).where(Post.id == post.id, Post.revision == expected_revision)
        .values(body=new_body, edited_at=now, revision=expected_revision + 1)
        .execution_options(synchronize_session=False))
    session.refresh(post)
    if rowcount(result) != 1:
        raise StalePost(post)
    # The notices the post made (a reply's to the participants, an opening's to the
    # instructors) say what it says now.
    if post.opening:
        revise(session, notice_key(post.id), thread_title(editor.name, thread.module.title, new_title or thread.title),
               excerpt(post.body, EXCERPT))
    else:
        revise(session, notice_key(post.id), reply_title(editor.name, thread.title), excerpt(post.body, EXCERPT))
    if new_title is not None:
        thread.title = new_title
        session.flush()
    return post


def moderate(session: DbSession, actor: User, action: ModerationAction | str, thread: Thread, post: Post | None,
             reason: str, now: datetime) -> Moderation:
    """Apply a moderation action (from ``MODERATORS``) and log it with its reason; the
    moderator's own notices of the thread are marked read."""
    try:
        moderator = MODERATORS[ModerationAction(action)]
    except ValueError:
        raise DiscussionError("Choose a moderation action.") from None
    if moderator.on_post != (post is not None):
        raise DiscussionError(f"“{moderator.label}” applies to a {'reply' if moderator.on_post else 'thread'}.")
    if post is not None and post.thread_id != thread.id:
        raise DiscussionError("That post is not in this thread.")
    reason = reason.strip()
    if moderator.needs_reason and not reason:
        raise DiscussionError("Give a reason: it is kept in the moderation log.", field="reason")
    try:
        moderator.apply(session, thread, post, reason)
    except ModerationRefused as exc:
        raise DiscussionError(str(exc)) from None
    entry = Moderation(cohort_id=thread.cohort_id, thread_id=thread.id, post_id=post.id if post else None,
                       actor_id=actor.id, action=moderator.action, reason=reason, at=now)
    session.add(entry)
    session.flush()
    # The moderator has dealt with the thread (a duplicate hidden, an answer marked): their own
    # notices of its posts are read, as when they reply.
    mark_keys_read(session, actor.id, [notice_key(post_id) for post_id in
                                       session.scalars(select(Post.id).where(Post.thread_id == thread.id))], now)
    return entry


# ------------------------------------------------------------------ reading


def waiting_for_a_reply() -> ColumnElement[bool]:
    """A thread a learner started that nobody else has answered yet: open (neither hidden nor
    locked), started by someone who is not one of its cohort's instructors, and with no
    visible reply by anyone but its author. What the instructor's home counts as waiting."""
    answered = exists().where(Post.thread_id == Thread.id, Post.opening.is_(False), Post.hidden.is_(False),
                              Post.author_id != Thread.author_id)
    by_staff = exists().where(cohort_instructors.c.cohort_id == Thread.cohort_id,
                              cohort_instructors.c.user_id == Thread.author_id)
    return and_(Thread.hidden.is_(False), Thread.locked.is_(False), ~answered, ~by_staff)


def threads_waiting(session: DbSession, cohort_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Cohort id -> (how many of its threads wait for a reply, the newest of them), for the
    cohorts that have any: one statement, grouped by cohort."""
    if not cohort_ids:
        return {}
    rows = session.execute(select(Thread.cohort_id, func.count(Thread.id), func.max(Thread.id))
                           .where(Thread.cohort_id.in_(list(cohort_ids)), waiting_for_a_reply())
                           .group_by(Thread.cohort_id))
    return {cohort_id: (int(count), newest) for cohort_id, count, newest in rows}


@dataclass(frozen=True)
class ModuleRow:
    module: Module
    threads: int
    last_post_at: datetime | None
    waiting: int = 0  # threads waiting for a reply (``waiting_for_a_reply``)


def cohort_modules(session: DbSession, cohort: Cohort, staff: bool) -> list[ModuleRow]:
    """Every active module with the cohort's thread count, how many wait for a reply, and
    latest activity: one statement."""
    visible = [Thread.cohort_id == cohort.id, Thread.module_id == Module.id]
    if not staff:
        visible.append(Thread.hidden.is_(False))
    rows = session.execute(
        select(Module, func.count(Thread.id), func.max(Thread.last_post_at),
               func.coalesce(func.sum(case((waiting_for_a_reply(), 1), else_=0)), 0))
        .outerjoin(Thread, and_(*visible)).where(Module.retired_at.is_(None))
        .group_by(Module.id).order_by(Module.position))
    return [ModuleRow(m, n, last, int(waiting)) for m, n, last, waiting in rows]


@dataclass(frozen=True)
class ThreadRow:
    thread: Thread
    replies: int
    answered: bool


def module_threads(session: DbSession, cohort: Cohort, module: Module, staff: bool) -> list[ThreadRow]:
    """The module's threads in the cohort, pinned first, then by latest post; with their
    reply count (visible replies) and whether one is marked the answer. Hidden threads
    for staff only. Two statements whatever the number of threads and replies."""
    replies = [Post.thread_id == Thread.id, Post.opening.is_(False)]
    if not staff:
        replies.append(Post.hidden.is_(False))
    reply_count = select(func.count(Post.id)).where(*replies).correlate(Thread).scalar_subquery()
    answered = select(func.count(Post.id)).where(Post.thread_id == Thread.id, Post.is_answer.is_(True)) \
        .correlate(Thread).scalar_subquery()
    query = (select(Thread, reply_count, answered).where(Thread.cohort_id == cohort.id, Thread.module_id == module.id)
             .options(selectinload(Thread.author))
             .order_by(Thread.pinned.desc(), Thread.last_post_at.desc(), Thread.id.desc()))
    if not staff:
        query = query.where(Thread.hidden.is_(False))
    return [ThreadRow(t, n or 0, bool(a)) for t, n, a in session.execute(query)]


def thread_posts(session: DbSession, thread: Thread) -> list[Post]:
    """The opening post, then the replies in order, with their authors: two statements."""
    return list(session.scalars(select(Post).where(Post.thread_id == thread.id)
                                .options(selectinload(Post.author))
                                .order_by(Post.opening.desc(), Post.created_at, Post.id)))


def moderation_log(session: DbSession, thread: Thread) -> list[Moderation]:
    return list(session.scalars(select(Moderation).where(Moderation.thread_id == thread.id)
                                .options(selectinload(Moderation.actor))
                                .order_by(Moderation.at.desc(), Moderation.id.desc())))


def module_by_key(session: DbSession, key: str) -> Module | None:
    return session.scalar(select(Module).where(Module.key == key, Module.retired_at.is_(None)))
