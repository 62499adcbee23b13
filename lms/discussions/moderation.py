"""Moderation actions: a registry of small classes, one per action. Each checks the
action makes sense (refusing with a message otherwise) and applies it to the thread or
post; the service logs every one with its actor, time and reason."""

from __future__ import annotations

from abc import ABC, abstractmethod

from sqlalchemy import select, update

from lms.database import DbSession
from lms.discussions.models import ModerationAction, Post, Thread, notice_key
from lms.notifications.services import withdraw


class ModerationRefused(ValueError):
    """The action does not apply (already done, wrong target, no reason)."""


class Moderator(ABC):
    action: ModerationAction
    label: str
    done: str  # what the moderator is told once it is done
    on_post: bool = False        # True: the action is on a reply; False: on the thread
    needs_reason: bool = False

    @abstractmethod
    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None: ...


class _Flag(Moderator):
    """Set a thread's flag to ``value``, refusing when it already is."""

    attribute: str
    value: bool
    already: str

    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None:
        if getattr(thread, self.attribute) == self.value:
            raise ModerationRefused(self.already)
        setattr(thread, self.attribute, self.value)
        if self.attribute == "hidden":
            thread.hidden_reason = reason if self.value else ""


class Pin(_Flag):
    done = "Pinned: the thread is listed first."
    action, label, attribute, value, already = (ModerationAction.PIN, "Pin", "pinned", True,
                                                "This thread is already pinned.")


class Unpin(_Flag):
    done = "Unpinned."
    action, label, attribute, value, already = (ModerationAction.UNPIN, "Unpin", "pinned", False,
                                                "This thread is not pinned.")


class Lock(_Flag):
    done = "Locked: the thread takes no new replies."
    action, label, attribute, value, already = (ModerationAction.LOCK, "Lock", "locked", True,
                                                "This thread is already locked.")


class Unlock(_Flag):
    done = "Unlocked: the thread takes replies again."
    action, label, attribute, value, already = (ModerationAction.UNLOCK, "Unlock", "locked", False,
                                                "This thread is not locked.")


class HideThread(_Flag):
    """Hide the thread, and take back the notices its posts made: its replies' would show
    hidden text in the participants' centres and link to a thread learners cannot open, and
    its opening's ("started a thread", to the cohort's other instructors) would ask them, still
    unread, to answer a thread dealt with (a duplicate, spam). Shown again, it is not notified
    again."""

    done = "The thread is hidden from learners."
    action, label, attribute, value, already = (ModerationAction.HIDE_THREAD, "Hide thread", "hidden", True,
                                                "This thread is already hidden.")
    needs_reason = True

    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None:
        super().apply(session, thread, post, reason)
        withdraw(session, [notice_key(post_id) for post_id in session.scalars(
            select(Post.id).where(Post.thread_id == thread.id))])


class ShowThread(_Flag):
    done = "The thread is shown to learners again."
    action, label, attribute, value, already = (ModerationAction.SHOW_THREAD, "Show thread", "hidden", False,
                                                "This thread is not hidden.")


class MarkAnswer(Moderator):
    done = "Marked as the answer."
    action, label, on_post = ModerationAction.MARK_ANSWER, "Mark as the answer", True

    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None:
        assert post is not None
        if post.opening:
            raise ModerationRefused("The question itself cannot be its answer: mark a reply.")
        if post.hidden:
            raise ModerationRefused("A hidden reply cannot be the answer.")
        if post.is_answer:
            raise ModerationRefused("This reply is already the answer.")
        # One answer per thread: a previous one stops being it.
        session.execute(update(Post).where(Post.thread_id == thread.id, Post.is_answer.is_(True), Post.id != post.id)
                        .values(is_answer=False).execution_options(synchronize_session="fetch"))
        post.is_answer = True


class UnmarkAnswer(Moderator):
    done = "No longer marked as the answer."
    action, label, on_post = ModerationAction.UNMARK_ANSWER, "Not the answer", True

    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None:
        assert post is not None
        if not post.is_answer:
            raise ModerationRefused("This reply is not marked as the answer.")
        post.is_answer = False


class HidePost(Moderator):
    """Hide the reply, and take back the notices it made: they would show its hidden text
    in the participants' centres (shown again, it is not notified again)."""

    done = "The reply is hidden from learners."
    action, label, on_post, needs_reason = ModerationAction.HIDE_POST, "Hide", True, True

    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None:
        assert post is not None
        if post.opening:
            raise ModerationRefused("To hide the question, hide the thread.")
        if post.hidden:
            raise ModerationRefused("This reply is already hidden.")
        post.hidden, post.is_answer, post.hidden_reason = True, False, reason
        withdraw(session, [notice_key(post.id)])


class ShowPost(Moderator):
    done = "The reply is shown to learners again."
    action, label, on_post = ModerationAction.SHOW_POST, "Show", True

    def apply(self, session: DbSession, thread: Thread, post: Post | None, reason: str) -> None:
        assert post is not None
        if not post.hidden:
            raise ModerationRefused("This reply is not hidden.")
        post.hidden, post.hidden_reason = False, ""


MODERATORS: dict[ModerationAction, Moderator] = {m.action: m for m in (
    Pin(), Unpin(), Lock(), Unlock(), HideThread(), ShowThread(), MarkAnswer(), UnmarkAnswer(), HidePost(), ShowPost())}
