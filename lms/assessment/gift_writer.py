"""Writing a quiz of our format as GIFT (Moodle's plain-text question format).

``export_gift`` writes a quiz dict (quizzes/README.md) as GIFT text. Nothing is dropped in
silence: what GIFT cannot hold is reported per question. Single-choice credit is written
``~%credit%``, 0% short and numerical answers ``=%0%``, a numerical question's feedback for
any other number ``~#...``, a description as its text without a block. Ordering questions are not
written; a scenario becomes one GIFT question per part, each starting with the case text;
points, pools, essay guidance and minimum words have no place in GIFT and are left out.
Texts are escaped (``\\~ \\= \\# \\{ \\} \\: \\n \\\\``), ``->`` inside answers is written
``-\\>`` and question texts are marked ``[markdown]``. Reading is ``lms/assessment/gift_reader.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lms.assessment.gift_syntax import FORMAT_PREFIX, PLACEHOLDER
from lms.assessment.kinds import QuestionKind

__all__ = ["ExportResult", "export_gift"]


@dataclass
class ExportResult:
    text: str
    problems: list[str] = field(default_factory=list)


class _NotExportable(Exception):
    pass


def _esc(raw: Any, notes: set[str], in_block: bool = True) -> str:
    """A text as GIFT: special characters escaped, newlines as \\n."""
    text = raw if isinstance(raw, str) else "" if raw is None else str(raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if PLACEHOLDER.search(text):
        raise _NotExportable("a text holds a private-use character U+E000..U+E008")
    out = text.replace("\\", "\\\\")
    for char in "~=#{}:":
        out = out.replace(char, "\\" + char)
    out = out.replace("\n", "\\n")
    if in_block and "->" in out:
        out = out.replace("->", "-\\>")
        notes.add("'->' inside answers is written '-\\>' (Moodle shows the backslash)")
    if in_block and FORMAT_PREFIX.match(out):
        out = "[markdown]" + out
    return out


def _required(text: Any, what: str, notes: set[str]) -> str:
    out = _esc(text, notes)
    if not out:
        raise _NotExportable(f"{what} without a text")
    return out


def _at_least(items: Any, count: int, what: str) -> list[Any]:
    if not isinstance(items, list) or len(items) < count or not all(isinstance(i, dict) for i in items):
        raise _NotExportable(f"needs at least {count} {what}")
    return items


def _fmt_number(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _NotExportable(f"{what} {value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotExportable(f"{what} {value!r} is not a finite number")
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _answer_line(prefix: str, text: str, feedback: Any, notes: set[str]) -> str:
    line = prefix + text
    if feedback:
        line += "#" + _esc(feedback, notes)
    return line


def _weighted(marker: str, weight: Any, default: int | float, text: str) -> str:
    """``=text`` / ``~text``, or with ``%weight%`` when it differs from the default or the
    text itself starts with a %."""
    if weight != default or text.startswith("%"):
        return f"{marker}%{_fmt_number(weight, 'weight')}%"
    return marker


def _block_lines(q: dict[str, Any], notes: set[str]) -> tuple[list[str], str]:
    """The answer lines of a question, and what opens its block ('#' for numerical)."""
    kind = q.get("type")
    if kind == QuestionKind.SINGLE:
        options = _at_least(q.get("options"), 2, "options")
        if sum(bool(o.get("correct")) for o in options) != 1:
            raise _NotExportable("a single-choice question needs exactly one correct option")
        lines = []
        for o in options:
            text = _required(o.get("text"), "an option", notes)
            # The correct option is a bare =, the reader's choice among full-marks answers;
            # partial credit (or a penalty) is ~%credit%, as Moodle writes it.
            correct = "= " if text.startswith("%") else "="
            prefix = correct if o.get("correct") else _weighted("~", o.get("credit") or 0, 0, text)
            lines.append(_answer_line(prefix, text, o.get("feedback"), notes))
        return lines, ""
    if kind == QuestionKind.MULTIPLE:
        lines = []
        for o in _at_least(q.get("options"), 2, "options"):
            text = _required(o.get("text"), "an option", notes)
            weight = o.get("weight", 0)
            lines.append(_answer_line(_weighted("~", weight, 0, text), text, o.get("feedback"), notes))
        return lines, ""
    if kind == QuestionKind.SHORT:
        lines = []
        for a in _at_least(q.get("answers"), 1, "answer"):
            text = _required(a.get("text"), "an answer", notes)
            weight = a.get("weight", 100)
            lines.append(_answer_line(_weighted("=", weight, 100, text), text, a.get("feedback"), notes))
        return lines, ""
    if kind == QuestionKind.NUMERICAL:
        lines = []
        for a in _at_least(q.get("answers"), 1, "answer"):
            if a.get("value") is not None:
                number = _fmt_number(a["value"], "value")
                tolerance = a.get("tolerance") or 0
                if tolerance:
                    number += ":" + _fmt_number(tolerance, "tolerance")
            elif a.get("min") is not None and a.get("max") is not None:
                number = _fmt_number(a["min"], "min") + ".." + _fmt_number(a["max"], "max")
            else:
                raise _NotExportable("a numerical answer needs value or min and max")
            weight = a.get("weight", 100)
            lines.append(_answer_line(_weighted("=", weight, 100, ""), number, a.get("feedback"), notes))
        if q.get("feedback_other"):  # any other number: Moodle's wrong-answer feedback
            lines.append("~#" + _esc(q["feedback_other"], notes))
        return lines, "#"
    if kind == QuestionKind.MATCHING:
        lines = [f"={_required(p.get('left'), 'a pair', notes)} -> {_required(p.get('right'), 'a pair', notes)}"
                 for p in _at_least(q.get("pairs"), 2, "pairs")]
        lines += [f"= -> {_required(d, 'a distractor', notes)}" for d in q.get("distractors") or []]
        return lines, ""
    if kind == QuestionKind.TRUE_FALSE:
        answer = q.get("answer")
        if not isinstance(answer, bool):
            raise _NotExportable(f"answer {answer!r} is not true or false")
        right = q.get("feedback_true") if answer else q.get("feedback_false")
        wrong = q.get("feedback_false") if answer else q.get("feedback_true")
        line = "TRUE" if answer else "FALSE"
        if wrong or right:
            line += "#" + _esc(wrong, notes)
        if right:
            line += "#" + _esc(right, notes)
        return [line], ""
    if kind == QuestionKind.ESSAY:
        return [], ""
    raise _NotExportable(f"the question type {kind!r} has no GIFT equivalent")


def _write(name: str, q: dict[str, Any], text: str, feedback: str, notes: set[str]) -> str:
    if q.get("type") == QuestionKind.DESCRIPTION:
        # GIFT's description: the text alone, without an answer block.
        stem = _esc(text, notes, in_block=False)
        if not stem:
            raise _NotExportable("the description has no text")
        if (feedback or "").strip():
            notes.add("a description's feedback has no place in GIFT; written without")
        return f"::{_esc(name, notes, in_block=False)}::[markdown]{stem}"
    answers, head = _block_lines(q, notes)
    if feedback and feedback.strip():
        answers = answers + [f"####{_esc(feedback, notes)}"]
    stem = _esc(text, notes, in_block=False)
    if not stem:
        raise _NotExportable("the question has no text")
    prefix = f"::{_esc(name, notes, in_block=False)}::[markdown]"
    blank = "_____"
    inline = "{" + head + " ".join(answers) + "}"
    if q.get("type") in (QuestionKind.ESSAY, QuestionKind.TRUE_FALSE):
        block = "{" + head + "".join(answers) + "}"
    elif stem.count(blank) == 1 and not stem.rstrip().endswith(blank):
        # Missing-word form: the block takes the blank's place.
        return prefix + stem.replace(blank, inline)
    else:
        block = "{" + head + "\n" + "".join(f"\t{line}\n" for line in answers) + "}"
    return prefix + stem + block


def _lost(q: dict[str, Any]) -> list[str]:
    """Fields of ours that GIFT has no place for (objectives aside: GIFT never has them)."""
    lost: list[str] = []
    if q.get("type") == QuestionKind.DESCRIPTION:
        return lost  # no points to lose
    if q.get("points", 1) != 1:
        lost.append(f"points ({q['points']})")
    if q.get("pool"):
        lost.append(f"pool ({q['pool']})")
    if q.get("type") == QuestionKind.ESSAY and (q.get("guidance") or "").strip():
        lost.append("grading guidance")
    if q.get("type") == QuestionKind.ESSAY and q.get("min_words"):
        lost.append(f"min_words ({q['min_words']})")
    return lost


def export_gift(quiz: dict[str, Any], categories: dict[str, str] | None = None) -> ExportResult:
    """Write a quiz dict (our format) as GIFT; what GIFT cannot hold is in ``problems``.
    ``categories`` (question id -> Moodle category path, as the reader gives them) writes
    each question under its category; without it the quiz id is the one category."""
    problems: list[str] = []
    items: list[str] = []
    used: set[str] = {str(q.get("id")) for q in quiz.get("questions") or [] if isinstance(q, dict)}
    if quiz.get("id") and not categories:
        items.append(f"$CATEGORY: {quiz['id']}")
    current: str | None = None

    def emit(name: str, q: dict[str, Any], text: str, feedback: str, label: str) -> bool:
        notes: set[str] = set()
        try:
            items.append(_write(name, q, text, feedback, notes))
        except _NotExportable as error:
            problems.append(f"{label}: not exported: {error}")
            return False
        for note in sorted(notes):
            problems.append(f"{label}: {note}")
        lost = _lost(q)
        if lost:
            problems.append(f"{label}: GIFT has no place for {', '.join(lost)}; written without")
        return True

    for index, q in enumerate(quiz.get("questions") or [], start=1):
        if not isinstance(q, dict):
            problems.append(f"question {index}: not exported: not a mapping")
            continue
        qid = str(q.get("id") or f"question-{index}")
        kind = q.get("type")
        category = (categories or {}).get(qid)
        if category and category != current and "\n" not in category:
            items.append(f"$CATEGORY: {category}")
            current = category
        if kind == QuestionKind.ORDERING:
            problems.append(f"{qid}: not exported: GIFT has no ordering questions")
            continue
        if kind == QuestionKind.SCENARIO:
            parts = q.get("questions") or []
            intro = "\n\n".join(x.strip() for x in (q.get("case") or "", q.get("text") or "") if x and x.strip())
            written: list[str] = []
            for part in parts:
                pid = str(part.get("id") or f"part-{len(written) + 1}")
                name = pid if pid not in used else f"{qid}-{pid}"
                used.add(name)
                label = f"{qid}/{pid}"
                if part.get("type") == QuestionKind.ORDERING:
                    problems.append(f"{label}: not exported: GIFT has no ordering questions")
                    continue
                text = f"{intro}\n\n{(part.get('text') or '').strip()}".strip()
                feedback = "\n\n".join(x.strip() for x in (part.get("feedback") or "", q.get("feedback") or "")
                                       if x and x.strip())
                if emit(name, part, text, feedback, label):
                    written.append(name)
            extra = ""
            if (q.get("feedback") or "").strip():
                extra = "; the scenario's general feedback is added to each one's"
            if q.get("points") is not None or q.get("pool"):
                extra += "; its points/pool are not written"
            problems.append(f"{qid}: scenario flattened into {len(written)} separate GIFT questions "
                            f"({', '.join(written) or 'none'}), each starting with the case text{extra}")
            continue
        emit(qid, q, q.get("text") or "", q.get("feedback") or "", qid)
    return ExportResult("\n\n".join(items) + "\n" if items else "", problems)
