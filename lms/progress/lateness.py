"""Whether each handed-in version is late, against the learner's deadline as it stands.

A version's ``late`` flag (and the ``due_on`` it was judged by) is first set when it is
handed in (``lms.coursework.services.submit``). An extension granted afterwards, changed or
taken away, or a cohort start date that moves, changes that deadline. The learners whose
schedule such a change touches have their kept schedule rewritten in the same unit of work
(``lms.progress.state.refresh``); ``relate`` runs there too and writes the versions whose
lateness or deadline changed. Every reader (the grading queue and its "late only"
filter, the grade page, the gradebook and its exports, the API) reads the stored flag, so
pages stay as fast as before and the schedule stays the one definition of a due date. What
was told outside (an xAPI "submitted" statement) hears of a flipped flag through
``lateness_changed``.

The deadline of a version: the item's due date in the learner's current cohort with their
extension (``Item.scheduled_due_on``), or, for a later version (a revision), the window
of the latest return before it was handed in when that is later.

A team's work (shared work, ``lms.coursework.sharing``) is one hand-in for the whole team,
judged against the team's deadline: the latest of its current members' deadlines (in the
cohort the work is kept in), whoever holds the draft or handed it in. An extension granted
to one member so covers the team's shared work (``team_deadline``; the team page and the
hand-in follow the same rule, ``lms.teams.services.team_dates``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from blinker import Namespace
from sqlalchemy import or_, select, update

from lms.coursework.models import Assignment, Submission, SubmissionVersion
from lms.coursework.services import handed_in_late, revision_days
from lms.database import DbSession
from lms.grading.models import Grade, GradeAction, GradeEvent

# Statements that write only what this module works out: the schedule is not changed by them.
QUIET = "lms.progress.schedule_unchanged"

events = Namespace()
# Sent by ``relate`` with ``session=``, ``now=`` and ``changes=`` ({version id: late now}) once
# it has written versions whose lateness flipped (a deadline that moved without flipping it
# sends nothing); the sender is None. xAPI listens to it (a corrected "submitted" statement).
lateness_changed = events.signal("lateness-changed")


class Deadline(NamedTuple):
    """One learner's assignment in their current cohort: its due date there, and the zone."""

    cohort_id: int
    due_on: date
    zone: str


def team_deadline(deadlines: Mapping[tuple[int, str], Deadline], member_ids: Sequence[int], key: str,
                  cohort_id: int | None) -> Deadline | None:
    """The deadline of a team's shared work for assignment ``key`` kept in ``cohort_id``: the
    latest of its members' deadlines there (a member moved to another cohort has none
    there). None when no member has one."""
    found = [d for d in (deadlines.get((uid, key)) for uid in member_ids) if d is not None and d.cohort_id == cohort_id]
    return max(found, key=lambda d: d.due_on) if found else None


def relate(session: DbSession, deadlines: Mapping[tuple[int, str], Deadline], user_ids: Sequence[int],
           now: datetime, teams: Mapping[int, Sequence[int]] | None = None) -> int:
    """Write the lateness of the versions of ``user_ids`` that their ``deadlines`` (by learner
    and assignment key) change: three statements to read, one to write the versions and one
    to mark their submissions changed (the API lists them again). Work kept in another
    cohort than the learner's current one keeps its flag. ``teams``: the shared work of
    ``user_ids`` (submission id -> every member, ``deadlines`` holding each member's), judged
    by the team's deadline (``team_deadline``). How many versions changed."""
    if not user_ids:
        return 0
    teams = teams or {}
    whose = Submission.user_id.in_(list(user_ids))
    rows = session.execute(
        select(SubmissionVersion.id, SubmissionVersion.submission_id, SubmissionVersion.number, SubmissionVersion.submitted_at,
               SubmissionVersion.due_on, SubmissionVersion.late, Submission.user_id, Submission.cohort_id,
               Submission.returned_at, Assignment.key)
        .join(Submission, Submission.id == SubmissionVersion.submission_id)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(or_(whose, Submission.id.in_(list(teams))) if teams else whose)).all()
    if not rows:
        return 0
    returns: dict[int, list[datetime]] = defaultdict(list)
    for submission_id, returned_at in session.execute(
            select(Grade.submission_id, GradeEvent.at).join(Grade, Grade.id == GradeEvent.grade_id)
            .where(Grade.submission_id.in_({r.submission_id for r in rows}), GradeEvent.action == GradeAction.RETURN)):
        returns[submission_id].append(returned_at)
    window = timedelta(days=revision_days())
    changed: list[dict[str, Any]] = []
    was_late: dict[int, bool] = {}
    touched: set[int] = set()
    for row in rows:
        members = teams.get(row.submission_id)
        deadline = (team_deadline(deadlines, members, row.key, row.cohort_id) if members
                    else deadlines.get((row.user_id, row.key)))
        if deadline is None or deadline.cohort_id != row.cohort_id:
            continue
        due = deadline.due_on
        before = [at for at in (*returns[row.submission_id], row.returned_at) if at is not None and at < row.submitted_at]
        if before and row.number > 1:  # a revision: the first version never is
            due = max(due, max(before).astimezone(ZoneInfo(deadline.zone)).date() + window)
        late = handed_in_late(row.submitted_at, due, deadline.zone)
        if late != row.late or due != row.due_on:
            changed.append({"id": row.id, "late": late, "due_on": due})
            was_late[row.id] = row.late
            touched.add(row.submission_id)
    if changed:
        session.execute(update(SubmissionVersion), changed)  # by primary key, one statement for the batch
        session.execute(update(Submission).where(Submission.id.in_(touched)).values(updated_at=now)
                        .execution_options(synchronize_session=False, **{QUIET: True}))
        ids = {c["id"] for c in changed}
        for kept in list(session.identity_map.values()):  # what this session holds reads the new values
            if isinstance(kept, SubmissionVersion) and kept.id in ids:
                session.expire(kept, ["late", "due_on"])
            elif isinstance(kept, Submission) and kept.id in touched:
                session.expire(kept, ["updated_at"])
        flipped = {c["id"]: c["late"] for c in changed if c["late"] != was_late[c["id"]]}
        if flipped:
            lateness_changed.send(None, session=session, now=now, changes=flipped)
    return len(changed)
