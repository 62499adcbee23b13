"""``flask lms badge-key``: make the Open Badges 3.0 issuer's signing key (or a new one)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.database import unit_of_work
from lms.extensions import db
from lms.openbadges.services import current_key, ensure_key


@click.command("badge-key")
@click.option("--rotate", is_flag=True, help="Make a new signing key; older keys stay published, so what they signed verifies.")
@with_appcontext
def badge_key_command(rotate: bool) -> None:
    """Make the Open Badges 3.0 issuer's Ed25519 signing key (once; --rotate for a new one)."""
    had = current_key(db.session)
    with unit_of_work(db.session):
        key = ensure_key(db.session, str(current_app.config["SECRET_KEY"]), rotate=rotate)
        kid = key.kid
    click.echo(f"{'Signing key kept' if had is not None and had.kid == kid else 'New signing key'}: {kid}")
