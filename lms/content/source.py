"""Reading content files with line numbers, so every problem names its file and line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

try:  # libyaml's parser (in PyYAML's wheels) reads the curriculum about six times faster
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, order=True)
class Location:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class Problems:
    """Every problem found in one pass, so authors can fix them all at once."""

    items: list[Problem] = field(default_factory=list)

    def add(self, location: Location, message: str) -> None:
        self.items.append(Problem(location, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[Problem]:
        return iter(sorted(self.items, key=lambda p: (str(p.location.path), p.location.line)))


class LineMap(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class LineList(list[Any]):
    """A YAML sequence that remembers the line of itself and of each item."""

    line: int = 1

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _LineLoader(_SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineMap:
    loader.flatten_mapping(node)
    result = LineMap()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise _DuplicateKey(
                None, None, f"duplicate key {key!r} (first on line {result.lines[key]})",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str, path: Path, problems: Problems, first_line: int = 1) -> Any:
    """Parse YAML text; on error record it (with the real line) and return None."""
    try:
        return _shift(yaml.load(text, Loader=_LineLoader), first_line - 1)  # noqa: S506 - safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + first_line) if mark else first_line
        reason = exc.problem or str(exc)
        opened = exc.context_mark.line + first_line if exc.context_mark else None
        if exc.context and opened is not None and opened != line:
            # An unclosed quote or bracket is found lines later (at the end of the file for a
            # quote): say where it was opened, which is where the author has to look.
            reason += f" ({exc.context} that starts on line {opened})"
        problems.add(Location(path, line), f"invalid YAML: {reason}")
    except yaml.YAMLError as exc:
        problems.add(Location(path, first_line), f"invalid YAML: {exc}")
    return None


def _shift(data: Any, offset: int) -> Any:
    if offset and isinstance(data, LineMap):
        data.line += offset
        data.lines = {k: v + offset for k, v in data.lines.items()}
        for value in data.values():
            _shift(value, offset)
    elif offset and isinstance(data, LineList):
        data.line += offset
        data.lines = [v + offset for v in data.lines]
        for value in data:
            _shift(value, offset)
    return data


def read_text(path: Path, problems: Problems) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.add(Location(path, 1), f"cannot read file: {exc.strerror}")
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The line the bad byte is on, and its place in that line, so an author finds it.
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = exc.start - line_start + 1
        problems.add(Location(path, raw.count(b"\n", 0, exc.start) + 1),
                     f"not UTF-8 text ({exc.reason} at byte {exc.start}, column {column} of this line): "
                     "save the file as UTF-8")
    return None


def read_yaml_file(path: Path, problems: Problems) -> Any:
    text = read_text(path, problems)
    return None if text is None else parse_yaml(text, path, problems)


@dataclass(frozen=True)
class FrontMatterDocument:
    meta: LineMap
    body: str
    body_line: int = 1  # the line of the file the body starts on (after the closing '---')


def read_front_matter(path: Path, problems: Problems) -> FrontMatterDocument | None:
    """A Markdown file that starts with a ``---`` fenced YAML mapping."""
    text = read_text(path, problems)
    if text is None:
        return None
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        problems.add(Location(path, 1), "broken front matter: the file must start with a '---' line")
        return None
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if closing is None:
        problems.add(Location(path, 1), "broken front matter: no closing '---' line")
        return None
    # Problems found before this file (in other files) must not hide this file's own.
    before = len(problems.items)
    meta = parse_yaml("".join(lines[1:closing]), path, problems, first_line=2)
    if meta is None and len(problems.items) == before:
        problems.add(Location(path, 2), "broken front matter: it is empty")
    if meta is None:
        return None
    if not isinstance(meta, LineMap):
        problems.add(Location(path, 2), "broken front matter: expected 'key: value' lines")
        return None
    return FrontMatterDocument(meta=meta, body="".join(lines[closing + 1:]), body_line=closing + 2)


def unclosed_fence(body: str) -> int | None:
    """The line (1 = the body's first) of a ``` or ~~~ code fence that is never closed, if
    any: Markdown then shows the fence as text and the code as a paragraph."""
    opened: tuple[int, str] | None = None
    for n, line in enumerate(body.splitlines(), start=1):
        stripped = line.strip()
        fence = stripped[:3]
        if fence not in ("```", "~~~"):
            continue
        if opened is None:
            opened = (n, fence)
        elif fence == opened[1] and stripped.rstrip(fence[0]) == "":
            opened = None
    return None if opened is None else opened[0]


def line_at(data: Any, loc: Sequence[int | str]) -> int:
    """The line of the deepest element of ``loc`` that the YAML data knows of."""
    line = getattr(data, "line", 1)
    for part in loc:
        if not _holds(data, part):
            break
        line = data.line_of(part)
        data = data[part]
    return line


def _holds(data: Any, part: int | str) -> bool:
    """Whether ``data`` is a parsed YAML mapping or sequence with an element at ``part``."""
    if isinstance(data, LineMap):
        return part in data
    return isinstance(data, LineList) and isinstance(part, int) and 0 <= part < len(data)


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(model: type[M], data: Any, path: Path, problems: Problems) -> M | None:
    """Validate parsed YAML against a pydantic model, mapping each error to its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [p for p in error["loc"] if isinstance(p, (int, str))]
            where = _dotted(loc) or "file"
            message = error["msg"]
            if error["type"] == "missing":
                message = "missing (required)"
            elif error["type"] == "extra_forbidden":
                message = "unknown field"
            elif error["type"] in ("enum", "literal_error"):
                message = f"{message}, not {error['input']!r}"
            problems.add(Location(path, line_at(data, loc)), f"{where}: {message}")
        return None
