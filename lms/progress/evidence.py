"""Graded things become evidence: quizzes, released rubric grades and peer reviews.
The assessment and grading features announce their results with signals; this module
listens, so those features never depend on progress. Flush only.

The maths is in plain functions of plain values (a quiz's parts and the points each
earned, a rubric's criteria and the level chosen on each) that return an ``Outcome``:
the evidence one result gives, per objective. The signal receivers load those values and
record the outcome; the volume generator (``lms.demo.benchmark``) calls the same
functions and bulk-inserts the outcome's rows, so the two cannot drift apart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from lms.assessment.methods import GRADING_METHODS
from lms.assessment.models import Attempt, GradingMethodName, QuestionVersion, Quiz, Response
from lms.assessment.questions import QuestionSpec, parts_of
from lms.catalog.models import Objective
from lms.coursework.models import AssignmentKind
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession
from lms.grading.models import Grade, GradeStatus, PeerReview
from lms.progress.models import Evidence
from lms.progress.services import evidence_row, replace_evidence, rows_deleting
from lms.progress.sources import (
    CaseStudySource,
    EvidenceSource,
    PeerSource,
    PracticeSource,
    QuizSource,
    RubricSource,
)

# Kinds of assessed work that judge material the learner was given (someone else's business,
# a provided artifact) rather than apply the unit to their own: their grades are case-study evidence.
JUDGED_AS_CASE_STUDY = frozenset({AssignmentKind.CASE_STUDY, AssignmentKind.CRITIQUE})

PartKey = tuple[int, str]  # (question version id, part id; "" for a question of one part), as responses are keyed


# --------------------------------------------------------------------------- the maths, on plain values


@dataclass(frozen=True)
class Outcome:
    """The evidence one graded thing gives a learner: per objective id, a fraction 0-1 of
    full marks, with the source (which sets the weight), reference, note and judge it is
    recorded with. An empty ``fractions`` withdraws what the reference said before."""

    source: type[EvidenceSource]
    source_ref: str
    fractions: dict[int, float]
    note: str
    recorded_by_id: int | None = None
    at: datetime | None = None  # when the result it says was made, if not when it is recorded
    judge: str | None = None  # the person without an account who judged (``Evidence.judge``)

    def rows(self, user_id: int, at: datetime) -> list[dict[str, Any]]:
        """The evidence rows' column values, for a bulk insert (at the source's default
        weight: the generator then reweighs by the rules)."""
        return [evidence_row(user_id, oid, self.source.name, self.source_ref, fraction, self.at or at, self.note,
                             self.recorded_by_id, judge=self.judge)
                for oid, fraction in self.fractions.items()]

    def record(self, session: DbSession, user_id: int, now: datetime) -> list[Evidence]:
        """Make this reference's evidence exactly this outcome (dated ``at`` when it has one,
        else ``now``), and update mastery ``now``."""
        return replace_evidence(session, user_id, self.source.name, self.source_ref, self.fractions, now,
                                note=self.note, recorded_by_id=self.recorded_by_id, at=self.at, judge=self.judge)


@dataclass(frozen=True)
class Part:
    """One answerable part of a quiz question: the points it is worth and the objectives it counts toward."""

    key: PartKey
    points: float
    objectives: tuple[str, ...] = ()


def question_parts(version_id: int, spec: QuestionSpec, objectives: Sequence[str]) -> list[Part]:
    """A question version's parts (``spec`` is its stored spec); a scenario's sub-question
    counts toward its own objectives, or the question's when it names none."""
    return [Part((version_id, "" if part is spec else part.id), float(part.points), tuple(part.objectives or objectives))
            for part in parts_of(spec)]


def quiz_points(parts: Iterable[Part], scores: Mapping[PartKey, float | None]) -> dict[str, tuple[float, float]]:
    """Per objective code, the points earned and the points available on the parts tied
    to it; a part without a score (unanswered) earned nothing."""
    points: dict[str, tuple[float, float]] = {}
    for part in parts:
        earned = scores.get(part.key) or 0.0
        for code in part.objectives:
            got, out_of = points.get(code, (0.0, 0.0))
            points[code] = (got + earned, out_of + part.points)
    return points


def quiz_shares(points: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Per objective code, the share of the available points earned (at most all of them)."""
    return {code: min(1.0, got / out_of) for code, (got, out_of) in points.items() if out_of > 0}


def levels_of(selections: Mapping[str, Any]) -> dict[str, str | None]:
    """The level chosen per criterion, from a grade's or a review's stored selections."""
    return {cid: (chosen or {}).get("level") for cid, chosen in selections.items()}


def rubric_shares(criteria: Sequence[CriterionSpec], levels: Mapping[str, str | None]) -> dict[str, float]:
    """Per objective code, the mean over the criteria mapped to it of the level reached as
    a share of the criterion's best level; a criterion without a level counts for nothing."""
    shares: dict[str, list[float]] = defaultdict(list)
    for criterion in criteria:
        level = criterion.level(levels.get(criterion.id))
        best = criterion.best_points
        if level is None or best <= 0:
            continue
        for code in criterion.objectives:
            shares[code].append(level.points / best)
    return {code: sum(values) / len(values) for code, values in shares.items()}


def by_id(shares: Mapping[str, float], ids: Mapping[str, int]) -> dict[int, float]:
    """Shares keyed by objective code, keyed by objective id; codes without an objective are dropped."""
    return {ids[code]: share for code, share in shares.items() if code in ids}


def attempt_shares(parts: Iterable[Part], scores: Mapping[PartKey, float | None], ids: Mapping[str, int]) -> dict[int, float]:
    """One fully scored attempt: per objective id, the share of its questions' points earned."""
    return by_id(quiz_shares(quiz_points(parts, scores)), ids)


@dataclass(frozen=True)
class ScoredAttempt:
    """What a quiz's evidence is made from: one finished, fully scored attempt."""

    number: int
    percent: float | None
    at: datetime
    shares: dict[int, float]  # objective id -> share of the points earned (``attempt_shares``)


def quiz_outcome(quiz_id: int, quiz_title: str, grading: GradingMethodName, practice: bool,
                 attempts: Sequence[ScoredAttempt]) -> Outcome:
    """A quiz's evidence follows its own grading rule: per objective, the mean share over
    the attempts the grading method counts (the best one, the latest, the first, or all of
    them), recorded at the newest counted attempt's time. An attempt the method does not
    count changes nothing; one that takes over replaces what the quiz said before, as a
    regrade does. A practice quiz gives evidence from the practice source."""
    counted = GRADING_METHODS[grading].counted(attempts)
    values: dict[int, list[float]] = defaultdict(list)
    for attempt in counted:
        for oid, share in attempt.shares.items():
            values[oid].append(share)
    fractions = {oid: round(sum(shares) / len(shares), 6) for oid, shares in values.items()}
    which = ", ".join(str(a.number) for a in counted)
    note = f"{quiz_title}, attempt{'s' * (len(counted) > 1)} {which}" if counted else quiz_title
    return Outcome(PracticeSource if practice else QuizSource, f"quiz:{quiz_id}", fractions, note,
                   at=max((a.at for a in counted), default=None))


def grade_outcome(grade_id: int, assignment_title: str, grader_id: int | None, criteria: Sequence[CriterionSpec],
                  levels: Mapping[str, str | None], ids: Mapping[str, int], released: bool = True,
                  kind: AssignmentKind = AssignmentKind.HANDS_ON) -> Outcome:
    """A rubric grade: per mapped objective, the mean share of the best level reached; a
    grade that is not (or no longer) released gives nothing. A case study's grade is
    evidence from the case-study source (analysis of someone else's business), and so is a
    critique's (judging a provided artifact against best practice); other work's from
    graded (applied) work."""
    fractions = by_id(rubric_shares(criteria, levels), ids) if released else {}
    source = CaseStudySource if kind in JUDGED_AS_CASE_STUDY else RubricSource
    return Outcome(source, f"grade:{grade_id}", fractions, assignment_title, grader_id)


def peer_outcome(review_id: int, assignment_title: str, reviewer_id: int, criteria: Sequence[CriterionSpec],
                 levels: Mapping[str, str | None], ids: Mapping[str, int]) -> Outcome:
    """A completed peer review: the rubric maths of a grade, from the peer source (half weight)."""
    return Outcome(PeerSource, f"peer:{review_id}", by_id(rubric_shares(criteria, levels), ids),
                   f"Peer review of {assignment_title}", reviewer_id)


# --------------------------------------------------------------------------- loading the values, and the receivers


def objective_ids(session: DbSession, codes: Iterable[str]) -> dict[str, int]:
    wanted = set(codes)
    if not wanted:
        return {}
    return dict(session.execute(select(Objective.key, Objective.id).where(Objective.key.in_(wanted))).all())


def criteria_ids(session: DbSession, criteria: Sequence[CriterionSpec]) -> dict[str, int]:
    return objective_ids(session, (code for c in criteria for code in c.objectives))


def scored_attempts(session: DbSession, quiz_id: int, user_id: int) -> list[ScoredAttempt]:
    """The learner's finished, fully scored attempts at a quiz with each one's shares per
    objective, in a fixed number of statements."""
    attempts = list(session.scalars(select(Attempt).where(
        Attempt.quiz_id == quiz_id, Attempt.user_id == user_id, Attempt.submitted_at.is_not(None),
        Attempt.pending_manual.is_(False), Attempt.score.is_not(None)).order_by(Attempt.number)))
    if not attempts:
        return []
    version_ids = {page["version"] for a in attempts for page in a.layout}
    versions = list(session.scalars(select(QuestionVersion).where(QuestionVersion.id.in_(version_ids))))
    parts = {v.id: question_parts(v.id, v.spec, v.objectives) for v in versions}
    ids = objective_ids(session, (code for ps in parts.values() for part in ps for code in part.objectives))
    scores: dict[int, dict[PartKey, float | None]] = defaultdict(dict)
    for r in session.scalars(select(Response).where(Response.attempt_id.in_([a.id for a in attempts]))):
        scores[r.attempt_id][(r.version_id, r.part)] = r.score
    result = []
    for a in attempts:
        mine = [part for page in a.layout for part in parts.get(page["version"], [])]
        at = a.submitted_at or a.started_at
        result.append(ScoredAttempt(a.number, a.percent, at, attempt_shares(mine, scores[a.id], ids)))
    return result


def record_quiz(session: DbSession, quiz: Quiz, user_id: int, now: datetime) -> None:
    """Make the learner's evidence from ``quiz`` what its grading rule says now."""
    quiz_outcome(quiz.id, quiz.title, quiz.grading, quiz.practice, scored_attempts(session, quiz.id, user_id)).record(
        session, user_id, now)


def on_attempt_scored(attempt: Attempt, session: DbSession) -> None:
    """The quiz's evidence is dated by its counted attempts (``quiz_outcome``); the mastery it
    moves changes when the attempt was scored (``updated_at``: a written answer may be
    graded days after the submission)."""
    record_quiz(session, attempt.quiz, attempt.user_id, attempt.updated_at or attempt.submitted_at or attempt.started_at)


def rederive_quiz_evidence(session: DbSession, now: datetime) -> int:
    """Rebuild every learner's quiz evidence from their attempts under each quiz's grading
    rule (and drop evidence stored per attempt by earlier versions); returns how many
    learner-quiz pairs were recorded. For upgrades and after a quiz's grading rule changed."""
    stored_per_attempt = [Evidence.source_ref.like("attempt:%")]
    rows_deleting.send(Evidence, session=session, where=stored_per_attempt)
    session.execute(delete(Evidence).where(*stored_per_attempt))
    pairs = session.execute(select(Attempt.quiz_id, Attempt.user_id).where(Attempt.submitted_at.is_not(None)).distinct()).all()
    quizzes = {q.id: q for q in session.scalars(select(Quiz).where(Quiz.id.in_({quiz_id for quiz_id, _ in pairs})))} if pairs else {}
    for quiz_id, user_id in pairs:
        record_quiz(session, quizzes[quiz_id], user_id, now)
    session.flush()
    return len(pairs)


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    submission = grade.submission
    criteria = grade.rubric_version.criteria
    grade_outcome(grade.id, submission.assignment.title, grade.grader_id, criteria, levels_of(grade.selections),
                  criteria_ids(session, criteria), released=grade.status == GradeStatus.RELEASED,
                  kind=submission.assignment.kind).record(session, submission.user_id, now)


def on_peer_review_completed(review: PeerReview, session: DbSession, now: datetime) -> None:
    submission = review.submission
    criteria = review.rubric_version.criteria
    peer_outcome(review.id, submission.assignment.title, review.reviewer_id, criteria, levels_of(review.selections),
                 criteria_ids(session, criteria)).record(session, submission.user_id, now)
