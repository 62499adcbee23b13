"""Team projects: forming teams, the team's one submission, teammates' contribution
ratings and staff's per-member adjustments of the shared grade. Services take a session
and plain values and only flush.

Races: every change of a team's membership first writes the team's row (``revision + 1``),
so concurrent changes of one team queue on it (a row lock on PostgreSQL, the write lock on
SQLite) and each reads the members the previous one left; a learner's one team per
assignment is a unique constraint, caught and answered. Every change of the team's work is
a conditional write on ``draft_revision``: of two members saving from the same view, one
is written and the other refused, never silently overwritten."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Any

from blinker import Namespace
from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.accounts.services import tidy_name
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.models import Enrolment
from lms.coursework import services as coursework
from lms.coursework.models import Assignment, Submission, SubmissionVersion
from lms.coursework.services import Dates, SubmissionError
from lms.coursework.sharing import work_unshared
from lms.database import DbSession, rowcount
from lms.grading.models import Grade, GradeStatus
from lms.learning.services import Schedule
from lms.progress.evidence import Outcome, criteria_ids, grade_outcome, levels_of
from lms.progress.models import ItemKind
from lms.progress.state import scheduled_items
from lms.storage.backends import Storage
from lms.teams.models import ContributionRating, GradeAdjustment, Team, TeamMember
from lms.web.page_cache import fingerprint

events = Namespace()
# Sent by ``adjust`` when a released team grade's member is adjusted, with ``session=``,
# ``now=`` and ``user_id=`` (the member); the sender is the grade. Their grade changed after
# it was released: the notices, the platform's gradebook (LTI), webhooks and xAPI say so for
# that member, as ``grade_saved`` does for every member at the release.
adjustment_saved = events.signal("adjustment-saved")

MAX_NAME = 100
MAX_COMMENT = 2000
RATING_SCALE = range(1, 6)


class TeamError(ValueError):
    """A change the user can fix or should know about; nothing of it was kept. ``field``:
    the form field it is about (``"name"``, a team's name), when it is about one, for the
    page to show it there and mark that field invalid."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StaleTeamWork(TeamError):
    """Another member changed the team's work after this member opened it."""

    def __init__(self) -> None:
        super().__init__("Not saved: a teammate saved the team's work after you opened it, so yours would have "
                         "overwritten theirs. Their version is shown below and your text is kept in the form: "
                         "merge what you need and save again.")


class StaleAdjustment(TeamError):
    def __init__(self) -> None:
        super().__init__("Not saved: someone else changed this adjustment after you opened it. "
                         "The current one is shown; save again to replace it.")


def _busy(exc: OperationalError) -> TeamError:
    if "database is locked" not in str(exc.orig):
        raise exc
    return TeamError("Not saved: the site was busy with other work for too long. Try again.")


# --------------------------------------------------------------------------- reading


def team_assignments(session: DbSession) -> list[Assignment]:
    return list(session.scalars(select(Assignment).where(Assignment.retired_at.is_(None), Assignment.team_max.is_not(None))
                                .options(selectinload(Assignment.module), selectinload(Assignment.phase))
                                .order_by(Assignment.position)))


def _team_query() -> Select[Team]:
    return select(Team).options(selectinload(Team.members).selectinload(TeamMember.user),
                                selectinload(Team.submission).selectinload(Submission.versions),
                                selectinload(Team.submission).selectinload(Submission.attachments))


def teams_for(session: DbSession, assignment_id: int, cohort_id: int) -> list[Team]:
    """The cohort's teams for one assignment with members and work, in a fixed number of statements."""
    return list(session.scalars(_team_query().where(Team.assignment_id == assignment_id, Team.cohort_id == cohort_id)
                                .order_by(Team.name)))


def team_dates(session: DbSession, assignment: Assignment, team: Team | None, plan: Schedule) -> Dates | None:
    """The dates the team's work is judged by, as one member (``plan``: their schedule)
    sees them: their own (``coursework.dates_for``, a revision window included), due by the
    team's deadline, the latest of its current members' due dates in the team's cohort (the
    kept schedule state: one statement), whoever holds the draft or hands it in. An
    extension granted to one member so covers the team's shared work; the lateness of what
    the team handed in follows the same rule (``lms.progress.lateness.team_deadline``)."""
    dates = coursework.dates_for(assignment, plan, team.submission if team else None)
    if dates is None or team is None:
        return dates
    item = (ItemKind.ASSIGNMENT, assignment.key)
    kept = scheduled_items(session, team.cohort_id, [m.user_id for m in team.members])
    latest = max((items[item].due_on for items in kept.values() if item in items), default=None)
    if latest is None or latest <= dates.due_on:
        return dates
    return replace(dates, due_on=latest, extended=not dates.revision)


def team_of(session: DbSession, assignment_id: int, user_id: int) -> Team | None:
    return session.scalar(_team_query().join(TeamMember, TeamMember.team_id == Team.id)
                          .where(TeamMember.assignment_id == assignment_id, TeamMember.user_id == user_id))


def get_team(session: DbSession, team_id: int) -> Team | None:
    return session.scalar(_team_query().where(Team.id == team_id))


def team_of_submission(session: DbSession, submission_id: int) -> Team | None:
    return session.scalar(_team_query().where(Team.submission_id == submission_id))


def grades_of(session: DbSession, teams: list[Team]) -> dict[int, Grade]:
    """Team id -> the grade of its submission, in one statement."""
    by_submission = {t.submission_id: t.id for t in teams if t.submission_id is not None}
    if not by_submission:
        return {}
    return {by_submission[g.submission_id]: g
            for g in session.scalars(select(Grade).where(Grade.submission_id.in_(by_submission)))}


def released_grade(session: DbSession, team: Team) -> Grade | None:
    if team.submission_id is None:
        return None
    grade = session.scalar(select(Grade).where(Grade.submission_id == team.submission_id))
    return grade if grade is not None and grade.status == GradeStatus.RELEASED else None


# --------------------------------------------------------------------------- forming teams


def _name(raw: str) -> str:
    name = tidy_name(raw)  # shown to classmates beside other text: no direction overrides or invisible characters
    if not name:
        raise TeamError("Give the team a name." if not raw.strip()
                        else "A name needs at least one letter or digit (invisible characters are not kept).", field="name")
    if len(name) > MAX_NAME:
        raise TeamError(f"Keep the team's name under {MAX_NAME} characters.", field="name")
    return name


def _lock(session: DbSession, team: Team) -> None:
    """Write the team's row first: concurrent membership changes of this team wait here,
    then read the members as the previous change left them."""
    try:
        session.execute(update(Team).where(Team.id == team.id).values(revision=Team.revision + 1)
                        .execution_options(synchronize_session=False))
    except OperationalError as exc:
        raise _busy(exc) from None
    session.expire(team)


def _fixed(team: Team) -> None:
    if team.submitted:
        raise TeamError(f"{team.name} has handed in its work: its members are fixed.")


def create_team(session: DbSession, assignment: Assignment, cohort_id: int, name: str, actor: User,
                now: datetime, as_learner: bool = False) -> Team:
    """Staff create a team (empty); a learner, where the assignment lets learners form
    teams, creates one and is its first member."""
    if not assignment.is_team:
        raise TeamError("This is not a team assignment.")
    name = _name(name)
    if as_learner:
        if not assignment.team_self_formed:
            raise TeamError("Your instructors form the teams for this assignment.")
        current = team_of(session, assignment.id, actor.id)
        if current is not None:
            raise TeamError(f"You are already in {current.name}: leave it before starting another team.")
    try:
        with session.begin_nested():
            team = Team(assignment_id=assignment.id, cohort_id=cohort_id, name=name, created_by_id=actor.id,
                        formed_by_learner=as_learner, created_at=now)
            if as_learner:
                team.members.append(TeamMember(assignment_id=assignment.id, user_id=actor.id, joined_at=now))
            session.add(team)
    except IntegrityError:
        if session.scalar(select(Team.id).where(Team.assignment_id == assignment.id, Team.cohort_id == cohort_id,
                                                Team.name == name)) is not None:
            raise TeamError(f"There is already a team called {name!r}: choose another name.", field="name") from None
        raise TeamError("You are already in a team for this assignment.") from None
    except OperationalError as exc:
        raise _busy(exc) from None
    return team


def rename_team(session: DbSession, team: Team, name: str) -> None:
    name = _name(name)
    try:
        with session.begin_nested():
            team.name = name
    except IntegrityError:
        raise TeamError(f"There is already a team called {name!r}: choose another name.", field="name") from None
    except OperationalError as exc:
        raise _busy(exc) from None


def add_member(session: DbSession, team: Team, user: User, now: datetime) -> TeamMember:
    """Put ``user`` (a learner of the team's cohort) in the team, within its size limit."""
    _lock(session, team)
    _fixed(team)
    assignment = team.assignment
    if not is_learner_of(session, team.cohort_id, user.id):
        raise TeamError("That person is not a learner of this team's cohort.")  # not named: the id could be anybody's
    if user.id in team.member_ids:
        raise TeamError(f"{user.name} is already in {team.name}.")
    if len(team.members) >= (assignment.team_max or 0):
        raise TeamError(f"{team.name} is full: at most {assignment.team_max} members.")
    other = team_of(session, assignment.id, user.id)
    if other is not None:
        raise TeamError(f"{user.name} is already in {other.name}: leave it first.")
    try:
        with session.begin_nested():
            member = TeamMember(assignment_id=assignment.id, user_id=user.id, joined_at=now)
            team.members.append(member)
    except IntegrityError:  # another request put them in a team meanwhile
        raise TeamError(f"{user.name} was put in another team for this assignment meanwhile.") from None
    return member


def _discard_draft(session: DbSession, team: Team) -> None:
    """A team that never handed anything in: its draft goes with it (the files stay on disk)."""
    submission = team.submission
    if submission is None:
        return
    others = sorted(m.user_id for m in team.members if m.user_id != submission.user_id)
    team.submission = None
    session.flush()
    for attachment in submission.attachments:
        session.delete(attachment)
    session.delete(submission)
    session.flush()
    if others:  # the holder's own work is gone with the row; the others' shared work too
        work_unshared.send("teams", session=session, submission_id=submission.id, learner_ids=others)


def remove_member(session: DbSession, team: Team, user_id: int) -> None:
    """A member leaves (or staff take them out) before the team hands in. If they held the
    team's draft it passes to a remaining member; a learner-formed team left empty ends."""
    _lock(session, team)
    _fixed(team)
    member = next((m for m in team.members if m.user_id == user_id), None)
    if member is None:
        raise TeamError("That learner is not in this team.")
    team.members.remove(member)
    session.flush()
    submission = team.submission
    kept = submission is not None
    if submission is not None and submission.user_id == user_id:
        heir = next((m.user_id for m in team.members
                     if coursework.submission_for(session, team.assignment, m.user_id) is None), None)
        if heir is None:
            _discard_draft(session, team)
            kept = False  # its removal from the leaver's work goes with the row
        else:
            submission.user_id = heir
    if not team.members and team.formed_by_learner:
        _discard_draft(session, team)
        session.delete(team)
    session.flush()
    if submission is not None and kept:  # the team's work is no longer the leaver's
        work_unshared.send("teams", session=session, submission_id=submission.id, learner_ids=[user_id])


def dissolve(session: DbSession, team: Team) -> None:
    _lock(session, team)
    _fixed(team)
    _discard_draft(session, team)
    session.delete(team)
    session.flush()


# --------------------------------------------------------------------------- the team's work


def _claim(session: DbSession, team: Team, expected: int | None) -> None:
    """The conditional write: only from the draft revision the member saw."""
    if expected is None or expected != team.draft_revision:
        raise StaleTeamWork()
    try:
        result = session.execute(update(Team).where(Team.id == team.id, Team.draft_revision == expected)
                                 .values(draft_revision=expected + 1).execution_options(synchronize_session=False))
    except OperationalError as exc:
        raise _busy(exc) from None
    if rowcount(result) != 1:
        raise StaleTeamWork()
    session.expire(team, ["draft_revision"])


def _team_submission(session: DbSession, team: Team, member_id: int, now: datetime) -> Submission:
    if team.submission is not None:
        return team.submission
    own = coursework.submission_for(session, team.assignment, member_id)
    if own is not None:
        if own.versions:
            raise TeamError("You handed this assignment in on your own before it became team work; "
                            "ask your instructor to sort this out.")
        submission = own  # an untouched draft of their own becomes the team's
    else:
        submission = coursework.start_submission(session, team.assignment, member_id, team.cohort_id, now)
    team.submission = submission
    session.flush()
    return submission


def left_to_join(session: DbSession, team: Team) -> int:
    """How many current learners of the team's cohort could still join it: those not in it
    and not in another team of the assignment that has handed in (its members are fixed).
    One statement."""
    fixed = (select(TeamMember.user_id).join(Team, Team.id == TeamMember.team_id)
             .where(Team.assignment_id == team.assignment_id, Team.cohort_id == team.cohort_id, Team.id != team.id,
                    exists().where(SubmissionVersion.submission_id == Team.submission_id)))
    query = select(func.count()).select_from(Enrolment).where(
        Enrolment.cohort_id == team.cohort_id, Enrolment.active, Enrolment.user_id.not_in(fixed))
    if team.member_ids:
        query = query.where(Enrolment.user_id.not_in(team.member_ids))
    return int(session.scalar(query) or 0)


def hand_in_minimum(session: DbSession, team: Team) -> int:
    """The members a team needs to hand in: the assignment's ``team_min``, or fewer when
    nobody left in the cohort could make up the number (a cohort of one learner, or a learner
    left alone once every other team has handed in). The team project is required for the
    level's certificate, so a learner the cohort cannot give teammates does it with the team
    they have, alone if need be; graders see it (``short_handed``). Never below one."""
    minimum = team.assignment.team_min or 1
    members = len(team.members)
    if members >= minimum:
        return minimum
    return max(1, members) if members + left_to_join(session, team) < minimum else minimum


def short_handed(team: Team) -> bool:
    """Whether the team has fewer members than the assignment's minimum (it handed in so
    because nobody was left to join it: ``hand_in_minimum``)."""
    return len(team.members) < (team.assignment.team_min or 1)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def save_work(session: DbSession, team: Team, member_id: int, expected_revision: int | None, body: str,
              upload: Upload | None, submit: bool, dates: Dates | None, folder: Storage | Path, now: datetime) -> SubmissionVersion | None:
    """Save the team's draft (and a file), and hand it in when ``submit``; any member may."""
    if member_id not in team.member_ids:
        raise TeamError("Only the team's members work on its submission.")
    _claim(session, team, expected_revision)
    try:
        submission = _team_submission(session, team, member_id, now)
        coursework.save_draft(session, submission, body, dates, now)
        if upload is not None:
            coursework.add_attachment(session, submission, upload.filename, upload.data, dates, folder, now)
        if not submit:
            return None
        minimum = hand_in_minimum(session, team)
        if len(team.members) < minimum:
            raise TeamError(f"A team hands in with at least {minimum} members; {team.name} has {len(team.members)}.")
        return coursework.submit(session, submission, dates, now)
    except SubmissionError as exc:
        raise TeamError(str(exc).replace("Your work is", "The team's work is")) from None


def remove_file(session: DbSession, team: Team, member_id: int, expected_revision: int | None, attachment_id: int,
                dates: Dates | None, now: datetime) -> None:
    if member_id not in team.member_ids or team.submission is None:
        raise TeamError("That file is not part of your team's draft.")
    _claim(session, team, expected_revision)
    try:
        coursework.remove_attachment(session, team.submission, attachment_id, dates, now)
    except SubmissionError as exc:
        raise TeamError(str(exc)) from None


# --------------------------------------------------------------------------- contribution ratings


def ratings_by(session: DbSession, team: Team, rater_id: int) -> dict[int, ContributionRating]:
    return {r.ratee_id: r for r in session.scalars(select(ContributionRating).where(
        ContributionRating.team_id == team.id, ContributionRating.rater_id == rater_id))}


def rate(session: DbSession, team: Team, rater_id: int, scores: Mapping[int, int | None], comments: Mapping[int, str],
         now: datetime) -> int:
    """Rate each teammate's contribution 1-5 with an optional comment, once the team has
    handed in; a new rating replaces the rater's earlier one. Returns how many were saved."""
    if rater_id not in team.member_ids:
        raise TeamError("Only the team's members rate its members.")
    if not team.submitted:
        raise TeamError("Ratings open once your team has handed in its work.")
    teammates = [uid for uid in team.member_ids if uid != rater_id]
    unknown = set(scores) - set(teammates)
    if unknown:
        raise TeamError("You can rate only your teammates.")
    chosen = {uid: scores.get(uid) for uid in teammates if scores.get(uid) is not None}
    if not chosen:
        raise TeamError("Choose a rating from 1 to 5 for at least one teammate.")
    if any(comments.get(uid, "").strip() for uid in teammates if uid not in chosen):
        # a comment is kept with its rating: saved alone, it would be thrown away without a word
        raise TeamError("Choose a rating for every teammate you wrote a comment on: a comment is kept with its rating.")
    for score in chosen.values():
        if score not in RATING_SCALE:
            raise TeamError("Ratings go from 1 to 5.")
    for uid in chosen:
        if len(comments.get(uid, "")) > MAX_COMMENT:
            raise TeamError(f"Keep each comment under {MAX_COMMENT} characters.")
    for attempt in range(2):
        existing = ratings_by(session, team, rater_id)
        try:
            with session.begin_nested():
                for uid, score in chosen.items():
                    rating = existing.get(uid)
                    if rating is None:
                        rating = ContributionRating(team_id=team.id, rater_id=rater_id, ratee_id=uid)
                        session.add(rating)
                    rating.score, rating.comment, rating.updated_at = int(score or 0), comments.get(uid, "").strip(), now
            return len(chosen)
        except IntegrityError:  # the same form sent twice at once: the other request's rows exist now
            if attempt:
                raise TeamError("Not saved: your ratings were being saved twice at once. Try again.") from None
        except OperationalError as exc:
            raise _busy(exc) from None
    return 0  # pragma: no cover - the loop returns or raises


@dataclass(frozen=True)
class RatingView:
    rater: User
    score: int
    comment: str


@dataclass(frozen=True)
class Contribution:
    """What teammates said about one member, for staff only."""

    member: User
    ratings: list[RatingView]
    adjustment: GradeAdjustment | None

    @property
    def mean(self) -> float | None:
        return round(mean(r.score for r in self.ratings), 2) if self.ratings else None


def contributions(session: DbSession, team: Team) -> list[Contribution]:
    members = {m.user_id: m.user for m in team.members}
    ratings = list(session.scalars(select(ContributionRating).where(ContributionRating.team_id == team.id)
                                   .order_by(ContributionRating.id)))
    adjustments = adjustments_of(session, team)
    raters = {u.id: u for u in session.scalars(select(User).where(User.id.in_({r.rater_id for r in ratings})))} if ratings else {}
    return [Contribution(user, [RatingView(raters[r.rater_id], r.score, r.comment) for r in ratings if r.ratee_id == uid],
                         adjustments.get(uid)) for uid, user in members.items()]


# --------------------------------------------------------------------------- adjustments and evidence


def adjustments_of(session: DbSession, team: Team) -> dict[int, GradeAdjustment]:
    return {a.user_id: a for a in session.scalars(select(GradeAdjustment).where(GradeAdjustment.team_id == team.id)
                                                  .options(selectinload(GradeAdjustment.adjusted_by)))}


def adjusted_score(grade: Grade, adjustment: GradeAdjustment | None) -> float | None:
    """The member's grade: the team's score moved by the adjustment, within 0 and the maximum."""
    if grade.score is None:
        return None
    points = adjustment.points if adjustment else 0.0
    return max(0.0, min(grade.max_score, grade.score + points))


def adjust(session: DbSession, team: Team, user_id: int, points: float, note: str, expected_revision: int | None,
           actor: User, now: datetime) -> GradeAdjustment:
    """Move one member's grade up or down from the team's, with a note the learner reads.
    A conditional write on the adjustment's revision; the member's evidence follows."""
    if user_id not in team.member_ids:
        raise TeamError("That learner is not in this team.")
    grade = session.scalar(select(Grade).where(Grade.submission_id == team.submission_id)) if team.submission_id else None
    if grade is None or grade.score is None:
        raise TeamError("Grade the team's work on every criterion first; an adjustment moves that grade.")
    if not math.isfinite(points) or not -grade.score <= points <= grade.max_score - grade.score:
        # past either end the member's grade would be capped, and the note would promise a change it does not make
        raise TeamError(f"The team's grade is {grade.score:g} of {grade.max_score:g}: an adjustment is between "
                        f"-{grade.score:g} and +{grade.max_score - grade.score:g} points.")
    note = note.strip()
    if not note:
        raise TeamError("Say why in the note: the learner reads it with their grade.")
    existing = adjustments_of(session, team).get(user_id)
    if existing is not None and existing.revision != expected_revision:
        raise StaleAdjustment()
    actor_id = actor.id  # read before the savepoint: an expired actor would autoflush a half-built row there
    try:
        with session.begin_nested():
            adjustment = existing or GradeAdjustment(team_id=team.id, user_id=user_id)
            if existing is None:
                session.add(adjustment)
            adjustment.points, adjustment.note, adjustment.adjusted_by_id, adjustment.updated_at = float(points), note, actor_id, now
    except (IntegrityError, StaleDataError):
        raise StaleAdjustment() from None
    except OperationalError as exc:
        raise _busy(exc) from None
    record_team_evidence(session, grade, team, now, only=user_id)
    if grade.status == GradeStatus.RELEASED:
        adjustment_saved.send(grade, session=session, now=now, user_id=user_id)
    return adjustment


def member_outcome(grade: Grade, adjustment: GradeAdjustment | None, ids: Mapping[str, int]) -> Outcome:
    """The grade's evidence (the one rubric maths of ``lms.progress.evidence``) for one
    member: an adjustment moves every objective's share by its points as a share of the
    rubric's maximum, within 0 and 1."""
    assignment = grade.submission.assignment
    outcome = grade_outcome(grade.id, assignment.title, grade.grader_id, grade.rubric_version.criteria,
                            levels_of(grade.selections), ids, released=grade.status == GradeStatus.RELEASED,
                            kind=assignment.kind)
    if adjustment is None or not adjustment.points or grade.max_score <= 0:
        return outcome
    shift = adjustment.points / grade.max_score
    return replace(outcome, fractions={oid: round(min(1.0, max(0.0, f + shift)), 6) for oid, f in outcome.fractions.items()},
                   note=f"{outcome.note} (team grade adjusted {adjustment.points:+g} points)")


def record_team_evidence(session: DbSession, grade: Grade, team: Team, now: datetime, only: int | None = None) -> None:
    """Every member's evidence from the team's grade (with their adjustment)."""
    ids = criteria_ids(session, grade.rubric_version.criteria)
    adjustments = adjustments_of(session, team)
    for user_id in team.member_ids:
        if only is None or user_id == only:
            member_outcome(grade, adjustments.get(user_id), ids).record(session, user_id, now)


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    """A team's grade is every member's. Connected after progress's receiver (teams come
    after progress in FEATURES), so the member holding the submission gets their adjusted
    evidence too, replacing the plain one recorded under the same reference."""
    team = team_of_submission(session, grade.submission_id)
    if team is not None:
        record_team_evidence(session, grade, team, now)


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: their
    teams (name, shared submission) and the adjustments to their share of a team grade."""
    return [select(fingerprint(Team.id, Team.name, Team.submission_id, Team.revision, TeamMember.id))
            .select_from(Team).join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.user_id == user_id).scalar_subquery(),
            select(fingerprint(GradeAdjustment.id, GradeAdjustment.team_id, GradeAdjustment.points, GradeAdjustment.revision,
                               GradeAdjustment.updated_at))
            .where(GradeAdjustment.user_id == user_id).scalar_subquery()]
