"""Export a person's data as a zip, erase a learner, purge old cohorts' uploads.

Services take a session and plain arguments and only flush; the audit entry of each
action is added to the same session, so it commits or rolls back with the action."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from lms.accounts.models import User, erased_email
from lms.audit.models import AuditAction
from lms.audit.services import record
from lms.cohorts.enrolment import last_enrolment
from lms.cohorts.models import Cohort, Enrolment, Organization, cohort_instructors, organization_admins
from lms.coursework.models import Attachment, Submission
from lms.database import DbSession, rowcount
from lms.privacy.kinds import (
    DELETED_PREFIX,
    KINDS,
    Erasure,
    ExportFile,
    is_erased,
)
from lms.storage.backends import Storage, as_storage
from lms.web.downloads import ZipSink

EXPORT_FORMAT = 1
README = """This archive holds everything the course platform keeps about you.

data.json   every kind of data, one key a kind (account, enrolments, quiz attempts,
            submissions, grades, peer reviews, evidence, KPI figures, ...)
files/      the files you attached to your work, named files/submission-<id>/<file id>-<name>
MISSING.txt (only if present) files listed in data.json that were not found on the server

Peer reviews you received and contribution ratings from teammates do not name who wrote them,
as the platform never shows that.
"""


@dataclass(frozen=True)
class Bundle:
    """What goes in the zip: the JSON document and the files to read from the upload folder."""

    data: dict[str, Any]
    files: list[ExportFile]


def export_bundle(session: DbSession, user: User, now: datetime) -> Bundle:
    data: dict[str, Any] = {"format": EXPORT_FORMAT, "exported_at": now.isoformat(), "user_id": user.id}
    files: list[ExportFile] = []
    for kind in KINDS:
        if kind.exported:
            data[kind.name] = kind.export(session, user)
            files += kind.files(session, user)
    return Bundle(data=data, files=files)


def record_export(session: DbSession, user: User, actor_id: int | None, ip: str | None) -> None:
    record(session, actor_id=actor_id, action=AuditAction.DATA_EXPORTED, organization_id=None,
           target=f"user:{user.id}", before=None, after=None, ip=ip)


def _read(folder: Storage | Path, stored_name: str) -> bytes | None:
    return as_storage(folder).read(stored_name)


def zip_stream(bundle: Bundle, folder: Storage | Path) -> Iterator[bytes]:
    """The zip, one file at a time (at most one upload held in memory); no use of the
    request's session, so it can stream after the request's unit of work has ended (database
    storage reads each chunk on a connection of its own)."""
    sink = ZipSink()
    missing: list[str] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", README)
        zf.writestr("data.json", json.dumps(bundle.data, indent=2, ensure_ascii=False, sort_keys=True))
        yield sink.take()
        for item in bundle.files:
            data = _read(folder, item.stored_name)
            if data is None:
                missing.append(item.name)
                continue
            zf.writestr(item.name, data)
            del data
            yield sink.take()
        if missing:
            zf.writestr("MISSING.txt", "Not found on the server:\n" + "\n".join(missing) + "\n")
    yield sink.take()


class ErasureRefused(Exception):
    """The person cannot be erased (staff, admin, already erased) or the confirmation differs."""


def erasable(session: DbSession, user: User) -> str | None:
    """Why ``user`` may not be erased, or None."""
    if is_erased(user):
        return "This account has already been erased."
    if user.is_admin:
        return "Site admins are not erased: remove their admin role and deactivate them instead."
    staff = session.scalar(select(cohort_instructors.c.user_id).where(cohort_instructors.c.user_id == user.id).limit(1))
    admin = session.scalar(select(organization_admins.c.user_id).where(organization_admins.c.user_id == user.id).limit(1))
    if staff is not None or admin is not None:
        return "Staff hold other people's records (grades, notes): deactivate them in the admin console instead."
    return None


DOOMED = "lms.privacy.doomed"


def delete_file(folder: Storage | Path, stored_name: str) -> bool:
    """Remove a stored upload from every storage; False if it was already gone (or its name
    points outside the upload folder)."""
    return as_storage(folder).delete(stored_name)


def doom(session: DbSession, stored_names: list[str]) -> None:
    """Files to delete once this session's work is committed (``delete_doomed``)."""
    session.info.setdefault(DOOMED, []).extend(stored_names)


def delete_doomed(session: DbSession, folder: Storage | Path) -> int:
    """Delete the files doomed by work now committed; how many were removed."""
    names: list[str] = session.info.pop(DOOMED, [])
    return sum(delete_file(folder, name) for name in names)


def erase_learner(session: DbSession, user: User, confirmation: str, *, actor_id: int | None, ip: str | None,
                  now: datetime) -> dict[str, int]:
    """Erase ``user`` as the kinds decide (see lms/privacy/kinds.py), once the admin typed
    the account's email as ``confirmation``; recorded in the audit log (in the organization
    of their latest enrolment, so its admins read it too) without the name or email: the
    log is never changed, so it must not keep them. The uploaded files are
    deleted by ``delete_doomed`` after the commit. The account's row is claimed first by a
    write conditional on the email the admin confirmed, so of two admins erasing at once
    one erases and the other is refused."""
    reason = erasable(session, user)
    if reason:
        raise ErasureRefused(reason)
    original = user.email
    if confirmation.strip().lower() != original.lower():
        raise ErasureRefused("Type the account's email address exactly to confirm.")
    try:
        claimed = session.execute(update(User).where(User.id == user.id, User.email == original)
                                  .values(email=erased_email(user.id)).execution_options(synchronize_session=False))
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
        raise ErasureRefused("The site was busy with other work for too long; try again.") from None
    if rowcount(claimed) != 1:
        raise ErasureRefused("This account was changed or erased meanwhile; reload the page.")
    organization_id = session.scalar(select(Cohort.organization_id).join(Enrolment, Enrolment.cohort_id == Cohort.id)
                                     .where(Enrolment.user_id == user.id).order_by(Enrolment.started_at.desc()).limit(1))
    erasure = Erasure(user=user, original_email=original, now=now)
    for kind in reversed(KINDS):  # the account last: the others still see it as it was
        erasure.counts[kind.name] = kind.erase(session, erasure)
    session.flush()
    doom(session, erasure.doomed)
    record(session, actor_id=actor_id, action=AuditAction.LEARNER_ERASED, organization_id=organization_id,
           target=f"user:{user.id}", before=None, after={"erased": {k: v for k, v in erasure.counts.items() if v}},
           ip=ip)
    return erasure.counts


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` shifted back by whole calendar months (the day clamped to the month's end)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, days[month - 1]))


@dataclass
class PurgeReport:
    cohorts: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0


def purge_uploads(session: DbSession, months: int, now: datetime, *, dry_run: bool) -> PurgeReport:
    """Clear the file references of the uploads of cohorts archived more than ``months``
    months before ``now`` (the rows stay, listed by name, for the versions that include
    them) and doom their files (deleted by ``delete_doomed`` after the commit).
    Idempotent: purged rows are skipped. One audit entry per cohort purged (none on a dry
    run)."""
    cutoff = months_before(now, months)
    cohorts = list(session.scalars(select(Cohort).where(Cohort.archived_at.is_not(None), Cohort.archived_at < cutoff)
                                   .order_by(Cohort.id)))
    attachments = session.execute(
        select(Attachment, Submission.cohort_id).join(Submission, Submission.id == Attachment.submission_id)
        .where(Submission.cohort_id.in_([c.id for c in cohorts]), Attachment.stored_name.not_like(f"{DELETED_PREFIX}%"))
        .order_by(Attachment.id)).all()
    by_cohort: dict[int, list[Attachment]] = {}
    for attachment, cohort_id in attachments:
        if cohort_id is not None:
            by_cohort.setdefault(cohort_id, []).append(attachment)
    report = PurgeReport()
    for cohort in cohorts:
        items = by_cohort.get(cohort.id, [])
        if not items:
            continue
        report.cohorts.append(cohort.name)
        report.files += len(items)
        report.bytes += sum(a.size for a in items)
        if dry_run:
            continue
        doom(session, [a.stored_name for a in items])
        for attachment in items:
            attachment.stored_name = f"{DELETED_PREFIX}{attachment.id}"
            attachment.removed_at = attachment.removed_at or now
        record(session, actor_id=None, action=AuditAction.UPLOADS_PURGED, organization_id=cohort.organization_id,
               target=f"cohort:{cohort.id}", before=None,
               after={"files": len(items), "archived_at": cohort.archived_at, "retention_months": months}, ip=None)
    session.flush()
    return report


# --------------------------------------------------------------------------- who to ask


@dataclass(frozen=True)
class ErasureContact:
    """Whom a person asks to have their account erased: the administrators of the organization
    of their latest cohort (current or ended), when it has any with an open account; else the
    site's contact address (``PRIVACY_CONTACT``, by default ``MAIL_FROM``)."""

    organization: Organization | None
    admins: list[User]
    address: str


def erasure_contact(session: DbSession, user: User, site_address: str) -> ErasureContact:
    """``ErasureContact`` for ``user``, in three statements at most."""
    enrolment = last_enrolment(session, user.id)
    if enrolment is not None:
        organization = enrolment.cohort.organization
        admins = list(session.scalars(select(User).join(organization_admins, organization_admins.c.user_id == User.id)
                                      .where(organization_admins.c.organization_id == organization.id,
                                             User.deactivated_at.is_(None))
                                      .order_by(User.name, User.id)))
        if admins:
            return ErasureContact(organization=organization, admins=admins, address=site_address)
    return ErasureContact(organization=None, admins=[], address=site_address)
