"""Taking quizzes: when a quiz is open for a learner, starting an attempt (pools drawn and
order shuffled once, stored in the attempt so reloads show the same), saving answers as
they are given, closing attempts on time on the server, scoring, review, hand grading of
essays and per-cohort statistics. Services take a session and plain values; flush only."""

from __future__ import annotations

import dataclasses
import math
import random
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from blinker import Namespace
from sqlalchemy import case, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.assessment.kinds import QuestionKind
from lms.assessment.methods import GRADING_METHODS, REVIEW_POLICIES
from lms.assessment.models import (
    Attempt,
    AttemptClosedBy,
    ItemWithdrawal,
    Question,
    QuestionVersion,
    Quiz,
    QuizKind,
    Response,
)
from lms.assessment.questions import AnswerError, PartSpec, QuestionSpec, part_key, part_named, parts_of, type_of
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.catalog.models import Level
from lms.cohorts.enrolment import Carried, active_enrolment, hold_enrolment
from lms.cohorts.models import Cohort, Enrolment, TimeAllowance
from lms.database import DbSession, UTCDateTime, rowcount, zone_named
from lms.learning.services import Close, Schedule, build_schedule, close_of, deadline_that_applies, enrolment_in, opens_at, timeline_of
from lms.web.page_cache import fingerprint

events = Namespace()
# Sent with ``session=`` whenever a finished attempt has its final score (on submission,
# on closing, after an essay is graded or rescored); features above listen to it.
attempt_scored = events.signal("attempt-scored")
# Sent by ``carry_attempts`` with ``session=``, ``attempt_ids=``, ``source_id=`` and
# ``target_id=`` (the cohorts) once a moved learner's attempts are the new cohort's (the
# sender is the learner's id). The API records that they left the old cohort's list.
attempts_carried = events.signal("attempts-carried")
# Sent with ``session=`` and ``now=``, the cohort's id the sender, when attempts of the
# cohort whose essays wait for a grader (``pending_manual``) close: handed in by the learner
# (``submit_attempt``) or closed when their time ran out (``close_expired_attempts``, or the
# learner's next action on it). Work now awaiting grading, as ``work_submitted`` is for an
# assignment (the instructors' count of it is told at once); once a cohort, however many
# attempts closed there together (``_handed_in``).
attempt_handed_in = events.signal("attempt-handed-in")
# Sent by ``grade_essay`` with ``session=`` and ``now=``, the attempt the sender, when its
# last essay waiting for a grader is graded (``pending_manual`` turns False): the attempt
# awaits grading no more.
essays_graded = events.signal("essays-graded")

class QuizError(ValueError):
    """A request the quiz refuses; the message is shown to the learner."""


class AttemptClosed(QuizError):
    """The attempt is over (submitted, or its time ran out); nothing more is saved."""


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    release_on: date
    opens_at: datetime
    closes_at: datetime | None
    # the learner's program close, when it is what closes the window (no earlier closing
    # day of the quiz's own, no extension running later): its refusal says so
    close: Close | None = None

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now and (self.closes_at is None or now < self.closes_at)


def quiz_window(session: DbSession, quiz: Quiz, cohort: Cohort, user_id: int, now: datetime,
                plan: Schedule | None = None) -> Window:
    """Open and close times for one learner, on their own dates (a late joiner's catch-up or
    own start): days after the module phase's release in their schedule or, for an exam,
    after its level's last month. Early access to the phase opens a quiz on it its days
    after the early opening (never later than it regularly opens) and closes it when it
    regularly closes: early access never shortens a window. An extension of the phase (the
    gradebook's extension of the quiz) keeps it open to the extension's day, the day the
    learner's schedule and To do say it is due. ``plan``: the learner's schedule in
    ``cohort`` when the caller built it (a list of quizzes builds it once)."""
    early: date | None = None
    extended: date | None = None
    if quiz.phase_id is not None:
        assert quiz.phase is not None  # phase_id is set
        plan = plan or build_schedule(session, cohort, user_id, now)
        timeline, month = plan.timeline, quiz.release_month
        slot = plan.slot_for(quiz.phase_id)
        if slot is not None and slot.early and not quiz.opens_when_phase_ends:  # a quiz opening as its phase ends does not move
            early = slot.opens_on
        if slot is not None:
            extended = slot.extension
    else:
        level = quiz.level or session.get(Level, quiz.level_id)
        assert level is not None  # a quiz without a phase is its level's exam
        timeline = plan.timeline if plan is not None else timeline_of(cohort, enrolment_in(session, cohort, user_id))
        month = level.last_month
    opens, due = timeline.item_dates(month, quiz.opens_after_days, quiz.closes_after_days or None)
    if due is not None:  # as the schedule moves the quiz's due date (lms.progress.completion)
        due = deadline_that_applies(due, extended)
    release = timeline.phase_dates(month)[0]
    if early is not None:
        release, opens = early, min(opens, early + timedelta(days=quiz.opens_after_days))
    # No quiz is taken once the learner's program has closed (``Close``), whether or not it
    # sets a closing day of its own, unless an extension of its part runs later: its window
    # closes as the day the program closes (or the extension's) begins, as a quiz's does.
    ends = deadline_that_applies(timeline.closes_on, extended)
    if quiz.closes_after_days and due < ends:
        return Window(release_on=release, opens_at=opens_at(cohort, opens), closes_at=opens_at(cohort, due))
    return Window(release_on=release, opens_at=opens_at(cohort, opens), closes_at=opens_at(cohort, ends),
                  close=close_of(cohort, timeline) if ends == timeline.closes_on else None)


def release_month(quiz: Quiz) -> int:
    """The program month a quiz opens in (see ``Quiz.release_month``)."""
    return quiz.release_month


def active_quizzes(session: DbSession) -> list[Quiz]:
    """Every active module quiz and level exam in the order the schedule opens them; a
    level's exam after its quizzes. Weekly checks are practice and live with their lessons."""
    quizzes = session.scalars(
        select(Quiz).where(Quiz.retired_at.is_(None), Quiz.kind != QuizKind.CHECK)
        .options(selectinload(Quiz.module), selectinload(Quiz.phase), selectinload(Quiz.level)))
    return sorted(quizzes, key=lambda q: (release_month(q), q.kind == QuizKind.EXAM, q.position))


@dataclass(frozen=True)
class CheckLink:
    """What the lesson page says about its unit's weekly check."""

    key: str
    title: str
    questions: int


def lesson_check(session: DbSession, lesson_id: int) -> CheckLink | None:
    """The weekly check of a lesson (its unit), if it has an active one, in one statement."""
    row = session.execute(
        select(Quiz.key, Quiz.title, func.count(Question.id))
        .outerjoin(Question, (Question.quiz_id == Quiz.id) & Question.retired_at.is_(None))
        .where(Quiz.lesson_id == lesson_id, Quiz.kind == QuizKind.CHECK, Quiz.retired_at.is_(None))
        .group_by(Quiz.id, Quiz.key, Quiz.title)).first()
    return None if row is None else CheckLink(key=row[0], title=row[1], questions=row[2])


def get_quiz(session: DbSession, key: str) -> Quiz | None:
    return session.scalar(select(Quiz).where(Quiz.key == key, Quiz.retired_at.is_(None)))


# --------------------------------------------------------------------------- status


def attempts_of(session: DbSession, quiz: Quiz, user: User) -> list[Attempt]:
    return list(session.scalars(select(Attempt).where(Attempt.quiz_id == quiz.id, Attempt.user_id == user.id)
                                .order_by(Attempt.number)))


@dataclass
class QuizStatus:
    quiz: Quiz
    window: Window | None
    attempts: list[Attempt]
    in_progress: Attempt | None
    time_up: Attempt | None  # its time ran out; it is closed by the next write
    can_start: bool
    reason: str | None
    grade: float | None
    passed: bool | None
    allowance: TimeAllowance = TimeAllowance.STANDARD  # the learner's time on timed quizzes

    @property
    def minutes(self) -> int | None:
        """The minutes a new attempt of this learner's has (None: no limit)."""
        return minutes_allowed(self.quiz, self.allowance)

    @property
    def attempts_left(self) -> int | None:
        """The attempts this learner may still start (None: the quiz sets no limit); an
        attempt under way counts as used."""
        if not self.quiz.attempts_allowed:
            return None
        return max(self.quiz.attempts_allowed - len(self.attempts), 0)


def minutes_allowed(quiz: Quiz, allowance: TimeAllowance) -> int | None:
    """The quiz's time limit for a learner with ``allowance``, in whole minutes rounded up;
    None when the quiz has no limit or the learner has none."""
    factor = allowance.factor
    if quiz.time_limit_minutes is None or factor is None:
        return None
    return math.ceil(quiz.time_limit_minutes * factor)


def quiz_status(session: DbSession, quiz: Quiz, user: User, now: datetime) -> QuizStatus:
    """Where ``user`` stands with ``quiz``; only reads. An attempt whose time ran out is
    no longer in progress, though it is closed and scored only by a write (the learner's
    next action on it, or ``flask lms close-expired-attempts``)."""
    enrolment = active_enrolment(session, user.id)
    window = quiz_window(session, quiz, enrolment.cohort, user.id, now) if enrolment else None
    return _status(quiz, attempts_of(session, quiz, user), window, now, _allowance(enrolment), zone_named(user.timezone))


def _allowance(enrolment: Enrolment | None) -> TimeAllowance:
    return enrolment.time_allowance if enrolment is not None else TimeAllowance.STANDARD


def quiz_statuses(session: DbSession, quizzes: Sequence[Quiz], user: User, now: datetime) -> dict[int, QuizStatus]:
    """``quiz_status`` of each of ``quizzes`` (by quiz id), in a fixed number of statements
    whatever their number: the learner's attempts read at once, their schedule built once
    (on the curriculum the process keeps: this only reads)."""
    found: dict[int, list[Attempt]] = defaultdict(list)
    if quizzes:
        for attempt in session.scalars(select(Attempt).where(Attempt.user_id == user.id,
                                                             Attempt.quiz_id.in_([q.id for q in quizzes]))
                                       .order_by(Attempt.quiz_id, Attempt.number)):
            found[attempt.quiz_id].append(attempt)
    enrolment = active_enrolment(session, user.id)
    plan = build_schedule(session, enrolment.cohort, user.id, now, enrolment, kept=True) if enrolment else None
    zone = zone_named(user.timezone)
    return {q.id: _status(q, found[q.id], quiz_window(session, q, enrolment.cohort, user.id, now, plan)
                          if enrolment else None, now, _allowance(enrolment), zone) for q in quizzes}


def local_moment(moment: datetime, zone: ZoneInfo) -> str:
    """A quiz's opening or closing as its learner reads it: the day and time in their own
    time zone, as the page's ``localtime`` filter shows the window (the instant is the start
    of a day in the cohort's zone, another day for a learner far from it, and in UTC for a
    cohort east of it)."""
    local = moment.astimezone(zone)
    return f"{local:%d %B %Y} at {local:%H:%M} {local.tzname() or ''}".rstrip()


def _status(quiz: Quiz, attempts: list[Attempt], window: Window | None, now: datetime,
            allowance: TimeAllowance, zone: ZoneInfo) -> QuizStatus:
    time_up = next((a for a in attempts if time_is_up(a, now)), None)
    in_progress = next((a for a in attempts if not a.finished and a is not time_up), None)
    finished = [a for a in attempts if a.finished and not a.pending_manual]
    grade = GRADING_METHODS[quiz.grading].pick(finished)
    reason = None
    if window is None:
        reason = "Quizzes are taken by learners enrolled in a cohort."
    elif now < window.opens_at:
        reason = f"This {quiz.kind} opens on {local_moment(window.opens_at, zone)}."
    elif window.closes_at is not None and now >= window.closes_at and window.close is not None:
        # a level exam has no part of the program to extend (``lms.gradebook``: no extensions)
        reason = window.close.says(f"this {quiz.kind} can no longer be taken" if quiz.phase_id is None else
                                   f"this {quiz.kind} can no longer be taken unless your instructor grants you an extension")
    elif window.closes_at is not None and now >= window.closes_at:
        reason = f"This {quiz.kind} closed on {local_moment(window.closes_at, zone)}."
    elif in_progress is None and quiz.attempts_allowed and len(attempts) >= quiz.attempts_allowed:
        reason = ("You have used your one attempt." if quiz.attempts_allowed == 1
                  else f"You have used all {quiz.attempts_allowed} attempts.")
    return QuizStatus(quiz=quiz, window=window, attempts=attempts, in_progress=in_progress, time_up=time_up,
                      can_start=reason is None, reason=reason, grade=grade,
                      passed=None if grade is None else grade >= quiz.passing_score, allowance=allowance)


# --------------------------------------------------------------------------- attempts


def current_versions(session: DbSession, quiz: Quiz) -> list[tuple[Question, QuestionVersion]]:
    """The questions a new attempt draws from: active ones, less those withdrawn (item analysis)."""
    questions = session.scalars(select(Question).where(Question.quiz_id == quiz.id, Question.retired_at.is_(None),
                                                       Question.id.not_in(select(ItemWithdrawal.question_id)))
                                .order_by(Question.position).options(selectinload(Question.versions)))
    return [(q, q.current) for q in questions]


def _layout(quiz: Quiz, chosen: list[tuple[Question, QuestionVersion]], rng: random.Random) -> list[dict[str, Any]]:
    fixed = [pair for pair in chosen if pair[0].pool is None]
    drawn: list[tuple[Question, QuestionVersion]] = []
    for pool, draw in sorted(quiz.pools.items()):
        members = [pair for pair in chosen if pair[0].pool == pool]
        drawn.extend(rng.sample(members, min(draw, len(members))))
    pages = sorted(fixed + drawn, key=lambda pair: pair[0].position)
    if quiz.shuffle_questions:
        rng.shuffle(pages)
    layout = []
    for _, version in pages:
        options: dict[str, list[str]] = {}
        for part in parts_of(version.spec):
            ids = type_of(part).shuffle_ids(part)
            if ids:
                if quiz.shuffle_answers:
                    rng.shuffle(ids)
                options[part.id] = ids
        layout.append({"version": version.id, "options": options})
    return layout


def _busy(exc: OperationalError) -> QuizError:
    """SQLite's write lock held by another writer past the busy timeout: the learner is told
    to try again; any other error is raised as it is."""
    if "database is locked" not in str(exc.orig):
        raise exc
    return QuizError("The quiz could not be started just now because the site was busy; try again.")


def start_attempt(session: DbSession, quiz: Quiz, user: User, now: datetime, seed: int | None = None) -> Attempt:
    """Start an attempt, or return the one in progress (a second click does not start
    another, nor do several clicks at the same moment). The questions drawn and their
    order are random; ``seed`` makes them repeatable (the demo's learners). The learner's
    enrolment is held first (``hold_enrolment``), before any attempt of theirs is written:
    the attempt is the cohort's they are enrolled in as it starts, a move at that moment
    waiting for it (then carrying it, as it carries every running attempt) or waited for."""
    try:
        enrolment = hold_enrolment(session, user.id)
    except OperationalError as exc:  # SQLite: another writer held the database past the busy timeout
        raise _busy(exc) from None
    _handed_in(session, [attempt for attempt in attempts_of(session, quiz, user) if expire_if_due(session, attempt, now)], now)
    status = quiz_status(session, quiz, user, now)
    if status.in_progress is not None:
        return status.in_progress
    if not status.can_start:
        raise QuizError(status.reason or "This quiz cannot be started now.")
    chosen = current_versions(session, quiz)
    if not chosen:
        raise QuizError("This quiz has no questions yet.")
    layout = _layout(quiz, chosen, random.Random(secrets.randbits(64) if seed is None else seed))
    versions = {v.id: v for _, v in chosen}
    minutes = status.minutes  # the quiz's limit with the learner's time allowance (an accommodation)
    deadline = now + timedelta(minutes=minutes) if minutes else None
    closes = status.window.closes_at if status.window else None
    if closes is not None:
        deadline = min(deadline, closes) if deadline else closes
    attempt = Attempt(quiz=quiz, user=user, cohort_id=enrolment.cohort_id if enrolment else None,
                      number=len(status.attempts) + 1, layout=layout, started_at=now, deadline_at=deadline,
                      minutes_allowed=minutes,
                      max_score=sum(versions[page["version"]].points for page in layout))
    try:
        # Attempts are numbered per learner and quiz, (quiz, user, number) unique: of starts
        # racing for the same number one is inserted, the others find it here. A savepoint,
        # so what this request closed on the way survives the lost race.
        with session.begin_nested():
            session.add(attempt)
    except OperationalError as exc:
        raise _busy(exc) from None
    except IntegrityError:
        raced = quiz_status(session, quiz, user, now).in_progress
        if raced is None:  # the winner's attempt is already over: nothing to return
            raise QuizError("Another attempt at this quiz was started at the same moment; "
                            "reload the quiz to see where you stand.") from None
        return raced
    return attempt


def field_name(page: int, part: PartSpec, spec: QuestionSpec) -> str:
    return f"p{page}" if part is spec else f"p{page}-{part.id}"


def page_versions(session: DbSession, attempt: Attempt) -> dict[int, QuestionVersion]:
    ids = [page["version"] for page in attempt.layout]
    return {v.id: v for v in session.scalars(select(QuestionVersion).where(QuestionVersion.id.in_(ids)))}


def responses_of(session: DbSession, attempt: Attempt, version_id: int | None = None) -> dict[tuple[int, str], Response]:
    """The attempt's responses by (question version, part): all of them, or one question's."""
    query = select(Response).where(Response.attempt_id == attempt.id)
    if version_id is not None:
        query = query.where(Response.version_id == version_id)
    return {(r.version_id, r.part): r for r in session.scalars(query)}


def time_is_up(attempt: Attempt, now: datetime) -> bool:
    """The attempt is still open in the database but its time ran out: read as closed."""
    return not attempt.finished and attempt.deadline_at is not None and now >= attempt.deadline_at


def expire_if_due(session: DbSession, attempt: Attempt, now: datetime) -> bool:
    """Close an attempt whose time is up, scored on what was saved. True if it did."""
    deadline = attempt.deadline_at
    if deadline is None or not time_is_up(attempt, now):
        return False
    limit = attempt.minutes_allowed  # the quiz's limit with the learner's time allowance, when it started
    closes_with_quiz = limit is None or deadline < attempt.started_at + timedelta(minutes=limit)
    finish(session, attempt, AttemptClosedBy.QUIZ_CLOSED if closes_with_quiz else AttemptClosedBy.TIME_LIMIT,
           deadline)
    return True


def close_expired_attempts(session: DbSession, now: datetime) -> int:
    """Close and score every attempt whose time ran out (``flask lms close-expired-attempts``),
    oldest first. They are read through the partial index of running attempts by deadline
    (ordered here: SQLite, asked for them in the order of their ids, reads every attempt)."""
    due = session.scalars(select(Attempt).where(Attempt.submitted_at.is_(None), Attempt.deadline_at <= now)).all()
    closed = [attempt for attempt in sorted(due, key=lambda attempt: attempt.id) if expire_if_due(session, attempt, now)]
    _handed_in(session, closed, now)
    return len(closed)


def _handed_in(session: DbSession, closed: Sequence[Attempt], now: datetime) -> None:
    """Attempts just closed (handed in, or their time ran out): ``attempt_handed_in`` once for
    each cohort where one of them waits for an essay's grade, however many closed there."""
    for cohort_id in sorted({attempt.cohort_id for attempt in closed
                             if attempt.pending_manual and attempt.cohort_id is not None}):
        attempt_handed_in.send(cohort_id, session=session, now=now)


def _open_attempt(session: DbSession, attempt: Attempt, now: datetime) -> None:
    if attempt.finished:
        raise AttemptClosed("This attempt is already submitted; nothing more can be changed.")
    if expire_if_due(session, attempt, now):
        _handed_in(session, [attempt], now)
        if attempt.closed_by == AttemptClosedBy.QUIZ_CLOSED:  # the quiz closed before the time limit ran out
            raise AttemptClosed("The quiz has closed: the attempt was closed and scored on the answers saved before "
                                "it closed.")
        raise AttemptClosed("Time is up: the attempt was closed and scored on the answers saved before the limit.")


def save_page(session: DbSession, attempt: Attempt, page: int, form: Any, now: datetime) -> None:
    """Save the answers on one page. Every part is read first; any tampered or malformed
    input refuses the whole page and nothing is saved."""
    _open_attempt(session, attempt, now)
    if not 0 <= page < len(attempt.layout):
        raise QuizError("That question is not part of this attempt.")
    version = session.get_one(QuestionVersion, attempt.layout[page]["version"])  # the layout holds existing versions
    spec = version.spec
    answers = {}
    for part in parts_of(spec):
        name = field_name(page, part, spec)
        try:
            answers[part.id] = type_of(part).read(part, form, name)
        except AnswerError as exc:
            raise AnswerError(str(exc), field=name) from exc
    existing = responses_of(session, attempt, version.id)  # this page's only
    for part in parts_of(spec):
        key = (version.id, part_key(spec, part))
        response = existing.get(key)
        if response is None:
            response = Response(attempt=attempt, version_id=key[0], part=key[1])
            session.add(response)
        response.answer, response.saved_at = answers[part.id], now
    session.flush()


def submit_attempt(session: DbSession, attempt: Attempt, now: datetime) -> Attempt:
    """Submit; a second submission (double click, resent form) changes nothing. One whose
    essays wait for a grader is work awaiting grading (``attempt_handed_in``), closed by the
    learner or by its time running out."""
    if attempt.finished:
        return attempt
    if not expire_if_due(session, attempt, now):
        finish(session, attempt, AttemptClosedBy.LEARNER, now)
    _handed_in(session, [attempt], now)
    return attempt


def finish(session: DbSession, attempt: Attempt, closed_by: AttemptClosedBy, at: datetime) -> None:
    attempt.submitted_at, attempt.closed_by = at, closed_by
    rescore(session, attempt, at)


def rescore(session: DbSession, attempt: Attempt, now: datetime) -> None:
    """Score every part on its saved answer (unanswered parts score 0); essays keep the
    points a grader gave, or leave the attempt pending until they are graded. ``now`` is
    the attempt's ``updated_at`` (a sync by ``updated_since`` learns of the new score)."""
    versions = page_versions(session, attempt)
    existing = responses_of(session, attempt)
    total, pending = 0.0, False
    for page in attempt.layout:
        version = versions[page["version"]]
        for part in parts_of(version.spec):
            key = (version.id, part_key(version.spec, part))
            response = existing.get(key)
            if response is None:
                response = Response(attempt=attempt, version_id=key[0], part=key[1], answer=None, saved_at=attempt.submitted_at)
                session.add(response)
                existing[key] = response
            kind = type_of(part)
            if kind.auto_scored or response.answer is None:
                fraction = kind.score(part, response.answer)
                assert fraction is not None  # only a written essay waits for a grader, and it is not scored here
                response.score = round(fraction * part.points, 4)
            if response.score is None:
                pending = True
            else:
                total += response.score
    attempt.score, attempt.pending_manual, attempt.updated_at = round(total, 4), pending, now
    session.flush()
    if attempt.finished and not pending:
        attempt_scored.send(attempt, session=session)


class StaleEssayGrade(QuizError):
    """Someone graded the answer after the grader's page showed it (``essay_seen``): nothing
    of this save was written. ``response`` is the answer as it now stands."""

    def __init__(self, response: Response) -> None:
        super().__init__("This answer was graded by someone else after you opened it; nothing of yours was saved.")
        self.response = response


def essay_seen(response: Response) -> str:
    """What a grading page showed of an essay answer's grade, for ``grade_essay`` to compare:
    "ungraded", or when it was last graded."""
    return "ungraded" if response.graded_at is None else response.graded_at.isoformat()


def grade_essay(session: DbSession, response: Response, points: float, comment: str, grader: User, now: datetime,
                seen: str | None = None) -> None:
    """Give an essay answer its points and comment, and rescore its attempt. With ``seen``
    (``essay_seen`` as the grader's page had it) the write is conditional: when the answer
    was graded since, by a colleague or in another tab, ``StaleEssayGrade`` is raised and
    nothing is written, whatever the timing of the two saves. The attempt's last essay
    graded, it awaits grading no more (``essays_graded``)."""
    version = response.version
    part = part_named(version.spec, response.part)
    if part.type != QuestionKind.ESSAY:
        raise QuizError("Only essay answers are graded by hand.")
    if not response.attempt.finished:
        raise QuizError("The attempt is still in progress.")
    if not 0 <= points <= part.points:
        raise QuizError(f"Give between 0 and {part.points:g} points.")
    if seen is not None and seen != essay_seen(response):
        raise StaleEssayGrade(response)
    before = {"score": response.score, "comment": response.grader_comment}
    unchanged = Response.graded_at.is_(None) if response.graded_at is None else Response.graded_at == response.graded_at
    written = session.execute(update(Response).where(Response.id == response.id, *([unchanged] if seen is not None else []))
                              .values(score=points, grader_comment=comment.strip(), graded_by_id=grader.id, graded_at=now)
                              .execution_options(synchronize_session=False))
    session.refresh(response)
    if rowcount(written) != 1:  # a save from the same page state won the race
        raise StaleEssayGrade(response)
    was_pending = response.attempt.pending_manual
    rescore(session, response.attempt, now)
    if was_pending and not response.attempt.pending_manual:
        essays_graded.send(response.attempt, session=session, now=now)
    organization_id = (session.scalar(select(Cohort.organization_id).where(Cohort.id == response.attempt.cohort_id))
                       if response.attempt.cohort_id is not None else None)
    record_from(session, action=AuditAction.GRADE_SAVED, organization_id=organization_id,
                target=f"response:{response.id} attempt:{response.attempt_id}", before=before,
                after={"score": points, "comment": response.grader_comment}, actor_id=grader.id)


# --------------------------------------------------------------------------- review


@dataclass
class PartView:
    spec: PartSpec
    field: str
    answer: dict[str, Any] | None
    options: list[str]
    score: float | None = None
    feedback: list[str] = dataclasses.field(default_factory=list)  # not bare ``field``: the attribute above shadows it for mypy
    correct: str | None = None
    # What the grader wrote for the learner with an essay's points ("Comment for the learner").
    comment: str = ""

    @property
    def kind(self) -> QuestionKind:
        return self.spec.type


@dataclass
class PageView:
    index: int
    spec: QuestionSpec
    parts: list[PartView]

    @property
    def answered(self) -> bool:
        return any(p.answer is not None for p in self.parts)


def page_views(session: DbSession, attempt: Attempt, show_answers: bool = False) -> list[PageView]:
    versions = page_versions(session, attempt)
    existing = responses_of(session, attempt)
    pages = []
    for index, page in enumerate(attempt.layout):
        version = versions[page["version"]]
        spec = version.spec
        parts = []
        for part in parts_of(spec):
            response = existing.get((version.id, part_key(spec, part)))
            answer = response.answer if response else None
            kind = type_of(part)
            view = PartView(spec=part, field=field_name(index, part, spec), answer=answer,
                            options=page["options"].get(part.id, []))
            if attempt.finished:
                view.score = response.score if response else None
                if response is not None and response.graded_by_id is not None:
                    view.comment = response.grader_comment
                if show_answers:
                    view.feedback = [*kind.feedback(part, answer), *([part.feedback] if part.feedback else [])]
                    view.correct = kind.correct_answer(part)
            parts.append(view)
        pages.append(PageView(index=index, spec=spec, parts=parts))
    return pages


def shows_answers(session: DbSession, attempt: Attempt, now: datetime) -> bool:
    if not attempt.finished:
        return False
    closes = None
    cohort = session.get(Cohort, attempt.cohort_id) if attempt.cohort_id else None
    if cohort is not None:
        closes = quiz_window(session, attempt.quiz, cohort, attempt.user_id, now).closes_at
    return REVIEW_POLICIES[attempt.quiz.review].shows_answers(now, closes, done=no_attempt_left(session, attempt, now))


def no_attempt_left(session: DbSession, attempt: Attempt, now: datetime) -> bool:
    """The learner of ``attempt`` can try the quiz no more: they have made every attempt it
    allows and none is still open (an attempt whose time ran out reads as closed). Never
    for a quiz of unlimited attempts."""
    quiz = attempt.quiz
    if not quiz.attempts_allowed:
        return False
    theirs = list(session.scalars(select(Attempt).where(Attempt.quiz_id == quiz.id, Attempt.user_id == attempt.user_id)))
    return len(theirs) >= quiz.attempts_allowed and all(a.finished or time_is_up(a, now) for a in theirs)


# --------------------------------------------------------------------------- statistics


# Item analysis (issue 12 point 3): below this many finished attempts in the cohort, and on
# an item scored in fewer of them (a pool draws it in some attempts only), nothing is flagged.
FLAG_MIN_ATTEMPTS = 20
TOO_EASY_ABOVE = 0.95    # facility: the mean share of the item's points scored
TOO_HARD_BELOW = 0.2
DISCRIMINATES_BELOW = 0.1  # discrimination: its facility in the best 27% of attempts (by total) minus the weakest 27%


@dataclass(frozen=True)
class ItemFlag:
    name: str
    explanation: str


TOO_EASY = ItemFlag("too easy", f"More than {TOO_EASY_ABOVE:.0%} of the points were scored: it tells learners apart "
                                "from nobody and may give the answer away.")
TOO_HARD = ItemFlag("too hard", f"Under {TOO_HARD_BELOW:.0%} of the points were scored: check the key, the wording "
                                "and whether the lessons teach it.")
NO_DISCRIMINATION = ItemFlag("does not discriminate",
                             f"The best 27% of attempts scored less than {DISCRIMINATES_BELOW:.0%} more of its points "
                             "than the weakest 27%: it does not measure what the rest of the quiz measures.")


ITEM_FLAG_RULES = (TOO_EASY, TOO_HARD, NO_DISCRIMINATION)


def item_flags(facility: float | None, discrimination: float | None) -> list[ItemFlag]:
    """What item analysis says of one item, from its facility and discrimination index."""
    flags = []
    if facility is not None and facility > TOO_EASY_ABOVE:
        flags.append(TOO_EASY)
    if facility is not None and facility < TOO_HARD_BELOW:
        flags.append(TOO_HARD)
    if discrimination is not None and discrimination < DISCRIMINATES_BELOW:
        flags.append(NO_DISCRIMINATION)
    return flags


@dataclass
class QuestionStats:
    key: str
    label: str
    kind: str
    answered: int
    facility: float | None
    discrimination: float | None
    wrong_answers: list[tuple[str, int]]
    question_key: str = ""
    first_part: bool = True  # the question's first row: where it can be withdrawn
    scored: int = 0  # finished attempts in which the item has a score
    flags: list[ItemFlag] = dataclasses.field(default_factory=list)
    withdrawal: ItemWithdrawal | None = None


@dataclass
class QuizStats:
    attempts: int
    learners: int
    average: float | None
    distribution: list[int]  # attempts per 10-point band, 0-9 ... 90-100
    questions: list[QuestionStats]
    pending_essays: list[Response]
    flagged: bool = False  # enough finished attempts for item analysis to flag items
    withdrawals: list[ItemWithdrawal] = dataclasses.field(default_factory=list)
    graded_essays: list[Response] = dataclasses.field(default_factory=list)  # the latest graded first, to correct


def quiz_statistics(session: DbSession, quiz: Quiz, cohort: Cohort) -> QuizStats:
    """A fixed number of statements, whatever the number of learners or attempts."""
    attempts = list(session.scalars(select(Attempt).where(
        Attempt.quiz_id == quiz.id, Attempt.cohort_id == cohort.id, Attempt.submitted_at.is_not(None))))
    responses = list(session.scalars(select(Response).join(Attempt).where(
        Attempt.quiz_id == quiz.id, Attempt.cohort_id == cohort.id, Attempt.submitted_at.is_not(None))
        .options(selectinload(Response.version).selectinload(QuestionVersion.question),
                 selectinload(Response.attempt).selectinload(Attempt.user))))
    percents = [a.percent for a in attempts if a.percent is not None and not a.pending_manual]
    distribution = [0] * 10
    for p in percents:
        distribution[min(9, int(p // 10))] += 1
    # Upper and lower 27% of attempts by total score, for the discrimination index.
    ranked = sorted((a for a in attempts if a.score is not None), key=lambda a: (a.score or 0) / (a.max_score or 1))
    cut = max(1, round(len(ranked) * 0.27)) if len(ranked) >= 2 else 0
    lower = {a.id for a in ranked[:cut]}
    upper = {a.id for a in ranked[-cut:]} if cut else set()
    by_part: dict[tuple[str, str], list[Response]] = defaultdict(list)
    for r in responses:
        by_part[(r.version.question.key, r.part)].append(r)
    withdrawals = quiz_withdrawals(session, quiz)
    withdrawn = {w.question.key: w for w in withdrawals}
    flagged = len(attempts) >= FLAG_MIN_ATTEMPTS
    stats = []
    seen: set[str] = set()
    for (key, part_id), rows in sorted(by_part.items()):
        # Each answer is read with the version it answered: a content load may have changed
        # the question since (its points, options, items, even its type). The row is labelled
        # with the newest version answered.
        parts = {r.id: part_named(r.version.spec, part_id) for r in rows}
        part = parts[max(rows, key=lambda r: r.version_id).id]
        kind = type_of(part)
        marks = [(r.attempt_id, r.score / parts[r.id].points) for r in rows if r.score is not None]
        facility = sum(fraction for _, fraction in marks) / len(marks) if marks else None
        hi, lo = _mean_fraction(marks, upper), _mean_fraction(marks, lower)
        wrong = Counter(type_of(parts[r.id]).describe(parts[r.id], r.answer) for r in rows
                        if r.answer is not None and r.score is not None and r.score < parts[r.id].points
                        and type_of(parts[r.id]).auto_scored)
        row = QuestionStats(
            key=key if part_id == "" else f"{key} / {part_id}", label=part.text[:140], kind=kind.label,
            answered=sum(1 for r in rows if r.answer is not None),
            facility=None if facility is None else round(facility, 3),
            discrimination=None if hi is None or lo is None else round(hi - lo, 3),
            wrong_answers=wrong.most_common(3), question_key=key, first_part=key not in seen,
            scored=len(marks), withdrawal=withdrawn.get(key))
        if flagged and row.scored >= FLAG_MIN_ATTEMPTS and row.withdrawal is None:
            row.flags = item_flags(row.facility, row.discrimination)
        seen.add(key)
        stats.append(row)
    pending = [r for r in responses if r.score is None and r.answer is not None]
    # Written answers a grader marked: listed so a grade or its comment can be corrected
    # (grade_essay rescores the attempt), the latest graded first.
    graded = sorted((r for r in responses if r.graded_by_id is not None and r.answer is not None),
                    key=lambda r: (r.graded_at is not None, r.graded_at, r.id), reverse=True)
    return QuizStats(attempts=len(attempts), learners=len({a.user_id for a in attempts}),
                     average=round(sum(percents) / len(percents), 2) if percents else None,
                     distribution=distribution, questions=stats, pending_essays=pending,
                     flagged=flagged, withdrawals=withdrawals, graded_essays=graded)


def quiz_withdrawals(session: DbSession, quiz: Quiz) -> list[ItemWithdrawal]:
    """The quiz's withdrawn questions, oldest first, with who withdrew them."""
    return list(session.scalars(select(ItemWithdrawal).join(Question).where(Question.quiz_id == quiz.id)
                                .order_by(ItemWithdrawal.withdrawn_at, ItemWithdrawal.id)
                                .options(selectinload(ItemWithdrawal.question), selectinload(ItemWithdrawal.withdrawn_by))))


def withdraw_item(session: DbSession, quiz: Quiz, cohort: Cohort, item_key: str, reason: str, by: User,
                  now: datetime, regrade: bool = False) -> ItemWithdrawal:
    """Withdraw a question from ``quiz`` program-wide: new attempts no longer draw it (a pool
    draws what it still can). Attempts already scored keep its points; with ``regrade``, the
    cohort's finished attempts are rescored without it (its points leave score and maximum),
    and the rescore's ``attempt_scored`` brings the evidence along. Attempts still open keep it."""
    reason = reason.strip()
    if not reason:
        raise QuizError("Say why the item is withdrawn.")
    question = session.scalar(select(Question).where(Question.key == item_key, Question.quiz_id == quiz.id))
    if question is None:
        raise QuizError(f"This quiz has no item {item_key!r}.")
    earlier = session.scalar(select(ItemWithdrawal).where(ItemWithdrawal.question_id == question.id))
    if earlier is not None:
        raise QuizError(f"Item {item_key!r} was already withdrawn on {earlier.withdrawn_at:%d %B %Y}.")
    withdrawal = ItemWithdrawal(question=question, cohort_id=cohort.id, withdrawn_by=by, reason=reason, withdrawn_at=now)
    session.add(withdrawal)
    session.flush()
    if regrade:
        withdrawal.regraded_attempts = regrade_without(session, quiz, cohort, question, now)
        withdrawal.regraded_at = now
        session.flush()
    record_from(session, action=AuditAction.ITEM_WITHDRAWN, organization_id=cohort.organization_id,
                target=f"quiz:{quiz.id} item:{item_key} cohort:{cohort.id}", before=None,
                after={"reason": reason, "regraded_attempts": withdrawal.regraded_attempts if regrade else None},
                actor_id=by.id)
    return withdrawal


def regrade_without(session: DbSession, quiz: Quiz, cohort: Cohort, question: Question, now: datetime) -> int:
    """Take ``question`` out of the cohort's finished attempts at ``quiz`` and rescore them;
    returns how many changed. Its saved answers stay, no longer counted. An attempt whose
    only essays left to grade were the question's awaits grading no more: ``essays_graded``
    once for the cohort, however many such attempts there are."""
    version_ids = set(session.scalars(select(QuestionVersion.id).where(QuestionVersion.question_id == question.id)))
    attempts = session.scalars(select(Attempt).where(
        Attempt.quiz_id == quiz.id, Attempt.cohort_id == cohort.id, Attempt.submitted_at.is_not(None))
        .order_by(Attempt.id)).all()
    changed, done_waiting = 0, []
    for attempt in attempts:
        if not any(page["version"] in version_ids for page in attempt.layout):
            continue
        waited = attempt.pending_manual
        attempt.layout = [page for page in attempt.layout if page["version"] not in version_ids]
        versions = page_versions(session, attempt)
        attempt.max_score = sum(versions[page["version"]].points for page in attempt.layout)
        rescore(session, attempt, now)
        changed += 1
        if waited and not attempt.pending_manual:
            done_waiting.append(attempt)
    if done_waiting:
        essays_graded.send(done_waiting[0], session=session, now=now)
    return changed


def _mean_fraction(marks: list[tuple[int, float]], attempt_ids: set[int]) -> float | None:
    """The mean fraction of the points scored in these attempts (None if none of them answered);
    ``marks`` holds (attempt id, fraction of the item's points)."""
    chosen = [fraction for attempt_id, fraction in marks if attempt_id in attempt_ids]
    return sum(chosen) / len(chosen) if chosen else None


def carry_attempts(session: DbSession, user_id: int, source_id: int, target_id: int, now: datetime) -> int:
    """A learner moved from cohort ``source_id`` to ``target_id``: their attempts there still
    running or waiting for a written answer's grade become the new cohort's, so its staff
    grade them (the written answers to grade are listed by cohort) and its time limits and
    closings apply. Attempts finished and graded stay where they were taken: the old
    cohort's quiz statistics. A submitted one carried is a change of the new cohort's list
    (``updated_at`` is ``now``, for the API's ``updated_since``; ``attempts_carried`` says
    which). One statement; how many it carried."""
    carried = session.scalars(update(Attempt).where(
        Attempt.user_id == user_id, Attempt.cohort_id == source_id,
        or_(Attempt.submitted_at.is_(None), Attempt.pending_manual.is_(True)))
        .values(cohort_id=target_id, updated_at=case((Attempt.submitted_at.is_not(None), literal(now, UTCDateTime())),
                                                     else_=Attempt.updated_at))
        .returning(Attempt.id).execution_options(synchronize_session="fetch")).all()
    if carried:
        attempts_carried.send(user_id, session=session, attempt_ids=list(carried), source_id=source_id, target_id=target_id)
    return len(carried)


def on_learner_moved(user: User, *, session: DbSession, source: Cohort, target: Cohort, now: datetime,
                     **_: object) -> Carried | None:
    """``learner_moved``'s receiver (``carry_attempts``)."""
    carried = carry_attempts(session, user.id, source.id, target.id, now)
    if not carried:
        return None
    return Carried(f"{carried} quiz attempt{'s' * (carried != 1)} still open or waiting for a grade moved with them.")


def _pending(cohort_ids: list[int]) -> list[ColumnElement[bool]]:
    """A written answer in a finished attempt of these cohorts that nobody has graded yet."""
    return [Attempt.cohort_id.in_(cohort_ids), Attempt.submitted_at.is_not(None),
            Response.score.is_(None), Response.answer.is_not(None)]


def pending_essays(session: DbSession, cohort_ids: list[int]) -> list[Response]:
    """Written answers in finished attempts of these cohorts that nobody has graded yet,
    oldest first; a fixed number of statements however many there are."""
    if not cohort_ids:
        return []
    return list(session.scalars(
        select(Response).join(Attempt).where(*_pending(cohort_ids))
        .order_by(Attempt.submitted_at, Response.id)
        .options(selectinload(Response.version),
                 selectinload(Response.attempt).selectinload(Attempt.user),
                 selectinload(Response.attempt).selectinload(Attempt.quiz))))


def pending_essay_counts(session: DbSession, cohort_ids: list[int]) -> dict[int, int]:
    """How many answers ``pending_essays`` lists, by cohort (those with none left out): one
    statement, no answer loaded."""
    if not cohort_ids:
        return {}
    query = (select(Attempt.cohort_id, func.count()).select_from(Response).join(Attempt).where(*_pending(cohort_ids))
             .group_by(Attempt.cohort_id))
    return {cohort_id: count for cohort_id, count in session.execute(query) if cohort_id is not None}


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: their
    quiz attempts, with whether each one's time is up (an unsubmitted attempt past its
    deadline reads as ended)."""
    return [select(fingerprint(Attempt.id, Attempt.quiz_id, Attempt.submitted_at, Attempt.score, Attempt.max_score,
                               Attempt.pending_manual, Attempt.closed_by, Attempt.deadline_at <= now))
            .where(Attempt.user_id == user_id).scalar_subquery()]
