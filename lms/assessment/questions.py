"""Question types: a registry of small classes. Each type owns its file schema (a
pydantic model, validated by the content loader with file and line), how an answer is
read from a submitted form (refusing anything the question does not offer), how it is
scored (a fraction of the points; None when a person grades it) and what feedback shows.
The validated models travel as they are: question versions store and load them, and the
types read their attributes."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lms.assessment.kinds import QuestionKind

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=120)]
Code = Annotated[str, StringConstraints(pattern=r"^(KO|SO|AO)[0-9]{1,2}$")]


def _sentence(text: str) -> str:
    if len(text.split()) < 4:
        raise ValueError("give the reason in a sentence (four words or more)")
    return text


# Why an item may break a bank-lint rule (lms/assessment/lint.py). An author's note, not
# content: kept out of the stored version and its checksum.
Reason = Annotated[Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_sentence)] | None,
                   Field(exclude=True)]


class AnswerError(ValueError):
    """Input the question does not accept (malformed or tampered); nothing is saved.
    ``field``: the form field it was read from, once known (``services.save_page`` adds it),
    so the page shown again marks that answer and ties the message to it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseQuestion(Spec):
    id: Slug
    objectives: list[Code] = Field(min_length=1)
    points: float = Field(default=1, gt=0, le=100)
    text: Text
    feedback: str = ""
    pool: Slug | None = None


class Option(Spec):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=20)]
    text: Text
    correct: bool = False
    weight: float = Field(default=0, ge=-100, le=100)
    # Single choice: the share of the points (percent) this option earns when it is not the
    # correct one; partial credit, or a penalty when negative (a question never scores below 0).
    credit: float | None = Field(default=None, ge=-100, le=100)
    feedback: str = ""


def _unique_ids(options: list[Option]) -> None:
    ids = [o.id for o in options]
    if len(ids) != len(set(ids)):
        raise ValueError("option ids must be unique within the question")


class SingleSpec(BaseQuestion):
    type: Literal[QuestionKind.SINGLE]
    options: list[Option] = Field(min_length=2)
    uneven_options: Reason = None

    @model_validator(mode="after")
    def _one_correct(self) -> SingleSpec:
        _unique_ids(self.options)
        if sum(o.correct for o in self.options) != 1:
            raise ValueError("a single-choice question needs exactly one option with correct: true")
        if any(o.correct and o.credit is not None for o in self.options):
            raise ValueError("the correct option earns all the points: give credit only to the other options")
        if any(o.weight for o in self.options):
            raise ValueError("single-choice options take credit (percent), not weight")
        return self


class MultipleSpec(BaseQuestion):
    type: Literal[QuestionKind.MULTIPLE]
    options: list[Option] = Field(min_length=2)
    uneven_options: Reason = None

    @model_validator(mode="after")
    def _weights(self) -> MultipleSpec:
        _unique_ids(self.options)
        if any(o.credit is not None or o.correct for o in self.options):
            raise ValueError("multiple-answer options take a weight (percent), not credit or correct")
        positive = sum(o.weight for o in self.options if o.weight > 0)
        if not math.isclose(positive, 100, abs_tol=0.01):
            raise ValueError(f"the positive option weights must add up to 100 (they add up to {positive:g})")
        return self


class TrueFalseSpec(BaseQuestion):
    type: Literal[QuestionKind.TRUE_FALSE]
    answer: bool
    feedback_true: str = ""
    feedback_false: str = ""


class ShortAnswer(Spec):
    text: Text
    weight: float = Field(default=100, ge=0, le=100)  # 0: a known wrong answer (``*`` for any other), for its feedback
    feedback: str = ""


class WeightedAnswersSpec(BaseQuestion):
    """Short and numerical questions: several accepted answers, one worth full marks."""

    answers: list[Any] = Field(min_length=1)  # each subclass names its kind of answer

    @model_validator(mode="after")
    def _full_marks(self) -> WeightedAnswersSpec:
        if max(a.weight for a in self.answers) != 100:
            raise ValueError("at least one accepted answer must be worth 100")
        return self


class ShortSpec(WeightedAnswersSpec):
    type: Literal[QuestionKind.SHORT]
    answers: list[ShortAnswer] = Field(min_length=1)


class NumericAnswer(Spec):
    value: float | None = None
    tolerance: float = Field(default=0, ge=0)
    min: float | None = None
    max: float | None = None
    weight: float = Field(default=100, ge=0, le=100)  # 0: a known wrong answer, for its feedback
    feedback: str = ""

    @model_validator(mode="after")
    def _shape(self) -> NumericAnswer:
        if self.value is None and (self.min is None or self.max is None):
            raise ValueError("give either value (with an optional tolerance) or both min and max")
        if self.value is not None and (self.min is not None or self.max is not None):
            raise ValueError("give value or min/max, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self

    def matches(self, number: float) -> bool:
        if self.value is not None:
            return abs(number - self.value) <= self.tolerance + 1e-9
        assert self.min is not None and self.max is not None  # _shape: without a value both bounds are set
        return self.min <= number <= self.max


class NumericalSpec(WeightedAnswersSpec):
    type: Literal[QuestionKind.NUMERICAL]
    answers: list[NumericAnswer] = Field(min_length=1)
    feedback_other: str = ""  # shown for a number no answer matches (GIFT's ``~#...``)


class Pair(Spec):
    left: Text
    right: Text


class MatchingSpec(BaseQuestion):
    type: Literal[QuestionKind.MATCHING]
    pairs: list[Pair] = Field(min_length=2)
    distractors: list[Text] = []


class OrderingSpec(BaseQuestion):
    type: Literal[QuestionKind.ORDERING]
    items: list[Text] = Field(min_length=3)


class EssaySpec(BaseQuestion):
    type: Literal[QuestionKind.ESSAY]
    guidance: str = ""
    min_words: int = Field(default=0, ge=0)


# A question of one part, or one of a scenario's sub-questions.
PartSpec = SingleSpec | MultipleSpec | TrueFalseSpec | ShortSpec | NumericalSpec | MatchingSpec | OrderingSpec | EssaySpec
Part = Annotated[PartSpec, Field(discriminator="type")]


class ScenarioSpec(Spec):
    id: Slug
    type: Literal[QuestionKind.SCENARIO]
    case: Text
    text: str = ""
    feedback: str = ""
    pool: Slug | None = None
    objectives: list[Code] = []
    points: float | None = None
    questions: list[Part] = Field(min_length=2)

    @model_validator(mode="after")
    def _parts(self) -> ScenarioSpec:
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError("sub-question ids must be unique within the scenario")
        if all(q.type == QuestionKind.ESSAY for q in self.questions):
            raise ValueError("a scenario needs at least one automatically scored sub-question")
        if any(q.pool for q in self.questions):
            raise ValueError("sub-questions cannot have a pool of their own; put the scenario in the pool")
        return self


class DescriptionSpec(Spec):
    """Text shown among the questions (an introduction, a case to read): nothing to answer,
    no points; scoring, evidence and statistics pass it by (it has no parts)."""

    id: Slug
    type: Literal[QuestionKind.DESCRIPTION]
    text: Text
    feedback: str = ""
    pool: Slug | None = None
    objectives: list[Code] = []
    points: Literal[0] = 0


QuestionSpec = PartSpec | ScenarioSpec | DescriptionSpec
AnyQuestion = Annotated[QuestionSpec, Field(discriminator="type")]


# --------------------------------------------------------------------------- types

Form = Mapping[str, Any]  # a MultiDict-like: .get(name) and .getlist(name)
S = TypeVar("S", bound=BaseQuestion)


def _one(form: Form, name: str) -> str | None:
    values = form.getlist(name) if hasattr(form, "getlist") else ([form[name]] if name in form else [])
    if len(values) > 1:
        raise AnswerError("Give one answer.")
    return values[0] if values else None


class QuestionType(ABC, Generic[S]):
    name: ClassVar[QuestionKind]
    label: ClassVar[str]
    auto_scored: ClassVar[bool] = True

    def shuffle_ids(self, spec: S) -> list[str]:
        """Ids whose display order is shuffled per attempt (empty: nothing to shuffle)."""
        return []

    @abstractmethod
    def read(self, spec: S, form: Form, field: str) -> dict[str, Any] | None:
        """The answer in ``form`` (None if left blank); AnswerError for tampered input."""

    @abstractmethod
    def score(self, spec: S, answer: dict[str, Any] | None) -> float | None:
        """Fraction of the points, 0..1; None when a person must grade it."""

    def feedback(self, spec: S, answer: dict[str, Any] | None) -> list[str]:
        return []

    @abstractmethod
    def correct_answer(self, spec: S) -> str: ...

    def describe(self, spec: S, answer: dict[str, Any] | None) -> str:
        """The answer as text, for statistics and review."""
        return "" if answer is None else str(next(iter(answer.values()), ""))


class Single(QuestionType[SingleSpec]):
    name, label = QuestionKind.SINGLE, "Single choice"

    def shuffle_ids(self, spec: SingleSpec) -> list[str]:
        return [o.id for o in spec.options]

    def read(self, spec: SingleSpec, form: Form, field: str) -> dict[str, Any] | None:
        choice = _one(form, field)
        if choice is None or choice == "":
            return None
        if choice not in {o.id for o in spec.options}:
            raise AnswerError("That option is not part of this question.")
        return {"option": choice}

    def score(self, spec: SingleSpec, answer: dict[str, Any] | None) -> float | None:
        if not answer:
            return 0.0
        chosen = next((o for o in spec.options if o.id == answer["option"]), None)
        if chosen is None:
            return 0.0
        if chosen.correct:
            return 1.0
        return max(0.0, min(1.0, (chosen.credit or 0) / 100))

    def feedback(self, spec: SingleSpec, answer: dict[str, Any] | None) -> list[str]:
        return [o.feedback for o in spec.options if answer and o.id == answer["option"] and o.feedback]

    def correct_answer(self, spec: SingleSpec) -> str:
        right = next(o.text for o in spec.options if o.correct)
        partial = [f"{o.text} ({o.credit:g}%)" for o in spec.options if not o.correct and o.credit]
        return right + (f" (partial credit: {'; '.join(partial)})" if partial else "")

    def describe(self, spec: SingleSpec, answer: dict[str, Any] | None) -> str:
        return "" if not answer else next((o.text for o in spec.options if o.id == answer["option"]), "")


class Multiple(QuestionType[MultipleSpec]):
    name, label = QuestionKind.MULTIPLE, "Multiple answers"

    def shuffle_ids(self, spec: MultipleSpec) -> list[str]:
        return [o.id for o in spec.options]

    def read(self, spec: MultipleSpec, form: Form, field: str) -> dict[str, Any] | None:
        chosen = [v for v in (form.getlist(field) if hasattr(form, "getlist") else []) if v]
        known = {o.id for o in spec.options}
        if any(c not in known for c in chosen):
            raise AnswerError("That option is not part of this question.")
        if len(set(chosen)) != len(chosen):
            raise AnswerError("An option was sent twice.")
        return {"options": sorted(chosen)} if chosen else None

    def score(self, spec: MultipleSpec, answer: dict[str, Any] | None) -> float | None:
        if not answer:
            return 0.0
        total = sum(o.weight for o in spec.options if o.id in answer["options"])
        return max(0.0, min(1.0, total / 100))

    def feedback(self, spec: MultipleSpec, answer: dict[str, Any] | None) -> list[str]:
        return [o.feedback for o in spec.options if answer and o.id in answer["options"] and o.feedback]

    def correct_answer(self, spec: MultipleSpec) -> str:
        return "; ".join(o.text for o in spec.options if o.weight > 0)

    def describe(self, spec: MultipleSpec, answer: dict[str, Any] | None) -> str:
        return "" if not answer else "; ".join(o.text for o in spec.options if o.id in answer["options"])


class TrueFalse(QuestionType[TrueFalseSpec]):
    name, label = QuestionKind.TRUE_FALSE, "True or false"

    def read(self, spec: TrueFalseSpec, form: Form, field: str) -> dict[str, Any] | None:
        value = _one(form, field)
        if value in (None, ""):
            return None
        if value not in ("true", "false"):
            raise AnswerError("Answer true or false.")
        return {"value": value == "true"}

    def score(self, spec: TrueFalseSpec, answer: dict[str, Any] | None) -> float | None:
        return 1.0 if answer and answer["value"] == spec.answer else 0.0

    def feedback(self, spec: TrueFalseSpec, answer: dict[str, Any] | None) -> list[str]:
        if not answer:
            return []
        text = spec.feedback_true if answer["value"] else spec.feedback_false
        return [text] if text else []

    def correct_answer(self, spec: TrueFalseSpec) -> str:
        return "True" if spec.answer else "False"

    def describe(self, spec: TrueFalseSpec, answer: dict[str, Any] | None) -> str:
        return "" if not answer else ("True" if answer["value"] else "False")


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


W = TypeVar("W", ShortSpec, NumericalSpec)


class WeightedAnswers(QuestionType[W]):
    """Scores by the best-weighted accepted answer that the given answer matches."""

    @abstractmethod
    def matches(self, accepted: Any, answer: dict[str, Any]) -> bool: ...

    def _best(self, spec: W, answer: dict[str, Any] | None) -> ShortAnswer | NumericAnswer | None:
        if not answer:
            return None
        return max((a for a in spec.answers if self.matches(a, answer)), key=lambda a: a.weight, default=None)

    def score(self, spec: W, answer: dict[str, Any] | None) -> float | None:
        best = self._best(spec, answer)
        return best.weight / 100 if best else 0.0

    def feedback(self, spec: W, answer: dict[str, Any] | None) -> list[str]:
        best = self._best(spec, answer)
        if best is None and answer and isinstance(spec, NumericalSpec) and spec.feedback_other:
            return [spec.feedback_other]
        return [best.feedback] if best and best.feedback else []


class Short(WeightedAnswers[ShortSpec]):
    name, label = QuestionKind.SHORT, "Short answer"

    def read(self, spec: ShortSpec, form: Form, field: str) -> dict[str, Any] | None:
        text = (_one(form, field) or "").strip()
        if len(text) > 500:
            raise AnswerError("Keep the answer under 500 characters.")
        return {"text": text} if text else None

    def matches(self, accepted: ShortAnswer, answer: dict[str, Any]) -> bool:
        """Case- and spacing-insensitive; ``*`` stands for any text, nothing else is special."""
        pattern = ".*".join(map(re.escape, _normalise(accepted.text).split("*")))
        return re.fullmatch(pattern, _normalise(answer["text"]), re.S) is not None

    def correct_answer(self, spec: ShortSpec) -> str:
        """A model answer for the learner's review. The accepted answers are patterns for
        authors (``*`` for any text), not answers to show: the first full-marks answer (the
        one the author put first, the usual wording, where later ones accept abbreviations
        such as "ttv") with each wildcard read as a space and the spaces tidied
        ("time*to*value" reads "time to value", "a relative*" "a relative"); staff see
        every pattern in the quiz file."""
        full = [a.text for a in spec.answers if a.weight == 100]
        return next((tidied for text in full if (tidied := " ".join(text.replace("*", " ").split()))), "")


class Numerical(WeightedAnswers[NumericalSpec]):
    name, label = QuestionKind.NUMERICAL, "Numerical"

    def read(self, spec: NumericalSpec, form: Form, field: str) -> dict[str, Any] | None:
        raw = (_one(form, field) or "").strip()
        if not raw:
            return None
        if "," in raw:
            raise AnswerError("Write the number without commas; use a point for decimals (e.g. 1234.5).")
        try:
            number = float(raw.rstrip("%").strip())
        except ValueError as exc:
            raise AnswerError(f"{raw!r} is not a number.") from exc
        if not math.isfinite(number):
            raise AnswerError("Give a finite number.")
        return {"value": number}

    def matches(self, accepted: NumericAnswer, answer: dict[str, Any]) -> bool:
        return accepted.matches(answer["value"])

    def correct_answer(self, spec: NumericalSpec) -> str:
        best = next(a for a in spec.answers if a.weight == 100)  # the spec has one (_full_marks)
        if best.value is not None:
            return f"{best.value:g}" + (f" (± {best.tolerance:g})" if best.tolerance else "")
        return f"between {best.min:g} and {best.max:g}"

    def describe(self, spec: NumericalSpec, answer: dict[str, Any] | None) -> str:
        return "" if not answer else f"{answer['value']:g}"


class Matching(QuestionType[MatchingSpec]):
    """Each left-hand item is matched to one right-hand text. Choices have ids (r0.. for
    the pairs' right sides, d0.. for distractors); a text that several pairs share is
    offered once, and a match is right when its text is the pair's right-hand text."""

    name, label = QuestionKind.MATCHING, "Matching"

    def choices(self, spec: MatchingSpec) -> dict[str, str]:
        out: dict[str, str] = {}
        texts = [(f"r{i}", p.right) for i, p in enumerate(spec.pairs)]
        texts += [(f"d{i}", text) for i, text in enumerate(spec.distractors)]
        for cid, text in texts:
            if _normalise(text) not in {_normalise(t) for t in out.values()}:
                out[cid] = text
        return out

    def shuffle_ids(self, spec: MatchingSpec) -> list[str]:
        return list(self.choices(spec))

    def read(self, spec: MatchingSpec, form: Form, field: str) -> dict[str, Any] | None:
        known = self.choices(spec)
        matched: dict[str, str] = {}
        for i in range(len(spec.pairs)):
            value = _one(form, f"{field}-{i}")
            if value in (None, ""):
                continue
            if value not in known:
                raise AnswerError("That choice is not part of this question.")
            matched[str(i)] = value
        return {"pairs": matched} if matched else None

    def score(self, spec: MatchingSpec, answer: dict[str, Any] | None) -> float | None:
        if not answer:
            return 0.0
        known = self.choices(spec)
        right = sum(1 for i, pair in enumerate(spec.pairs)
                    if _normalise(known.get(answer["pairs"].get(str(i), ""), "")) == _normalise(pair.right))
        return right / len(spec.pairs)

    def correct_answer(self, spec: MatchingSpec) -> str:
        return "; ".join(f"{p.left} → {p.right}" for p in spec.pairs)

    def describe(self, spec: MatchingSpec, answer: dict[str, Any] | None) -> str:
        if not answer:
            return ""
        known = self.choices(spec)
        return "; ".join(f"{spec.pairs[int(i)].left} → {known.get(v, '?')}" for i, v in sorted(answer["pairs"].items()))


class Ordering(QuestionType[OrderingSpec]):
    """Items i0..in-1 in their correct order; the learner gives each a position 1..n."""

    name, label = QuestionKind.ORDERING, "Ordering"

    def shuffle_ids(self, spec: OrderingSpec) -> list[str]:
        return [f"i{i}" for i in range(len(spec.items))]

    def read(self, spec: OrderingSpec, form: Form, field: str) -> dict[str, Any] | None:
        n = len(spec.items)
        positions: dict[str, int] = {}
        for i in range(n):
            value = _one(form, f"{field}-i{i}")
            if value in (None, ""):
                continue
            if not value.isdecimal() or len(value) > 4 or not 1 <= int(value) <= n:
                raise AnswerError(f"Positions run from 1 to {n}.")
            positions[f"i{i}"] = int(value)
        if not positions:
            return None
        if len(set(positions.values())) != len(positions):
            raise AnswerError("Give each item a different position.")
        return {"positions": positions}

    def score(self, spec: OrderingSpec, answer: dict[str, Any] | None) -> float | None:
        if not answer:
            return 0.0
        n = len(spec.items)
        return sum(1 for i in range(n) if answer["positions"].get(f"i{i}") == i + 1) / n

    def correct_answer(self, spec: OrderingSpec) -> str:
        return " → ".join(spec.items)

    def describe(self, spec: OrderingSpec, answer: dict[str, Any] | None) -> str:
        if not answer:
            return ""
        order = sorted(answer["positions"].items(), key=lambda kv: kv[1])
        return " → ".join(spec.items[int(k[1:])] for k, _ in order)


class Essay(QuestionType[EssaySpec]):
    name, label = QuestionKind.ESSAY, "Essay"
    auto_scored = False

    def read(self, spec: EssaySpec, form: Form, field: str) -> dict[str, Any] | None:
        text = (_one(form, field) or "").strip()
        if len(text) > 20_000:
            raise AnswerError("Keep the answer under 20,000 characters.")
        return {"text": text} if text else None

    def score(self, spec: EssaySpec, answer: dict[str, Any] | None) -> float | None:
        return 0.0 if not answer else None  # a blank essay scores nothing; a written one is graded

    def correct_answer(self, spec: EssaySpec) -> str:
        return spec.guidance


QUESTION_TYPES: dict[QuestionKind, QuestionType[Any]] = {t.name: t for t in (
    Single(), Multiple(), TrueFalse(), Short(), Numerical(), Matching(), Ordering(), Essay())}


def question_type(name: QuestionKind | str) -> QuestionType[Any]:
    return QUESTION_TYPES[QuestionKind(name)]


def type_of(part: PartSpec) -> QuestionType[Any]:
    """The question type that reads, scores and describes ``part``."""
    return QUESTION_TYPES[part.type]


def parts_of(spec: QuestionSpec) -> list[PartSpec]:
    """The answerable parts of a question: itself, a scenario's sub-questions, or none (a description)."""
    if isinstance(spec, DescriptionSpec):
        return []
    return list(spec.questions) if isinstance(spec, ScenarioSpec) else [spec]


def part_key(spec: QuestionSpec, part: PartSpec) -> str:
    """How responses name a part: "" for a question of one part, else the sub-question's id."""
    return "" if part is spec else part.id


def part_named(spec: QuestionSpec, key: str) -> PartSpec:
    """The part a response answered (``key`` as ``part_key`` gives it)."""
    return next(p for p in parts_of(spec) if part_key(spec, p) == key)


def objectives_of(spec: QuestionSpec) -> list[str]:
    codes = list(spec.objectives)
    for part in parts_of(spec):
        codes.extend(c for c in part.objectives if c not in codes)
    return codes


def points_of(spec: QuestionSpec) -> float:
    return sum(float(p.points) for p in parts_of(spec))
