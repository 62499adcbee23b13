"""Large exports as jobs: a cohort with more than ``EXPORT_BACKGROUND_ABOVE`` learners
(2,000 by default) gets its CSV or JSON made by a background job, with progress and a
download link when ready, instead of in the request. An export source is a small class
(``ExportSource``) per exported thing (heat map, grades, gradebook), registered in
``lms/job_kinds.py``; the ``export`` job kind writes the source's chunks to a file under
the upload directory. Small cohorts are streamed by the feature's own view. An
organization's export (every learner of its active cohorts) goes the same way, by the
``organization-export`` kind and its sources (``OrganizationExportSource``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from flask import render_template
from sqlalchemy import func, select

from lms.cohorts.models import Cohort, Enrolment, Organization
from lms.database import DbSession, unit_of_work
from lms.jobs.kinds import JobKind, Work
from lms.jobs.services import JobError, expire, expiring
from lms.storage.backends import file_storage

DEFAULT_THRESHOLD = 2000
T = TypeVar("T")
DEFAULT_KEEP_DAYS = 7


class Tally:
    """How many of what an export lists (learners, pieces of work) it held, counted as its
    rows are made: a file's chunks are not its rows (a JSON document has a head and a
    tail around them, a CSV file a header), so the job's line counts these instead."""

    def __init__(self, one: str, many: str | None = None) -> None:
        self.one, self.many, self.count = one, many or f"{one}s", 0

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """``items`` as they are, each counted as it is read."""
        for item in items:
            self.count += 1
            yield item

    def __str__(self) -> str:
        return f"{self.count} {self.one if self.count == 1 else self.many}"


@dataclass
class ExportFile:
    """What a source makes: the download's name and type, how many chunks (rows, plus a
    header) and the chunks, produced lazily so memory stays flat, and ``listed``, the
    count of what its rows are (each row read through ``listed.each``)."""

    filename: str
    mimetype: str
    total: int
    chunks: Iterable[str]
    listed: Tally


class ExportSource(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]

    @abstractmethod
    def build(self, session: DbSession, cohort: Cohort, fmt: str, args: Mapping[str, str], now: datetime) -> ExportFile: ...


def learners(session: DbSession, cohort_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Enrolment)
                          .where(Enrolment.cohort_id == cohort_id, Enrolment.active)) or 0


def too_many(config: Mapping[str, Any], count: int) -> bool:
    """Whether an export of ``count`` learners is made by a job (more than the threshold)."""
    return count > int(config.get("EXPORT_BACKGROUND_ABOVE", DEFAULT_THRESHOLD))


def in_background(session: DbSession, config: Mapping[str, Any], cohort_id: int) -> bool:
    """Whether the cohort's exports are made by a job (more learners than the threshold)."""
    return too_many(config, learners(session, cohort_id))


def keep_for(config: Mapping[str, Any]) -> timedelta:
    """How long a job's file is kept after it was made (``EXPORT_KEEP_DAYS``, 7 by default)."""
    return timedelta(days=max(0, int(config.get("EXPORT_KEEP_DAYS", DEFAULT_KEEP_DAYS))))


def offer(cohort: Cohort, source: str, fmt: str, args: Mapping[str, str]) -> str:
    """The page shown instead of a large export: a button that asks for it as a job."""
    return render_template("jobs/export_offer.html", cohort=cohort, source=source, fmt=fmt,
                           args={k: v for k, v in args.items() if len(k) <= 40 and len(v) <= 200})


def offer_organization(organization: Organization, source: str, fmt: str) -> str:
    """The page shown instead of a large organization's export: a button that asks for it as a job."""
    return render_template("jobs/organization_export_offer.html", organization=organization, source=source, fmt=fmt)


class OrganizationExportSource(ABC):
    """One export of a whole organization (its active cohorts' learners)."""

    name: ClassVar[str]
    label: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]

    @abstractmethod
    def build(self, session: DbSession, organization: Organization, fmt: str, now: datetime) -> ExportFile: ...


S = TypeVar("S", ExportSource, OrganizationExportSource)


class SourcedExport(JobKind, Generic[S]):
    """What the export kinds share: their sources by name (params: source, format, and
    ``<of>_id``, ``<of>_name`` of what is exported), the job's line, the file written."""

    max_attempts = 3
    of: ClassVar[str]

    def __init__(self, sources: Iterable[S]) -> None:
        self.sources: dict[str, S] = {source.name: source for source in sources}

    def source(self, name: str, fmt: str) -> S:
        found = self.sources.get(name)
        if found is None or fmt not in found.formats:
            raise JobError(f"There is no {fmt} export of {name}.")
        return found

    def describe(self, params: Mapping[str, Any]) -> str:
        found = self.sources.get(str(params.get("source")))
        return f"{found.label if found else 'Export'} ({params.get('format')}) of {params.get(f'{self.of}_name', f'a {self.of}')}"

    @abstractmethod
    def make(self, work: Work, source: S, fmt: str) -> ExportFile:
        """The source's export of the job's cohort (organization), or JobError when it is gone."""

    def run(self, work: Work) -> str:
        fmt = str(work.params["format"])
        made = self.make(work, self.source(str(work.params["source"]), fmt), fmt)
        work.write_file(made.filename, made.mimetype, made.chunks, made.total)
        return f"{made.filename}: {made.listed}"


class ExportJob(SourcedExport[ExportSource]):
    """Build one export of a cohort into a file (params: source, cohort_id, format, args)."""

    name, label, of = "export", "Export", "cohort"

    def make(self, work: Work, source: ExportSource, fmt: str) -> ExportFile:
        cohort = work.session.get(Cohort, int(work.params["cohort_id"]))
        if cohort is None:
            raise JobError("The cohort no longer exists.")
        return source.build(work.session, cohort, fmt, dict(work.params.get("args") or {}), work.now)


class OrganizationExportJob(SourcedExport[OrganizationExportSource]):
    """Build one export of an organization into a file (params: source, organization_id, format)."""

    name, label, of = "organization-export", "Organization export", "organization"

    def make(self, work: Work, source: OrganizationExportSource, fmt: str) -> ExportFile:
        organization = work.session.get(Organization, int(work.params["organization_id"]))
        if organization is None:
            raise JobError("The organization no longer exists.")
        return source.build(work.session, organization, fmt, work.now)


class ExpireExports(JobKind):
    """Delete the files of jobs done more than ``EXPORT_KEEP_DAYS`` ago (from the file
    storage, wherever they are) and mark those jobs expired. Idempotent: a file already
    gone is skipped, a job is marked once. Cron: ``flask lms queue-job expire-exports``, daily."""

    name, label, from_command = "expire-exports", "Delete the export files past their keeping time", True
    chunk = 500

    def run(self, work: Work) -> str:
        session, storage = work.session, file_storage(work.app)
        before = work.now - keep_for(work.app.config)
        expired = deleted = 0
        while found := expiring(session, before, self.chunk):
            for job_id, path in found:
                deleted += storage.delete(path)  # the file first: a job marked expired never keeps one
                with unit_of_work(session):
                    expired += expire(session, job_id)
        return f"Expired {expired} job{'s' * (expired != 1)}; deleted {deleted} file{'s' * (deleted != 1)}."
