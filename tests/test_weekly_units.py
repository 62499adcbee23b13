"""Weekly units: a lesson names its week of the month and its practice activity; the
loader checks them, the lesson page and the programme timeline show them, and
content-stats counts activities and their time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from lms.catalog.models import Lesson
from lms.extensions import db

ACTIVITY = {"title": "Map your release path", "minutes": 90, "produces": "A one-page release checklist",
            "template": "deployment-checklist", "steps": "1. List every step from commit to customer.\n2. Mark the manual ones.\n"}


def rewrite(path: Path, **changes: Any) -> None:
    """Change a lesson's front matter (None removes a key); the body is kept."""
    text = path.read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body)


def month_one(content_dir: Path) -> list[Path]:
    return sorted((content_dir / "modules" / "mlops" / "lessons").glob("0[12]-*.md"))


def check(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])


def test_two_units_cannot_claim_the_same_week(app: Flask, content_dir: Path) -> None:
    first, second = month_one(content_dir)
    rewrite(first, week=1)
    rewrite(second, week=1)
    result = check(app)
    assert result.exit_code == 1
    assert f"{second.name}:2" in result.output and f"week 1 of month 1 is already the unit of {first.name}" in result.output


@pytest.mark.parametrize(("activity", "message"), [
    ({**ACTIVITY, "minutes": 5}, "minutes"),
    ({key: value for key, value in ACTIVITY.items() if key != "produces"}, "produces"),
    ({**ACTIVITY, "template": "Not A Slug"}, "template"),
])
def test_an_incomplete_activity_is_refused_with_file_and_line(app: Flask, content_dir: Path, activity: dict[str, Any],
                                                              message: str) -> None:
    first, _ = month_one(content_dir)
    rewrite(first, week=1, activity=activity)
    result = check(app)
    assert result.exit_code == 1 and first.name in result.output and message in result.output


def test_a_weekly_unit_is_loaded_shown_and_counted(app: Flask, content_dir: Path, load_content, make_user, client,
                                                  login) -> None:
    first, second = month_one(content_dir)
    rewrite(first, week=2, activity=ACTIVITY)  # weeks 3 and 4 of month 1 are other lessons'
    rewrite(second, week=1, activity=None)
    load_content()
    lesson = db.session.scalar(select(Lesson).where(Lesson.source_path.like(f"%{first.name}")))
    other = db.session.scalar(select(Lesson).where(Lesson.source_path.like(f"%{second.name}")))
    assert lesson.week == 2 and lesson.activity["minutes"] == 90 and lesson.activity["template"] == "deployment-checklist"
    assert other.position < lesson.position  # week order within the month, whatever the file names say
    login(client, make_user(admin=True))
    html = " ".join(client.get(f"/lessons/{lesson.key}").get_data(as_text=True).split())
    assert "week 2 of month 1" in html and f"{lesson.minutes} min reading + 90 min practice" in html
    assert "This week's practice: Map your release path" in html and "you end with: A one-page release checklist" in html
    assert 'href="/templates/deployment-checklist"' in html and "<li>List every step from commit to customer.</li>" in html
    stats = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    assert stats.exit_code == 0
    month_1 = next(line for line in stats.output.splitlines() if line.startswith("| 1 "))
    assert int(month_1.split("|")[5]) >= 1  # the activity is counted


def test_reading_minutes_must_fit_the_lessons_length(app: Flask, content_dir: Path) -> None:
    first, _ = month_one(content_dir)
    rewrite(first, minutes=5)  # a lesson of over a thousand words read in five minutes
    result = check(app)
    assert result.exit_code == 1, result.output
    line = next(n for n, text in enumerate(first.read_text().splitlines(), start=1) if text.startswith("minutes:"))
    assert f"{first.name}:{line}: minutes: 5 does not fit" in result.output and "about " in result.output
