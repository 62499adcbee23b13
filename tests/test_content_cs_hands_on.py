"""The customer success hands-on of month 6 assesses what month 6 teaches: the churn and
expansion prediction of week 3 (backtest, revision tested on later months, a play with a
control group) and the proven value and advocacy of week 4 (value ledgers confirmed by the
customer, a business review, a story sent for approval, a reference roster with limits),
each applied in the learner's own business and graded by its own rubric criterion."""

from __future__ import annotations

from pathlib import Path

import yaml

from lms.content.source import Problems, read_front_matter

CONTENT = Path(__file__).resolve().parent.parent / "content"
BRIEF = CONTENT / "modules/customer-success/assignments/02-hands-on.md"
RUBRIC = CONTENT / "rubrics/customer-success-hands-on-rubric.yml"

# what each week's activity produces, as the brief and the rubric must ask for it
TAUGHT = {
    "cs-predictive-insights": ("backtest", "warning time", "built from", "expansion signal", "control group"),
    "cs-proving-value-advocacy": ("value ledger", "business review", "customer story", "reference roster",
                                  "confirmed"),
}


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def test_the_brief_asks_for_what_the_month_six_lessons_teach() -> None:
    document = read_front_matter(BRIEF, Problems())
    assert document is not None
    meta, body = document.meta, document.body
    brief = _words(body + " ".join(meta["deliverables"]))
    for lesson, terms in TAUGHT.items():
        for term in terms:
            assert term in brief, (lesson, term)
    assert meta["due_after_days"] >= 28  # week 4's unit is over before the work is due


def test_a_criterion_grades_each_month_six_lesson_in_the_learners_own_business() -> None:
    rubric = yaml.safe_load(RUBRIC.read_text())
    criteria = {c["id"]: c for c in rubric["criteria"]}
    for criterion, lesson in (("churn-prediction", "cs-predictive-insights"), ("proven-value", "cs-proving-value-advocacy")):
        found = criteria[criterion]
        text = _words(found["description"] + " ".join(level["descriptor"] for level in found["levels"]))
        assert all(term in text for term in TAUGHT[lesson]), (criterion, [t for t in TAUGHT[lesson] if t not in text])
        # results in the learner's own business: an application objective beside the skill
        assert "SO2" in found["objectives"] and any(code.startswith("AO") for code in found["objectives"])
    # the month-two journey and capacity plan no longer take the place of month six's work
    assert "proactive-success" not in criteria and "scaling-plan" not in criteria
