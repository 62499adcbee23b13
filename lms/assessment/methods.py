"""Small registries: how attempts combine into a quiz grade, and when a learner may see
correct answers and feedback."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Protocol

from lms.assessment.models import GradingMethodName, ReviewPolicyName


class Scored(Protocol):
    """What a grading method reads of an attempt (read-only: ``percent`` is a property)."""

    @property
    def number(self) -> int: ...

    @property
    def percent(self) -> float | None: ...


class GradingMethod(ABC):
    name: ClassVar[GradingMethodName]
    label: ClassVar[str]

    @abstractmethod
    def pick(self, attempts: Sequence[Scored]) -> float | None:
        """The quiz grade (percent) from finished, fully graded attempts in order."""


class Highest(GradingMethod):
    name, label = GradingMethodName.HIGHEST, "Highest attempt"

    def pick(self, attempts: Sequence[Scored]) -> float | None:
        return max((a.percent for a in attempts if a.percent is not None), default=None)


class Latest(GradingMethod):
    name, label = GradingMethodName.LATEST, "Latest attempt"

    def pick(self, attempts: Sequence[Scored]) -> float | None:
        scored = [a for a in attempts if a.percent is not None]
        return max(scored, key=lambda a: a.number).percent if scored else None


class Average(GradingMethod):
    name, label = GradingMethodName.AVERAGE, "Average of attempts"

    def pick(self, attempts: Sequence[Scored]) -> float | None:
        scored = [a.percent for a in attempts if a.percent is not None]
        return round(sum(scored) / len(scored), 2) if scored else None


class First(GradingMethod):
    name, label = GradingMethodName.FIRST, "First attempt"

    def pick(self, attempts: Sequence[Scored]) -> float | None:
        scored = [a for a in attempts if a.percent is not None]
        return min(scored, key=lambda a: a.number).percent if scored else None


GRADING_METHODS: dict[GradingMethodName, GradingMethod] = {m.name: m for m in (Highest(), Latest(), Average(), First())}


class ReviewPolicy(ABC):
    name: ClassVar[ReviewPolicyName]
    label: ClassVar[str]

    @abstractmethod
    def shows_answers(self, now: datetime, closes_at: datetime | None) -> bool: ...


class Immediately(ReviewPolicy):
    name, label = ReviewPolicyName.IMMEDIATELY, "Right after each attempt"

    def shows_answers(self, now: datetime, closes_at: datetime | None) -> bool:
        return True


class AfterClose(ReviewPolicy):
    name, label = ReviewPolicyName.AFTER_CLOSE, "Once the quiz has closed"

    def shows_answers(self, now: datetime, closes_at: datetime | None) -> bool:
        return closes_at is not None and now >= closes_at


class Never(ReviewPolicy):
    name, label = ReviewPolicyName.NEVER, "Never"

    def shows_answers(self, now: datetime, closes_at: datetime | None) -> bool:
        return False


REVIEW_POLICIES: dict[ReviewPolicyName, ReviewPolicy] = {p.name: p for p in (Immediately(), AfterClose(), Never())}
