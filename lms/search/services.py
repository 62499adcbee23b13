"""Search: keeping the index in step with the loaded content, and answering a query.

The index holds every active lesson and template as plain text (``sync_index``, run by
the content loader as its last section and by ``flask lms rebuild-search``). A search
answers what the user may read: a lesson their schedule has not released yet is listed
with its title and the date it opens, never its text; staff also find the learners of
the cohorts they work on (site admins: every cohort) by part of a name or email."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from markupsafe import Markup, escape
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.catalog.models import Lesson
from lms.cohorts.models import Cohort, Enrolment
from lms.cohorts.roles import Roles, roles_of
from lms.content.services import checksum
from lms.database import DbSession, lowered, utcnow
from lms.learning.services import build_schedule
from lms.resources.models import Template
from lms.search.backends import MARK_END, MARK_START, backend_for
from lms.search.models import DocumentKind, SearchDocument
from lms.search.query import SearchQuery, parse_query
from lms.web.paging import paging

PAGE_SIZE = 10
MAX_PAGE = 500
LEARNER_LIMIT = 20  # learners a page
EVERY_KIND = (DocumentKind.LESSON, DocumentKind.TEMPLATE)

# ---------------------------------------------------------------------------- the index

_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]{0,200}>")
_LEAD = re.compile(r"^\s{0,3}(#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)", re.MULTILINE)
_MARKS = re.compile(r"[*_`|]+|^\s*-{3,}\s*$|^\s*:?-{3,}:?(\s*\|\s*:?-{3,}:?)*\s*$", re.MULTILINE)


def plain_text(markdown: str) -> str:
    """What a reader sees of Markdown, roughly: the words without the markup."""
    out = _FENCE.sub(" ", markdown)
    out = _IMAGE.sub(r"\1", out)
    out = _LINK.sub(r"\1", out)
    out = _TAG.sub(" ", out)
    out = _LEAD.sub("", out)
    out = _MARKS.sub(" ", out)
    return " ".join(out.split())


@dataclass(frozen=True)
class Document:
    kind: DocumentKind
    key: str
    title: str
    context: str
    body: str
    phase_id: int | None = None

    @property
    def checksum(self) -> str:
        return checksum([self.title, self.context, self.body, self.phase_id])


def wanted_documents(session: DbSession) -> list[Document]:
    """Every active lesson and template, as the index should hold it."""
    lessons = session.scalars(select(Lesson).where(Lesson.retired_at.is_(None))
                              .options(selectinload(Lesson.module), selectinload(Lesson.phase)))
    templates = session.scalars(select(Template).where(Template.retired_at.is_(None))
                                .options(selectinload(Template.modules)))
    docs = [Document(DocumentKind.LESSON, lesson.key, lesson.title,
                     f"{lesson.module.title} · month {lesson.phase.month}", plain_text(lesson.body), lesson.phase_id)
            for lesson in lessons if lesson.module.retired_at is None and lesson.phase.retired_at is None]
    docs += [Document(DocumentKind.TEMPLATE, t.key, t.title,
                      "Template · " + ", ".join(m.title for m in t.modules if m.retired_at is None),
                      plain_text(f"{t.summary}\n\n{t.body}"))
             for t in templates]
    return docs


@dataclass
class IndexReport:
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def sync_index(session: DbSession) -> IndexReport:
    """Bring the index in line with the active content: new items added, changed ones
    rewritten, retired ones removed, the rest untouched (so a second run changes nothing).
    Flushes; the caller commits."""
    report = IndexReport()
    existing = {(d.kind, d.item_key): d for d in session.scalars(select(SearchDocument))}
    seen = set()
    for doc in wanted_documents(session):
        seen.add((doc.kind, doc.key))
        row = existing.get((doc.kind, doc.key))
        digest = doc.checksum
        if row is None:
            session.add(SearchDocument(kind=doc.kind, item_key=doc.key, phase_id=doc.phase_id, title=doc.title[:200],
                                       context=doc.context[:300], body=doc.body, checksum=digest))
            report.created += 1
        elif row.checksum != digest:
            row.phase_id, row.title, row.context, row.body, row.checksum = (
                doc.phase_id, doc.title[:200], doc.context[:300], doc.body, digest)
            report.updated += 1
        else:
            report.unchanged += 1
    gone = [row.id for key, row in existing.items() if key not in seen]
    if gone:
        session.execute(delete(SearchDocument).where(SearchDocument.id.in_(gone)))
        report.removed = len(gone)
    session.flush()
    return report


def rebuild_index(session: DbSession) -> IndexReport:
    """Sync, then have the database rebuild its full-text index from the rows."""
    report = sync_index(session)
    backend_for(session).rebuild(session)
    return report


# ---------------------------------------------------------------------------- searching


@dataclass(frozen=True)
class Hit:
    kind: DocumentKind
    key: str
    title: str
    context: str
    snippet: Markup | None          # None when the user may not read the text yet
    locked: bool = False
    opens_on: date | None = None    # a locked lesson's opening date for this learner
    locked_reason: str = ""


@dataclass(frozen=True)
class LearnerHit:
    user: User
    cohort: Cohort


@dataclass
class Results:
    query: SearchQuery
    page: int = 1
    total: int = 0
    hits: list[Hit] = field(default_factory=list)
    learners: list[LearnerHit] = field(default_factory=list)
    learners_searched: bool = False
    learner_page: int = 1
    learner_total: int = 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def learner_pages(self) -> int:
        return max(1, -(-self.learner_total // LEARNER_LIMIT))

    @property
    def more_learners(self) -> bool:
        """More learners match than this page shows (on a later page)."""
        return self.learner_page < self.learner_pages

    @property
    def empty(self) -> bool:
        return not self.hits and not self.learners


def marked(snippet: str) -> Markup:
    """The backend's snippet as HTML: its text escaped, its marks made ``<mark>``."""
    return (escape(snippet.replace(MARK_START, "\x00s").replace(MARK_END, "\x00e"))
            .replace("\x00s", Markup("<mark>")).replace("\x00e", Markup("</mark>")))


class LessonGate:
    """Whether the user may open each lesson, by its phase: staff every lesson; a learner
    what their schedule (with early access) has released; anyone else none."""

    def __init__(self, session: DbSession, user: User, roles: Roles, now: datetime) -> None:
        self.staff = roles.is_staff
        self.plan = (build_schedule(session, roles.enrolment.cohort, user.id, now, roles.enrolment)
                     if not self.staff and roles.enrolment is not None else None)

    def check(self, phase_id: int | None) -> tuple[bool, date | None, str]:
        if self.staff:
            return True, None, ""
        if self.plan is None:
            return False, None, "Lessons open to learners enrolled in a cohort."
        slot = self.plan.slot_for(phase_id) if phase_id is not None else None
        if slot is None or slot.is_open:
            return True, None, ""
        return False, slot.opens_on, ""


def search(session: DbSession, user: User, raw: str, page: int = 1, now: datetime | None = None,
           kinds: Sequence[DocumentKind] = EVERY_KIND, learner_page: int = 1) -> Results:
    """One page of what ``raw`` finds for ``user`` (and, for staff, page ``learner_page`` of
    the learners it finds). A fixed number of statements whatever the number of hits or learners."""
    query = parse_query(raw)
    page = min(max(page, 1), MAX_PAGE)
    results = Results(query=query, page=page, learner_page=min(max(learner_page, 1), MAX_PAGE))
    if not query.text:
        return results
    roles = roles_of(session, user)
    if roles.is_staff:
        results.learners_searched = True
        results.learners, results.learner_total, results.learner_page = find_learners(
            session, user, roles, query.text, results.learner_page)
    if not query:
        return results
    backend = backend_for(session)
    results.total = backend.count(session, query, kinds)
    # A page past the end (an old link, a hand-typed number) shows the last page, as every
    # paged list here does (``lms.web.paging``), never "page 500 of 3" over no results.
    results.page = page = paging(page, PAGE_SIZE, results.total).page
    matches = backend.page(session, query, kinds, PAGE_SIZE, (page - 1) * PAGE_SIZE) if results.total else []
    if not matches:
        return results
    docs = {d.id: d for d in session.scalars(select(SearchDocument)
                                             .where(SearchDocument.id.in_([m.document_id for m in matches])))}
    gate = LessonGate(session, user, roles, now or utcnow()) \
        if any(docs[m.document_id].kind is DocumentKind.LESSON for m in matches if m.document_id in docs) else None
    for m in matches:
        doc = docs.get(m.document_id)
        if doc is None:
            continue
        allowed, opens_on, reason = gate.check(doc.phase_id) if gate and doc.kind is DocumentKind.LESSON else (True, None, "")
        results.hits.append(Hit(kind=doc.kind, key=doc.item_key, title=doc.title, context=doc.context,
                                snippet=marked(m.snippet) if allowed else None, locked=not allowed,
                                opens_on=opens_on, locked_reason=reason))
    return results


def _like(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_learners(session: DbSession, user: User, roles: Roles, text: str,
                  page: int = 1) -> tuple[list[LearnerHit], int, int]:
    """Learners with an active enrolment whose name or email holds ``text``, in the
    cohorts ``user`` works on: every cohort for a site admin, their organizations'
    cohorts for an organization admin, the cohorts they teach for an instructor.
    Page ``page`` of them (``LEARNER_LIMIT`` a page, by name; past the end: the last page),
    how many there are in all, and the page shown: two statements."""
    needle = " ".join(text.split()).lower()[:100]
    if len(needle) < 2:
        return [], 0, 1
    pattern = _like(needle)
    statement = (select(User, Cohort).join(Enrolment, Enrolment.user_id == User.id)
                 .join(Cohort, Cohort.id == Enrolment.cohort_id)
                 .where(Enrolment.active,
                        or_(lowered(User.name).like(pattern, escape="\\"), User.email.like(pattern, escape="\\"))))
    if not user.is_admin:
        scope = [Cohort.organization_id.in_(roles.admin_of), Cohort.id.in_(roles.instructs)]
        statement = statement.where(or_(*scope))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    if not total:
        return [], 0, 1
    page = paging(page, LEARNER_LIMIT, total).page
    rows = session.execute(statement.order_by(User.name, User.id, Cohort.id)
                           .limit(LEARNER_LIMIT).offset((page - 1) * LEARNER_LIMIT))
    return [LearnerHit(user=u, cohort=c) for u, c in rows], total, page
