"""Reading GIFT (Moodle's plain-text question format) into our quiz format.

``parse_gift`` reads GIFT text into question dicts of our quiz format (quizzes/README.md),
as ``yaml.safe_load`` would give them. Nothing is dropped in silence: whatever cannot be
read is reported with its line. Writing is ``lms/assessment/gift_writer.py``.

Reading, kind by kind (``{...}`` is the answer block)::

    Who wrote it? {=Ada#Yes. ~%50%Alan#Half. ~Bob#No.}   single: the = answer is right, ~%w% earns w% (credit)
    Pick two {~%50%a ~%50%b ~%-100%c}           multiple: ~%w% weights, may be negative
    The sky is blue. {T#shown if wrong#shown if right}           true_false
    A cat? {=cat =%50%kitten =ca* =%0%*#no}                      short; * is our wildcard, 0% answers for feedback
    Pi? {#3.14:0.01}  Between? {#1..5}  {# =3.14:0.01 =%50%3:0.2#close ~#wrong}  numerical
    Match {=a -> 1 =b -> 2 = -> distractor}                      matching (2+ pairs)
    Write about it. {}                                           essay
    Read this first.                                             description: text, no block
    The sky is {=blue ~red} today.               missing word: the block becomes "_____"

plus ``::name::`` (the slug of the name is the question id; unnamed questions are
``gift-q<n>``, n counting the questions of the file), ``$CATEGORY: path`` lines (each
question's category is in ``GiftResult.categories``), ``//`` comment lines,
``[markdown]``/``[html]``/``[plain]``/``[moodle]`` text prefixes (markdown kept as written;
html and moodle sanitised, and stripped of tags in answer texts; plain escaped for
Markdown; answers without a prefix take their question's), ``####general feedback`` at the
end of a block, per-answer ``#feedback``, and the escapes ``\\~ \\= \\# \\{ \\} \\: \\n \\\\``
and ``\\>`` (ours: the exporter writes ``-\\>`` so that a ``->`` in an answer is not taken
for a matching pair).

As in Moodle, an ``=`` answer makes a block single choice (its first bare ``=`` answer is
the correct option; the others earn their %weight% as credit, a second ``=`` 100%); a
block of ``~`` answers is multiple answer. One exception: ``{=%50%a =%50%b ~c}``, which
Moodle refuses as single choice (nothing is worth 100%), reads as multiple answer.

Still refused, with the line, as Moodle would refuse them or as our format cannot hold
them: lower-case ``{true}``, answers without a marker, ``->`` in a block with ``~``, short
and numerical weights outside 0..100, unknown escapes (LaTeX ``\\(`` included: write
``\\\\(``). Moodle 4's ``// [id:...]`` and ``// [tag:...]`` comments are read as plain comments.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import nh3

from lms.assessment.gift_syntax import ESCAPES, FORMAT_PREFIX, PLACEHOLDER
from lms.assessment.kinds import QuestionKind
from lms.web.markdown import sanitise

__all__ = ["GiftProblem", "GiftResult", "parse_gift", "slugify"]


@dataclass
class GiftProblem:
    line: int
    message: str
    path: str = "<gift>"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class GiftResult:
    questions: list[dict[str, Any]] = field(default_factory=list)
    # question id -> the $CATEGORY path in force where the question was read. Kept out of
    # the question dicts: the quiz schema forbids keys it does not know.
    categories: dict[str, str] = field(default_factory=dict)
    problems: list[GiftProblem] = field(default_factory=list)


# ``_decode`` turns the placeholders of escaped characters into the literals.
_LITERALS = {v: ("\n" if k == "n" else k) for k, v in ESCAPES.items()}
_DECODE = str.maketrans(_LITERALS)

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WEIGHT = re.compile(r"%\s*([-+]?[\d.]+)\s*%")
_TRUE_FALSE = {"T": True, "TRUE": True, "F": False, "FALSE": False}


class _Error(Exception):
    """The question being read is malformed; ``pos`` is an offset into the question text."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def _decode(text: str) -> str:
    return text.translate(_DECODE)


def _format_of(text: str) -> str | None:
    match = FORMAT_PREFIX.match(text)
    return match.group(1).lower() if match else None


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _clean(text: str, default: str | None = None) -> str:
    """A text as our format keeps it (Markdown): format prefix removed, escapes resolved,
    trimmed. ``[html]`` and ``[moodle]`` texts are sanitised (the tags we render are kept,
    scripts and event handlers go), ``[plain]`` texts have Markdown's characters escaped;
    ``[markdown]`` and unmarked texts are kept as written. A text without a prefix takes
    ``default``, the format of its question's text, as in Moodle."""
    fmt = _format_of(text) or default
    match = FORMAT_PREFIX.match(text)
    if match:
        text = text[match.end():]
    text = _decode(text).strip()
    if fmt in ("html", "moodle") and text:
        text = str(sanitise(text)).strip()
    elif fmt == "plain":
        text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text


def _plain(text: str, default: str | None = None) -> str:
    """An answer text shown as it is (options, short answers, pairs): ``[html]`` and
    ``[moodle]`` answers lose their tags, the rest is kept as written."""
    fmt = _format_of(text) or default
    match = FORMAT_PREFIX.match(text)
    if match:
        text = text[match.end():]
    text = _decode(text).strip()
    if fmt in ("html", "moodle") and text:
        text = html.unescape(nh3.clean(text, tags=set())).strip()
    return text


def _number(raw: str) -> int | float | None:
    raw = raw.strip()
    if not _NUMBER.fullmatch(raw):
        return None
    if re.fullmatch(r"[+-]?\d+", raw):
        return int(raw)
    return float(raw)


def slugify(name: str) -> str:
    """Lower-case a-z, 0-9 and '-', at most 120 characters; '' when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:120].rstrip("-")


@dataclass
class _Chunk:
    """One question's lines: the text with escapes replaced, and where each line starts."""

    text: str
    starts: list[int]  # offset in ``text`` of each kept line
    linenos: list[int]  # its 1-based line number in the file
    category: str | None

    def line_of(self, pos: int) -> int:
        return self.linenos[max(bisect_right(self.starts, pos) - 1, 0)]


def _escape_line(line: str, lineno: int, problems: list[tuple[int, str]]) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\":
            nxt = line[i + 1] if i + 1 < len(line) else ""
            if nxt in ESCAPES and nxt:
                out.append(ESCAPES[nxt])
                i += 2
                continue
            shown = f"unknown escape '\\{nxt}'" if nxt else "a backslash at the end of the line"
            problems.append((lineno, f"{shown}: GIFT escapes are \\~ \\= \\# \\{{ \\}} \\: \\n \\> "
                                     "and \\\\ (write \\\\ for a backslash)"))
            out.append(char)
        elif PLACEHOLDER.match(char):
            problems.append((lineno, f"the private-use character U+{ord(char):04X} cannot be imported"))
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def parse_gift(text: str, path: str = "<gift>") -> GiftResult:
    """Read GIFT text; every question that cannot be read is in ``problems`` with its line."""
    result = GiftResult()
    used: set[str] = set()
    ordinal = 0
    category: str | None = None

    def problem(line: int, message: str) -> None:
        result.problems.append(GiftProblem(line, message, path))

    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    chunks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            current.append((number, line))
        elif current:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)

    for chunk_lines in chunks:
        kept: list[tuple[int, str]] = []
        for number, line in chunk_lines:
            stripped = line.strip()
            if stripped.startswith("//"):
                continue
            if stripped.startswith("$CATEGORY:"):
                if kept:
                    problem(number, "a $CATEGORY line inside a question: leave a blank line before it")
                    kept.append((number, line))  # so that the question is reported, not read
                    continue
                category = stripped[len("$CATEGORY:"):].strip() or None
                if category is None:
                    problem(number, "$CATEGORY without a category path")
                continue
            kept.append((number, line))
        if not kept:
            continue
        ordinal += 1
        first_line = kept[0][0]
        if any(line.strip().startswith("$CATEGORY:") for _, line in kept[1:]):
            continue  # reported above
        escape_problems: list[tuple[int, str]] = []
        starts: list[int] = []
        linenos: list[int] = []
        parts: list[str] = []
        offset = 0
        for number, line in kept:
            escaped = _escape_line(line, number, escape_problems)
            starts.append(offset)
            linenos.append(number)
            parts.append(escaped)
            offset += len(escaped) + 1
        if escape_problems:
            for line_number, message in escape_problems:
                problem(line_number, message)
            continue
        chunk = _Chunk("\n".join(parts), starts, linenos, category)
        try:
            name, question = _read_question(chunk)
        except _Error as error:
            problem(chunk.line_of(error.pos) if error.pos >= 0 else first_line, error.message)
            continue
        base = slugify(name) if name else ""
        question_id = _unique(base or f"gift-q{ordinal}", used)
        question = {"id": question_id, **question}
        result.questions.append(question)
        if category:
            result.categories[question_id] = category
    return result


def _unique(base: str, used: set[str]) -> str:
    candidate, n = base, 1
    while candidate in used:
        n += 1
        suffix = f"-{n}"
        candidate = base[: 120 - len(suffix)].rstrip("-") + suffix
    used.add(candidate)
    return candidate


def _read_question(chunk: _Chunk) -> tuple[str | None, dict[str, Any]]:
    t = chunk.text
    start = len(t) - len(t.lstrip())
    name: str | None = None
    body = start
    if t.startswith("::", start):
        end = t.find("::", start + 2)
        if end < 0:
            raise _Error(start, "the question name opened with :: is not closed with ::")
        name = _decode(t[start + 2:end]).strip() or None
        body = end + 2

    opening = t.find("{", body)
    closing = t.find("}", body)
    if opening < 0 and closing < 0:
        # Moodle's description: text shown among the questions, nothing to answer.
        text = _clean(t[body:])
        if not text:
            raise _Error(start, "the question has no text")
        return name, {"type": QuestionKind.DESCRIPTION.value, "text": text}
    if opening < 0 or 0 <= closing < opening:
        raise _Error(closing, "a } without an opening {; write \\} for a literal brace")
    closing = t.find("}", opening + 1)
    nested = t.find("{", opening + 1)
    if closing < 0 or 0 <= nested < closing:
        where = f" before another {{ on line {chunk.line_of(nested)}" if nested >= 0 else ""
        raise _Error(opening, f"the answer block opened with {{ is not closed{where}")
    after = t[closing + 1:]
    for offset, char in enumerate(after):
        if char in "{}":
            what = ("a second answer block: separate questions with a blank line" if char == "{"
                    else "a } without an opening {; write \\} for a literal brace")
            raise _Error(closing + 1 + offset, what)

    before = t[body:opening]
    raw_text = before + "_____" + after if after.strip() else before
    fmt = _format_of(raw_text)  # the answers' format too, unless they name their own
    text = _clean(raw_text)
    if not text:
        raise _Error(start, "the question has no text")

    block = t[opening + 1:closing]
    block_pos = opening + 1
    feedback = ""
    general = block.rfind("####")
    if general >= 0:
        feedback = _clean(block[general + 4:], fmt)
        block = block[:general]
    lead = len(block) - len(block.lstrip())
    stripped = block.strip()
    pos = block_pos + lead

    question: dict[str, Any] = {"points": 1, "objectives": []}
    if not stripped:
        question.update(type=QuestionKind.ESSAY.value, text=text, feedback=feedback, guidance="")
    elif stripped[0] == "#":
        question.update(type=QuestionKind.NUMERICAL.value, text=text, feedback=feedback,
                        **_numerical(stripped, pos, opening, fmt))
    elif "~" in stripped:
        if "->" in stripped:
            raise _Error(pos + stripped.index("->"),
                         "-> (matching) mixed with ~ (multiple choice) in one answer block")
        question.update(text=text, feedback=feedback, **_choice(stripped, pos, opening, fmt))
    elif "->" in stripped:
        if "=" not in stripped:
            raise _Error(pos, "a matching block needs =left -> right answers")
        question.update(type=QuestionKind.MATCHING.value, text=text, feedback=feedback,
                        **_matching(stripped, pos, fmt))
    else:
        head = stripped.split("#", 1)[0].strip()
        if head in _TRUE_FALSE:
            question.update(type=QuestionKind.TRUE_FALSE.value, text=text, feedback=feedback,
                            **_true_false(stripped, pos, fmt))
        elif head.upper() in _TRUE_FALSE:
            raise _Error(pos, f"{head!r}: write true/false answers as T, TRUE, F or FALSE (capitals)")
        elif stripped[0] == "=":
            question.update(type=QuestionKind.SHORT.value, text=text, feedback=feedback,
                            answers=_short(stripped, pos, opening, fmt))
        else:
            raise _Error(pos, "the answers must start with = or ~ (or the block be #number, T/F or empty)")
    return name, _ordered(question)


def _ordered(question: dict[str, Any]) -> dict[str, Any]:
    order = ["type", "points", "objectives", "text", "feedback"]
    return {**{k: question[k] for k in order}, **{k: v for k, v in question.items() if k not in order}}


@dataclass
class _Answer:
    marker: str
    weight: int | float | None  # explicit %weight%, None when not given
    text: str  # raw (placeholders kept), without the weight
    feedback: str  # raw, '' when none
    pos: int
    has_feedback: bool


def _split(block: str, pos: int, markers: str, leading_ok: bool = False,
           weights: bool = True) -> list[_Answer]:
    """The answers of a block: each starts at an unescaped marker character."""
    at = [i for i, char in enumerate(block) if char in markers]
    pieces: list[tuple[str, int, int]] = []
    if not at or block[: at[0]].strip():
        if not leading_ok:
            raise _Error(pos, f"text before the first answer: each answer starts with {' or '.join(markers)}")
        end = at[0] if at else len(block)
        pieces.append(("", 0, end))
    for k, i in enumerate(at):
        pieces.append((block[i], i + 1, at[k + 1] if k + 1 < len(at) else len(block)))
    answers: list[_Answer] = []
    for marker, begin, end in pieces:
        content = block[begin:end]
        weight: int | float | None = None
        match = _WEIGHT.match(content) if weights else None
        if match:
            weight = _number(match.group(1))
            if weight is None:
                raise _Error(pos + begin, f"bad answer weight %{match.group(1)}%")
            content = content[match.end():]
        text, hash_, feedback = content.partition("#")
        answers.append(_Answer(marker, weight, text, feedback, pos + max(begin - 1, 0), bool(hash_)))
    return answers


def _text_of(answer: _Answer, fmt: str | None, what: str = "answer") -> str:
    text = _plain(answer.text, fmt)
    if not text:
        raise _Error(answer.pos, f"an empty {what}")
    return text


def _choice(block: str, pos: int, opening: int, fmt: str | None) -> dict[str, Any]:
    answers = _split(block, pos, "~=")
    if len(answers) < 2:
        raise _Error(pos, "a multiple-choice block needs at least two answers")
    weights = [a.weight if a.weight is not None else (100 if a.marker == "=" else 0) for a in answers]
    options: list[dict[str, Any]] = [{"id": _option_id(i), "text": _text_of(a, fmt),
                                      "feedback": _clean(a.feedback, fmt)}
                                     for i, a in enumerate(answers)]
    for answer, weight in zip(answers, weights, strict=True):
        if not -100 <= weight <= 100:
            raise _Error(answer.pos, f"the weight {weight:g}% is outside -100..100")
    positive = sum(w for w in weights if w > 0)
    # As in Moodle, an = answer makes the block single choice; one exception keeps the
    # multiple-answer reading of {=%50%a =%50%b ~c}, which Moodle would refuse as single
    # choice (no answer is worth 100%) and whose weights add up like a multiple answer's.
    fits_multiple = 100 not in weights and math.isclose(positive, 100, abs_tol=0.01)
    if any(a.marker == "=" for a in answers) and not fits_multiple:
        if 100 not in weights:
            raise _Error(opening, "a single-choice block (it has an = answer) needs an answer worth 100%")
        # The correct option: the first bare = answer, else the first worth 100%; any other
        # answer earns its credit.
        bare = [i for i, a in enumerate(answers) if a.marker == "=" and a.weight is None]
        right = bare[0] if bare else weights.index(100)
        for index, (option, weight) in enumerate(zip(options, weights, strict=True)):
            if index == right:
                option["correct"] = True
            elif weight:
                option["credit"] = weight
        return {"type": QuestionKind.SINGLE.value, "options": [_option(o) for o in options]}
    if positive == 0:
        raise _Error(opening, "no right answer: mark it with = or give it a positive %weight%")
    if not math.isclose(positive, 100, abs_tol=0.01):
        raise _Error(opening, f"the positive weights add up to {positive:g}%, not 100%")
    for option, weight in zip(options, weights, strict=True):
        option["weight"] = weight
    return {"type": QuestionKind.MULTIPLE.value, "options": [_option(o) for o in options]}


def _option(option: dict[str, Any]) -> dict[str, Any]:
    order = ["id", "text", "correct", "credit", "weight", "feedback"]
    return {k: option[k] for k in order if k in option}


def _option_id(index: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    ident = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        ident = letters[rest] + ident
    return ident


def _check_weight(answer: _Answer) -> int | float:
    weight = 100 if answer.weight is None else answer.weight
    if not 0 <= weight <= 100:
        raise _Error(answer.pos, f"the weight {weight:g}% is not possible here: accepted answers are "
                                 "worth 0% (a known wrong answer, for its feedback) to 100%")
    return weight


def _full_marks(answers: list[dict[str, Any]], opening: int) -> None:
    if max(a["weight"] for a in answers) != 100:
        raise _Error(opening, "no answer is worth 100%")


def _short(block: str, pos: int, opening: int, fmt: str | None) -> list[dict[str, Any]]:
    answers = [{"text": _text_of(a, fmt), "weight": _check_weight(a), "feedback": _clean(a.feedback, fmt)}
               for a in _split(block, pos, "=")]
    _full_marks(answers, opening)
    return answers


def _numerical(block: str, pos: int, opening: int, fmt: str | None) -> dict[str, Any]:
    body = block[1:]
    if not body.strip():
        raise _Error(pos, "a numerical block without an answer")
    result: list[dict[str, Any]] = []
    other: str | None = None
    for answer in _split(body, pos + 1, "=~", leading_ok=True):
        raw = answer.text.strip()  # escaped characters stay placeholders: never a number
        match = FORMAT_PREFIX.match(raw)
        if match:
            raw = raw[match.end():].strip()
        if answer.marker == "~" and raw in ("", "*"):
            # Moodle's wrong-answer feedback: shown for any number no answer matches.
            if other is not None:
                raise _Error(answer.pos, "a second ~ (any other number) in one numerical block")
            if answer.weight not in (None, 0):
                raise _Error(answer.pos, "any other number (~) is worth 0%")
            other = _clean(answer.feedback, fmt)
            continue
        if not raw:
            raise _Error(answer.pos, "an empty numerical answer")
        item: dict[str, Any]
        if ".." in raw:
            low, high = (_number(x) for x in raw.split("..", 1))
            if low is None or high is None:
                raise _Error(answer.pos, f"bad numerical range {raw!r}: write min..max")
            if low > high:
                raise _Error(answer.pos, f"the range {raw!r} has its minimum above its maximum")
            item = {"min": low, "max": high}
        else:
            value_raw, colon, tolerance_raw = raw.partition(":")
            value = _number(value_raw)
            tolerance = _number(tolerance_raw) if colon else 0
            if value is None or tolerance is None:
                raise _Error(answer.pos, f"bad number {raw!r}: write value, value:tolerance or min..max")
            if tolerance < 0:
                raise _Error(answer.pos, f"the tolerance in {raw!r} is negative")
            item = {"value": value, "tolerance": tolerance}
        if answer.marker == "~":
            if answer.weight not in (None, 0):
                raise _Error(answer.pos, "a ~ numerical answer is a wrong one (0%): write =%w% for credit")
            item["weight"] = 0
        else:
            item["weight"] = _check_weight(answer)
        item["feedback"] = _clean(answer.feedback, fmt)
        result.append(item)
    if not result:
        raise _Error(pos, "a numerical block without an answer")
    _full_marks(result, opening)
    return {"answers": result, **({"feedback_other": other} if other else {})}


def _matching(block: str, pos: int, fmt: str | None) -> dict[str, Any]:
    pairs: list[dict[str, str]] = []
    distractors: list[str] = []
    for answer in _split(block, pos, "=", weights=False):  # as in Moodle: %50% is text here
        if answer.has_feedback:
            raise _Error(answer.pos, "matching pairs take no #feedback (write \\# for a literal #)")
        left, arrow, right = answer.text.partition("->")
        if not arrow:
            raise _Error(answer.pos, "a matching answer without ->: write =left -> right")
        left_text, right_text = _plain(left, fmt), _plain(right, fmt)
        if not right_text:
            raise _Error(answer.pos, "a matching pair without a right-hand text")
        if left_text:
            pairs.append({"left": left_text, "right": right_text})
        else:
            distractors.append(right_text)
    if len(pairs) < 2:
        raise _Error(pos, "a matching block needs at least two pairs")
    return {"pairs": pairs, **({"distractors": distractors} if distractors else {})}


def _true_false(block: str, pos: int, fmt: str | None) -> dict[str, Any]:
    head, *feedbacks = block.split("#")
    if len(feedbacks) > 2:
        raise _Error(pos, "true/false takes at most two feedbacks: {T#if wrong#if right}")
    wrong = _clean(feedbacks[0], fmt) if feedbacks else ""
    right = _clean(feedbacks[1], fmt) if len(feedbacks) > 1 else ""
    answer = _TRUE_FALSE[head.strip()]
    # GIFT's first feedback shows for a wrong answer, the second for a right one; ours
    # follow the learner's choice.
    return {"answer": answer,
            "feedback_true": right if answer else wrong,
            "feedback_false": wrong if answer else right}
