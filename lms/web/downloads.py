"""One ``Content-Disposition`` for every download, per RFC 6266.

A name is first made safe: control characters (CR, LF, ...) are removed and path
separators replaced, so a cohort or file name can never split a header or name a path.
The header then carries a plain ASCII ``filename`` (accents folded, anything else
replaced by ``_``, no quote or backslash) and, when that differs from the name, the full
name as an RFC 5987 ``filename*=UTF-8''...`` which browsers prefer."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Response, stream_with_context

from lms.extensions import db

# RFC 5987 attr-char, the characters ``filename*`` may carry unencoded.
ATTR_CHARS = "!#$&+-.^_`|~"
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 ._()+,=@-]")
FALLBACK = "download"


def safe_filename(name: str) -> str:
    """``name`` without control characters and path separators, trimmed; never empty."""
    kept = "".join(" " if unicodedata.category(ch)[0] in ("C", "Z") and ch != " " else ch for ch in name)
    kept = re.sub(r"[/\\]", "-", kept)
    kept = re.sub(r"\s+", " ", kept).strip(" .")
    return kept or FALLBACK


# A file's name inside a zip, in bytes of UTF-8: most file systems take at most 255 a name,
# and room is left for what an archive adds (an id before it, " (2)" after it).
ARCHIVE_NAME_BYTES = 200


def shortened(name: str, *, chars: int | None = None, utf8_bytes: int | None = None) -> str:
    """``name`` cut to at most ``chars`` characters and ``utf8_bytes`` bytes of UTF-8 (never
    in the middle of a character), from the end of its stem so that its extension (up to
    ten characters after the last dot) is kept; unchanged when it is short enough."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 10:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    cut = stem
    if chars is not None:
        cut = cut[:max(chars - len(suffix), 1)]
    if utf8_bytes is not None:
        cut = cut.encode()[:max(utf8_bytes - len(suffix.encode()), 1)].decode(errors="ignore")
    if cut == stem:
        return name
    return (cut.rstrip(" .") or FALLBACK) + suffix


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for ``name``: accents folded (Ü -> U), other characters replaced by ``_``."""
    folded = "".join(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii") or "_" for ch in name)
    folded = _UNSAFE_ASCII.sub("_", folded).strip(" .")
    return folded or FALLBACK


def slug(text: str) -> str:
    """``text`` as a part of a file's name: lower case, each run of anything but letters and
    digits (of any script) one hyphen ("Northwind cohort 1" is "northwind-cohort-1")."""
    return re.sub(r"[\W_]+", "-", text.lower()).strip("-") or FALLBACK


def export_name(kind: str, *names: str, day: datetime, extension: str) -> str:
    """One export's file name, whether it streams or a job builds it: its kind, the slugs of
    what it is of (a cohort, an organization, an item), the day and the extension
    ("gradebook-northwind-cohort-1-20261206.csv")."""
    return "-".join([kind, *(slug(name) for name in names), f"{day:%Y%m%d}"]) + f".{extension}"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """The header value: ``attachment`` (or ``inline``) with a quoted ASCII ``filename``
    and, when the name is not plain ASCII, ``filename*=UTF-8''...``."""
    name = safe_filename(filename)
    fallback = ascii_filename(name)
    value = f'{"inline" if inline else "attachment"}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe=ATTR_CHARS)}"
    return value


class ZipSink:
    """A write-only stream a ``zipfile.ZipFile`` writes into, for a zip streamed as it is
    made: ``take`` hands over what was written since the last call (one file at a time)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


class StreamedList:
    """A member of ``json_stream``'s ``tail`` written as a list one item at a time, as its
    ``items`` are: a second list that is never all in memory either."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def json_stream(head: Mapping[str, Any], key: str, items: Iterable[Any], tail: Mapping[str, Any] | None = None,
                *, separator: str = "\n") -> Iterator[str]:
    """A JSON object made piece by piece, for an export streamed with constant memory:
    ``head``'s members, then ``key`` holding the list of ``items`` (one piece each, as the
    iterable yields them), then ``tail``'s members (a ``StreamedList`` one item a piece
    too). ``json.loads`` of the joined pieces equals the object with its members in that
    order."""

    def member(name: str, value: Any) -> str:
        return f"{json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}"

    def listed(values: Iterable[Any]) -> Iterator[str]:
        for index, item in enumerate(values):
            yield ("," if index else "") + separator + json.dumps(item, ensure_ascii=False)
        yield separator + "]"

    yield "{" + ", ".join(member(name, value) for name, value in head.items()) + (", " if head else "")
    yield f"{json.dumps(key)}: ["
    yield from listed(items)
    for name, value in (tail or {}).items():
        if isinstance(value, StreamedList):
            yield f", {json.dumps(name)}: ["
            yield from listed(value.items)
        else:
            yield ", " + member(name, value)
    yield "}\n"


def streamed_download(chunks: Iterable[str], *, mimetype: str, filename: str) -> Response:
    """A download whose body is sent as ``chunks`` yields it (an export's rows), inside the
    request's context.

    The body is sent after the request has ended: its unit of work has rolled back (which
    expires every object the request loaded) and its app context has been torn down (which
    closes the request's session and detaches them); ``stream_with_context`` then pushes the
    contexts again, with a new session for what the export reads next. So the objects the
    view loaded (the cohort, the rubrics an export shares between its chunks) are detached
    here first, with what they hold: read as they are, never loaded again. An export reads
    everything else through the session it is given, which is the request's new one by
    then."""
    db.session.expunge_all()
    return Response(stream_with_context(chunk.encode() for chunk in chunks), mimetype=mimetype,
                    headers={"Content-Disposition": content_disposition(filename), "Cache-Control": "private, no-store"})
