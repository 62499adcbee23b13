"""The one list of background job kinds (``JOB_KINDS``), installed by ``create_app``; and
the export sources the ``export`` kind makes files of. Assembly only: each kind is a small
class calling one feature's service, as its ``flask lms`` command does. Queue the
periodic ones from cron with ``flask lms queue-job NAME`` (the worker runs them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lms.accounts import devices
from lms.announcements import services as announcements
from lms.announcements.views import link_for
from lms.api.removals import DEFAULT_KEPT_DAYS
from lms.api.removals import prune as prune_removals
from lms.certificates.services import issue_due_in
from lms.cohorts.models import Cohort, Organization
from lms.competency import services as competency
from lms.competency.exports import EXPORTERS as HEAT_MAP_EXPORTERS
from lms.competency.exports import ORGANIZATION_EXPORTERS, organization_export
from lms.database import DbSession, unit_of_work, utcnow
from lms.gradebook import services as gradebook
from lms.gradebook.exports import EXPORTERS as GRADEBOOK_EXPORTERS
from lms.gradebook.models import RowFilter
from lms.grading.exports import EXPORTERS as GRADE_EXPORTERS
from lms.grading.exports import grade_rows
from lms.jobs.exports import (
    ExpireExports,
    ExportFile,
    ExportJob,
    ExportSource,
    OrganizationExportJob,
    OrganizationExportSource,
    Tally,
)
from lms.jobs.kinds import JobKind, Work
from lms.mail.services import deliver_pending, transport_for
from lms.notifications.reminders import run_reminders
from lms.notifications.services import BASE_URL, reminders_due
from lms.progress import state as progress_state
from lms.progress.services import rebuild, reweigh
from lms.search.services import rebuild_index
from lms.web.downloads import export_name


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _base_url(work: Work) -> None:
    base = str(work.params.get("base_url") or work.app.config.get("BASE_URL") or "")
    if base:
        work.session.info[BASE_URL] = base


class DeliverMail(JobKind):
    name, label, from_command = "deliver-mail", "Deliver the outbox's due mail", True

    def run(self, work: Work) -> str:
        return f"Delivered {_plural(deliver_pending(work.session, transport_for(work.app.config)), 'email')}."


class SendReminders(JobKind):
    """Reminders, staff notices and the daily digests due now; each notice is made once."""

    name, label, from_command = "send-reminders", "Send the reminders and digests due", True

    def run(self, work: Work) -> str:
        session, now = work.session, utcnow()
        _base_url(work)
        report = run_reminders(session, now)
        with work.app.test_request_context(), unit_of_work(session):
            reminders_due.send(work.app, session=session, now=now)
        mailed = deliver_pending(session, transport_for(work.app.config))
        if report.failed:  # the rest is done and committed; the job is tried again
            raise RuntimeError(f"{report.problem} ({_plural(report.made, 'notice')} made for the other cohorts)")
        return f"Made {_plural(report.made, 'notice')}; queued {_plural(report.digests, 'digest')}; delivered {_plural(mailed, 'email')}."


class PublishAnnouncements(JobKind):
    name, label, from_command = "publish-announcements", "Notify learners of scheduled announcements", True

    def run(self, work: Work) -> str:
        _base_url(work)
        with work.app.test_request_context(), unit_of_work(work.session):
            count = announcements.publish_due(work.session, utcnow(), link_for)
        return f"Notified the learners of {_plural(count, 'announcement')}."


class RebuildMastery(JobKind):
    name, label, from_command = "rebuild-mastery", "Rebuild mastery from the evidence", True
    max_attempts = 3

    def run(self, work: Work) -> str:
        with unit_of_work(work.session):
            reweigh(work.session)
            count = rebuild(work.session, utcnow())
        return f"Rebuilt {_plural(count, 'mastery record')}."


class RebuildProgress(JobKind):
    name, label, from_command = "rebuild-progress", "Rebuild every learner's schedule state", True
    max_attempts = 3

    def run(self, work: Work) -> str:
        with unit_of_work(work.session):
            rows = progress_state.rebuild(work.session, utcnow())
        return f"Rebuilt {_plural(rows, 'schedule item')}."


class RebuildSearch(JobKind):
    name, label, from_command = "rebuild-search", "Rebuild the search index", True
    max_attempts = 3

    def run(self, work: Work) -> str:
        with unit_of_work(work.session):
            report = rebuild_index(work.session)
        return f"{report.created} added, {report.updated} updated, {report.removed} removed."


class CheckCertificates(JobKind):
    """Issue every certificate due (as a grade release would): a cohort at a time, each
    committed on its own, asking only the learners whose kept state has a level complete
    without its certificate (``learners_due``); issuing twice gives nothing more."""

    name, label, from_command = "check-certificates", "Issue the certificates due", True

    def run(self, work: Work) -> str:
        session = work.session
        cohorts = list(session.scalars(select(Cohort.id).where(Cohort.archived_at.is_(None)).order_by(Cohort.id)))
        issued = 0
        for index, cohort_id in enumerate(cohorts):
            with unit_of_work(session):
                issued += issue_due_in(session, session.get_one(Cohort, cohort_id), utcnow())
            work.progress(index + 1, len(cohorts))
        return f"Issued {_plural(issued, 'certificate')} to the learners of {_plural(len(cohorts), 'cohort')}."


class PruneRemovals(JobKind):
    """The API's removal records older than ``API_REMOVALS_KEPT_DAYS`` deleted, as
    ``flask lms prune-removals`` does (cron: daily, ``flask lms queue-job prune-removals``)."""

    name, label, from_command = "prune-removals", "Delete the API's old removal records", True

    def run(self, work: Work) -> str:
        days = int(work.app.config.get("API_REMOVALS_KEPT_DAYS") or DEFAULT_KEPT_DAYS)
        with unit_of_work(work.session):
            count = prune_removals(work.session, timedelta(days=days), utcnow())
        return f"Deleted {_plural(count, 'removal record')} older than {days} days."


class PruneSignIns(JobKind):
    """The sign-ins (``lms.accounts.devices``) ended or expired more than
    ``SIGN_IN_DEVICES_KEPT_DAYS`` ago deleted, as ``flask lms prune-sign-ins`` does (cron:
    daily, ``flask lms queue-job prune-sign-ins``)."""

    name, label, from_command = "prune-sign-ins", "Delete the sign-ins long ended or expired", True

    def run(self, work: Work) -> str:
        days = int(work.app.config.get("SIGN_IN_DEVICES_KEPT_DAYS") or devices.DEFAULT_KEPT_DAYS)
        with unit_of_work(work.session):
            count = devices.prune(work.session, timedelta(days=days), utcnow())
        return f"Deleted {_plural(count, 'sign-in')} ended or expired more than {days} days ago."


class KeepTrends(JobKind):
    """Each active cohort's trend for its months gone by, replayed from the evidence and
    stored (``competency.keep_trend``) where it changed: a cohort at a time, each committed
    on its own. Run nightly (a month ends at a cohort's midnight), a process started since
    shows the months gone by without replaying them."""

    name, label, from_command = "keep-trends", "Keep each cohort's trend by month", True
    max_attempts = 3

    def run(self, work: Work) -> str:
        session = work.session
        cohorts = list(session.scalars(select(Cohort.id).where(Cohort.archived_at.is_(None)).order_by(Cohort.id)))
        written = 0
        for index, cohort_id in enumerate(cohorts):
            with unit_of_work(session):
                written += competency.keep_trend(session, session.get_one(Cohort, cohort_id), utcnow())
            work.progress(index + 1, len(cohorts))
        return f"Stored the trend of {_plural(written, 'cohort')}; {len(cohorts) - written} had nothing new to store."


# --------------------------------------------------------------------------- exports


class HeatMapExport(ExportSource):
    name, label, formats = "competency", "Competency heat map", tuple(HEAT_MAP_EXPORTERS)

    def build(self, session: DbSession, cohort: Cohort, fmt: str, args: Mapping[str, str], now: datetime) -> ExportFile:
        exporter = HEAT_MAP_EXPORTERS[fmt]
        heat = competency.heat_map(session, cohort, now, args.get("sort"), args.get("dir") == "desc", query=args.get("q", "")[:100],
                                   risk_only=args.get("risk") == "1", streamed=True)
        listed = Tally("learner")
        return ExportFile(export_name(heat.file_kind, cohort.name, day=now, extension=exporter.extension), exporter.mimetype,
                          heat.learners + 1, exporter.stream(heat, listed), listed)


class GradesExport(ExportSource):
    name, label, formats = "grades", "Grades", tuple(GRADE_EXPORTERS)

    def build(self, session: DbSession, cohort: Cohort, fmt: str, args: Mapping[str, str], now: datetime) -> ExportFile:
        exporter = GRADE_EXPORTERS[fmt]
        found = grade_rows(session, cohort)
        listed = Tally("piece of work handed in", "pieces of work handed in")  # a row per learner and assignment
        return ExportFile(export_name("grades", cohort.name, day=now, extension=exporter.extension),
                          exporter.mimetype, found.estimate + 1, exporter.stream_rows(found.columns, listed.each(found.rows)), listed)


def _gradebook_filters(args: MultiDict[str, str]) -> tuple[RowFilter, str | None]:
    """The gradebook page's filters (``show``, ``module``), as its export reads them."""
    try:
        row_filter = RowFilter(args.get("show", RowFilter.ALL))
    except ValueError:
        row_filter = RowFilter.ALL
    return row_filter, args.get("module") or None


class GradebookExport(ExportSource):
    name, label, formats = "gradebook", "Gradebook", tuple(GRADEBOOK_EXPORTERS)

    def build(self, session: DbSession, cohort: Cohort, fmt: str, args: Mapping[str, str], now: datetime) -> ExportFile:
        exporter = GRADEBOOK_EXPORTERS[fmt]
        found = gradebook.export_rows(session, cohort, now, *_gradebook_filters(MultiDict(args)))
        listed = Tally("learner")
        return ExportFile(export_name("gradebook", cohort.name, day=now, extension=exporter.extension), exporter.mimetype,
                          found.estimate + 1, exporter.stream_rows(found.columns, listed.each(found.rows)), listed)


EXPORT_SOURCES: tuple[ExportSource, ...] = (HeatMapExport(), GradesExport(), GradebookExport())


class OrganizationHeatMapExport(OrganizationExportSource):
    """Every learner of the organization's active cohorts, with the heat map's columns."""

    name, label, formats = "competency", "Competency of every learner", tuple(ORGANIZATION_EXPORTERS)

    def build(self, session: DbSession, organization: Organization, fmt: str, now: datetime) -> ExportFile:
        return organization_export(session, organization, fmt, now)


JOB_KINDS: tuple[JobKind, ...] = (DeliverMail(), SendReminders(), PublishAnnouncements(), RebuildMastery(), RebuildProgress(),
                                  RebuildSearch(), CheckCertificates(), KeepTrends(), ExportJob(EXPORT_SOURCES), ExpireExports(),
                                  OrganizationExportJob((OrganizationHeatMapExport(),)), PruneRemovals(),
                                  PruneSignIns())
