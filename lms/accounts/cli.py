"""``flask lms create-admin``: a site administrator from the command line; ``flask lms
prune-sign-ins``: delete the sign-ins (``lms.accounts.devices``) ended or expired more than
``SIGN_IN_DEVICES_KEPT_DAYS`` ago (cron: daily, or queue the ``prune-sign-ins`` job kind)."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.accounts import devices, services
from lms.audit.models import AuditAction
from lms.audit.services import record
from lms.database import unit_of_work, utcnow
from lms.extensions import db


@click.command("create-admin")
@with_appcontext
@click.option("--email", prompt=True, help="The admin's email address.")
@click.option("--name", prompt=True, help="The admin's display name.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters.")
def create_admin_command(email: str, name: str, password: str) -> None:
    """Create a site admin, or make an existing account one."""
    try:
        with unit_of_work(db.session):
            user = services.find_user(db.session, email)
            if user is None:
                user = services.create_user(db.session, email, name, password, is_admin=True)
                done = f"Created site admin {user.email}."
            else:
                user.is_admin = True
                services.set_password(user, password)
                done = f"{user.email} is now a site admin; password updated."
            db.session.flush()
            record(db.session, actor_id=None, action=AuditAction.ADMIN_GRANTED, organization_id=None,
                   target=f"user:{user.id}", before=None, after={"is_admin": True, "by": "flask lms create-admin"}, ip=None)
    except services.AccountError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(done)


def sign_ins_kept_days() -> int:
    return int(current_app.config.get("SIGN_IN_DEVICES_KEPT_DAYS") or devices.DEFAULT_KEPT_DAYS)


@click.command("prune-sign-ins")
@with_appcontext
def prune_sign_ins_command() -> None:
    """Delete the sign-ins ended or expired more than SIGN_IN_DEVICES_KEPT_DAYS days ago (cron: daily)."""
    days = sign_ins_kept_days()
    with unit_of_work(db.session):
        count = devices.prune(db.session, timedelta(days=days), utcnow())
    click.echo(f"Deleted {count} sign-in{'s' * (count != 1)} ended or expired more than {days} days ago.")
