"""Enrolment from a CSV file of learners: a preview that checks every row, then a
confirmation that enrols every good row or none. Only flushes; the caller commits."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from lms.accounts.models import User
from lms.accounts.services import AccountError, create_user, find_user, normalise_email
from lms.cohorts.enrolment import enrol, enrolled_where
from lms.cohorts.invitations import invite_learner
from lms.cohorts.models import Cohort, Enrolment, EnrolmentImport
from lms.cohorts.services import CohortError, LinkFor
from lms.database import DbSession, utcnow
from lms.mail.services import queue_mail

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 2000


EXPECTED_COLUMNS = ("email", "name")


@dataclass
class ImportPreview:
    record: EnrolmentImport
    good: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)


def _decode(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise CohortError(f"The file is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_IMPORT_BYTES // 1024} KB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CohortError(f"The file is not UTF-8 text (byte {exc.start} cannot be read). "
                          "Save it as CSV UTF-8 and upload it again.") from exc


def _read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader, None)
        if header is None:
            raise CohortError("The file is empty. It needs a header row: email,name")
        columns = [h.strip().lower() for h in header]
        if sorted(columns) != sorted(EXPECTED_COLUMNS):
            raise CohortError(
                f"The columns must be exactly: email, name (found: {', '.join(h.strip() for h in header) or 'none'}).")
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                shape = f"has {len(values)} fields, expected {len(columns)}"
                rows.append((reader.line_num, {"email": ",".join(values), "name": "", "_shape": shape}))
                continue
            rows.append((reader.line_num, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
            if len(rows) > MAX_IMPORT_ROWS:
                raise CohortError(f"The file has more than {MAX_IMPORT_ROWS} rows; split it.")
    except csv.Error as exc:
        raise CohortError(f"The file is not valid CSV: {exc}.") from exc
    return rows


def _row_problems(session: DbSession, cohort: Cohort, rows: list[tuple[int, dict[str, str]]]) -> list[dict[str, Any]]:
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    addresses = []
    for line, row in rows:
        entry: dict[str, Any] = {"line": line, "email": row.get("email", ""), "name": row.get("name", ""), "problem": None}
        if "_shape" in row:
            entry["problem"] = f"row {row['_shape']}"
        else:
            try:
                entry["email"] = normalise_email(row["email"])
            except AccountError:
                entry["problem"] = f"bad email: {row['email'] or '(empty)'}"
            if entry["problem"] is None and not entry["name"]:
                entry["problem"] = "missing name"
            if entry["problem"] is None and entry["email"] in seen:
                entry["problem"] = f"duplicate: the same email is on line {seen[entry['email']]}"
            if entry["problem"] is None:
                seen[entry["email"]] = line
                addresses.append(entry["email"])
        checked.append(entry)
    enrolled = {email: current for email, current in session.execute(
        select(User.email, Cohort).join(Enrolment, Enrolment.user_id == User.id).join(Cohort, Cohort.id == Enrolment.cohort_id)
        .where(User.email.in_(addresses), Enrolment.ended_at.is_(None)))} if addresses else {}
    for entry in checked:
        if entry["problem"] is None and entry["email"] in enrolled:
            entry["problem"] = f"already enrolled in {enrolled_where(enrolled[entry['email']], cohort)}"
    return checked


def preview_import(session: DbSession, cohort: Cohort, filename: str, data: bytes, created_by: User) -> ImportPreview:
    """Read a CSV of learners; nothing is enrolled until ``confirm_import``."""
    if cohort.archived:
        raise CohortError(f"{cohort.name} is archived; it takes no new learners.")
    rows = _row_problems(session, cohort, _read_rows(_decode(data)))
    if not rows:
        raise CohortError("The file has a header but no learners.")
    record = EnrolmentImport(cohort=cohort, created_by_id=created_by.id, filename=filename[:255], rows=rows)
    session.add(record)
    session.flush()
    return split_preview(record)


def split_preview(record: EnrolmentImport) -> ImportPreview:
    return ImportPreview(record=record, good=[r for r in record.rows if r["problem"] is None],
                         bad=[r for r in record.rows if r["problem"] is not None])


def confirm_import(session: DbSession, record: EnrolmentImport, link_for: LinkFor,
                   now: datetime | None = None) -> int:
    """Enrol every good row of the preview, or none: if anything changed since the
    preview, nothing is imported and the admin uploads again."""
    now = now or utcnow()
    if record.confirmed_at is not None:
        raise CohortError("This import was already confirmed.")
    good = [r for r in record.rows if r["problem"] is None]
    if not good:
        raise CohortError("There is no row without a problem to import.")
    recheck = _row_problems(session, record.cohort, [(r["line"], {"email": r["email"], "name": r["name"]}) for r in good])
    changed = [r for r in recheck if r["problem"]]
    if changed:
        lines = "; ".join(f"line {r['line']}: {r['problem']}" for r in changed)
        raise CohortError(f"Nothing was imported: some rows changed since the preview ({lines}). Upload the file again.")
    for row in good:
        user = find_user(session, row["email"])
        if user is None:
            user = create_user(session, row["email"], row["name"])
        if user.has_password:
            enrol(session, record.cohort, user, now)
            queue_mail(session, user.email, f"You are enrolled in {record.cohort.name}",
                       f"Hello {user.name},\n\nYou are now a learner in {record.cohort.name}. Sign in to see your schedule.\n")
        else:
            # Enrolled now; the invitation is how they set their password and sign in.
            invite_learner(session, record.cohort, user.email, row["name"],
                           session.get_one(User, record.created_by_id), link_for, now)
            enrol(session, record.cohort, user, now)
    record.confirmed_at = now
    session.flush()
    return len(good)
