"""Organizations, cohorts and enrolment. Services take a session and plain values and
only flush; the view commits. Problems a person can fix raise ``CohortError``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from lms.accounts.models import User
from lms.accounts.services import (
    TIMEZONES,
    AccountError,
    create_user,
    find_user,
    hash_token,
    issue_reset_token,
    new_token,
    normalise_email,
    set_password,
)
from lms.cohorts.models import (
    Cohort,
    Enrolment,
    EnrolmentImport,
    Invitation,
    Organization,
    cohort_instructors,
    organization_admins,
)
from lms.database import utcnow
from lms.mail.services import queue_mail

INVITATION_LIFETIME = timedelta(days=14)
WELCOME_LINK_LIFETIME = timedelta(days=7)
MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 2000
LinkFor = Callable[[str], str]


class CohortError(ValueError):
    """A problem the person can fix; the message is shown on the form."""


# --------------------------------------------------------------------- who is who


@dataclass(frozen=True)
class Roles:
    """What one person is, across the platform."""

    is_admin: bool = False
    admin_of: frozenset[int] = frozenset()           # organization ids
    instructs: frozenset[int] = frozenset()          # cohort ids
    enrolment: Enrolment | None = None               # the active one
    member_of: frozenset[int] = frozenset()          # organizations they belong to in any role

    @property
    def is_staff(self) -> bool:
        return self.is_admin or bool(self.admin_of) or bool(self.instructs)


def roles_of(session: Session, user: User) -> Roles:
    admin_of = frozenset(session.scalars(
        select(organization_admins.c.organization_id).where(organization_admins.c.user_id == user.id)))
    instructs = frozenset(session.scalars(
        select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user.id)))
    enrolment = session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.ended_at.is_(None))
        .options(selectinload(Enrolment.cohort)))
    cohort_orgs = frozenset(session.scalars(
        select(Cohort.organization_id).where(or_(
            Cohort.id.in_(select(Enrolment.cohort_id).where(Enrolment.user_id == user.id)),
            Cohort.id.in_(instructs) if instructs else false(),
        ))))
    return Roles(is_admin=user.is_admin, admin_of=admin_of, instructs=instructs,
                 enrolment=enrolment, member_of=admin_of | cohort_orgs)


# --------------------------------------------------------------------- organizations


def create_organization(session: Session, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise CohortError("An organization needs a name.")
    if session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower())):
        raise CohortError(f"An organization called {name!r} already exists.")
    org = Organization(name=name)
    session.add(org)
    session.flush()
    return org


def _person(session: Session, email: str, name: str, link_for: LinkFor, role: str, now: datetime) -> User:
    """Find someone by email, or create them and mail a link to set their password."""
    try:
        address = normalise_email(email)
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    user = find_user(session, address)
    if user is not None:
        return user
    try:
        user = create_user(session, address, name or address.split("@")[0])
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    token = issue_reset_token(session, user, now, lifetime=WELCOME_LINK_LIFETIME)
    queue_mail(session, user.email, f"You are now {role} on the AI Operations program",
               f"Hello {user.name},\n\nAn account was made for you as {role}. Choose your password here "
               f"(the link works once, for seven days):\n{link_for(token)}\n")
    return user


def add_organization_admin(session: Session, org: Organization, email: str, name: str,
                           link_for: LinkFor, now: datetime | None = None) -> User:
    user = _person(session, email, name, link_for, f"an administrator of {org.name}", now or utcnow())
    if user in org.admins:
        raise CohortError(f"{user.email} is already an administrator of {org.name}.")
    org.admins.append(user)
    session.flush()
    return user


# --------------------------------------------------------------------- cohorts


def _check_cohort_fields(session: Session, org: Organization, name: str, timezone: str,
                         cohort: Cohort | None = None) -> str:
    name = name.strip()
    if not name:
        raise CohortError("A cohort needs a name.")
    if timezone not in TIMEZONES:
        raise CohortError(f"Unknown time zone {timezone!r}.")
    clash = session.scalar(select(Cohort).where(
        Cohort.organization_id == org.id, func.lower(Cohort.name) == name.lower(),
        Cohort.id != (cohort.id if cohort else -1)))
    if clash:
        raise CohortError(f"{org.name} already has a cohort called {name!r}.")
    return name


def _instructors(session: Session, emails: Iterable[str], link_for: LinkFor, now: datetime) -> list[User]:
    people: list[User] = []
    for email in emails:
        if email.strip():
            user = _person(session, email, "", link_for, "an instructor", now)
            if user not in people:
                people.append(user)
    return people


def parse_email_list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]


def create_cohort(session: Session, org: Organization, name: str, start_date: date, timezone: str,
                  instructor_emails: Iterable[str], link_for: LinkFor, now: datetime | None = None) -> Cohort:
    name = _check_cohort_fields(session, org, name, timezone)
    # Resolve the instructors before the cohort exists: their look-ups autoflush, and a
    # cohort already attached to ``org`` but not yet in the session would warn then.
    instructors = _instructors(session, instructor_emails, link_for, now or utcnow())
    cohort = Cohort(organization=org, name=name, start_date=start_date, timezone=timezone, instructors=instructors)
    session.add(cohort)
    session.flush()
    return cohort


def update_cohort(session: Session, cohort: Cohort, name: str, start_date: date, timezone: str,
                  instructor_emails: Iterable[str], link_for: LinkFor, now: datetime | None = None) -> Cohort:
    cohort.name = _check_cohort_fields(session, cohort.organization, name, timezone, cohort)
    cohort.start_date, cohort.timezone = start_date, timezone
    cohort.instructors = _instructors(session, instructor_emails, link_for, now or utcnow())
    session.flush()
    return cohort


def archive_cohort(session: Session, cohort: Cohort, now: datetime | None = None) -> None:
    if cohort.archived_at is None:
        cohort.archived_at = now or utcnow()
        session.flush()


def unarchive_cohort(session: Session, cohort: Cohort) -> None:
    cohort.archived_at = None
    session.flush()


# --------------------------------------------------------------------- enrolment


def enrolled_where(current: Cohort, asking: Cohort) -> str:
    """Where someone is enrolled, as the staff of ``asking`` may be told it: another
    organization's cohort is not named."""
    if current.id == asking.id:
        return "this cohort"
    if current.organization_id == asking.organization_id:
        return current.name
    return "a cohort of another organization"


def active_enrolment(session: Session, user_id: int) -> Enrolment | None:
    return session.scalar(select(Enrolment).where(Enrolment.user_id == user_id, Enrolment.ended_at.is_(None)))


def enrol(session: Session, cohort: Cohort, user: User, now: datetime | None = None) -> Enrolment:
    if cohort.archived:
        raise CohortError(f"{cohort.name} is archived; it takes no new learners.")
    current = active_enrolment(session, user.id)
    if current is not None:
        raise CohortError(f"{user.email} is already enrolled in {enrolled_where(current.cohort, cohort)}.")
    enrolment = Enrolment(cohort=cohort, user=user, started_at=now or utcnow())
    session.add(enrolment)
    session.flush()
    return enrolment


def move_learner(session: Session, user: User, source: Cohort, target: Cohort, now: datetime | None = None) -> Enrolment:
    """End the learner's enrolment in ``source`` and start one in ``target``; their
    work stays attached to them."""
    now = now or utcnow()
    if source.id == target.id:
        raise CohortError("Choose a different cohort to move the learner to.")
    if source.organization_id != target.organization_id:
        raise CohortError("A learner can only be moved to a cohort of the same organization.")
    if target.archived:
        raise CohortError(f"{target.name} is archived; it takes no new learners.")
    current = active_enrolment(session, user.id)
    if current is None or current.cohort_id != source.id:
        raise CohortError(f"{user.email} is not enrolled in {source.name}.")
    current.ended_at, current.ended_reason = now, f"moved to {target.name}"
    session.flush()
    return enrol(session, target, user, now)


def cohort_learners(session: Session, cohort: Cohort) -> list[Enrolment]:
    """The cohort's current learners, with their user rows, in one statement."""
    return list(session.scalars(
        select(Enrolment).join(Enrolment.user)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.ended_at.is_(None))
        .options(selectinload(Enrolment.user)).order_by(User.name)))


def is_learner_of(session: Session, cohort_id: int, user_id: int) -> bool:
    return bool(session.scalar(select(exists().where(
        Enrolment.cohort_id == cohort_id, Enrolment.user_id == user_id, Enrolment.ended_at.is_(None)))))


@dataclass(frozen=True)
class CohortSummary:
    cohort: Cohort
    learners: int


def summaries(session: Session, cohort_filter: Any, include_archived: bool = True) -> list[CohortSummary]:
    """Cohorts matching ``cohort_filter`` with their learner counts, in two statements."""
    counts = (select(Enrolment.cohort_id, func.count().label("n"))
              .where(Enrolment.ended_at.is_(None)).group_by(Enrolment.cohort_id).subquery())
    query = (select(Cohort, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.cohort_id == Cohort.id)
             .where(cohort_filter).options(selectinload(Cohort.organization))
             .order_by(Cohort.start_date.desc(), Cohort.name))
    if not include_archived:
        query = query.where(Cohort.archived_at.is_(None))
    return [CohortSummary(cohort=c, learners=n) for c, n in session.execute(query)]


def organization_cohorts(session: Session, org_ids: Iterable[int]) -> list[CohortSummary]:
    return summaries(session, Cohort.organization_id.in_(list(org_ids)))


def instructor_cohorts(session: Session, user: User) -> list[CohortSummary]:
    return summaries(session, Cohort.id.in_(
        select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user.id)), include_archived=False)


def staff_cohorts(session: Session, user: User) -> list[Cohort]:
    """Every cohort this person works on: their organizations' (as admin) and the ones they teach."""
    roles = roles_of(session, user)
    rows = organization_cohorts(session, roles.admin_of) if roles.admin_of else []
    seen = {r.cohort.id for r in rows}
    rows += [r for r in instructor_cohorts(session, user) if r.cohort.id not in seen]
    return [r.cohort for r in rows]


def organizations_overview(session: Session) -> list[tuple[Organization, int, int]]:
    """Every organization with its cohort and active learner counts (site admin)."""
    cohorts = select(Cohort.organization_id, func.count().label("n")).group_by(Cohort.organization_id).subquery()
    learners = (select(Cohort.organization_id, func.count().label("n")).join(Enrolment, Enrolment.cohort_id == Cohort.id)
                .where(Enrolment.ended_at.is_(None)).group_by(Cohort.organization_id).subquery())
    rows = session.execute(
        select(Organization, func.coalesce(cohorts.c.n, 0), func.coalesce(learners.c.n, 0))
        .outerjoin(cohorts, cohorts.c.organization_id == Organization.id)
        .outerjoin(learners, learners.c.organization_id == Organization.id)
        .options(selectinload(Organization.admins)).order_by(Organization.name))
    return [(org, c, n) for org, c, n in rows]


# --------------------------------------------------------------------- invitations


def _invitation_mail(session: Session, invitation: Invitation, link: str) -> None:
    queue_mail(session, invitation.email, f"Join {invitation.cohort.name} on the AI Operations program",
               f"Hello{(' ' + invitation.name) if invitation.name else ''},\n\n"
               f"You are invited to the cohort {invitation.cohort.name} of {invitation.cohort.organization.name}. "
               f"Accept here within {INVITATION_LIFETIME.days} days:\n{link}\n")


def invite_learner(session: Session, cohort: Cohort, email: str, name: str, invited_by: User,
                   link_for: LinkFor, now: datetime | None = None) -> Invitation:
    now = now or utcnow()
    if cohort.archived:
        raise CohortError(f"{cohort.name} is archived; it takes no new learners.")
    try:
        address = normalise_email(email)
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    existing = find_user(session, address)
    if existing is not None:
        current = active_enrolment(session, existing.id)
        if current is not None:
            raise CohortError(f"{address} is already enrolled in {enrolled_where(current.cohort, cohort)}.")
    for pending in session.scalars(select(Invitation).where(
            Invitation.cohort_id == cohort.id, Invitation.email == address,
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        pending.revoked_at = now  # a new invitation replaces the old link
    token, digest = new_token()
    invitation = Invitation(cohort=cohort, email=address, name=name.strip(), token_hash=digest,
                            invited_by_id=invited_by.id, created_at=now, expires_at=now + INVITATION_LIFETIME)
    session.add(invitation)
    session.flush()
    _invitation_mail(session, invitation, link_for(token))
    return invitation


def pending_invitations(session: Session, cohort: Cohort, now: datetime | None = None) -> list[Invitation]:
    now = now or utcnow()
    return list(session.scalars(select(Invitation).where(
        Invitation.cohort_id == cohort.id, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None), Invitation.expires_at > now).order_by(Invitation.created_at)))


@dataclass(frozen=True)
class InvitationCheck:
    invitation: Invitation | None
    problem: str | None
    existing_user: User | None = None


def check_invitation(session: Session, token: str, now: datetime | None = None) -> InvitationCheck:
    now = now or utcnow()
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None or invitation.revoked_at is not None:
        return InvitationCheck(None, "This invitation link is not valid. Ask your organization for a new one.")
    if invitation.accepted_at is not None:
        return InvitationCheck(None, "This invitation has already been accepted. Sign in instead.")
    if invitation.expires_at <= now:
        return InvitationCheck(None, "This invitation has expired. Ask your organization for a new one.")
    if invitation.cohort.archived:
        return InvitationCheck(None, "This cohort is archived and takes no new learners.")
    return InvitationCheck(invitation, None, find_user(session, invitation.email))


def accept_invitation(session: Session, token: str, name: str, password: str,
                      now: datetime | None = None) -> User:
    """A new person sets their name and password and joins the cohort."""
    now = now or utcnow()
    check = check_invitation(session, token, now)
    if check.invitation is None:
        raise CohortError(check.problem or "Invalid invitation.")
    user = check.existing_user
    try:
        if user is None:
            user = create_user(session, check.invitation.email, name, password)
        elif user.has_password:
            raise CohortError("You already have an account: sign in, then open the invitation link again.")
        else:  # created by an import, never signed in yet
            user.name = name.strip() or user.name
            set_password(user, password)
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    _join(session, check.invitation, user, now)
    return user


def accept_invitation_as(session: Session, token: str, user: User, now: datetime | None = None) -> None:
    """A signed-in person whose email the invitation names joins the cohort."""
    now = now or utcnow()
    check = check_invitation(session, token, now)
    if check.invitation is None:
        raise CohortError(check.problem or "Invalid invitation.")
    if check.invitation.email != user.email:
        raise CohortError(f"This invitation is for {check.invitation.email}; you are signed in as {user.email}.")
    _join(session, check.invitation, user, now)


def _join(session: Session, invitation: Invitation, user: User, now: datetime) -> None:
    if active_enrolment(session, user.id) is None:
        enrol(session, invitation.cohort, user, now)
    elif active_enrolment(session, user.id).cohort_id != invitation.cohort_id:  # type: ignore[union-attr]
        raise CohortError("You are already enrolled in another cohort; ask your organization to move you.")
    invitation.accepted_at = now
    session.flush()


# --------------------------------------------------------------------- CSV import

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
        raise CohortError(f"The file is not UTF-8 text (byte {exc.start} cannot be read). Save it as CSV UTF-8 and upload it again.") from exc


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
                rows.append((reader.line_num, {"email": ",".join(values), "name": "", "_shape": f"has {len(values)} fields, expected {len(columns)}"}))
                continue
            rows.append((reader.line_num, {c: v.strip() for c, v in zip(columns, values)}))
            if len(rows) > MAX_IMPORT_ROWS:
                raise CohortError(f"The file has more than {MAX_IMPORT_ROWS} rows; split it.")
    except csv.Error as exc:
        raise CohortError(f"The file is not valid CSV: {exc}.") from exc
    return rows


def _row_problems(session: Session, cohort: Cohort, rows: list[tuple[int, dict[str, str]]]) -> list[dict[str, Any]]:
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


def preview_import(session: Session, cohort: Cohort, filename: str, data: bytes, created_by: User) -> ImportPreview:
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


def confirm_import(session: Session, record: EnrolmentImport, link_for: LinkFor,
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
                           session.get(User, record.created_by_id), link_for, now)  # type: ignore[arg-type]
            enrol(session, record.cohort, user, now)
    record.confirmed_at = now
    session.flush()
    return len(good)
