"""Enrolment: a learner's one active enrolment, enrolling, moving between cohorts of an
organization, and a cohort's current learners. Only flushes; the caller commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from blinker import Namespace
from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.orm import joinedload, selectinload

from lms.accounts.models import User
from lms.audit.models import AuditAction
from lms.audit.services import record_all_from, record_from
from lms.cohorts.models import Cohort, Enrolment, MemberMark, Pace, cohort_instructors
from lms.cohorts.services import CohortError
from lms.database import DbSession, folded_name, rowcount, upsert_insert, utcnow

events = Namespace()
# Sent by ``move_learner`` once the learner's new enrolment is flushed, with ``session=``,
# ``source=`` and ``target=`` (the cohorts) and ``now=``; the sender is the learner. A
# feature above whose rows name the learner's cohort (coursework: their submissions)
# carries its own rows to ``target`` in the move's unit of work (flush only, a fixed number
# of statements) and answers with a ``Carried`` for the move's message, or None.
learner_moved = events.signal("learner-moved")
# Sent by ``end_enrolment`` and ``move_learner`` once the learner's enrolment is ended (flushed),
# with ``session=``, ``enrolment=`` (the ended one) and ``now=``; the sender is the learner.
# A feature above that keeps its own record of who left a cohort (the API's removals)
# writes it in the same unit of work.
enrolment_ended = events.signal("enrolment-ended")


@dataclass(frozen=True)
class Carried:
    """What one feature did with a moved learner's rows, as the move's message tells it."""

    summary: str


@dataclass(frozen=True)
class Moved:
    """A move: the learner's new enrolment and what each feature carried (or kept) for it."""

    enrolment: Enrolment
    carried: list[Carried]

    @property
    def summary(self) -> str:
        return " ".join(c.summary for c in self.carried)


def enrolled_where(current: Cohort, asking: Cohort) -> str:
    """Where someone is enrolled, as the staff of ``asking`` may be told it: another
    organization's cohort is not named."""
    if current.id == asking.id:
        return "this cohort"
    if current.organization_id == asking.organization_id:
        return current.name
    return "a cohort of another organization"


def active_enrolment(session: DbSession, user_id: int) -> Enrolment | None:
    """The learner's current enrolment, with its cohort (which nearly every caller reads) in the same statement."""
    return session.scalar(select(Enrolment).where(Enrolment.user_id == user_id, Enrolment.active)
                          .options(joinedload(Enrolment.cohort, innerjoin=True)))


def last_enrolment(session: DbSession, user_id: int) -> Enrolment | None:
    """The person's most recent enrolment, current or ended (a former learner's: the program
    they finished or left), with its cohort, in one statement; None for someone never enrolled."""
    return session.scalar(select(Enrolment).where(Enrolment.user_id == user_id)
                          .order_by(Enrolment.ended_at.is_(None).desc(), Enrolment.ended_at.desc(), Enrolment.id.desc())
                          .limit(1).options(joinedload(Enrolment.cohort, innerjoin=True)))


def teaches(session: DbSession, cohort_id: int, user_id: int) -> bool:
    """Whether the person is one of the cohort's instructors: one statement."""
    return bool(session.scalar(select(exists().where(cohort_instructors.c.cohort_id == cohort_id,
                                                     cohort_instructors.c.user_id == user_id))))


INSTRUCTOR_NOT_LEARNER = "an instructor of this cohort, who cannot also be one of its learners"


def _teaches_it(cohort: Cohort, user: User) -> str:
    return (f"{user.email} is {INSTRUCTOR_NOT_LEARNER} ({cohort.name}): take them off its "
            "instructors first if they mean to learn in it.")


def _enrolled_already(current: Enrolment, cohort: Cohort, user: User) -> str:
    return f"{user.email} is already enrolled in {enrolled_where(current.cohort, cohort)}."


def _archived(cohort: Cohort) -> str:
    return f"{cohort.name} is archived; it takes no new learners."


def _not_its_instructor(session: DbSession, cohort: Cohort, user: User) -> None:
    """The rule invitations and the CSV import keep (``lms.cohorts.invitations``): nobody
    learns in a cohort they teach, however they would join it."""
    if teaches(session, cohort.id, user.id):
        raise CohortError(_teaches_it(cohort, user))


def hold_enrolment(session: DbSession, user_id: int) -> Enrolment | None:
    """The learner's current enrolment, its row taken for this unit of work (a write that
    changes nothing), for work that is filed under the learner's cohort as it is made (a
    first submission, a quiz attempt): a move of the learner (``move_learner`` ends this
    row) begun meanwhile waits until this unit of work commits and then carries what it
    made, and one committed meanwhile is waited for and its new enrolment read here, so
    the work lands in the cohort the learner is enrolled in when it is made. On PostgreSQL
    the write that waited for a move finds the row ended and is made again (a new
    statement sees the new enrolment); on SQLite the write waits for the database's write
    lock and then reads what the move committed. At most two statements, then the read.
    The write goes on the session's connection, past the ORM's statement events: it changes
    nothing, so nothing (the kept schedule state, ``lms.progress.state``) has anything to note."""
    for _ in range(2):
        taken = session.connection().execute(
            update(Enrolment).where(Enrolment.user_id == user_id, Enrolment.active)
            .values(started_at=Enrolment.started_at).returning(Enrolment.id)).scalar()
        if taken is not None:
            return session.scalar(select(Enrolment).where(Enrolment.id == taken)
                                  .options(joinedload(Enrolment.cohort, innerjoin=True))
                                  .execution_options(populate_existing=True))
    return None


def enrol(session: DbSession, cohort: Cohort, user: User, now: datetime | None = None,
          pace: Pace = Pace.CATCH_UP, actor_id: int | None = None) -> Enrolment:
    """Start the person's enrolment in ``cohort``: refused when it is archived, when they are
    enrolled already, and when they teach it. Audited as ``actor_id``'s action when given
    (the person's own acceptance of an invitation, made before they are signed in), else
    as the request's signed-in person's."""
    if cohort.archived:
        raise CohortError(_archived(cohort))
    _not_its_instructor(session, cohort, user)
    current = active_enrolment(session, user.id)
    if current is not None:
        raise CohortError(_enrolled_already(current, cohort, user))
    enrolment = Enrolment(cohort=cohort, user=user, started_at=now or utcnow(), pace=pace)
    session.add(enrolment)
    session.flush()
    record_from(session, action=AuditAction.LEARNER_ENROLLED, organization_id=cohort.organization_id,
                target=f"user:{user.id} cohort:{cohort.id}", before=None,
                after={"cohort": cohort.id, "pace": enrolment.pace, "started_at": enrolment.started_at},
                actor_id=actor_id)
    return enrolment


@dataclass(frozen=True)
class Enrolled:
    """What ``enrol_all`` did: who it enrolled, and why the others were refused (by user
    id); those already learning in the cohort are in neither."""

    users: list[User]
    refused: dict[int, str]


def enrol_all(session: DbSession, cohort: Cohort, users: Iterable[User], now: datetime | None = None,
              pace: Pace = Pace.CATCH_UP) -> Enrolled:
    """``enrol`` for several people at once (a platform's roster, lms/lti), by the same rules,
    in a fixed number of statements whatever their number: someone already learning in
    ``cohort`` is passed over, someone who teaches it or learns in another cohort is refused
    with why. One audit entry each, as the request's signed-in person's action."""
    people = list({user.id: user for user in users}.values())
    if not people:
        return Enrolled([], {})
    if cohort.archived:
        return Enrolled([], {user.id: _archived(cohort) for user in people})
    ids = [user.id for user in people]
    teaching = set(session.scalars(select(cohort_instructors.c.user_id).where(
        cohort_instructors.c.cohort_id == cohort.id, cohort_instructors.c.user_id.in_(ids))))
    current = {e.user_id: e for e in session.scalars(select(Enrolment).where(Enrolment.user_id.in_(ids), Enrolment.active)
                                                       .options(joinedload(Enrolment.cohort, innerjoin=True)))}
    refused: dict[int, str] = {}
    joining = []
    for user in people:
        if user.id in teaching:
            refused[user.id] = _teaches_it(cohort, user)
        elif user.id in current:
            if current[user.id].cohort_id != cohort.id:
                refused[user.id] = _enrolled_already(current[user.id], cohort, user)
        else:
            joining.append(user)
    if joining:
        started = now or utcnow()
        # One INSERT (the ORM's flush would insert row by row); the schedule state notes
        # the learners from its parameters (``lms.progress.state``).
        session.execute(insert(Enrolment), [{"cohort_id": cohort.id, "user_id": user.id, "started_at": started,
                                             "pace": pace} for user in joining])
        record_all_from(session, action=AuditAction.LEARNER_ENROLLED, organization_id=cohort.organization_id,
                        actor_id=None, changes=[(f"user:{user.id} cohort:{cohort.id}", None,
                                                 {"cohort": cohort.id, "pace": pace, "started_at": started})
                                                for user in joining])
    return Enrolled(joining, refused)


def move_learner(session: DbSession, user: User, source: Cohort, target: Cohort, now: datetime | None = None,
                 pace: Pace = Pace.CATCH_UP) -> Moved:
    """End the learner's enrolment in ``source`` and start one in ``target``; their time
    allowance on timed quizzes goes with them, and each feature whose rows name the cohort
    carries its own (``learner_moved``: coursework takes their submissions, with the grades
    and feedback on them). ``pace`` sets their dates if ``target`` has already started.
    Ending the enrolment is a conditional write: of two moves of one learner at once the
    second waits for the first and is then refused, so nothing is moved twice."""
    now = now or utcnow()
    if source.id == target.id:
        raise CohortError("Choose a different cohort to move the learner to.")
    if source.organization_id != target.organization_id:
        raise CohortError("A learner can only be moved to a cohort of the same organization.")
    if target.archived:
        raise CohortError(_archived(target))
    _not_its_instructor(session, target, user)  # before anything is ended
    current = active_enrolment(session, user.id)
    if current is None or current.cohort_id != source.id:
        raise CohortError(f"{user.email} is not enrolled in {source.name}.")
    hold_member_marks(session, [source.id, target.id])
    ended = session.execute(update(Enrolment).where(Enrolment.id == current.id, Enrolment.active)
                            .values(ended_at=now, ended_reason=f"moved to {target.name}"[:REASON_CHARS].rstrip())
                            .execution_options(synchronize_session=False))
    if rowcount(ended) == 0:
        raise CohortError(f"{user.email} was moved or removed from {source.name} meanwhile; open the cohort again.")
    session.refresh(current, ["ended_at", "ended_reason"])
    enrolment_ended.send(user, session=session, enrolment=current, now=now)
    record_from(session, action=AuditAction.LEARNER_MOVED, organization_id=source.organization_id,
                target=f"user:{user.id} cohort:{source.id}", before={"cohort": source.id}, after={"cohort": target.id})
    moved = enrol(session, target, user, now, pace)
    moved.time_allowance = current.time_allowance  # an accommodation belongs to the person, not to the cohort
    session.flush()
    answers = learner_moved.send(user, session=session, source=source, target=target, now=now)
    return Moved(moved, [answer for _receiver, answer in answers if isinstance(answer, Carried)])


REASON_CHARS = 40  # Enrolment.ended_reason


def hold_member_marks(session: DbSession, cohort_ids: Iterable[int]) -> None:
    """Take the cohorts' member marks (``MemberMark``, which the database's triggers draw
    again when a member joins or leaves) for this unit of work, in the cohorts' order, before
    a write that changes the members of two cohorts (a move): the triggers would take them in
    the order the rows are written, so two moves the opposite ways at once could each hold
    the mark the other waits for. A cohort with no mark yet is given one. Two statements; on
    SQLite, which has one writer at a time, the first only."""
    ids = sorted(set(cohort_ids))
    session.execute(upsert_insert(session)(MemberMark).on_conflict_do_nothing(index_elements=["cohort_id"]),
                    [{"cohort_id": cohort_id, "revision": 0} for cohort_id in ids])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(MemberMark.cohort_id).where(MemberMark.cohort_id.in_(ids))
                        .order_by(MemberMark.cohort_id).with_for_update())


def end_enrolment(session: DbSession, user: User, cohort: Cohort, reason: str, now: datetime | None = None) -> Enrolment:
    """End the learner's enrolment in ``cohort`` (they withdrew, or left the organization):
    they no longer open the cohort's pages or count among its learners, and they can then
    join another cohort, of this organization or another. What they did there stays on their
    record: their work, grades, evidence and certificates; the cohort's competency figures
    (its trend's months gone by too) count its current learners only. A conditional
    write, as a move is: of an ending and a move of one learner at once, the second is refused."""
    reason = " ".join(reason.split())
    if not reason:
        raise CohortError("Say why the enrolment ends, for example: withdrew from the program.")
    if len(reason) > REASON_CHARS:
        raise CohortError(f"Keep the reason to {REASON_CHARS} characters.")
    current = active_enrolment(session, user.id)
    if current is None or current.cohort_id != cohort.id:
        raise CohortError(f"{user.email} is not enrolled in {cohort.name}.")
    ended = session.execute(update(Enrolment).where(Enrolment.id == current.id, Enrolment.active)
                            .values(ended_at=now or utcnow(), ended_reason=reason)
                            .execution_options(synchronize_session=False))
    if rowcount(ended) == 0:
        raise CohortError(f"{user.email} was moved or removed from {cohort.name} meanwhile; open the cohort again.")
    session.refresh(current, ["ended_at", "ended_reason"])
    enrolment_ended.send(user, session=session, enrolment=current, now=current.ended_at)
    record_from(session, action=AuditAction.ENROLMENT_ENDED, organization_id=cohort.organization_id,
                target=f"user:{user.id} cohort:{cohort.id}", before={"cohort": cohort.id}, after={"reason": reason})
    return current


def cohort_learners(session: DbSession, cohort: Cohort) -> list[Enrolment]:
    """The cohort's current learners by name (``folded_name``, as every list of a cohort's
    learners), with their user rows, in one statement."""
    return list(session.scalars(
        select(Enrolment).join(Enrolment.user)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.active)
        .options(selectinload(Enrolment.user)).order_by(folded_name(User.name), User.id)))


@dataclass(frozen=True)
class Roster:
    """One page of a cohort's current learners, its number, how many learners there are
    and how many of them have a closed account (deactivated, or erased: still enrolled, so
    the cohort's history counts them, but nobody to teach or chase)."""

    learners: list[Enrolment]
    page: int
    total: int
    closed: int

    @property
    def open(self) -> int:
        return self.total - self.closed


def roster_page(session: DbSession, cohort: Cohort, page: int, per_page: int) -> Roster:
    """One page of the cohort's current learners by name (out of range: the nearest page),
    with the roster's figures (``Roster``): three statements whatever the cohort's size."""
    current = (Enrolment.cohort_id == cohort.id, Enrolment.active)
    total, closed = session.execute(select(func.count(), func.count(User.deactivated_at)).select_from(Enrolment)
                                    .join(User, User.id == Enrolment.user_id).where(*current)).one()
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    found = list(session.scalars(
        select(Enrolment).join(Enrolment.user).where(*current)
        .options(selectinload(Enrolment.user)).order_by(folded_name(User.name), User.id)
        .offset((page - 1) * per_page).limit(per_page)))
    return Roster(found, page, int(total or 0), int(closed or 0))


def learners_page(session: DbSession, cohort: Cohort, page: int, per_page: int) -> tuple[list[Enrolment], int, int]:
    """One page of the cohort's current learners by name (out of range: the nearest page),
    the page's number and how many learners there are: three statements whatever the
    cohort's size."""
    roster = roster_page(session, cohort, page, per_page)
    return roster.learners, roster.page, roster.total


def is_learner_of(session: DbSession, cohort_id: int, user_id: int) -> bool:
    return bool(session.scalar(select(exists().where(
        Enrolment.cohort_id == cohort_id, Enrolment.user_id == user_id, Enrolment.active))))
