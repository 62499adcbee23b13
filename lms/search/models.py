"""The search index's rows: one per active lesson or template, as plain text. The full-text
index over them is the database's own (an FTS5 table on SQLite, a GIN index on the
tsvector of title and body on PostgreSQL: see ``lms.search.backends``), built by the
migration and kept in step by the database itself as these rows change."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import enum_type
from lms.extensions import Model


class DocumentKind(StrEnum):
    LESSON = "lesson"
    TEMPLATE = "template"


class SearchDocument(Model):
    __tablename__ = "search_documents"
    __table_args__ = (UniqueConstraint("kind", "item_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DocumentKind] = mapped_column(enum_type(DocumentKind, length=20, name="kind"))
    item_key: Mapped[str] = mapped_column(String(120))
    # A lesson's phase: whether a learner may open it follows the phase's schedule.
    phase_id: Mapped[int | None] = mapped_column(ForeignKey("phases.id"), default=None)
    title: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(String(300))  # where it sits: "MLOps · month 2"
    body: Mapped[str] = mapped_column(Text)  # plain text, Markdown markup removed
    checksum: Mapped[str] = mapped_column(String(64))


# Database objects the migrations make that no model maps (the autogenerate comparison
# skips them): the FTS5 table and its shadow tables on SQLite; on PostgreSQL the generated
# tsvector column and its GIN index (the database writes the column, never the ORM).
UNMAPPED = ("search_fts", "ix_search_documents_fts", "search_vector")


def is_unmapped(name: str | None) -> bool:
    return name is not None and any(name == n or name.startswith(n + "_") for n in UNMAPPED)
