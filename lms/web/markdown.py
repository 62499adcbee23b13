"""Markdown to safe HTML: rendered with Python-Markdown, then sanitised with nh3."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from markupsafe import Markup

_EXTENSIONS = ["toc", "tables", "fenced_code", "sane_lists", "admonition"]
_EXTENSION_CONFIGS = {"toc": {"toc_depth": "2-3"}}

_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li", "ol", "p", "pre", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "h2": {"id"}, "h3": {"id"}, "h4": {"id"},
    "th": {"align"}, "td": {"align"},
    "code": {"class"},
    "div": {"class"},
    "p": {"class"},
}


@dataclass(frozen=True)
class TocEntry:
    anchor: str
    title: str
    children: tuple[TocEntry, ...] = ()


@dataclass(frozen=True)
class Rendered:
    html: Markup
    toc: tuple[TocEntry, ...]


def _toc(tokens: list[dict[str, Any]]) -> tuple[TocEntry, ...]:
    return tuple(TocEntry(anchor=t["id"], title=html.unescape(t["name"]), children=_toc(t["children"])) for t in tokens)


# People's headings keep no id: one made from their text ("main", "content") could repeat an
# id of the page's own, the target of its skip link or of its script. Nor do they keep a class:
# the pages' own ("flash flash-success", "button", "visually-hidden"), written as HTML, as an
# admonition's kind or a code block's language, would pass a learner's words off as the
# platform's (a "grade released, sign in again" message) or hide them from sight. The one
# class kept is the table box's (``_boxed_tables``), exactly, which the second pass re-makes.
_USER_ATTRIBUTES = {tag: names - {"id", "class"} for tag, names in _ATTRIBUTES.items()}
_USER_CLASSES = {"div": {"class": {"table-wrap"}}}


def sanitise(raw_html: str, attributes: dict[str, set[str]] = _ATTRIBUTES,
             values: dict[str, dict[str, set[str]]] | None = None) -> Markup:
    """``raw_html`` with only ``_TAGS``, their ``attributes`` and safe link schemes; ``values``:
    attributes kept only with one of these exact values (nh3's ``tag_attribute_values``)."""
    clean = nh3.clean(
        raw_html,
        tags=_TAGS,
        attributes=attributes,
        tag_attribute_values=values,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised just above


# A table in Markdown, as sanitised (no attribute on <table>: ``_ATTRIBUTES`` keeps none), in
# the box a first pass gave it (a second sanitising keeps only the box's class), and each
# header cell of its first row.
_TABLE = re.compile(r'(<div class="table-wrap">)?(<table>.*?</table>)(?(1)</div>)', re.DOTALL)
_HEADER_CELL = re.compile(r"<th[^>]*>(.*?)</th>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
TABLE_LABEL_LONGEST = 120  # characters of a table's name made from its header cells


def _table_label(table: str) -> str:
    """A table's name for assistive technology: "Table: " and its header cells' text."""
    cells = [html.unescape(_TAG.sub("", cell)).strip() for cell in _HEADER_CELL.findall(table.split("</tr>", 1)[0])]
    label = "Table: " + ", ".join(cell for cell in cells if cell) if any(cells) else "Table"
    return label if len(label) <= TABLE_LABEL_LONGEST else label[:TABLE_LABEL_LONGEST - 1] + "…"


def _boxed(match: re.Match[str]) -> str:
    table = match.group(2)
    if table.count("<table>") > 1:  # a table in a table's cell (people's HTML): left as it is, never boxed halfway
        return table
    return f'<div class="table-wrap" role="region" tabindex="0" aria-label="{html.escape(_table_label(table))}">{table}</div>'


def _boxed_tables(clean: str) -> Markup:
    """Each table of sanitised HTML in a box of its own that scrolls sideways when the table is
    wider than the page (``.table-wrap``, as the pages' own tables), a named region in the tab
    order so that a keyboard can scroll it (WCAG 2.1.1; axe's "scrollable-region-focusable").
    The box is added after sanitising: nh3 keeps no ``role``, ``tabindex`` or ``aria-label``
    of the author's."""
    boxed = _TABLE.sub(_boxed, clean)
    return Markup(boxed)  # noqa: S704 - sanitised HTML, and the box's one value escaped above


def render_markdown(text: str) -> Rendered:
    md = markdown.Markdown(extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS)
    raw = md.convert(text)
    return Rendered(html=_boxed_tables(str(sanitise(raw))), toc=_toc(getattr(md, "toc_tokens", [])))


# The course's own Markdown (lessons, activities, briefs, quiz and simulation texts) is the
# same for every reader until the next content load, and rendering a lesson took about
# 5 ms of its page's 14. Each process keeps the renderings of the texts read most recently,
# keyed by the text itself: a changed text is a new key, so a content load needs no
# invalidation, and what is kept is exactly what rendering again would give (immutable).
CONTENT_KEPT = 512            # renderings a process keeps (the shipped course has some 300 texts)
CONTENT_KEPT_LONGEST = 200_000  # characters: a longer text is rendered every time


@lru_cache(maxsize=CONTENT_KEPT)
def _kept_rendering(text: str) -> Rendered:
    return render_markdown(text)


def render_content_markdown(text: str) -> Rendered:
    """``render_markdown`` for the course's own content, kept by this process (people's
    Markdown goes through ``render_user_markdown``, never kept)."""
    return _kept_rendering(text) if len(text) <= CONTENT_KEPT_LONGEST else render_markdown(text)


# Where the platform serves its own uploads. Learners', stakeholders' and discussion
# Markdown keeps an image only when it points here (a relative path on this site); any
# other image becomes a link, so reading a comment never loads a picture from elsewhere
# (a tracking pixel would tell its owner who read it and when).
OWN_UPLOAD_PREFIXES: tuple[str, ...] = ("/attachments/",)
# nh3's output writes every attribute as name="value", with " escaped inside values.
_IMG = re.compile(r'<img((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*="[^"]*")*)\s*/?>')
_ATTR = re.compile(r'([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"')


def is_own_upload(src: str) -> bool:
    """A relative path under one of OWN_UPLOAD_PREFIXES, with no scheme or host."""
    if "\\" in src or src.startswith("//") or any(ord(c) < 33 for c in src):
        return False
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or "%" in parts.path or ".." in parts.path.split("/"):
        return False
    return parts.path.startswith(OWN_UPLOAD_PREFIXES)


def _image_or_link(match: re.Match[str]) -> str:
    attrs = {name: html.unescape(value) for name, value in _ATTR.findall(match.group(1))}
    src = attrs.get("src", "")
    if src and is_own_upload(src):
        return match.group(0)
    if not src:
        return html.escape(attrs.get("alt", ""))
    label = attrs.get("alt") or src
    return f'<a href="{html.escape(src)}">{html.escape(label)}</a>'


def render_user_markdown(text: str) -> Markup:
    """Markdown written by people (submissions, reflections, comments, discussions):
    sanitised like content, and images only from the platform's own uploads."""
    first = _under_the_page(str(render_markdown(text).html))
    # The second pass sanitises the links made from images (their href's scheme and rel) and
    # drops the headings' ids.
    return _boxed_tables(str(sanitise(_IMG.sub(_image_or_link, first), _USER_ATTRIBUTES, _USER_CLASSES)))


# People's Markdown sits under a page's own headings (its h1, and the h2 of the part it is
# shown in). Their heading levels, in order, become h3, h4, h5 and h6 (the deepest shared
# below): "# Findings" is an h3 there, never a second h1 that would break the page's outline
# for screen readers, and a text that starts at "##" or skips one starts at h3 and goes down
# one level at a time (axe's "heading-order").
_HEADING_TAG = re.compile(r"<(/?)h([1-6])(?:\s[^>]*)?>")
PEOPLES_TOP_HEADING = 3


def _under_the_page(sanitised: str, top: int = PEOPLES_TOP_HEADING) -> str:
    levels = sorted({int(match.group(2)) for match in _HEADING_TAG.finditer(sanitised)})
    shown = {level: min(top + rank, 6) for rank, level in enumerate(levels)}
    return _HEADING_TAG.sub(lambda match: f"<{match.group(1)}h{shown[int(match.group(2))]}>", sanitised)


def render_content_markdown_under(text: str, top: int) -> Markup:
    """The course's own Markdown shown under a page's own h1, its headings from ``top`` down
    (as people's are): a fill-in template starts with its document's "# Title", which was
    a second h1 on the template's page."""
    return Markup(_under_the_page(str(render_content_markdown(text).html), top))  # noqa: S704 - sanitised HTML, tags renamed


def plain_text(text: str) -> str:
    """What Markdown reads as, without its marks: "Hello **Amara**, see [the guide](url)" is
    "Hello Amara, see the guide". Whitespace collapsed to single spaces (one line)."""
    bare = nh3.clean(str(render_markdown(text).html), tags=set())
    return " ".join(html.unescape(bare).split())


def excerpt(text: str, longest: int) -> str:
    """The start of a Markdown text as plain text (``plain_text``), at most ``longest``
    characters, cut with an ellipsis: a notice's line, where marks cut halfway would show."""
    plain = plain_text(text)
    return plain if len(plain) <= longest else plain[:longest - 1].rstrip() + "…"
