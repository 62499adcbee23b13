"""The test database's snapshots (``tests/conftest.py``): a restore gives back every row of
the snapshot, whatever changed since and through whichever connection, and on PostgreSQL
leaves the tables nobody changed as they were (their rows are not written again)."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lms.extensions import db


def contents(engine: sa.Engine) -> dict[str, str]:
    """A digest of every table's rows, generated columns included."""
    found = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in conn.execute(sa.text(f'SELECT * FROM "{table.name}"')))
            found[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return found


def row_versions(engine: sa.Engine, table: str) -> list[Any]:
    """The transaction that wrote each row (PostgreSQL's ``xmin``)."""
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text(f'SELECT id, CAST(xmin AS text) FROM "{table}"')).all())


def test_a_restore_undoes_inserts_updates_and_deletes_from_any_connection(loaded: Flask, _migrated: Any) -> None:
    shipped = _migrated.restored
    assert shipped is not None and shipped.startswith("load") and not _migrated.written
    with loaded.app_context():
        engine = db.engine
        before = contents(engine)
        postgres = engine.dialect.name == "postgresql"
        documents = row_versions(engine, "search_documents") if postgres else []
        # A connection of its own, with events this process's watcher never sees: as another
        # process (a live server, a CLI run) would write.
        other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", _migrated._watch)
        try:
            with other.begin() as conn:
                conn.execute(sa.text("UPDATE lessons SET title = 'Changed' WHERE id = (SELECT min(id) FROM lessons)"))
                conn.execute(sa.text("DELETE FROM content_revisions"))
                conn.execute(sa.text("INSERT INTO content_revisions (token) VALUES ('another')"))
        finally:
            sa.event.listen(sa.engine.Engine, "before_cursor_execute", _migrated._watch)
            other.dispose()
        changed = contents(engine)
        assert changed["lessons"] != before["lessons"] and changed["content_revisions"] != before["content_revisions"]
        db.session.remove()

        _migrated.restore(shipped)
        assert contents(engine) == before
        if postgres:  # nobody changed the documents: not written again
            assert row_versions(engine, "search_documents") == documents

        # An update that keeps the row count, then a restore to empty tables and back.
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE search_documents SET title = title || ' (edited)'"))
        assert contents(engine)["search_documents"] != before["search_documents"]
        _migrated.restore("empty")
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM search_documents")) == 0
            assert conn.scalar(sa.text("SELECT count(*) FROM lessons")) == 0
        _migrated.restore(shipped)
        assert contents(engine) == before
