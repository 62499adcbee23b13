"""Templates as content: validation with file and line, sync and retirement, the pages
and the downloads."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from lms.extensions import db
from lms.resources.models import Template
from tests.conftest import SHIPPED_CONTENT


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


def test_shipped_library_has_at_least_fourteen_templates_and_every_link_resolves(app: Flask) -> None:
    result = invoke(app, "--check")
    assert result.exit_code == 0, result.output
    found = re.search(r"(\d+) templates", result.output)
    assert found and int(found.group(1)) >= 14, result.output
    known = {p.stem for p in (SHIPPED_CONTENT / "templates").glob("*") if p.suffix in (".md", ".csv")}
    links = {m for p in (SHIPPED_CONTENT / "modules").rglob("*.md") for m in re.findall(r"\(/templates/([a-z0-9-]+)", p.read_text())}
    assert links <= known


def test_bad_front_matter_unknown_module_bad_csv_and_duplicate_are_refused(app: Flask, content_dir: Path) -> None:
    folder = content_dir / "templates"
    (folder / "broken.md").write_text("---\nid: broken\ntitle: [unclosed\n---\nBody\n")
    (folder / "stray.md").write_text("---\nid: stray\ntitle: Stray\nsummary: S.\nmodules: [no-such-module]\nobjectives: [KO1]\n---\nBody\n")
    (folder / "sheet.csv").write_text("a,b\n1,2,3\n")
    (folder / "sheet.yml").write_text("id: sheet\ntitle: Sheet\nsummary: S.\nmodules: [mlops]\nobjectives: [KO1]\n")
    (folder / "model-card.csv").write_text("a,b\n1,2\n")
    (folder / "model-card.yml").write_text("id: model-card\ntitle: Dup\nsummary: S.\nmodules: [mlops]\nobjectives: [KO1]\n")
    result = invoke(app, "--check")
    assert result.exit_code != 0
    assert "broken.md:4: invalid YAML" in result.output
    assert "stray.md:5: unknown module 'no-such-module'" in result.output
    assert "sheet.csv:2: 3 cells; the header has 2" in result.output
    assert "duplicate id 'model-card'" in result.output


def test_sync_is_idempotent_and_a_removed_file_is_retired(app: Flask, content_dir: Path, loaded, load_content) -> None:
    assert "templates" not in "\n".join(load_content().lines())
    (content_dir / "templates" / "model-card.md").unlink()
    load_content()
    with app.app_context():
        card = db.session.scalar(select(Template).where(Template.key == "model-card"))
        assert card is not None and card.retired_at is not None


def test_pages_and_downloads(app: Flask, client, loaded, world, login) -> None:
    assert "/login" in client.get("/templates").headers["Location"]
    login(client, world.learner_a)
    page = client.get("/templates")
    assert page.status_code == 200 and b"/templates/model-card" in page.data
    assert b"Model card" in client.get("/templates/model-card").data
    download = client.get("/templates/model-card/download")
    assert download.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert download.headers["Content-Disposition"] == 'attachment; filename="model-card.md"'
    assert download.data.startswith(b"# Model card")
    assert b"/templates/model-card" in client.get("/modules/mlops").data


def test_a_templates_page_has_one_h1_and_its_documents_headings_below_it(app: Flask, client, loaded, world, login) -> None:
    """A template's document starts with its own "# Title": shown on the page it was a second
    h1 (WCAG 1.3.1, a page's outline for screen readers); it is an h2 now, its sections h3."""
    login(client, world.learner_a)
    page = client.get("/templates/retrospective").get_data(as_text=True)
    headings = re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", page)
    assert [text for level, text in headings if level == "1"] == ["Retrospective"]
    body = page.split('class="lesson-body"', 1)[1]
    levels = [int(level) for level in re.findall(r"<h([1-6])", body)]
    assert levels[0] == 2 and all(later - earlier <= 1 for earlier, later in zip(levels, levels[1:], strict=False))
