"""Single-use, expiring, revocable links that need no account: a stakeholder's feedback
link here, an expert's evaluation link in lms/expert. What a link's state is and how it is
claimed once is the same for both; each feature subclasses the problems below to give
them its own base error, the status its lists show and the message the visitor reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, cast

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import object_mapper
from sqlalchemy.orm.attributes import set_committed_value

from lms.database import DbSession


class SingleUseLink(Protocol):
    """A mapped invitation row: only the hash of its token is kept, and its state is
    worked out from these dates (never stored)."""

    @property
    def id(self) -> int: ...

    @property
    def expires_at(self) -> datetime: ...

    @property
    def used_at(self) -> datetime | None: ...

    @property
    def revoked_at(self) -> datetime | None: ...


S = TypeVar("S", bound=StrEnum)


# A registry of small classes, checked in order: each knows when it applies to a link,
# the HTTP status of the page that says so; a feature's subclass adds what its lists call
# that state (``status``) and the message the visitor reads.


class LinkProblem(ValueError):
    status: ClassVar[Any] = None  # the feature's status enum member; None for an unknown link
    http_status: ClassVar[int] = 410
    message: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__(self.message)

    @staticmethod
    def applies(link: SingleUseLink, now: datetime) -> bool:
        return False


class UnknownLinkProblem(LinkProblem):
    http_status = 404


class UsedLinkProblem(LinkProblem):
    @staticmethod
    def applies(link: SingleUseLink, now: datetime) -> bool:
        return link.used_at is not None


class RevokedLinkProblem(LinkProblem):
    @staticmethod
    def applies(link: SingleUseLink, now: datetime) -> bool:
        return link.revoked_at is not None


class ExpiredLinkProblem(LinkProblem):
    @staticmethod
    def applies(link: SingleUseLink, now: datetime) -> bool:
        return link.expires_at <= now


P = TypeVar("P", bound=LinkProblem)


def problem_of(problems: Sequence[type[P]], link: SingleUseLink, now: datetime) -> type[P] | None:
    """The first problem that applies (used before withdrawn before expired: a used link
    stays used whatever happens later), or None for a link that still works."""
    return next((p for p in problems if p.applies(link, now)), None)


def status_of(problems: Sequence[type[LinkProblem]], waiting: S, link: SingleUseLink, now: datetime) -> S:
    problem = problem_of(problems, link, now)
    return cast(S, problem.status) if problem is not None and problem.status is not None else waiting


def claim(session: DbSession, link: SingleUseLink, now: datetime) -> bool:
    """Mark the link used with a conditional UPDATE, so a second submit (a double click, a
    second tab) finds it used: True when this call claimed it."""
    table: type[Any] = object_mapper(link).class_  # the mapped class, whose columns the protocol names
    # cast: an UPDATE answers with a CursorResult (it has the rowcount); Session.execute is typed as any Result.
    claimed = cast(CursorResult[Any], session.execute(
        update(table)
        .where(table.id == link.id, table.used_at.is_(None), table.revoked_at.is_(None), table.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)))
    if claimed.rowcount != 1:
        return False
    set_committed_value(link, "used_at", now)
    return True
