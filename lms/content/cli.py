"""``flask lms load-content``: validate the curriculum files and load them."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from lms.content.services import ContentSection, ContentSource, ParseResult, apply_content, parse_content
from lms.content.stats import gather, table
from lms.database import unit_of_work
from lms.extensions import db

SECTIONS_KEY = "lms.content_sections"


def set_sections(app: Flask, sections: Sequence[type[ContentSection]]) -> None:
    app.extensions[SECTIONS_KEY] = tuple(sections)


def content_source() -> ContentSource:
    return ContentSource(
        content_dir=Path(current_app.config["CONTENT_DIR"]),
        quizzes_dir=Path(current_app.config["QUIZZES_DIR"]),
        lint_bank=bool(current_app.config.get("ITEM_BANK_LINT", True)),
    )


def _parsed_or_exit(refused: str) -> ParseResult:
    """The parsed content; on problems, each with its file and line, then exit 1."""
    parsed = parse_content(content_source(), current_app.extensions[SECTIONS_KEY])
    if parsed.problems:
        for problem in parsed.problems:
            click.echo(f"error: {problem}", err=True)
        count = len(parsed.problems.items)
        click.echo(f"Content refused: {count} problem{'s' * (count != 1)}; {refused}", err=True)
        sys.exit(1)
    return parsed


@click.command("load-content")
@with_appcontext
@click.option("--check", is_flag=True, help="Validate the files only; write nothing.")
def load_content_command(check: bool) -> None:
    """Load content/ (and quizzes/) into the database, idempotently."""
    parsed = _parsed_or_exit("the database was not changed.")
    found = ", ".join(f"{n} {what}" for what, n in parsed.summary().items())
    if check:
        click.echo(f"Content is valid: {found}.")
        return
    try:
        with unit_of_work(db.session), \
                click.progressbar(length=parsed.size(), label="Loading content", file=sys.stderr) as bar:
            report = apply_content(db.session, parsed, tick=bar.update)
    except SQLAlchemyError as exc:
        reason = exc.orig if hasattr(exc, "orig") else exc
        click.echo(f"error: the database refused the content: {exc.__class__.__name__}: {reason}", err=True)
        click.echo("Has the schema been created? Run `flask db upgrade` first.", err=True)
        sys.exit(1)
    if not report.changed:
        click.echo(f"No changes: the database already matches the files ({found}).")
        return
    for line in report.lines():
        click.echo(line)
    click.echo(f"Content loaded: {found}.")


@click.command("content-stats")
@with_appcontext
def content_stats_command() -> None:
    """Count what the course files hold, per month and per module (reads the files, not the database)."""
    parsed = _parsed_or_exit("fix them to count the course.")
    stats = gather(parsed.facts())
    click.echo("\n".join(["## Per month", "", *table("month", stats.by_month, stats.total), "",
                           "## Per module", "", *table("module", stats.by_module, stats.total),
                           *(line for block in parsed.blocks() for line in ["", *block.lines()])]))
