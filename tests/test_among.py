"""``lms.database.among``: ``column IN ids`` with the ids bound as one value, so one
statement text serves every number of ids, on both databases."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event, select

from lms.accounts.models import User
from lms.database import among
from lms.extensions import db


def test_among_finds_what_in_finds_with_one_statement_for_every_length(app: Flask, make_user: Any) -> None:
    ids = [make_user(name=f"Among {n}").id for n in range(4)]
    db.session.commit()
    missing = max(ids) + 1000
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    asked = [[], [ids[0]], [ids[2], ids[0], missing], ids, [ids[1], ids[1]], list(range(max(ids) + 1, max(ids) + 900))]
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        found = [sorted(db.session.scalars(select(User.id).where(among(User.id, wanted)))) for wanted in asked]
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert found == [sorted(db.session.scalars(select(User.id).where(User.id.in_(wanted)))) for wanted in asked]
    assert found[2] == sorted([ids[0], ids[2]]) and found[0] == [] and found[-1] == []
    assert len(statements) == len(asked) and len(set(statements)) == 1  # one text, however many ids
    # a set, a generator: any iterable of ids
    assert sorted(db.session.scalars(select(User.id).where(among(User.id, {ids[3]})))) == [ids[3]]
    assert sorted(db.session.scalars(select(User.id).where(among(User.id, (i for i in ids[:2]))))) == ids[:2]
