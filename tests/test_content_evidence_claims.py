"""What assessed work claims to evidence: an assignment names the objectives its rubric
grades, and a case study or a critique (judged as case-study evidence) names none that the
mastery policy weighs at 0 for that evidence. `load-content --check` refuses each wrong
code at its own file and line."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from tests.content_edits import replace_once

CRITIQUE = "modules/mlops/assignments/03-critique-on-call-runbook.md"
CRITIQUE_RUBRIC = "rubrics/mlops-critique-rubric.yml"
HANDS_ON = "modules/mlops/assignments/02-hands-on.md"
HANDS_ON_RUBRIC = "rubrics/mlops-hands-on-rubric.yml"


def check(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])
    return result.exit_code, result.output


def problems_at(output: str, path: Path) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in re.finditer(rf"{re.escape(str(path))}:(\d+): ([^\n]*)", output)}


def test_the_shipped_assignments_claim_exactly_what_their_rubrics_grade(app: Flask, content_dir: Path) -> None:
    code, output = check(app)
    assert code == 0, output


def test_a_critique_claiming_an_application_objective_is_refused_on_both_lines(app: Flask, content_dir: Path) -> None:
    assignment, rubric = content_dir / CRITIQUE, content_dir / CRITIQUE_RUBRIC
    claim = replace_once(assignment, "objectives: [KO1, SO1]", "objectives: [KO1, SO1, AO2]")
    criterion = replace_once(rubric, "    objectives: [SO1]\n    levels:\n      - {id: exemplary, title: Exemplary, points: 4, descriptor: \"Rewrites",
                        "    objectives: [SO1, AO2]\n    levels:\n      - {id: exemplary, title: Exemplary, points: 4, descriptor: \"Rewrites")

    code, output = check(app)

    assert code == 1
    at_assignment = problems_at(output, assignment)
    assert "AO2 is an application objective" in at_assignment[claim], output
    assert "case-study evidence" in at_assignment[claim] and "weighs at 0" in at_assignment[claim]
    at_rubric = problems_at(output, rubric)
    assert "AO2 is an application objective" in at_rubric[criterion], output
    assert "'mlops-critique-on-call-runbook'" in at_rubric[criterion]
    # the two sides agree, so the rule that they must agree says nothing
    assert "does not claim" not in output and "no criterion" not in output


def test_the_rule_follows_the_mastery_policy(app: Flask, content_dir: Path) -> None:
    replace_once(content_dir / CRITIQUE, "objectives: [KO1, SO1]", "objectives: [KO1, SO1, AO2]")
    replace_once(content_dir / CRITIQUE_RUBRIC,
            "    objectives: [SO1]\n    levels:\n      - {id: exemplary, title: Exemplary, points: 4, descriptor: \"Rewrites",
            "    objectives: [SO1, AO2]\n    levels:\n      - {id: exemplary, title: Exemplary, points: 4, descriptor: \"Rewrites")
    mastery = content_dir / "mastery.yml"
    text = mastery.read_text()
    application = text.index("  application:")
    weighted = text[application:].replace("    case_study: 0\n", "    case_study: 0.5\n", 1)
    mastery.write_text(text[:application] + weighted)

    code, output = check(app)

    assert code == 0, output  # case studies now count toward application objectives, so the claim is honest


def test_hands_on_work_may_claim_application_objectives(app: Flask, content_dir: Path) -> None:
    # the shipped hands-on assignment claims AO1 and AO2 and loads (first test); its grade is applied work
    assert "AO1" in (content_dir / HANDS_ON).read_text().split("---")[1]
    code, output = check(app)
    assert code == 0, output


def test_a_criterion_grading_an_objective_the_assignment_does_not_claim_is_refused(app: Flask, content_dir: Path) -> None:
    rubric = content_dir / HANDS_ON_RUBRIC
    line = replace_once(rubric, "    objectives: [SO1]\n    levels:\n      - {id: exemplary, title: Exemplary, points: 4, descriptor: \"Covers",
                   "    objectives: [SO1, KO2]\n    levels:\n      - {id: exemplary, title: Exemplary, points: 4, descriptor: \"Covers")

    code, output = check(app)

    assert code == 1
    message = problems_at(output, rubric)[line]
    assert message.startswith("criterion 'pipeline-map' grades KO2, which assignment 'mlops-hands-on-own-pipeline'"), message
    assert "does not claim" in message


def test_an_objective_no_criterion_grades_is_refused_at_the_assignment(app: Flask, content_dir: Path) -> None:
    assignment = content_dir / HANDS_ON
    line = replace_once(assignment, "objectives: [SO1, AO1, AO2]", "objectives: [SO1, AO1, AO2, KO3]")

    code, output = check(app)

    assert code == 1
    message = problems_at(output, assignment)[line]
    assert message == ("no criterion of rubric 'mlops-hands-on-rubric' grades KO3: the assignment claims it "
                       "but would never give evidence for it"), message
