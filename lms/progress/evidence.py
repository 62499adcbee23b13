"""Graded things become evidence: quiz attempts, released rubric grades and peer reviews.
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

from sqlalchemy import select

from lms.assessment.models import Attempt, QuestionVersion, Response
from lms.assessment.questions import QuestionSpec, parts_of
from lms.catalog.models import Objective
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession
from lms.grading.models import Grade, GradeStatus, PeerReview
from lms.progress.models import Evidence
from lms.progress.services import evidence_row, replace_evidence
from lms.progress.sources import EvidenceSource, PeerSource, QuizSource, RubricSource

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

    def rows(self, user_id: int, at: datetime) -> list[dict[str, Any]]:
        """The evidence rows' column values, for a bulk insert."""
        return [evidence_row(user_id, oid, self.source.name, self.source_ref, fraction, at, self.note,
                             self.recorded_by_id)
                for oid, fraction in self.fractions.items()]

    def record(self, session: DbSession, user_id: int, at: datetime) -> list[Evidence]:
        """Make this reference's evidence exactly this outcome, and update mastery."""
        return replace_evidence(session, user_id, self.source.name, self.source_ref, self.fractions, at,
                                note=self.note, recorded_by_id=self.recorded_by_id)


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


def attempt_outcome(attempt_id: int, quiz_title: str, number: int, parts: Iterable[Part],
                    scores: Mapping[PartKey, float | None], ids: Mapping[str, int]) -> Outcome:
    """A fully scored quiz attempt: per objective, the share of its questions' points earned."""
    return Outcome(QuizSource, f"attempt:{attempt_id}", by_id(quiz_shares(quiz_points(parts, scores)), ids),
                   f"{quiz_title}, attempt {number}")


def grade_outcome(grade_id: int, assignment_title: str, grader_id: int | None, criteria: Sequence[CriterionSpec],
                  levels: Mapping[str, str | None], ids: Mapping[str, int], released: bool = True) -> Outcome:
    """A rubric grade: per mapped objective, the mean share of the best level reached; a
    grade that is not (or no longer) released gives nothing."""
    fractions = by_id(rubric_shares(criteria, levels), ids) if released else {}
    return Outcome(RubricSource, f"grade:{grade_id}", fractions, assignment_title, grader_id)


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


def on_attempt_scored(attempt: Attempt, session: DbSession) -> None:
    version_ids = [page["version"] for page in attempt.layout]
    versions = list(session.scalars(select(QuestionVersion).where(QuestionVersion.id.in_(version_ids))))
    parts = [part for v in versions for part in question_parts(v.id, v.spec, v.objectives)]
    scores = {(r.version_id, r.part): r.score for r in session.scalars(select(Response).where(Response.attempt_id == attempt.id))}
    ids = objective_ids(session, (code for part in parts for code in part.objectives))
    attempt_outcome(attempt.id, attempt.quiz.title, attempt.number, parts, scores, ids).record(
        session, attempt.user_id, attempt.submitted_at or attempt.started_at)


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    submission = grade.submission
    criteria = grade.rubric_version.criteria
    grade_outcome(grade.id, submission.assignment.title, grade.grader_id, criteria, levels_of(grade.selections),
                  criteria_ids(session, criteria), released=grade.status == GradeStatus.RELEASED).record(session, submission.user_id, now)


def on_peer_review_completed(review: PeerReview, session: DbSession, now: datetime) -> None:
    submission = review.submission
    criteria = review.rubric_version.criteria
    peer_outcome(review.id, submission.assignment.title, review.reviewer_id, criteria, levels_of(review.selections),
                 criteria_ids(session, criteria)).record(session, submission.user_id, now)
