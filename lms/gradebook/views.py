"""The gradebook page, its exports and its bulk actions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from lms.accounts.current import signed_in
from lms.cohorts.models import Cohort
from lms.competency.services import at_risk_learners
from lms.coursework.views import _uploads
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook import services
from lms.gradebook.exports import EXPORTERS
from lms.gradebook.forms import AtRiskMessageForm, BulkForm, CsrfForm
from lms.gradebook.models import BulkAction, RowFilter, Scope
from lms.gradebook.render import gradebook_rows
from lms.grading.services import GradingError, StaleGrade
from lms.jobs import exports
from lms.web.downloads import content_disposition, export_name, streamed_download
from lms.web.forms import DayOutOfRange, labelled_choices, parse_day, refuse_field

bp = Blueprint("gradebook", __name__, template_folder="templates")
NOT_IN_COHORT = ("A learner or the item chosen is not part of the gradebook of this cohort. Open the gradebook again "
                 "and choose from what it shows.")


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


def _filters(args: MultiDict[str, str]) -> tuple[RowFilter, str | None]:
    try:
        row_filter = RowFilter(args.get("show", RowFilter.ALL))
    except ValueError:
        row_filter = RowFilter.ALL
    return row_filter, args.get("module") or None


def _page(cohort: Cohort, row_filter: RowFilter, module: str | None, error: str | None = None,
          posted: Any = None, status: int = 200, page: int = 1, form: BulkForm | None = None) -> tuple[str, int]:
    """The gradebook; after a refused action, the bulk form as sent (``form``: with a
    refusal by its field) and the learners ticked (``posted``)."""
    book = services.gradebook(db.session, cohort, utcnow(), row_filter, module, page)
    form = form or BulkForm(formdata=posted or None)
    form.until.description = services.extension_limits(db.session, cohort).words
    form.column.choices = labelled_choices({c.id: f"M{c.month} · {c.label} · {c.title}" for c in book.columns})
    return render_template("gradebook/gradebook.html", book=book, form=form, error=error, posted=posted or {},
                           picked=set(posted.getlist("learner")) if posted else set(),
                           filters=services.FILTER_LABELS, exporters=EXPORTERS.values(), actions=BulkAction,
                           scopes=Scope, gradebook_rows=gradebook_rows), status


@bp.get("/cohorts/<int:cohort_id>/gradebook")
def page(cohort_id: int) -> tuple[str, int]:
    return _page(_cohort(cohort_id), *_filters(request.args), page=request.args.get("page", 1, type=int))


@bp.get("/cohorts/<int:cohort_id>/gradebook.<fmt>")
def export(cohort_id: int, fmt: str) -> Response | str:
    """Streamed row by row; a cohort past EXPORT_BACKGROUND_ABOVE learners is offered a background job."""
    cohort = _cohort(cohort_id)
    exporter = EXPORTERS.get(fmt) or abort(404)
    if exports.in_background(db.session, current_app.config, cohort.id):
        return exports.offer(cohort, "gradebook", fmt, request.args)
    found = services.export_rows(db.session, cohort, utcnow(), *_filters(request.args))  # a chunk of learners at a time
    filename = export_name("gradebook", cohort.name, day=utcnow(), extension=exporter.extension)
    return streamed_download(exporter.stream_rows(found.columns, found.rows), mimetype=exporter.mimetype, filename=filename)


def _seen(values: list[str]) -> dict[int, int]:
    """``grade id:revision`` pairs the page showed; anything else is ignored."""
    seen = {}
    for value in values:
        grade_id, _, revision = value.partition(":")
        if grade_id.isdigit() and revision.isdigit():
            seen[int(grade_id)] = int(revision)
    return seen


@bp.post("/cohorts/<int:cohort_id>/gradebook")
def bulk(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    form = request.form
    row_filter, module = _filters(form)

    def refused(message: str, status: int = 400, field: str | None = None) -> tuple[str, int]:
        """The page again with the form as sent; the message by ``field`` when it is about one."""
        fields = BulkForm(formdata=form)
        shown = refuse_field(fields, field, message)
        return _page(cohort, row_filter, module, error=None if shown else message, posted=form, status=status,
                     page=form.get("page", 1, type=int), form=fields)

    try:
        action = BulkAction(form.get("action", ""))
        scope = Scope(form.get("scope", Scope.SELECTED))
    except ValueError:
        return refused("Choose an action for the learners.")
    ids = form.getlist("learner")
    if not all(i.isdigit() and len(i) < 10 for i in ids):
        abort(404)
    try:
        if scope == Scope.SHOWN:
            users = services.shown_learners(db.session, cohort, utcnow(), row_filter, module)
        else:
            users = services.learners_in(db.session, cohort, (int(i) for i in ids))
        column = services.column_of(db.session, form.get("column", "")) if action != BulkAction.MESSAGE else None
    except services.NotInCohort:
        abort(404, NOT_IN_COHORT)
    if not users:
        return refused("Tick the learners first, or choose every learner the filter shows.")
    user, now = signed_in(), utcnow()
    try:
        if action == BulkAction.REMOVE_EXTENSION:  # nothing written yet: the confirmation lists what would be
            assert column is not None
            return _removal_page(cohort, column, services.extensions_of(db.session, column, users), row_filter, module,
                                 form.get("page", 1, type=int))
        if action == BulkAction.DOWNLOAD:
            assert column is not None
            archive = services.submissions_archive(db.session, cohort, column, users)
            filename = export_name("submissions", cohort.name, column.key, day=now, extension="zip")
            return Response(services.zip_stream(archive, _uploads()), mimetype="application/zip",
                            headers={"Content-Disposition": content_disposition(filename),
                                     "Cache-Control": "private, no-store"})
        if action == BulkAction.RELEASE:
            assert column is not None
            outcome = services.release_drafted(db.session, cohort, column, users, _seen(form.getlist("seen")), user, now)
        elif action == BulkAction.EXTEND:
            assert column is not None
            try:
                until = parse_day(form.get("until", ""))
            except DayOutOfRange as exc:
                return refused(str(exc), field="until")
            except ValueError:
                return refused("Give the new due date as a date.", field="until")
            outcome = services.grant_extensions(db.session, cohort, column, users, until, form.get("note", ""), user, now)
        else:
            outcome = services.message_learners(db.session, cohort, users, form.get("subject", ""),
                                                form.get("body", ""), user, now, url_for("learning.home"))
    except StaleGrade as exc:
        db.session.rollback()
        return refused(f"Nothing was released: {exc.current.grader.name} changed a grade of this column while you "
                       "were releasing. The page below shows the grades as they now stand.", 409)
    except services.GradebookError as exc:
        db.session.rollback()
        return refused(str(exc), field=exc.field)
    except GradingError as exc:
        db.session.rollback()
        return refused(str(exc))
    current_app.logger.info("gradebook %s in cohort %s by user %s: %s", action, cohort.id, user.id, outcome.summary)
    if action in (BulkAction.RELEASE, BulkAction.EXTEND) and not outcome.done:
        # Done for nobody: the answer comes with the form as it was sent (the learners
        # ticked, the item, date and note), to correct and send again.
        return refused(outcome.summary)
    flash(outcome.summary, "warning" if outcome.warned else "success")
    return redirect(url_for("gradebook.page", cohort_id=cohort.id, show=row_filter.value, module=module))


def _removal_page(cohort: Cohort, column: services.Column, listed: list[services.Shown], row_filter: RowFilter,
                  module: str | None, page: int) -> tuple[str, int]:
    """The confirmation of "Remove extension": which ticked learners have an extension of
    the item's part (its date, who granted it) and which have none (skipped). It carries
    what it shows back (``Shown.value``), so a change since is skipped, not undone unseen."""
    return render_template("gradebook/remove_extensions.html", cohort=cohort, column=column, listed=listed,
                           extended=[s for s in listed if s.extension is not None],
                           without=[s for s in listed if s.extension is None], form=CsrfForm(),
                           row_filter=row_filter, module=module, page=page), 200


@bp.post("/cohorts/<int:cohort_id>/gradebook/remove-extensions")
def remove_extensions(cohort_id: int) -> Any:
    """The confirmed "Remove extension": every extension the confirmation page listed, as it listed it."""
    cohort = _cohort(cohort_id)
    form = request.form
    row_filter, module = _filters(form)

    def refused(message: str, status: int = 400) -> tuple[str, int]:
        return _page(cohort, row_filter, module, error=f"Nothing was removed: {message}", posted=form, status=status,
                     page=form.get("page", 1, type=int))

    shown = services.parse_shown(form.getlist("shown"))
    if shown is None:
        return refused("the confirmation did not come from its page. Tick the learners and choose Remove extension again.")
    if not shown:
        return refused("no learner was listed. Tick the learners first, then choose Remove extension.")
    try:
        column = services.column_of(db.session, form.get("column", ""))
    except services.NotInCohort:
        return refused("the item is not in the gradebook (it may have been retired). Choose the item again.")
    try:
        users = services.learners_in(db.session, cohort, shown)
    except services.NotInCohort:
        return refused("a learner listed is not a learner of this cohort (they may have moved or left since the "
                       "confirmation page opened). Tick the learners again.")
    user = signed_in()
    try:
        outcome = services.remove_extensions(db.session, cohort, column, users, shown, user, utcnow())
    except services.GradebookError as exc:
        db.session.rollback()
        return refused(str(exc))
    current_app.logger.info("gradebook %s in cohort %s by user %s: %s", BulkAction.REMOVE_EXTENSION, cohort.id, user.id,
                            outcome.summary)
    flash(outcome.summary, "warning" if outcome.warned else "success")
    return redirect(url_for("gradebook.page", cohort_id=cohort.id, show=row_filter.value, module=module))


def _at_risk_page(cohort: Cohort, query: str, ticked: set[int] | None = None, error: str | None = None,
                  form: AtRiskMessageForm | None = None, status: int = 200) -> tuple[str, int]:
    learners = at_risk_learners(db.session, cohort, utcnow(), query)
    return render_template("gradebook/message_at_risk.html", cohort=cohort, learners=learners, query=query,
                           ticked={u.id for u in learners} if ticked is None else ticked,
                           form=form or AtRiskMessageForm(formdata=None), error=error), status


@bp.get("/cohorts/<int:cohort_id>/gradebook/message-at-risk")
def message_at_risk_form(cohort_id: int) -> tuple[str, int]:
    """The heat map's at-risk list (under its name or email filter, ``?q=``), every learner
    ticked, with a message to write: the heat map's "Message these learners" link."""
    return _at_risk_page(_cohort(cohort_id), request.args.get("q", "")[:100])


@bp.post("/cohorts/<int:cohort_id>/gradebook/message-at-risk")
def message_at_risk(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    form = request.form
    query = form.get("q", "")[:100]
    ids = form.getlist("learner")
    if not all(i.isdigit() and len(i) < 10 for i in ids):
        abort(404)
    ticked = {int(i) for i in ids}
    user = signed_in()
    try:
        outcome = services.message_at_risk(db.session, cohort, ticked, query, form.get("subject", ""), form.get("body", ""),
                                           user, utcnow(), url_for("learning.home"))
    except services.NotInCohort:
        abort(404)
    except services.GradebookError as exc:
        db.session.rollback()
        fields = AtRiskMessageForm(formdata=form)
        shown = refuse_field(fields, exc.field, str(exc))
        return _at_risk_page(cohort, query, ticked, None if shown else str(exc), fields, 400)
    current_app.logger.info("at-risk message in cohort %s by user %s: %s", cohort.id, user.id, outcome.summary)
    flash(outcome.summary, "warning" if outcome.warned else "success")
    return redirect(url_for("competency.heat_map", cohort_id=cohort.id, q=query or None, _anchor="at-risk"))
