"""Discussion threads per module within a cohort, their posts, and the moderation log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import Module
from lms.cohorts.models import Cohort
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class Thread(Model):
    """A question or topic about one module, seen by one cohort's learners and staff. Its
    first post (``opening``) carries the body; ``last_post_at`` orders the list."""

    __tablename__ = "discussion_threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_post_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pinned: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
    cohort: Mapped[Cohort] = relationship()
    module: Mapped[Module] = relationship()
    author: Mapped[User] = relationship()


class Post(Model):
    """The opening post or a reply. ``revision`` goes up with every edit of the text, which
    is written only where the row still has the revision the author saw (moderation flags
    do not change it)."""

    __tablename__ = "discussion_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("discussion_threads.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    opening: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    is_answer: Mapped[bool] = mapped_column(default=False)
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(default=1)
    thread: Mapped[Thread] = relationship()
    author: Mapped[User] = relationship()


def notice_key(post_id: int) -> str:
    """The key of the notices a reply made (``lms.notifications``): one per participant."""
    return f"discussion-post:{post_id}"


class ModerationAction(StrEnum):
    PIN = "pin"
    UNPIN = "unpin"
    LOCK = "lock"
    UNLOCK = "unlock"
    HIDE_THREAD = "hide_thread"
    SHOW_THREAD = "show_thread"
    MARK_ANSWER = "mark_answer"
    UNMARK_ANSWER = "unmark_answer"
    HIDE_POST = "hide_post"
    SHOW_POST = "show_post"


class Moderation(Model):
    """The audit trail of moderation: who did what to which thread or post, when and why."""

    __tablename__ = "discussion_moderations"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("discussion_threads.id"), index=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("discussion_posts.id"), default=None)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[ModerationAction] = mapped_column(enum_type(ModerationAction, length=20, name="action"))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[User] = relationship()
