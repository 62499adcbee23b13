"""Markdown read as plain text (lms/web/markdown.py ``plain_text`` and ``excerpt``): what a
notice's line shows of an announcement or a discussion post."""

from __future__ import annotations

from lms.web.markdown import excerpt, plain_text


def test_plain_text_keeps_what_is_read_and_drops_the_marks() -> None:
    assert plain_text("Hello **Amara**, see [the guide](https://example.org) and `code`.") == (
        "Hello Amara, see the guide and code.")
    assert plain_text("# Title\n\n- one\n- two\n\n> quoted & <b>bold</b>") == "Title one two quoted & bold"
    assert plain_text("<script>alert(1)</script>Text") == "Text"  # nothing of a script is kept, not even as words
    assert plain_text("5 < 6 and a_b_c") == "5 < 6 and a_b_c"


def test_an_excerpt_is_cut_on_the_plain_text_with_an_ellipsis() -> None:
    assert excerpt("**short**", 10) == "short"
    cut = excerpt("**" + ("word " * 10).strip() + "**", 12)
    assert cut == "word word w…" and len(cut) == 12
    assert excerpt("exactly ten", 11) == "exactly ten"
