"""Portfolios. Services take a session and plain values; flush only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.accounts.services import hash_token, new_token
from lms.catalog.models import Level, Phase
from lms.coursework import services as coursework
from lms.coursework.models import Assignment, AssignmentKind, Rubric, Submission, SubmissionStatus, SubmissionVersion
from lms.coursework.sharing import groups_of, work_by_learner
from lms.database import DbSession, insert_unless_there
from lms.grading.models import Grade, GradeStatus
from lms.learning.services import Schedule
from lms.portfolio.models import Portfolio, PortfolioHandIn, PortfolioHandInPiece

MAX_REFLECTION_CHARS = 5000


class PortfolioError(ValueError):
    """A problem the learner can fix; nothing was changed."""


class StalePortfolio(PortfolioError):
    """The portfolio was saved (from another tab or window) after the page saving it was opened."""

    def __init__(self) -> None:
        super().__init__("Your portfolio was saved from another tab or window after you opened this page, and this save "
                         "would have overwritten it: the reflections saved there are shown below to copy from.")


def portfolio_mark(portfolio: Portfolio | None) -> str:
    """What the portfolio page sends back with a save: the work chosen and the reflections
    it showed, as a short digest (``curate`` refuses a save from a page whose portfolio has
    been saved since)."""
    shown = [list(portfolio.artifact_ids or []), dict(portfolio.reflections or {})] if portfolio else [[], {}]
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:24]


def _reviews(level_ids: list[int]) -> Select[Assignment]:
    """The levels' portfolio reviews: the portfolio assignments graded with their rubric."""
    return (select(Assignment).join(Assignment.rubric)
            .where(Assignment.kind == AssignmentKind.PORTFOLIO, Assignment.retired_at.is_(None),
                   Rubric.level_id.in_(level_ids))
            .options(selectinload(Assignment.objectives), selectinload(Assignment.rubric).selectinload(Rubric.versions)))


def review_assignment(session: DbSession, level: Level) -> Assignment | None:
    """The level's portfolio review: the portfolio assignment graded with its rubric."""
    return session.scalar(_reviews([level.id]))


@dataclass(frozen=True)
class LevelLine:
    """One level on the learner's portfolio page: how far their portfolio is, and when its
    review is due in their schedule (None: not enrolled, or the level has no review)."""

    level: Level
    assignment: Assignment | None  # the level's portfolio review
    review: Submission | None      # the portfolio handed in for it
    chosen: int                    # pieces of work chosen so far
    reflected: int                 # the review's objectives with a reflection written
    objectives: int
    dates: coursework.Dates | None

    @property
    def started(self) -> bool:
        return self.review is not None or self.chosen > 0 or self.reflected > 0


def level_lines(session: DbSession, user_id: int, levels: list[Level], plan: Schedule | None) -> list[LevelLine]:
    """Each level's line (``LevelLine``): a fixed number of statements, whatever the number of levels."""
    reviews = {a.rubric.level_id: a for a in session.scalars(_reviews([level.id for level in levels]))}
    portfolios = {p.level_id: p for p in session.scalars(
        select(Portfolio).where(Portfolio.user_id == user_id, Portfolio.level_id.in_([level.id for level in levels])))}
    handed_in = {s.assignment_id: s for s in session.scalars(
        select(Submission).where(Submission.user_id == user_id, Submission.status != SubmissionStatus.DRAFT,
                                 Submission.assignment_id.in_([a.id for a in reviews.values()])))}
    lines = []
    for level in levels:
        assignment, portfolio = reviews.get(level.id), portfolios.get(level.id)
        codes = [o.key for o in assignment.objectives] if assignment else []
        written = portfolio.reflections if portfolio else {}
        review = handed_in.get(assignment.id) if assignment else None
        lines.append(LevelLine(
            level=level, assignment=assignment, review=review,
            chosen=len(portfolio.artifact_ids) if portfolio else 0,
            reflected=sum(1 for code in codes if written.get(code, "").strip()), objectives=len(codes),
            dates=coursework.dates_for(assignment, plan, review) if assignment and plan else None))
    return lines


def eligible_work(session: DbSession, user_id: int, level: Level) -> list[Submission]:
    """The learner's released (graded and accepted) work from this level's months: their own
    and the shared work they are a member of (a team's submission, ``lms.coursework.sharing``)."""
    in_level = (select(Assignment.id).join(Phase, Phase.id == Assignment.phase_id)
                .where(Assignment.kind != AssignmentKind.PORTFOLIO,
                       Phase.month >= level.first_month, Phase.month <= level.last_month))
    work = work_by_learner(
        session, [user_id], Submission.status == SubmissionStatus.RELEASED, Submission.assignment_id.in_(in_level),
        options=(selectinload(Submission.versions), selectinload(Submission.assignment).selectinload(Assignment.module),
                 selectinload(Submission.assignment).selectinload(Assignment.objectives),
                 selectinload(Submission.assignment).selectinload(Assignment.phase)))
    mine = [s for (uid, _aid), s in work.items() if uid == user_id]
    return sorted(mine, key=lambda s: (s.assignment.phase.month if s.assignment.phase else 0, s.assignment.position, s.id))


@dataclass(frozen=True)
class Score:
    """A piece of work's released score for one learner (a team member's own, adjusted, share)."""

    score: float
    max_score: float


def grades_of(session: DbSession, submissions: list[Submission], user_id: int) -> dict[int, Score]:
    """Submission id -> ``user_id``'s released score on it: a fixed number of statements."""
    if not submissions:
        return {}
    grades = list(session.scalars(select(Grade).where(
        Grade.submission_id.in_([s.id for s in submissions]), Grade.status == GradeStatus.RELEASED)))
    groups = groups_of(session, [g.submission_id for g in grades])
    scores = {}
    for g in grades:
        group = groups.get(g.submission_id)
        score = group.score_of(user_id, g.score, g.max_score) if group is not None else g.score
        if score is not None:
            scores[g.submission_id] = Score(score, g.max_score)
    return scores


def portfolio_for(session: DbSession, user_id: int, level: Level, now: datetime, *, create: bool = True) -> Portfolio:
    """The learner's portfolio for ``level``; a blank one is stored only with ``create``
    (a page view reads a blank one without writing it)."""
    query = select(Portfolio).where(Portfolio.user_id == user_id, Portfolio.level_id == level.id)
    portfolio = session.scalar(query)
    if portfolio is not None:
        return portfolio
    if not create:
        return Portfolio(user_id=user_id, level_id=level.id, artifact_ids=[], reflections={}, updated_at=now)
    # two requests storing it at once (a double click) share one
    insert_unless_there(session, Portfolio, {"user_id": user_id, "level_id": level.id, "artifact_ids": [], "reflections": {},
                                             "updated_at": now}, ("user_id", "level_id"))
    return session.scalars(query).one()


def _handed_in_review(session: DbSession, portfolio: Portfolio) -> Submission | None:
    """The portfolio's review submission, whatever its status (one statement), as it is
    now in the database even when this session loaded it earlier."""
    return session.scalar(
        select(Submission).join(Assignment, Assignment.id == Submission.assignment_id).join(Assignment.rubric)
        .where(Submission.user_id == portfolio.user_id, Assignment.kind == AssignmentKind.PORTFOLIO,
               Assignment.retired_at.is_(None), Rubric.level_id == portfolio.level_id)
        .execution_options(populate_existing=True))


def _take(session: DbSession, portfolio: Portfolio) -> None:
    """Take the portfolio's row for this unit of work (a write that changes nothing) and
    read it again: a save and a hand-in sent at once (two tabs) are then made one after
    the other, so a save that comes second finds the portfolio handed in and is refused,
    and a hand-in that comes second hands in what the save stored."""
    session.execute(update(Portfolio).where(Portfolio.id == portfolio.id).values(updated_at=Portfolio.updated_at)
                    .execution_options(synchronize_session=False))
    session.expire(portfolio)


def closed_because(review: Submission | None) -> str | None:
    """Why the portfolio cannot be changed now, None when it can. The rule is assessed
    work's (``Submission.editable``): the portfolio is the learner's until handed in, and
    again once returned for revision; handed in, it is what the instructor reads until they
    return it, and once graded it stays as it was graded. Its text reaches the instructor
    only as a handed-in version, so a change made meanwhile would never reach them."""
    if review is None or review.editable:
        return None
    if review.status == SubmissionStatus.RELEASED:
        return "Your portfolio is graded: it stays as you handed it in and your instructor graded it."
    return ("Your portfolio is with your instructor for review, as you handed it in. If they return it "
            "for revision, you can change it and hand it in again.")


def curate(session: DbSession, portfolio: Portfolio, artifact_ids: list[int], reflections: dict[str, str],
           eligible: list[Submission], codes: list[str], now: datetime, expected: str | None = None) -> None:
    """Store the chosen work and reflections: refused (``closed_because``) while the
    portfolio is handed in and not returned, or graded; given ``expected``
    (``portfolio_mark`` of what the page showed), refused too if it was saved since
    (``StalePortfolio``): a page left open in one tab does not wipe what another saved."""
    _take(session, portfolio)
    reason = closed_because(_handed_in_review(session, portfolio))
    if reason:
        raise PortfolioError(reason)
    if expected is not None and portfolio_mark(portfolio) != expected:
        raise StalePortfolio()
    allowed = {s.id for s in eligible}
    if any(i not in allowed for i in artifact_ids):
        raise PortfolioError("Only your own graded and released work from this level (a team's included) can go in the portfolio.")
    unknown = set(reflections) - set(codes)
    if unknown:
        raise PortfolioError(f"Unknown objectives: {', '.join(sorted(unknown))}.")
    too_long = [c for c, text in reflections.items() if len(text) > MAX_REFLECTION_CHARS]
    if too_long:
        raise PortfolioError(f"Keep each reflection under {MAX_REFLECTION_CHARS:,} characters ({', '.join(too_long)}).")
    portfolio.artifact_ids = list(dict.fromkeys(artifact_ids))
    portfolio.reflections = {c: reflections.get(c, "").strip() for c in codes if reflections.get(c, "").strip()}
    portfolio.updated_at = now
    session.flush()


def _chosen(portfolio: Portfolio, eligible: list[Submission]) -> list[Submission]:
    """The chosen work, in the learner's order: what of it is eligible now."""
    return [s for i in portfolio.artifact_ids for s in eligible if s.id == i]


def compose(portfolio: Portfolio, eligible: list[Submission], codes: list[str]) -> str:
    """The portfolio as the Markdown text of its review submission."""
    lines = ["## Artifacts", ""]
    for s in _chosen(portfolio, eligible):
        objectives = ", ".join(o.key for o in s.assignment.objectives)
        lines.append(f"- **{s.assignment.title}** ({s.assignment.module.title}; {objectives}), version {len(s.versions)}")
    lines += ["", "## Reflections", ""]
    for code in codes:
        lines += [f"### {code}", "", portfolio.reflections.get(code, "(no reflection)"), ""]
    return "\n".join(lines)


def review_waits(level: Level, dates: coursework.Dates | None) -> str | None:
    """Why the level's review cannot be handed in yet, with the day it opens; None once it is open."""
    if dates is None:
        return f"The {level.title.lower()} review is not on your schedule."
    if not dates.is_open:
        return f"The {level.title.lower()} review opens on {dates.opens_on:%d %B %Y}: hand your portfolio in from that day."
    return None


def submit_for_review(session: DbSession, portfolio: Portfolio, user: User, eligible: list[Submission], now: datetime,
                      dates: coursework.Dates | None) -> Submission:
    """Hand the portfolio in as its level's review submission, filed under the cohort the
    learner is enrolled in as it is made (``coursework.start_own_submission``), and keep
    what was handed in (``PortfolioHandIn``): the chosen work, each at its newest version
    (the one ``compose`` names), and the reflections. The grader reads that, whatever the
    learner chooses afterwards."""
    _take(session, portfolio)
    assignment = review_assignment(session, portfolio.level)
    if assignment is None:
        raise PortfolioError("This level has no portfolio review.")
    waiting = review_waits(portfolio.level, dates)
    if waiting is not None:
        raise PortfolioError(waiting)
    if dates is not None and (closed := dates.closed(now)) is not None:  # the program has closed: said first
        raise PortfolioError(closed)
    codes = [o.key for o in assignment.objectives]
    if not portfolio.artifact_ids:
        raise PortfolioError("Choose at least one piece of work for your portfolio.")
    missing = [c for c in codes if not portfolio.reflections.get(c)]
    if missing:
        raise PortfolioError(f"Write a reflection for every objective of this level first: {', '.join(missing)}.")
    submission = coursework.start_own_submission(session, assignment, user.id, now)
    try:
        coursework.save_draft(session, submission, compose(portfolio, eligible, codes), dates, now)
        version = coursework.submit(session, submission, dates, now)
    except coursework.SubmissionError as exc:
        raise PortfolioError(str(exc)) from exc
    handed_in = [work.versions[-1] for work in _chosen(portfolio, eligible) if work.versions]
    session.add(PortfolioHandIn(
        portfolio_id=portfolio.id, version=version, reflections={c: portfolio.reflections[c] for c in codes},
        pieces=[PortfolioHandInPiece(position=n, version=v) for n, v in enumerate(handed_in)]))
    session.flush()
    return submission


@dataclass(frozen=True)
class Piece:
    """A piece of work a handed-in portfolio holds: the work, and the version of it that was
    its newest when the portfolio was handed in (``compose`` names it "version N")."""

    submission: Submission
    version: SubmissionVersion


def hand_ins_of(session: DbSession, versions: list[SubmissionVersion]) -> dict[int, PortfolioHandIn]:
    """Version id -> what was handed in with that version of a portfolio review (its
    pieces, each with its version, work, assignment and module): two statements, whatever
    the number of versions and pieces. A version with no record (none is made for other
    work) is left out."""
    if not versions:
        return {}
    found = session.scalars(
        select(PortfolioHandIn).where(PortfolioHandIn.version_id.in_([v.id for v in versions]))
        .options(selectinload(PortfolioHandIn.pieces).joinedload(PortfolioHandInPiece.version)
                 .joinedload(SubmissionVersion.submission).joinedload(Submission.assignment)
                 .joinedload(Assignment.module)))
    return {h.version_id: h for h in found}


def pieces_in(hand_in: PortfolioHandIn | None) -> list[Piece]:
    """A hand-in's work in the learner's order, each at the version handed in."""
    return [Piece(p.version.submission, p.version) for p in hand_in.pieces] if hand_in else []


def pieces_of(session: DbSession, review: Submission) -> list[Piece]:
    """The work handed in with a portfolio review's newest version, in the learner's order,
    each at the version it was handed in at: as it was kept then (``PortfolioHandIn``), not
    what the portfolio holds now. A fixed number of statements; none for a submission that
    is not a portfolio review."""
    if review.latest is None or review.assignment.kind != AssignmentKind.PORTFOLIO:
        return []
    return pieces_in(hand_ins_of(session, [review.latest]).get(review.latest.id))


def share(session: DbSession, portfolio: Portfolio, now: datetime) -> str:
    """A new read-only link; any earlier link stops working."""
    token, digest = new_token()
    portfolio.share_token_hash, portfolio.shared_at = digest, now
    session.flush()
    return token


def unshare(session: DbSession, portfolio: Portfolio) -> None:
    portfolio.share_token_hash, portfolio.shared_at = None, None
    session.flush()


def shared(session: DbSession, token: str) -> Portfolio | None:
    """The portfolio shared by ``token``; None when its learner's account is deactivated (the
    link is their secret: it answers again once the account is reactivated)."""
    return session.scalar(select(Portfolio).join(User, User.id == Portfolio.user_id).where(
        Portfolio.share_token_hash == hash_token(token), User.deactivated_at.is_(None)))
