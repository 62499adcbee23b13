"""The template library: one row per file in ``content/templates/``, keyed by its stable
id (the file stem) and retired, never deleted, when the file goes away."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import ContentItem, Module, Objective
from lms.database import enum_type
from lms.extensions import Model, db


class TemplateFormat(StrEnum):
    MARKDOWN = "markdown"
    CSV = "csv"

    @property
    def extension(self) -> str:
        return "md" if self is TemplateFormat.MARKDOWN else "csv"

    @property
    def mimetype(self) -> str:
        return "text/markdown" if self is TemplateFormat.MARKDOWN else "text/csv"

    @property
    def label(self) -> str:
        return "Markdown" if self is TemplateFormat.MARKDOWN else "CSV"


template_modules = Table(
    "template_modules",
    db.metadata,
    Column("template_id", ForeignKey("templates.id"), primary_key=True),
    Column("module_id", ForeignKey("modules.id"), primary_key=True),
)
template_objectives = Table(
    "template_objectives",
    db.metadata,
    Column("template_id", ForeignKey("templates.id"), primary_key=True),
    Column("objective_id", ForeignKey("objectives.id"), primary_key=True),
)


class Template(ContentItem, Model):
    """A fill-in document. ``body`` is what a learner downloads: the Markdown after its
    front matter, or the whole CSV."""

    __tablename__ = "templates"

    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    format: Mapped[TemplateFormat] = mapped_column(enum_type(TemplateFormat, length=20, name="format"))
    body: Mapped[str] = mapped_column(Text)
    assignments: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_path: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int]
    modules: Mapped[list[Module]] = relationship(secondary=template_modules, order_by="Module.position")
    objectives: Mapped[list[Objective]] = relationship(secondary=template_objectives, order_by="Objective.position")

    @property
    def filename(self) -> str:
        return f"{self.key}.{self.format.extension}"
