"""The search index as the content loader's last section: it reads no files of its own;
once every other section has synced the database, it brings the index in line with the
active lessons and templates in the same transaction (retired ones drop out). Being a
section of ``lms.sections.CONTENT_SECTIONS`` is how the loader is extended: the content
pipeline knows nothing of search."""

from __future__ import annotations

from collections import Counter

from lms.content.services import Bundle, ContentSection, SyncReport, Tick
from lms.content.source import Problems
from lms.database import DbSession
from lms.search.services import sync_index

LABEL = "search index entries"


class SearchIndexSection(ContentSection):
    name = "search"
    order = 1000  # after every section that loads something searchable

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        bundle.specs[self.name] = None

    def size(self, bundle: Bundle) -> int:
        return 0

    def summary(self, bundle: Bundle) -> dict[str, int]:
        return {}

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        index = sync_index(session)
        for outcome, n in (("created", index.created), ("updated", index.updated), ("retired", index.removed),
                           ("unchanged", index.unchanged)):
            report.counts.setdefault(LABEL, Counter())[outcome] += n
