"""How a demo learner fills in a quiz page: a registry of small classes, one per question
type, each giving the form fields of a right or a wrong answer, exactly as a browser would
post them, so the demo's attempts go through the real saving and scoring."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from werkzeug.datastructures import MultiDict

from lms.assessment.kinds import QuestionKind
from lms.assessment.questions import (
    EssaySpec,
    Matching,
    MatchingSpec,
    MultipleSpec,
    NumericalSpec,
    OrderingSpec,
    QuestionSpec,
    ShortSpec,
    SingleSpec,
    TrueFalseSpec,
    parts_of,
)
from lms.assessment.services import field_name

Fields = list[tuple[str, str]]

GOOD_ESSAY = (
    "I would start from the numbers we already have: last month's figures and the target. "
    "Sam owns the weekly check and the alert; if it fires twice in a row we roll back to the "
    "last release in the registry and write down what we learned. Cost: about two hours a week."
)
THIN_ESSAY = "We should keep an eye on it and fix problems when customers complain."


class Answerer(ABC):
    type: ClassVar[QuestionKind]

    @abstractmethod
    def fields(self, part: Any, name: str, right: bool, rng: random.Random) -> Fields:
        """The posted fields for this part: the right answer, or a plausible wrong one."""


class SingleAnswer(Answerer):
    type = QuestionKind.SINGLE

    def fields(self, part: SingleSpec, name: str, right: bool, rng: random.Random) -> Fields:
        options = [o.id for o in part.options if o.correct == right]
        return [(name, rng.choice(options))]


class MultipleAnswer(Answerer):
    type = QuestionKind.MULTIPLE

    def fields(self, part: MultipleSpec, name: str, right: bool, rng: random.Random) -> Fields:
        good = [o.id for o in part.options if o.weight > 0]
        bad = [o.id for o in part.options if o.weight <= 0]
        # A wrong answer: half the right options and one wrong one, for partial or no credit.
        chosen = good if right or not bad else rng.sample(good, len(good) // 2) + [rng.choice(bad)]
        return [(name, option) for option in chosen]


class TrueFalseAnswer(Answerer):
    type = QuestionKind.TRUE_FALSE

    def fields(self, part: TrueFalseSpec, name: str, right: bool, rng: random.Random) -> Fields:
        return [(name, "true" if part.answer == right else "false")]


class ShortAnswer(Answerer):
    type = QuestionKind.SHORT

    def fields(self, part: ShortSpec, name: str, right: bool, rng: random.Random) -> Fields:
        if not right:
            return [(name, rng.choice(["not sure", "the dashboard", "ask the team"]))]
        best = next(a for a in part.answers if a.weight == 100)
        return [(name, best.text.replace("*", "x"))]  # "*" accepts any text


class NumericalAnswer(Answerer):
    type = QuestionKind.NUMERICAL

    def fields(self, part: NumericalSpec, name: str, right: bool, rng: random.Random) -> Fields:
        if not right:
            return [(name, str(rng.choice([-987654, 123456789])))]
        best = next(a for a in part.answers if a.weight == 100)
        if best.value is not None:
            value = best.value
        else:
            assert best.min is not None and best.max is not None  # NumericAnswer: without a value both bounds are set
            value = (best.min + best.max) / 2
        return [(name, repr(float(value)))]


class MatchingAnswer(Answerer):
    type = QuestionKind.MATCHING

    def fields(self, part: MatchingSpec, name: str, right: bool, rng: random.Random) -> Fields:
        choices = Matching().choices(part)
        by_text = {" ".join(text.lower().split()): cid for cid, text in choices.items()}
        correct = [by_text[" ".join(pair.right.lower().split())] for pair in part.pairs]
        shift = 0 if right else rng.randrange(1, len(correct))
        return [(f"{name}-{i}", correct[(i + shift) % len(correct)]) for i in range(len(correct))]


class OrderingAnswer(Answerer):
    type = QuestionKind.ORDERING

    def fields(self, part: OrderingSpec, name: str, right: bool, rng: random.Random) -> Fields:
        n = len(part.items)
        positions = list(range(1, n + 1)) if right else list(range(n, 0, -1))
        return [(f"{name}-i{i}", str(position)) for i, position in enumerate(positions)]


class EssayAnswer(Answerer):
    type = QuestionKind.ESSAY

    def fields(self, part: EssaySpec, name: str, right: bool, rng: random.Random) -> Fields:
        return [(name, GOOD_ESSAY if right else THIN_ESSAY)]


ANSWERERS: dict[QuestionKind, Answerer] = {a.type: a for a in (
    SingleAnswer(), MultipleAnswer(), TrueFalseAnswer(), ShortAnswer(), NumericalAnswer(),
    MatchingAnswer(), OrderingAnswer(), EssayAnswer())}


def page_form(spec: QuestionSpec, page: int, skill: float, rng: random.Random) -> MultiDict[str, str]:
    """A page's posted form for a learner who gets each part right with probability ``skill``."""
    fields: Fields = []
    for part in parts_of(spec):
        fields += ANSWERERS[part.type].fields(part, field_name(page, part, spec), rng.random() < skill, rng)
    return MultiDict(fields)
