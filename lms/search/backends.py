"""Full-text search per database: a registry of small classes keyed by the SQLAlchemy
dialect name. Each turns a parsed ``SearchQuery`` into its own query language from the
parsed words alone (never from the raw input), ranks, and cuts a snippet marked with
``MARK_START``/``MARK_END`` that the caller escapes and turns into ``<mark>``.

- SQLite: the FTS5 table ``search_fts`` (porter stemming), kept in step with
  ``search_documents`` by triggers; ``bm25`` ranking with the title weighted 10:1.
- PostgreSQL: the English tsvector of title (weight A) and body (weight B), stored in
  the generated column ``search_vector`` under the GIN index ``ix_search_documents_fts``
  (matched and ranked without working it out again); ``ts_rank``, ``ts_headline``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import bindparam, text

from lms.database import DbSession
from lms.search.models import DocumentKind
from lms.search.query import SearchQuery, Term

MARK_START, MARK_END = "\x02", "\x03"


@dataclass(frozen=True)
class Match:
    document_id: int
    snippet: str  # plain text with MARK_START/MARK_END around the matched words


class SearchBackend(ABC):
    dialect: ClassVar[str]

    @abstractmethod
    def count(self, session: DbSession, query: SearchQuery, kinds: Sequence[DocumentKind]) -> int: ...

    @abstractmethod
    def page(self, session: DbSession, query: SearchQuery, kinds: Sequence[DocumentKind],
             limit: int, offset: int) -> list[Match]:
        """The matches of one page, best first."""

    def rebuild(self, session: DbSession) -> None:  # noqa: B027 - optional: an index the database keeps needs nothing
        """Rebuild the full-text index from ``search_documents`` (after a restore, say)."""


def _kinds(kinds: Sequence[DocumentKind]) -> dict[str, Any]:
    return {"kinds": [k.value for k in kinds]}


class Fts5Backend(SearchBackend):
    dialect = "sqlite"
    WHERE = ("FROM search_fts JOIN search_documents AS d ON d.id = search_fts.rowid "
             "WHERE search_fts MATCH :match AND d.kind IN :kinds")

    @staticmethod
    def expression(query: SearchQuery) -> str:
        """Every term quoted as an FTS5 string (the words hold no quote), ANDed; the
        prefix term gets ``*`` outside its quotes."""
        def one(term: Term) -> str:
            return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")
        return " ".join(one(t) for t in query.terms)

    def count(self, session: DbSession, query: SearchQuery, kinds: Sequence[DocumentKind]) -> int:
        statement = text(f"SELECT count(*) {self.WHERE}").bindparams(bindparam("kinds", expanding=True))
        return int(session.execute(statement, {"match": self.expression(query), **_kinds(kinds)}).scalar_one())

    def page(self, session: DbSession, query: SearchQuery, kinds: Sequence[DocumentKind],
             limit: int, offset: int) -> list[Match]:
        statement = text(
            "SELECT d.id, snippet(search_fts, 1, :start, :end, ' … ', 28) "
            f"{self.WHERE} ORDER BY bm25(search_fts, 10.0, 1.0), d.title, d.id LIMIT :limit OFFSET :offset"
        ).bindparams(bindparam("kinds", expanding=True))
        rows = session.execute(statement, {"match": self.expression(query), "start": MARK_START, "end": MARK_END,
                                           "limit": limit, "offset": offset, **_kinds(kinds)})
        return [Match(int(i), s or "") for i, s in rows]

    def rebuild(self, session: DbSession) -> None:
        session.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))


class PostgresBackend(SearchBackend):
    dialect = "postgresql"
    VECTOR = "d.search_vector"  # generated from the title and body (migration o1c3d4e5f613)
    WHERE = f"FROM search_documents AS d WHERE {VECTOR} @@ to_tsquery('english', :query) AND d.kind IN :kinds"
    HEADLINE = (f'StartSel={MARK_START}, StopSel={MARK_END}, MaxFragments=2, MaxWords=28, MinWords=12, '
                'FragmentDelimiter=" … "')

    @staticmethod
    def expression(query: SearchQuery) -> str:
        """A ``to_tsquery`` text from the words alone: each word single-quoted (the words
        hold no quote, colon or backslash), a phrase's words joined by ``<->``, the prefix
        term marked ``:*``, the terms ANDed. Stop words drop out as ``to_tsquery`` does."""
        def one(term: Term) -> str:
            words = [f"'{w}'" for w in term.words]
            if term.prefix:
                words[-1] += ":*"
            return words[0] if len(words) == 1 else "(" + " <-> ".join(words) + ")"
        return " & ".join(one(t) for t in query.terms)

    def count(self, session: DbSession, query: SearchQuery, kinds: Sequence[DocumentKind]) -> int:
        statement = text(f"SELECT count(*) {self.WHERE}").bindparams(bindparam("kinds", expanding=True))
        return int(session.execute(statement, {"query": self.expression(query), **_kinds(kinds)}).scalar_one())

    def page(self, session: DbSession, query: SearchQuery, kinds: Sequence[DocumentKind],
             limit: int, offset: int) -> list[Match]:
        statement = text(
            "SELECT d.id, ts_headline('english', d.body, to_tsquery('english', :query), :options) "
            f"{self.WHERE} ORDER BY ts_rank({self.VECTOR}, to_tsquery('english', :query)) DESC, d.title, d.id "
            "LIMIT :limit OFFSET :offset"
        ).bindparams(bindparam("kinds", expanding=True))
        rows = session.execute(statement, {"query": self.expression(query), "options": self.HEADLINE,
                                           "limit": limit, "offset": offset, **_kinds(kinds)})
        return [Match(int(i), s or "") for i, s in rows]


BACKENDS: dict[str, type[SearchBackend]] = {cls.dialect: cls for cls in (Fts5Backend, PostgresBackend)}


class NoSearchBackend(RuntimeError):
    pass


def backend_for(session: DbSession) -> SearchBackend:
    name = session.get_bind().dialect.name
    if name not in BACKENDS:
        raise NoSearchBackend(f"full-text search has no backend for the {name} database")
    return BACKENDS[name]()
