"""Peer review: each submission of an assignment with ``peer_reviews: k`` gets k reviews
from learners of the same cohort. Reviews are handed out when a learner who has submitted
asks for work to review, always from the submissions with the fewest live reviewers (oldest
first), so early submitters are reviewed by whoever comes next and nobody waits for the
last few. A learner who hands in after every classmate's work has its k reviewers still
gets their k: the pieces with the fewest reviews (one past k before any gets two past).
Their own work then waits for a reviewer: a classmate whose k are done may review one
more, optionally (``review_one_more``, only work short of its k), and the instructor sees
the work short of reviewers and gives it one (``assign``).

Races: every hand-out first takes the cohort's row (``hold_pool``), so two asks at once
are made one after the other and the second reads what the first gave; and a reviewer has
at most one live review of a piece of work (a unique index over the reviews not
cancelled). Flush only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import OperationalError

from lms.accounts.models import User
from lms.cohorts.enrolment import Carried, is_learner_of
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import Assignment, Submission, SubmissionStatus, SubmissionVersion
from lms.database import DbSession, folded_name, rowcount
from lms.grading.models import PeerReview, PeerReviewKind, PeerReviewStatus
from lms.grading.services import GradingBusy, GradingError, one_line_break, peer_review_completed, read_levels

LIVE = PeerReview.status != PeerReviewStatus.CANCELLED


def _s(n: int) -> str:
    return "s" * (n != 1)


def _live(session: DbSession, submission_ids: list[int]) -> list[PeerReview]:
    if not submission_ids:
        return []
    # As the database has them now (a hand-out read after ``hold_pool`` counts what the one before did).
    return list(session.scalars(select(PeerReview).where(PeerReview.submission_id.in_(submission_ids), LIVE)
                                .order_by(PeerReview.id).execution_options(populate_existing=True)))


def hold_pool(session: DbSession, cohort_id: int) -> None:
    """Take the cohort's row for this unit of work (a write that changes nothing) before
    the pool of work is read: hand-outs of a cohort's work (asks, extras, an instructor's
    assignment or reassignment) are made one after the other, each reading the reviews the
    one before gave, so none gives a reviewer the same work twice or a piece more reviewers
    than was decided. A row lock on PostgreSQL, the write lock on SQLite. The write goes on
    the session's connection, past the ORM's statement events: it changes nothing, so
    nothing (the kept schedule state) has anything to note."""
    try:
        session.connection().execute(update(Cohort).where(Cohort.id == cohort_id).values(revision=Cohort.revision))
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
        raise GradingBusy("Nothing was changed: the site was busy with other work for too long. Try again.") from None


@dataclass(frozen=True)
class Piece:
    """A classmate's handed-in work in the pool, with how many live reviews it has."""

    submission_id: int
    user_id: int
    submitted_at: datetime | None
    live: int


def _pieces(session: DbSession, assignment_id: int, cohort_id: int) -> list[Piece]:
    """The cohort's handed-in work of the assignment with its live reviews, fewest first,
    then oldest: the order work is handed out in. One statement."""
    counted = (select(Submission.id, Submission.user_id, Submission.submitted_at, func.count(PeerReview.id))
               .outerjoin(PeerReview, (PeerReview.submission_id == Submission.id) & LIVE)
               .where(Submission.assignment_id == assignment_id, Submission.cohort_id == cohort_id,
                      Submission.status != SubmissionStatus.DRAFT)
               .group_by(Submission.id, Submission.user_id, Submission.submitted_at))
    pieces = [Piece(sid, uid, at, live) for sid, uid, at, live in session.execute(counted)]
    return sorted(pieces, key=lambda p: (p.live, p.submitted_at is None, p.submitted_at or datetime.min, p.submission_id))


def _held(session: DbSession, assignment_id: int, reviewer_id: int) -> list[tuple[int, PeerReviewKind, PeerReviewStatus]]:
    """The reviewer's live reviews of the assignment: (work, kind, status), oldest first."""
    return [(sid, kind, status) for sid, kind, status in session.execute(
        select(PeerReview.submission_id, PeerReview.kind, PeerReview.status).join(PeerReview.submission)
        .where(PeerReview.reviewer_id == reviewer_id, LIVE, Submission.assignment_id == assignment_id)
        .order_by(PeerReview.id))]


def _own(session: DbSession, assignment: Assignment, user_id: int) -> Submission | None:
    """The learner's work if they have handed it in (a version) and it is filed under a cohort."""
    own = session.scalar(select(Submission).where(Submission.assignment_id == assignment.id, Submission.user_id == user_id))
    return own if own is not None and own.versions and own.cohort_id is not None else None


def _give(session: DbSession, assignment: Assignment, reviewer_id: int, submission_ids: Sequence[int],
          kind: PeerReviewKind, now: datetime) -> list[PeerReview]:
    """New reviews of these pieces of work (their latest version), in this order."""
    if not submission_ids:
        return []
    latest = dict(session.execute(select(SubmissionVersion.submission_id, func.max(SubmissionVersion.id))
                                  .where(SubmissionVersion.submission_id.in_(submission_ids))
                                  .group_by(SubmissionVersion.submission_id)).all())
    rubric_version_id = assignment.rubric.current.id
    made = [PeerReview(submission_id=sid, reviewer_id=reviewer_id, version_id=latest[sid], kind=kind,
                       rubric_version_id=rubric_version_id, assigned_at=now) for sid in submission_ids]
    session.add_all(made)
    session.flush()
    return made


@dataclass(frozen=True)
class Asked:
    """What asking for work to review did: whether the reviewer's own work is handed in,
    how many required reviews they had for the assignment before and after (done ones
    included), out of the ``wanted`` the assignment asks of each learner; how many of the
    new ones went to work that already had its ``wanted`` reviewers (``beyond``: the asker
    handed in after classmates had reviewed each other), and how many pieces of work
    classmates have handed in (``others``)."""

    handed_in: bool
    before: int
    after: int
    wanted: int
    beyond: int = 0
    others: int = 0

    @property
    def message(self) -> tuple[str, str]:
        """What the learner is told, with its flash category."""
        k = self.wanted
        if not self.handed_in:
            return ("Hand in your own work first: you review classmates' work once yours is in.", "error")
        new = self.after - self.before
        if new > 0:
            given = f"{new} piece{_s(new)} of work to review."
            if self.beyond == new:
                return (f"{given} Every classmate's work already had its {k} reviewer{_s(k)}, so you review the work with "
                        f"the fewest reviews: {'they count' if new != 1 else 'it counts'} as yours all the same.", "success")
            if self.beyond:
                return (f"{given} {self.beyond} of them already had {k} reviewer{_s(k)}, as no other work was waiting: "
                        "it counts as yours all the same.", "success")
            return (given, "success")
        if self.after >= k:
            return (f"You already have your {k} review{_s(k)} for this assignment.", "info")
        if not self.others:
            return ("No more work to review right now: no classmate has handed in theirs yet. "
                    "Come back when they do.", "info")
        return ("No more work to review right now: you already review every piece of work classmates have handed in. "
                "Come back when more hand theirs in.", "info")


def _top_up(session: DbSession, assignment: Assignment, reviewer: User, now: datetime) -> Asked:
    k = assignment.peer_reviews
    own = _own(session, assignment, reviewer.id)
    if k == 0 or own is None or own.cohort_id is None:
        return Asked(handed_in=own is not None, before=0, after=0, wanted=k)
    hold_pool(session, own.cohort_id)
    held = _held(session, assignment.id, reviewer.id)
    before = sum(1 for _, kind, _ in held if kind == PeerReviewKind.REQUIRED)
    taken = {sid for sid, _, _ in held}
    pool = [p for p in _pieces(session, assignment.id, own.cohort_id) if p.user_id != reviewer.id]
    chosen = [p for p in pool if p.submission_id not in taken][: max(0, k - before)]
    _give(session, assignment, reviewer.id, [p.submission_id for p in chosen], PeerReviewKind.REQUIRED, now)
    return Asked(handed_in=True, before=before, after=before + len(chosen), wanted=k,
                 beyond=sum(1 for p in chosen if p.live >= k), others=len(pool))


def reviews_to_do(session: DbSession, assignment: Assignment, reviewer: User, now: datetime) -> list[PeerReview]:
    """The reviewer's required reviews for this assignment, topped up to k when classmates
    have handed in work they do not review yet: the work with the fewest live reviews
    first, so work short of its k first, and past k (one past before any gets two) when
    every piece has its k already."""
    _top_up(session, assignment, reviewer, now)
    return list(session.scalars(select(PeerReview).join(PeerReview.submission).where(
        PeerReview.reviewer_id == reviewer.id, LIVE, PeerReview.kind == PeerReviewKind.REQUIRED,
        Submission.assignment_id == assignment.id).order_by(PeerReview.id).execution_options(populate_existing=True)))


def ask_for_reviews(session: DbSession, assignment: Assignment, reviewer: User, now: datetime) -> Asked:
    """The reviewer asks for work to review: ``reviews_to_do`` tops theirs up, counted
    before and after so that the learner is told what it gave them (and why nothing)."""
    return _top_up(session, assignment, reviewer, now)


class NothingWaits(GradingError):
    """An extra review was offered, but no classmate's work is short of reviewers (any more)."""


def review_one_more(session: DbSession, assignment: Assignment, reviewer: User, now: datetime) -> PeerReview:
    """A learner whose k reviews are done reviews one more piece of work, optionally: the
    piece short of its k reviewers with the fewest (the oldest first), never their own nor
    one they review already; one extra at a time. Refused, nothing made, when there is none
    (``NothingWaits``) or their own reviews are not done."""
    k = assignment.peer_reviews
    if k == 0:
        raise GradingError("This assignment has no peer review.")
    own = _own(session, assignment, reviewer.id)
    if own is None or own.cohort_id is None:
        raise GradingError("Hand in your own work first: you review classmates' work once yours is in.")
    hold_pool(session, own.cohort_id)
    held = _held(session, assignment.id, reviewer.id)
    required = [status for _, kind, status in held if kind == PeerReviewKind.REQUIRED]
    if len(required) < k or any(status != PeerReviewStatus.DONE for status in required):
        raise GradingError(f"Do your {k} review{_s(k)} first: an extra one is for once yours are done.")
    if any(kind == PeerReviewKind.EXTRA and status != PeerReviewStatus.DONE for _, kind, status in held):
        raise GradingError("Finish the extra review you have first: you review one more at a time.")
    taken = {sid for sid, _, _ in held}
    short = [p for p in _pieces(session, assignment.id, own.cohort_id)
             if p.user_id != reviewer.id and p.submission_id not in taken and p.live < k]
    if not short:
        raise NothingWaits(f"Every classmate's work has its {k} reviewer{_s(k)} now: no extra review is needed. "
                           "Thank you for offering.")
    return _give(session, assignment, reviewer.id, [short[0].submission_id], PeerReviewKind.EXTRA, now)[0]


def waiting_for_reviewers(session: DbSession, assignment: Assignment, reviewer_id: int) -> int:
    """How many pieces of classmates' work are short of their k reviewers and not reviewed
    by this learner already: what an extra review could go to. Two statements."""
    own = _own(session, assignment, reviewer_id)
    if assignment.peer_reviews == 0 or own is None or own.cohort_id is None:
        return 0
    taken = {sid for sid, _, _ in _held(session, assignment.id, reviewer_id)}
    return sum(1 for p in _pieces(session, assignment.id, own.cohort_id)
               if p.user_id != reviewer_id and p.submission_id not in taken and p.live < assignment.peer_reviews)


def _may_review(session: DbSession, submission: Submission, reviewer: User) -> None:
    """What an instructor's choice of reviewer must be: a current learner of the work's
    cohort who has handed in the same assignment there, not its author, not one who
    reviews it already."""
    if reviewer.id == submission.user_id:
        raise GradingError("A learner cannot review their own work.")
    if submission.cohort_id is None or not is_learner_of(session, submission.cohort_id, reviewer.id):
        # not named: the id could be anybody's, of any organization
        raise GradingError("That person is not a learner of this cohort.")
    theirs = session.scalar(select(Submission).where(Submission.assignment_id == submission.assignment_id,
                                                     Submission.user_id == reviewer.id))
    if theirs is None or theirs.cohort_id != submission.cohort_id:
        raise GradingError(f"{reviewer.name} has no submission for this assignment in this cohort.")
    if not theirs.versions:
        raise GradingError(f"{reviewer.name} has not handed in this assignment yet: learners review "
                           "classmates' work once theirs is in.")
    if any(r.reviewer_id == reviewer.id for r in _live(session, [submission.id])):
        raise GradingError(f"{reviewer.name} already reviews this work.")


def assign(session: DbSession, submission: Submission, reviewer: User, now: datetime) -> PeerReview:
    """An instructor gives work short of its k reviewers one more reviewer (``_may_review``):
    a required review for them. Refused once the work has its k (a reviewer given meanwhile
    is counted: ``hold_pool``)."""
    assignment = submission.assignment
    k = assignment.peer_reviews
    if k == 0 or submission.cohort_id is None or not submission.versions:
        raise GradingError("This work is not peer reviewed.")
    hold_pool(session, submission.cohort_id)
    _may_review(session, submission, reviewer)
    live = len(_live(session, [submission.id]))
    if live >= k:
        raise GradingError(f"This work has its {k} reviewer{_s(k)} already: nothing was changed. To replace one who "
                           "has not reviewed it, reassign their review from the work's grading page.")
    return _give(session, assignment, reviewer.id, [submission.id], PeerReviewKind.REQUIRED, now)[0]


@dataclass(frozen=True)
class PieceReviews:
    """A handed-in piece of work on the instructor's peer review page: its author, its live
    reviews, how many reviewers it is short of its k, and who may be given it."""

    submission: Submission
    author: str
    reviews: list[PeerReview]
    short: int
    candidates: list[User]


def cohort_pieces(session: DbSession, assignment: Assignment, cohort: Cohort) -> tuple[list[PieceReviews], dict[int, str]]:
    """The cohort's handed-in work of the assignment, the pieces short of reviewers first
    (then oldest), each with its live reviews and the learners it may be given to
    (``_may_review``); and the names of everyone named. A fixed number of statements."""
    k = assignment.peer_reviews
    submissions = list(session.scalars(select(Submission).where(
        Submission.assignment_id == assignment.id, Submission.cohort_id == cohort.id,
        Submission.status != SubmissionStatus.DRAFT).order_by(Submission.submitted_at, Submission.id)))
    reviews = _live(session, [s.id for s in submissions])
    learners = {u.id: u for u in session.scalars(select(User).join(Enrolment, Enrolment.user_id == User.id).where(
        Enrolment.cohort_id == cohort.id, Enrolment.active).order_by(folded_name(User.name), User.id))}
    others = {r.reviewer_id for r in reviews} | {s.user_id for s in submissions}
    names = {u.id: u.name for u in session.scalars(select(User).where(User.id.in_(others - set(learners))))}
    names.update({uid: u.name for uid, u in learners.items()})
    authors = {s.user_id for s in submissions if s.user_id in learners}
    by_piece: dict[int, list[PeerReview]] = {}
    for r in reviews:
        by_piece.setdefault(r.submission_id, []).append(r)
    rows = []
    for s in submissions:
        mine = by_piece.get(s.id, [])
        short = max(0, k - len(mine))
        busy = {r.reviewer_id for r in mine} | {s.user_id}
        candidates = [u for uid, u in learners.items() if uid in authors and uid not in busy] if short else []
        rows.append(PieceReviews(s, names.get(s.user_id, "a learner who left"), mine, short, candidates))
    rows.sort(key=lambda row: row.short == 0)  # stable: the short ones first, each part oldest first
    return rows, names


MAX_REVIEW_COMMENT = 10_000  # characters of a peer review's comment


def complete_review(session: DbSession, review: PeerReview, levels: Mapping[str, str | None], comment: str, now: datetime) -> None:
    if review.status != PeerReviewStatus.ASSIGNED:
        raise GradingError("This review is already done or was reassigned.")
    chosen, score, missing = read_levels(review.rubric_version.criteria, levels)
    if missing:
        raise GradingError(f"{missing[0]}: choose one of its levels.")
    selections = {cid: {"level": lid} for cid, lid in chosen.items()}
    comment = one_line_break(comment)  # as the form's maxlength counts it
    if not comment.strip():
        raise GradingError("Write a comment: what works, and one thing to improve.")
    if len(comment.strip()) > MAX_REVIEW_COMMENT:
        raise GradingError(f"Keep the comment under {MAX_REVIEW_COMMENT:,} characters: a classmate reads it beside the work.")
    review.selections, review.comment, review.score = selections, comment.strip(), score
    review.status, review.completed_at = PeerReviewStatus.DONE, now
    session.flush()
    peer_review_completed.send(review, session=session, now=now)


def reassign(session: DbSession, review: PeerReview, reviewer: User, now: datetime) -> PeerReview:
    """An instructor moves an unfinished review to another learner of the cohort
    (``_may_review``): a required review for them, as the instructor gave it."""
    if review.status != PeerReviewStatus.ASSIGNED:
        raise GradingError("Only an unfinished review can be reassigned.")
    submission = review.submission
    if submission.cohort_id is not None:
        hold_pool(session, submission.cohort_id)
        session.refresh(review)  # as the hand-out before this one left it
        if review.status != PeerReviewStatus.ASSIGNED:
            raise GradingError("Only an unfinished review can be reassigned.")
    _may_review(session, submission, reviewer)
    review.status = PeerReviewStatus.CANCELLED
    new = PeerReview(submission_id=submission.id, reviewer_id=reviewer.id, version_id=review.version_id,
                     rubric_version_id=review.rubric_version_id, assigned_at=now)
    session.add(new)
    session.flush()
    return new


def reviews_of(session: DbSession, submission: Submission) -> list[PeerReview]:
    return [r for r in _live(session, [submission.id])]


def received(session: DbSession, submission: Submission) -> list[PeerReview]:
    return [r for r in reviews_of(session, submission) if r.status == PeerReviewStatus.DONE]


def cancel_across_move(session: DbSession, user_id: int) -> int:
    """A learner moved to another cohort: the peer reviews not yet done between them and
    their old cohort are cancelled, both those they were given of others' work (which
    stays with the old cohort) and those others were given of their work (which went with
    them), so each piece of work is offered again to reviewers of its own cohort
    (``reviews_to_do`` counts only live reviews). Reviews already done stay as they are:
    feedback on the work and evidence for the reviewer. One statement; how many it cancelled."""
    theirs = select(Submission.id).where(Submission.user_id == user_id)
    done = session.execute(update(PeerReview).where(
        PeerReview.status == PeerReviewStatus.ASSIGNED,
        or_(PeerReview.reviewer_id == user_id, PeerReview.submission_id.in_(theirs)))
        .values(status=PeerReviewStatus.CANCELLED).execution_options(synchronize_session="fetch"))
    return rowcount(done)


def on_learner_moved(user: User, *, session: DbSession, **_: object) -> Carried | None:
    """``learner_moved``'s receiver (``cancel_across_move``)."""
    cancelled = cancel_across_move(session, user.id)
    if not cancelled:
        return None
    return Carried(f"{cancelled} unfinished peer review{'s' * (cancelled != 1)} between them and their old cohort "
                   f"{'were' if cancelled != 1 else 'was'} cancelled, to be offered to others.")
