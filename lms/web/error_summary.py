"""The list of a refused form's problems at the top of the page, where the focus lands
when the page opens (WCAG 3.3.1, error identification, and 2.4.3, focus order): a person
who sent a form hears at once that it was refused and why, and each problem links to its
field. Without it the page opened at its top as if nothing had gone wrong, and the errors,
further down by each field, were found only by reading on.

The ``field`` macro of ``_forms.html`` notes each field it shows with errors
(``note_field_errors``); ``base.html`` renders the page's content first, then the summary of
what was noted (``noted_field_errors``) above it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g
from wtforms import Field
from wtforms.widgets import ListWidget


@dataclass(frozen=True)
class Problem:
    target: str  # the id of the control to go to
    label: str
    message: str


def note_field_errors(field: Field) -> str:
    """Note ``field``'s errors for this page's summary; nothing to show where called."""
    # A list of radios or boxes has its id on the list; WTForms numbers each option's own.
    target = f"{field.id}-0" if isinstance(field.widget, ListWidget) else field.id
    noted: list[Problem] = g.setdefault("field_errors", [])
    noted.extend(Problem(target, str(field.label.text), str(error)) for error in field.errors)
    return ""


def noted_field_errors() -> list[Problem]:
    return list(g.get("field_errors", []))


def init_app(app: Flask) -> None:
    app.add_template_global(note_field_errors)
    app.add_template_global(noted_field_errors)
