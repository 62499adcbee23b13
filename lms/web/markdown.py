"""Markdown to safe HTML: rendered with Python-Markdown, then sanitised with nh3."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

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
    children: list[TocEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Rendered:
    html: Markup
    toc: list[TocEntry]


def _toc(tokens: list[dict[str, Any]]) -> list[TocEntry]:
    return [
        TocEntry(anchor=t["id"], title=html.unescape(t["name"]), children=_toc(t["children"]))
        for t in tokens
    ]


def sanitise(raw_html: str) -> Markup:
    clean = nh3.clean(
        raw_html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised just above


def render_markdown(text: str) -> Rendered:
    md = markdown.Markdown(extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS)
    raw = md.convert(text)
    return Rendered(html=sanitise(raw), toc=_toc(getattr(md, "toc_tokens", [])))
