"""``flask lms content-stats`` counts the course files per month and per module."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from flask import Flask

from lms.content.stats import Fact, Measure, gather, word_count


def rows(output: str, title: str) -> dict[str, list[str]]:
    """The table under ``## title``: first cell -> the other cells."""
    section = output.split(f"## {title}")[1].split("## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| month")
             and not line.startswith("| module")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines)}


def test_content_stats_counts_the_shipped_course(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    assert result.exit_code == 0, result.output
    shipped = Path(app.config["CONTENT_DIR"])
    lessons = sorted(shipped.glob("modules/*/lessons/*.md"))
    assignments = sorted(shipped.glob("modules/*/assignments/*.md"))
    months, modules = rows(result.output, "Per month"), rows(result.output, "Per module")
    assert list(months)[:12] == [str(m) for m in range(1, 13)] and "total" in months
    assert int(months["total"][0]) == len(lessons) == sum(int(modules[m.name][0]) for m in shipped.glob("modules/*"))
    header = next(line for line in result.output.splitlines() if line.startswith("| month"))
    column = {name: i - 2 for i, name in enumerate(c.strip() for c in header.split("|"))}  # after the row's name
    assert int(months["total"][column["assignments"]]) == len(assignments)
    assert sum(int(r[0]) for name, r in months.items() if name != "total") == len(lessons)
    # the exams sit in no module; every quiz in some month
    quizzes = column["quizzes"]
    assert int(modules["—"][quizzes]) >= 3 and int(months["total"][quizzes]) == sum(int(r[quizzes]) for n, r in months.items() if n != "total")
    readings = sum(len(yaml.safe_load(m.read_text()).get("readings", [])) for m in shipped.glob("modules/*/module.yml"))
    lesson_readings = sum(len((yaml.safe_load(p.read_text().split("\n---\n", 1)[0].removeprefix("---\n")) or {})
                              .get("readings", [])) for p in lessons)
    assert readings >= 30 and lesson_readings >= 15
    assert int(months["total"][column["readings"]]) == readings + lesson_readings
    # every month has something further to read, from the module it opens or from its weekly units
    assert all(int(months[str(m)][column["readings"]]) > 0 for m in range(1, 13))
    assert int(months["total"][column["activities"]]) == sum("\nactivity:" in p.read_text() for p in lessons)
    # every framework has success metrics to track
    framework_rows = {name: r for name, r in modules.items() if name not in ("—", "total")}
    assert len(framework_rows) == 6 and all(int(r[column["metrics"]]) > 0 for r in framework_rows.values())
    checks = sorted(Path(app.config["QUIZZES_DIR"]).glob("checks/*.yml"))
    assert int(months["total"][column["checks"]]) == len(checks)
    low, median, high = map(int, months["total"][1].split("/"))
    assert 0 < low <= median <= high


def test_content_stats_refuses_broken_content_with_file_and_line(app: Flask, content_dir: Path) -> None:
    (content_dir / "mastery.yml").write_text("program: ai-operations\nmethod: guesswork\n")
    result = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    assert result.exit_code == 1 and "mastery.yml:2" in result.output


def test_gather_adds_up_per_month_and_module() -> None:
    facts = [Fact(Measure.LESSONS, 1, 1, "a"), Fact(Measure.WORDS, 900, 1, "a"), Fact(Measure.MINUTES, 90, 1, "a"),
             Fact(Measure.LESSONS, 1, 2, "b"), Fact(Measure.WORDS, 2000, 2, "b"), Fact(Measure.MINUTES, 30, 2, "b"),
             Fact(Measure.LESSONS, 1, 2, "a"), Fact(Measure.WORDS, 1200, 2, "a"), Fact(Measure.TEMPLATES, 1, None, "a")]
    stats = gather(facts, months=2)
    assert stats.total.word_range == (900, 1200, 2000) and stats.total.hours == 2.0
    assert stats.by_month["2"].count(Measure.LESSONS) == 2 and stats.by_month["—"].count(Measure.TEMPLATES) == 1
    assert stats.by_module["a"].word_range == (900, 1050, 1200) and stats.by_module["b"].hours == 0.5
    assert word_count("A **model** card — 3 parts, and # headings.") == 7


def test_the_readme_shows_the_shipped_courses_figures(app: Flask) -> None:
    """README.md's "The course in numbers" is this command's output for the shipped files
    (rerun it after changing content: the block sits between the content-stats markers)."""
    result = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- content-stats:start -->")[1].split("<!-- content-stats:end -->")[0]
    expected = re.sub(r"(?m)^## ", "#### ", result.output.strip())  # the tables sit under "The course in numbers"
    assert block.strip() == expected
