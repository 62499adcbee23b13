"""What a screen reader reads, from Chromium's accessibility tree (an aria snapshot)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_the_breadcrumb_separators_are_seen_and_not_read(server_url: str, load_content, page) -> None:
    """Before: each step after the first was read as "›AI Development Operations (MLOps)"
    (a character announced as "right-pointing angle bracket"); the list already says the
    steps are in order."""
    load_content()
    page.goto(server_url + "/modules/mlops")
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    snapshot = crumbs.aria_snapshot()
    assert "›" not in snapshot, snapshot
    shown = crumbs.get_by_role("listitem").nth(1).evaluate("li => getComputedStyle(li, '::before').content")
    assert shown.startswith('"›"'), shown  # still seen
