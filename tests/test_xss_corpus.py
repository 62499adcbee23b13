"""A fixed corpus of XSS payloads through every field that renders user text (issue 17 point 1).

The demo's months of activity plus the access table's rows (imports, invitations, an essay,
files, teams, announcements, discussions, ...) give every user-text column rows; each such
column is overwritten with the payloads (and a marker naming the column), then every page
a site admin, an organization admin, an instructor, learners and the holders of stakeholder
and expert links can reach is crawled (same-site links, a couple of pages of each shape)
and parsed: no script, handler, style, frame, object, ``javascript:``/``data:`` URL or
other executable markup may survive, and every column's marker must show on some page (so
the corpus really went through it). Text columns take the whole corpus at once; short
ones take it a few payloads at a time, in rounds that re-render the pages showing them.

Every text or JSON column of the schema is either user text here or listed as something
else with the reason, so a new column has to be placed before the suite passes."""

from __future__ import annotations

import html
import random
import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.catalog.models import Level, Module
from lms.coursework.models import Submission, SubmissionStatus
from lms.database import utcnow
from lms.demo.services import DEMO_PASSWORD, EXPERTS, INSTRUCTOR_EMAIL, learner_email, rubric_levels
from lms.expert.services import invite as invite_expert
from lms.expert.services import rate as rate_expert
from lms.extensions import db
from lms.feedback.services import QUESTIONS as FEEDBACK_QUESTIONS
from lms.feedback.services import answer as answer_feedback
from lms.feedback.services import invite as invite_stakeholder
from lms.portfolio.services import portfolio_for, review_assignment
from tests.conftest import PASSWORD, World
from tests.test_access import ROUTES, route_extras

PAYLOADS: tuple[str, ...] = (
    # tags and handlers
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    "<img src=`x`onerror=alert(1)>",
    '<img src="x:x" onerror="alert(1)"/>',
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<x onmouseover=alert(1)>hover</x>",
    '<a href="#" onclick="alert(1)">x</a>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    # SVG and MathML
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">X</text></a></svg>',
    '<svg><use href="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+#x"></use></svg>',
    "<svg><set attributeName=onmouseover to=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    # frames, objects, document-level tags
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<link rel=stylesheet href=javascript:alert(1)>",
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    # javascript: and data: URLs, with entity and whitespace tricks
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="javascript&#58;alert(1)">x</a>',
    '<a href=" &#14; javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    # Markdown link and image forms
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    "![x](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    '[x](https://example.org "a\\" onmouseover=\\"alert(1)")',
    "<javascript:alert(1)>",
    "[<img src=x onerror=alert(1)>](https://example.org)",
    "[a](data:text/html,<script>alert(1)</script>)",
    "```html\n<script>alert(1)</script>\n```",
    # breaking out of attributes, elements and comments
    '"><script>alert(1)</script>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "--><script>alert(1)</script>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    # entities that must stay text
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;img src=x onerror=alert(1)&#62;",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
)

# --------------------------------------------------------------------------- what is user text

# Columns people type into (or name files, or CSV rows), rendered on pages.
USER_TEXT: dict[str, tuple[str, ...]] = {
    "users": ("name",),
    "organizations": ("name",),
    "cohorts": ("name",),
    "invitations": ("name",),
    "enrolments": ("ended_reason",),
    "enrolment_imports": ("filename",),
    "attachments": ("filename",),
    "submissions": ("draft_body",),
    "submission_versions": ("body",),
    "grades": ("feedback",),
    "peer_reviews": ("comment",),
    "feedback_invites": ("name",),
    "feedback_responses": ("comment",),
    "expert_invites": ("name", "note"),
    "expert_evaluations": ("role", "organization", "qualification", "comment"),
    "kpi_entries": ("note",),
    "at_risk_reviews": ("note",),
    "schedule_overrides": ("note",),
    "evidence": ("note",),
    "quiz_responses": ("grader_comment",),
    "item_withdrawals": ("reason",),
    "teams": ("name",),
    "team_ratings": ("comment",),
    "team_adjustments": ("note",),
    "announcements": ("title", "body"),
    "discussion_threads": ("title", "hidden_reason"),
    "discussion_posts": ("body", "hidden_reason"),
    "discussion_moderations": ("reason",),
    "inbox_conversations": ("subject",),
    "inbox_messages": ("body",),
    "notifications": ("title", "body"),
    "sso_configs": ("issuer", "client_id", "allowed_domains"),
    "two_factor_devices": ("label",),
    "api_tokens": ("name",),
    # an organization admin's webhook endpoints, and the receivers' answers (errors) on their deliveries' page
    "webhook_endpoints": ("url", "description"),
    "webhook_deliveries": ("error", "response_excerpt"),
    # a site admin's LTI registrations (typed from what the platform shows), and the courses the
    # platforms launch from (their ids and titles come in launches)
    "lti_platforms": ("name", "issuer", "client_id", "auth_login_url", "auth_token_url", "key_set_url"),
    "lti_deployments": ("deployment_id",),
    "lti_contexts": ("context_id", "title"),
    # jobs: labels and file names carry cohort names; errors and results carry exceptions' text
    "jobs": ("label", "error", "result", "file_name"),
    "credential_revocations": ("reason",),
    # the learner's name as it was when the certificate was issued, on its public page and credential
    "certificates": ("holder_name",),
}
# JSON columns holding user text: the keys whose string values are (``*``: every value).
USER_JSON: dict[str, dict[str, str]] = {
    "quiz_responses": {"answer": "text"},
    "grades": {"selections": "comment"},
    "peer_reviews": {"selections": "comment"},
    "expert_evaluations": {"selections": "comment"},
    "portfolios": {"reflections": "*"},
    "portfolio_hand_ins": {"reflections": "*"},
    "enrolment_imports": {"rows": "name"},
}
# Every other text or JSON column, and why it is not user text shown on pages.
NOT_USER_TEXT: dict[str, str] = {
    "*.key": "identifiers from the content files", "*.source_path": "content file paths",
    "*.token_hash": "hashes", "*.share_token_hash": "hashes", "*.checksum": "hashes",
    "*.password_hash": "hashes", "*.email": "validated addresses", "*.recipient": "validated addresses",
    "*.timezone": "chosen from the zone list", "*.retired_at": "not text",
    # course content, written by the course team in content/ and quizzes/ (lessons render Markdown with images)
    "programs.*": "content", "levels.*": "content", "modules.*": "content", "phases.*": "content",
    "objectives.*": "content", "lessons.*": "content", "cases.*": "content", "assignments.*": "content",
    "rubrics.*": "content", "rubric_versions.*": "content", "quizzes.*": "content", "questions.*": "content",
    "question_versions.*": "content", "templates.*": "content", "simulations.*": "content",
    "metrics.*": "content", "mastery_policies.*": "content (content/mastery.yml)",
    "search_documents.*": "an index of content and of the rows above, rendered through the same fields' templates",
    "attachments.stored_name": "generated", "attachments.content_type": "checked against a list",
    "certificates.code": "generated", "evidence.source_ref": "generated references",
    "evidence.judge": "a digest of a rater's address",
    "simulation_runs.*": "content keys and scores", "quiz_attempts.layout": "question ids",
    "quiz_responses.part": "question part keys", "submission_versions.attachment_ids": "ids",
    "portfolios.artifact_ids": "ids", "feedback_responses.ratings": "numbers 1-5",
    "grade_events.*": "the grade's history (selections and feedback, shown through the fields above)",
    "at_risk_reviews.reasons": "generated reasons", "outbox_messages.*": "mail, not rendered on pages",
    "audit_log.*": "append-only (it cannot be overwritten here): copies of the fields above, on pages the crawl checks",
    "notifications.key": "generated", "notifications.counts": "counts the code works out",
    "inbox_conversations.source_key": "generated (the notices' key of the message)", "inbox_messages.token": "generated",
    "api_tokens.form_token": "generated (the form's one-time value, checked)",
    "webhook_endpoints.form_token": "generated (the form's one-time value, checked)",
    "sso_configs.client_secret_encrypted": "encrypted, never shown", "two_factor_credentials.*": "encrypted secrets",
    "two_factor_recovery_codes.*": "hashes", "api_tokens.prefix": "generated", "api_tokens.scopes": "chosen from the scope list", "sso_identities.*": "identifiers from the provider's signed token", "notifications.link": "site paths the code builds",
    # the account page's sign-ins: names from a fixed list (lms.accounts.devices.summarise_agent), never the raw User-Agent
    "sign_in_devices.user_agent": "chosen from a fixed list", "sign_in_devices.ip_prefix": "a network the code writes",
    "badge_issuer_keys.*": "generated keys (the private half encrypted), never typed",
    "lti_tool_keys.*": "generated keys (the private half encrypted), never typed",
    "stored_files.sha256": "hashes", "stored_file_chunks.file_key": "generated (an attachment's stored name)",
    "xapi_statements.*": "the LRS outbox: statements the code builds and the LRS's answers, not rendered on pages",
    "jobs.kind": "registered kind names", "jobs.params": "ids and choices the code builds",
    "jobs.active_key": "generated", "jobs.file_path": "generated paths", "jobs.file_type": "generated media types",
    "webhook_endpoints.events": "chosen from the event list",
    "webhook_endpoints.secret_encrypted": "encrypted, shown once when made",
    "webhook_endpoints.previous_secret_encrypted": "encrypted, never shown (the secret before the last new one)",
    "webhook_deliveries.event_key": "generated", "webhook_deliveries.message_id": "generated",
    "webhook_deliveries.body": "the JSON the code builds and signs, not rendered on pages",
    "lti_contexts.lineitems_url": "service URLs from the platform's signed launch, not rendered on pages",
    "lti_contexts.memberships_url": "service URLs from the platform's signed launch, not rendered on pages",
    "lti_contexts.ags_scopes": "scope names from the platform's signed launch, not rendered on pages",
    "lti_accounts.subject": "the platform's user id from its signed launch, not rendered on pages",
    "lti_nonces.nonce": "launch nonces, not rendered on pages",
    "lti_resource_links.*": "the platform's link ids and the targets the code builds, not rendered on pages",
    "lti_line_items.*": "targets the code builds and the platform's line item URLs, not rendered on pages",
    "lti_scores.*": "the grade passback queue (targets and labels from content, the platform's errors); pages show counts only",
    "progress_items.*": "the schedule state: copies of content titles and details the code builds",
    "content_revisions.token": "generated (the content revision the curriculum caches are keyed on)",
}
TEXT_TYPES = (sa.String, sa.Text, sa.JSON)
# User text the crawl is not expected to show: what the fixture has no rows for, or shows
# only in a state its rows are not in. Each is still escaped by the same templates' rules.
NOT_SHOWN: dict[str, str] = {
    "at_risk_reviews.note": "no at-risk review in the fixture",
    "discussion_moderations.reason": "no moderation in the fixture",
    "discussion_posts.hidden_reason": "shown on hidden posts only",
    "discussion_threads.hidden_reason": "shown on hidden threads only",
    "enrolments.ended_reason": "shown for ended enrolments only",
    "item_withdrawals.reason": "no withdrawn item in the fixture",
    "peer_reviews.selections": "a peer review's page shows its overall comment only",
    "sso_configs.issuer": "no single sign-on configured in the fixture",
    "sso_configs.client_id": "no single sign-on configured in the fixture",
    "sso_configs.allowed_domains": "no single sign-on configured in the fixture",
    "two_factor_devices.label": "no remembered device in the fixture",
    "team_adjustments.note": "no adjustment in the fixture",
    "team_ratings.comment": "no team rating in the fixture",
    "lti_deployments.deployment_id": "no deployment registered in the fixture",
    "credential_revocations.reason": "no revoked credential in the fixture",
    "portfolio_hand_ins.reflections": "kept as handed in (the data export); pages show the handed-in version's text, "
                                      "made from them at the hand-in (submission_versions.body)",
}


def classified(table: str, column: str) -> bool:
    return (column in USER_TEXT.get(table, ()) or column in USER_JSON.get(table, {})
            or any(name in NOT_USER_TEXT for name in (f"{table}.{column}", f"{table}.*", f"*.{column}")))


def test_every_text_column_is_placed(app: Flask) -> None:
    unplaced = [f"{table.name}.{column.name}" for table in db.metadata.sorted_tables for column in table.columns
                if isinstance(column.type, TEXT_TYPES) and not isinstance(column.type, sa.Enum)
                and not classified(table.name, column.name)]
    assert unplaced == [], "place each in USER_TEXT, USER_JSON or NOT_USER_TEXT of tests/test_xss_corpus.py"


def test_the_corpus_is_big_and_varied() -> None:
    assert len(PAYLOADS) >= 50 and len(set(PAYLOADS)) == len(PAYLOADS)
    for kind in ("<svg", "javascript:", "&#", "]("):
        assert sum(kind in p for p in PAYLOADS) >= 3, kind


# --------------------------------------------------------------------------- finding executable markup

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "codebase", "cite"}
FORBIDDEN_TAGS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "style", "math", "noscript"}
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


class Executable(HTMLParser):
    """Everything in a page a browser could run, or that could carry a script or style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"<{tag}> near line {self.getpos()[0]}"
        values = {name.lower(): value or "" for name, value in attrs}
        if tag in FORBIDDEN_TAGS:
            self.found.append(f"{where}: a {tag} element")
        if tag == "script" and not values.get("src", "").startswith("/static/"):
            self.found.append(f"{where}: a script")
        if tag == "meta" and values.get("http-equiv"):
            self.found.append(f"{where}: meta http-equiv")
        if tag == "link" and not self._own(values.get("href", "")):
            self.found.append(f"{where}: a link to {values.get('href')!r}")
        if tag in {"animate", "set", "use", "foreignobject", "handler", "listener"}:
            self.found.append(f"{where}: an SVG {tag}")
        for name, value in values.items():
            if name.startswith("on"):
                self.found.append(f"{where}: {name} handler")
            elif name in {"style", "srcdoc"}:
                self.found.append(f"{where}: {name} attribute")
            elif name in URL_ATTRIBUTES:
                scheme = _CONTROL.sub("", html.unescape(value)).lower().split(":", 1)[0] if ":" in value else ""
                if scheme in {"javascript", "vbscript", "data", "livescript", "mocha"}:
                    self.found.append(f"{where}: {name}={value!r}")
        if tag not in {"img", "br", "hr", "input", "meta", "link", "source", "wbr", "col", "area", "path", "rect",
                       "line", "circle", "polyline", "polygon", "stop", "use"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    @staticmethod
    def _own(href: str) -> bool:
        """A path on this site, or a URL of it (the test client's host is localhost)."""
        parts = urlsplit(href)
        return href.startswith("/") and not href.startswith("//") or (parts.scheme in {"http", "https"} and parts.netloc == "localhost")


def executable(page: str) -> list[str]:
    finder = Executable()
    finder.feed(page)
    finder.close()
    return finder.found


@pytest.mark.parametrize("page", [
    "<script>alert(1)</script>", "<p onclick=x>", '<a href=" java\tscript:x">', '<a href="&#106;avascript:x">',
    "<svg><animate onbegin=x>", '<iframe src="/x">', "<style>p{}</style>", '<p style="x">',
    '<a href="data:text/html,x">', '<meta http-equiv="refresh" content="0">', '<svg><use href="#x"/></svg>',
])
def test_the_finder_finds_each_kind(page: str) -> None:
    assert executable(page) != []


def test_the_finder_passes_the_sites_own_markup() -> None:
    assert executable('<link rel="stylesheet" href="/static/web/style.css"><script src="/static/x.js"></script>'
                      '<a href="https://example.org/x">x</a><a href="/x?y=javascript:1">y</a>'
                      '<svg viewBox="0 0 1 1"><rect width="1" height="1"/><text>&lt;script&gt;</text></svg>'
                      "<p>&lt;img src=x onerror=alert(1)&gt; javascript:alert(1)</p>") == []


# --------------------------------------------------------------------------- the corpus through the pages


def _chunks(limit: int) -> list[str]:
    """The payloads packed into values of at most ``limit`` characters; a payload longer
    than a short column's limit is cut to it."""
    chunks: list[str] = []
    current = ""
    for payload in PAYLOADS:
        piece = payload.replace("\n", " ")[:limit]
        if current and len(current) + 1 + len(piece) > limit:
            chunks.append(current)
            current = ""
        current = f"{current} {piece}".strip()
    chunks.append(current)
    return chunks


def _marker(index: int) -> str:
    return f"XSSMARK{index:03d}Q"


def _walk(value: Any, key: str, text: str) -> Any:
    if isinstance(value, dict):
        return {k: (text if isinstance(v, str) and (key == "*" or k == key) else _walk(v, key, text)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, key, text) for v in value]
    return value


class Poison:
    """Writes the corpus into every user-text column: whole into unbounded ones, in rounds into short ones."""

    def __init__(self) -> None:
        self.fields: list[tuple[sa.Table, sa.Column[Any]]] = []
        self.json: list[tuple[sa.Table, sa.Column[Any], str]] = []
        tables = db.metadata.tables
        for name, columns in USER_TEXT.items():
            if name in tables:
                self.fields += [(tables[name], tables[name].c[c]) for c in columns if c in tables[name].c]
        for name, keyed in USER_JSON.items():
            if name in tables:
                self.json += [(tables[name], tables[name].c[c], key) for c, key in keyed.items() if c in tables[name].c]
        self.markers = {_marker(i): f"{t.name}.{c.name}" for i, (t, c) in enumerate(self.fields)}
        self.markers |= {_marker(100 + i): f"{t.name}.{c.name}" for i, (t, c, _) in enumerate(self.json)}
        self.rounds = max(len(self._chunks_for(c)) for _, c in self.fields)

    def _chunks_for(self, column: sa.Column[Any]) -> list[str]:
        length = getattr(column.type, "length", None)
        return ["\n\n".join(PAYLOADS)] if length is None else _chunks(length - len(_marker(0)) - 10)

    def write(self, round_: int) -> set[str]:
        """Round 0 writes everything; round n the n-th chunk of each short column that has
        one. Returns the markers of the columns written."""
        written: set[str] = set()
        for index, (table, column) in enumerate(self.fields):
            chunks = self._chunks_for(column)
            if round_ >= len(chunks):
                continue
            written.add(_marker(index))
            text = f"{_marker(index)} {chunks[round_]} #"
            suffix = sa.cast(table.c.id, sa.String) if "id" in table.c else sa.literal("")
            db.session.execute(sa.update(table).values({column.name: sa.literal(text, sa.String) + suffix}))
        if round_ == 0:
            for index, (table, column, key) in enumerate(self.json):
                written.add(_marker(100 + index))
                text = f"{_marker(100 + index)}\n\n" + "\n\n".join(PAYLOADS)
                for row in db.session.execute(select(table)).mappings():
                    if row[column.name] is not None:
                        where = [table.c[k.name] == row[k.name] for k in table.primary_key.columns]
                        db.session.execute(sa.update(table).where(*where).values({column.name: _walk(row[column.name], key, text)}))
        db.session.commit()
        return written


SKIP = re.compile(r"/logout|/static/|\.(csv|ics|zip|json|svg|png|pdf|txt)$|/download|/export")


def crawl(client: Any, starts: list[str], limit: int = 260) -> dict[str, str]:
    """Same-site GET pages reachable from ``starts``: at most two per path shape."""
    pages: dict[str, str] = {}
    shapes: Counter[str] = Counter()
    queue = deque(starts)
    while queue and len(pages) < limit:
        url = queue.popleft()
        path = urlsplit(url).path
        shape = re.sub(r"\d+", "N", path)
        if url in pages or SKIP.search(path) or shapes[shape] >= 2:
            continue
        shapes[shape] += 1
        response = client.get(url)
        page = response.get_data(as_text=True) if response.status_code == 200 and response.mimetype == "text/html" else ""
        response.close()
        pages[url] = page
        for href in re.findall(r'href="([^"#]+)', page):
            target = urljoin(url, html.unescape(href))
            parts = urlsplit(target)
            if not parts.scheme and not parts.netloc and target.startswith("/"):
                queue.append(target)
    return pages


@pytest.fixture()
def poisoned(app: Flask, demo_command: Callable[[], Any], request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    # The demo on the freshly loaded course first (a build other tests in the worker share),
    # then the access test's people and rows.
    result = demo_command()
    assert result.exit_code == 0, result.output
    world: World = request.getfixturevalue("world")
    extra = route_extras(app, world)
    tokens: dict[str, str] = {}
    learner = db.session.scalar(select(User).where(User.email == learner_email(1)))
    module = db.session.scalar(select(Module).where(Module.key == "mlops"))
    work = db.session.scalars(select(Submission).where(Submission.user_id == learner.id, Submission.submitted_at.is_not(None))).first()
    tokens["feedback"] = invite_stakeholder(db.session, learner, module, "Stake Holder", "sh@client.example", "customer",
                                            utcnow(), lambda t: t)[1]
    if work is not None:
        tokens["expert"] = invite_expert(db.session, work, learner, "Ex Pert", "ex@expert.example", "", utcnow(), lambda t: t)[1]
        # and one answered, so learner01's pages show an expert's rating whatever the demo drew
        answered_token = invite_expert(db.session, work, learner, "Ra Ted", "rated@expert.example", "", utcnow(), lambda t: t)[1]
        criteria = work.assignment.rubric.current.criteria
        rate_expert(db.session, answered_token, EXPERTS[0].credentials, rubric_levels(criteria, 0.8, random.Random(1)),
                    {c.id: "Clear." for c in criteria}, "Sound work.", utcnow())
    # learner A's handed-in work comes back for revision: the work page shows the draft's preview
    returned = db.session.get(Submission, extra["submission_id"])
    returned.status = SubmissionStatus.RETURNED
    # learner A: a stakeholder's answer with a comment, and a portfolio with reflections
    answered = invite_stakeholder(db.session, world.learner_a, module, "Anna Swer", "as@client.example", "customer",
                                  utcnow(), lambda t: t)[1]
    answer_feedback(db.session, answered, {q.id: 4 for q in FEEDBACK_QUESTIONS}, "Fine work.", utcnow())
    for level in db.session.scalars(select(Level).order_by(Level.id)):
        review = review_assignment(db.session, level)
        if review is not None:
            portfolio_for(db.session, world.learner_a.id, level, utcnow()).reflections = {o.key: "Why." for o in review.objectives}
    db.session.commit()
    yield {"extra": extra, "tokens": tokens, "world": world}


def test_no_payload_survives_as_executable_markup(app: Flask, poisoned: dict[str, Any], login) -> None:
    world: World = poisoned["world"]  # made after the demo (see ``poisoned``)
    poison = Poison()
    poison.write(0)
    demo = {email: db.session.scalar(select(User).where(User.email == email))
            for email in ("orgadmin@demo.lms", INSTRUCTOR_EMAIL, learner_email(1), learner_email(2))}
    visitors: dict[str, tuple[Any, str]] = {
        "site admin": (world.admin, PASSWORD), "org admin A": (world.org_admin_a, PASSWORD),
        "learner A": (world.learner_a, PASSWORD), **{email: (user, DEMO_PASSWORD) for email, user in demo.items()},
    }
    world_users = {world.admin, world.org_admin_a, world.learner_a}
    # Every GET route of the access table on the access test's rows, then what they link to.
    routes = [route.url(world, poisoned["extra"]) for endpoint, route in sorted(ROUTES.items())
              if route.method == "GET" and endpoint != "accounts.logout"]
    starts = ["/", "/home", "/program", "/account", "/notifications", "/announcements", "/search?q=XSSMARK"]
    found: list[str] = []
    seen: dict[str, set[str]] = defaultdict(set)  # marker -> urls (per visitor)
    revisit: dict[str, tuple[str, str]] = {}  # short column's marker -> (visitor, a page showing it)
    clients: dict[str, Any] = {}
    short = {m for m, field in poison.markers.items() if m < _marker(100)}
    for who, (user, password) in visitors.items():
        client = app.test_client()
        login(client, user, password)
        clients[who] = client
        pages = crawl(client, starts + (routes if user in world_users else []))
        for url, page in pages.items():
            found += [f"{who} GET {url}: {problem}" for problem in executable(page)]
            for marker in poison.markers:
                if marker in page:
                    seen[marker].add(url)
                    if marker in short:
                        revisit.setdefault(marker, (who, url))
    anonymous = app.test_client()
    token_pages = [f"/f/{poisoned['tokens']['feedback']}"]
    if "expert" in poisoned["tokens"]:
        token_pages.append(f"/e/{poisoned['tokens']['expert']}")
    for url in token_pages:
        page = anonymous.get(url).get_data(as_text=True)
        found += [f"anonymous GET {url}: {problem}" for problem in executable(page)]
        seen.update({m: seen[m] | {url} for m in poison.markers if m in page})
    assert found == []
    unseen = sorted(field for marker, field in poison.markers.items() if not seen.get(marker) and field not in NOT_SHOWN)
    assert unseen == [], f"{unseen}: these fields' payloads showed on no page crawled"
    # The short columns took the corpus a few payloads at a time: the other rounds, each
    # on a page that showed the column.
    for round_ in range(1, poison.rounds):
        for who, url in sorted({revisit[m] for m in poison.write(round_) if m in revisit}):
            page = clients[who].get(url).get_data(as_text=True)
            found += [f"round {round_} {who} GET {url}: {problem}" for problem in executable(page)]
    assert found == []
