"""Organizations and cohorts: creating them, their instructors, archiving, and listing them
with their learner counts. Services take a session and plain values and only flush; the
caller commits. Problems a person can fix raise ``CohortError``.

The rest of the feature builds on this module: ``roles`` (who is who, organization admins,
the cohorts a staff member works on), ``enrolment`` (enrolling and moving learners),
``invitations`` and ``csv_import``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.accounts.services import (
    TIMEZONES,
    AccountError,
    normalise_email,
)
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.models import Cohort, Enrolment, MemberMark, Organization, cohort_instructors, organization_admins
from lms.database import DbSession, rowcount, utcnow
from lms.web.forms import EARLIEST_DAY, LATEST_DAY
from lms.web.page_cache import fingerprint

LinkFor = Callable[[str], str]


class CohortError(ValueError):
    """A problem the person can fix; the message is shown on the form, under the field
    ``field`` names when there is one (the cohort form: name, start_date, timezone,
    instructors)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class StaleCohort(CohortError):
    """The cohort changed since its edit form was shown; nothing was written."""

    def __init__(self, cohort: Cohort) -> None:
        self.current = cohort
        super().__init__(
            f"Not saved: someone else changed this cohort since you opened the form. It is now {cohort.name!r}, "
            f"starting {cohort.start_date:%d %B %Y} in {cohort.timezone}"
            f"{', taught by ' + ', '.join(u.email for u in cohort.instructors) if cohort.instructors else ''}. "
            "Your changes are below, and what you left as it was shows it as it is now: save again to apply them.")


# --------------------------------------------------------------------- organizations


def create_organization(session: DbSession, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise CohortError("An organization needs a name.")
    if session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower())):
        raise CohortError(f"An organization called {name!r} already exists.")
    org = Organization(name=name)
    session.add(org)
    session.flush()
    record_from(session, action=AuditAction.ORGANIZATION_CREATED, organization_id=org.id,
                target=f"organization:{org.id}", before=None, after={"name": org.name})
    return org


def organization_state(org: Organization) -> dict[str, object]:
    """What the audit log keeps of an organization's administrators before and after a change."""
    return {"admins": sorted(admin.id for admin in org.admins)}


def organizations_overview(session: DbSession) -> list[tuple[Organization, int, int]]:
    """Every organization with its cohort and active learner counts (site admin)."""
    cohorts = select(Cohort.organization_id, func.count().label("n")).group_by(Cohort.organization_id).subquery()
    learners = (select(Cohort.organization_id, func.count().label("n")).join(Enrolment, Enrolment.cohort_id == Cohort.id)
                .where(Enrolment.active).group_by(Cohort.organization_id).subquery())
    rows = session.execute(
        select(Organization, func.coalesce(cohorts.c.n, 0), func.coalesce(learners.c.n, 0))
        .outerjoin(cohorts, cohorts.c.organization_id == Organization.id)
        .outerjoin(learners, learners.c.organization_id == Organization.id)
        .options(selectinload(Organization.admins)).order_by(Organization.name))
    return [(org, c, n) for org, c, n in rows]


# --------------------------------------------------------------------- cohorts


# The start dates a cohort can have: the days anyone may type (lms.web.forms), so its twelve
# months (and a late joiner's catch-up, and extensions past them) are dates the calendar can
# hold; a typed 9999 is refused, not kept to break every page of the cohort.
EARLIEST_START, LATEST_START = EARLIEST_DAY, LATEST_DAY


def _check_cohort_fields(session: DbSession, org: Organization, name: str, timezone: str, start_date: date,
                         cohort: Cohort | None = None) -> str:
    name = name.strip()
    if not name:
        raise CohortError("A cohort needs a name.", field="name")
    if not EARLIEST_START <= start_date <= LATEST_START:
        raise CohortError(f"Choose a start date between {EARLIEST_START:%d %B %Y} and {LATEST_START:%d %B %Y}.",
                          field="start_date")
    if timezone not in TIMEZONES:
        raise CohortError(f"Unknown time zone {timezone!r}.", field="timezone")
    clash = session.scalar(select(Cohort).where(
        Cohort.organization_id == org.id, func.lower(Cohort.name) == name.lower(),
        Cohort.id != (cohort.id if cohort else -1)))
    if clash:
        raise CohortError(f"{org.name} already has a cohort called {name!r}.", field="name")
    return name


def _instructors(session: DbSession, org: Organization, emails: Iterable[str], cohort: Cohort | None = None) -> list[User]:
    """The people named as a cohort's instructors, each of whom must already be on the
    organization's staff (one of its administrators, or an instructor of one of its
    cohorts). Anyone else (an account of another organization, a learner, an address with
    no account) is refused with the same words whether or not the address has an
    account: being made staff of an organization needs its owner's consent, which this form
    cannot ask for, and the form must not tell who has an account or what they are called.
    A learner of the cohort cannot teach it. Two statements, whatever the number of addresses."""
    addresses: list[str] = []
    for email in emails:
        if email.strip():
            try:
                address = normalise_email(email)
            except AccountError as exc:
                raise CohortError(str(exc), field="instructors") from exc
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        return []
    teaches = (select(cohort_instructors.c.user_id).join(Cohort, Cohort.id == cohort_instructors.c.cohort_id)
               .where(Cohort.organization_id == org.id))
    administers = select(organization_admins.c.user_id).where(organization_admins.c.organization_id == org.id)
    staff = {user.email: user for user in session.scalars(select(User).where(
        User.email.in_(addresses), or_(User.id.in_(teaches), User.id.in_(administers))))}
    outsiders = [address for address in addresses if address not in staff]
    if outsiders:
        raise CohortError(
            f"{', '.join(outsiders)} {'is' if len(outsiders) == 1 else 'are'} not on the staff of {org.name} yet: "
            f"only its administrators and the instructors of its cohorts can be named instructors here. "
            f"To bring someone new in, save the cohort without them, then invite them from the cohort's page "
            f"(\"Invite an instructor\"): they become its instructor when they accept.", field="instructors")
    if cohort is not None:
        learners = list(session.scalars(select(User.email).join(Enrolment, Enrolment.user_id == User.id).where(
            Enrolment.cohort_id == cohort.id, Enrolment.active, User.email.in_(addresses))))
        if learners:
            raise CohortError(f"{', '.join(learners)} {'is a learner' if len(learners) == 1 else 'are learners'} "
                              "of this cohort, and a learner cannot teach their own cohort.", field="instructors")
    return [staff[address] for address in addresses]


def parse_email_list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]


def cohort_state(cohort: Cohort) -> dict[str, object]:
    """What the audit log keeps of a cohort before and after a change."""
    return {"name": cohort.name, "start_date": cohort.start_date, "timezone": cohort.timezone,
            "instructors": sorted(user.id for user in cohort.instructors)}


def _flush_name(session: DbSession, org_name: str, name: str) -> None:
    """Flush a new cohort: the name checked free a moment ago may have been taken since by
    a request at the same time (the same form sent twice), which the database's unique
    (organization, name) refuses; that is told as the check tells it. The caller rolls back
    after a ``CohortError`` (every view does), as the failed statement ends the transaction.
    No savepoint: on SQLite one opened before the transaction's first write would commit
    on its release."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise CohortError(f"{org_name} already has a cohort called {name!r}.", field="name") from exc


def create_cohort(session: DbSession, org: Organization, name: str, start_date: date, timezone: str,
                  instructor_emails: Iterable[str]) -> Cohort:
    """A new cohort of ``org``, taught by the people of its staff ``instructor_emails`` names."""
    name = _check_cohort_fields(session, org, name, timezone, start_date)
    # Resolve the instructors before the cohort exists: their look-ups autoflush, and a
    # cohort already attached to ``org`` but not yet in the session would warn then.
    instructors = _instructors(session, org, instructor_emails)
    cohort = Cohort(organization=org, name=name, start_date=start_date, timezone=timezone, instructors=instructors)
    session.add(cohort)
    _flush_name(session, org.name, name)
    record_from(session, action=AuditAction.COHORT_CREATED, organization_id=org.id, target=f"cohort:{cohort.id}",
                before=None, after=cohort_state(cohort))
    return cohort


def _check_later_start(session: DbSession, cohort: Cohort, start_date: date, timezone: str, now: datetime) -> None:
    """Refuse a start date that puts a running cohort with learners back before its start:
    every month its learners have open would close (their work and grades stay, but their
    lessons, quizzes and assignments lock until the new date), which one mistyped year does.
    The edit form asks for a tick to do it on purpose."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    if not cohort.start_date <= today < start_date:
        return
    learners = session.scalar(select(func.count()).select_from(Enrolment)
                              .where(Enrolment.cohort_id == cohort.id, Enrolment.active)) or 0
    if learners:
        raise LaterStart(
            f"{cohort.name} started on {cohort.start_date:%d %B %Y} and its {learners} learner"
            f"{'s have' if learners != 1 else ' has'} months open now. A start on {start_date:%d %B %Y} would "
            f"close all of them until then (work and grades stay). Tick the box below to move the start anyway.",
            field="start_date")


class LaterStart(CohortError):
    """A new start date that would put a running cohort's learners back before its start."""


def update_cohort(session: DbSession, cohort: Cohort, name: str, start_date: date, timezone: str,
                  instructor_emails: Iterable[str], expected_revision: int, now: datetime | None = None,
                  later_start_confirmed: bool = False) -> Cohort:
    """Change the cohort's settings, written only where it is still at ``expected_revision``
    (the one its edit form was shown): of two edits from one version the first is kept and
    the second raises ``StaleCohort`` having written nothing. A start date that would take a
    running cohort with learners back to not started is ``LaterStart`` unless confirmed."""
    before = cohort_state(cohort)
    name = _check_cohort_fields(session, cohort.organization, name, timezone, start_date, cohort)
    if not later_start_confirmed:
        _check_later_start(session, cohort, start_date, timezone, now or utcnow())
    instructors = _instructors(session, cohort.organization, instructor_emails, cohort)
    org_name = cohort.organization.name  # read now: after a refused statement the session reads nothing
    try:
        result = session.execute(
            update(Cohort).where(Cohort.id == cohort.id, Cohort.revision == expected_revision)
            .values(name=name, start_date=start_date, timezone=timezone, revision=expected_revision + 1)
            .execution_options(synchronize_session=False))
    except IntegrityError as exc:  # another cohort given this name at the same time
        raise CohortError(f"{org_name} already has a cohort called {name!r}.", field="name") from exc
    session.refresh(cohort)
    if rowcount(result) != 1:
        raise StaleCohort(cohort)
    cohort.instructors = instructors
    session.flush()
    record_from(session, action=AuditAction.COHORT_EDITED, organization_id=cohort.organization_id,
                target=f"cohort:{cohort.id}", before=before, after=cohort_state(cohort))
    return cohort


def add_instructor(session: DbSession, cohort: Cohort, user: User, actor_id: int | None = None) -> bool:
    """Make ``user`` an instructor of ``cohort`` (their own acceptance of an invitation),
    audited. The cohort's revision moves on with its instructors, so that an edit form shown
    before, which does not list them, is refused instead of quietly taking them off again.
    False, and nothing written, when they already teach it."""
    return bool(add_instructors(session, cohort, [user], actor_id))


def add_instructors(session: DbSession, cohort: Cohort, users: Iterable[User], actor_id: int | None = None) -> list[User]:
    """``add_instructor`` for several people at once (a platform's roster, lms/lti): one
    audit entry and one step of the revision for them all, a fixed number of statements
    whatever their number. Those added (not those who already teach it)."""
    have = {instructor.id for instructor in cohort.instructors}
    added = [user for user in {user.id: user for user in users}.values() if user.id not in have]
    if not added:
        return []
    before = cohort_state(cohort)
    cohort.instructors.extend(added)
    session.flush()
    session.execute(update(Cohort).where(Cohort.id == cohort.id).values(revision=Cohort.revision + 1)
                    .execution_options(synchronize_session=False))
    session.expire(cohort, ["revision"])
    record_from(session, action=AuditAction.COHORT_EDITED, organization_id=cohort.organization_id,
                target=f"cohort:{cohort.id}", before=before, after=cohort_state(cohort), actor_id=actor_id)
    return added


def archive_cohort(session: DbSession, cohort: Cohort, now: datetime | None = None) -> None:
    if cohort.archived_at is None:
        cohort.archived_at = now or utcnow()
        session.flush()
        record_from(session, action=AuditAction.COHORT_ARCHIVED, organization_id=cohort.organization_id,
                    target=f"cohort:{cohort.id}", before={"archived_at": None}, after={"archived_at": cohort.archived_at})


def unarchive_cohort(session: DbSession, cohort: Cohort) -> None:
    before = {"archived_at": cohort.archived_at}
    cohort.archived_at = None
    session.flush()
    record_from(session, action=AuditAction.COHORT_UNARCHIVED, organization_id=cohort.organization_id,
                target=f"cohort:{cohort.id}", before=before, after={"archived_at": None})


@dataclass(frozen=True)
class CohortSummary:
    cohort: Cohort
    learners: int    # current learners, closed accounts included (the cohort's history counts them)
    closed: int = 0  # of them, how many have a closed account (deactivated, or erased: ``User.deactivated_at``)

    @property
    def active(self) -> int:
        """Current learners whose account is open: those anyone can teach or chase."""
        return self.learners - self.closed


def summaries(session: DbSession, cohort_filter: Any, include_archived: bool = True) -> list[CohortSummary]:
    """Cohorts matching ``cohort_filter`` with their learner counts and how many of those
    learners have a closed account (as the cohort's roster says, ``enrolment.roster_page``),
    in two statements."""
    counts = (select(Enrolment.cohort_id, func.count().label("n"), func.count(User.deactivated_at).label("closed"))
              .join(User, User.id == Enrolment.user_id)
              .where(Enrolment.active).group_by(Enrolment.cohort_id).subquery())
    query = (select(Cohort, func.coalesce(counts.c.n, 0), func.coalesce(counts.c.closed, 0))
             .outerjoin(counts, counts.c.cohort_id == Cohort.id)
             .where(cohort_filter).options(selectinload(Cohort.organization))
             .order_by(Cohort.start_date.desc(), Cohort.name))
    if not include_archived:
        query = query.where(Cohort.archived_at.is_(None))
    return [CohortSummary(cohort=c, learners=int(n), closed=int(closed)) for c, n, closed in session.execute(query)]


@dataclass(frozen=True)
class AdminLine:
    """One administrator of an organization, and since when (None: before it was recorded)."""

    name: str
    email: str
    since: datetime | None


def organization_admin_list(session: DbSession, org_id: int) -> list[AdminLine]:
    """The organization's administrators by name, with since when each is one: one statement."""
    query = (select(User.name, User.email, organization_admins.c.added_at)
             .join(organization_admins, organization_admins.c.user_id == User.id)
             .where(organization_admins.c.organization_id == org_id).order_by(User.name, User.email))
    return [AdminLine(name=name, email=email, since=since) for name, email, since in session.execute(query)]


def organization_cohorts(session: DbSession, org_ids: Iterable[int]) -> list[CohortSummary]:
    return summaries(session, Cohort.organization_id.in_(list(org_ids)))


def cohort_stamp(cohort_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a cohort's kept pages (``lms.web.page_cache``: the heat map) show from this
    feature: the cohort (its name, start, time zone, organization) and its members as they
    are listed (``MemberMark``: drawn again by the database when any of their enrolments,
    or their names, emails or closed accounts, change: a closed account is at risk of
    nothing, so closing or reopening one changes the page)."""
    return [
        select(fingerprint(Cohort.name, Cohort.start_date, Cohort.timezone, Cohort.archived_at, Organization.name))
        .select_from(Cohort).join(Organization, Organization.id == Cohort.organization_id)
        .where(Cohort.id == cohort_id).scalar_subquery(),
        select(MemberMark.revision).where(MemberMark.cohort_id == cohort_id).scalar_subquery(),
    ]
