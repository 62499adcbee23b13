"""Every catalog page renders for the shipped content, with what a learner needs on it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from lms.catalog import services
from lms.catalog.models import Lesson, Module, Objective
from lms.extensions import db
from lms.web import markdown


def keys(app: Flask, model) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(model.key).order_by(model.id)))


def test_program_page_before_content_is_loaded(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No curriculum loaded yet" in response.get_data(as_text=True)


def test_program_overview(loaded: Flask, client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "AI Operations for Entrepreneurs" in html
    for title, months in (("Foundation", "Months 1–4"), ("Intermediate", "Months 5–8"), ("Advanced", "Months 9–12")):
        assert title in html and months in html
    assert html.count('class="month"') == 12
    for kind in ("Knowledge", "Skill", "Application"):
        assert f"<h3>{kind}</h3>" in html
    for code in ("KO1", "KO4", "SO1", "SO4", "AO1", "AO3"):
        assert f"#{code}" in html
    for module in keys(loaded, Module):
        assert f"/modules/{module}" in html


@pytest.mark.parametrize("level", ["foundation", "intermediate", "advanced"])
def test_level_pages(loaded: Flask, client, level: str) -> None:
    html = client.get(f"/levels/{level}").get_data(as_text=True)
    with loaded.app_context():
        page = services.level_page(db.session, level)
        assert page is not None and page.phases
        for item in page.phases:
            assert page.level.holds(item.phase.month)
            assert str(escape(item.phase.title)) in html
        for goal in page.level.goals:
            assert str(escape(goal)) in html


def test_every_module_page(loaded: Flask, client) -> None:
    with loaded.app_context():
        modules = db.session.scalars(select(Module)).all()
        for module in modules:
            html = client.get(f"/modules/{module.key}").get_data(as_text=True)
            assert module.title.replace("&", "&amp;") in html
            positions = [html.index(f"/lessons/{lesson.key}\"") for lesson in module.lessons]
            assert positions == sorted(positions), "lessons out of order"
            assert len(module.lessons) >= 3
            for objective in module.objectives:
                assert f">{objective.key}</a>" in html
            for metric in module.metrics:
                assert metric.target_label in html


def test_module_page_shows_metric_targets(loaded: Flask, client) -> None:
    html = client.get("/modules/mlops").get_data(as_text=True)
    assert "at least 95%" in html and "at least 99.9%" in html
    html = client.get("/modules/customer-success").get_data(as_text=True)
    assert "under 4 h" in html and "at least 70" in html


def test_every_lesson_page(loaded: Flask, admin_client) -> None:
    lesson_keys = keys(loaded, Lesson)
    assert len(lesson_keys) >= 18
    for key in lesson_keys:
        response = admin_client.get(f"/lessons/{key}")
        assert response.status_code == 200, key
        html = response.get_data(as_text=True)
        anchors = re.findall(r'<li><a href="#([^"]+)">', html)
        assert anchors, f"{key}: no table of contents"
        for anchor in anchors:
            assert f'id="{anchor}"' in html


def test_lesson_previous_and_next_follow_the_schedule(loaded: Flask, admin_client) -> None:
    with loaded.app_context():
        sequence = services.lesson_sequence(db.session)
    first = admin_client.get(f"/lessons/{sequence[0].key}").get_data(as_text=True)
    assert 'rel="prev"' not in first
    assert f'rel="next" href="/lessons/{sequence[1].key}"' in first
    middle = admin_client.get(f"/lessons/{sequence[5].key}").get_data(as_text=True)
    assert f'rel="prev" href="/lessons/{sequence[4].key}"' in middle
    assert f'rel="next" href="/lessons/{sequence[6].key}"' in middle
    last = admin_client.get(f"/lessons/{sequence[-1].key}").get_data(as_text=True)
    assert 'rel="next"' not in last
    # Month 1's week 1 comes first, month 12's week 4 last.
    with loaded.app_context():
        first_lesson, last_lesson = (db.session.scalar(select(Lesson).where(Lesson.key == link.key))
                                     for link in (sequence[0], sequence[-1]))
        assert first_lesson.module.key == "mlops" and (first_lesson.phase.month, first_lesson.week) == (1, 1)
        assert (last_lesson.phase.month, last_lesson.week) == (12, 4)


def test_objectives_page(loaded: Flask, client) -> None:
    html = client.get("/objectives").get_data(as_text=True)
    with loaded.app_context():
        objectives = db.session.scalars(select(Objective)).all()
        assert len(objectives) == 11
        for objective in objectives:
            assert f'id="{objective.key}"' in html
            section = html[html.index(f'id="{objective.key}"'):]
            section = section[: section.index("</li>\n\n  <li") if "</li>\n\n  <li" in section else len(section)]
            assert objective.labels[0] in section and objective.labels[1] in section
            for module in objective.modules:
                assert f"/modules/{module.key}" in section


@pytest.mark.parametrize("url", ["/levels/nope", "/modules/nope", "/lessons/nope"])
def test_unknown_items_are_404(loaded: Flask, admin_client, url: str) -> None:
    assert admin_client.get(url).status_code == 404


def test_script_in_lesson_markdown_comes_out_inert(app: Flask, admin_client, content_dir: Path, load_content) -> None:
    lesson = content_dir / "modules/mlops/lessons/01-release-pipeline-and-registry.md"
    lesson.write_text(
        lesson.read_text()
        + "\n<script>alert('owned')</script>\n\n<img src=x onerror=\"alert(1)\">\n\n"
        + "[click](javascript:alert(2))\n\n<a href=\"#\" onclick=\"alert(3)\">x</a>\n\n"
        + "<iframe src=\"https://evil.example\"></iframe>\n"
    )
    load_content(content_dir)
    html = admin_client.get("/lessons/mlops-release-pipeline-registry").get_data(as_text=True)
    body = html[html.index('<article class="lesson-body">'):html.index("</article>")]
    assert "<script" not in body and "alert('owned')" not in body
    assert "onerror" not in body and "onclick" not in body
    assert "javascript:" not in body
    assert "<iframe" not in body


def test_a_lesson_is_rendered_once_and_shows_its_new_text_after_a_content_load(
        app: Flask, admin_client, content_dir: Path, load_content, monkeypatch: pytest.MonkeyPatch) -> None:
    """The course's Markdown is kept rendered by the process, keyed by the text itself: a
    view after the first renders nothing, and a content load that changes the text shows
    the new text at once (no invalidation to forget). People's Markdown is never kept."""
    rendered: list[str] = []
    real = markdown.render_markdown

    def counting(text: str) -> markdown.Rendered:
        rendered.append(text)
        return real(text)

    monkeypatch.setattr(markdown, "render_markdown", counting)
    lesson = content_dir / "modules/mlops/lessons/01-release-pipeline-and-registry.md"
    url = "/lessons/mlops-release-pipeline-registry"
    load_content(content_dir)
    assert admin_client.get(url).status_code == 200
    rendered.clear()
    again = admin_client.get(url).get_data(as_text=True)
    assert rendered == [] and '<article class="lesson-body">' in again  # kept: nothing rendered

    lesson.write_text(lesson.read_text() + "\nA sentence added by the *latest* load.\n")
    load_content(content_dir)
    html = admin_client.get(url).get_data(as_text=True)
    assert "A sentence added by the <em>latest</em> load." in html
    assert len(rendered) == 1 and "added by the *latest* load" in rendered[0]  # only the changed text

    rendered.clear()
    markdown.render_user_markdown("A *comment*.")
    markdown.render_user_markdown("A *comment*.")
    assert rendered == ["A *comment*.", "A *comment*."]


def test_catalog_pages_use_a_fixed_number_of_queries(loaded: Flask, admin_client, count_queries) -> None:
    urls = ("/", "/levels/foundation", "/modules/mlops", "/modules/customer-success", "/objectives",
            "/lessons/mlops-data-features", "/lessons/cs-proactive-success")
    # the first view after a content load reads the curriculum the process then keeps
    # (``lms.catalog.revision``); whether this worker kept it already depends on the tests
    # it ran before, so each page is viewed once first
    cold = count_queries(lambda: [admin_client.get(url) for url in urls])
    counts = {url: count_queries(lambda url=url: admin_client.get(url)) for url in urls}
    assert counts["/modules/mlops"] == counts["/modules/customer-success"]
    assert counts["/lessons/mlops-data-features"] == counts["/lessons/cs-proactive-success"]
    # the lesson page: one more for its weekly check; every page: one for the roles the navigation
    # offers and one for the unread notifications count
    assert max(counts.values()) <= 15, counts
    # the front page's and the module pages' curriculum is kept: viewed again, they read the
    # revision and nothing of the curriculum (the module page reads its templates and
    # simulations, another feature's)
    assert counts["/"] <= counts["/objectives"] + 1, counts
    assert counts["/modules/mlops"] <= counts["/objectives"] + 3, counts
    assert cold >= sum(counts.values()), (cold, counts)
