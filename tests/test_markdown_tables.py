"""Tables in Markdown, the course's and people's, scroll sideways in a box of their own that a
keyboard can reach and a screen reader names (WCAG 2.1.1; axe's "scrollable-region-focusable":
on a phone a lesson's or a template's table is wider than the screen). The box is the pages'
own (``.table-wrap``), added after sanitising: the author sets none of its attributes."""

from __future__ import annotations

import re

from lms.web.markdown import TABLE_LABEL_LONGEST, render_markdown, render_user_markdown

TABLE = "| Freshness need | `Example` | A & B |\n|---|---|---|\n| Days | invoices | nightly |\n"
BOX = re.compile(r'<div class="table-wrap" role="region" tabindex="0" aria-label="([^"]*)"><table>')


def test_a_table_in_content_is_boxed_and_named_by_its_header_cells() -> None:
    out = str(render_markdown("Before.\n\n" + TABLE + "\nAfter.\n").html)
    assert BOX.findall(out) == ["Table: Freshness need, Example, A &amp; B"]
    assert out.count("<table>") == 1 and out.count("</table></div>") == 1
    assert out.startswith("<p>Before.</p>") and out.endswith("<p>After.</p>")


def test_each_table_has_its_own_box_and_peoples_markdown_gets_one_box_a_table() -> None:
    text = TABLE + "\nBetween.\n\n| Only |\n|---|\n| one |\n"
    for out in (str(render_markdown(text).html), str(render_user_markdown(text))):
        assert BOX.findall(out) == ["Table: Freshness need, Example, A &amp; B", "Table: Only"]
        assert out.count("table-wrap") == 2  # people's Markdown is sanitised twice: never a box in a box


def test_an_author_cannot_set_the_boxs_attributes_or_break_out_of_its_label() -> None:
    out = str(render_user_markdown(
        '<div class="table-wrap" role="button" tabindex="5" aria-label="click me" onclick="alert(1)">'
        '<table><tr><th>"quoted" <b>&lt;script&gt;</b></th></tr></table></div>'))
    assert BOX.findall(out) == ["Table: &quot;quoted&quot; &lt;script&gt;"]
    assert "click me" not in out and 'tabindex="5"' not in out and "onclick" not in out and "button" not in out
    assert out.count("table-wrap") == 1


def test_a_table_without_header_cells_is_named_table() -> None:
    out = str(render_user_markdown("<table><tr><td>a cell</td></tr></table>"))
    assert BOX.findall(out) == ["Table"]


def test_a_long_label_is_cut() -> None:
    heads = [f"Column number {n} with a long name" for n in range(8)]
    text = "| " + " | ".join(heads) + " |\n|" + "---|" * len(heads) + "\n|" + " x |" * len(heads) + "\n"
    (label,) = BOX.findall(str(render_markdown(text).html))
    assert len(label) == TABLE_LABEL_LONGEST and label.startswith("Table: Column number 0") and label.endswith("…")


def test_a_table_in_a_tables_cell_is_left_unboxed_and_whole() -> None:
    nested = "<table><tr><td><table><tr><th>inner</th></tr></table></td></tr></table>"
    out = str(render_user_markdown(nested))
    assert "table-wrap" not in out
    assert out.count("<table>") == 2 and out.count("</table>") == 2 and "</div>" not in out


def test_peoples_headings_start_at_h3_in_order_without_ids_and_the_courses_keep_theirs() -> None:
    """People's Markdown is shown under a page's h1 and a part's h2: its heading levels, in
    order, become h3 to h6 (none skipped) and carry no id; the course's lessons keep theirs."""
    out = str(render_user_markdown("# One\n\n## Two\n\n#### Four\n\n###### Six\n\n# Again\n"))
    assert out.split("\n") == ["<h3>One</h3>", "<h4>Two</h4>", "<h5>Four</h5>", "<h6>Six</h6>", "<h3>Again</h3>"]
    assert str(render_user_markdown("## Only\n\n#### Below\n")) == "<h3>Only</h3>\n<h4>Below</h4>"
    assert str(render_user_markdown("# 1\n\n## 2\n\n### 3\n\n#### 4\n\n##### 5\n")).count("<h6>") == 2  # h6 at most
    assert str(render_user_markdown('<h1 id="main">Raw</h1>\n\n<h2 id="top">Also</h2>')) == "<h3>Raw</h3>\n\n<h4>Also</h4>"
    assert str(render_user_markdown("No heading, <a title=\"<h1>\">a link</a>.")).count("<h") == 0
    lesson = render_markdown("## Intro\n\n### Detail\n")
    assert str(lesson.html) == '<h2 id="intro">Intro</h2>\n<h3 id="detail">Detail</h3>'
    assert [entry.anchor for entry in lesson.toc] == ["intro"]
