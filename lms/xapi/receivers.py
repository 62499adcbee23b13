"""Other features' events as xAPI statements. Each receiver runs inside the sender's unit
of work and only flushes; with xAPI off it returns at once. The event key of each statement
names the occurrence, so its statement id (a uuid5 of it) is the same however often it is
queued or sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from lms.assessment.models import Attempt
from lms.catalog.models import Lesson, Objective
from lms.certificates.models import Certificate
from lms.coursework.models import Submission, SubmissionVersion
from lms.coursework.sharing import groups_of, learner_ids
from lms.database import DbSession, utcnow
from lms.grading.models import Grade, GradeStatus
from lms.progress.services import policy
from lms.xapi.models import XapiStatement
from lms.xapi.services import VERBS, activity, enabled, iso, queue, score, statement, statement_id


def _config() -> Any:
    return current_app.config


def on_lesson_read(user_id: int, *, session: DbSession, now: datetime, lesson: Lesson, **_: Any) -> None:
    """Lesson read: completed, on a lesson activity."""
    config = _config()
    if not enabled(config):
        return
    key = f"lesson:{lesson.key}:{user_id}:read"
    queue(session, config, key, statement(config, key, user_id, "completed", activity(config, "lesson", f"lessons/{lesson.key}",
                                                                                    lesson.title), now,
                                          result={"completion": True}), now)


def on_attempt_scored(attempt: Attempt, *, session: DbSession, **_: Any) -> None:
    """A quiz or check scored: attempted (when it began) and completed with the score, and
    whether it passed."""
    config = _config()
    if not enabled(config) or attempt.score is None:
        return
    quiz = attempt.quiz
    obj = activity(config, "assessment", f"quizzes/{quiz.key}", quiz.title)
    started = attempt.started_at
    ended = attempt.submitted_at or utcnow()
    key = f"attempt:{attempt.id}:attempted"
    queue(session, config, key, statement(config, key, attempt.user_id, "attempted", obj, started), ended)
    percent = attempt.percent or 0.0
    key = f"attempt:{attempt.id}:completed"
    result = {"score": score(attempt.score, attempt.max_score), "completion": True,
              "success": percent >= quiz.passing_score,
              "duration": f"PT{max(0, int((ended - started).total_seconds()))}S"}
    queue(session, config, key, statement(config, key, attempt.user_id, "completed", obj, ended, result=result,
                                          context={"extensions": {"https://w3id.org/xapi/lms/attempt-number": attempt.number}}),
          ended)


LATE = "https://w3id.org/xapi/lms/late"
CHUNK = 200  # versions looked up in the outbox per query


def submitted_key(submission_id: int, number: int) -> str:
    """The event key of a version's first "submitted" statement; its corrections add to it."""
    return f"submission:{submission_id}:version:{number}:submitted"


def on_work_submitted(version: SubmissionVersion, *, session: DbSession, now: datetime, submission: Submission,
                      **_: Any) -> None:
    """An assignment (version) submitted."""
    config = _config()
    if not enabled(config):
        return
    assignment = submission.assignment
    obj = activity(config, "performance", f"assignments/{assignment.key}", assignment.title)
    key = submitted_key(submission.id, version.number)
    queue(session, config, key, statement(config, key, submission.user_id, "submitted", obj, now,
                                          result={"completion": True},
                                          context={"extensions": {"https://w3id.org/xapi/lms/version": version.number,
                                                                  LATE: version.late}}), now)


def on_lateness_changed(_sender: Any, *, session: DbSession, now: datetime, changes: Mapping[int, bool],
                        **_: Any) -> None:
    """Handed-in versions whose lateness flipped (an extension granted or taken away, a cohort
    start moved): the LRS was told otherwise, and statements cannot change. The version's
    current "submitted" statement is voided and a corrected one sent (same actor, object and
    time of the hand-in; its context names the voided statement). A version never sent to the
    outbox (xAPI was off when it was handed in) or whose current statement already says so
    gets nothing; each statement is voided once (the voiding's key names it)."""
    config = _config()
    if not enabled(config) or not changes:
        return
    versions = session.execute(select(SubmissionVersion.id, SubmissionVersion.submission_id, SubmissionVersion.number)
                               .where(SubmissionVersion.id.in_(list(changes)))).all()
    keys = {submitted_key(v.submission_id, v.number): v.id for v in versions}
    current: dict[int, XapiStatement] = {}  # version id -> its newest "submitted" statement
    listed = sorted(keys)
    for start in range(0, len(listed), CHUNK):
        chunk = listed[start:start + CHUNK]
        # the first statement and its corrections share its key as their base (an index)
        for row in session.scalars(select(XapiStatement).where(XapiStatement.event_base.in_(chunk))
                                   .order_by(XapiStatement.id)):
            current[keys[row.event_base]] = row  # ordered by id: the newest wins
    for version_id, row in sorted(current.items()):
        late = changes[version_id]
        made = json.loads(row.body)
        extensions = made.get("context", {}).get("extensions", {})
        if extensions.get(LATE) == late:
            continue
        base = row.event_base
        voided = {"objectType": "StatementRef", "id": row.statement_id}
        key = f"void:{row.statement_id}"
        queue(session, config, key, {"id": statement_id(config, key), "actor": made["actor"], "verb": VERBS["voided"],
                                     "object": voided, "timestamp": iso(now), "context": {"platform": "lms"}}, now)
        key = f"{base}:late:{str(late).lower()}:{iso(now)}"
        corrected = {**made, "id": statement_id(config, key),
                     "context": {**made.get("context", {}), "extensions": {**extensions, LATE: late}, "statement": voided}}
        queue(session, config, key, corrected, now, base=base)


def rubric_result(grade: Grade) -> list[dict[str, Any]]:
    """Each criterion's chosen level and its points, as the rubric version has them."""
    out = []
    for criterion in grade.rubric_version.criteria:
        chosen = (grade.selections.get(criterion.id) or {}).get("level")
        level = next((lv for lv in criterion.levels if lv.id == chosen), None)
        out.append({"criterion": criterion.title, "level": level.title if level else None,
                    "points": level.points if level else None, "max": max(lv.points for lv in criterion.levels)})
    return out


def on_grade_saved(grade: Grade, *, session: DbSession, now: datetime, **_: Any) -> None:
    """A grade released (each release once): scored, with the rubric result, for every
    learner the work counts for (a team's members, each with their adjusted score)."""
    if grade.status != GradeStatus.RELEASED or grade.released_at != now:
        return
    _scored(grade, session, now, only=None)


def on_adjustment_saved(grade: Grade, *, session: DbSession, now: datetime, user_id: int, **_: Any) -> None:
    """A released team grade adjusted for one member: scored again for them, with their new score."""
    _scored(grade, session, now, only=user_id)


def _scored(grade: Grade, session: DbSession, now: datetime, only: int | None) -> None:
    config = _config()
    if not enabled(config) or grade.score is None:
        return
    submission = grade.submission
    assignment = submission.assignment
    obj = activity(config, "performance", f"assignments/{assignment.key}", assignment.title)
    rubric = rubric_result(grade)
    group = groups_of(session, [submission.id]).get(submission.id)
    for user_id in learner_ids(submission, group):
        if only is not None and user_id != only:
            continue
        key = f"grade:{grade.id}:{user_id}:{iso(now)}"
        points = group.score_of(user_id, grade.score, grade.max_score) if group else grade.score
        assert points is not None  # a scored grade stays scored when adjusted
        result = {"score": score(points, grade.max_score), "completion": True,
                  "extensions": {"https://w3id.org/xapi/lms/rubric": rubric}}
        queue(session, config, key, statement(config, key, user_id, "scored", obj, now, result=result), now)


def on_mastery_changed(user_id: int, *, session: DbSession, now: datetime,
                       changes: dict[int, tuple[float | None, float | None]], **_: Any) -> None:
    """A named mastery level changed on an objective: progressed (mastered when it reaches
    the top named level); a move within a named level sends nothing."""
    config = _config()
    if not enabled(config):
        return
    rules = policy(session)
    moved = {oid: (b, a) for oid, (b, a) in changes.items() if rules.name_of(b) != rules.name_of(a)}
    if not moved:
        return
    top = max(rules.thresholds, key=lambda name: rules.thresholds[name]) if rules.thresholds else None
    objectives = {o.id: o for o in session.scalars(select(Objective).where(Objective.id.in_(list(moved))))}
    for objective_id, (before, after) in sorted(moved.items()):
        objective = objectives[objective_id]
        name = rules.name_of(after)
        verb = "mastered" if top is not None and name == top else "progressed"
        key = f"mastery:{user_id}:{objective.key}:{iso(now)}:{after}"
        result = {"extensions": {"https://w3id.org/xapi/lms/level-before": {"level": before, "name": rules.name_of(before)},
                                 "https://w3id.org/xapi/lms/level-after": {"level": after, "name": name}}}
        queue(session, config, key, statement(config, key, user_id, verb,
                                              activity(config, "objective", f"objectives/{objective.key}", objective.title),
                                              now, result=result), now)


def on_certificate_issued(certificate: Certificate, *, session: DbSession, now: datetime, **_: Any) -> None:
    """A level certificate earned: completed the level (a course activity), the certificate's
    public page in the context."""
    config = _config()
    if not enabled(config):
        return
    level = certificate.level
    key = f"certificate:{certificate.user_id}:{level.key}"
    home = activity(config, "course", f"levels/{level.key}", f"{level.title} level")
    queue(session, config, key, statement(
        config, key, certificate.user_id, "completed", home, now, result={"completion": True, "success": True},
        context={"extensions": {"https://w3id.org/xapi/lms/certificate": f"{home['id'].rsplit('levels/', 1)[0]}"
                                                                          f"certificates/{certificate.code}"}}), now)
