"""GIFT import and export (lms/assessment/gift_*.py): every GIFT kind read field by field,
the round trip GIFT -> ours -> GIFT -> ours keeps the meaning, malformed GIFT is reported
with its line while the rest of the file still reads, and the export reports what GIFT
cannot hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from lms.assessment.gift_reader import GiftProblem, GiftResult, parse_gift, slugify
from lms.assessment.gift_writer import ExportResult, export_gift
from lms.assessment.questions import AnyQuestion

SAMPLE_FILE = Path(__file__).parent / "data" / "all-kinds.gift"

# The same text as tests/data/all-kinds.gift (checked below).
SAMPLE = r"""// Every GIFT kind the importer reads. tests/test_gift.py holds the same text.
$CATEGORY: $course$/top/MLOps

::Rollback first::[markdown]A release breaks **checkout**. What comes first?{
	=Roll back to the last good model#Restore service, then investigate.
	~Retrain on fresh data#Too slow while customers wait.
	~Page the data team
	####Stabilise first, diagnose second.
}

::Drift signals::Which signals point to data drift?{
	~%50%Input distribution shift#Yes.
	~%50%Falling share of known categories
	~%-100%A new model version was deployed#That is a release, not drift.
}

// A comment between questions.
::Shadow deployment::A shadow deployment serves its predictions to users.{F#It only logs them.#Right: users never see them.}

::Canary::A canary release exposes a new model to a small share of traffic first.{T#Canary means gradual exposure.#Correct.}

What do we call a model file with its metadata and version?{
	=model registry entry
	=registry entry#Also fine.
	=%50%*artifact*#Close: an artifact is part of it.
}

::Latency budget::
The p95 latency budget is 250 ms.
How many seconds is that?{#0.25:0.01#Right.}

::Error rate range::Give an acceptable error rate in percent.{#1..5}

::Pi::Pi to two decimals?{#
	=3.14:0.005#Exactly.
	=%50%3.1:0.05#Close.
}

::Match stages::Match each stage to its artefact.{
	=Training -> model
	=Validation -> report
	=Deployment -> endpoint
	= -> dashboard
}

::Postmortem::[markdown]Write a blameless postmortem for the outage.{####Cover impact, timeline and actions.}

::Escapes::Escaped \{braces\}, a \~tilde, \= equals, \# hash, a\: colon\nand a new line.{
	=50% \= half#a \{note\}
	~none
}

The sky is {=blue ~red#Not at noon.} today.
"""

BASE = {"points": 1, "objectives": []}

EXPECTED: list[dict[str, Any]] = [
    {"id": "rollback-first", "type": "single", **BASE,
     "text": "A release breaks **checkout**. What comes first?",
     "feedback": "Stabilise first, diagnose second.",
     "options": [
         {"id": "a", "text": "Roll back to the last good model", "correct": True,
          "feedback": "Restore service, then investigate."},
         {"id": "b", "text": "Retrain on fresh data", "feedback": "Too slow while customers wait."},
         {"id": "c", "text": "Page the data team", "feedback": ""},
     ]},
    {"id": "drift-signals", "type": "multiple", **BASE,
     "text": "Which signals point to data drift?", "feedback": "",
     "options": [
         {"id": "a", "text": "Input distribution shift", "weight": 50, "feedback": "Yes."},
         {"id": "b", "text": "Falling share of known categories", "weight": 50, "feedback": ""},
         {"id": "c", "text": "A new model version was deployed", "weight": -100,
          "feedback": "That is a release, not drift."},
     ]},
    # answer F: GIFT's first feedback (shown when wrong) belongs to the choice "true".
    {"id": "shadow-deployment", "type": "true_false", **BASE,
     "text": "A shadow deployment serves its predictions to users.", "feedback": "",
     "answer": False, "feedback_true": "It only logs them.", "feedback_false": "Right: users never see them."},
    # answer T: the first feedback (shown when wrong) belongs to the choice "false".
    {"id": "canary", "type": "true_false", **BASE,
     "text": "A canary release exposes a new model to a small share of traffic first.", "feedback": "",
     "answer": True, "feedback_true": "Correct.", "feedback_false": "Canary means gradual exposure."},
    {"id": "gift-q5", "type": "short", **BASE,
     "text": "What do we call a model file with its metadata and version?", "feedback": "",
     "answers": [
         {"text": "model registry entry", "weight": 100, "feedback": ""},
         {"text": "registry entry", "weight": 100, "feedback": "Also fine."},
         {"text": "*artifact*", "weight": 50, "feedback": "Close: an artifact is part of it."},
     ]},
    {"id": "latency-budget", "type": "numerical", **BASE,
     "text": "The p95 latency budget is 250 ms.\nHow many seconds is that?", "feedback": "",
     "answers": [{"value": 0.25, "tolerance": 0.01, "weight": 100, "feedback": "Right."}]},
    {"id": "error-rate-range", "type": "numerical", **BASE,
     "text": "Give an acceptable error rate in percent.", "feedback": "",
     "answers": [{"min": 1, "max": 5, "weight": 100, "feedback": ""}]},
    {"id": "pi", "type": "numerical", **BASE, "text": "Pi to two decimals?", "feedback": "",
     "answers": [
         {"value": 3.14, "tolerance": 0.005, "weight": 100, "feedback": "Exactly."},
         {"value": 3.1, "tolerance": 0.05, "weight": 50, "feedback": "Close."},
     ]},
    {"id": "match-stages", "type": "matching", **BASE,
     "text": "Match each stage to its artefact.", "feedback": "",
     "pairs": [
         {"left": "Training", "right": "model"},
         {"left": "Validation", "right": "report"},
         {"left": "Deployment", "right": "endpoint"},
     ],
     "distractors": ["dashboard"]},
    {"id": "postmortem", "type": "essay", **BASE,
     "text": "Write a blameless postmortem for the outage.",
     "feedback": "Cover impact, timeline and actions.", "guidance": ""},
    {"id": "escapes", "type": "single", **BASE,
     "text": "Escaped {braces}, a ~tilde, = equals, # hash, a: colon\nand a new line.", "feedback": "",
     "options": [
         {"id": "a", "text": "50% = half", "correct": True, "feedback": "a {note}"},
         {"id": "b", "text": "none", "feedback": ""},
     ]},
    {"id": "gift-q12", "type": "single", **BASE, "text": "The sky is _____ today.", "feedback": "",
     "options": [
         {"id": "a", "text": "blue", "correct": True, "feedback": ""},
         {"id": "b", "text": "red", "feedback": "Not at noon."},
     ]},
]


def meaning(q: dict[str, Any]) -> dict[str, Any]:
    """What a question asks and how it scores, without ids, points or objectives."""

    def s(value: Any) -> str:
        return (value or "").strip()

    kind = q["type"]
    m: dict[str, Any] = {"type": kind, "text": s(q.get("text")), "feedback": s(q.get("feedback"))}
    if kind == "single":
        m["options"] = [(s(o["text"]), bool(o.get("correct")), float(o.get("credit") or 0), s(o.get("feedback")))
                        for o in q["options"]]
    elif kind == "multiple":
        m["options"] = [(s(o["text"]), float(o.get("weight", 0)), s(o.get("feedback"))) for o in q["options"]]
    elif kind == "true_false":
        m.update(answer=q["answer"], feedback_true=s(q.get("feedback_true")),
                 feedback_false=s(q.get("feedback_false")))
    elif kind == "short":
        m["answers"] = [(s(a["text"]), float(a.get("weight", 100)), s(a.get("feedback"))) for a in q["answers"]]
    elif kind == "numerical":
        m["answers"] = [
            (("value", float(a["value"]), float(a.get("tolerance") or 0)) if a.get("value") is not None
             else ("range", float(a["min"]), float(a["max"])),
             float(a.get("weight", 100)), s(a.get("feedback")))
            for a in q["answers"]
        ]
        m["feedback_other"] = s(q.get("feedback_other"))
    elif kind == "matching":
        m["pairs"] = [(s(p["left"]), s(p["right"])) for p in q["pairs"]]
        m["distractors"] = [s(d) for d in q.get("distractors") or []]
    elif kind not in ("essay", "description"):
        raise AssertionError(f"no GIFT meaning for {kind}")
    return m


def round_trip(question: dict[str, Any]) -> tuple[dict[str, Any], ExportResult, GiftResult]:
    exported = export_gift({"id": "rt-quiz", "questions": [question]})
    back = parse_gift(exported.text, "exported.gift")
    assert back.problems == [], (exported.text, back.problems)
    assert len(back.questions) == 1, exported.text
    return back.questions[0], exported, back


# --------------------------------------------------------------------------- reading


def test_the_sample_file_holds_the_test_sample() -> None:
    assert SAMPLE_FILE.read_text(encoding="utf-8") == SAMPLE


def test_every_kind_reads_without_problems() -> None:
    result = parse_gift(SAMPLE, "all-kinds.gift")
    assert result.problems == []
    assert [q["id"] for q in result.questions] == [q["id"] for q in EXPECTED]


@pytest.mark.parametrize("expected", EXPECTED, ids=[q["id"] for q in EXPECTED])
def test_each_question_reads_field_by_field(expected: dict[str, Any]) -> None:
    parsed = {q["id"]: q for q in parse_gift(SAMPLE).questions}[expected["id"]]
    assert set(parsed) == set(expected)
    for key, value in expected.items():
        assert parsed[key] == value, key
        assert type(parsed[key]) is type(value), key  # 50 stays an int, 0.25 a float


def test_categories_are_recorded_per_question_outside_the_question_dicts() -> None:
    result = parse_gift(SAMPLE + "\n$CATEGORY: other/place\n\nLast one {T}\n")
    assert result.problems == []
    assert result.categories["rollback-first"] == "$course$/top/MLOps"
    assert result.categories["gift-q12"] == "$course$/top/MLOps"
    assert result.categories["gift-q13"] == "other/place"
    assert all("category" not in q for q in result.questions)


def test_parsed_questions_satisfy_the_quiz_schema_once_objectives_are_added() -> None:
    adapter = TypeAdapter(AnyQuestion)
    for q in parse_gift(SAMPLE).questions:
        adapter.validate_python({**q, "objectives": ["KO1"]})


def test_names_become_unique_slugs_and_unnamed_questions_count_in_file_order() -> None:
    text = "\n\n".join([
        "::Café Prices (EUR)!::Q one {T}",
        "::café prices eur::Q two {T}",
        "Q three {F}",  # third question of the file
        "::gift-q3::Q four {T}",  # clashes with the generated id above
        "::!!!::Q five {T}",  # nothing left of the name
        "::Café Prices (EUR)!::Q six {T}",
    ])
    result = parse_gift(text)
    assert result.problems == []
    assert [q["id"] for q in result.questions] == [
        "cafe-prices-eur", "cafe-prices-eur-2", "gift-q3", "gift-q3-2", "gift-q5", "cafe-prices-eur-3"]
    assert slugify("  A/B testing: 101  ") == "a-b-testing-101"
    assert len(slugify("x" * 300)) == 120


def test_a_broken_question_keeps_its_number_for_the_unnamed_ones_after_it() -> None:
    result = parse_gift("First {T}\n\nBroken {~a ~b}\n\nThird {F}")
    assert [q["id"] for q in result.questions] == ["gift-q1", "gift-q3"]


def test_text_formats_are_removed_and_the_text_kept_as_written() -> None:
    result = parse_gift(
        "::h::[html]<p>Is <b>this</b> bold?</p>{T}\n\n"
        "::p::[plain]Plain text {T}\n\n"
        "::m::[moodle]Moodle text {=[html]<i>yes</i>#[markdown]*good* ~no}\n\n"
        "::u::[unknown] stays {T}\n"
    )
    assert result.problems == []
    by_id = {q["id"]: q for q in result.questions}
    assert by_id["h"]["text"] == "<p>Is this bold?</p>"  # sanitised: only the tags we render stay
    assert by_id["p"]["text"] == "Plain text"
    assert by_id["m"]["text"] == "Moodle text"
    # An answer is shown as it is: an html one loses its tags.
    assert by_id["m"]["options"][0] == {"id": "a", "text": "yes", "correct": True, "feedback": "*good*"}
    assert by_id["u"]["text"] == "[unknown] stays"


def test_line_endings_bom_comments_inside_questions_and_multi_line_answers() -> None:
    text = ("\ufeff::Multi::First line\r\n"
            "// a comment inside the question\r\n"
            "second line{\r\n"
            "  =right answer\r\n"
            "   that goes on#and feedback\r\n"
            "  ~wrong\r\n"
            "}\r\n")
    result = parse_gift(text)
    assert result.problems == []
    q = result.questions[0]
    assert q["text"] == "First line\nsecond line"
    assert q["options"][0]["text"] == "right answer\n   that goes on"
    assert q["options"][0]["feedback"] == "and feedback"


def test_option_ids_go_on_after_z() -> None:
    options = " ".join(["=right"] + [f"~wrong {n}" for n in range(1, 28)])
    result = parse_gift(f"Many options {{{options}}}")
    assert result.problems == []
    ids = [o["id"] for o in result.questions[0]["options"]]
    assert ids[:3] == ["a", "b", "c"] and ids[25:] == ["z", "aa", "ab"]


def test_moodle_weighted_forms() -> None:
    result = parse_gift(
        "::eq::Equals with weights {=%50%a =%50%b ~%-50%c}\n\n"
        "::tilde::Full weight with tilde {~%100%a ~b}\n\n"
        "::decimals::Thirds {~%33.33333%a ~%33.33333%b ~%33.33333%c ~%-100%d}\n\n"
        "::num::Moodle numerical {#=1822:5 =%50%1822:10#near}\n\n"
        "::num-neg::Negative range {#-5..-1}\n"
    )
    assert result.problems == []
    by_id = {q["id"]: q for q in result.questions}
    assert by_id["eq"]["type"] == "multiple"
    assert [o["weight"] for o in by_id["eq"]["options"]] == [50, 50, -50]
    assert by_id["tilde"]["type"] == "multiple"  # as in Moodle: no = means multiple answers
    assert [o["weight"] for o in by_id["tilde"]["options"]] == [100, 0]
    assert [o["weight"] for o in by_id["decimals"]["options"]] == [33.33333, 33.33333, 33.33333, -100]
    assert by_id["num"]["answers"] == [
        {"value": 1822, "tolerance": 5, "weight": 100, "feedback": ""},
        {"value": 1822, "tolerance": 10, "weight": 50, "feedback": "near"},
    ]
    assert by_id["num-neg"]["answers"] == [{"min": -5, "max": -1, "weight": 100, "feedback": ""}]


# --------------------------------------------------------------------------- malformed

GOOD_BEFORE = "::good-before::Still read before? {T}\n\n"  # lines 1-2
GOOD_AFTER = "\n\n::good-after::Still read after? {=yes ~no}\n"

MALFORMED = [
    # (id, GIFT starting on line 3, line of the problem, words of the message)
    ("unclosed-brace", "::q::Unclosed {=a ~b\nmore text", 3, "not closed"),
    ("unclosed-before-next-block", "::q::First {=a ~b\nSecond {=c ~d}", 3, "before another { on line 4"),
    ("stray-closing-brace", "::q::Which one?\n=a ~b}", 4, "} without an opening {"),
    ("two-blocks-no-blank-line", "::q1::One {T}\n::q2::Two {F}", 4, "second answer block"),
    ("arrow-mixed-with-tilde", "::q::Mixed {\n=a -> 1\n~b\n=c -> 2}", 4, "-> (matching) mixed with ~"),
    ("bad-number", "::q::Bad number {#3,14:0.01}", 3, "bad number"),
    ("bad-tolerance", "::q::Bad tolerance {#\n=3.14:abc\n}", 4, "bad number"),
    ("bad-range", "::q::Bad range {#\n=1..x}", 4, "bad numerical range"),
    ("reversed-range", "::q::Reversed range {#5..1}", 3, "minimum above its maximum"),
    ("bad-weight", "::q::Bad weight {\n~%5.0.1%a\n~b}", 4, "bad answer weight"),
    ("no-right-answer", "::q::No right answer {\n~a\n~b\n}", 3, "no right answer"),
    ("only-negative-weights", "::q::\nOnly negative {~%-50%a ~b}", 4, "no right answer"),
    ("weights-not-100", "::q::Weights {~%50%a ~%40%b ~c}", 3, "add up to 90%"),
    ("single-without-full-marks", "::q::Partial {=%50%a ~%30%b ~c}", 3, "needs an answer worth 100%"),
    ("one-option", "::q::One option {~%100%a}", 3, "at least two answers"),
    ("empty-option", "::q::Empty option {\n=a\n~\n~c}", 5, "empty answer"),
    ("text-before-marker", "::q::Loose text {abc ~d =e}", 3, "text before the first answer"),
    ("unknown-escape", "::q::A \\(formula)\nhere {T}", 3, "unknown escape '\\('"),
    ("backslash-at-line-end", "::q::Line one \\\nline two {T}", 3, "backslash at the end"),
    ("empty-numerical", "::q::Empty numerical {#}", 3, "without an answer"),
    ("empty-short-answer", "::q::Empty short {=}", 3, "empty answer"),
    ("numerical-credit-on-wrong", "::q::Numerical {#\n=5\n~%50%4}", 5, "wrong one (0%)"),
    ("numerical-two-catch-alls", "::q::Numerical {#=5 ~#no ~#again}", 3, "a second ~"),
    ("short-negative-weight", "::q::Negative {=right =%-50%wrong#no}", 3, "weight -50%"),
    ("short-without-full-marks", "::q::Half {=%50%half}", 3, "no answer is worth 100%"),
    ("one-pair", "::q::One pair {=a -> 1 = -> 2}", 3, "at least two pairs"),
    ("pair-without-arrow", "::q::Pairs {\n=a -> 1\n=b 2\n=c -> 3}", 5, "without ->"),
    ("pair-with-feedback", "::q::Pairs {=a -> 1#nice =b -> 2}", 3, "no #feedback"),
    ("arrow-without-equals", "::q::Arrow {a -> 1}", 3, "=left -> right"),
    ("lower-case-true", "::q::Lower case {true}", 3, "capitals"),
    ("true-false-three-feedbacks", "::q::Too many {T#a#b#c}", 3, "at most two feedbacks"),
    ("no-marker", "::q::No marker {blue}", 3, "must start with = or ~"),
    ("unclosed-name", "::q Name never closed {T}", 3, "not closed with ::"),
    ("empty-text", "::q::{T}", 3, "no text"),
    ("category-inside-question", "::q::Text {T}\n$CATEGORY: x", 4, "$CATEGORY line inside a question"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_gift_is_reported_with_its_line_and_the_rest_still_reads(case) -> None:
    _, gift, line, words = case
    result = parse_gift(GOOD_BEFORE + gift + GOOD_AFTER, "bad.gift")
    assert [q["id"] for q in result.questions] == ["good-before", "good-after"]
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert problem.line == line, problem
    assert words.lower() in problem.message.lower(), problem.message
    assert str(problem) == f"bad.gift:{line}: {problem.message}"


def test_every_problem_of_a_file_is_reported() -> None:
    text = "\n\n".join(["Good {T}", "Bad {~a ~b}", "Good {F}", "Worse {#x}", "::n::Fine {=a ~b}"])
    result = parse_gift(text)
    assert [q["id"] for q in result.questions] == ["gift-q1", "gift-q3", "n"]
    assert [(p.line, p.path) for p in result.problems] == [(3, "<gift>"), (7, "<gift>")]
    assert isinstance(result.problems[0], GiftProblem)


def test_every_unknown_escape_is_reported_on_its_own_line() -> None:
    result = parse_gift("::q::A \\(x\\) and\n\\[y\\] {T}\n\nNext {F}")
    assert [(p.line, p.message.split(":")[0]) for p in result.problems] == [
        (1, "unknown escape '\\('"), (1, "unknown escape '\\)'"),
        (2, "unknown escape '\\['"), (2, "unknown escape '\\]'")]
    assert [q["id"] for q in result.questions] == ["gift-q2"]


def test_empty_category_is_a_problem() -> None:
    result = parse_gift("$CATEGORY:\n\nQ {T}")
    assert [(p.line, "without a category path" in p.message) for p in result.problems] == [(1, True)]
    assert len(result.questions) == 1 and result.categories == {}


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("question", EXPECTED, ids=[q["id"] for q in EXPECTED])
def test_sample_round_trip_keeps_the_meaning(question: dict[str, Any]) -> None:
    back, exported, result = round_trip(question)
    assert meaning(back) == meaning(question)
    assert back["id"] == question["id"]
    assert result.categories == {question["id"]: "rt-quiz"}
    assert exported.problems == []


def test_the_whole_sample_round_trips_in_one_file() -> None:
    parsed = parse_gift(SAMPLE).questions
    exported = export_gift({"id": "all-kinds", "questions": parsed})
    assert exported.problems == []
    back = parse_gift(exported.text)
    assert back.problems == []
    assert back.questions == parsed  # ids and option ids included


# Questions written in our format (as yaml.safe_load gives them), with the awkward texts.
AUTHORED: list[dict[str, Any]] = [
    {"id": "special-single", "type": "single", "objectives": ["KO1"], "points": 1,
     "text": ("Escape {all} of ~ = # : and a \\ backslash.\n\n"
              "Second *Markdown* paragraph:\n\n- item one\n// not a comment\n"),
     "feedback": "General: {done}.",
     "options": [
         {"id": "yes", "text": "%50% of users", "correct": True, "feedback": "#1 = best"},
         {"id": "no", "text": "%20% of users", "feedback": "Close -> but no."},
         {"id": "maybe", "text": "[html] looks like a format"},
     ]},
    {"id": "special-multiple", "type": "multiple", "objectives": ["KO1"],
     "text": "Pick the steps.",
     "options": [
         {"id": "a", "text": "train -> deploy", "weight": 60},
         {"id": "b", "text": "%40% canary", "weight": 40.0, "feedback": "ok"},
         {"id": "c", "text": "skip tests", "weight": -100},
         {"id": "d", "text": "%0% neutral"},
     ]},
    {"id": "one-right-in-multiple", "type": "multiple", "objectives": ["KO1"], "text": "Only one is right.",
     "options": [{"id": "a", "text": "right", "weight": 100}, {"id": "b", "text": "wrong", "weight": 0}]},
    {"id": "tf-true-no-feedback", "type": "true_false", "objectives": ["KO1"], "text": "True?", "answer": True},
    {"id": "tf-false-only-right", "type": "true_false", "objectives": ["KO1"], "text": "False?", "answer": False,
     "feedback_false": "Right."},
    {"id": "tf-true-only-wrong", "type": "true_false", "objectives": ["KO1"], "text": "True again?",
     "answer": True, "feedback_false": "Wrong: #{it is} true."},
    {"id": "short-special", "type": "short", "objectives": ["KO1"], "text": "Name it.",
     "answers": [{"text": "T"}, {"text": "a -> b", "weight": 100, "feedback": "x=y"},
                 {"text": "%5% rule", "weight": 25}, {"text": "model*", "weight": 75.5}]},
    {"id": "numeric-mixed", "type": "numerical", "objectives": ["KO1"], "text": "How much?",
     "answers": [{"value": 42}, {"value": -1.5e-07, "tolerance": 1e-08, "weight": 50, "feedback": "tiny"},
                 {"min": -10.5, "max": 3.0, "weight": 10}, {"value": 7.0, "tolerance": 0.5}]},
    {"id": "matching-special", "type": "matching", "objectives": ["KO1"], "text": "Match.",
     "pairs": [{"left": "a -> b", "right": "c: d"}, {"left": "{x}", "right": "y = z"}],
     "distractors": ["~extra", "#2"]},
    {"id": "essay-plain", "type": "essay", "objectives": ["KO1"], "text": "Discuss.", "feedback": ""},
    {"id": "missing-word", "type": "single", "objectives": ["KO1"], "text": "The _____ is blue.",
     "options": [{"id": "a", "text": "sky", "correct": True}, {"id": "b", "text": "sea"}]},
    {"id": "blank-at-end", "type": "short", "objectives": ["KO1"], "text": "Fill in: _____",
     "answers": [{"text": "this"}]},
]


@pytest.mark.parametrize("question", AUTHORED, ids=[q["id"] for q in AUTHORED])
def test_authored_questions_round_trip_with_the_same_meaning(question: dict[str, Any]) -> None:
    back, _, _ = round_trip(question)
    assert back["id"] == question["id"]
    assert meaning(back) == meaning(question)


def test_arrows_in_answers_are_written_escaped_and_reported() -> None:
    exported = export_gift({"id": "x", "questions": [AUTHORED[1]]})
    assert "~%60%train -\\> deploy" in exported.text
    assert any(p.startswith("special-multiple:") and "-\\>" in p for p in exported.problems)


def test_missing_word_questions_are_written_with_the_block_in_the_blank() -> None:
    exported = export_gift({"id": "x", "questions": [AUTHORED[-2], AUTHORED[-1]]})
    assert "::missing-word::[markdown]The {=sky ~sea} is blue.\n" in exported.text
    assert "::blank-at-end::[markdown]Fill in\\: _____{\n\t=this\n}" in exported.text


# --------------------------------------------------------------------------- export


def test_export_writes_category_names_escapes_and_feedback() -> None:
    quiz = {"id": "mlops-quiz", "questions": [EXPECTED[0], EXPECTED[10]]}
    exported = export_gift(quiz)
    assert exported.problems == []
    assert exported.text.startswith("$CATEGORY: mlops-quiz\n\n::rollback-first::[markdown]")
    assert "\t=Roll back to the last good model#Restore service, then investigate.\n" in exported.text
    assert "\t####Stabilise first, diagnose second.\n}" in exported.text
    assert ("::escapes::[markdown]Escaped \\{braces\\}, a \\~tilde, \\= equals, \\# hash, "
            "a\\: colon\\nand a new line.{") in exported.text
    assert "\t=50% \\= half#a \\{note\\}\n" in exported.text


ORDERING = {"id": "release-order", "type": "ordering", "objectives": ["KO1"], "text": "Order the steps.",
            "items": ["build", "test", "deploy"]}
SCENARIO = {
    "id": "harbourline", "type": "scenario", "case": "Harbourline runs **two** regions.\n\nLatency: 80 ms.",
    "feedback": "Think in regions.",
    "questions": [
        {"id": "hl-latency", "type": "numerical", "objectives": ["KO1"], "text": "Latency in seconds?",
         "answers": [{"value": 0.08, "tolerance": 0.001}]},
        {"id": "hl-first", "type": "single", "objectives": ["KO1"], "text": "First step?", "feedback": "Own.",
         "options": [{"id": "a", "text": "Measure", "correct": True}, {"id": "b", "text": "Guess"}]},
        {"id": "hl-order", "type": "ordering", "objectives": ["KO1"], "text": "Order.", "items": ["a", "b", "c"]},
        {"id": "hl-plan", "type": "essay", "objectives": ["KO1"], "text": "Plan it.", "guidance": "Names owners."},
    ],
}


def test_export_reports_ordering_questions_and_skips_them() -> None:
    exported = export_gift({"id": "q", "questions": [EXPECTED[3], ORDERING, EXPECTED[0]]})
    assert exported.problems == ["release-order: not exported: GIFT has no ordering questions"]
    assert "release-order" not in exported.text
    assert [q["id"] for q in parse_gift(exported.text).questions] == ["canary", "rollback-first"]


def test_export_flattens_scenarios_with_a_problem_line() -> None:
    exported = export_gift({"id": "q", "questions": [SCENARIO]})
    flattened = [p for p in exported.problems if p.startswith("harbourline: scenario flattened")]
    assert len(flattened) == 1
    assert "3 separate GIFT questions (hl-latency, hl-first, hl-plan)" in flattened[0]
    assert "harbourline/hl-order: not exported: GIFT has no ordering questions" in exported.problems
    assert "harbourline/hl-plan: GIFT has no place for grading guidance; written without" in exported.problems
    back = parse_gift(exported.text)
    assert back.problems == []
    assert [q["id"] for q in back.questions] == ["hl-latency", "hl-first", "hl-plan"]
    case = "Harbourline runs **two** regions.\n\nLatency: 80 ms."
    for q in back.questions:
        assert q["text"].startswith(case + "\n\n")
        assert q["feedback"].endswith("Think in regions.")
    latency, first, plan = back.questions
    assert latency["text"] == case + "\n\nLatency in seconds?"
    assert latency["answers"] == [{"value": 0.08, "tolerance": 0.001, "weight": 100, "feedback": ""}]
    assert first["feedback"] == "Own.\n\nThink in regions."
    assert [o["text"] for o in first["options"]] == ["Measure", "Guess"]
    assert plan["type"] == "essay"


def test_scenario_parts_whose_id_is_taken_get_the_scenario_prefix() -> None:
    clash = {**EXPECTED[3], "id": "hl-first"}
    exported = export_gift({"id": "q", "questions": [clash, SCENARIO]})
    ids = [q["id"] for q in parse_gift(exported.text).questions]
    assert ids == ["hl-first", "hl-latency", "harbourline-hl-first", "hl-plan"]


def test_export_reports_what_gift_cannot_hold_and_what_is_broken() -> None:
    quiz = {"id": "q", "questions": [
        {**EXPECTED[3], "points": 2, "pool": "core"},
        {"id": "two-right", "type": "single", "text": "?",
         "options": [{"id": "a", "text": "x", "correct": True}, {"id": "b", "text": "y", "correct": True}]},
        {"id": "odd", "type": "hotspot", "text": "?"},
        {"id": "nan", "type": "numerical", "text": "?", "answers": [{"value": float("nan")}]},
        {"id": "blank-option", "type": "multiple", "text": "?",
         "options": [{"id": "a", "text": " ", "weight": 100}, {"id": "b", "text": "y"}]},
        {"id": "lonely", "type": "matching", "text": "?", "pairs": [{"left": "a", "right": "b"}]},
        {"id": "tf-text", "type": "true_false", "text": "?", "answer": "false"},
        {"id": "no-text", "type": "essay", "text": "  "},
        "not a question",
    ]}
    exported = export_gift(quiz)
    assert exported.problems == [
        "canary: GIFT has no place for points (2), pool (core); written without",
        "two-right: not exported: a single-choice question needs exactly one correct option",
        "odd: not exported: the question type 'hotspot' has no GIFT equivalent",
        "nan: not exported: value nan is not a finite number",
        "blank-option: not exported: an option without a text",
        "lonely: not exported: needs at least 2 pairs",
        "tf-text: not exported: answer 'false' is not true or false",
        "no-text: not exported: the question has no text",
        "question 9: not exported: not a mapping",
    ]
    assert [q["id"] for q in parse_gift(exported.text).questions] == ["canary"]


# --------------------------------------------------------------------------- a Moodle bank, whole

MOODLE_FILE = Path(__file__).parent / "data" / "moodle_gift_all.gift"


def _moodle() -> GiftResult:
    return parse_gift(MOODLE_FILE.read_text(encoding="utf-8"), "moodle_gift_all.gift")


def test_every_construct_of_moodles_documentation_imports() -> None:
    result = _moodle()
    assert result.problems == []
    kinds = {q["type"] for q in result.questions}
    assert kinds == {"description", "single", "multiple", "true_false", "short", "numerical", "matching", "essay"}
    adapter = TypeAdapter(AnyQuestion)
    for q in result.questions:
        adapter.validate_python(q if q["type"] == "description" else {**q, "objectives": ["KO1"]})


def test_moodle_constructs_read_one_by_one() -> None:
    result = _moodle()
    by_id = {q["id"]: q for q in result.questions}
    assert by_id["welcome"] == {"id": "welcome", "type": "description", "text": (
        "This bank covers **support operations** at a small AI company. Read each situation carefully.")}
    assert by_id["closing-note"]["type"] == "description"
    first = by_id["first-response"]
    assert first["type"] == "single" and first["feedback"] == "Answer where you promised to answer."
    assert [(o["id"], o.get("correct", False), o.get("credit")) for o in first["options"]] == [
        ("a", True, None), ("b", False, 50), ("c", False, -25), ("d", False, None)]
    assert [o["weight"] for o in by_id["evidence"]["options"]] == [50, 50, -100]
    assert by_id["escalation"]["text"].startswith("The support lead can escalate to _____ when")
    assert by_id["metric-name"]["answers"][-1] == {"text": "*", "weight": 0,
                                                   "feedback": "No: think about what the customer did not have to do."}
    budget = by_id["budget"]
    assert [(a.get("value"), a["tolerance"], a["weight"]) for a in budget["answers"]] == [
        (300, 0, 100), (300, 25, 50), (1200, 0, 0)]
    assert budget["feedback_other"] == "Divide the month by the number of weeks."
    assert by_id["response-range"]["answers"][0] == {"min": 2, "max": 8, "weight": 100, "feedback": ""}
    assert by_id["canary-flag"]["feedback"] == "A gradual release limits the damage of a bad model."
    assert by_id["pair-roles"]["distractors"] == ["the office plants"]
    retro = by_id["retro"]
    assert retro["type"] == "essay" and "<script>" not in retro["text"] and "<strong>blameless</strong>" in retro["text"]
    assert retro["feedback"] == "<p>Look for impact, timeline and <em>actions</em>.</p>"
    assert by_id["plain-words"]["text"] == "Is 2\\*3 written \\<six\\> in a plain text?"
    assert by_id["moodle-format"]["options"][0]["text"] == "Backlog growth"
    assert by_id["escapes"]["text"] == "A {literal} brace, a ~tilde, an = equals sign, a # hash and a: colon,\nthen a new line."
    assert "gift-q17" in by_id
    assert result.categories["welcome"] == "$course$/top/Operations/Support"
    assert result.categories["closing-note"] == "$course$/top/Operations/Quality"


def test_single_choice_forms_of_moodle() -> None:
    result = parse_gift("::two::Two right {=a =b ~c}\n\n::full::Weighted {=%100%a ~%50%b ~c}\n\n"
                        "::later::Right one later {~%50%a ~b =c}\n")
    assert result.problems == []
    by_id = {q["id"]: q for q in result.questions}
    assert [(o.get("correct", False), o.get("credit")) for o in by_id["two"]["options"]] == [
        (True, None), (False, 100), (False, None)]
    assert by_id["full"]["type"] == "single"
    assert [(o.get("correct", False), o.get("credit")) for o in by_id["full"]["options"]] == [
        (True, None), (False, 50), (False, None)]
    assert [(o.get("correct", False), o.get("credit")) for o in by_id["later"]["options"]] == [
        (False, 50), (False, None), (True, None)]
    for q in result.questions:
        back, exported, _ = round_trip({**q, "objectives": ["KO1"]})
        assert back == q, exported.text


def test_the_moodle_bank_round_trips_to_the_same_questions_and_categories() -> None:
    first = _moodle()
    exported = export_gift({"id": "bank", "questions": first.questions}, first.categories)
    assert exported.problems == []
    second = parse_gift(exported.text, "exported.gift")
    assert second.problems == []
    assert second.questions == first.questions
    assert second.categories == first.categories
    again = export_gift({"id": "bank", "questions": second.questions}, second.categories)
    assert again.text == exported.text


def test_a_description_is_written_as_its_text_alone() -> None:
    exported = export_gift({"id": "d", "questions": [
        {"id": "intro", "type": "description", "text": "Read {this} first.", "feedback": "Thanks."}]})
    assert "::intro::[markdown]Read \\{this\\} first.\n" in exported.text
    assert exported.problems == ["intro: a description's feedback has no place in GIFT; written without"]


def test_imported_partial_credit_scores_and_feedback() -> None:
    from lms.assessment.questions import QUESTION_TYPES

    adapter = TypeAdapter(AnyQuestion)
    by_id = {q["id"]: adapter.validate_python({**q, "objectives": ["KO1"]})
             for q in _moodle().questions if q["type"] != "description"}
    single, short, numerical = QUESTION_TYPES["single"], QUESTION_TYPES["short"], QUESTION_TYPES["numerical"]
    first = by_id["first-response"]
    assert [single.score(first, {"option": o}) for o in "abcd"] == [1.0, 0.5, 0.0, 0.0]  # a penalty never goes below 0
    assert "partial credit: Whichever channel has the oldest message (50%)" in single.correct_answer(first)
    metric = by_id["metric-name"]
    assert short.score(metric, {"text": "First time fix"}) == 0.5
    assert short.score(metric, {"text": "uptime"}) == 0.0
    assert short.feedback(metric, {"text": "uptime"}) == ["No: think about what the customer did not have to do."]
    budget = by_id["budget"]
    assert numerical.score(budget, {"value": 310}) == 0.5
    assert numerical.feedback(budget, {"value": 1200}) == ["That is the whole month."]
    assert numerical.feedback(budget, {"value": 7}) == ["Divide the month by the number of weeks."]
    assert numerical.feedback(budget, {"value": 300}) == ["Exactly."]
