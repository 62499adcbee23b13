"""Peer review: each submission of an assignment with ``peer_reviews: k`` gets k reviews
from learners of the same cohort. Reviews are handed out when a learner who has submitted
asks for work to review, always from the submissions with the fewest reviewers (oldest
first), so early submitters are reviewed by whoever comes next and nobody waits for the
last few. Flush only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.cohorts.enrolment import Carried, is_learner_of
from lms.coursework.models import Assignment, Submission, SubmissionStatus
from lms.database import DbSession, rowcount
from lms.grading.models import PeerReview, PeerReviewStatus
from lms.grading.services import GradingError, peer_review_completed, read_levels


def _live(session: DbSession, submission_ids: list[int]) -> list[PeerReview]:
    if not submission_ids:
        return []
    return list(session.scalars(select(PeerReview).where(
        PeerReview.submission_id.in_(submission_ids), PeerReview.status != PeerReviewStatus.CANCELLED)))


def reviews_to_do(session: DbSession, assignment: Assignment, reviewer: User, now: datetime) -> list[PeerReview]:
    """The reviewer's reviews for this assignment, topped up to k when work is available."""
    own = session.scalar(select(Submission).where(Submission.assignment_id == assignment.id, Submission.user_id == reviewer.id))
    if assignment.peer_reviews == 0 or own is None or not own.versions:
        return []
    pool = list(session.scalars(select(Submission).where(
        Submission.assignment_id == assignment.id, Submission.cohort_id == own.cohort_id,
        Submission.user_id != reviewer.id, Submission.status != SubmissionStatus.DRAFT)
        .options(selectinload(Submission.versions), selectinload(Submission.assignment).selectinload(Assignment.rubric))
        .order_by(Submission.submitted_at, Submission.id)))
    live = _live(session, [s.id for s in pool])
    mine = [r for r in live if r.reviewer_id == reviewer.id]
    load = Counter(r.submission_id for r in live)
    reviewed = {r.submission_id for r in mine}
    candidates = sorted((s for s in pool if s.id not in reviewed and load[s.id] < assignment.peer_reviews),
                        key=lambda s: (load[s.id], s.submitted_at, s.id))
    for submission in candidates[: max(0, assignment.peer_reviews - len(mine))]:
        latest = submission.latest
        assert latest is not None  # the pool holds handed-in work only, which has a version
        review = PeerReview(submission_id=submission.id, reviewer_id=reviewer.id, version_id=latest.id,
                            rubric_version_id=assignment.rubric.current.id, assigned_at=now)
        session.add(review)
        mine.append(review)
    session.flush()
    return mine


@dataclass(frozen=True)
class Asked:
    """What asking for work to review did: whether the reviewer's own work is handed in, how
    many reviews they had for the assignment before and after (done ones included), out of
    the ``wanted`` the assignment asks of each learner."""

    handed_in: bool
    before: int
    after: int
    wanted: int
    others: int = 0  # classmates' pieces of work handed in (the cohort's, but the reviewer's own)

    @property
    def message(self) -> tuple[str, str]:
        """What the learner is told, with its flash category."""
        if not self.handed_in:
            return ("Hand in your own work first: you review classmates' work once yours is in.", "error")
        new = self.after - self.before
        if new > 0:
            return (f"{new} piece{'s' * (new != 1)} of work to review.", "success")
        if self.after >= self.wanted:
            return (f"You already have your {self.wanted} review{'s' * (self.wanted != 1)} for this assignment.", "info")
        if self.others == 0:
            return ("No classmate has handed in this work yet: come back once some have.", "info")
        return ("No more work to review right now: every piece classmates have handed in already has its "
                f"{self.wanted} reviewer{'s' * (self.wanted != 1)}. Come back when more classmates hand theirs in.", "info")


def _count_mine(session: DbSession, assignment: Assignment, reviewer: User) -> int:
    return session.scalar(select(func.count()).select_from(PeerReview).join(PeerReview.submission).where(
        PeerReview.reviewer_id == reviewer.id, PeerReview.status != PeerReviewStatus.CANCELLED,
        Submission.assignment_id == assignment.id)) or 0


def ask_for_reviews(session: DbSession, assignment: Assignment, reviewer: User, now: datetime) -> Asked:
    """The reviewer asks for work to review: ``reviews_to_do`` tops theirs up, counted
    before and after so that the learner is told what it gave them (and why nothing)."""
    own = session.scalar(select(Submission).where(Submission.assignment_id == assignment.id,
                                                  Submission.user_id == reviewer.id))
    before = _count_mine(session, assignment, reviewer)
    reviews_to_do(session, assignment, reviewer, now)
    others = session.scalar(select(func.count()).select_from(Submission).where(
        Submission.assignment_id == assignment.id, Submission.cohort_id == own.cohort_id, Submission.user_id != reviewer.id,
        Submission.status != SubmissionStatus.DRAFT)) if own is not None else 0
    return Asked(handed_in=own is not None and bool(own.versions), before=before,
                 after=_count_mine(session, assignment, reviewer), wanted=assignment.peer_reviews, others=others or 0)


MAX_REVIEW_COMMENT = 10_000  # characters of a peer review's comment


def complete_review(session: DbSession, review: PeerReview, levels: Mapping[str, str | None], comment: str, now: datetime) -> None:
    if review.status != PeerReviewStatus.ASSIGNED:
        raise GradingError("This review is already done or was reassigned.")
    chosen, score, missing = read_levels(review.rubric_version.criteria, levels)
    if missing:
        raise GradingError(f"{missing[0]}: choose one of its levels.")
    selections = {cid: {"level": lid} for cid, lid in chosen.items()}
    if not comment.strip():
        raise GradingError("Write a comment: what works, and one thing to improve.")
    if len(comment.strip()) > MAX_REVIEW_COMMENT:
        raise GradingError(f"Keep the comment under {MAX_REVIEW_COMMENT:,} characters: a classmate reads it beside the work.")
    review.selections, review.comment, review.score = selections, comment.strip(), score
    review.status, review.completed_at = PeerReviewStatus.DONE, now
    session.flush()
    peer_review_completed.send(review, session=session, now=now)


def reassign(session: DbSession, review: PeerReview, reviewer: User, now: datetime) -> PeerReview:
    """An instructor moves an unfinished review to another learner of the cohort."""
    if review.status != PeerReviewStatus.ASSIGNED:
        raise GradingError("Only an unfinished review can be reassigned.")
    submission = review.submission
    if reviewer.id == submission.user_id:
        raise GradingError("A learner cannot review their own work.")
    if submission.cohort_id is None or not is_learner_of(session, submission.cohort_id, reviewer.id):
        # not named: the id could be anybody's, of any organization
        raise GradingError("That person is not a learner of this cohort.")
    theirs = session.scalar(select(Submission).where(Submission.assignment_id == submission.assignment_id,
                                                     Submission.user_id == reviewer.id))
    if theirs is None or theirs.cohort_id != submission.cohort_id:
        raise GradingError(f"{reviewer.name} has no submission for this assignment in this cohort.")
    if any(r.reviewer_id == reviewer.id for r in _live(session, [submission.id])):
        raise GradingError(f"{reviewer.name} already reviews this work.")
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
