"""The cohort heat map kept per process (``lms.web.page_cache``, cohort scope; issue 14
point 2): viewed again with nothing it shows changed, it costs its stamp (one statement)
instead of its build. It is never stale: after each kind of change the heat map shows
(a quiz scored, work graded, an extension, a learner enrolled or renamed, a review
recorded, the cohort renamed, mastery rewritten by another process behind the ORM, the
curriculum), the page served from the cache equals the page built afresh and differs from
the page before; so after mastery alone is written (plain SQL from another process, a row
removed, a rebuild from corrected evidence). Each sort, filter and page is kept apart."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.admin.services import deactivate, reactivate
from lms.audit.services import Origin
from lms.catalog.models import Lesson, Objective
from lms.competency import views as competency_views
from lms.competency.lines import lines_of
from lms.competency.services import record_review
from lms.database import utcnow
from lms.extensions import db
from lms.notifications.models import NotificationEvent
from lms.notifications.services import notify
from lms.progress.models import Mastery, MasteryMark, MasteryMethodName, ProgressLearner
from lms.progress.services import mark_read
from lms.progress.services import rebuild as rebuild_mastery
from lms.web.page_cache import WRITE_MARKS, cache_of
from tests.test_concurrency import race
from tests.test_page_cache import Learner, body, cohort_renamed, grade_released, learner_renamed, override_granted, take_quiz

# a kept page's key turns with the quarter hour (conftest.py)
pytestmark = pytest.mark.usefixtures("clear_of_a_quarter_boundary")


@pytest.fixture()
def world(app: Flask, loaded, client, make_user, make_cohort, enrol_learner, login) -> Learner:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    person = enrol_learner(cohort, name="Lea Learner")
    enrol_learner(cohort, name="Sam Second")
    login(client, teacher)
    return Learner(app, cohort, person, teacher)


def url(world: Learner, query: str = "") -> str:
    return f"/cohorts/{world.cohort.id}/competency{query}"


def forget(app: Flask) -> None:
    """Nothing of the heat map kept in the process: its pages, and its learners' lines
    (``lms.competency.lines``), so that the next view is built from the database alone."""
    cache_of(app).clear()
    lines_of(app).clear()


def shown_after(world: Learner, client: Any, before: str) -> str:
    """The heat map viewed after a change, as the process builds it from what it keeps: the
    same as the page built with nothing kept, and not ``before`` (the change shows)."""
    db.session.expire_all()
    kept = body(client.get(url(world)))
    forget(world.app)
    assert kept == body(client.get(url(world))) != before
    return kept


def plain_sql(statement: str, **values: Any) -> None:
    """``statement`` run and committed by another process: no session event sees it."""
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    try:
        with other.begin() as conn:
            conn.execute(sa.text(statement), values)
    finally:
        other.dispose()


def mastery_behind_the_orm(world: Learner) -> None:
    """Another process rewrites the learner's mastery with plain SQL: no session event sees it."""
    take_quiz(world)
    db.session.commit()
    plain_sql("UPDATE mastery SET level = 0.5 WHERE user_id = :id", id=world.learner.id)


def objective_renamed(world: Learner) -> None:
    objective = db.session.scalars(select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.id)).first()
    assert objective is not None
    objective.title = "An objective renamed by a content edit"


def reviewed(world: Learner, reviewer: User | None = None) -> None:
    record_review(db.session, world.cohort, world.learner, reviewer or world.teacher, "Called Lea: a plan for month three.",
                  None, utcnow())


def account_closed(world: Learner) -> None:
    """A site admin deactivates the learner: their name and email are the same, but a
    closed account is at risk of nothing."""
    learner = db.session.get_one(User, world.learner.id)
    deactivate(db.session, learner, learner.session_version, Origin(world.teacher.id, None))


CHANGES: dict[str, Callable[[Learner, Callable[..., Any], Callable[..., User]], Any]] = {
    "quiz scored": lambda world, enrol, make: take_quiz(world),
    "work graded": lambda world, enrol, make: grade_released(world),
    "extension granted": lambda world, enrol, make: override_granted(world),
    "learner enrolled": lambda world, enrol, make: enrol(world.cohort, name="Nia Newcomer"),
    "learner renamed": lambda world, enrol, make: learner_renamed(world),
    "review recorded": lambda world, enrol, make: reviewed(world),
    "cohort renamed": lambda world, enrol, make: cohort_renamed(world),
    "mastery rewritten by another process": lambda world, enrol, make: mastery_behind_the_orm(world),
    "objective renamed": lambda world, enrol, make: objective_renamed(world),
    "account closed": lambda world, enrol, make: account_closed(world),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_kept_heat_map_is_never_stale(world: Learner, client, enrol_learner, make_user,
                                        change: Callable[..., Any]) -> None:
    cache = cache_of(world.app)
    pages = [url(world), url(world, "?sort=name&dir=desc")]
    before = [body(client.get(page)) for page in pages]
    hits = cache.hits
    assert [body(client.get(page)) for page in pages] == before
    assert cache.hits == hits + len(pages)  # nothing changed: both came from the cache

    change(world, enrol_learner, make_user)
    db.session.commit()
    db.session.expire_all()
    kept = [body(client.get(page)) for page in pages]
    forget(world.app)
    fresh = [body(client.get(page)) for page in pages]
    assert kept == fresh
    assert kept != before  # the change shows on the heat map: the test proves something


def test_a_kept_heat_map_shows_an_account_reopened(world: Learner, client) -> None:
    """Closed, then reopened by a site admin: the page kept while it was closed is not
    served again (the learner is at risk again)."""
    account_closed(world)
    db.session.commit()
    closed = body(client.get(url(world)))
    assert "account closed" in closed
    learner = db.session.get_one(User, world.learner.id)
    reactivate(db.session, learner, learner.session_version, Origin(world.teacher.id, None))
    db.session.commit()
    db.session.expire_all()
    kept = body(client.get(url(world)))
    forget(world.app)
    assert kept == body(client.get(url(world))) != closed
    assert "account closed" not in kept


def evidence_corrected_and_mastery_rebuilt(world: Learner) -> None:
    """The learner's evidence corrected with plain SQL (their mastery, so the heat map, as it
    was), then every learner's mastery rebuilt from the evidence (``flask lms rebuild-mastery``)."""
    plain_sql("UPDATE evidence SET level = 0.25 WHERE user_id = :id", id=world.learner.id)
    rebuild_mastery(db.session, utcnow())
    db.session.commit()


MASTERY_WRITES: dict[str, Callable[[Learner], Any]] = {
    "rewritten": lambda world: plain_sql("UPDATE mastery SET level = 0.5 WHERE user_id = :id", id=world.learner.id),
    "a row removed": lambda world: plain_sql("DELETE FROM mastery WHERE id = (SELECT min(id) FROM mastery WHERE user_id = :id)",
                                             id=world.learner.id),
    "rebuilt from corrected evidence": evidence_corrected_and_mastery_rebuilt,
}


@pytest.mark.parametrize("write", MASTERY_WRITES.values(), ids=MASTERY_WRITES.keys())
def test_a_kept_heat_map_sees_mastery_written_whatever_writes_it(world: Learner, client, write: Callable[[Learner], Any]) -> None:
    """Mastery alone changes (nothing else the heat map shows): the cohort's stamp sees it
    through the learners' marks, which the database's triggers draw on every write to
    ``mastery``, whatever makes it."""
    take_quiz(world)
    db.session.commit()
    cache = cache_of(world.app)
    before = body(client.get(url(world)))
    hits = cache.hits
    assert body(client.get(url(world))) == before and cache.hits == hits + 1  # kept

    write(world)
    db.session.expire_all()
    kept = body(client.get(url(world)))
    forget(world.app)
    assert kept == body(client.get(url(world))) != before


def test_a_kept_heat_map_says_what_a_held_cell_needs_as_it_stands(world: Learner, client) -> None:
    """A held cell says how much staff-checked evidence it needs (``Mastery.missing``, read
    with the cell): when only that changes (another process, plain SQL), the kept page
    is not served again."""
    take_quiz(world)
    db.session.commit()
    plain_sql("UPDATE mastery SET level = 3.4, held = :yes, missing = 1.0 WHERE user_id = :id", id=world.learner.id, yes=True)
    cache = cache_of(world.app)
    before = body(client.get(url(world)))
    assert "needs one more piece of staff-checked evidence to count as mastered" in before
    hits = cache.hits
    assert body(client.get(url(world))) == before and cache.hits == hits + 1  # kept

    plain_sql("UPDATE mastery SET missing = 1.5 WHERE user_id = :id", id=world.learner.id)
    kept = shown_after(world, client, before)
    assert "needs 2 more pieces of staff-checked evidence to count as mastered" in kept
    assert "needs one more piece" not in kept


def test_statements_racing_to_write_the_same_learners_mastery_all_commit_and_mark_them(world: Learner, make_user) -> None:
    """Connections writing mastery rows of the same learners at once (each its own
    objective's rows: no row in common) all commit: the triggers' writes to the learners'
    marks wait for each other rather than deadlock or collide, and each learner keeps one
    mark, drawn afresh."""
    learners = [world.learner.id, *(make_user(name=f"Racer {n}").id for n in range(6))]
    objectives = list(db.session.scalars(select(Objective.id).where(Objective.retired_at.is_(None)).order_by(Objective.id)))[:4]
    db.session.add_all(Mastery(user_id=user, objective_id=objective, level=2.0, evidence_count=1,
                               method=MasteryMethodName.DECAYING_AVERAGE) for user in learners for objective in objectives)
    db.session.commit()
    before = dict(db.session.execute(select(MasteryMark.user_id, MasteryMark.revision).where(MasteryMark.user_id.in_(learners))).all())
    assert set(before) == set(learners)
    engines = [sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool) for _ in objectives]

    def rewrite(engine: sa.Engine, objective: int) -> int:
        with engine.begin() as conn:  # one statement over every learner's row of one objective
            return conn.execute(sa.text("UPDATE mastery SET level = 3.0 WHERE objective_id = :objective AND user_id IN :users")
                                .bindparams(sa.bindparam("users", expanding=True)),
                                {"objective": objective, "users": learners}).rowcount

    try:
        assert race([lambda e=engine, o=objective: rewrite(e, o) for engine, objective in zip(engines, objectives, strict=True)]) == [
            len(learners)] * len(objectives)
    finally:
        for engine in engines:
            engine.dispose()
    db.session.expire_all()
    after = db.session.execute(select(MasteryMark.user_id, MasteryMark.revision).where(MasteryMark.user_id.in_(learners))).all()
    assert sorted(user for user, _revision in after) == sorted(learners)  # one mark a learner
    assert all(before[user] != revision for user, revision in after)


def test_a_reviewer_renamed_after_their_review_shows_on_the_kept_heat_map(world: Learner, client, make_user) -> None:
    colleague = make_user(name="Cal Colleague")
    reviewed(world, colleague)
    db.session.commit()
    assert "Last reviewed by Cal Colleague" in body(client.get(url(world)))
    hits = cache_of(world.app).hits
    assert "Last reviewed by Cal Colleague" in body(client.get(url(world)))
    assert cache_of(world.app).hits == hits + 1  # kept
    colleague.name = "Cal Renamed"
    db.session.commit()
    assert "Last reviewed by Cal Renamed" in body(client.get(url(world)))


def test_each_sort_filter_and_page_is_kept_apart(world: Learner, client) -> None:
    by_name = body(client.get(url(world, "?sort=name")))
    reversed_ = body(client.get(url(world, "?sort=name&dir=desc")))
    assert by_name != reversed_
    assert body(client.get(url(world, "?sort=name"))) == by_name
    assert body(client.get(url(world, "?sort=name&dir=desc"))) == reversed_
    filtered = body(client.get(url(world, "?q=sam")))
    assert "Sam Second" in filtered and "Lea Learner" not in filtered.split('id="map"')[-1].split("</table>")[0]


def test_a_kept_heat_map_costs_its_stamp(world: Learner, client) -> None:
    cache = cache_of(world.app)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    client.get(url(world))
    hits = cache.hits
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(url(world)).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert cache.hits == hits + 1
    # the signed-in user; the route's access rule: the cohort, the person's ties to
    # organizations and cohorts; the stamp
    assert len(statements) <= 4, "\n".join(statement[:120] for statement in statements)
    # The stamp reads each learner's mastery mark (one row by its key), not their mastery rows.
    stamp = statements[-1]
    assert "mastery_marks" in stamp and not re.search(r"\bmastery\b(?!_marks)", stamp), stamp


def test_a_built_heat_map_reads_its_cohort_once(world: Learner, client) -> None:
    """The route's access rule reads the cohort; the view uses that row (``hold``) rather
    than reading it again."""
    cache_of(world.app).clear()
    statements = statements_of(client, url(world))
    cohort_rows = [s for s in statements if " ".join(s.split()).startswith("SELECT cohorts.id")]
    assert len(cohort_rows) == 1, "\n".join(s[:120] for s in statements)


def test_a_built_heat_map_reads_the_content_revision_and_its_members_in_its_stamp_alone(world: Learner, client) -> None:
    """The content token the stamp read serves the rest of the request (``PageInput.seen``):
    a page built reads ``content_revisions`` in its stamp statements only. And the stamp
    reads the cohort's members through their mark (``MemberMark``, one row by its key), not
    every enrolment and account of the cohort."""
    cache_of(world.app).clear()
    lines_of(world.app).clear()
    statements = statements_of(client, url(world))
    stamps = [s for s in statements if "stamp_0" in s]
    assert stamps and all("member_marks" in s and "users.email" not in s for s in stamps)  # no account read in it
    others = [s for s in statements if "stamp_0" not in s]
    assert not [s for s in others if "content_revisions" in s], "\n".join(s[:120] for s in others)


def test_another_cohorts_staff_is_still_refused(world: Learner, make_user, login) -> None:
    """Keeping a page never skips the route's access rule."""
    client = world.app.test_client()
    login(client, world.teacher)
    assert client.get(url(world)).status_code == 200  # kept now
    stranger = world.app.test_client()
    login(stranger, make_user(name="Other Teacher"))
    assert stranger.get(url(world)).status_code in (403, 404)


TREND_CHANGES = {name: CHANGES[name] for name in ("quiz scored", "work graded", "cohort renamed", "objective renamed")}


@pytest.mark.parametrize("change", TREND_CHANGES.values(), ids=TREND_CHANGES.keys())
def test_the_kept_trend_is_never_stale(world: Learner, client, enrol_learner, make_user,
                                       change: Callable[..., Any]) -> None:
    """The trend replays the cohort's evidence month by month (a second at 500 learners): it
    is kept under the heat map's stamp, which every evidence changes through the mastery it
    rewrites."""
    cache = cache_of(world.app)
    page = f"/cohorts/{world.cohort.id}/competency/trend"
    before = body(client.get(page))
    hits = cache.hits
    assert body(client.get(page)) == before
    assert cache.hits == hits + 1

    change(world, enrol_learner, make_user)
    db.session.commit()
    db.session.expire_all()
    kept = body(client.get(page))
    cache.clear()
    assert kept == body(client.get(page))
    assert kept != before


def statements_of(client: Any, page: str) -> list[str]:
    """The statements one GET of ``page`` sends (it must answer 200)."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(page).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return statements


def stamp_statements(client: Any, page: str) -> list[str]:
    """The statements of one GET of ``page`` that read a stamp (its columns are ``stamp_<n>``)."""
    return [s for s in statements_of(client, page) if "stamp_0" in s]


@pytest.mark.parametrize("page", ["heat map", "learner home"])
def test_a_page_built_with_nothing_written_meanwhile_reads_its_stamp_once(world: Learner, client, login, page: str) -> None:
    """After the page is built, its write mark (read in the stamp's statement) is read again
    instead of the whole stamp (a cohort's: thousands of mastery rows): the same mark on the
    same connection means nothing was written in between. The page is kept. A database with
    no write mark (PostgreSQL: ``WRITE_MARKS``) reads the stamp again."""
    if page == "learner home":
        client = world.app.test_client()
        login(client, world.learner)
    path = url(world) if page == "heat map" else "/home"
    client.get(path)  # (a message flashed by signing in is shown, never kept)
    cache = cache_of(world.app)
    cache.clear()
    marked = db.engine.dialect.name in WRITE_MARKS
    assert len(stamp_statements(client, path)) == (1 if marked else 2)
    hits = cache.hits
    assert len(stamp_statements(client, path)) == 1  # kept: the stamp (the learner's with the signed-in user)
    assert cache.hits == hits + 1


def racing_render(monkeypatch: pytest.MonkeyPatch, write: Callable[[], None]) -> None:
    """The heat map's next build runs ``write`` between its stamp and its reads."""
    real = competency_views._heat_map

    def racing(cohort: Any) -> Any:
        write()
        return real(cohort)

    monkeypatch.setattr(competency_views, "_heat_map", racing)


def renamed_by(engine: sa.Engine | None, world: Learner, name: str) -> None:
    """The learner renamed with plain SQL, by another connection that commits (``engine``) or
    by the request's own session (None)."""
    statement = sa.text("UPDATE users SET name = :name WHERE id = :id")
    if engine is None:
        db.session.execute(statement, {"name": name, "id": world.learner.id})
        return
    with engine.begin() as conn:
        conn.execute(statement, {"name": name, "id": world.learner.id})


@pytest.mark.parametrize("writer", ["another connection", "its own session"])
def test_a_heat_map_built_while_something_is_written_is_not_kept(world: Learner, client, monkeypatch,
                                                                 writer: str) -> None:
    """The stamp is read, then a learner is renamed before the page reads its rows: by
    another connection that commits, or by the request's own session (whose change is rolled
    back at the end of the GET, or on PostgreSQL committed at once). The page shows the
    rename, so it is not kept under the stamp from before it (its write mark moved, and the
    stamp read again differs; with no mark, as on PostgreSQL, the stamp is read again anyway): once the name is back as it was, the page is built afresh
    with it."""
    original = world.learner.name
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    try:
        racing_render(monkeypatch, lambda: renamed_by(other if writer == "another connection" else None,
                                                      world, "Renamed in a race"))
        cache = cache_of(world.app)
        cache.clear()
        assert "Renamed in a race" in body(client.get(url(world)))
        assert len(cache) == 0  # not kept
        monkeypatch.undo()
        renamed_by(other, world, original)  # the data as it was when the stamp was read
        page = body(client.get(url(world)))
        assert "Renamed in a race" not in page and original in page
    finally:
        other.dispose()


def test_a_lesson_read_that_starts_or_finishes_nothing_leaves_the_heat_map_kept(world: Learner, client) -> None:
    """The learner's schedule state is rewritten on every lesson read (their own pages see it:
    a new random ``revision``), but the heat map shows none of a second lesson read in a
    module (no level started, no module finished, nothing overdue changed): the cohort's
    stamp sums what it shows (``cohort_revision``), so the page stays kept and equals the
    page built afresh."""
    cache = cache_of(world.app)
    module = db.session.scalars(select(Lesson.module_id).where(Lesson.retired_at.is_(None))
                                .group_by(Lesson.module_id).having(sa.func.count() > 1).order_by(Lesson.module_id)).first()
    first, second = db.session.scalars(select(Lesson).where(Lesson.module_id == module, Lesson.retired_at.is_(None))
                                       .order_by(Lesson.id).limit(2)).all()
    mark_read(db.session, world.learner.id, first, utcnow())
    db.session.commit()
    page = body(client.get(url(world)))
    line = db.session.get(ProgressLearner, world.learner.id)
    assert line is not None
    revision, shown = line.revision, line.cohort_revision

    mark_read(db.session, world.learner.id, second, utcnow())
    db.session.commit()
    db.session.expire_all()
    line = db.session.get(ProgressLearner, world.learner.id)
    assert line is not None and line.revision != revision  # rewritten: the learner's own pages rebuild
    assert line.cohort_revision == shown
    hits = cache.hits
    assert body(client.get(url(world))) == page
    assert cache.hits == hits + 1  # kept
    forget(world.app)
    assert body(client.get(url(world))) == page  # and the page built afresh is the same



def test_the_viewers_own_layout_is_never_stale_on_a_kept_heat_map(world: Learner, client, make_cohort,
                                                                  enrol_learner) -> None:
    """The page's layout shows the viewer's own unread notifications and the navigation of
    their roles, which the cohort's stamp does not cover: a kept heat map is kept for the
    viewer as they are, and a new notification, or a new role, shows on the next view."""
    page = body(client.get(url(world)))
    assert "notification-count" not in page and ">Schedule</a>" not in page
    hits = cache_of(world.app).hits
    assert body(client.get(url(world))) == page
    assert cache_of(world.app).hits == hits + 1  # kept while nothing changed

    notify(db.session, user_id=world.teacher.id, event=NotificationEvent.AWAITING_GRADING, key="heat-map-layout-test",
           title="Work to grade")
    db.session.commit()
    assert '<span class="notification-count">1<' in body(client.get(url(world)))

    enrol_learner(make_cohort(months_ago=1), world.teacher)  # a learner now too, in another cohort
    assert ">Schedule</a>" in body(client.get(url(world)))


def test_the_heat_map_says_when_its_figures_were_worked_out_and_spells_out_its_codes(world: Learner, client) -> None:
    """The time its figures were read, on the viewer's clock (a kept page keeps the time it
    was built: its figures have not changed since), and every objective code of the map's
    headings spelled out on the page, not only in the headings' hover tooltips."""
    world.teacher.timezone = "Asia/Tokyo"
    db.session.commit()
    before = utcnow()
    page = client.get(url(world)).get_data(as_text=True)
    after = utcnow()
    found = re.search(r'id="worked-out">Figures worked out at ([^(]+) \(your time\)', page)
    assert found is not None
    tokyo = ZoneInfo("Asia/Tokyo")
    assert found.group(1).strip() in {t.astimezone(tokyo).strftime("%d %b %Y, %H:%M JST") for t in (before, after)}

    codes = page[page.index('id="objective-codes"'):]
    codes = codes[:codes.index("</details>")]
    pairs = [(code, html.unescape(title)) for code, title in re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", codes)]
    titles = {o.code: o.title for o in db.session.scalars(select(Objective))}
    table = page[page.index('id="heat-map"'):page.index("</thead>", page.index('id="heat-map"'))]
    headings = re.findall(r'title="([^"]+)">([A-Z]{2}\d)', table)
    assert pairs and len(pairs) == len(headings) == len(titles)
    for code, title in pairs:
        assert title.removesuffix(" (closed: every module serving it is past its last due date)") == titles[code]


def test_an_at_risk_item_kept_made_shows_its_reviewer_renamed(world: Learner, client) -> None:
    """A learner's item in the at-risk list is made once for what it shows (their line and
    last review: ``lms.competency.render.risk_items``): when only the reviewer's name
    changes (plain SQL, another process), the page built again names them as they are now,
    as the page built with nothing kept does."""
    reviewed(world)
    db.session.commit()
    before = body(client.get(url(world)))
    assert "Last reviewed by Tess Teacher" in before
    plain_sql("UPDATE users SET name = 'Tess Renamed' WHERE id = :id", id=world.teacher.id)
    kept = shown_after(world, client, before)
    assert "Last reviewed by Tess Renamed" in kept
