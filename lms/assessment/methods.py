"""Small registries: how attempts combine into a quiz grade, and when a learner may see
correct answers and feedback."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

from lms.assessment.models import GradingMethodName, ReviewPolicyName


class Scored(Protocol):
    """What a grading method reads of an attempt (read-only: ``percent`` is a property)."""

    @property
    def number(self) -> int: ...

    @property
    def percent(self) -> float | None: ...


S = TypeVar("S", bound=Scored)


class GradingMethod(ABC):
    """Which finished attempts make the quiz grade. The grade is the mean of the counted
    attempts' percents; the evidence a quiz gives (``lms.progress.evidence``) comes from the
    same counted attempts, so an attempt that does not change the grade does not change
    the learner's mastery either."""

    name: ClassVar[GradingMethodName]
    label: ClassVar[str]

    @abstractmethod
    def counted(self, attempts: Sequence[S]) -> list[S]:
        """The attempts that make the grade, from finished, fully graded ones (those
        without a percent are ignored); empty when none is scored."""

    def pick(self, attempts: Sequence[Scored]) -> float | None:
        """The quiz grade (percent) from finished, fully graded attempts."""
        percents = [a.percent for a in self.counted(attempts) if a.percent is not None]
        return round(sum(percents) / len(percents), 2) if percents else None


def _scored(attempts: Sequence[S]) -> list[S]:
    return sorted((a for a in attempts if a.percent is not None), key=lambda a: a.number)


class Highest(GradingMethod):
    """The best attempt; of equal bests the earliest, so matching it again changes nothing."""

    name, label = GradingMethodName.HIGHEST, "Highest attempt"

    def counted(self, attempts: Sequence[S]) -> list[S]:
        scored = _scored(attempts)
        best = max((a.percent for a in scored if a.percent is not None), default=None)
        return [next(a for a in scored if a.percent == best)] if scored else []


class Latest(GradingMethod):
    name, label = GradingMethodName.LATEST, "Latest attempt"

    def counted(self, attempts: Sequence[S]) -> list[S]:
        return _scored(attempts)[-1:]


class Average(GradingMethod):
    name, label = GradingMethodName.AVERAGE, "Average of attempts"

    def counted(self, attempts: Sequence[S]) -> list[S]:
        return _scored(attempts)


class First(GradingMethod):
    name, label = GradingMethodName.FIRST, "First attempt"

    def counted(self, attempts: Sequence[S]) -> list[S]:
        return _scored(attempts)[:1]


GRADING_METHODS: dict[GradingMethodName, GradingMethod] = {m.name: m for m in (Highest(), Latest(), Average(), First())}


class ReviewPolicy(ABC):
    """When a learner sees the correct answers and feedback of a finished attempt. The
    score, and the points of every item (so which were right), show whatever the policy.
    ``done`` says the learner can make no further attempt: every attempt allowed is used
    and none is still open. ``while_attempts_remain``: the policy may show answers while
    the learner can still try again (the item-bank lint reads it)."""

    name: ClassVar[ReviewPolicyName]
    label: ClassVar[str]
    while_attempts_remain: ClassVar[bool] = False

    @abstractmethod
    def shows_answers(self, now: datetime, closes_at: datetime | None, *, done: bool = False) -> bool: ...


class Immediately(ReviewPolicy):
    name, label = ReviewPolicyName.IMMEDIATELY, "Right after each attempt"
    while_attempts_remain = True

    def shows_answers(self, now: datetime, closes_at: datetime | None, *, done: bool = False) -> bool:
        return True


class AfterLastAttempt(ReviewPolicy):
    """The answers once the learner has no attempt left, or once the quiz has closed, so
    that they never help a next attempt (a quiz of several attempts over the same questions
    uses it; the score and each item's points show after every attempt)."""

    name, label = ReviewPolicyName.AFTER_LAST_ATTEMPT, "Once your last attempt is used or the quiz has closed"

    def shows_answers(self, now: datetime, closes_at: datetime | None, *, done: bool = False) -> bool:
        return done or (closes_at is not None and now >= closes_at)


class AfterClose(ReviewPolicy):
    name, label = ReviewPolicyName.AFTER_CLOSE, "Once the quiz has closed"

    def shows_answers(self, now: datetime, closes_at: datetime | None, *, done: bool = False) -> bool:
        return closes_at is not None and now >= closes_at


class Never(ReviewPolicy):
    name, label = ReviewPolicyName.NEVER, "Never"

    def shows_answers(self, now: datetime, closes_at: datetime | None, *, done: bool = False) -> bool:
        return False


REVIEW_POLICIES: dict[ReviewPolicyName, ReviewPolicy] = {
    p.name: p for p in (Immediately(), AfterLastAttempt(), AfterClose(), Never())}
