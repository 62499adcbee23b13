"""Markdown people write keeps images only from the platform's own uploads (issue 17 point 1):
any other image becomes a link, so reading a comment never loads a tracking pixel."""

from __future__ import annotations

import pytest

from lms.web.markdown import is_own_upload, render_markdown, render_user_markdown


@pytest.mark.parametrize("text", [
    "![pixel](https://elsewhere.example/px.png)",
    '<img src="https://elsewhere.example/px.png">',
    "<img src=//elsewhere.example/px.png alt=pixel>",
    "![pixel](http://elsewhere.example/px.png \"title\")",
    "![ref][p]\n\n[p]: https://elsewhere.example/px.png",
    '<p><img alt="a>b" src="https://elsewhere.example/px.png"></p>',
    "![x](/attachments/../avatar.png)",
    "![x](/attachments/%2e%2e/avatar.png)",
    "![x](/\\elsewhere.example/px.png)",
])
def test_images_from_elsewhere_become_links(text: str) -> None:
    out = str(render_user_markdown(text))
    assert "<img" not in out
    assert "elsewhere.example" in out or "avatar.png" in out
    assert "<a " in out and 'rel="noopener noreferrer"' in out


def test_images_from_our_uploads_stay() -> None:
    out = str(render_user_markdown("![diagram](/attachments/42)"))
    assert out == '<p><img alt="diagram" src="/attachments/42"></p>'


def test_a_dangerous_image_source_becomes_an_inert_link() -> None:
    out = str(render_user_markdown('<img src="javascript:alert(1)" alt="x" onerror="alert(2)">'))
    assert "<img" not in out and "javascript" not in out and "onerror" not in out and "alert" not in out


def test_content_markdown_is_unchanged() -> None:
    # Course content (written by the course team) may still show remote images.
    assert "<img" in str(render_markdown("![a](https://example.org/a.png)").html)


@pytest.mark.parametrize(("src", "own"), [
    ("/attachments/1", True), ("/attachments/1?x=1", True), ("https://lms.example/attachments/1", False),
    ("//evil/attachments/1", False), ("attachments/1", False), ("/static/x.png", False),
    ("/attachments/../x", False), ("/attachments/\t1", False),
])
def test_is_own_upload(src: str, own: bool) -> None:
    assert is_own_upload(src) is own


@pytest.mark.parametrize("text", [
    '<div class="flash flash-success">Your grade was changed: confirm your password at the link below.</div>',
    '<p class="flash flash-error">Your account is locked.</p>',
    '<p class="visually-hidden">Only a screen reader hears this.</p>',
    '<code class="button">Continue</code>',
    '!!! flash-success "Grade released"\n    Sign in again at the link below.',
    "```flash\nx = 1\n```",
])
def test_people_cannot_dress_their_text_in_the_pages_own_classes(text: str) -> None:
    """People's Markdown keeps no class of its author's: one of the pages' own (a success or
    error message, a button, text hidden from sight) would pass it off as the platform's words."""
    out = str(render_user_markdown(text))
    assert "class=" not in out, out


def test_peoples_tables_keep_their_box_and_content_keeps_its_classes() -> None:
    assert str(render_user_markdown("| a |\n|---|\n| b |\n")).startswith('<div class="table-wrap" role="region"')
    assert 'class="language-python"' in str(render_markdown("```python\nx = 1\n```").html)
