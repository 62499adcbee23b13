"""Level certificates and their Open Badges 2.0 documents (hosted verification).

A level is complete when ``lms.progress.completion`` says so: every module part done, the
exam passed, the portfolio accepted. Certificates are issued when an exam attempt is
scored or a grade released (the signals at the bottom), and when the learner asks for a
check (a lesson read may be the last piece). Services take a session and plain values and
only flush.

The Open Badges documents are built here from plain values, the site's absolute base URL
included; the views serve them at the URLs ``Urls`` names."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from blinker import Namespace
from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager, selectinload

from lms.accounts.models import User
from lms.assessment.models import Attempt, Quiz, percent_of
from lms.catalog.models import Level
from lms.certificates.models import Certificate, CredentialRevocation
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import Assignment, AssignmentKind, Submission, SubmissionStatus
from lms.coursework.sharing import groups_of, learner_ids, work_by_learner
from lms.database import DbSession, utcnow
from lms.grading.models import Grade, GradeStatus
from lms.progress.completion import STAGE_COMPLETE, LevelStatus, learner_progress
from lms.progress.models import ItemKind, ProgressLevel
from lms.web.paging import Paging, paging

OB_CONTEXT = "https://w3id.org/openbadges/v2"
CODE_BYTES = 16  # secrets.token_urlsafe(16): 22 URL-safe characters, 128 random bits
MAX_CODE_LENGTH = 40

events = Namespace()
# Sent with ``session=`` and ``now=`` for each certificate issued (the sender); features
# above (notifications) listen to it.
certificate_issued = events.signal("certificate-issued")


# --------------------------------------------------------------------------- issuing


def issue_due(session: DbSession, cohort: Cohort, user_id: int, now: datetime) -> list[Certificate]:
    """Certificates for every level the learner has completed and holds none for yet, each
    naming the learner as they are named now (``Certificate.holder_name``). Calling it
    again issues nothing more."""
    held = set(session.scalars(select(Certificate.level_id).where(Certificate.user_id == user_id)))
    if not passed_an_exam(session, user_id, held) or not has_accepted_portfolio(session, user_id):
        return []  # no level can be complete without both
    progress = learner_progress(session, cohort, user_id, now)
    due = [status.level for status in progress.levels if status.complete and status.level.id not in held]
    learner = session.get(User, user_id) if due else None
    if learner is None:
        return []
    issued = []
    for level in due:
        # The name the learner has now is the certificate's for good: a later rename leaves it as issued.
        certificate = Certificate(user_id=user_id, level=level, code=secrets.token_urlsafe(CODE_BYTES), issued_at=now,
                                  holder_name=learner.name)
        try:
            with session.begin_nested():  # a savepoint: losing a race must not undo the caller's work
                session.add(certificate)
        except IntegrityError:
            continue  # a concurrent request (a grade release, the check button) issued it first
        issued.append(certificate)
        certificate_issued.send(certificate, session=session, now=now)
    return issued


def learners_due(session: DbSession, cohort_id: int) -> list[int]:
    """The cohort's current learners who may be due a certificate: a level complete in their
    kept schedule state (``lms.progress.state``: the stage it keeps for each level, worked
    out by the same definition as ``issue_due``'s) with no certificate for it. One
    statement whatever the cohort's size, so the periodic check asks ``issue_due`` for
    these learners only, not for every learner of every cohort (two statements each)."""
    held = exists().where(Certificate.user_id == ProgressLevel.user_id, Certificate.level_id == ProgressLevel.level_id)
    return list(session.scalars(
        select(ProgressLevel.user_id).distinct()
        .join(Enrolment, and_(Enrolment.user_id == ProgressLevel.user_id, Enrolment.cohort_id == ProgressLevel.cohort_id))
        .where(ProgressLevel.cohort_id == cohort_id, ProgressLevel.stage >= STAGE_COMPLETE, Enrolment.active, ~held)
        .order_by(ProgressLevel.user_id)))


def issue_due_in(session: DbSession, cohort: Cohort, now: datetime) -> int:
    """Issue every certificate due to ``cohort``'s learners (``learners_due``, then
    ``issue_due`` for each): what the periodic check does for a cohort, and the demo for
    its cohorts. How many were issued; calling it again issues nothing more."""
    return sum(len(issue_due(session, cohort, user_id, now)) for user_id in learners_due(session, cohort.id))


def passed_an_exam(session: DbSession, user_id: int, held: set[int]) -> bool:
    """Whether the learner passed an exam of a level they hold no certificate for, in one
    statement: a level is complete only once its exam is passed (``LevelStatus.complete``),
    so without one no certificate can be due, and the learner's whole progress (what
    ``issue_due`` reads then) need not be worked out (nor, after it, without an accepted
    portfolio: ``has_accepted_portfolio``). Most passing quizzes and released
    grades come months before any level's exam. Passed as progress counts it: the attempt
    finished, nothing left to grade by hand, at or above the quiz's passing score (any
    quiz of a level, retired ones too: a necessary condition may let more through, never
    fewer)."""
    query = (select(Attempt.score, Attempt.max_score, Quiz.passing_score).join(Quiz, Quiz.id == Attempt.quiz_id)
             .where(Attempt.user_id == user_id, Attempt.submitted_at.is_not(None), Attempt.pending_manual.is_(False),
                    Quiz.level_id.is_not(None)))
    if held:
        query = query.where(Quiz.level_id.not_in(sorted(held)))
    for score, max_score, passing in session.execute(query):
        percent = percent_of(score, max_score)
        if percent is not None and percent >= passing:
            return True
    return False


def has_accepted_portfolio(session: DbSession, user_id: int) -> bool:
    """Whether any portfolio of the learner's was accepted (its grade released), their own or
    their team's (``work_by_learner``): the other thing a complete level needs besides its
    exam, checked once the exam is passed, since a learner who passed it may wait weeks for
    their portfolio's review. Any level's portfolio: necessary, as ``passed_an_exam``."""
    portfolios = select(Assignment.id).where(Assignment.kind == AssignmentKind.PORTFOLIO)
    return bool(work_by_learner(session, [user_id], Submission.status == SubmissionStatus.RELEASED,
                                Submission.assignment_id.in_(portfolios)))


def certificates_of(session: DbSession, user_id: int) -> list[Certificate]:
    """The learner's certificates in program order."""
    return list(session.scalars(
        select(Certificate).join(Certificate.level).where(Certificate.user_id == user_id)
        .order_by(Level.position)
        .options(selectinload(Certificate.level).selectinload(Level.program))))


CERTIFIED_PER_PAGE = 50


@dataclass(frozen=True)
class Certified:
    """A certificate held by one of a cohort's learners, and its revocation if it was revoked."""

    certificate: Certificate
    revocation: CredentialRevocation | None


def held_in_cohort(cohort_id: int) -> ColumnElement[bool]:
    """The one definition of a cohort's certificates, which its organization admins' list
    (``certified_in``) and the API's (``GET /api/v1/cohorts/<id>/certificates``) both count:
    every certificate, revoked ones included (shown as revoked), held by a learner whose
    last enrolment is in the cohort: its current learners and its former ones (their program
    over, or they left), not those who moved on to another cohort (that cohort counts them).
    The API counted current learners only, the list anyone ever enrolled: a learner who
    finished and left was on one and not the other, one who moved on in both cohorts'."""
    later = aliased(Enrolment)
    last_here = (select(Enrolment.user_id)
                 .where(Enrolment.cohort_id == cohort_id,
                        ~exists().where(later.user_id == Enrolment.user_id, later.id > Enrolment.id)))
    return Certificate.user_id.in_(last_here)


def certified_in(session: DbSession, cohort_id: int, page: int | None) -> tuple[list[Certified], Paging]:
    """The certificates held by the cohort's learners, now or before (``held_in_cohort``),
    by holder's name then level, a page at a time: three statements, whatever the number
    of learners (the count, the page with its levels, their revocations)."""
    held = held_in_cohort(cohort_id)
    at = paging(page, CERTIFIED_PER_PAGE, session.scalar(select(func.count()).select_from(Certificate).where(held)) or 0)
    shown = list(session.scalars(
        select(Certificate).join(Certificate.level).where(held)
        .order_by(Certificate.holder_name, Level.position, Certificate.id)
        .offset(at.first).limit(at.per_page).options(contains_eager(Certificate.level))))
    revoked = revocations(session, [c.id for c in shown])
    return [Certified(c, revoked.get(c.id)) for c in shown], at


def by_code(session: DbSession, code: str) -> Certificate | None:
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    return session.scalar(select(Certificate).where(Certificate.code == code)
                          .options(selectinload(Certificate.user), selectinload(Certificate.level).selectinload(Level.program)))


def revocation_of(session: DbSession, certificate: Certificate) -> CredentialRevocation | None:
    """The certificate's revocation, if it was revoked."""
    return session.scalar(select(CredentialRevocation).where(CredentialRevocation.certificate_id == certificate.id))


def revocations(session: DbSession, certificate_ids: list[int]) -> dict[int, CredentialRevocation]:
    """The revocations of these certificates, by certificate id (one statement)."""
    if not certificate_ids:
        return {}
    return {r.certificate_id: r for r in session.scalars(
        select(CredentialRevocation).where(CredentialRevocation.certificate_id.in_(certificate_ids)))}


def badge_level(session: DbSession, level_key: str) -> Level | None:
    """The level a BadgeClass describes. Retired levels still answer: badges issued for
    them must stay verifiable."""
    return session.scalar(select(Level).where(Level.key == level_key).options(selectinload(Level.program)))


def _fraction(done_total: tuple[int, int], noun: str) -> str | None:
    done, total = done_total
    return f"{noun} {done} of {total}" if done < total else None


# A module quiz closed without a pass opens again for a learner through an extension of its
# phase (``quiz_window``); a level exam has no phase to extend. The certificate page says so
# rather than "pass it".
REOPEN = "ask your instructor for an extension of its month to take it"
EXAM_CLOSED = "it cannot be taken any more, so talk to your instructor"


def missing(status: LevelStatus, today: date) -> list[str]:
    """What still stands between the learner and the level's certificate, in plain words;
    a quiz or exam whose window closed (``today``, in the cohort's zone) without a pass is
    named as closed, with what the learner can still do about it."""
    gaps = []
    for part in status.parts:
        if not part.done:
            counts = [c for c in (_fraction(part.lessons, "lessons read"), _fraction(part.quizzes, "quizzes passed"),
                                  _fraction(part.assignments, "assignments accepted")) if c]
            closed = [i for i in part.items if i.kind == ItemKind.QUIZ and not i.done and i.closed(today)]
            if closed:
                counts.append(f"closed without a pass: {', '.join(i.title for i in closed)} ({REOPEN})")
            gaps.append(f"{part.module.title}: {', '.join(counts)}")
    if status.exam is None:
        gaps.append("The level exam is not published yet.")
    elif not status.exam.done and status.exam.closed(today):
        gaps.append(f"The {status.exam.title} closed on {status.exam.due_on:%d %b %Y} without a pass"
                    + (f" ({status.exam.detail})" if status.exam.detail else "") + f": {EXAM_CLOSED}.")
    elif not status.exam.done:
        gaps.append(f"Pass the {status.exam.title}" + (f": {status.exam.detail}" if status.exam.detail else "") + ".")
    if status.portfolio is None:
        gaps.append("The level portfolio review is not published yet.")
    elif not status.portfolio.done:
        gaps.append("Have your level portfolio accepted" + (f" (now: {status.portfolio.detail})" if status.portfolio.detail else "") + ".")
    return gaps


# --------------------------------------------------------------------------- Open Badges 2.0


@dataclass(frozen=True)
class Urls:
    """Where each public document lives under the site's absolute base URL (no trailing slash)."""

    base: str

    @classmethod
    def at(cls, base_url: str) -> Urls:
        return cls(base_url.rstrip("/"))

    def certificate(self, code: str) -> str:
        return f"{self.base}/certificates/{code}"

    def assertion(self, code: str) -> str:
        return f"{self.base}/badges/assertions/{code}.json"

    def badge(self, level_key: str) -> str:
        return f"{self.base}/badges/{level_key}.json"

    def image(self, level_key: str) -> str:
        return f"{self.base}/badges/{level_key}.svg"

    def issuer(self) -> str:
        return f"{self.base}/badges/issuer.json"

    def criteria(self, level_key: str) -> str:
        return f"{self.base}/levels/{level_key}"  # the level's public page in the catalog

    def home(self) -> str:
        return f"{self.base}/"


def recipient_salt(code: str, secret: str) -> str:
    """A salt that stays the same for a certificate and cannot be guessed without the app's secret."""
    return hmac.new(secret.encode(), f"open-badges-recipient:{code}".encode(), hashlib.sha256).hexdigest()[:32]


def identity_hash(email: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((email + salt).encode()).hexdigest()


def timestamp(moment: datetime) -> str:
    """ISO 8601 with the UTC offset, as Open Badges 2.0 requires."""
    return moment.replace(microsecond=0).isoformat()


def assertion(certificate: Certificate, base_url: str, secret: str,
              revocation: CredentialRevocation | None = None) -> dict[str, Any]:
    """The hosted Assertion: the recipient's e-mail address is salted and hashed. A revoked
    certificate's says so (``revoked: true`` and the ``revocationReason``), as Open Badges
    2.0 has a hosted assertion tell verifiers and backpacks."""
    urls = Urls.at(base_url)
    salt = recipient_salt(certificate.code, secret)
    revoked = {} if revocation is None else {"revoked": True, "revocationReason": revocation.reason}
    return {
        "@context": OB_CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(certificate.code),
        "recipient": {"type": "email", "hashed": True, "salt": salt, "identity": identity_hash(certificate.user.email, salt)},
        "badge": urls.badge(certificate.level.key),
        "verification": {"type": "hosted"},
        "issuedOn": timestamp(certificate.issued_at),
        "evidence": urls.certificate(certificate.code),
        **revoked,
    }


def badge_name(level: Level) -> str:
    return f"{level.title} level · {level.program.title}"


def criteria_narrative(level: Level) -> str:
    return (f"Complete the {level.title} level (months {level.first_month} to {level.last_month}) of the "
            f"{level.program.title} program: read every lesson, pass every module quiz and have every assignment "
            f"of the level accepted; pass the {level.title} level exam; and have the level portfolio accepted "
            "by an instructor.")


def badge_class(level: Level, base_url: str) -> dict[str, Any]:
    urls = Urls.at(base_url)
    return {
        "@context": OB_CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge(level.key),
        "name": badge_name(level),
        "description": " ".join(level.summary.split()),
        "image": urls.image(level.key),
        "criteria": {"id": urls.criteria(level.key), "narrative": criteria_narrative(level)},
        "issuer": urls.issuer(),
        "tags": [level.program.title, f"{level.title} level"],
    }


def issuer_profile(base_url: str, name: str, email: str) -> dict[str, Any]:
    urls = Urls.at(base_url)
    return {
        "@context": OB_CONTEXT,
        "type": "Issuer",
        "id": urls.issuer(),
        "name": name,
        "url": urls.home(),
        "email": email,
    }


# --------------------------------------------------------------------------- automatic issuing


def _cohort_of(session: DbSession, user_id: int, cohort_id: int | None) -> Cohort | None:
    """The learner's current cohort, else the one the work was done in."""
    enrolment = active_enrolment(session, user_id)
    if enrolment is not None:
        return enrolment.cohort
    return session.get(Cohort, cohort_id) if cohort_id is not None else None


def on_attempt_scored(attempt: Attempt, session: DbSession) -> None:
    percent = attempt.percent
    if percent is None or percent < attempt.quiz.passing_score:
        return  # a failed attempt completes nothing
    cohort = _cohort_of(session, attempt.user_id, attempt.cohort_id)
    if cohort is not None:  # issued when the attempt was scored (its submission, or its last essay's grade)
        issue_due(session, cohort, attempt.user_id, attempt.updated_at or attempt.submitted_at or utcnow())


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    if grade.status != GradeStatus.RELEASED:
        return
    submission = grade.submission
    group = groups_of(session, [submission.id]).get(submission.id)
    for user_id in learner_ids(submission, group):  # a team's grade completes every member's work
        cohort = _cohort_of(session, user_id, submission.cohort_id)
        if cohort is not None:
            issue_due(session, cohort, user_id, now)
