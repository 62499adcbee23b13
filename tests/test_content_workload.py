"""Assessed work is spread over the weeks (issue: months 6, 8 and 12 piled their assignments
and quiz closes into the month's last days): on a learner's real schedule no two assignments
fall due within a week of each other and no seven days hold more than two assessed
deadlines; and `load-content --check` refuses a file that would pile them up again, or make
work due before the weekly units it applies have been taught."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.database import utcnow
from lms.extensions import db
from lms.progress.completion import learner_progress
from lms.progress.models import ItemKind
from tests.content_edits import problems_at, replace_once


def run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


# A February start puts the short month first; a July start runs two 31-day months together.
@pytest.mark.parametrize("start", [date(2027, 2, 1), date(2027, 7, 31)])
def test_no_week_of_a_learners_schedule_piles_up_assessed_work(loaded: Flask, make_cohort, enrol_learner,
                                                               start: date) -> None:
    cohort = make_cohort(start=start)
    learner = enrol_learner(cohort)
    practice = {q.key for q in db.session.scalars(select(Quiz)) if q.practice}
    items = sorted((i for i in learner_progress(db.session, cohort, learner.id, utcnow()).items
                    if i.assessed and i.key not in practice), key=lambda i: i.due_on)
    work = [i for i in items if i.kind in (ItemKind.ASSIGNMENT, ItemKind.PORTFOLIO)]
    assert len(work) == 21
    for first, then in zip(work, work[1:], strict=False):
        assert (then.due_on - first.due_on).days >= 7, (first.key, first.due_on, then.key, then.due_on)
    for i in range(len(items) - 2):
        assert (items[i + 2].due_on - items[i].due_on).days >= 7, [(x.key, x.due_on) for x in items[i:i + 3]]


def test_months_six_eight_and_twelve_no_longer_end_with_two_pieces_due(loaded: Flask, make_cohort,
                                                                        enrol_learner) -> None:
    cohort = make_cohort(start=date(2027, 1, 4))
    learner = enrol_learner(cohort)
    due = {i.key: i.due_on for i in learner_progress(db.session, cohort, learner.id, utcnow()).items}
    # month 6: MLOps (weeks 1-2) a week before customer success (weeks 3-4)
    assert (due["cs-hands-on-own-operation"] - due["mlops-hands-on-own-pipeline"]).days == 7
    # month 8: process optimisation (weeks 1-2) a week before quality (weeks 3-4), the portfolio after
    assert (due["qa-hands-on-customer-led-quality"] - due["po-hands-on-automate-core-process"]).days == 7
    assert (due["portfolio-intermediate"] - due["qa-hands-on-customer-led-quality"]).days == 7
    # month 12: the piece as the month closes, the capstone a week later, the portfolio after both
    assert (due["impl-capstone"] - due["impl-thought-leadership"]).days == 7
    assert (due["portfolio-advanced"] - due["impl-capstone"]).days == 7


def test_two_assignments_due_in_one_week_are_refused_at_the_later_due_line(app: Flask, content_dir: Path) -> None:
    hands_on = content_dir / "modules/mlops/assignments/02-hands-on.md"
    line = replace_once(hands_on, "due_after_days: 21", "due_after_days: 26")

    result = run(app, "--check")

    assert result.exit_code == 1
    cs = content_dir / "modules/customer-success/assignments/02-hands-on.md"
    messages = problems_at(result.output, cs)[line]
    assert any(m.startswith("'cs-hands-on-own-operation' (due 28 days into month 6) and 'mlops-hands-on-own-pipeline' "
                            "(due 26 days into month 6) fall due 2 days apart for a cohort starting ") and
               m.endswith(": spread assessed work a week apart") for m in messages), result.output
    assert problems_at(result.output, hands_on) == {}


def test_a_third_deadline_in_one_week_is_refused(app: Flask, content_dir: Path) -> None:
    quiz = content_dir.parent / "quizzes/quality-assurance-quiz.yml"
    replace_once(quiz, "closes_after_days: 76", "closes_after_days: 88")  # five days after the international quiz

    result = run(app, "--check")

    assert result.exit_code == 1
    piled = [m for m in result.output.splitlines() if "3 assessed deadlines fall " in m]
    assert len(piled) == 1, result.output
    assert all(f"'{key}' ({days} days into month {month})" in piled[0] for key, days, month in (
        ("international-operations-quiz", 83, 10), ("quality-assurance-quiz", 88, 10),
        ("impl-thought-leadership", 28, 12))), piled
    assert piled[0].endswith("at most 2 may fall in a week"), piled
    assert re.search(r"fall (on the same day|within \d days? of each other) for a cohort starting \d{4}-\d\d-\d\d: ", piled[0]), piled


def test_deadlines_are_spread_as_the_schedule_keeps_them_at_the_close(app: Flask, content_dir: Path) -> None:
    """A quiz window running past the program's close ends at the close (``Timeline.item_dates``):
    the month-11 quiz given its old 90 days would close with the advanced exam, three days
    after the advanced portfolio, so the check reads it there, not 90 days into month 12."""
    quiz = content_dir.parent / "quizzes/operations-implementation-quiz.yml"
    line = replace_once(quiz, "closes_after_days: 14", "closes_after_days: 90")

    result = run(app, "--check")

    assert result.exit_code == 1
    piled = [m for m in problems_at(result.output, quiz).get(line, []) if "3 assessed deadlines fall " in m]
    assert piled and all("'operations-implementation-quiz' (90 days into month 12)" in m and "'advanced-exam'" in m
                         for m in piled), result.output


def test_work_due_before_a_unit_it_needs_is_over_is_refused(app: Flask, content_dir: Path) -> None:
    hands_on = content_dir / "modules/process-optimization/assignments/02-hands-on.md"
    line = replace_once(hands_on, "due_after_days: 21", "due_after_days: 12")  # week 2 ends on day 14

    result = run(app, "--check")

    assert result.exit_code == 1
    assert ("'po-hands-on-automate-core-process' is due 12 days into month 8, before the unit it needs, "
            "'po-improvement-experiments' (week 2), is over on day 14: make it due later, or name the units it does "
            "need in needs:") in problems_at(result.output, hands_on)[line], result.output


def test_needs_names_weekly_units_taught_by_the_work_s_month(app: Flask, content_dir: Path) -> None:
    critique = content_dir / "modules/international-operations/assignments/03-critique-compliance-register.md"
    line = replace_once(critique, "needs: [intl-regulation-and-data, intl-compliance-routines]",
                    "needs: [intl-regulation-and-data, intl-measuring-regions, intl-market-adaptation, no-such-lesson]")

    result = run(app, "--check")

    assert result.exit_code == 1
    found = problems_at(result.output, critique)
    due_line = critique.read_text().splitlines().index("due_after_days: 21") + 1
    assert ("'intl-critique-compliance-register' is due 21 days into month 7, before the unit it needs, "
            "'intl-measuring-regions' (week 4), is over on day 28: make it due later, or name the units it does "
            "need in needs:") in found[due_line], result.output
    assert found[line] == [
        "'intl-critique-compliance-register' (month 7) needs lesson 'intl-market-adaptation', taught later, in month 9",
        "'intl-critique-compliance-register' needs lesson 'no-such-lesson', which does not exist"], result.output


def test_without_needs_work_needs_every_weekly_unit_of_its_phase(app: Flask, content_dir: Path) -> None:
    case = content_dir / "modules/mlops/assignments/01-case-study.md"
    text = case.read_text()
    case.write_text(re.sub(r"\nneeds: \[[^\]]*\]\n", "\n", text))
    due_line = case.read_text().splitlines().index("due_after_days: 21") + 1

    result = run(app, "--check")

    assert result.exit_code == 1
    assert ("'mlops-case-coldwatch' is due 21 days into month 1, before the unit it needs, 'mlops-security-compliance' "
            "(week 4), is over on day 28: make it due later, or name the units it does need in needs:"
            ) in problems_at(result.output, case)[due_line], result.output
