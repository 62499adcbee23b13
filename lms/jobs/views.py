"""The site admin's jobs page (queued, running, failed with the error, a retry button);
a job's own page for whoever asked for it (progress, then the download); asking for a
large export as a job."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in
from lms.audit.services import origin
from lms.cohorts.models import Cohort, Organization
from lms.extensions import db
from lms.jobs import runner, services
from lms.jobs.exports import ExportJob, OrganizationExportJob, SourcedExport, keep_for
from lms.jobs.forms import ButtonForm, RunJobForm
from lms.jobs.models import Job, JobStatus
from lms.storage.backends import file_storage
from lms.web.downloads import content_disposition

bp = Blueprint("jobs", __name__, template_folder="templates")


def _run_form() -> RunJobForm:
    form = RunJobForm()
    form.kind.choices = [("", "Choose a job"), *((k.name, k.label) for k in runner.periodic(current_app))]
    return form


def _board(form: ButtonForm, status: int = 200, run_form: RunJobForm | None = None) -> tuple[str, int]:
    return render_template("jobs/board.html", board=services.board(db.session), form=form, statuses=JobStatus,
                           keep=keep_for(current_app.config), run_form=run_form or _run_form()), status


@bp.get("/admin/jobs")
def board() -> tuple[str, int]:
    return _board(ButtonForm())


@bp.post("/admin/jobs/run")
def run_now() -> Response | tuple[str, int]:
    """Queue one of the periodic jobs now (as cron would): without Redis it runs once this
    request has committed, so the job's page shows its result. A job of the kind still
    queued or running is shown instead of a second one."""
    form = _run_form()
    if not form.validate_on_submit():
        return _board(ButtonForm(), 400, run_form=form)
    chosen = runner.kind(current_app, form.kind.data or "")
    job, new = services.queue_periodic(db.session, chosen.name, chosen.describe({}), chosen.max_attempts,
                                       requested_by_id=signed_in().id, by=origin(db.session))
    if new and current_app.config.get("REDIS_URL"):
        flash(f"Job {job.id} ({chosen.label.lower()}) was queued: a worker runs it.", "success")
    elif new:  # no worker: it runs once this request has committed, before the page redirected to
        flash(f"Job {job.id} ({chosen.label.lower()}) was run; how it went is below.", "success")
    else:
        flash(f"Job {job.id} ({chosen.label.lower()}) was already {job.status.value}: nothing new was queued.", "info")
    return redirect(url_for("jobs.job", job_id=job.id))


@bp.post("/admin/jobs/<int:job_id>/retry")
def retry(job_id: int) -> Response | tuple[str, int]:
    form = ButtonForm()
    if not form.validate_on_submit():
        return _board(form, 400)
    if db.session.get(Job, job_id) is None:
        abort(404)
    if services.retry(db.session, job_id, by=origin(db.session)):
        flash(f"Job {job_id} will run again now.", "success")
    else:
        flash(f"Job {job_id} was not retried: it is running or done, or the same work is queued already.", "info")
    return redirect(url_for("jobs.board"))


def _job(job_id: int) -> Job:
    return db.session.get(Job, job_id) or abort(404)


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> str:
    return render_template("jobs/job.html", job=_job(job_id), statuses=JobStatus, keep=keep_for(current_app.config))


@bp.get("/jobs/<int:job_id>/download")
def download(job_id: int) -> Response:
    found = _job(job_id)
    if found.status is not JobStatus.DONE or not found.file_path:
        abort(404)
    opened = file_storage().open(found.file_path)  # the upload folder or the database: any node serves it
    if opened is None:
        abort(404)
    response = Response(opened.chunks, mimetype=found.file_type or "application/octet-stream", direct_passthrough=True)
    response.content_length = opened.size
    response.headers["Content-Disposition"] = content_disposition(found.file_name or found.file_path.rsplit("/", 1)[-1])
    response.headers["Cache-Control"] = "private, no-store"
    return response


K = TypeVar("K", ExportJob, OrganizationExportJob)


def _export_kind(kind: type[K], source: str, fmt: str) -> K:
    """The installed export kind with that source and format (else 404), once the form's token is checked."""
    found = runner.kinds(current_app).get(kind.name)
    if not isinstance(found, kind):
        abort(404)
    try:
        found.source(source, fmt)
    except services.JobError:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400, "This page had expired: ask for the export again.")
    return found


def _queue_export(kind: SourcedExport[Any], params: dict[str, Any], user_id: int, key: str) -> Response:
    made = services.queue_job(db.session, kind.name, params, label=kind.describe(params), max_attempts=kind.max_attempts,
                              requested_by_id=user_id, key=key)
    return redirect(url_for("jobs.job", job_id=made.id))


@bp.post("/cohorts/<int:cohort_id>/exports/<source>.<fmt>")
def cohort_export(cohort_id: int, source: str, fmt: str) -> Response:
    """Queue a cohort's export as a job (one live job per cohort, export and options)."""
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    exporter = _export_kind(ExportJob, source, fmt)
    args = {key: value for key, value in request.form.items()
            if key not in ("csrf_token", "submit") and len(key) <= 40 and len(value) <= 200}
    user = signed_in()
    params = {"source": source, "cohort_id": cohort.id, "cohort_name": cohort.name, "format": fmt, "args": args}
    options = hashlib.sha256("&".join(f"{k}={v}" for k, v in sorted(args.items())).encode()).hexdigest()[:16]
    return _queue_export(exporter, params, user.id, f"export:{user.id}:{source}:{cohort.id}:{fmt}:{options}")


@bp.post("/organizations/<int:org_id>/exports/<source>.<fmt>")
def organization_export(org_id: int, source: str, fmt: str) -> Response:
    """Queue an organization's export as a job (one live job per person, organization, export and format)."""
    organization = db.session.get(Organization, org_id) or abort(404)
    exporter = _export_kind(OrganizationExportJob, source, fmt)
    user = signed_in()
    params = {"source": source, "organization_id": organization.id, "organization_name": organization.name, "format": fmt}
    return _queue_export(exporter, params, user.id, f"organization-export:{user.id}:{source}:{organization.id}:{fmt}")
