"""``flask lms load-content``: validate the curriculum files and load them."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from lms.cli import lms_cli
from lms.content.services import ContentSource, apply_content, parse_content
from lms.extensions import db


def content_source() -> ContentSource:
    return ContentSource(
        content_dir=Path(current_app.config["CONTENT_DIR"]),
        quizzes_dir=Path(current_app.config["QUIZZES_DIR"]),
    )


@lms_cli.command("load-content")
@click.option("--check", is_flag=True, help="Validate the files only; write nothing.")
def load_content_command(check: bool) -> None:
    """Load content/ (and quizzes/) into the database, idempotently."""
    parsed = parse_content(content_source())
    if parsed.problems:
        for problem in parsed.problems:
            click.echo(f"error: {problem}", err=True)
        count = len(parsed.problems.items)
        click.echo(f"Content refused: {count} problem{'s' * (count != 1)}; the database was not changed.", err=True)
        sys.exit(1)
    found = ", ".join(f"{n} {what}" for what, n in parsed.summary().items())
    if check:
        click.echo(f"Content is valid: {found}.")
        return
    try:
        with click.progressbar(length=parsed.size(), label="Loading content", file=sys.stderr) as bar:
            report = apply_content(db.session, parsed, tick=bar.update)
        if not report.changed:
            db.session.rollback()
            click.echo(f"No changes: the database already matches the files ({found}).")
            return
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        click.echo(f"error: the database refused the content: {exc.__class__.__name__}: {exc.orig if hasattr(exc, 'orig') else exc}", err=True)
        click.echo("Has the schema been created? Run `flask db upgrade` first.", err=True)
        sys.exit(1)
    for line in report.lines():
        click.echo(line)
    click.echo(f"Content loaded: {found}.")
