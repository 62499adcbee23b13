"""The content sections ``load-content`` reads, in load order: the one explicit registry.

``create_app`` hands this list to the content feature; scripts and tests that load the
curriculum without an app call ``parse_curriculum`` / ``load_curriculum`` and get every
section too."""

from __future__ import annotations

from lms.assessment.content import QuizSection
from lms.catalog.content import CatalogSection
from lms.content.services import ContentSection, ContentSource, ParseResult, SyncReport, Tick, apply_content, parse_content
from lms.coursework.content import CourseworkSection
from lms.database import DbSession
from lms.progress.content import MasteryPolicySection
from lms.resources.content import TemplatesSection
from lms.search.content import SearchIndexSection
from lms.simulations.content import SimulationsSection

CONTENT_SECTIONS: tuple[type[ContentSection], ...] = (CatalogSection, QuizSection, CourseworkSection, MasteryPolicySection,
                                                      TemplatesSection, SimulationsSection, SearchIndexSection)


class ContentRefused(ValueError):
    """The files have problems; nothing was written. ``problems`` names file and line."""

    def __init__(self, parsed: ParseResult) -> None:
        self.problems = parsed.problems
        super().__init__("; ".join(str(p) for p in parsed.problems))


def parse_curriculum(source: ContentSource) -> ParseResult:
    return parse_content(source, CONTENT_SECTIONS)


def load_curriculum(session: DbSession, source: ContentSource, tick: Tick = lambda n: None) -> SyncReport:
    """Parse every section and sync the database (flush only; the caller's unit of work
    commits). Raises ``ContentRefused`` when any file has a problem."""
    parsed = parse_curriculum(source)
    if parsed.problems:
        raise ContentRefused(parsed)
    return apply_content(session, parsed, tick=tick)
