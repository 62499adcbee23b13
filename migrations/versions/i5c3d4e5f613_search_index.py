"""search index: one row per searchable document (lessons, templates), and the full-text
index over it — an FTS5 table kept in step by triggers on SQLite, a GIN index on the
weighted English tsvector of title and body on PostgreSQL — issue 13 point 7

Revision ID: i5c3d4e5f613
Revises: i4c3d4e5f613
Create Date: 2026-12-01 06:00:05.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.database  # noqa: F401

# revision identifiers, used by Alembic.
revision = 'i5c3d4e5f613'
down_revision = 'i4c3d4e5f613'
branch_labels = None
depends_on = None

# Kept literal here (a migration must not change when the code does); lms/search/backends.py
# queries exactly these objects.
SQLITE_UP = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='search_documents', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS search_documents_au",
    "DROP TRIGGER IF EXISTS search_documents_ad",
    "DROP TRIGGER IF EXISTS search_documents_ai",
    "DROP TABLE IF EXISTS search_fts",
)
POSTGRESQL_UP = (
    "CREATE INDEX ix_search_documents_fts ON search_documents USING gin ("
    "(setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, body), 'B')))",
)
POSTGRESQL_DOWN = ("DROP INDEX IF EXISTS ix_search_documents_fts",)


def upgrade():
    op.create_table('search_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('item_key', sa.String(length=120), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('context', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.CheckConstraint("kind IN ('lesson', 'template')", name=op.f('ck_search_documents_kind')),
    sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_search_documents_phase_id_phases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_documents')),
    sa.UniqueConstraint('kind', 'item_key', name=op.f('uq_search_documents_kind'))
    )
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP}.get(dialect, ()):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN}.get(dialect, ()):
        op.execute(statement)
    op.drop_table('search_documents')
