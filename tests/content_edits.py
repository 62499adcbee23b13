"""Editing a copy of the course's files in a test, and reading ``load-content --check``'s
refusals back by line: the lint's tests change one line and expect the refusal there."""

from __future__ import annotations

import re
from pathlib import Path


def replace_once(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once and return the 1-based line where it stood."""
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


def problems_at(output: str, path: Path) -> dict[int, list[str]]:
    """The check's messages about ``path``, by line."""
    found: dict[int, list[str]] = {}
    for m in re.finditer(rf"{re.escape(str(path))}:(\d+): ([^\n]*)", output):
        found.setdefault(int(m.group(1)), []).append(m.group(2))
    return found
