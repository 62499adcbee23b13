"""Tables in the course that pick a row by head count (an approval rule per team size, KPIs
per company stage) must give every size exactly one row: a reader of nine people, or of
twenty-six, has to find their row, and a reader of ten must not find two."""

from __future__ import annotations

import re
from pathlib import Path

import config

CONTENT = Path(config.Config.CONTENT_DIR)

# "3-8 people", "10 to 25 people", "up to 9 people", "30+ people", "30 or more people"
BOUNDED = re.compile(r"\b(\d+)\s*(?:-|–|to)\s*(\d+) people\b", re.I)
UP_TO = re.compile(r"\bup to (\d+) people\b", re.I)
OPEN = re.compile(r"\b(\d+)\s*(?:\+|or more) people\b", re.I)


def head_count(cell: str) -> tuple[int, int | None] | None:
    """The range of people a table's first cell names (None as the end: no upper bound)."""
    if found := BOUNDED.search(cell):
        return int(found[1]), int(found[2])
    if found := UP_TO.search(cell):
        return 1, int(found[1])
    if found := OPEN.search(cell):
        return int(found[1]), None
    return None


def size_tables(text: str) -> list[tuple[int, list[tuple[int, int | None]]]]:
    """Each Markdown table whose rows' first cells name head counts, as (line, ranges)."""
    tables, rows, start = [], [], 0
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if line.startswith("|"):
            start = start or number
            rows.append(head_count(line.strip("|").split("|")[0]))
            continue
        counted = [r for r in rows if r is not None]
        if len(counted) >= 2:
            tables.append((start, counted))
        rows, start = [], 0
    return tables


def gaps_and_overlaps(ranges: list[tuple[int, int | None]]) -> list[str]:
    found = []
    for (_, end), (low, _) in zip(ranges, ranges[1:], strict=False):
        if end is None or low <= end:
            found.append(f"{low} falls in two rows")
        elif low == end + 2:
            found.append(f"{end + 1} falls in no row")
        elif low > end + 2:
            found.append(f"{end + 1}-{low - 1} fall in no row")
    if ranges[-1][1] is not None:
        found.append(f"nothing above {ranges[-1][1]}")
    return found


def test_the_measure_finds_gaps_and_overlaps() -> None:
    text = "| Size | Rule |\n|---|---|\n| 3-8 people | a |\n| 10-25 people | b |\n| 30+ people or regulated | c |\n"
    assert size_tables(text) == [(1, [(3, 8), (10, 25), (30, None)])]
    assert gaps_and_overlaps([(3, 8), (10, 25), (30, None)]) == ["9 falls in no row", "26-29 fall in no row"]
    assert gaps_and_overlaps([(2, 10), (10, 30), (30, None)]) == ["10 falls in two rows", "30 falls in two rows"]
    assert gaps_and_overlaps([(1, 9), (10, 29), (30, None)]) == []
    assert size_tables("| At 5 people | At 50 people |\n|---|---|\n| a | b |\n") == []  # sizes as columns


def test_every_head_count_falls_in_one_row() -> None:
    paths = sorted(CONTENT.rglob("*.md"))
    problems = [f"{path}:{line}: {problem}" for path in paths for line, ranges in size_tables(path.read_text())
                for problem in gaps_and_overlaps(ranges)]
    assert len(paths) > 50 and not problems, problems
