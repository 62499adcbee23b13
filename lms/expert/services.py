"""Expert evaluation. A learner (for their own handed-in work) or the cohort's staff invite
an outside expert to rate a submission against its rubric, through a single-use link that
needs no account. The expert states their credentials, chooses a level on each criterion
with a comment and writes an overall comment; the rating becomes ``expert`` evidence on the
rubric's objectives. Services take a session and plain values and only flush."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from blinker import Namespace
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.accounts.services import AccountError, hash_token, new_token, normalise_email, tidy_name
from lms.cohorts.roles import inside_cohort
from lms.coursework.models import Submission, SubmissionStatus
from lms.coursework.sharing import Group, groups_of, learner_ids
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession
from lms.expert.models import ExpertEvaluation, ExpertInvite, ExpertInviteStatus
from lms.feedback import links
from lms.grading.services import GradingError, read_levels
from lms.mail.services import queue_mail
from lms.progress.evidence import Outcome, by_id, criteria_ids, rubric_shares
from lms.progress.sources import ExpertSource, judge

events = Namespace()
# Sent with ``session=`` and ``now=`` once an expert's rating is saved (the sender is the
# ExpertEvaluation); features above (notifications) listen to it.
expert_rated = events.signal("expert-rated")

DEFAULT_DAYS_VALID = 14  # the EXPERT_LINK_DAYS setting overrides it
MAX_NAME_CHARS = 200
MAX_NOTE_CHARS = 2000
MAX_CREDENTIAL_CHARS = 200
MAX_QUALIFICATION_CHARS = 1500
MAX_COMMENT_CHARS = 5000
MAX_YEARS = 70
# Invitations a learner (or teammate) may send in a day: each mails their note to an address
# of their choosing, so without a bound the form sent their text to anybody, as often as it
# was posted. The cohort's staff are not bound (they invite for a whole cohort's work).
MAX_LEARNER_INVITES_PER_DAY = 20
LinkFor = Callable[[str], str]


class ExpertError(ValueError):
    """A problem the person can fix, or a link that cannot be used; nothing was changed.
    ``field``: the form field it is about (``"name"``, ``"email"``, ``"note"``), when it is
    about one, for the page to show it there and mark that field invalid."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ link problems
# The shared link states (lms/feedback/links.py, checked in order) with what the lists call
# each and the message the expert reads.


class LinkError(links.LinkProblem, ExpertError):
    status: ClassVar[ExpertInviteStatus | None] = None


class UnknownLink(links.UnknownLinkProblem, LinkError):
    message = "This evaluation link is not valid. Check that you copied the whole address from the email."


class UsedLink(links.UsedLinkProblem, LinkError):
    status = ExpertInviteStatus.RATED
    message = "This evaluation link has already been used. Each link works once; thank you if the rating was yours."


class RevokedLink(links.RevokedLinkProblem, LinkError):
    status = ExpertInviteStatus.REVOKED
    message = "This evaluation request was withdrawn. Nothing more is needed from you."


class ExpiredLink(links.ExpiredLinkProblem, LinkError):
    status = ExpertInviteStatus.EXPIRED
    message = "This evaluation link has expired. If you still want to give a rating, ask the person who sent it for a new one."


LINK_PROBLEMS: tuple[type[LinkError], ...] = (UsedLink, RevokedLink, ExpiredLink)
STATUS_LABELS: dict[ExpertInviteStatus, str] = {
    ExpertInviteStatus.WAITING: "Waiting", ExpertInviteStatus.RATED: "Rated",
    ExpertInviteStatus.EXPIRED: "Expired", ExpertInviteStatus.REVOKED: "Withdrawn"}


def problem_of(invite: ExpertInvite, now: datetime) -> type[LinkError] | None:
    return links.problem_of(LINK_PROBLEMS, invite, now)


def status_of(invite: ExpertInvite, now: datetime) -> ExpertInviteStatus:
    return links.status_of(LINK_PROBLEMS, ExpertInviteStatus.WAITING, invite, now)


# ------------------------------------------------------------------ inviting


def handed_in(submission: Submission) -> bool:
    return submission.latest is not None and submission.status != SubmissionStatus.DRAFT


def _clean_name(raw: str) -> str:
    name = tidy_name(raw)  # a person's name, as accounts keep one: no direction overrides or invisible characters
    if not name:
        raise ExpertError("Give the expert's name." if not raw.strip()
                          else "A name needs at least one letter or digit (invisible characters are not kept).",
                          field="name")
    if len(name) > MAX_NAME_CHARS:
        raise ExpertError(f"Keep the name under {MAX_NAME_CHARS} characters.", field="name")
    return name


def _invite_mail(session: DbSession, item: ExpertInvite, inviter: User, learner: User, link: str, days: int,
                 group: Group | None = None) -> None:
    whose = f"{learner.name}" if group is None else f"the team {group.name} ({group.names})"
    if inviter.id in learner_ids(item.submission, group):
        asker = inviter.name if group is None else f"{inviter.name}, a member of {whose}"
    else:
        asker = f"{inviter.name}, an instructor of {whose}"
    note = f"Their note to you:\n\n{item.note}\n\n" if item.note else ""
    criteria = len(item.rubric_version.criteria)
    queue_mail(
        session, item.email, f"{asker} asks for your expert rating of \"{item.submission.assignment.title}\"",
        f"Hello {item.name},\n\n"
        f"{asker} asks you, as an expert, to rate the work {whose} handed in for "
        f"\"{item.submission.assignment.title}\" in the AI Operations program. You read the work, say briefly "
        f"who you are and why you are qualified, choose a level on each of the {criteria} criteria of its rubric "
        "with a comment, and write an overall comment. You need no account.\n\n"
        f"{note}"
        f"Open this link within {days} days; it works once:\n{link}\n\n"
        f"Your rating and the credentials you state are shown to {whose} and their instructors, and count "
        "toward their assessment. If you were not expecting this message, you can ignore it.\n", one_time=[link])


def invite(session: DbSession, submission: Submission, inviter: User, name: str, email: str, note: str,
           now: datetime, link_for: LinkFor, days_valid: int = DEFAULT_DAYS_VALID) -> tuple[ExpertInvite, str]:
    """Invite an expert to rate the submission's latest version on its rubric's current
    version, and mail the link (``link_for(token)``, an absolute URL built by the caller).
    Returns the invitation and the raw token, which is not kept. Who may invite (the
    learner, or the cohort's staff) is decided by the caller."""
    if not handed_in(submission):
        raise ExpertError("Hand the work in first: an expert rates submitted work.")
    name = _clean_name(name)
    try:
        address = normalise_email(email)
    except AccountError as exc:
        raise ExpertError(str(exc), field="email") from exc
    learner = session.get(User, submission.user_id)
    assert learner is not None  # a submission's learner is never deleted
    group = groups_of(session, [submission.id]).get(submission.id)  # a team's work: every member is its learner
    if address in {learner.email, inviter.email, *(m.email for m in (group.members if group else []))}:
        raise ExpertError("Invite an outside expert: not the learner (nor a teammate), and not yourself.", field="email")
    if inside_cohort(session, address, submission.cohort_id):
        raise ExpertError(f"{address} belongs to the program: a learner of this cohort, or its staff. Invite someone "
                          "from outside it (an expert's rating counts as evidence of the learner's competency).",
                          field="email")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ExpertError(f"Keep the note under {MAX_NOTE_CHARS:,} characters.", field="note")
    if inviter.id in learner_ids(submission, group):
        sent = session.scalar(select(func.count(ExpertInvite.id)).where(
            ExpertInvite.invited_by_id == inviter.id, ExpertInvite.created_at > now - timedelta(days=1))) or 0
        if sent >= MAX_LEARNER_INVITES_PER_DAY:
            raise ExpertError(f"You have sent {MAX_LEARNER_INVITES_PER_DAY} invitations in the last 24 hours, the most "
                              "a day; send this one tomorrow.")
    waiting = session.scalar(select(ExpertInvite.id).where(
        ExpertInvite.submission_id == submission.id, ExpertInvite.email == address, ExpertInvite.used_at.is_(None),
        ExpertInvite.revoked_at.is_(None), ExpertInvite.expires_at > now))
    if waiting is not None:
        raise ExpertError(f"{address} already has a waiting invitation for this work. "
                          "Withdraw it first if you want to send a new link.", field="email")
    latest = submission.latest
    assert latest is not None  # handed_in
    token, digest = new_token()
    item = ExpertInvite(submission=submission, version_id=latest.id, rubric_version=submission.assignment.rubric.current,
                        invited_by_id=inviter.id, name=name, email=address, note=note, token_hash=digest,
                        created_at=now, expires_at=now + timedelta(days=days_valid))
    session.add(item)
    session.flush()
    _invite_mail(session, item, inviter, learner, link_for(token), days_valid, group)
    return item, token


def revoke(session: DbSession, invite: ExpertInvite, now: datetime) -> None:
    """Withdraw a link; a rated one stays rated (its rating remains evidence)."""
    if invite.used_at is not None:
        raise ExpertError(f"{invite.name} has already rated the work; the rating stays on the record.")
    if invite.revoked_at is None:
        invite.revoked_at = now
    session.flush()


def invites_for(session: DbSession, submission_id: int) -> list[ExpertInvite]:
    """Every invitation for a submission, newest first, with inviter and rating: three statements."""
    return list(session.scalars(
        select(ExpertInvite).where(ExpertInvite.submission_id == submission_id)
        .options(selectinload(ExpertInvite.invited_by), selectinload(ExpertInvite.evaluation))
        .order_by(ExpertInvite.created_at.desc(), ExpertInvite.id.desc())))


def evaluations_for(session: DbSession, submission_id: int) -> list[ExpertEvaluation]:
    """The ratings a submission received, newest first, with their invitation and rubric
    version: four statements, however many there are."""
    return list(session.scalars(
        select(ExpertEvaluation).join(ExpertEvaluation.invite).where(ExpertInvite.submission_id == submission_id)
        .options(selectinload(ExpertEvaluation.invite).selectinload(ExpertInvite.rubric_version),
                 selectinload(ExpertEvaluation.invite).selectinload(ExpertInvite.version))
        .order_by(ExpertEvaluation.submitted_at.desc(), ExpertEvaluation.id.desc())))


# ------------------------------------------------------------------ the expert's side


def open_invite(session: DbSession, token: str, now: datetime) -> ExpertInvite:
    """The invitation behind a link, or a ``LinkError`` saying why it cannot be used."""
    item = session.scalar(select(ExpertInvite).where(ExpertInvite.token_hash == hash_token(token))
                          .options(selectinload(ExpertInvite.submission).selectinload(Submission.assignment),
                                   selectinload(ExpertInvite.version), selectinload(ExpertInvite.rubric_version)))
    if item is None:
        raise UnknownLink()
    problem = problem_of(item, now)
    if problem is not None:
        raise problem()
    return item


def shows_key(session: DbSession, item: ExpertInvite) -> bool:
    """Whether the expert's page shows each criterion's grader's key: only when the cohort's
    staff sent the invitation. A learner chooses their own expert and could send the link to
    an address of their own, so a learner's invitation shows the rubric without its key."""
    group = groups_of(session, [item.submission_id]).get(item.submission_id)
    return item.invited_by_id not in learner_ids(item.submission, group)


def check_credentials(role: str, organization: str, years: str | int | None, qualification: str) -> tuple[str, str, int, str]:
    """The expert's stated role, organization, years of experience and why they are qualified."""
    role, organization = " ".join(role.split()), " ".join(organization.split())
    if not role:
        raise ExpertError("State your role (for example, Head of Machine Learning Operations).")
    if not organization:
        raise ExpertError("State the organization you work for, or \"independent\".")
    if max(len(role), len(organization)) > MAX_CREDENTIAL_CHARS:
        raise ExpertError(f"Keep your role and organization under {MAX_CREDENTIAL_CHARS} characters each.")
    raw = str(years if years is not None else "").strip()
    if not (raw.isdecimal() and 0 <= int(raw) <= MAX_YEARS):
        raise ExpertError(f"Give your years of relevant experience as a whole number from 0 to {MAX_YEARS}.")
    qualification = qualification.strip()
    if not qualification:
        raise ExpertError("Say in a sentence or two why you are qualified to judge this work.")
    if len(qualification) > MAX_QUALIFICATION_CHARS:
        raise ExpertError(f"Keep why you are qualified under {MAX_QUALIFICATION_CHARS:,} characters.")
    return role, organization, int(raw), qualification


def expert_outcome(evaluation_id: int, assignment_title: str, expert: str, criteria: Sequence[CriterionSpec],
                   levels: Mapping[str, str | None], ids: Mapping[str, int], email: str | None = None) -> Outcome:
    """An expert's rating: the rubric maths of a grade (per mapped objective, the mean share
    of the best level reached), from the expert source. The expert is known by ``email``:
    their later rating of the learner on an objective replaces their earlier one
    (``lms.progress.sources.judge``)."""
    return Outcome(ExpertSource, f"expert:{evaluation_id}", by_id(rubric_shares(criteria, levels), ids),
                   f"Expert evaluation of {assignment_title} by {expert}",
                   judge=judge(ExpertSource.name, email) if email else None)


def rate(session: DbSession, token: str, credentials: Mapping[str, Any], levels: Mapping[str, str | None],
         comments: Mapping[str, str], comment: str, now: datetime) -> ExpertEvaluation:
    """Save an expert's rating once and record it as evidence on the rubric's objectives.

    ``credentials`` holds role, organization, years and qualification. The link is claimed
    with a conditional UPDATE in the same flush as the rating, so a second submit (a double
    click, a second tab) finds it used and is refused."""
    item = open_invite(session, token, now)
    role, organization, years, qualification = check_credentials(
        str(credentials.get("role") or ""), str(credentials.get("organization") or ""),
        credentials.get("years"), str(credentials.get("qualification") or ""))
    criteria = item.rubric_version.criteria
    try:
        chosen, score, missing = read_levels(criteria, levels)
    except GradingError as exc:
        raise ExpertError(str(exc)) from exc
    if missing:
        raise ExpertError(f"Choose a level on every criterion (missing: {', '.join(missing)}).")
    notes = {c.id: (comments.get(c.id) or "").strip() for c in criteria}
    if any(len(text) > MAX_COMMENT_CHARS for text in notes.values()):
        raise ExpertError(f"Keep each criterion's comment under {MAX_COMMENT_CHARS:,} characters.")
    comment = comment.strip()
    if not comment:
        raise ExpertError("Write an overall comment: what is strong, and what would make the work better.")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ExpertError(f"Keep the overall comment under {MAX_COMMENT_CHARS:,} characters.")
    if not links.claim(session, item, now):
        raise UsedLink()
    evaluation = ExpertEvaluation(
        invite=item, role=role, organization=organization, years=years, qualification=qualification,
        selections={cid: {"level": lid, "comment": notes[cid]} for cid, lid in chosen.items()},
        comment=comment, score=score, max_score=item.rubric_version.max_points, submitted_at=now)
    session.add(evaluation)
    session.flush()
    outcome = expert_outcome(evaluation.id, item.submission.assignment.title, f"{item.name}, {role} at {organization}",
                             criteria, {cid: lid for cid, lid in chosen.items()}, criteria_ids(session, criteria), item.email)
    group = groups_of(session, [item.submission.id]).get(item.submission.id)
    for user_id in learner_ids(item.submission, group):  # a team's work: evidence for every member
        outcome.record(session, user_id, now)
    expert_rated.send(evaluation, session=session, now=now)
    return evaluation
