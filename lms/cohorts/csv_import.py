"""Invitations from a CSV file of learners: a preview that checks every row, then a
confirmation that invites every good row or none. An import enrols nobody and makes or
changes no account: each person joins when they accept their invitation (see
``lms.cohorts.invitations``, which also says what a row's problem may reveal: only the
organization's own data). Only flushes; the caller commits."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lms.accounts.models import User
from lms.accounts.services import AccountError, normalise_email, person_name
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.invitations import own_problems, send_invitations
from lms.cohorts.models import Cohort, EnrolmentImport, Pace
from lms.cohorts.services import CohortError, LinkFor
from lms.database import DbSession, utcnow

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 2000
# A row's name becomes an invitation's and then an account's name: both columns hold 200
# characters, as the single invitation form and the API allow.
MAX_NAME_CHARS = 200
MAX_FILENAME_CHARS = 255  # enrolment_imports.filename


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
        # A row is named by the line it starts on: ``line_num`` is where the reader stopped,
        # past every line a quoted field ran over (an unclosed quote takes the rest of the file).
        start = reader.line_num + 1
        for values in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                shape = f"has {len(values)} fields, expected {len(columns)}"
                if reader.line_num > line:
                    shape += (f" (read as one row from line {line} to line {reader.line_num}: "
                              "a quote opened there is not closed where it should be)")
                rows.append((line, {"email": ",".join(values), "name": "", "_shape": shape}))
                continue
            rows.append((line, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
            if len(rows) > MAX_IMPORT_ROWS:
                raise CohortError(f"The file has more than {MAX_IMPORT_ROWS} rows; split it.")
    except csv.Error as exc:
        raise CohortError(f"The file is not valid CSV: {exc}.") from exc
    return rows


def _row_problems(session: DbSession, cohort: Cohort, rows: list[tuple[int, dict[str, str]]],
                 now: datetime) -> list[dict[str, Any]]:
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
            if entry["problem"] is None and len(entry["name"]) > MAX_NAME_CHARS:
                entry["problem"] = f"name too long: {len(entry['name'])} characters, at most {MAX_NAME_CHARS}"
            if entry["problem"] is None:
                try:
                    entry["name"] = person_name(entry["name"])
                except AccountError as exc:
                    entry["problem"] = f"bad name: {exc}"
            if entry["problem"] is None and entry["email"] in seen:
                entry["problem"] = f"duplicate: the same email is on line {seen[entry['email']]}"
            if entry["problem"] is None:
                seen[entry["email"]] = line
                addresses.append(entry["email"])
        checked.append(entry)
    # Only this organization's own data can make a row a problem: an address of another
    # organization's account reads exactly like an unknown one.
    problems = own_problems(session, cohort, addresses, now)
    for entry in checked:
        if entry["problem"] is None and entry["email"] in problems:
            entry["problem"] = problems[entry["email"]]
    return checked


def preview_import(session: DbSession, cohort: Cohort, filename: str, data: bytes, created_by: User,
                   now: datetime | None = None) -> ImportPreview:
    """Read a CSV of learners; nobody is invited until ``confirm_import``."""
    if cohort.archived:
        raise CohortError(f"{cohort.name} is archived; it takes no new learners.")
    rows = _row_problems(session, cohort, _read_rows(_decode(data)), now or utcnow())
    if not rows:
        raise CohortError("The file has a header but no learners.")
    record = EnrolmentImport(cohort=cohort, created_by_id=created_by.id, filename=filename[:MAX_FILENAME_CHARS], rows=rows)
    session.add(record)
    session.flush()
    return split_preview(record)


def split_preview(record: EnrolmentImport) -> ImportPreview:
    return ImportPreview(record=record, good=[r for r in record.rows if r["problem"] is None],
                         bad=[r for r in record.rows if r["problem"] is not None])


def confirm_import(session: DbSession, record: EnrolmentImport, link_for: LinkFor,
                   now: datetime | None = None, pace: Pace = Pace.CATCH_UP) -> int:
    """Invite every good row of the preview, or none: if anything changed since the
    preview, nothing is sent and the admin uploads again. Each invitation carries ``pace``
    for when its person joins; nobody is enrolled before they accept."""
    now = now or utcnow()
    if record.confirmed_at is not None:
        raise CohortError("This import was already confirmed.")
    good = [r for r in record.rows if r["problem"] is None]
    if not good:
        raise CohortError("There is no row without a problem to import.")
    recheck = _row_problems(session, record.cohort, [(r["line"], {"email": r["email"], "name": r["name"]}) for r in good], now)
    changed = [r for r in recheck if r["problem"]]
    if changed:
        lines = "; ".join(f"line {r['line']}: {r['problem']}" for r in changed)
        raise CohortError(f"Nothing was imported: some rows changed since the preview ({lines}). Upload the file again.")
    send_invitations(session, record.cohort, [(r["email"], r["name"]) for r in good], record.created_by_id,
                     link_for, now, pace)
    record.confirmed_at = now
    session.flush()
    record_from(session, action=AuditAction.ENROLMENT_IMPORTED, organization_id=record.cohort.organization_id,
                target=f"import:{record.id} cohort:{record.cohort_id}", before=None,
                after={"file": record.filename, "invited": len(good), "pace": pace})
    return len(good)
