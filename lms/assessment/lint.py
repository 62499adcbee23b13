"""The item-bank lint: what `load-content --check` asks of every quiz, exam and check
beyond a valid file. A learner who does not know the answer must not find it from the
items' form (the correct option is the longest, the key is usually "true", one option
stands out by its length, a catch-all option, ticking every option of a multiple-answer
item scores well, or its keys outnumber its wrong options, the answers shown after an attempt while the same questions come back
in the next), must not meet the same question twice, and learns why after every answer.

The rules are a registry of small classes (``RULES``); each reports its problems with the
file and line of what to change. ``Bank.figures`` counts, per quiz, what the rules
measure, for ``flask lms content-stats``."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from lms.assessment.kinds import QuestionKind
from lms.assessment.methods import REVIEW_POLICIES
from lms.assessment.models import ReviewPolicyName
from lms.assessment.questions import (
    EssaySpec,
    MultipleSpec,
    NumericalSpec,
    Option,
    PartSpec,
    QuestionSpec,
    ShortSpec,
    SingleSpec,
    TrueFalseSpec,
    parts_of,
)
from lms.content.source import Location, Problem, line_at

DataPath = tuple[int | str, ...]


def option_length(option: Option) -> int:
    """An option's length as a learner sees it: characters, runs of spaces counted once."""
    return len(" ".join(option.text.split()))


def tick_all_score(part: MultipleSpec) -> Fraction:
    """What a learner scores on a multiple-answer item by ticking every option: the
    weights summed, as a share of the points, never below 0 or above 1 (as ``Multiple.score``)."""
    total = Fraction(sum(Fraction(option.weight) for option in part.options), 100)
    return min(Fraction(1), max(Fraction(0), total))


def stem_words(text: str) -> frozenset[str]:
    """The words of a stem, lower case, for comparing stems."""
    return frozenset(re.findall(r"[a-z0-9%]+", text.lower()))


@dataclass(frozen=True)
class BankItem:
    """One answerable item (a question of one part, or a scenario's sub-question) and
    where its file holds it."""

    quiz: BankQuiz
    part: PartSpec
    loc: DataPath

    def at(self, *more: int | str) -> Location:
        return self.quiz.at(*self.loc, *more)

    @property
    def options(self) -> list[Option]:
        return self.part.options if isinstance(self.part, SingleSpec | MultipleSpec) else []

    @property
    def longest_is_correct(self) -> bool:
        """A single-choice item whose correct option is longer than every other option."""
        if not isinstance(self.part, SingleSpec):
            return False
        lengths = [option_length(o) for o in self.part.options]
        longest = max(lengths)
        return lengths.count(longest) == 1 and self.part.options[lengths.index(longest)].correct


@dataclass(frozen=True)
class AttemptRules:
    """What a quiz's settings say of its attempts, as the lint reads them."""

    attempts_allowed: int  # 0: unlimited
    review: ReviewPolicyName
    practice: bool
    pools: dict[str, int]  # pool -> questions each attempt draws of it


@dataclass(frozen=True, eq=False)
class BankQuiz:
    """One quiz file as the lint reads it: its validated questions and the parsed YAML
    they came from (which knows the lines)."""

    key: str
    path: Path
    data: Any
    questions: Sequence[QuestionSpec]
    rules: AttemptRules | None = None  # None: the attempts are not linted (a bank built by hand)

    def at(self, *loc: int | str) -> Location:
        return Location(self.path, line_at(self.data, loc))

    @cached_property
    def items(self) -> list[BankItem]:
        out = []
        for i, question in enumerate(self.questions):
            for j, part in enumerate(parts_of(question)):
                out.append(BankItem(self, part, ("questions", i) if part is question else ("questions", i, "questions", j)))
        return out

    @cached_property
    def singles(self) -> list[BankItem]:
        return [item for item in self.items if isinstance(item.part, SingleSpec)]

    @cached_property
    def longest_correct(self) -> list[BankItem]:
        return [item for item in self.singles if item.longest_is_correct]

    @cached_property
    def true_false(self) -> list[TrueFalseSpec]:
        return [item.part for item in self.items if isinstance(item.part, TrueFalseSpec)]

    @property
    def true_keys(self) -> int:
        return sum(part.answer for part in self.true_false)

    def seen_share(self, earlier: int | None) -> Fraction:
        """The share of an attempt's questions the learner is expected to have met in
        ``earlier`` attempts before it (None: as many as they like). A question outside
        any pool is in every attempt; a pool of ``n`` questions drawing ``d`` puts each in
        an attempt with the chance d/n, drawn afresh every attempt, so after ``k`` attempts
        a drawn question was met before with the chance 1 - (1 - d/n)^k (1 when d = n,
        and tending to 1 as k grows)."""
        asked = [q for q in self.questions if q.type != QuestionKind.DESCRIPTION]
        pools = self.rules.pools if self.rules else {}
        fixed = sum(1 for q in asked if q.pool is None or q.pool not in pools)
        seen, drawn = Fraction(fixed), Fraction(fixed)
        for pool, draw in pools.items():
            size = sum(1 for q in asked if q.pool == pool)
            take = min(draw, size)
            if not take:
                continue
            chance = Fraction(take, size)
            met = Fraction(1) if earlier is None else 1 - (1 - chance) ** earlier
            seen += take * met
            drawn += take
        return seen / drawn if drawn else Fraction(0)


@dataclass(frozen=True)
class QuizFigures:
    """What the lint measures in one quiz."""

    quiz: str
    path: Path
    questions: int
    singles: int
    longest_correct: int
    true_false: int
    true_keys: int
    near_duplicates: int  # pairs of near-identical stems with at least one item in this quiz

    @property
    def longest_share(self) -> Fraction | None:
        return Fraction(self.longest_correct, self.singles) if self.singles else None

    @property
    def true_share(self) -> Fraction | None:
        return Fraction(self.true_keys, self.true_false) if self.true_false else None


def similar_sets(sets: Sequence[frozenset[str]], threshold: Fraction) -> list[tuple[int, int]]:
    """Index pairs (i < j) of sets whose Jaccard similarity is at least ``threshold``.

    Prefix filtering, so that a bank of thousands of items is not compared pair by pair:
    with the words of every set ordered rarest first, two sets that similar share a word
    among the first ``|s| - ceil(threshold * |s|) + 1`` of each; sets are met smallest
    first and only those sharing such a word, and not too small, are compared."""
    frequency = Counter(word for words in sets for word in words)
    index: defaultdict[str, list[int]] = defaultdict(list)
    pairs: set[tuple[int, int]] = set()
    for i in sorted(range(len(sets)), key=lambda n: len(sets[n])):
        words = sorted(sets[i], key=lambda word: (frequency[word], word))
        size = len(words)
        candidates: set[int] = set()
        for word in words[:size - math.ceil(threshold * size) + 1]:
            candidates.update(j for j in index[word] if len(sets[j]) >= threshold * size)
            index[word].append(i)
        for j in candidates:
            if Fraction(len(sets[i] & sets[j]), len(sets[i] | sets[j])) >= threshold:
                pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


@dataclass
class Bank:
    """Every quiz file of the course, linted together (near-duplicate stems are looked
    for across all of them)."""

    quizzes: Sequence[BankQuiz]

    @cached_property
    def near_duplicates(self) -> list[tuple[BankItem, BankItem]]:
        """Pairs of items whose stems are nearly the same, the earlier item (in file order) first."""
        rule = NearDuplicateStems()
        stems = [item for quiz in self.quizzes for item in quiz.items if len(stem_words(item.part.text)) >= rule.min_words]
        pairs = similar_sets([stem_words(item.part.text) for item in stems], rule.threshold)
        return [(stems[i], stems[j]) for i, j in pairs]

    def problems(self) -> list[Problem]:
        return [problem for rule in RULES.values() for problem in rule.check(self)]

    def figures(self) -> list[QuizFigures]:
        shared: Counter[BankQuiz] = Counter()
        for first, second in self.near_duplicates:
            shared.update({first.quiz, second.quiz})
        return [QuizFigures(quiz=quiz.key, path=quiz.path, questions=len(quiz.questions), singles=len(quiz.singles),
                            longest_correct=len(quiz.longest_correct), true_false=len(quiz.true_false),
                            true_keys=quiz.true_keys, near_duplicates=shared[quiz])
                for quiz in self.quizzes]


# --------------------------------------------------------------------------- rules


def percent(share: Fraction) -> str:
    return f"{float(share):.0%}"


class LintRule(ABC):
    """One thing the bank must keep; its problems start with its name."""

    name: ClassVar[str]

    @abstractmethod
    def check(self, bank: Bank) -> Iterator[Problem]: ...

    def problem(self, location: Location, message: str) -> Problem:
        return Problem(location, f"{self.name}: {message}")


class QuizRule(LintRule):
    """A rule on a quiz as a whole."""

    def check(self, bank: Bank) -> Iterator[Problem]:
        for quiz in bank.quizzes:
            yield from self.check_quiz(quiz)

    @abstractmethod
    def check_quiz(self, quiz: BankQuiz) -> Iterator[Problem]: ...


class ItemRule(LintRule):
    """A rule on each item by itself."""

    def check(self, bank: Bank) -> Iterator[Problem]:
        for quiz in bank.quizzes:
            for item in quiz.items:
                yield from self.check_item(item)

    @abstractmethod
    def check_item(self, item: BankItem) -> Iterator[Problem]: ...


class LongestCorrect(QuizRule):
    """Test-wise learners pick the longest option: in a quiz it may be the correct one in
    at most ``limit`` of the single-choice items."""

    name = "longest-correct"
    limit: ClassVar[Fraction] = Fraction(35, 100)

    def check_quiz(self, quiz: BankQuiz) -> Iterator[Problem]:
        singles, longest = len(quiz.singles), quiz.longest_correct
        if singles and Fraction(len(longest), singles) > self.limit:
            share = Fraction(len(longest), singles)
            yield self.problem(quiz.at("questions"),
                               f"the correct option is the longest in {len(longest)} of {singles} single-choice items "
                               f"({percent(share)}; at most {percent(self.limit)}): "
                               f"{', '.join(item.part.id for item in longest)}. Shorten the correct option or "
                               f"lengthen a distractor in some of them")


class TrueFalseBalance(QuizRule):
    """Learners who always answer "true" must not pass: in a quiz with ``at_least`` true/false
    items, the share of true keys stays within ``keys``."""

    name = "true-false-balance"
    at_least: ClassVar[int] = 5
    keys: ClassVar[tuple[Fraction, Fraction]] = (Fraction(40, 100), Fraction(60, 100))

    def check_quiz(self, quiz: BankQuiz) -> Iterator[Problem]:
        count, true = len(quiz.true_false), quiz.true_keys
        low, high = self.keys
        if count >= self.at_least and not low <= Fraction(true, count) <= high:
            yield self.problem(quiz.at("questions"),
                               f"{true} of {count} true/false keys are true ({percent(Fraction(true, count))}); "
                               f"keep them between {percent(low)} and {percent(high)} true")


class OptionLengths(ItemRule):
    """One option much longer or shorter than the others gives itself away: the longest
    may be at most ``ratio`` times the shortest, unless the item says why (``uneven_options``)."""

    name = "option-lengths"
    ratio: ClassVar[Fraction] = Fraction(5, 2)

    def check_item(self, item: BankItem) -> Iterator[Problem]:
        if not isinstance(item.part, SingleSpec | MultipleSpec):
            return
        lengths = [option_length(o) for o in item.part.options]
        longest, shortest = lengths.index(max(lengths)), lengths.index(min(lengths))
        uneven = Fraction(lengths[longest], lengths[shortest]) > self.ratio
        options = item.part.options
        if uneven and item.part.uneven_options is None:
            yield self.problem(item.at("options", longest, "text"),
                               f"option {options[longest].id!r} has {lengths[longest]} characters, option "
                               f"{options[shortest].id!r} {lengths[shortest]} (more than {float(self.ratio):g} to 1). "
                               f"Even them out, or say why in `uneven_options: <reason>`")
        elif not uneven and item.part.uneven_options is not None:
            yield self.problem(item.at("uneven_options"),
                               f"the options are within {float(self.ratio):g} to 1 of each other; remove uneven_options")


class NearDuplicateStems(LintRule):
    """The same question twice (in one quiz, or in a quiz and an exam) tests memory of the
    first: stems of ``min_words`` words or more may share at most ``threshold`` of their
    words (Jaccard similarity of the word sets)."""

    name = "near-duplicate-stems"
    threshold: ClassVar[Fraction] = Fraction(80, 100)
    min_words: ClassVar[int] = 6

    def check(self, bank: Bank) -> Iterator[Problem]:
        for first, second in bank.near_duplicates:
            a, b = stem_words(first.part.text), stem_words(second.part.text)
            yield self.problem(second.at("text"),
                               f"the stem of {second.part.id!r} is nearly the same as that of {first.part.id!r} "
                               f"at {first.at('text')} ({len(a & b)} of {len(a | b)} words shared); "
                               f"ask something else, or drop one")


class CatchAllOptions(ItemRule):
    """"All of the above" and "none of the above" are answered by spotting two true (or no
    true) options, not by knowing the answer, and break when options are shuffled."""

    name = "all-or-none-of-the-above"
    pattern: ClassVar[re.Pattern[str]] = re.compile(
        r"\b(all|none|both|neither) of (the|these) (above|options|answers)\b", re.IGNORECASE)

    def check_item(self, item: BankItem) -> Iterator[Problem]:
        for k, option in enumerate(item.options):
            if self.pattern.search(option.text):
                yield self.problem(item.at("options", k, "text"),
                                   f"option {option.id!r} is a catch-all ({option.text.strip()!r}); write a real "
                                   f"option, or make the item a multiple-answer question")


class Rationale(ItemRule):
    """Every item tells the learner why once they have answered: its general ``feedback``,
    or the feedback of each choice they can make (every option; both true and false), or
    for short and numerical items an answer's feedback, for an essay its guidance."""

    name = "rationale"

    def explained(self, part: PartSpec) -> bool:
        if part.feedback.strip():
            return True
        if isinstance(part, SingleSpec | MultipleSpec):
            return all(option.feedback.strip() for option in part.options)
        if isinstance(part, TrueFalseSpec):
            return bool(part.feedback_true.strip() and part.feedback_false.strip())
        if isinstance(part, ShortSpec | NumericalSpec):
            return any(answer.feedback.strip() for answer in part.answers)
        if isinstance(part, EssaySpec):
            return bool(part.guidance.strip())
        return False  # matching, ordering: only the general feedback explains

    def check_item(self, item: BankItem) -> Iterator[Problem]:
        if not self.explained(item.part):
            yield self.problem(item.at(), f"{item.part.id!r} shows no rationale after answering: give it a "
                                          f"`feedback` that explains the answer")


class TickEveryOption(ItemRule):
    """A learner who ticks every option of a multiple-answer item knows nothing, so must
    score little: at most ``limit``, what a blind guess earns on a single-choice item of
    four options (the bank's usual form). Wrong options therefore carry negative weights;
    together -100, ticking everything scores 0, as in Moodle."""

    name = "tick-every-option"
    limit: ClassVar[Fraction] = Fraction(1, 4)

    def check_item(self, item: BankItem) -> Iterator[Problem]:
        part = item.part
        if not isinstance(part, MultipleSpec):
            return
        score = tick_all_score(part)
        if all(option.weight > 0 for option in part.options):
            yield self.problem(item.at("options"),
                               f"every option of {part.id!r} is a key, so ticking them all scores {percent(score)}. "
                               f"Add wrong options with negative weights")
        elif not any(option.weight < 0 for option in part.options):
            yield self.problem(item.at("options"),
                               f"no wrong option of {part.id!r} carries a penalty, so ticking every option scores "
                               f"{percent(score)}. Give each wrong option a negative weight (together -100 makes "
                               f"ticking every option score 0)")
        elif score > self.limit:
            yield self.problem(item.at("options"),
                               f"ticking every option of {part.id!r} scores {percent(score)} (at most "
                               f"{percent(self.limit)}, a blind guess on a single-choice item of four options). "
                               f"Make the wrong options' weights more negative, or add a distractor")


class AnswersBeforeLastAttempt(QuizRule):
    """A quiz of several attempts that shows the correct answers straight after each lets
    the next attempt be passed by memory, unless the attempts ask different questions: the
    learner's last attempt may hold at most ``limit`` of questions they are expected to
    have met in the attempts before it (``BankQuiz.seen_share``). With unlimited attempts
    every question comes back sooner or later. Practice (a weekly check, ``practice:
    true``) is for learning, not the record: it shows answers at once by design."""

    name = "answers-before-last-attempt"
    limit: ClassVar[Fraction] = Fraction(1, 2)

    def check_quiz(self, quiz: BankQuiz) -> Iterator[Problem]:
        rules = quiz.rules
        if rules is None or rules.practice or rules.attempts_allowed == 1:
            return
        if not REVIEW_POLICIES[rules.review].while_attempts_remain:
            return
        earlier = rules.attempts_allowed - 1 if rules.attempts_allowed else None
        share = quiz.seen_share(earlier)
        if share <= self.limit:
            return
        attempts = f"{rules.attempts_allowed} attempts" if rules.attempts_allowed else "unlimited attempts"
        met = ("every question comes back sooner or later" if earlier is None else
               f"the last attempt is expected to repeat {percent(share)} of its questions from the "
               f"{earlier} before it (at most {percent(self.limit)}; a pool drawing d of its n questions repeats "
               f"each with the chance d/n an attempt)")
        yield self.problem(quiz.at("settings", "review"),
                           f"review: {rules.review} shows the correct answers after each of {attempts}, and {met}, "
                           f"so a later attempt can be passed from the answers shown. Use `review: "
                           f"{ReviewPolicyName.AFTER_LAST_ATTEMPT}` (or after_close), allow one attempt, or draw "
                           f"fewer questions from larger pools")


class KeysOutnumberWrong(ItemRule):
    """A multiple-answer item with more keys than wrong options is easy to guess: ticking
    the options that sound right scores well. The wrong options (weight 0 or below) must be
    at least as many as the keys. No shipped item is excused: the 44 a QA review found were
    each given the wrong options they lacked, and tests/test_bank_lint.py holds every shipped
    item to the rule. An item with no wrong option at all is ``tick-every-option``'s."""

    name = "more-keys-than-wrong"

    @staticmethod
    def counts(part: MultipleSpec) -> tuple[int, int]:
        """(keys, wrong options) of a multiple-answer item."""
        keys = sum(option.weight > 0 for option in part.options)
        return keys, len(part.options) - keys

    def check_item(self, item: BankItem) -> Iterator[Problem]:
        part = item.part
        if not isinstance(part, MultipleSpec):
            return
        keys, wrong = self.counts(part)
        if wrong and keys > wrong:
            yield self.problem(item.at("options"),
                               f"{part.id!r} has {keys} keys and {wrong} wrong options, so ticking the options that "
                               f"sound right scores well. Add wrong options (each a mistake the lesson warns against, "
                               f"with a negative weight) until they are at least as many as the keys")


RULES: dict[str, LintRule] = {rule.name: rule for rule in (
    LongestCorrect(), TrueFalseBalance(), OptionLengths(), NearDuplicateStems(), CatchAllOptions(), Rationale(),
    TickEveryOption(), AnswersBeforeLastAttempt(), KeysOutnumberWrong())}
