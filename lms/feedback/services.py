"""Stakeholder feedback. A learner invites someone who lives with their work (a customer,
a team member, an investor) to rate how they implemented one framework module, through a
single-use link that needs no account. Each answer becomes ``stakeholder`` evidence on the
module's objectives. Services take a session and plain values and only flush."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from blinker import Namespace
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.accounts.services import AccountError, hash_token, new_token, normalise_email, tidy_name
from lms.catalog.models import Module
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.roles import inside_cohort
from lms.database import DbSession
from lms.feedback import links
from lms.feedback.models import FeedbackInvite, FeedbackRelation, FeedbackResponse, InviteStatus
from lms.learning.services import Schedule, learner_schedule
from lms.mail.services import queue_mail
from lms.progress.models import EvidenceSourceName
from lms.progress.services import replace_evidence
from lms.progress.sources import judge
from lms.web.page_cache import fingerprint

events = Namespace()
# Sent with ``session=`` and ``now=`` once a stakeholder's answer is saved (the sender is
# the FeedbackResponse); features above (notifications) listen to it.
feedback_answered = events.signal("feedback-answered")

SOURCE = EvidenceSourceName.STAKEHOLDER
DEFAULT_DAYS_VALID = 21
MAX_NAME_CHARS = 200
MAX_COMMENT_CHARS = 3000
# Invitations a learner may send in a day: each is a mail from the platform to an address of
# their choosing, so without a bound the form sent mail to anybody, as often as it was posted.
MAX_INVITES_PER_DAY = 20
LinkFor = Callable[[str], str]

# Who the person is to the learner's business; stored by key, shown by label.
RELATIONS: dict[FeedbackRelation, str] = {
    FeedbackRelation.CUSTOMER: "Customer",
    FeedbackRelation.TEAM_MEMBER: "Team member",
    FeedbackRelation.INVESTOR: "Investor or board member",
    FeedbackRelation.PARTNER: "Partner or supplier",
    FeedbackRelation.OTHER: "Other",
}


@dataclass(frozen=True)
class Question:
    """One rating, 1 (poor) to 5 (excellent); ``text`` names the framework as {framework}."""

    id: str
    label: str
    text: str

    def ask(self, framework: str) -> str:
        return self.text.format(framework=framework)


QUESTIONS: tuple[Question, ...] = (
    Question("reliability", "Reliability",
             "How dependably does their {framework} work, as you experience it?"),
    Question("communication", "Communication",
             "How well do they keep you informed about it: changes, problems, what to expect?"),
    Question("results", "Results",
             "How much has it improved the results that matter to you?"),
    Question("recommend", "Would recommend",
             "How strongly would you recommend the way they run it to someone in your position?"),
)
SCALE: dict[int, str] = {1: "Poor", 2: "Fair", 3: "Good", 4: "Very good", 5: "Excellent"}


class FeedbackError(ValueError):
    """A problem the person can fix, or a link that cannot be used; nothing was changed.
    ``field``: the invitation form's field it is about (``"module"``, ``"name"``,
    ``"email"``, ``"relation"``), when it is about one, for the page to show it there and
    mark that field invalid."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ link problems
# The shared link states (lms/feedback/links.py) with what the learner's list calls each
# and the message the stakeholder reads.


class LinkError(links.LinkProblem, FeedbackError):
    status: ClassVar[InviteStatus | None] = None


class UnknownLink(links.UnknownLinkProblem, LinkError):
    message = "This feedback link is not valid. Check that you copied the whole address from the email."


class UsedLink(links.UsedLinkProblem, LinkError):
    status = InviteStatus.ANSWERED
    message = "This feedback link has already been used. Each link works once; thank you if it was you."


class RevokedLink(links.RevokedLinkProblem, LinkError):
    status = InviteStatus.REVOKED
    message = "The person who sent this link has withdrawn it. Nothing more is needed from you."


class ExpiredLink(links.ExpiredLinkProblem, LinkError):
    status = InviteStatus.EXPIRED
    message = "This feedback link has expired. If you still want to answer, ask the person who sent it for a new one."


# Checked in this order: an answered link stays "answered" whatever happens later.
LINK_PROBLEMS: tuple[type[LinkError], ...] = (UsedLink, RevokedLink, ExpiredLink)
STATUS_LABELS: dict[InviteStatus, str] = {InviteStatus.WAITING: "Waiting", InviteStatus.ANSWERED: "Answered",
                                          InviteStatus.EXPIRED: "Expired", InviteStatus.REVOKED: "Withdrawn"}


def problem_of(invite: FeedbackInvite, now: datetime) -> type[LinkError] | None:
    return links.problem_of(LINK_PROBLEMS, invite, now)


def status_of(invite: FeedbackInvite, now: datetime) -> InviteStatus:
    """waiting, answered, revoked or expired."""
    return links.status_of(LINK_PROBLEMS, InviteStatus.WAITING, invite, now)


# ------------------------------------------------------------------ the learner's side


@dataclass(frozen=True)
class Frameworks:
    """The framework modules on the invitation form: ``open`` those a learner may ask about
    (a month of theirs has opened), ``later`` the others with the day the first opens."""

    open: list[Module]
    later: list[tuple[Module, date]]


def _opens_on(plan: Schedule | None, module: Module) -> date | None:
    """The day the learner's first month of ``module`` opens, while none has; None once one
    has (or with no schedule: ``invite`` refuses a learner outside a cohort on its own)."""
    if plan is None:
        return None
    slots = [s for s in plan.slots if s.phase.module_id == module.id]
    if not slots or any(s.is_open for s in slots):
        return None
    return min(s.opens_on for s in slots)


def framework_modules(session: DbSession, plan: Schedule | None) -> Frameworks:
    """The active framework modules of the program, split by whether the learner (``plan``:
    their schedule) has started them: a stakeholder rates a framework put into practice, and
    their answer is evidence on its objectives, so not before its first month opens."""
    found: Frameworks = Frameworks([], [])
    for module in session.scalars(select(Module).where(Module.retired_at.is_(None)).order_by(Module.position)):
        opens = _opens_on(plan, module)
        if opens is None:
            found.open.append(module)
        else:
            found.later.append((module, opens))
    return found


def taking_part(plan: Schedule | None) -> str:
    """How a stakeholder is told of the learner's part in the program (``plan``: their
    schedule, None outside a cohort): "is taking" while its twelve months run, "took part
    in" once they are over or the learner has left their cohort."""
    return "is taking" if plan is not None and not plan.over else "took part in"


def learner_taking_part(session: DbSession, learner: User, now: datetime) -> str:
    """``taking_part`` for ``learner`` at ``now`` (the stakeholder's answer page)."""
    return taking_part(learner_schedule(session, learner, now))


def _invite_mail(session: DbSession, invite: FeedbackInvite, learner: User, module: Module, link: str, days: int,
                 plan: Schedule | None) -> None:
    queue_mail(
        session, invite.email, f"{learner.name} asks for your view on their {module.title}",
        f"Hello {invite.name},\n\n"
        f"{learner.name} {taking_part(plan)} the AI Operations program and has put {module.title} into practice. "
        f"They asked for your honest view, as their {RELATIONS[invite.relation].lower()}: "
        f"{len(QUESTIONS)} short ratings and an optional comment, about two minutes. You need no account.\n\n"
        f"Open this link within {days} days; it works once:\n{link}\n\n"
        f"Your answers are shown to {learner.name} and their instructors. "
        "If you were not expecting this message, you can ignore it.\n", one_time=[link])


def invite(session: DbSession, learner: User, module: Module, name: str, email: str, relation: FeedbackRelation | str,
           now: datetime, link_for: LinkFor, days_valid: int = DEFAULT_DAYS_VALID) -> tuple[FeedbackInvite, str]:
    """Create a single-use invitation and mail its link (``link_for(token)``, an absolute
    URL built by the caller); returns the invitation and the raw token, which is not kept."""
    enrolment = active_enrolment(session, learner.id)
    if enrolment is None:
        raise FeedbackError("Only learners enrolled in a cohort can ask for stakeholder feedback.")
    if module.retired_at is not None:
        raise FeedbackError("Choose one of the program's framework modules.", field="module")
    plan = learner_schedule(session, learner, now)
    opens = _opens_on(plan, module)
    if opens is not None:
        raise FeedbackError(f"{module.title} opens on {opens:%d %B %Y}: ask how it works for people once you have "
                            "started putting it into practice.", field="module")
    raw, name = name, tidy_name(name)  # a person's name, as accounts keep one: no direction overrides or invisible characters
    if not name:
        raise FeedbackError("Give the name of the person you are inviting." if not raw.strip()
                            else "A name needs at least one letter or digit (invisible characters are not kept).",
                            field="name")
    if len(name) > MAX_NAME_CHARS:
        raise FeedbackError(f"Keep the name under {MAX_NAME_CHARS} characters.", field="name")
    if relation not in RELATIONS:
        raise FeedbackError(f"Choose who they are to your business: {', '.join(RELATIONS.values()).lower()}.",
                            field="relation")
    relation = FeedbackRelation(relation)
    try:
        address = normalise_email(email)
    except AccountError as exc:
        raise FeedbackError(str(exc), field="email") from exc
    if address == learner.email:
        raise FeedbackError("You cannot rate your own work: invite someone who experiences it.", field="email")
    if inside_cohort(session, address, enrolment.cohort_id):
        raise FeedbackError(f"{address} belongs to the program: a learner of your cohort, or its staff. Invite someone "
                            "outside it who experiences your work (their answers count as evidence of your competency).",
                            field="email")
    sent = session.scalar(select(func.count(FeedbackInvite.id)).where(
        FeedbackInvite.learner_id == learner.id, FeedbackInvite.created_at > now - timedelta(days=1))) or 0
    if sent >= MAX_INVITES_PER_DAY:
        raise FeedbackError(f"You have sent {MAX_INVITES_PER_DAY} invitations in the last 24 hours, the most a day; "
                            "send this one tomorrow.")
    waiting = session.scalar(select(FeedbackInvite).where(
        FeedbackInvite.learner_id == learner.id, FeedbackInvite.module_id == module.id, FeedbackInvite.email == address,
        FeedbackInvite.used_at.is_(None), FeedbackInvite.revoked_at.is_(None), FeedbackInvite.expires_at > now))
    if waiting is not None:
        raise FeedbackError(f"{address} already has a waiting invitation for {module.title}. "
                            "Withdraw it first if you want to send a new link.", field="email")
    token, digest = new_token()
    item = FeedbackInvite(learner_id=learner.id, module_id=module.id, name=name, email=address, relation=relation,
                          token_hash=digest, created_at=now, expires_at=now + timedelta(days=days_valid))
    session.add(item)
    session.flush()
    _invite_mail(session, item, learner, module, link_for(token), days_valid, plan)
    return item, token


def revoke(session: DbSession, invite: FeedbackInvite, now: datetime) -> None:
    """Withdraw a link; an answered one stays answered (its feedback remains evidence)."""
    if invite.used_at is not None:
        raise FeedbackError(f"{invite.name} has already answered; their feedback stays on your record.")
    if invite.revoked_at is None:
        invite.revoked_at = now
    session.flush()


def invites_of(session: DbSession, learner_id: int) -> list[FeedbackInvite]:
    """Every invitation of a learner, newest first, with module and answer: three statements."""
    return list(session.scalars(
        select(FeedbackInvite).where(FeedbackInvite.learner_id == learner_id)
        .options(selectinload(FeedbackInvite.module), selectinload(FeedbackInvite.response))
        .order_by(FeedbackInvite.created_at.desc(), FeedbackInvite.id.desc())))


def responses_for_learner(session: DbSession, learner_id: int) -> list[FeedbackResponse]:
    """The answers a learner received, newest first, with invitation and module: three statements."""
    return list(session.scalars(
        select(FeedbackResponse).join(FeedbackResponse.invite).where(FeedbackInvite.learner_id == learner_id)
        .options(selectinload(FeedbackResponse.invite).selectinload(FeedbackInvite.module))
        .order_by(FeedbackResponse.submitted_at.desc(), FeedbackResponse.id.desc())))


def mean_rating(response: FeedbackResponse) -> float:
    values = [int(v) for v in response.ratings.values()]
    return sum(values) / len(values) if values else 0.0


# ------------------------------------------------------------------ the stakeholder's side


def open_invite(session: DbSession, token: str, now: datetime) -> FeedbackInvite:
    """The invitation behind a link, or a ``LinkError`` saying why it cannot be used."""
    item = session.scalar(select(FeedbackInvite).where(FeedbackInvite.token_hash == hash_token(token))
                          .options(selectinload(FeedbackInvite.learner), selectinload(FeedbackInvite.module)))
    if item is None:
        raise UnknownLink()
    problem = problem_of(item, now)
    if problem is not None:
        raise problem()
    return item


def check_ratings(ratings: Mapping[str, Any]) -> dict[str, int]:
    """Every question answered with a whole number from 1 to 5."""
    missing = [q.label.lower() for q in QUESTIONS if not str(ratings.get(q.id) or "").strip()]
    if missing:
        raise FeedbackError(f"Rate every statement from 1 to 5 (missing: {', '.join(missing)}).")
    clean: dict[str, int] = {}
    for q in QUESTIONS:
        raw = str(ratings[q.id]).strip()
        if not (raw.isdecimal() and int(raw) in SCALE):
            raise FeedbackError(f"Ratings go from 1 to 5; {q.label.lower()} was {raw[:20]!r}.")
        clean[q.id] = int(raw)
    return clean


def fraction_of(ratings: Mapping[str, int]) -> float:
    """The mean rating on the 0-1 evidence scale: 1 -> 0, 3 -> 0.5, 5 -> 1."""
    mean = sum(ratings.values()) / len(ratings)
    return (mean - 1) / 4


def answer(session: DbSession, token: str, ratings: Mapping[str, Any], comment: str, now: datetime) -> FeedbackResponse:
    """Save a stakeholder's answer once and record it as evidence on the module's objectives.

    The link is claimed with a conditional UPDATE in the same flush as the answer, so a
    second submit (a double click, a second tab) finds it used and is refused."""
    item = open_invite(session, token, now)
    clean = check_ratings(ratings)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackError(f"Keep the comment under {MAX_COMMENT_CHARS:,} characters.")
    if not links.claim(session, item, now):
        raise UsedLink()
    response = FeedbackResponse(invite=item, ratings=clean, comment=comment, submitted_at=now)
    session.add(response)
    session.flush()
    fraction, mean = fraction_of(clean), sum(clean.values()) / len(clean)
    replace_evidence(session, item.learner_id, SOURCE, f"feedback:{item.id}",
                     {objective.id: fraction for objective in item.module.objectives}, now,
                     note=f"{RELATIONS[item.relation]} {item.name}: {mean:g} of 5 on average "
                          f"({', '.join(f'{q.label.lower()} {clean[q.id]}' for q in QUESTIONS)})",
                     judge=judge(SOURCE, item.email))
    feedback_answered.send(response, session=session, now=now)
    return response


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: their
    stakeholders' invitations and answers."""
    return [select(fingerprint(FeedbackInvite.id, FeedbackInvite.module_id, FeedbackInvite.name, FeedbackInvite.relation,
                               FeedbackInvite.used_at, FeedbackInvite.revoked_at, FeedbackResponse.id,
                               FeedbackResponse.submitted_at))
            .select_from(FeedbackInvite).outerjoin(FeedbackResponse, FeedbackResponse.invite_id == FeedbackInvite.id)
            .where(FeedbackInvite.learner_id == user_id).scalar_subquery()]
