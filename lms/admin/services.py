"""The admin console's work: find users, show one with their roles and memberships, and
deactivate, reactivate, send a reset link or end every session — each conditional on the
state the admin saw (the user's session version and whether they were active), and each
written to the audit log with the actor and address the view passes in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from lms.accounts.devices import end_all as end_all_sign_ins
from lms.accounts.models import User
from lms.accounts.services import issue_reset_token
from lms.audit.models import AuditAction
from lms.audit.services import Origin, record
from lms.cohorts.models import Cohort, Enrolment, Organization, cohort_instructors, organization_admins
from lms.database import DbSession, lowered, rowcount, utcnow
from lms.jobs.models import JobStatus
from lms.jobs.services import counts as job_counts
from lms.mail.models import MailStatus
from lms.mail.services import unsent
from lms.progress.state import unkept

PAGE_SIZE = 25
QUERY_LENGTH = 200


class AdminError(ValueError):
    """An action the console refuses; nothing was changed."""


class StaleUser(AdminError):
    """The user changed (another admin acted, or they signed out everywhere) since the page was shown."""


@dataclass(frozen=True)
class UserRow:
    user: User
    organizations: tuple[str, ...]  # names of the organizations they belong to in any role


@dataclass(frozen=True)
class UserPage:
    rows: list[UserRow]
    total: int
    page: int
    pages: int


def like_pattern(text: str, *, anywhere: bool = True) -> str:
    """A LIKE pattern (escaped with a backslash) for ``text`` anywhere, or at the start."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%" if anywhere else f"{escaped}%"


def search_users(session: DbSession, query: str, page: int = 1, per_page: int = PAGE_SIZE) -> UserPage:
    """Users whose name or email holds ``query`` (any case), by name, one page of them, with
    the organizations each belongs to: a fixed number of statements whatever the page holds."""
    text = query.strip()[:QUERY_LENGTH].lower()
    condition = or_(lowered(User.name).like(like_pattern(text), escape="\\"),
                    User.email.like(like_pattern(text), escape="\\")) if text else None
    counted = select(func.count(User.id))
    listed = select(User).order_by(func.lower(User.name), User.id)
    if condition is not None:
        counted, listed = counted.where(condition), listed.where(condition)
    total = session.scalar(counted) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    users = list(session.scalars(listed.limit(per_page).offset((page - 1) * per_page)))
    orgs = organizations_of(session, [u.id for u in users])
    return UserPage([UserRow(u, tuple(sorted(orgs.get(u.id, set())))) for u in users], total, page, pages)


def organizations_of(session: DbSession, user_ids: list[int]) -> dict[int, set[str]]:
    """The names of the organizations each user belongs to (admin, instructor, learner): one statement."""
    if not user_ids:
        return {}
    as_admin = (select(organization_admins.c.user_id.label("user_id"), Organization.name)
                .join(Organization, Organization.id == organization_admins.c.organization_id)
                .where(organization_admins.c.user_id.in_(user_ids)))
    as_instructor = (select(cohort_instructors.c.user_id.label("user_id"), Organization.name)
                     .join(Cohort, Cohort.id == cohort_instructors.c.cohort_id)
                     .join(Organization, Organization.id == Cohort.organization_id)
                     .where(cohort_instructors.c.user_id.in_(user_ids)))
    as_learner = (select(Enrolment.user_id.label("user_id"), Organization.name)
                  .join(Cohort, Cohort.id == Enrolment.cohort_id)
                  .join(Organization, Organization.id == Cohort.organization_id)
                  .where(Enrolment.user_id.in_(user_ids)))
    found: dict[int, set[str]] = {}
    for user_id, name in session.execute(as_admin.union(as_instructor, as_learner)):
        found.setdefault(user_id, set()).add(name)
    return found


@dataclass(frozen=True)
class Membership:
    role: str                 # "organization admin", "instructor", "learner"
    organization: Organization
    cohort: Cohort | None
    since: datetime | None = None
    ended_at: datetime | None = None


def memberships(session: DbSession, user: User) -> list[Membership]:
    """Every role the user holds or held, organization by organization."""
    found = [Membership("organization admin", org, None) for org in session.scalars(
        select(Organization).join(organization_admins, organization_admins.c.organization_id == Organization.id)
        .where(organization_admins.c.user_id == user.id).order_by(Organization.name))]
    found += [Membership("instructor", cohort.organization, cohort) for cohort in session.scalars(
        select(Cohort).join(cohort_instructors, cohort_instructors.c.cohort_id == Cohort.id)
        .where(cohort_instructors.c.user_id == user.id).options(selectinload(Cohort.organization))
        .order_by(Cohort.start_date))]
    found += [Membership("learner", e.cohort.organization, e.cohort, e.started_at, e.ended_at) for e in session.scalars(
        select(Enrolment).where(Enrolment.user_id == user.id)
        .options(selectinload(Enrolment.cohort).selectinload(Cohort.organization)).order_by(Enrolment.started_at))]
    return found


def _state(user: User) -> dict[str, object]:
    return {"active": user.deactivated_at is None, "session_version": user.session_version}


def _change(session: DbSession, user: User, seen_version: int, *, active: bool | None, origin: Origin,
            action: AuditAction) -> None:
    """Bump the user's session version (ending every session), and set whether they are
    active, only if nobody changed them since the admin saw ``seen_version``."""
    before = _state(user)
    values: dict[str, object] = {"session_version": User.session_version + 1}
    condition = [User.id == user.id, User.session_version == seen_version]
    if active is not None:
        values["deactivated_at"] = None if active else utcnow()
        condition.append(User.deactivated_at.is_not(None) if active else User.deactivated_at.is_(None))
    done = session.execute(update(User).where(*condition).values(**values).execution_options(synchronize_session=False))
    if rowcount(done) != 1:
        session.refresh(user)
        raise StaleUser(f"{user.name} changed since the page was shown: look again and repeat if still needed.")
    session.refresh(user)
    end_all_sign_ins(session, user.id, utcnow())  # off the person's list of devices too
    record(session, actor_id=origin.actor_id, action=action, organization_id=None, target=f"user:{user.id}",
           before=before, after=_state(user), ip=origin.ip)
    session.flush()


def deactivate(session: DbSession, user: User, seen_version: int, origin: Origin) -> None:
    """The user can no longer sign in, and every session they have ends."""
    if origin.actor_id == user.id:
        raise AdminError("You cannot deactivate your own account.")
    if user.deactivated_at is not None:
        raise AdminError(f"{user.name} is already deactivated.")
    _change(session, user, seen_version, active=False, origin=origin, action=AuditAction.USER_DEACTIVATED)


def reactivate(session: DbSession, user: User, seen_version: int, origin: Origin) -> None:
    if user.erased:
        # Its name, email and password are gone: reactivated, it would be notified and mailed
        # at its placeholder address, and nobody could sign in to it.
        raise AdminError(f"Account #{user.id} was erased: it cannot be reactivated. Invite the person again instead.")
    if user.deactivated_at is None:
        raise AdminError(f"{user.name} is already active.")
    _change(session, user, seen_version, active=True, origin=origin, action=AuditAction.USER_REACTIVATED)


def end_sessions(session: DbSession, user: User, seen_version: int, origin: Origin) -> None:
    """Sign the user out everywhere (every session and remember-me cookie)."""
    _change(session, user, seen_version, active=None, origin=origin, action=AuditAction.SESSIONS_ENDED)


def send_reset_link(session: DbSession, user: User, origin: Origin) -> str:
    """A password reset token for the user (the view mails the link); audited."""
    if user.deactivated_at is not None:
        raise AdminError(f"{user.name} is deactivated: reactivate the account before sending a reset link.")
    token = issue_reset_token(session, user)
    record(session, actor_id=origin.actor_id, action=AuditAction.RESET_LINK_SENT, organization_id=None,
           target=f"user:{user.id}", before=None, after={"reset_link": "sent"}, ip=origin.ip)
    session.flush()
    return token


@dataclass(frozen=True)
class Attention:
    """What the site admin's home shows first: background jobs and mail, by state, and the
    current learners whose schedule state is not kept (``lms.progress.state.unkept``)."""

    jobs: dict[JobStatus, int]
    mail: dict[MailStatus, int]
    unkept: int

    @property
    def failures(self) -> int:
        return self.jobs[JobStatus.FAILED] + self.mail[MailStatus.FAILED]


def attention(session: DbSession) -> Attention:
    """Three statements, whatever the number of jobs, messages and learners."""
    return Attention(jobs=job_counts(session), mail=unsent(session), unkept=unkept(session))
