"""``flask lms demo``: demo organization, cohort, staff and learners."""

from __future__ import annotations

import click

from lms.cli import lms_cli
from lms.demo.services import COHORT, ORGANIZATION, build_demo
from lms.extensions import db


@lms_cli.command("demo")
def demo_command() -> None:
    """Create (or refresh) the demo accounts and print their credentials."""
    credentials = build_demo(db.session)
    db.session.commit()
    click.echo(f"Demo data ready: {ORGANIZATION}, cohort {COHORT!r} (started five months ago).")
    click.echo(f"{'role':<20} {'email':<26} password")
    for c in credentials:
        click.echo(f"{c.role:<20} {c.email:<26} {c.password}")
