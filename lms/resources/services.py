"""Reading the template library: the active templates grouped by module, one template,
and the templates that serve a module."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.catalog.models import Module
from lms.database import DbSession
from lms.resources.models import Template, template_modules


@dataclass(frozen=True)
class ModuleShelf:
    """One module's part of the library."""

    module: Module
    templates: list[Template]


def library(session: DbSession) -> list[ModuleShelf]:
    """Every active template under each active module it serves, in the program's module
    order (a template serving two modules appears under both). Three statements."""
    templates = session.scalars(
        select(Template).where(Template.retired_at.is_(None)).order_by(Template.position)
        .options(selectinload(Template.modules))
    ).all()
    modules = session.scalars(select(Module).where(Module.retired_at.is_(None)).order_by(Module.position)).all()
    return [ModuleShelf(module=m, templates=shelf) for m in modules
            if (shelf := [t for t in templates if m in t.modules])]


def active_template(session: DbSession, key: str) -> Template | None:
    return session.scalar(
        select(Template).where(Template.key == key, Template.retired_at.is_(None))
        .options(selectinload(Template.modules), selectinload(Template.objectives))
    )


def templates_for_module(session: DbSession, module_id: int) -> list[Template]:
    """The active templates that serve one module, in library order."""
    return list(session.scalars(
        select(Template).join(template_modules, template_modules.c.template_id == Template.id)
        .where(template_modules.c.module_id == module_id, Template.retired_at.is_(None))
        .order_by(Template.position)
    ))
