"""Registering platforms and mapping their courses to cohorts; what a checked launch does:
who it signs in, into which cohort with which role, and where it lands.

Who is signed in: the account already linked to the platform's user (``sub``); else, on a
first launch, the account with the launch's email when the platform is trusted to vouch
for emails (and does not say the address is unverified) and the account belongs to the
organization of the cohort the launch's course maps to, or holds an open invitation of it
(the rule single sign-on follows, ``lms.cohorts.roles.outsider_to``); else a new account.
Nobody deactivated, no site administrator and no account of another organization only is
ever linked this way, and a link made before that rule held is checked by it again at each
launch (``lms.lti.links`` finds and removes such links). A launch and a roster sync go
through the same code (``people``, ``join_all``): a roster's members all at once, in a fixed
number of statements whatever its size."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pylti1p3.roles import DesignerRole, StudentRole, TeacherRole, TeachingAssistantRole
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from lms.accounts.models import User
from lms.accounts.services import MAX_NAME_CHARS, AccountError, address_taken, normalise_email, person_name, tidy_name
from lms.cohorts.enrolment import enrol_all
from lms.cohorts.models import Cohort
from lms.cohorts.roles import Outsider, outsiders_to
from lms.cohorts.services import add_instructors
from lms.database import DbSession, utcnow
from lms.lti.keys import ensure_tool_key
from lms.lti.models import (
    URL_LENGTH,
    LtiAccount,
    LtiContext,
    LtiDeployment,
    LtiNonce,
    LtiPlatform,
    LtiResourceLink,
)
from lms.lti.tool import Refusal

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
URL = re.compile(r"^https://[^\s/?#]+[^\s#]*$")
LOCAL_URL = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d+)?(/[^\s#]*)?$")


class LtiError(Exception):
    """Settings refused; the message says why."""


class Role(StrEnum):
    LEARNER = "learner"
    INSTRUCTOR = "instructor"


# Registration ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PlatformSettings:
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: Sequence[str]
    trust_emails: bool = True


def parse_deployment_ids(text: str) -> list[str]:
    ids = sorted({part.strip() for part in re.split(r"[\s,]+", text) if part.strip()})
    if not ids:
        raise LtiError("Give at least one deployment id (the platform shows it once the tool is added).")
    if any(len(i) > 255 for i in ids):
        raise LtiError("A deployment id is at most 255 characters long.")
    return ids


def _check_url(label: str, url: str, allow_local: bool) -> str:
    url = url.strip()
    if len(url) > URL_LENGTH:
        raise LtiError(f"The {label} is too long.")
    if not URL.match(url) and not (allow_local and LOCAL_URL.match(url)):
        raise LtiError(f"The {label} must be an https:// address (http:// only for localhost).")
    return url


def save_platform(session: DbSession, platform: LtiPlatform | None, settings: PlatformSettings, *, revision: int | None,
                  secret_key: str, allow_local: bool, actor_id: int | None = None) -> LtiPlatform:
    """Register (``platform`` None) or update a platform; a conditional write on ``revision``."""
    name, client_id = settings.name.strip(), settings.client_id.strip()
    if not name or not client_id:
        raise LtiError("A name and the client id are required.")
    issuer = _check_url("issuer", settings.issuer, allow_local)  # compared exactly with the launches' iss
    urls = {field_name: _check_url(label, getattr(settings, field_name), allow_local) for field_name, label in (
        ("auth_login_url", "authentication request URL"), ("auth_token_url", "access token URL"),
        ("key_set_url", "public keyset (JWKS) URL"))}
    same = session.scalar(select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id))
    if same is not None and (platform is None or same.id != platform.id):
        raise LtiError(f"The platform {same.name} is already registered with this issuer and client id.")
    if platform is None:
        platform = LtiPlatform(name=name, issuer=issuer, client_id=client_id, trust_emails=settings.trust_emails,
                               created_at=utcnow(), updated_at=utcnow(), revision=1, **urls)
        session.add(platform)
    else:
        if revision is not None and revision != platform.revision:
            raise LtiError("Someone else changed this registration meanwhile: check it and save again.")
        platform.name, platform.issuer, platform.client_id = name, issuer, client_id
        for key, value in urls.items():
            setattr(platform, key, value)
        platform.trust_emails = settings.trust_emails
        platform.revision += 1
        platform.updated_at = utcnow()
    wanted = list(dict.fromkeys(settings.deployment_ids))
    platform.deployments = [d for d in platform.deployments if d.deployment_id in wanted] + [
        LtiDeployment(deployment_id=d) for d in wanted if d not in {x.deployment_id for x in platform.deployments}]
    try:
        session.flush()
    except IntegrityError as exc:
        raise LtiError("This registration was saved meanwhile by someone else: check it and save again.") from exc
    ensure_tool_key(session, secret_key)
    return platform


def map_context(session: DbSession, platform: LtiPlatform, context_id: str, cohort: Cohort | None,
                title: str = "") -> LtiContext:
    """Launches from the platform's course ``context_id`` land in ``cohort`` (None: nowhere)."""
    context_id = context_id.strip()
    if not context_id or len(context_id) > 255:
        raise LtiError("Give the course's context id (at most 255 characters), as the platform sends it.")
    if cohort is not None and cohort.archived:
        raise LtiError(f"{cohort.name} is archived: choose a current cohort.")
    context = session.scalar(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                                      LtiContext.context_id == context_id))
    if context is None:
        context = LtiContext(platform_id=platform.id, context_id=context_id, title=title.strip()[:255], created_at=utcnow())
        session.add(context)
    elif title.strip():
        context.title = title.strip()[:255]
    context.cohort_id = cohort.id if cohort is not None else None
    try:
        session.flush()
    except IntegrityError as exc:
        raise LtiError("This course was mapped meanwhile by someone else: check it and save again.") from exc
    return context


# A launch --------------------------------------------------------------------------------

def role_of(roles: Sequence[str]) -> Role | None:
    body = {CLAIM + "roles": list(roles)}
    if any(role(body).check() for role in (TeacherRole, TeachingAssistantRole, DesignerRole)):
        return Role.INSTRUCTOR
    if StudentRole(body).check():  # type: ignore[no-untyped-call]
        return Role.LEARNER
    return None


def _text(value: Any, limit: int = 255) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class Launch:
    """The claims of a checked launch this tool uses."""

    message_type: str
    subject: str
    email: str
    email_verified: bool | None
    name: str
    roles: tuple[str, ...]
    deployment_id: str
    context_id: str
    context_title: str
    resource_link_id: str
    target_link_uri: str
    custom: Mapping[str, str]
    ags: Mapping[str, Any]
    memberships_url: str
    deep_linking: Mapping[str, Any] = field(default_factory=dict)

    @property
    def deep_link(self) -> bool:
        return self.message_type == "LtiDeepLinkingRequest"


def read_launch(claims: Mapping[str, Any]) -> Launch:
    def part(name: str) -> Mapping[str, Any]:
        value = claims.get(name)
        return value if isinstance(value, Mapping) else {}

    context, link = part(CLAIM + "context"), part(CLAIM + "resource_link")
    roles = claims.get(CLAIM + "roles")
    custom = {str(k): str(v) for k, v in part(CLAIM + "custom").items()}
    name = _text(claims.get("name"), 200) or " ".join(
        p for p in (_text(claims.get("given_name"), 100), _text(claims.get("family_name"), 100)) if p)
    verified = claims.get("email_verified")
    return Launch(
        message_type=_text(claims.get(CLAIM + "message_type")), subject=_text(claims.get("sub")),
        email=_text(claims.get("email"), 254).lower(), email_verified=verified if isinstance(verified, bool) else None,
        name=name, roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        deployment_id=_text(claims.get(CLAIM + "deployment_id")), context_id=_text(context.get("id")),
        context_title=_text(context.get("title")) or _text(context.get("label")),
        resource_link_id=_text(link.get("id")), target_link_uri=_text(claims.get(CLAIM + "target_link_uri"), URL_LENGTH),
        custom=custom, ags=part(AGS_CLAIM), memberships_url=_text(part(NRPS_CLAIM).get("context_memberships_url"), URL_LENGTH),
        deep_linking=part(DL_CLAIM))


def use_nonce(session: DbSession, platform: LtiPlatform, nonce: str, expires: Any, now: datetime) -> None:
    """Remember the launch's nonce until its token expires: the same token twice is refused."""
    try:
        expires_at = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
    except (TypeError, ValueError, OverflowError):
        expires_at = now
    session.execute(delete(LtiNonce).where(LtiNonce.expires_at < now - timedelta(hours=1)))
    try:
        with session.begin_nested():
            session.add(LtiNonce(platform_id=platform.id, nonce=nonce[:255], expires_at=max(expires_at, now) + timedelta(minutes=5)))
    except IntegrityError as exc:
        raise Refusal("This launch was already used (its nonce was seen before): a launch cannot be replayed. "
                      "Launch again from the course.", 409) from exc


def context_of(session: DbSession, platform: LtiPlatform, launch: Launch) -> tuple[LtiContext, Cohort]:
    if not launch.context_id:
        raise Refusal("The launch names no course (context): launch the tool from inside a course.", 400)
    context = session.scalar(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                                      LtiContext.context_id == launch.context_id))
    if context is None or context.cohort is None:
        raise Refusal(f"The course “{launch.context_title or launch.context_id}” of {platform.name} is not linked to a "
                      f"cohort yet. A site administrator maps its context id {launch.context_id!r} to a cohort in this "
                      "platform's registration.", 409)
    if context.cohort.archived:
        raise Refusal(f"The course is linked to {context.cohort.name}, which is archived.", 409)
    return context, context.cohort


def _check_user(user: User) -> None:
    if not user.is_active:
        raise Refusal("This account is deactivated here. Ask the program's administrator.", 403)
    if user.is_admin:
        raise Refusal("Site administrators sign in with their password, not through a platform launch.", 403)


def email_refusal(platform: LtiPlatform, email: str, outsider: Outsider | None) -> Refusal | None:
    """Why the account found by the platform's vouched ``email`` may not be linked (None: it may)."""
    match outsider:
        case Outsider.OTHER_ORGANIZATION:
            return Refusal(f"The account for {email} belongs to another organization, so a launch from {platform.name} "
                           "cannot sign in as it. Ask the program's administrator.", 409)
        case Outsider.NO_TIE:
            return Refusal(f"The account for {email} does not belong to the organization this course is part of, so a "
                           f"launch from {platform.name} cannot sign in as it: its owner signs in with their password, "
                           "or the organization's administrator invites them first.", 409)
    return None


def linked_refusal(platform: LtiPlatform, user: User, outsider: Outsider | None) -> Refusal | None:
    """Why an existing link to ``user`` may not sign in through a launch into a course (None:
    it may): a link made before the rule of ``email_refusal`` held is refused by the same
    rule (``flask lms check-lti-links`` finds such links and removes them)."""
    match outsider:
        case Outsider.OTHER_ORGANIZATION:
            where = "belongs to another organization"
        case Outsider.NO_TIE:
            where = "does not belong to the organization this course is part of"
        case _:
            return None
    return Refusal(f"This person of {platform.name} is linked to the account {user.email}, which {where}, so a launch "
                   "into this course cannot sign in as it. Ask the program's administrator.", 409)


@dataclass(frozen=True)
class Member:
    """A person a launch or the platform's roster names, as the platform describes them."""

    subject: str
    email: str
    email_verified: bool | None
    name: str


LINKED_MEANWHILE = "was linked or made meanwhile (another launch or a roster sync at the same moment)"


def people(session: DbSession, platform: LtiPlatform, members: Sequence[Member], *, cohort: Cohort) -> list[User | Refusal]:
    """``person`` for each of ``members`` in a fixed number of statements whatever their
    number (a roster): each one's account, or why none. Flushes the new accounts and links;
    raises ``Refusal`` when another launch or sync linked or made one of them meanwhile."""
    subjects = sorted({m.subject for m in members if m.subject})
    linked = {a.subject: a for a in session.scalars(
        select(LtiAccount).where(LtiAccount.platform_id == platform.id, LtiAccount.subject.in_(subjects))
        .options(joinedload(LtiAccount.user, innerjoin=True)))} if subjects else {}
    emails = sorted({m.email.strip().lower() for m in members if m.subject not in linked and m.email})
    found = {u.email: u for u in session.scalars(select(User).where(User.email.in_(emails)))} if emails else {}
    refused = outsiders_to(session, {(u, cohort.organization_id) for u in [a.user for a in linked.values()] + list(found.values())})
    batch = _Batch(platform, cohort, linked, found, refused)
    answers: list[User | str | Refusal] = []
    for member in members:
        try:
            answers.append(batch.person(member))
        except Refusal as exc:
            answers.append(exc)
    try:
        with session.begin_nested():
            # Bulk INSERTs, one statement each (the ORM's flush would insert row by row).
            made: dict[str, User] = {}
            if batch.made:
                session.execute(insert(User), list(batch.made.values()))
                made = {u.email: u for u in session.scalars(select(User).where(User.email.in_(sorted(batch.made))))}
            if batch.links:
                now = utcnow()
                session.execute(insert(LtiAccount), [
                    {"platform_id": platform.id, "subject": subject, "created_at": now,
                     "user_id": made[user].id if isinstance(user, str) else user.id} for subject, user in batch.links.items()])
    except IntegrityError as exc:
        raise Refusal(f"An account of this course {LINKED_MEANWHILE}: try again.", 409) from exc
    return [made[answer] if isinstance(answer, str) else answer for answer in answers]


@dataclass
class _Batch:
    """What ``people`` read at once, and the accounts (their rows, by address) and links
    (to an account, or to the address of one to make) it is to write."""

    platform: LtiPlatform
    cohort: Cohort
    linked: dict[str, LtiAccount]
    found: dict[str, User]
    refused: dict[tuple[int, int], Outsider]
    made: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, User | str] = field(default_factory=dict)

    def person(self, member: Member) -> User | str:
        """``member``'s account, or the address of the one to make; refused with why."""
        platform, cohort = self.platform, self.cohort
        if not member.subject:
            raise Refusal("The launch does not identify its user (no sub): anonymous launches are not supported.", 400)
        account = self.linked.get(member.subject)
        if account is not None:
            _check_user(account.user)
            # A link made before the rule below was kept (an upgrade): it is checked again.
            refusal = linked_refusal(platform, account.user, self.refused.get((account.user.id, cohort.organization_id)))
            if refusal is not None:
                raise refusal
            return account.user
        if member.subject in self.links:  # listed twice
            return self.links[member.subject]
        if not member.email:
            raise Refusal(f"{platform.name} did not share this person's email address, so no account can be found or "
                          "made: set the tool's privacy settings in the platform to share names and emails.", 403)
        email = member.email.strip().lower()
        user: User | str | None = self.found.get(email) or (email if email in self.made else None)
        if user is not None:
            if not platform.trust_emails or member.email_verified is False:
                raise Refusal(f"{address_taken(email)} The platform does not vouch for this address, so it is not "
                              "linked; ask the program's administrator.", 409)
            if isinstance(user, User):  # not one made for another of the platform's users listed before
                _check_user(user)
                # The platform vouches for the address in the name of the organization its course
                # launches into: never for another organization's instructor, learner or admin.
                refusal = email_refusal(platform, email, self.refused.get((user.id, cohort.organization_id)))
                if refusal is not None:
                    raise refusal
        else:
            try:
                address = normalise_email(email)
                # The platform's name when it has a letter or digit, else the address's local part.
                name = person_name(tidy_name(member.name[:MAX_NAME_CHARS]) or address.partition("@")[0])
            except AccountError as exc:
                raise Refusal(f"{exc} The platform does not vouch for this address, so it is not linked; ask the "
                              "program's administrator.", 409) from exc
            if address != email and (address in self.found or address in self.made):
                raise Refusal(f"{address_taken(address)} Ask the program's administrator.", 409)
            # LTI names no time zone of its own: a new account starts on the cohort's.
            self.made[address] = {"email": address, "name": name, "timezone": cohort.timezone}
            user = address
        self.links[member.subject] = user
        return user


def person(session: DbSession, platform: LtiPlatform, member: Member, *, cohort: Cohort) -> User:
    """The account the platform's user is here: linked (a link to an account outside the
    organization of ``cohort``, the one the launch's course maps to, is refused), found by
    email, or new (starting on ``cohort``'s time zone: LTI names no zone of its own)."""
    [answer] = people(session, platform, [member], cohort=cohort)
    if isinstance(answer, Refusal):
        raise answer
    return answer


@dataclass(frozen=True)
class Joined:
    """What ``join_all`` did: who were added, and why the others were refused (by user id)."""

    learners: list[User]
    instructors: list[User]
    refused: dict[int, Refusal]


def join_all(session: DbSession, cohort: Cohort, people: Sequence[tuple[User, Role]], now: datetime) -> Joined:
    """Enrol the learners, add the instructors (those already there are passed over), in a
    fixed number of statements whatever their number."""
    # As an accepted invitation does: the cohort's revision moves on with its
    # instructors, so an edit form opened before (which does not list them) is refused
    # instead of quietly taking them off again.
    instructors = add_instructors(session, cohort, [user for user, role in people if role is Role.INSTRUCTOR])
    enrolled = enrol_all(session, cohort, [user for user, role in people if role is Role.LEARNER], now)
    return Joined(enrolled.users, instructors,
                  {user_id: Refusal(problem, 409) for user_id, problem in enrolled.refused.items()})


def join(session: DbSession, cohort: Cohort, user: User, role: Role, now: datetime) -> bool:
    """Enrol ``user`` as a learner, or add them to the instructors; True when it changed anything."""
    joined = join_all(session, cohort, [(user, role)], now)
    if user.id in joined.refused:
        raise joined.refused[user.id]
    return bool(joined.learners or joined.instructors)


@dataclass(frozen=True)
class Accepted:
    user: User
    role: Role
    context: LtiContext
    cohort: Cohort


def accept(session: DbSession, platform: LtiPlatform, launch: Launch, now: datetime) -> Accepted:
    """Sign-in, enrolment and the context's service endpoints for a checked launch (flushes)."""
    role = role_of(launch.roles)
    if role is None:
        raise Refusal("Only learners and instructors of the course can launch the tool (the launch's roles are neither).", 403)
    if launch.deep_link and role is not Role.INSTRUCTOR:
        raise Refusal("Only instructors place the program's content in a course.", 403)
    context, cohort = context_of(session, platform, launch)
    user = person(session, platform, Member(launch.subject, launch.email, launch.email_verified, launch.name), cohort=cohort)
    join(session, cohort, user, role, now)
    if launch.context_title:
        context.title = launch.context_title
    if launch.ags:
        context.lineitems_url = _text(launch.ags.get("lineitems"), URL_LENGTH) or context.lineitems_url
        scope = launch.ags.get("scope")
        context.ags_scopes = " ".join(s for s in scope if isinstance(s, str))[:URL_LENGTH] if isinstance(scope, list) else ""
    if launch.memberships_url:
        context.memberships_url = launch.memberships_url
    user.last_login_at = now
    session.flush()
    return Accepted(user, role, context, cohort)


def remember_link(session: DbSession, context: LtiContext, launch: Launch, target: str | None) -> LtiResourceLink | None:
    """Keep the resource link's target and line item (grades for its target go there)."""
    if not launch.resource_link_id:
        return None
    link = session.scalar(select(LtiResourceLink).where(LtiResourceLink.lti_context_id == context.id,
                                                        LtiResourceLink.resource_link_id == launch.resource_link_id))
    if link is None:
        link = LtiResourceLink(lti_context_id=context.id, resource_link_id=launch.resource_link_id)
        session.add(link)
    if target:
        link.target = target
    lineitem = _text(launch.ags.get("lineitem"), URL_LENGTH) if launch.ags else ""
    if lineitem:
        link.lineitem_url = lineitem
    session.flush()
    return link
