"""Quizzes for learners (list, start, answer page by page, submit, result) and for
staff (statistics per cohort, grading essay answers)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.assessment import services
from lms.assessment.forms import CsrfForm, EssayGradeForm, WithdrawItemForm
from lms.assessment.kinds import QuestionKind
from lms.assessment.methods import REVIEW_POLICIES
from lms.assessment.models import Attempt, AttemptClosedBy, Quiz, Response
from lms.assessment.questions import QUESTION_TYPES, AnswerError
from lms.catalog.models import Lesson
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of, staff_cohorts
from lms.database import utcnow
from lms.extensions import db
from lms.web.filters import localtime
from lms.web.forms import add_error

bp = Blueprint("assessment", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/assessment")


@bp.context_processor
def question_types() -> dict[str, Any]:
    return {"types": QUESTION_TYPES}


@bp.app_template_global("lesson_check")
def lesson_check(lesson: Lesson) -> services.CheckLink | None:
    """For the lesson page: the weekly check of its unit, if it has one."""
    return services.lesson_check(db.session, lesson.id)


def _quiz(key: str) -> Quiz:
    return services.get_quiz(db.session, key) or abort(404)


def _attempt(attempt_id: int) -> Attempt:
    return db.session.get(Attempt, attempt_id) or abort(404)


@bp.get("/quizzes")
def quizzes() -> str:
    user = signed_in()
    now = utcnow()
    roles = roles_of(db.session, user)
    items = services.active_quizzes(db.session)
    statuses = services.quiz_statuses(db.session, items, user, now) if roles.enrolment else {}
    return render_template("assessment/quizzes.html", quizzes=items, statuses=statuses,
                           staff_cohorts=staff_cohorts(db.session, user) if roles.is_staff else [])


@bp.get("/quizzes/<key>")
def quiz(key: str) -> str:
    quiz = _quiz(key)
    status = services.quiz_status(db.session, quiz, signed_in(), utcnow())
    return render_template("assessment/quiz.html", quiz=quiz, status=status, form=CsrfForm(),
                           review=REVIEW_POLICIES[quiz.review],
                           questions=sum(v.type != QuestionKind.DESCRIPTION  # text to read is not a question
                                         for _, v in services.current_versions(db.session, quiz)))


@bp.post("/quizzes/<key>/start")
def start(key: str) -> WerkzeugResponse:
    quiz = _quiz(key)
    try:
        attempt = services.start_attempt(db.session, quiz, signed_in(), utcnow())
    except services.QuizError as exc:  # attempts closed on the way are kept: the redirect commits
        flash(str(exc), "error")
        return redirect(url_for("assessment.quiz", key=quiz.key))
    first = next((p.index for p in services.page_views(db.session, attempt) if not p.answered), 0)
    return redirect(url_for("assessment.page", attempt_id=attempt.id, page=first))


# What attempt_timer.js sends as "go" a few seconds before a timed attempt's deadline: save
# the page as it stands and submit the attempt.
FINISH = "finish"


def _render_page(attempt: Attempt, page: int, error: str | None = None, status: int = 200,
                 error_field: str | None = None) -> tuple[str, int]:
    """A page of the attempt; refused (``error``, about the answer ``error_field`` when known),
    with what was sent shown again as typed."""
    pages = services.page_views(db.session, attempt)
    return render_template("assessment/page.html", attempt=attempt, pages=pages, current=pages[page],
                           form=CsrfForm(), error=error, error_field=error_field, now=utcnow(),
                           submitted=request.form if error is not None else None), status


@bp.get("/attempts/<int:attempt_id>/pages/<int:page>")
def page(attempt_id: int, page: int) -> Any:
    attempt = _attempt(attempt_id)
    if attempt.finished or services.time_is_up(attempt, utcnow()):
        return redirect(url_for("assessment.result", attempt_id=attempt.id))
    if not 0 <= page < len(attempt.layout):
        abort(404)
    return _render_page(attempt, page)


@bp.post("/attempts/<int:attempt_id>/pages/<int:page>")
def save(attempt_id: int, page: int) -> Any:
    attempt = _attempt(attempt_id)
    go = request.form.get("go", "next")
    try:
        services.save_page(db.session, attempt, page, request.form, utcnow())
    except services.AttemptClosed as exc:  # the expiry itself is kept: the redirect commits
        flash(str(exc), "error")
        return redirect(url_for("assessment.result", attempt_id=attempt.id))
    except services.QuizError:
        abort(404)
    except AnswerError as exc:
        db.session.rollback()
        if go != FINISH:
            return _render_page(attempt, page, error=str(exc), status=400, error_field=exc.field)
        # time is all but up: the attempt is submitted on the answers saved before
        flash(f"Time was all but up, and the answer to question {page + 1} could not be saved: {exc} The attempt "
              "was submitted on your other answers.", "error")
        return _finish(_attempt(attempt_id))
    if go == FINISH:
        flash("Time was all but up: the answers on the page were saved and the attempt submitted.", "success")
        return _finish(attempt)
    if go == "review":
        return redirect(url_for("assessment.review", attempt_id=attempt.id))
    target = page - 1 if go == "prev" else page + 1 if go == "next" else int(go) if go.isdecimal() and len(go) <= 4 else page
    if not 0 <= target < len(attempt.layout):
        return redirect(url_for("assessment.review", attempt_id=attempt.id))
    return redirect(url_for("assessment.page", attempt_id=attempt.id, page=target))


def _finish(attempt: Attempt) -> WerkzeugResponse:
    services.submit_attempt(db.session, attempt, utcnow())
    return redirect(url_for("assessment.result", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>/review")
def review(attempt_id: int) -> Any:
    attempt = _attempt(attempt_id)
    if attempt.finished or services.time_is_up(attempt, utcnow()):
        return redirect(url_for("assessment.result", attempt_id=attempt.id))
    return render_template("assessment/review.html", attempt=attempt, pages=services.page_views(db.session, attempt),
                           form=CsrfForm(), now=utcnow())


@bp.post("/attempts/<int:attempt_id>/submit")
def submit(attempt_id: int) -> WerkzeugResponse:
    attempt = _attempt(attempt_id)
    was_finished = attempt.finished
    services.submit_attempt(db.session, attempt, utcnow())
    if not was_finished and attempt.closed_by == AttemptClosedBy.TIME_LIMIT:
        flash("Time was up before you submitted: the attempt was scored on the answers saved in time.", "error")
    return redirect(url_for("assessment.result", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>")
def result(attempt_id: int) -> Any:
    attempt = _attempt(attempt_id)
    now = utcnow()
    if services.time_is_up(attempt, now):  # closed by a write: the learner's click, or the command
        return render_template("assessment/time_up.html", attempt=attempt, form=CsrfForm())
    if not attempt.finished:
        return redirect(url_for("assessment.review", attempt_id=attempt.id))
    show = services.shows_answers(db.session, attempt, now)
    # Where the learner stands for a next attempt (none for a withdrawn quiz: its page is gone).
    status = None if attempt.quiz.retired_at else services.quiz_status(db.session, attempt.quiz, signed_in(), now)
    return render_template("assessment/result.html", attempt=attempt, show=show, status=status, form=CsrfForm(),
                           pages=services.page_views(db.session, attempt, show_answers=show))


@bp.get("/grading/essays")
def essay_queue() -> str:
    cohorts = {c.id: c for c in staff_cohorts(db.session, signed_in())}
    return render_template("assessment/essay_queue.html", cohorts=cohorts,
                           responses=services.pending_essays(db.session, list(cohorts)))


def _render_statistics(cohort: Cohort, quiz: Quiz, grade_form: EssayGradeForm | None = None,
                       withdraw_form: WithdrawItemForm | None = None, **extra: Any) -> str:
    return render_template("assessment/statistics.html", cohort=cohort, quiz=quiz,
                           stats=services.quiz_statistics(db.session, quiz, cohort),
                           grade_form=grade_form or EssayGradeForm(), withdraw_form=withdraw_form or WithdrawItemForm(),
                           flag_rules=services.ITEM_FLAG_RULES, min_attempts=services.FLAG_MIN_ATTEMPTS,
                           essay_seen=services.essay_seen, **extra)


@bp.get("/cohorts/<int:cohort_id>/quizzes/<key>/statistics")
def statistics(cohort_id: int, key: str) -> str:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    return _render_statistics(cohort, _quiz(key))


@bp.post("/cohorts/<int:cohort_id>/quizzes/<key>/withdraw")
def withdraw_item(cohort_id: int, key: str) -> Any:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    quiz = _quiz(key)
    form = WithdrawItemForm()
    if form.validate_on_submit():
        try:
            withdrawal = services.withdraw_item(db.session, quiz, cohort, form.item.data or "", form.reason.data or "",
                                                signed_in(), utcnow(), regrade=bool(form.regrade.data))
        except services.QuizError as exc:
            db.session.rollback()
            add_error(form.item, str(exc))
        else:
            done = f"Item {withdrawal.question.key} withdrawn: new attempts no longer draw it."
            if withdrawal.regraded_at is not None:
                n = withdrawal.regraded_attempts
                done += f" {n} finished attempt{'s' if n != 1 else ''} of this cohort rescored without it."
            flash(done, "success")
            return redirect(url_for("assessment.statistics", cohort_id=cohort.id, key=quiz.key) + "#items")
    return _render_statistics(cohort, quiz, withdraw_form=form), 400


@bp.post("/cohorts/<int:cohort_id>/responses/<int:response_id>/grade")
def grade(cohort_id: int, response_id: int) -> Any:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    response = db.session.get(Response, response_id)
    if response is None or response.attempt.cohort_id != cohort.id:
        abort(404)
    form = EssayGradeForm()
    quiz = response.attempt.quiz
    seen = request.form.get("seen") or None  # what the page showed of the answer's grade
    if form.validate_on_submit():
        assert form.points.data is not None  # InputRequired: a validated form has parsed points
        try:
            services.grade_essay(db.session, response, float(form.points.data), form.comment.data or "", signed_in(), utcnow(),
                                 seen=seen)
        except services.StaleEssayGrade as exc:
            db.session.rollback()
            current = db.session.get(Response, response_id) or abort(404)
            grader = db.session.get(User, current.graded_by_id) if current.graded_by_id is not None else None
            who = ("you" if grader is not None and grader.id == signed_in().id  # their own save, from another tab
                   else grader.name if grader is not None else "someone")
            add_error(form.points, f"Not saved: {who} graded this answer "
                                   f"{current.score:g} point{'' if current.score == 1 else 's'} at {localtime(current.graded_at)} "
                                   f"{'in another tab or window, ' if who == 'you' else ''}after this page was opened. "
                                   "Your points and comment are kept here: save again to replace that grade."
                      if current.score is not None and current.graded_at else str(exc))
            seen = services.essay_seen(current)  # a second save is a deliberate choice over the grade now shown
            return _render_statistics(cohort, current.attempt.quiz, grade_form=form, grading=current.id, seen=seen), 409
        except services.QuizError as exc:
            add_error(form.points, str(exc))
        else:
            flash("Grade saved.", "success")
            return redirect(url_for("assessment.statistics", cohort_id=cohort.id, key=quiz.key) + "#essays")
    return _render_statistics(cohort, quiz, grade_form=form, grading=response.id, seen=seen), 400
