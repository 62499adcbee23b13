"""`flask lms import-gift` and `export-gift`: every GIFT kind imports into a loadable quiz
and exports back with the same meaning; bad GIFT names its line and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flask import Flask

from lms.assessment.content import HOUSE_RULES
from lms.assessment.gift_reader import parse_gift
from lms.assessment.models import QuizKind

ALL_KINDS = Path(__file__).parent / "data" / "all-kinds.gift"


def meaning(questions: list[dict]) -> list[dict]:
    """What a question means, without our additions (objectives) or GIFT's losses."""
    return [{k: v for k, v in q.items() if k not in ("objectives", "points")} for q in questions]


@pytest.fixture()
def quizzes_dir(app: Flask, tmp_path: Path) -> Path:
    folder = tmp_path / "quizzes"
    folder.mkdir()
    app.config["QUIZZES_DIR"] = folder
    return folder


def test_import_then_load_then_export_round_trip(app: Flask, quizzes_dir: Path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["lms", "import-gift", str(ALL_KINDS), "--id", "gift-sample",
                                 "--module", "mlops", "--phase", "foundation", "--objectives", "KO1,SO1"])
    assert result.exit_code == 0, result.output
    written = quizzes_dir / "gift-sample.yml"
    assert written.exists()

    check = runner.invoke(args=["lms", "load-content", "--check"])
    assert check.exit_code == 0, check.output
    load = runner.invoke(args=["lms", "load-content"])
    assert load.exit_code == 0, load.output

    exported = runner.invoke(args=["lms", "export-gift", "gift-sample"])
    assert exported.exit_code == 0
    gift_text = exported.stdout if hasattr(exported, "stdout") else exported.output
    original = parse_gift(ALL_KINDS.read_text(encoding="utf-8"))
    again = parse_gift(gift_text[gift_text.index("$CATEGORY"):])
    assert again.problems == []
    assert meaning(again.questions) == meaning(original.questions)
    assert {q["type"] for q in original.questions} >= {"single", "multiple", "true_false", "short", "numerical", "matching", "essay"}


def test_malformed_gift_names_the_line_and_writes_nothing(app: Flask, quizzes_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gift"
    bad.write_text("::ok:: Fine? {T}\n\n::broken:: Unclosed {=yes ~no\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["lms", "import-gift", str(bad), "--module", "mlops", "--objectives", "KO1"])
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.output
    assert list(quizzes_dir.iterdir()) == []


def test_import_needs_known_objectives_and_a_place(app: Flask, quizzes_dir: Path) -> None:
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["lms", "import-gift", str(ALL_KINDS), "--module", "mlops", "--objectives", "KO9"])
    assert unknown.exit_code == 1 and "KO9" in unknown.output
    nowhere = runner.invoke(args=["lms", "import-gift", str(ALL_KINDS), "--objectives", "KO1"])
    assert nowhere.exit_code == 1 and "--module" in nowhere.output
    assert list(quizzes_dir.iterdir()) == []


def test_export_of_a_shipped_quiz_reports_what_gift_cannot_hold(app: Flask, tmp_path: Path) -> None:
    out = tmp_path / "mlops.gift"
    result = app.test_cli_runner().invoke(args=["lms", "export-gift", "mlops-quiz", "--out", str(out)])
    assert result.exit_code == 0
    assert "not exported: GIFT has no ordering questions" in result.output
    assert "flattened" in result.output
    parsed = parse_gift(out.read_text(encoding="utf-8"))
    assert parsed.problems == [] and len(parsed.questions) >= 6  # the module quiz on its last phase (phase quizzes hold the rest)


def test_export_of_an_unknown_quiz_is_an_error(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["lms", "export-gift", "no-such-quiz"])
    assert result.exit_code == 1 and "no quiz file" in result.output


MOODLE_BANK = Path(__file__).parent / "data" / "moodle_gift_all.gift"


def _import(app: Flask, *extra: str) -> object:
    return app.test_cli_runner().invoke(args=["lms", "import-gift", *extra, "--module", "mlops",
                                              "--phase", "foundation", "--objectives", "KO1"])


def test_a_whole_moodle_bank_imports_loads_and_round_trips(app: Flask, quizzes_dir: Path) -> None:
    result = _import(app, str(MOODLE_BANK), "--id", "moodle-bank")
    assert result.exit_code == 0, result.output
    written = (quizzes_dir / "moodle-bank.yml").read_text(encoding="utf-8")
    assert "# gift-category: welcome $course$/top/Operations/Support" in written
    runner = app.test_cli_runner()
    check = runner.invoke(args=["lms", "load-content", "--check"])
    assert check.exit_code == 0, check.output
    exported = runner.invoke(args=["lms", "export-gift", "moodle-bank"])
    assert exported.exit_code == 0, exported.output
    gift_text = exported.stdout if hasattr(exported, "stdout") else exported.output
    original = parse_gift(MOODLE_BANK.read_text(encoding="utf-8"))
    again = parse_gift(gift_text)
    assert again.problems == []
    assert meaning(again.questions) == meaning(original.questions)
    assert again.categories == original.categories


def test_skip_bad_imports_the_rest_and_lists_what_was_skipped(app: Flask, quizzes_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mixed.gift"
    bad.write_text("::ok:: Fine? {T}\n\n::broken:: Unclosed {=yes ~no\n\n::also-ok:: Pick {=a ~b}\n\n"
                   "::lower:: Lower {true}\n", encoding="utf-8")
    refused = _import(app, str(bad))
    assert refused.exit_code == 1 and f"{bad}:3:" in refused.output and f"{bad}:7:" in refused.output
    assert "--skip-bad" in refused.output and list(quizzes_dir.iterdir()) == []

    skipped = _import(app, str(bad), "--skip-bad")
    assert skipped.exit_code == 0, skipped.output
    assert f"skipped: {bad}:3:" in skipped.output and f"skipped: {bad}:7:" in skipped.output
    assert "2 question(s); 2 problem(s) skipped" in skipped.output
    written = (quizzes_dir / "mixed.yml").read_text(encoding="utf-8")
    assert "id: ok" in written and "id: also-ok" in written and "broken" not in written


def test_skip_bad_with_nothing_readable_writes_nothing(app: Flask, quizzes_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "none.gift"
    bad.write_text("::broken:: Unclosed {=yes ~no\n", encoding="utf-8")
    result = _import(app, str(bad), "--skip-bad")
    assert result.exit_code == 1 and "no question could be read" in result.output
    assert list(quizzes_dir.iterdir()) == []


def test_descriptions_and_partial_credit_in_a_taken_quiz(app: Flask, quizzes_dir: Path, load_content, make_cohort,
                                                         enrol_learner, client, login) -> None:
    from lms.assessment.models import Attempt
    from lms.extensions import db

    bank = quizzes_dir.parent / "bank.gift"
    bank.write_text("::intro::Read **this** first: the questions follow.\n\n"
                    "::pick::Which channel first?{=Inbox#Yes. ~%50%Oldest message#Half. ~Chat}\n\n"
                    "::budget::Per week?{#=300 =%0%1200#The whole month. ~#Divide by four.}\n", encoding="utf-8")
    assert _import(app, str(bank), "--id", "bank", "--attempts", "1").exit_code == 0  # one try: review at once
    load_content()
    cohort = make_cohort(months_ago=1)
    user = enrol_learner(cohort)
    login(client, user)
    start = client.post("/quizzes/bank/start")
    assert start.status_code == 302, start.get_data(as_text=True)[:500]
    attempt_id = int(start.headers["Location"].split("/attempts/")[1].split("/")[0])
    intro = client.get(f"/attempts/{attempt_id}/pages/0").get_data(as_text=True)
    assert "<strong>this</strong>" in intro and 'name="p0"' not in intro
    assert client.post(f"/attempts/{attempt_id}/pages/0", data={"go": "next"}).status_code == 302
    assert client.post(f"/attempts/{attempt_id}/pages/1", data={"p1": "b", "go": "next"}).status_code == 302
    assert client.post(f"/attempts/{attempt_id}/pages/2", data={"p2": "7", "go": "next"}).status_code == 302
    review = client.get(f"/attempts/{attempt_id}/review").get_data(as_text=True)
    assert "to read" in review and "1 question is not answered" not in review
    assert client.post(f"/attempts/{attempt_id}/submit").status_code == 302
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.max_score == 2 and attempt.score == 0.5  # the description has no points; half credit
    result = client.get(f"/attempts/{attempt_id}").get_data(as_text=True)
    assert "Read <strong>this</strong> first" in result
    assert "(50% of the points)" in result and "Half." in result and "Divide by four." in result

    # The item statistics cover the answerable questions only, partial credit included.
    from sqlalchemy import select

    from lms.assessment.models import Quiz
    from lms.assessment.services import quiz_statistics
    stats = quiz_statistics(db.session, db.session.scalars(select(Quiz).where(Quiz.key == "bank")).one(), cohort)
    assert [(q.key, q.facility) for q in stats.questions] == [("budget", 0.0), ("pick", 0.5)]
    assert stats.questions[1].wrong_answers == [("Oldest message", 1)]


def _settings(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["settings"]


def test_an_imported_quiz_gets_the_programs_attempts_and_review_and_says_so(app: Flask, quizzes_dir: Path) -> None:
    result = _import(app, str(ALL_KINDS), "--id", "gift-quiz")
    assert result.exit_code == 0, result.output
    assert _settings(quizzes_dir / "gift-quiz.yml") == {
        "attempts_allowed": 3, "grading": "highest", "review": "after_last_attempt"}
    assert ("Defaults applied (GIFT has no attempts or review; the program's own for a quiz): "
            "attempts_allowed: 3, grading: highest, review: after_last_attempt.") in result.output
    assert "# Settings the import chose" in (quizzes_dir / "gift-quiz.yml").read_text(encoding="utf-8")
    check = app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])
    assert check.exit_code == 0, check.output  # the lint takes them (answers only after the last attempt)


def test_an_imported_exam_gets_the_exams_defaults(app: Flask, quizzes_dir: Path) -> None:
    result = app.test_cli_runner().invoke(args=["lms", "import-gift", str(ALL_KINDS), "--id", "gift-exam",
                                                "--level", "foundation", "--objectives", "KO1"])
    assert result.exit_code == 0, result.output
    assert _settings(quizzes_dir / "gift-exam.yml") == {"attempts_allowed": 2, "grading": "highest", "review": "after_close"}
    assert "attempts_allowed: 2, grading: highest, review: after_close." in result.output


def test_attempts_and_review_given_on_the_command_line_are_not_called_defaults(app: Flask, quizzes_dir: Path) -> None:
    result = _import(app, str(ALL_KINDS), "--id", "gift-given", "--attempts", "1", "--review", "immediately")
    assert result.exit_code == 0, result.output
    assert _settings(quizzes_dir / "gift-given.yml") == {"attempts_allowed": 1, "grading": "highest", "review": "immediately"}
    assert "Defaults applied (GIFT has no attempts or review; the program's own for a quiz): grading: highest." in result.output
    refused = _import(app, str(ALL_KINDS), "--id", "gift-bad", "--review", "sometimes")
    assert refused.exit_code == 2 and "sometimes" in refused.output
    assert not (quizzes_dir / "gift-bad.yml").exists()


def test_the_import_defaults_are_those_of_the_programs_own_quizzes_and_exams() -> None:
    shipped = Path(__file__).parent.parent / "quizzes"
    seen = set()
    for path in shipped.glob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        kind = QuizKind(data.get("kind", "quiz"))
        house = HOUSE_RULES[kind]
        settings = data["settings"]
        assert (settings["attempts_allowed"], settings.get("grading", "highest"), settings["review"]) == (
            house.attempts_allowed, house.grading, house.review), path.name
        seen.add(kind)
    assert seen == {QuizKind.QUIZ, QuizKind.EXAM}
