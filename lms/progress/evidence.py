"""Graded things become evidence: quiz attempts, released rubric grades and peer reviews.
The assessment and grading features announce their results with signals; this module
listens, so those features never depend on progress. Flush only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.assessment.models import Attempt, QuestionVersion, Response
from lms.assessment.questions import parts_of
from lms.assessment.services import attempt_scored
from lms.catalog.models import Objective
from lms.grading.models import Grade, PeerReview
from lms.grading.services import grade_saved, peer_review_completed
from lms.progress.services import replace_evidence


def objective_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    wanted = set(codes)
    if not wanted:
        return {}
    return dict(session.execute(select(Objective.key, Objective.id).where(Objective.key.in_(wanted))).all())  # type: ignore[arg-type]


def quiz_fractions(session: Session, attempt: Attempt) -> dict[int, float]:
    """Per objective, the share of the points available on questions tied to it."""
    version_ids = [page["version"] for page in attempt.layout]
    versions = {v.id: v for v in session.scalars(select(QuestionVersion).where(QuestionVersion.id.in_(version_ids)))}
    scores = {(r.version_id, r.part): r.score or 0.0 for r in session.scalars(select(Response).where(Response.attempt_id == attempt.id))}
    ids = objective_ids(session, (code for v in versions.values() for code in v.objectives))
    got: dict[int, float] = defaultdict(float)
    out_of: dict[int, float] = defaultdict(float)
    for version in versions.values():
        for part in parts_of(version.spec):
            key = (version.id, "" if part is version.spec else part["id"])
            for code in part.get("objectives") or version.objectives:
                if code in ids:
                    got[ids[code]] += scores.get(key, 0.0)
                    out_of[ids[code]] += float(part["points"])
    return {oid: min(1.0, got[oid] / total) for oid, total in out_of.items() if total > 0}


def rubric_fractions(session: Session, criteria: list[dict[str, Any]], selections: Mapping[str, Any]) -> dict[int, float]:
    """Per objective, the mean over its criteria of the level reached as a share of the criterion's best level."""
    ids = objective_ids(session, (code for c in criteria for code in c.get("objectives", [])))
    shares: dict[int, list[float]] = defaultdict(list)
    for criterion in criteria:
        chosen = (selections.get(criterion["id"]) or {}).get("level")
        level = next((lv for lv in criterion["levels"] if lv["id"] == chosen), None)
        best = max(float(lv["points"]) for lv in criterion["levels"])
        if level is None or best <= 0:
            continue
        for code in criterion.get("objectives", []):
            if code in ids:
                shares[ids[code]].append(float(level["points"]) / best)
    return {oid: sum(values) / len(values) for oid, values in shares.items()}


def on_attempt_scored(attempt: Attempt, session: Session) -> None:
    title = attempt.quiz.title
    replace_evidence(session, attempt.user_id, "quiz", f"attempt:{attempt.id}", quiz_fractions(session, attempt),
                     attempt.submitted_at or attempt.started_at, note=f"{title}, attempt {attempt.number}")


def on_grade_saved(grade: Grade, session: Session, now: datetime) -> None:
    submission = grade.submission
    fractions = rubric_fractions(session, grade.rubric_version.criteria, grade.selections) if grade.status == "released" else {}
    replace_evidence(session, submission.user_id, "rubric", f"grade:{grade.id}", fractions, now,
                     note=submission.assignment.title, recorded_by_id=grade.grader_id)


def on_peer_review_completed(review: PeerReview, session: Session, now: datetime) -> None:
    submission = review.submission
    replace_evidence(session, submission.user_id, "peer", f"peer:{review.id}",
                     rubric_fractions(session, review.rubric_version.criteria, review.selections), now,
                     note=f"Peer review of {submission.assignment.title}", recorded_by_id=review.reviewer_id)


attempt_scored.connect(on_attempt_scored)
grade_saved.connect(on_grade_saved)
peer_review_completed.connect(on_peer_review_completed)
