"""Running cases: fictional companies described once in content/cases.yml, referenced by id
from lessons, validated by the loader (unknown id, duplicate id or name refused with file and
line) and shown as a short box on the lessons that use them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from lms.catalog.models import Case, Lesson
from lms.extensions import db

ROOT = Path(__file__).resolve().parent.parent
LESSON = "modules/mlops/lessons/01-release-pipeline-and-registry.md"


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def reported_line(output: str, path: Path, message: str) -> str:
    found = re.search(rf"{re.escape(str(path))}:(\d+): [^\n]*{re.escape(message)}", output)
    assert found, output
    return path.read_text().splitlines()[int(found.group(1)) - 1].strip()


def test_an_unknown_case_in_a_lesson_is_refused_with_file_and_line(app: Flask, content_dir: Path) -> None:
    lesson = content_dir / LESSON
    replace(lesson, "cases: [ledgerline]", "cases: [ledgerline, quillmark]")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert reported_line(result.output, lesson, "unknown case 'quillmark'") == "cases: [ledgerline, quillmark]"


def test_a_company_name_used_twice_in_the_register_is_refused(app: Flask, content_dir: Path) -> None:
    register = content_dir / "cases.yml"
    replace(register, "name: Tallyweave", "name: ledgerline")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert reported_line(result.output, register, "duplicate company name 'ledgerline'") == "name: ledgerline"


def test_a_duplicate_id_is_refused(app: Flask, content_dir: Path) -> None:
    register = content_dir / "cases.yml"
    replace(register, "id: tallyweave", "id: ledgerline")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert reported_line(result.output, register, "duplicate id 'ledgerline'") == "- id: ledgerline"


def test_an_incomplete_case_is_refused_once_without_blaming_the_lessons(app: Flask, content_dir: Path) -> None:
    register = content_dir / "cases.yml"
    text = register.read_text()
    register.write_text(re.sub(r"\n    stage: Series A[^\n]*", "", text, count=1))
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(register))}:\d+: cases\[3\]\.stage: missing \(required\)", result.output), result.output
    assert "unknown case" not in result.output


def test_the_shipped_register_holds_three_or_four_distinct_companies_each_used() -> None:
    cases = yaml.safe_load((ROOT / "content" / "cases.yml").read_text())["cases"]
    assert 3 <= len(cases) <= 4
    assert len({c["id"] for c in cases}) == len({c["name"] for c in cases}) == len(cases)
    assert len({c["size"] for c in cases}) == len(cases) and len({c["market"] for c in cases}) == len(cases)
    lessons = list((ROOT / "content" / "modules").glob("*/lessons/*.md"))
    fronts = {p: yaml.safe_load(p.read_text().split("---\n")[1]) for p in lessons}
    for case in cases:
        users = [p for p, meta in fronts.items() if case["id"] in meta.get("cases", [])]
        assert users, f"{case['id']} is used by no lesson"
        # a lesson that tells the company's story names the case, so the box is shown
        for path in lessons:
            if case["name"] in path.read_text():
                assert path in users, f"{path} mentions {case['name']} without cases: [{case['id']}]"


def test_fictional_names_are_not_reused_for_different_companies() -> None:
    files = [p for p in (ROOT / "content").rglob("*") if p.suffix in (".md", ".yml") and p.name != "README.md"]
    files += list((ROOT / "quizzes").rglob("*.yml"))
    for name in ("Quillmark", "Parsewell"):
        holders = [p for p in files if name in p.read_text()]
        assert len(holders) <= 1, (name, holders)


def test_cases_are_stored_and_shown_on_the_lessons_that_use_them(loaded: Flask, admin_client) -> None:
    with loaded.app_context():
        cases = db.session.scalars(select(Case)).all()
        assert {c.key for c in cases} == {"ledgerline", "tallyweave", "kestrel-docs", "fennick-labs"}
        lessons = db.session.scalars(select(Lesson)).all()
        used = [les for les in lessons if les.cases]
        assert len(used) >= 4
        for lesson in lessons:
            page = admin_client.get(f"/lessons/{lesson.key}").get_data(as_text=True)
            for case in lesson.cases:
                assert f'id="case-{case.key}"' in page
                assert f"Running case: {escape(case.name)}" in page
                assert str(escape(case.profile)) in page
            if not lesson.cases:
                assert "Running case:" not in page


def test_a_case_dropped_from_the_register_is_retired_and_the_lessons_lose_it(loaded: Flask, content_dir: Path) -> None:
    assert invoke(loaded).exit_code == 0
    register = content_dir / "cases.yml"
    text = register.read_text()
    start = text.index("  - id: fennick-labs")
    register.write_text(text[:start])
    for lesson_file in content_dir.glob("modules/*/lessons/*.md"):  # every lesson that named it stops naming it
        if "cases: [fennick-labs]\n" in lesson_file.read_text():
            replace(lesson_file, "cases: [fennick-labs]\n", "")
    result = invoke(loaded)
    assert result.exit_code == 0, result.output
    with loaded.app_context():
        fennick = db.session.scalar(select(Case).where(Case.key == "fennick-labs"))
        assert fennick is not None and fennick.retired_at is not None
        lesson = db.session.scalar(select(Lesson).where(Lesson.key == "cs-scaling-success-growth"))
        assert lesson is not None and lesson.cases == []
