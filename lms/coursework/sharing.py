"""Work shared by several learners: one submission, held by one of them (its ``user_id``),
that is the work of each (a team's, ``lms.teams``). A feature whose learners share work
registers a ``SharedWork`` here in its ``init_app``; every lookup of a learner's work
(progress, grading's feedback page, the gradebook, notifications, the demo) goes through
``work_by_learner`` / ``work_rows_by_learner`` / ``work_for``, so each sharer counts as having done it, and through
``groups_of`` to name the group and read each member's own score.

Set-based: each lookup costs one statement for the learners' own work plus a fixed number
for the shared work, whatever the number of learners. ``sharers`` gives the same sharing
as a subquery, for statements that page over work per learner (the REST API's lists)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from blinker import Namespace
from sqlalchemy import Select, Subquery, select, union_all
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.coursework.models import Assignment, Submission, SubmissionStatus
from lms.database import DbSession


@dataclass(frozen=True)
class Adjustment:
    """A member's share moved from the group's grade, with the staff's note."""

    points: float
    note: str


@dataclass(frozen=True)
class Group:
    """The learners whose work one submission is, and each one's adjustment."""

    name: str
    members: list[User]
    adjustments: dict[int, Adjustment] = field(default_factory=dict)
    # What graders should know of how the group was made (a team handed in with fewer
    # members than the assignment asks, nobody being left to join it); empty: nothing.
    note: str = ""

    @property
    def member_ids(self) -> list[int]:
        return [m.id for m in self.members]

    @property
    def names(self) -> str:
        return ", ".join(m.name for m in self.members)

    def score_of(self, user_id: int, score: float | None, max_score: float) -> float | None:
        """``user_id``'s score: the group's moved by their adjustment, within 0 and the maximum."""
        adjustment = self.adjustments.get(user_id)
        return member_score(score, max_score, adjustment.points if adjustment else None)


def member_score(score: float | None, max_score: float, points: float | None) -> float | None:
    """A member's score: the group's ``score`` moved by their adjustment's ``points`` (None:
    none), within 0 and the maximum."""
    if score is None or points is None:
        return score
    return max(0.0, min(max_score, score + points))


class SharedWork(Protocol):
    def sharers(self, learner_ids: Collection[int] | None) -> Select[int | None, int, datetime, float]:
        """A statement of ``submission_id``, ``learner_id``, ``changed_at`` and ``points``
        (labelled so): a row for every shared submission and each learner whose work it is
        (held by them or by another member), only ``learner_ids``' rows when given;
        ``changed_at`` is when that learner's share of the grade last changed (an adjustment),
        else null, and ``points`` how far it moves their score from the group's (null: not at all)."""

    def groups(self, session: DbSession, submission_ids: Collection[int]) -> dict[int, Group]:
        """Submission id -> its group, for the shared ones among ``submission_ids``."""


_REGISTRY: dict[str, SharedWork] = {}

events = Namespace()
# Sent by a feature whose learners share work when some stop sharing a submission they
# saw as theirs (a team's draft discarded: every member but its holder, whose row goes with
# the submission; a member taken out of a team: them), with ``session=``,
# ``submission_id=`` and ``learner_ids=``; the sender is the feature's name. The REST API
# lists it as removed from each of those learners' own work (``lms.api.removals``).
work_unshared = events.signal("work-unshared")


def register(name: str, provider: SharedWork) -> None:
    """Called from a feature's ``init_app`` (again for every app: the same name replaces)."""
    _REGISTRY[name] = provider


def sharers(learner_ids: Collection[int] | None = None) -> Subquery | None:
    """Every registered kind of sharing's ``sharers`` as one subquery (columns
    ``submission_id``, ``learner_id``, ``changed_at``, ``points``), to join in a statement that lists
    work per learner (the API's lists page over it); None when no feature shares work."""
    statements = [provider.sharers(learner_ids) for provider in _REGISTRY.values()]
    if not statements:
        return None
    return (statements[0] if len(statements) == 1 else union_all(*statements)).subquery("sharers")


def shared_with(session: DbSession, learner_ids: Collection[int]) -> list[tuple[int, int]]:
    """(learner id, submission id) for every shared submission that is the work of one of
    ``learner_ids``: one statement."""
    found = sharers(learner_ids)
    if found is None:
        return []
    return [(uid, sid) for uid, sid in session.execute(select(found.c.learner_id, found.c.submission_id))]


class _Work(Protocol):
    """What a lookup of work needs to know of each: which submission, whose, for what."""

    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> int: ...

    @property
    def assignment_id(self) -> int: ...


_W = TypeVar("_W", bound=_Work)


class WorkRow(NamedTuple):
    """A learner's work as most readers need it (the gradebook's cells, the schedule
    state): which submission, whose, for what, and its status, read as a plain row. A
    cohort's work is thousands of submissions; as ORM objects they cost a third of the
    gradebook's time."""

    id: int
    user_id: int
    assignment_id: int
    status: SubmissionStatus
    returned_at: datetime | None = None  # when it was last returned for revision
    cohort_id: int | None = None  # the cohort whose staff grade it


def _by_learner(user_ids: Collection[int], read: Callable[..., Iterable[_W]], criteria: Sequence[Any],
                session: DbSession) -> dict[tuple[int, int], _W]:
    """``work_by_learner`` with the submissions read by ``read(*where)``."""
    ids = list(user_ids)
    if not ids:
        return {}
    work = {(s.user_id, s.assignment_id): s for s in read(Submission.user_id.in_(ids), *criteria)}
    pairs = shared_with(session, ids)
    if not pairs:
        return work
    loaded = {s.id: s for s in work.values()}
    missing = {sid for _uid, sid in pairs if sid not in loaded}
    if missing:
        loaded |= {s.id: s for s in read(Submission.id.in_(missing), *criteria)}
    for uid, sid in pairs:
        if sid in loaded:
            work[(uid, loaded[sid].assignment_id)] = loaded[sid]
    return work


def work_by_learner(session: DbSession, user_ids: Collection[int], *criteria: Any,
                    options: Sequence[Any] = ()) -> dict[tuple[int, int], Submission]:
    """(learner id, assignment id) -> the learner's work: their own submission, or the
    shared one they are a member of (which wins: it is what is handed in and graded).
    ``criteria`` narrow the submissions (e.g. ``Submission.cohort_id == 3``)."""
    return _by_learner(user_ids, lambda *where: session.scalars(select(Submission).where(*where).options(*options)),
                       criteria, session)


def work_rows_by_learner(session: DbSession, user_ids: Collection[int], *criteria: Any) -> dict[tuple[int, int], WorkRow]:
    """``work_by_learner`` as plain rows (``WorkRow``), for readers that need no more."""
    columns = (Submission.id, Submission.user_id, Submission.assignment_id, Submission.status, Submission.returned_at,
               Submission.cohort_id)
    return _by_learner(user_ids, lambda *where: [WorkRow(*row) for row in session.execute(select(*columns).where(*where))],
                       criteria, session)


def work_for(session: DbSession, assignment: Assignment, user_id: int) -> Submission | None:
    """One learner's work for one assignment (their own or their group's)."""
    return work_by_learner(session, [user_id], Submission.assignment_id == assignment.id,
                           options=(selectinload(Submission.versions), selectinload(Submission.attachments))
                           ).get((user_id, assignment.id))


def groups_of(session: DbSession, submission_ids: Collection[int]) -> dict[int, Group]:
    """Submission id -> the group whose work it is, for the shared ones."""
    ids = set(submission_ids)
    if not ids:
        return {}
    found: dict[int, Group] = {}
    for provider in _REGISTRY.values():
        found |= provider.groups(session, ids)
    return found


def learner_ids(submission: Submission, group: Group | None) -> list[int]:
    """Everyone whose work ``submission`` is."""
    return group.member_ids if group is not None and group.members else [submission.user_id]
