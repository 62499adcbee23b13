"""The schema is built only by migrations: empty -> head -> base -> head, and the models
match what the migrations build."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import normalise_database_url
from lms import create_app
from lms.extensions import db
from lms.search.models import is_unmapped
from tests.conftest import RUN, reset_pg_schema, with_search_path


@pytest.fixture()
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = normalise_database_url(url)
    schema = f"lms_migrations_{RUN}"
    reset_pg_schema(url, schema)
    yield with_search_path(url, schema)
    reset_pg_schema(url, schema, create=False)


def test_migrations_from_empty_to_head_and_back(fresh_database_url: str, tmp_path: Path) -> None:
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        assert sa.inspect(db.engine).get_table_names() == []
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"programs", "levels", "objectives", "modules", "phases", "lessons", "metrics"} <= tables

        with db.engine.connect() as conn:
            # The search index's FTS5 table (SQLite) and GIN index (PostgreSQL) are the database's own, unmapped.
            context = MigrationContext.configure(conn, opts={"include_name": lambda name, *_: not is_unmapped(name)})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"

        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "lessons" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
