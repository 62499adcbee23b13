"""The audit log: ``record`` appends one entry; the database refuses to change or remove
one (a trigger, on SQLite and PostgreSQL); the request's actor and address reach entries
written by signal receivers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from lms.audit.models import AuditAction, AuditEntry
from lms.audit.services import Origin, origin, record, record_from, set_origin
from lms.audit.wiring import remember_origin
from lms.extensions import db


def entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_record_appends_an_entry_with_plain_json(app: Flask, make_user) -> None:
    admin = make_user(admin=True)
    with app.app_context():
        record(db.session, actor_id=admin.id, action=AuditAction.USER_DEACTIVATED, organization_id=None,
               target="user:7", before={"active": True, "on": date(2026, 12, 1), "score": Decimal("1.5")},
               after={"active": False}, ip="203.0.113.9")
        db.session.commit()
        (entry,) = entries()
    assert (entry.actor_id, entry.action, entry.target, entry.ip) == (admin.id, AuditAction.USER_DEACTIVATED,
                                                                      "user:7", "203.0.113.9")
    assert entry.before == {"active": True, "on": "2026-12-01", "score": "1.5"}
    assert entry.after == {"active": False}
    assert entry.created_at.tzinfo is UTC and entry.created_at <= datetime.now(UTC)


def test_record_keeps_none_as_sql_null(app: Flask) -> None:
    with app.app_context():
        record(db.session, actor_id=None, action=AuditAction.COHORT_CREATED, organization_id=3, target="cohort:1",
               before=None, after={"name": "x"}, ip=None)
        db.session.commit()
        assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.before.is_(None))) is not None


def test_record_refuses_an_unknown_action(app: Flask) -> None:
    with app.app_context(), pytest.raises(ValueError):
        record(db.session, actor_id=None, action="made_up", organization_id=None,  # type: ignore[arg-type]
               target="", before=None, after=None, ip=None)


def test_record_from_takes_the_sessions_origin(app: Flask) -> None:
    with app.app_context():
        assert origin(db.session) == Origin()
        set_origin(db.session, Origin(actor_id=5, ip="198.51.100.1"))
        entry = record_from(db.session, action=AuditAction.GRADE_SAVED, organization_id=None, target="grade:1",
                            before=None, after={"score": 3})
        named = record_from(db.session, action=AuditAction.GRADE_SAVED, organization_id=None, target="grade:1",
                            before=None, after=None, actor_id=9)
    assert (entry.actor_id, entry.ip, named.actor_id, named.ip) == (5, "198.51.100.1", 9, "198.51.100.1")


@pytest.mark.parametrize("change", ["update", "delete", "raw update", "raw delete"])
def test_the_database_refuses_to_change_or_remove_an_entry(app: Flask, change: str) -> None:
    with app.app_context():
        record(db.session, actor_id=1, action=AuditAction.GRADE_RELEASED, organization_id=None, target="grade:1",
               before=None, after={"released": True}, ip=None)
        db.session.commit()
        statement = {
            "update": update(AuditEntry).values(target="grade:2"),
            "delete": delete(AuditEntry),
            "raw update": text("UPDATE audit_log SET actor_id = 2"),
            "raw delete": text("DELETE FROM audit_log"),
        }[change]
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(statement)
        db.session.rollback()
        (entry,) = entries()
        assert (entry.actor_id, entry.target) == (1, "grade:1")


def test_each_request_stores_its_address_and_actor(app: Flask) -> None:
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "192.0.2.4"}):
        remember_origin()
        assert origin(db.session) == Origin(actor_id=None, ip="192.0.2.4")
