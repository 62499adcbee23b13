"""The content pipeline's wiring: ``flask lms load-content`` and ``flask lms content-stats``
over the sections given."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask

from lms.cli import add_commands
from lms.content.cli import content_stats_command, load_content_command, set_sections
from lms.content.services import ContentSection


def init_app(app: Flask, sections: Sequence[type[ContentSection]]) -> None:
    set_sections(app, sections)
    add_commands(app, load_content_command, content_stats_command)
