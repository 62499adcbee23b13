"""Whatever a person sends, every route answers with a clear message and loses nothing:
never a 5xx, never a traceback, and a form refused is shown again with what was typed.

Every route of ``tests/test_access.py``'s table is tried, as the first role its row lets
in (learner, organization admin, instructor, site admin, then anybody), at the address the
table gives. The fields sent are the ones the view reads: each request's ``form`` and
``args`` note the names asked for, and the pages' own forms add their fields' kinds
(text, number, date, select, file) and values. Then each route gets, in turn: nothing,
empty fields, 10,000 characters, NUL and bytes that are no UTF-8 (a lone surrogate's
too), numbers as words, too big, negative, NaN and infinity, the days 0000-00-00 and
9999-12-31, organization B's ids where an id is chosen, each field twice, an edit form as
shown with one field left out in turn, JSON (an object and an array) where a form is
expected, and for a file field an empty file, one with another extension and one over the
size limit. A page read with a query string gets each argument it reads set to the same
kinds of nonsense; after the posts every page is read again, with whatever they stored.
The REST API gets the same through its JSON body and the query parameters its document
declares, with an organization admin's token."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage, ImmutableMultiDict, MultiDict
from werkzeug.test import encode_multipart

from lms.api.models import Scope
from lms.api.tokens import create_token
from lms.extensions import db
from tests.conftest import World
from tests.test_access import API_ROUTES, ROUTES, USER_OF_ROLE, route_extras

# The role each route is tried as: the first of these its row lets in.
PREFERRED = ["learner", "org_admin", "instructor", "admin", "anonymous", "nobody", "learner_other_cohort",
             "learner_other_org", "instructor_other_cohort", "org_admin_other_org"]
# Routes that end what the rest needs (the session, learner A's account), tried last; sign-out has no input.
LAST = ["admin.deactivate", "privacy.erase", "admin.end_sessions"]
SKIPPED = {"accounts.logout"}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"/[^\"]+\.py\", line \d+")

NUMBERS = ["-1", "99999999999999999999", "NaN", "-inf", "1e999999"]
DAY_NAMES = re.compile(r"date|day|_at$|since|until|due|expires")
DAYS = ["0000-00-00", "9999-12-31"]
LONG = "x" * 10_000
# NUL, a lone surrogate as a browser would never send it (CESU-8 bytes) and bytes that are no UTF-8.
RAW_NASTY = "a%00b%ED%A0%80c%FF%FEd"
KEEP = "Kept text 7"


# --------------------------------------------------------------------------- what the views read


class Recorded(ImmutableMultiDict):  # type: ignore[type-arg]
    """A request's ``form`` or ``args`` that notes each name a view asks for."""

    names: set[str]

    def __contains__(self, key: object) -> bool:
        self.names.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: Any) -> Any:
        self.names.add(str(key))
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # noqa: A002 (werkzeug's name)
        self.names.add(str(key))
        return super().get(key, default, type)  # type: ignore[call-overload]

    def getlist(self, key: Any, type: Any = None) -> Any:  # noqa: A002
        self.names.add(str(key))
        return super().getlist(key, type)


def recording(app: Flask, seen: dict[str, set[str]]) -> type:
    base = app.request_class

    def wrap(values: Any, kind: str) -> Any:
        recorded = Recorded(list(values.items(multi=True)))
        recorded.names = seen.setdefault(kind, set())
        return recorded

    class RecordingRequest(base):  # type: ignore[valid-type, misc]
        def _load_form_data(self) -> None:
            loaded = "form" in self.__dict__
            super()._load_form_data()
            if not loaded:
                self.__dict__["form"] = wrap(self.__dict__["form"], "form")

        @property
        def args(self) -> Any:
            if "_recorded_args" not in self.__dict__:
                self.__dict__["_recorded_args"] = wrap(super().args, "args")
            return self.__dict__["_recorded_args"]

    return RecordingRequest


# --------------------------------------------------------------------------- the pages' forms


@dataclass
class Field:
    kind: str  # text, textarea, number, date, select, checkbox, radio, file, hidden, email, password, ... or read
    value: str = ""
    options: list[str] = field(default_factory=list)


class Forms(HTMLParser):
    """Each POST form on a page: its action's path -> {field name: Field}."""

    def __init__(self, page_path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: dict[str, dict[str, Field]] = {}
        self._form: dict[str, Field] | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            if found.get("method", "get").lower() == "post":
                action = urlsplit(found.get("action") or self.page_path).path or self.page_path
                self._form = self.forms.setdefault(action, {})
            else:
                self._form = None
            return
        if self._form is None or not found.get("name"):
            if tag == "option" and self._select is not None:
                self._select.options.append(found.get("value", ""))
            return
        name = found["name"]
        if tag == "input":
            kind = found.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and name in self._form:
                self._form[name].options.append(found.get("value", "on"))
                return
            self._form[name] = Field(kind, found.get("value", ""), [found.get("value", "on")] if kind in ("checkbox", "radio") else [])
        elif tag == "select":
            self._select = self._form[name] = Field("select")
        elif tag == "textarea":
            self._textarea = self._form[name] = Field("textarea")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            if self._select is not None and self._select.options:
                self._select.value = self._select.options[0]
            self._select = None
        elif tag == "textarea":
            if self._textarea is not None:
                self._textarea.value = self._textarea.value.removeprefix("\r").removeprefix("\n")  # as a browser reads it
            self._textarea = None


def forms_of(path: str, html: str) -> dict[str, dict[str, Field]]:
    parser = Forms(path)
    parser.feed(html)
    return parser.forms


# --------------------------------------------------------------------------- what to send

TEXTUAL = {"text", "textarea", "email", "search", "url", "tel", "password", ""}


@dataclass
class Attempt:
    name: str
    data: Any = None  # a dict of lists (a form), or bytes
    content_type: str | None = None
    kept: dict[str, str] = field(default_factory=dict)  # text fields whose value must come back on a refusal


def encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k)}={v}" for k, v in pairs).encode()


def attempts(fields: dict[str, Field], other_ids: dict[str, int]) -> Iterator[Attempt]:
    names = sorted(fields)
    defaults = {n: f.value for n, f in fields.items()}

    def with_values(pick: Callable[[str, Field], str | None]) -> dict[str, list[str]]:
        chosen = {}
        for n in names:
            value = pick(n, fields[n])
            chosen[n] = [defaults[n] if value is None else value]
        return chosen

    yield Attempt("nothing", {})
    yield Attempt("empty fields", {n: [""] for n in names})
    if not names:
        yield Attempt("json object", json.dumps({"a": 1}).encode(), "application/json")
        return
    yield Attempt("10,000 characters", {n: [LONG] for n in names})
    yield Attempt("NUL, surrogate and non-UTF-8 bytes", encode([(n, RAW_NASTY) for n in names]),
                  "application/x-www-form-urlencoded")
    texts = [n for n in names if fields[n].kind in TEXTUAL]
    yield Attempt("words for numbers, text kept",
                  with_values(lambda n, f: KEEP if f.kind in TEXTUAL else "twelve"), kept={n: KEEP for n in texts})
    # Three requests; with several fields each gets another of the five numbers in turn.
    for turn in range(3):
        yield Attempt(f"numbers, turn {turn + 1}", with_values(
            lambda n, f, t=turn: None if f.kind == "file" else NUMBERS[(names.index(n) + t) % len(NUMBERS)]))  # type: ignore[misc]
    if any(f.kind in ("date", "datetime-local") or DAY_NAMES.search(n) for n, f in fields.items()):
        for day in DAYS:
            # the other text fields filled in, so that only the day can be refused (or kept, for the pages after)
            yield Attempt(f"day {day}", with_values(
                lambda n, f, d=day: d if f.kind in ("date", "datetime-local") or DAY_NAMES.search(n)
                else f"{KEEP} {d}" if f.kind in TEXTUAL - {"email", "url", "password"} and not f.value else None))  # type: ignore[misc]
    numeric = [n for n in names if fields[n].kind in ("select", "hidden", "radio", "checkbox", "number")
               and (fields[n].value.isdigit() or any(o.isdigit() for o in fields[n].options))]
    if numeric:
        def other(n: str) -> str:
            key = next((k for k in other_ids if k in n), "user")
            return str(other_ids[key])
        yield Attempt("another organization's ids", with_values(lambda n, f: other(n) if n in numeric else None))
    yield Attempt("each field twice", {n: [defaults[n] or "1", "2"] for n in names})
    # An edit form (every field the page filled in): sent as the page gave it, one field left out in turn.
    shown = [n for n in names if fields[n].kind not in ("checkbox", "radio", "file", "read", "submit")]
    if len(shown) > 1 and all(fields[n].value for n in shown):
        for left_out in shown:
            yield Attempt(f"as shown, without {left_out}", {n: [defaults[n]] for n in shown if n != left_out})
    yield Attempt("JSON where a form is expected: NUL, a lone surrogate, a number, an object",
                  json.dumps({n: ["a\x00b\ud800c", 99999999999999999999, {"a": 1}, None][i % 4] for i, n in enumerate(names)}).encode(),
                  "application/json")
    yield Attempt("a JSON array", b"[1, 2]", "application/json")
    for n in [n for n in names if fields[n].kind == "file"]:
        base = {m: [defaults[m]] for m in names if m != n and fields[m].kind != "file"}
        for label, content, name in (("an empty file", b"", "empty.txt"), ("a file with another extension", b"MZ\x90\x00", "run.exe"),
                                     ("a file without a name", b"data", ""),
                                     ("a file over the limit", b"x" * (32 * 1024 * 1024 + 1), "big.txt")):
            # encoded here, in memory: the test client would spool a large body to a temporary file it never closes
            values = MultiDict([(m, v) for m, vs in base.items() for v in vs])
            values.add(n, FileStorage(BytesIO(content), filename=name, content_type="application/octet-stream"))
            boundary, body = encode_multipart(values)
            yield Attempt(f"{n}: {label}", body, f"multipart/form-data; boundary={boundary}")


QUERY_VALUES = ["-1", "99999999999999999999", "nonsense", "NaN", "0000-00-00", "9999-12-31", LONG[:2000], RAW_NASTY]


# --------------------------------------------------------------------------- the run


@dataclass
class Tried:
    endpoint: str
    method: str
    url: str
    role: str
    # the API: (kind, payload builder)
    count: int = 0


def role_for(expected: dict[str, Any]) -> str:
    for role in PREFERRED:
        if expected[role] == "ok":
            return role
    for role in PREFERRED:
        if isinstance(expected[role], int) and expected[role] < 500:
            return role
    return "anonymous"


def methods_of(app: Flask, endpoint: str) -> list[str]:
    rule = next(app.url_map.iter_rules(endpoint))
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}, key=lambda m: m != "GET")


def problem_with(response: Any) -> str | None:
    if response.status_code >= 500:
        return f"answered {response.status_code}"
    body = response.get_data(as_text=True) if not response.is_streamed else ""
    if TRACEBACK.search(body):
        return "shows a traceback"
    return None


def send(client: Any, method: str, url: str, attempt: Attempt, headers: dict[str, str] | None = None) -> Any:
    kwargs: dict[str, Any] = {"method": method, "headers": headers or {}}
    if isinstance(attempt.data, bytes):
        kwargs["data"] = attempt.data
        kwargs["content_type"] = attempt.content_type
    elif attempt.data is not None:
        kwargs["data"] = attempt.data
        if attempt.content_type:
            kwargs["content_type"] = attempt.content_type
    return client.open(url, **kwargs)


def with_query(url: str, names: list[str], value: str) -> str:
    encoded = value if value == RAW_NASTY else quote(value)
    return url + ("&" if "?" in url else "?") + "&".join(f"{quote(n)}={encoded}" for n in names)


def lost_input(response: Any, attempt: Attempt, posted_to: str) -> tuple[int, list[str]]:
    """How many text fields sent the page shown again holds, and those it holds without what was sent."""
    if not attempt.kept or response.status_code in (301, 302, 303) or response.mimetype != "text/html":
        return 0, []
    forms = forms_of(urlsplit(response.request.url).path, response.get_data(as_text=True))
    shown: dict[str, Field] = {}
    for fields in forms.values():
        shown.update(fields)
    shown.update(forms.get(posted_to, {}))  # the form that was sent, where the page has several with its fields
    compared = [name for name in attempt.kept if name in shown and shown[name].kind in TEXTUAL - {"password"}]
    return len(compared), [name for name in compared if shown[name].value != attempt.kept[name]]


@pytest.fixture()
def clients(app: Flask, loaded: Flask, world: World, login: Callable[..., Any]) -> dict[str, Any]:
    made = {}
    for role in PREFERRED:
        made[role] = app.test_client()
        if role != "anonymous":
            login(made[role], getattr(world, USER_OF_ROLE[role]))
    return made


def test_no_route_answers_bad_input_with_a_5xx_or_loses_it(app: Flask, world: World, clients: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    started, cpu = time.monotonic(), time.process_time()
    extra = route_extras(app, world)
    other_ids = {"cohort": world.cohort_b.id, "organization": world.org_b.id, "learner": world.learner_b.id,
                 "user": world.learner_b.id, "member": world.learner_b.id, "reviewer": world.learner_b.id,
                 "instructor": world.instructor_b.id}
    seen: dict[str, set[str]] = {}
    monkeypatch.setattr(app, "request_class", recording(app, seen))
    routes = [(endpoint, route) for endpoint, route in ROUTES.items()
              if endpoint not in SKIPPED and not endpoint.startswith("api_v1.")]
    routes.sort(key=lambda item: LAST.index(item[0]) if item[0] in LAST else -1)
    found_forms: dict[str, dict[str, Field]] = {}
    wrong: list[str] = []
    requests = 0
    kept = [0]  # text fields compared on forms shown again
    client_of: list[Any] = [None]  # the client of the POST being checked
    posted_to = [""]  # and the path it is sent to
    posts: list[tuple[str, str, str, str]] = []

    def check(what: str, request: Callable[[], Any], attempt: Attempt | None = None) -> Any:
        try:
            response = request()
        except Exception as error:  # the testing app lets a view's exception through: a 500 in production
            db.session.rollback()
            wrong.append(f"{what}: raised {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")
            return None
        problem = problem_with(response)
        if problem:
            wrong.append(f"{what}: {problem}")
        elif attempt is not None and attempt.kept and response.status_code in (302, 303):
            # refused with a message on the page it sends back to: the form there must hold what was typed
            shown = client_of[0].get(response.headers["Location"])
            if "flash-error" in shown.get_data(as_text=True):
                compared, lost = lost_input(shown, attempt, posted_to[0])
                if not compared or lost:
                    wrong.append(f"{what}: refused with a message after a redirect, without what was typed in "
                                 f"{lost or sorted(attempt.kept)}")
        elif attempt is not None:
            compared, lost = lost_input(response, attempt, posted_to[0])
            kept[0] += compared
            if lost:
                wrong.append(f"{what}: answered {response.status_code} without what was typed in {lost}")
        return response

    # Pages first: each argument they read, set to nonsense; their forms noted for the posts.
    for endpoint, route in routes:
        role = role_for(route.expected)
        url = route.url(world, extra)
        for method in methods_of(app, endpoint):
            if method != "GET":
                posts.append((endpoint, method, url, role))
                continue
            seen.clear()
            response = check(f"GET {url} ({endpoint}) as {role}", lambda: clients[role].get(url))  # noqa: B023 (called at once)
            requests += 1
            if response is not None and response.mimetype == "text/html" and response.status_code == 200:
                for action, fields in forms_of(urlsplit(url).path, response.get_data(as_text=True)).items():
                    found_forms.setdefault(action, {}).update(fields)
            read = sorted(seen.get("args", set()))
            if read:
                for value in QUERY_VALUES:
                    bad = with_query(url, read, value)
                    requests += 1
                    check(f"GET {bad[:200]} ({endpoint}) as {role}", lambda: clients[role].get(bad))  # noqa: B023
    # Then every form's POST; the pages once more, with whatever the posts stored; then the
    # posts that end a session or learner A's account.
    pages = [(endpoint, route.url(world, extra), role_for(route.expected)) for endpoint, route in routes
             if "GET" in methods_of(app, endpoint)]
    for endpoint, method, url, role in sorted(posts, key=lambda post: post[0] in LAST):
        client_of[0], posted_to[0] = clients[role], urlsplit(url).path
        if endpoint == LAST[0]:
            for page_endpoint, page_url, page_role in pages:
                requests += 1
                check(f"GET {page_url} ({page_endpoint}) as {page_role}, after the posts",
                      lambda: clients[page_role].get(page_url))  # noqa: B023
        client = clients[role]
        seen.clear()
        check(f"{method} {url} ({endpoint}) as {role} with nothing", lambda: client.open(url, method=method, data={}))  # noqa: B023
        requests += 1
        path = urlsplit(url).path
        fields = dict(found_forms.get(path, {}))
        for name in seen.get("form", set()) | seen.get("args", set()) - set(fields):
            fields.setdefault(name, Field("read"))  # read by the view, on no form of the pages: sent, never checked as kept
        for name in [n for n in fields if n in ("csrf_token",)]:
            del fields[name]
        for attempt in attempts(fields, other_ids):
            if attempt.name == "nothing":
                continue
            requests += 1
            response = check(f"{method} {url} ({endpoint}) as {role}, {attempt.name}",
                             lambda: send(client, method, url, attempt), attempt)  # noqa: B023
            if response is not None:
                response.close()
    elapsed = time.monotonic() - started
    print(f"{len(routes)} routes, {len(posts)} forms, {requests} requests in {elapsed:.1f} s "
          f"({time.process_time() - cpu:.1f} s of CPU), {kept[0]} fields kept")
    assert len(posts) > 100 and kept[0] > 30, "the routes or their forms were not found"
    assert wrong == [], f"{len(wrong)} of {requests} requests:\n" + "\n".join(wrong)


API_QUERY_VALUES = ["-1", "0", "99999999999999999999", "nonsense", "NaN", "0000-00-00", "9999-12-31T99:99:99Z", RAW_NASTY,
                    LONG[:2000]]


def query_parameters(document: dict[str, Any]) -> dict[str, list[str]]:
    """Each API path (as the document writes it) -> the query parameters its GET declares."""
    found = {}
    for path, operations in document["paths"].items():
        if "get" in operations:
            found[path] = [p["name"] for p in operations["get"].get("parameters", []) if p.get("in") == "query"]
    return found


def document_path(url: str, paths: list[str]) -> str | None:
    """The document's path (``/api/v1/cohorts/{cohort_id}``) an address matches (the document's own: none)."""
    for path in paths:
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)), urlsplit(url).path):
            return path
    return None


API_BODIES: list[tuple[str, bytes, str | None]] = [
    ("an array", b"[{\"email\": \"a@example.com\"}]", "application/json"),
    ("null", b"null", "application/json"),
    ("no JSON", b"{\"email\": ", "application/json"),
    ("not UTF-8", b"{\"email\": \"\xff\xfe@example.com\"}", "application/json"),
    ("a lone surrogate", b"{\"email\": \"\\ud800@example.com\", \"name\": \"\\udfff\"}", "application/json"),
    ("NUL", b"{\"email\": \"a\\u0000b@example.com\", \"name\": \"A\\u0000B\"}", "application/json"),
    ("a number for the address", b"{\"email\": 99999999999999999999999}", "application/json"),
    ("an object for the address", b"{\"email\": {\"a\": 1}}", "application/json"),
    ("10,000 characters", json.dumps({"email": LONG + "@example.com", "name": LONG}).encode(), "application/json"),
    ("a form", b"email=a%40example.com", "application/x-www-form-urlencoded"),
    ("no type", b"{\"email\": \"a@example.com\"}", None),
    ("the same key twice", b"{\"email\": \"a@example.com\", \"email\": \"b\"}", "application/json"),
]


def test_the_api_answers_bad_input_with_a_4xx_problem(app: Flask, loaded: Flask, client: Any, world: World) -> None:
    secret = create_token(db.session, world.org_admin_a, "fuzz", [s.value for s in Scope], None).secret
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    wrong: list[str] = []

    def check(what: str, **request: Any) -> None:
        try:
            response = client.open(headers=headers, **request)
        except Exception as error:
            db.session.rollback()
            wrong.append(f"{what}: raised {type(error).__name__}: {str(error)[:200]}")
            return
        if problem := problem_with(response):
            wrong.append(f"{what}: {problem}")
        elif response.status_code >= 400 and response.mimetype != "application/problem+json":
            wrong.append(f"{what}: {response.status_code} as {response.mimetype}")

    declared = query_parameters(client.get("/api/v1/openapi.json").json)
    assert sum(len(names) for names in declared.values()) > 20
    tried = 0
    for endpoint, route in API_ROUTES.items():
        url = route.url(world, {})
        if route.method == "GET":
            names = declared.get(document_path(url, list(declared)) or "", [])
            tried += bool(names)
            for value in API_QUERY_VALUES if names else []:
                bad = with_query(url, names, value)  # every parameter at once: the answer names each one refused
                check(f"GET {bad[:200]} ({endpoint})", path=bad, method="GET")
        else:
            for label, body, content_type in API_BODIES:
                check(f"{route.method} {url} ({endpoint}) with {label}", path=url, method=route.method, data=body,
                      content_type=content_type)
    assert tried > 20 and wrong == [], "\n".join(wrong)
