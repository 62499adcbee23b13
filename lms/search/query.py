"""What the user typed, read as search terms: words, "quoted phrases", and the last word
as a prefix while it is still being typed (no space after it). Only runs of letters and
digits survive, so no character of the input reaches a query language as syntax: quotes,
``*``, ``-``, parentheses, ``NEAR``, ``OR`` and ``:`` are text or nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_INPUT = 200   # characters read from the box
MAX_TERMS = 12    # words and phrases used
WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]   # one word, or a phrase's words in order
    prefix: bool = False     # the last word matches words that start with it

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class SearchQuery:
    text: str                # the input as used (trimmed, shortened)
    terms: tuple[Term, ...]

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def words(self) -> list[str]:
        return [w for t in self.terms for w in t.words]


def parse_query(raw: str) -> SearchQuery:
    # Control characters (NUL among them, which PostgreSQL refuses in text) are dropped.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())[:MAX_INPUT]
    terms: list[Term] = []
    parts = text.split('"')
    for i, part in enumerate(parts):
        words = tuple(w.lower() for w in WORD.findall(part))
        if not words:
            continue
        if i % 2:  # inside quotes (an unclosed quote runs to the end)
            terms.append(Term(words))
        else:
            terms.extend(Term((w,)) for w in words)
    still_typing = not raw[-1:].isspace() and bool(WORD.search(parts[-1][-1:] or " "))
    if terms and not terms[-1].phrase and len(parts) % 2 and still_typing:
        terms[-1] = Term(terms[-1].words, prefix=True)
    return SearchQuery(text=text, terms=tuple(terms[:MAX_TERMS]))
