"""One ``Content-Disposition`` for every download, per RFC 6266.

A name is first made safe: control characters (CR, LF, ...) are removed and path
separators replaced, so a cohort or file name can never split a header or name a path.
The header then carries a plain ASCII ``filename`` (accents folded, anything else
replaced by ``_``, no quote or backslash) and, when that differs from the name, the full
name as an RFC 5987 ``filename*=UTF-8''...`` which browsers prefer."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

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


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for ``name``: accents folded (Ü -> U), other characters replaced by ``_``."""
    folded = "".join(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii") or "_" for ch in name)
    folded = _UNSAFE_ASCII.sub("_", folded).strip(" .")
    return folded or FALLBACK


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
