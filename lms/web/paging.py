"""One page of a longer list shown a page at a time (the heat map, the gradebook, the
grading queue), with ``_pager.html``'s previous and next links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Paging:
    """One page of a longer list: which page, how many pages, how many items in all."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page

    def slice(self, items: Sequence[Any]) -> list[Any]:
        return list(items[self.first:self.first + self.per_page])

    @property
    def shown_from(self) -> int:
        return min(self.first + 1, self.total)

    @property
    def shown_to(self) -> int:
        return min(self.first + self.per_page, self.total)


def paging(page: int | None, per_page: int, total: int) -> Paging:
    """Page ``page`` (1-based; out of range: the nearest page there is)."""
    pages = max((total + per_page - 1) // per_page, 1)
    return Paging(page=min(max(page or 1, 1), pages), per_page=per_page, total=total)
