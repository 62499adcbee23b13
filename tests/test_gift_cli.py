"""`flask lms import-gift` and `export-gift`: every GIFT kind imports into a loadable quiz
and exports back with the same meaning; bad GIFT names its line and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from lms.assessment.gift_reader import parse_gift

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
    assert parsed.problems == [] and len(parsed.questions) >= 10


def test_export_of_an_unknown_quiz_is_an_error(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["lms", "export-gift", "no-such-quiz"])
    assert result.exit_code == 1 and "no quiz file" in result.output
