"""The schema is built only by migrations: empty -> head -> base -> head, and the models
match what the migrations build."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from config import BASE_DIR, normalise_database_url
from lms import create_app
from lms.accounts.models import User
from lms.accounts.services import tidy_name
from lms.catalog.models import Objective, ObjectiveKind
from lms.cohorts.models import Cohort, Organization
from lms.coursework.models import Submission
from lms.extensions import db
from lms.progress.models import ItemKind, ItemRole, MasteryMark, MasteryMethodName, ProgressItem, ProgressLearner
from lms.search.models import is_unmapped
from tests.conftest import RUN, _sqlite_copy, reset_pg_schema, with_search_path

MIGRATIONS = ScriptDirectory(str(BASE_DIR / "migrations"))


@pytest.fixture()
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = normalise_database_url(url)
    schema = f"lms_migrations_{RUN}"
    reset_pg_schema(url, schema)
    yield with_search_path(url, schema)
    reset_pg_schema(url, schema, create=False)


@pytest.fixture(scope="module")
def _built_schemas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """This worker's SQLite files of the schema built from empty to a revision, by revision."""
    return tmp_path_factory.mktemp("schemas"), {}


@pytest.fixture()
def upgrade_empty_to(fresh_database_url: str, _built_schemas: tuple[Path, dict[str, Path]]) -> Callable[[str], None]:
    """``upgrade(revision=...)`` of the empty database, in an app context. On SQLite the
    migrations up to the nearest revision an earlier test built from empty are not run again:
    its file is copied in, and only the migrations from there to ``revision`` run (the
    same migrations, in the same order, on an empty database, so the same schema). The
    migrations after ``revision``, which the tests check on their rows, always run."""
    folder, built = _built_schemas

    def run(revision: str) -> None:
        url = sa.engine.make_url(fresh_database_url)
        if url.get_backend_name() != "sqlite":
            upgrade(revision=revision)
            return
        target = Path(url.database or "")
        for ancestor in MIGRATIONS.iterate_revisions(revision, "base"):
            if ancestor.revision in built:
                _sqlite_copy(built[ancestor.revision], target)
                break
        upgrade(revision=revision)
        if revision not in built:
            built[revision] = folder / f"{revision}.sqlite3"
            _sqlite_copy(target, built[revision])

    return run


def test_migrations_from_empty_to_head_and_back(fresh_database_url: str, tmp_path: Path) -> None:
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        assert sa.inspect(db.engine).get_table_names() == []
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"programs", "levels", "objectives", "modules", "phases", "lessons", "metrics"} <= tables

        with db.engine.connect() as conn:
            # The search index's FTS5 table (SQLite) and GIN index (PostgreSQL) are the database's own, unmapped.
            context = MigrationContext.configure(conn, opts={"include_name": lambda name, *_: not is_unmapped(name)})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"

        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "lessons" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_the_oldest_owed_migration_dates_days_behind_from_work_still_owed(fresh_database_url: str, upgrade_empty_to: Callable[[str], None], tmp_path: Path) -> None:
    """``q1c3d4e5f613`` recomputes each kept line's oldest due date from its kept items,
    leaving out work handed in and waiting for its grade (and lessons, and what is done);
    going back puts the waiting work in again. A line with nothing owed gets no date."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("p1c3d4e5f613")  # the schema of this release: the next one changes only data
        with db.engine.begin() as conn:
            org = conn.execute(sa.insert(Organization).values(name="Upgraded Co")).inserted_primary_key[0]
            cohort = conn.execute(sa.insert(Cohort).values(organization_id=org, name="Upgraded 1",
                                                           start_date=date(2026, 6, 1))).inserted_primary_key[0]
            waiting, idle = (conn.execute(sa.insert(User).values(email=f"{name}@example.com", name=name)).inserted_primary_key[0]
                             for name in ("waiting", "idle"))
            items = [  # (user, kind, due, done, handed in)
                (waiting, ItemKind.LESSON, date(2026, 6, 5), False, False),
                (waiting, ItemKind.ASSIGNMENT, date(2026, 6, 10), False, True),   # handed in, waits for its grade
                (waiting, ItemKind.QUIZ, date(2026, 6, 12), True, False),        # done
                (waiting, ItemKind.ASSIGNMENT, date(2026, 7, 1), False, False),   # still owed: the oldest
                (idle, ItemKind.ASSIGNMENT, date(2026, 6, 10), False, True),      # all it has waits for a grade
            ]
            conn.execute(sa.insert(ProgressItem), [
                {"user_id": user, "cohort_id": cohort, "position": n, "kind": kind, "key": f"k{n}", "title": f"Item {n}",
                 "role": ItemRole.PART, "opens_on": date(2026, 6, 1), "due_on": due, "done": done, "handed_in": handed}
                for n, (user, kind, due, done, handed) in enumerate(items)])
            conn.execute(sa.insert(ProgressLearner), [{"user_id": user, "cohort_id": cohort, "oldest_due": date(2026, 6, 10)}
                                                      for user in (waiting, idle)])

        def oldest() -> dict[int, date | None]:
            with db.engine.connect() as conn:
                return dict(conn.execute(sa.select(ProgressLearner.user_id, ProgressLearner.oldest_due)).all())

        upgrade()
        assert oldest() == {waiting: date(2026, 7, 1), idle: None}
        downgrade(revision="p1c3d4e5f613")
        assert oldest() == {waiting: date(2026, 6, 10), idle: date(2026, 6, 10)}
        db.engine.dispose()


def marks_in(table: str, key: str) -> dict[int, int]:
    """A marks table's revisions (``mastery_marks``, ``member_marks``) by their key, as committed."""
    with db.engine.connect() as conn:
        return {found: revision for found, revision in conn.execute(sa.text(f"SELECT {key}, revision FROM {table}"))}


def drawn_again(table: str, key: str, statement: str, **values: object) -> set[int]:
    """The keys whose mark in ``table`` the committed ``statement`` drew again (or drew first)."""
    before = marks_in(table, key)
    with db.engine.begin() as conn:
        conn.execute(sa.text(statement), values)
    after = marks_in(table, key)
    return {found for found in after if after[found] != before.get(found)}


def test_the_mastery_marks_migration_marks_each_learner_and_its_triggers_mark_each_write(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                                        tmp_path: Path) -> None:
    """``u1c3d4e5f613`` gives each learner who has mastery a mark of 0; from then on the
    database draws a new mark for exactly the learners whose mastery rows a statement
    inserts, updates or deletes (plain SQL included: triggers, per row on SQLite, per
    statement on PostgreSQL); going back removes the marks and the triggers, and mastery
    is written as before."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("t1c3d4e5f613")
        with db.engine.begin() as conn:
            ann, bo, cy = (conn.execute(sa.insert(User).values(email=f"{name}@example.com", name=name)).inserted_primary_key[0]
                           for name in ("ann", "bo", "cy"))
            ko1, ko2 = (conn.execute(sa.insert(Objective).values(
                key=key, kind=ObjectiveKind.KNOWLEDGE, title=key, statement="", outcomes=[], applications=[], indicators=[],
                position=n)).inserted_primary_key[0] for n, key in enumerate(("KO1", "KO2")))

            def mastery(user: int, objective: int) -> dict[str, object]:
                return {"user_id": user, "objective_id": objective, "level": 2.0, "evidence_count": 1,
                        "method": MasteryMethodName.DECAYING_AVERAGE, "updated_at": datetime.now(UTC)}

            # the table as this release has it (the model's later columns, ``held``, are not there yet)
            then = sa.table("mastery", *(sa.column(c) for c in ("user_id", "objective_id", "level", "evidence_count", "method",
                                                                 "updated_at")))
            conn.execute(sa.insert(then), [mastery(user, o) for user in (ann, bo) for o in (ko1, ko2)])

        def marks() -> dict[int, int]:
            return marks_in("mastery_marks", "user_id")

        def written(statement: str, **values: object) -> set[int]:
            """The learners whose mark the statement changed."""
            return drawn_again("mastery_marks", "user_id", statement, **values)

        upgrade()
        assert marks() == {ann: 0, bo: 0}
        assert written("UPDATE mastery SET level = 3.0 WHERE user_id = :user", user=ann) == {ann}
        assert written("INSERT INTO mastery (user_id, objective_id, level, evidence_count, method, updated_at) "
                       "VALUES (:user, :objective, 1.0, 1, 'decaying_average', CURRENT_TIMESTAMP)", user=cy, objective=ko1) == {cy}
        assert written("UPDATE mastery SET evidence_count = evidence_count + 1") == {ann, bo, cy}
        assert written("DELETE FROM mastery WHERE user_id = :user", user=bo) == {bo}
        assert written("UPDATE mastery SET level = 1.0 WHERE user_id = :user", user=bo) == set()  # no row of Bo's left

        downgrade(revision="t1c3d4e5f613")
        assert "mastery_marks" not in sa.inspect(db.engine).get_table_names()
        with db.engine.begin() as conn:
            assert conn.execute(sa.text("UPDATE mastery SET level = 2.5")).rowcount == 3  # no trigger left behind
        db.engine.dispose()


def test_the_certificate_holder_name_migration_keeps_each_accounts_name(fresh_database_url: str, upgrade_empty_to: Callable[[str], None], tmp_path: Path) -> None:
    """``zr4c3d4e5f613`` gives each existing certificate its account's name at the time of
    the upgrade (an erased account's being its placeholder already); going back drops it."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("zr3c3d4e5f613")
        programs, levels, certificates = (sa.table(name, *(sa.column(c) for c in columns)) for name, columns in (
            ("programs", ("id", "key", "title", "summary")),
            ("levels", ("id", "key", "program_id", "title", "position", "first_month", "last_month", "summary", "goals")),
            ("certificates", ("id", "user_id", "level_id", "code", "issued_at"))))
        with db.engine.begin() as conn:
            ada, bo = (conn.execute(sa.insert(User).values(email=f"{name.split()[0].lower()}@example.com", name=name))
                       .inserted_primary_key[0] for name in ("Ada Lovelace", "A former learner"))
            conn.execute(sa.insert(programs).values(id=1, key="program", title="Program", summary=""))
            conn.execute(sa.insert(levels), [
                {"id": n, "key": f"level-{n}", "program_id": 1, "title": f"Level {n}", "position": n, "first_month": n,
                 "last_month": n, "summary": "", "goals": "[]"} for n in (1, 2)])
            conn.execute(sa.insert(certificates), [
                {"id": n, "user_id": user, "level_id": level, "code": f"code-{n}", "issued_at": datetime(2026, 6, n, tzinfo=UTC)}
                for n, (user, level) in enumerate(((ada, 1), (ada, 2), (bo, 1)), start=1)])

        def kept() -> dict[int, str]:
            with db.engine.connect() as conn:
                return dict(conn.execute(sa.text("SELECT id, holder_name FROM certificates ORDER BY id")).all())

        upgrade()
        assert kept() == {1: "Ada Lovelace", 2: "Ada Lovelace", 3: "A former learner"}
        with db.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):  # every certificate names its holder
            conn.execute(sa.text("INSERT INTO certificates (user_id, level_id, code, issued_at) "
                                 "VALUES (:user, 2, 'nameless', CURRENT_TIMESTAMP)"), {"user": bo})
        downgrade(revision="zr3c3d4e5f613")
        assert "holder_name" not in {c["name"] for c in sa.inspect(db.engine).get_columns("certificates")}
        db.engine.dispose()


def test_the_clean_names_migration_cleans_stored_names_with_the_person_name_rule(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                                  tmp_path: Path) -> None:
    """``zt2c3d4e5f613``: names stored before ``person_name`` lose what nobody sees (zero-width
    spaces, direction overrides, controls) as the rule takes it out, keep the joiners that
    Persian and Indic names need, and a name with nothing readable left gets a placeholder;
    every cleaned name is what ``tidy_name`` makes of it today."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    stored = {
        "spoof": ("Ada\u200b Love\u202elace\u202c", "Ada Lovelace"),
        "persian": ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
        "hindi": ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),
        "controls": ("Eve\x1b[31m\x07 \t Red\nLine ", "Eve[31m Red Line"),
        "plain": ("Grace Hopper", "Grace Hopper"),
        "invisible": ("\u200b\u202e\u2066 \u200d", None),  # nothing readable: a placeholder
    }
    with app.app_context():
        upgrade_empty_to("zt1c3d4e5f613")  # the schema before: the next migration changes only data
        with db.engine.begin() as conn:
            ids = {key: conn.execute(sa.insert(User).values(email=f"{key}@example.com", name=name)).inserted_primary_key[0]
                   for key, (name, _clean) in stored.items()}
        upgrade()
        with db.engine.connect() as conn:
            names = dict(conn.execute(sa.select(User.id, User.name)).all())
        expected = {ids[key]: clean if clean is not None else f"Learner {ids[key]}" for key, (_name, clean) in stored.items()}
        assert names == expected
        assert all(tidy_name(raw) == (clean or "") for raw, clean in stored.values())  # the rule the accounts keep
        downgrade(revision="zt1c3d4e5f613")  # going back keeps the cleaned names
        with db.engine.connect() as conn:
            assert dict(conn.execute(sa.select(User.id, User.name)).all()) == expected
        db.engine.dispose()


def test_the_revision_window_migration_dates_returned_work_from_its_last_return(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                               tmp_path: Path) -> None:
    """``y1c3d4e5f613`` adds ``submissions.returned_at`` and fills it, for the work returned
    for revision when it runs, with the time of its grade's last "return" event (a later
    event of another kind, a draft saved afterwards, does not move it); work in any other
    status (handed in, graded, a draft), or returned with no such event, is left without one.
    The rows are written as the schema before it had them (its tables reflected), in UTC as
    every time is stored."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("x1c3d4e5f613")
        old = sa.MetaData()
        old.reflect(db.engine)
        assert "returned_at" not in old.tables["submissions"].c
        start = datetime(2026, 3, 2, 9, 30)  # naive UTC, as stored
        with db.engine.begin() as conn:
            def add(table: str, **values: object) -> int:
                return int(conn.execute(old.tables[table].insert().values(**values)).inserted_primary_key[0])

            learner, grader = (add("users", email=f"{name}@example.com", name=name, timezone="UTC", is_admin=False,
                                   session_version=0, created_at=start) for name in ("learner", "grader"))
            org = add("organizations", name="Upgraded Co", created_at=start)
            cohort = add("cohorts", organization_id=org, name="Upgraded 1", start_date=date(2026, 1, 5),
                         timezone="Europe/Berlin", created_at=start)
            program = add("programs", key="p", title="P", summary="")
            module = add("modules", program_id=program, key="m", title="M", summary="", position=0, metric_group="")
            phase = add("phases", module_id=module, key="m-1", title="M 1", month=1, position=0, summary="")
            rubric = add("rubrics", key="r", title="R", current_number=1)
            rubric_version = add("rubric_versions", rubric_id=rubric, number=1, criteria=[], max_points=10.0,
                                 checksum="0" * 64, created_at=start)

            def work(key: str, status: str, events: list[tuple[str, timedelta]]) -> int:
                """An assignment's submission in ``status``, handed in once, and its grade's
                events (action, time after ``start``)."""
                assignment = add("assignments", key=key, kind="case_study", title=key, module_id=module, phase_id=phase,
                                 rubric_id=rubric, due_after_days=14, peer_reviews=0, deliverables=[], body="",
                                 position=0, source_path=f"{key}.md")
                submission = add("submissions", assignment_id=assignment, user_id=learner, cohort_id=cohort, status=status,
                                 draft_body="text", created_at=start, updated_at=start)
                version = add("submission_versions", submission_id=submission, number=1, body="text", attachment_ids=[],
                              submitted_at=start, late=False)
                if events:
                    grade = add("grades", submission_id=submission, version_id=version, rubric_version_id=rubric_version,
                                grader_id=grader, selections={}, feedback="Revise.", max_score=10.0, status="draft",
                                revision=len(events), updated_at=start + events[-1][1])
                    for action, after in events:
                        add("grade_events", grade_id=grade, actor_id=grader, at=start + after, action=action, after={})
                return submission

            returned_twice = work("twice", "returned", [("return", timedelta(days=1)), ("return", timedelta(days=9, hours=5))])
            drafted_after = work("drafted", "returned", [("draft", timedelta(hours=2)), ("return", timedelta(days=3)),
                                                         ("draft", timedelta(days=4))])
            released = work("released", "released", [("return", timedelta(days=1)), ("release", timedelta(days=6))])
            waiting = work("waiting", "submitted", [("return", timedelta(days=1))])  # handed in again after its return
            no_event = work("no-event", "returned", [])
            draft = work("draft", "draft", [])

        upgrade()
        with db.engine.connect() as conn:
            filled = dict(conn.execute(sa.select(Submission.id, Submission.returned_at)).all())
        assert filled == {
            returned_twice: (start + timedelta(days=9, hours=5)).replace(tzinfo=UTC),
            drafted_after: (start + timedelta(days=3)).replace(tzinfo=UTC),
            released: None, waiting: None, no_event: None, draft: None}
        downgrade(revision="x1c3d4e5f613")
        assert "returned_at" not in {c["name"] for c in sa.inspect(db.engine).get_columns("submissions")}
        db.engine.dispose()


def test_the_mastery_held_migration_marks_the_records_held_under_mastered(fresh_database_url: str, upgrade_empty_to: Callable[[str], None], tmp_path: Path) -> None:
    """``zu1c3d4e5f613`` adds ``mastery.held`` and fills it from what each record and its
    evidence keep: held where the level is the hold (3.4) on counted evidence weighing under
    the minimum (2) with a piece at mastered; a 3.4 the evidence itself gives is not held.
    The triggers on mastery stay (the column is added in place). ``zyr3c3d4e5f613`` then
    fills ``mastery.missing`` for the held records: the minimum less their counted weight."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    mastery = sa.table("mastery", *(sa.column(c) for c in ("user_id", "objective_id", "level", "evidence_count", "method",
                                                           "updated_at")))
    evidence = sa.table("evidence", *(sa.column(c) for c in ("user_id", "objective_id", "source", "source_ref", "level",
                                                             "weight", "note", "recorded_at")))
    at = datetime(2026, 6, 1, tzinfo=UTC)
    with app.app_context():
        upgrade_empty_to("zt2c3d4e5f613")
        with db.engine.begin() as conn:
            ann, bo = (conn.execute(sa.insert(User).values(email=f"{name}@example.com", name=name)).inserted_primary_key[0]
                       for name in ("ann", "bo"))
            ko1, ko2 = (conn.execute(sa.insert(Objective).values(
                key=key, kind=ObjectiveKind.KNOWLEDGE, title=key, statement="", outcomes=[], applications=[], indicators=[],
                position=n)).inserted_primary_key[0] for n, key in enumerate(("KO1", "KO2")))
            pieces = {(ann, ko1): [(4.0, 1.0)],               # one quiz at 4: held at 3.4
                      (ann, ko2): [(3.4, 1.0)],               # one quiz at 3.4: that is its level, not held
                      (bo, ko1): [(4.0, 1.0), (4.0, 1.0)],    # two: mastered
                      (bo, ko2): [(3.6, 0.75), (1.0, 0.0)]}   # a stakeholder's 3.6 and a piece that does not count
            levels = {(ann, ko1): 3.4, (ann, ko2): 3.4, (bo, ko1): 4.0, (bo, ko2): 3.4}
            conn.execute(sa.insert(evidence), [
                {"user_id": u, "objective_id": o, "source": "quiz", "source_ref": f"q:{n}", "level": level, "weight": weight,
                 "note": "", "recorded_at": at} for (u, o), found in pieces.items() for n, (level, weight) in enumerate(found)])
            conn.execute(sa.insert(mastery), [
                {"user_id": u, "objective_id": o, "level": level, "evidence_count": 1, "method": "decaying_average",
                 "updated_at": at} for (u, o), level in levels.items()])
        upgrade()
        with db.engine.connect() as conn:
            held = {(u, o): bool(h) for u, o, h in conn.execute(sa.text("SELECT user_id, objective_id, held FROM mastery"))}
            marks = dict(conn.execute(sa.select(MasteryMark.user_id, MasteryMark.revision)).all())
        assert held == {(ann, ko1): True, (ann, ko2): False, (bo, ko1): False, (bo, ko2): True}
        with db.engine.connect() as conn:  # zyr3c3d4e5f613: what a held level needs, from its evidence
            missing = {(u, o): m for u, o, m in conn.execute(sa.text("SELECT user_id, objective_id, missing FROM mastery"))}
        assert missing == {(ann, ko1): 1.0, (ann, ko2): 0.0, (bo, ko1): 0.0, (bo, ko2): 1.25}
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE mastery SET level = 3.0 WHERE user_id = :user"), {"user": ann})
        with db.engine.connect() as conn:
            after = dict(conn.execute(sa.select(MasteryMark.user_id, MasteryMark.revision)).all())
        assert after[ann] != marks[ann] and after[bo] == marks[bo]  # the triggers still mark each write
        downgrade(revision="zt2c3d4e5f613")
        assert not {"held", "missing"} & {c["name"] for c in sa.inspect(db.engine).get_columns("mastery")}
        db.engine.dispose()


def test_the_portfolio_hand_ins_migration_keeps_the_current_choice_for_each_hand_in(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                                   tmp_path: Path) -> None:
    """``zv1c3d4e5f613`` adds the record of what each hand-in of a portfolio held and fills it
    for the portfolio reviews' versions already there from the portfolio as it is then (the one
    record there is): its reflections and its chosen work in its order, each piece at its newest
    version handed in at or before that hand-in, a piece with none then left out. A review with
    no portfolio, and other work, get no record. Going back drops the tables."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("zu1c3d4e5f613")
        old = sa.MetaData()
        old.reflect(db.engine)
        assert "portfolio_hand_ins" not in old.tables
        start = datetime(2026, 3, 2, 9, 30)  # naive UTC, as stored
        with db.engine.begin() as conn:
            def add(table: str, **values: object) -> int:
                return int(conn.execute(old.tables[table].insert().values(**values)).inserted_primary_key[0])

            pia, oli = (add("users", email=f"{name}@example.com", name=name, timezone="UTC", is_admin=False,
                            session_version=0, created_at=start) for name in ("pia", "oli"))
            program = add("programs", key="p", title="P", summary="")
            level = add("levels", key="foundation", program_id=program, title="Foundation", position=0, first_month=1,
                        last_month=4, summary="", goals=[])
            module = add("modules", program_id=program, key="m", title="M", summary="", position=0, metric_group="")
            phase = add("phases", module_id=module, key="m-1", title="M 1", month=1, position=0, summary="")

            def assignment(key: str, kind: str, rubric_level: int | None) -> int:
                rubric = add("rubrics", key=f"{key}-rubric", title="R", current_number=1, level_id=rubric_level)
                return add("assignments", key=key, kind=kind, title=key, module_id=module, phase_id=phase, rubric_id=rubric,
                           due_after_days=14, peer_reviews=0, deliverables=[], body="", position=0, source_path=f"{key}.md")

            case, hands_on = assignment("case", "case_study", None), assignment("hands-on", "hands_on", None)
            review = assignment("review", "portfolio", level)

            def work(assignment_id: int, user: int, handed_in: list[timedelta]) -> tuple[int, list[int]]:
                """A submission and its versions handed in at those times after ``start``."""
                submission = add("submissions", assignment_id=assignment_id, user_id=user, status="submitted",
                                 draft_body="text", created_at=start, updated_at=start)
                return submission, [add("submission_versions", submission_id=submission, number=n + 1, body=f"text {n + 1}",
                                        attachment_ids=[], submitted_at=start + after, late=False)
                                    for n, after in enumerate(handed_in)]

            case_work, case_versions = work(case, pia, [timedelta(days=1), timedelta(days=10)])
            late_work, _late_versions = work(hands_on, pia, [timedelta(days=6)])    # chosen, done after the first hand-in
            _review, (first, second) = work(review, pia, [timedelta(days=5), timedelta(days=12)])
            _oli_review, (alone,) = work(review, oli, [timedelta(days=5)])         # no portfolio of Oli's
            add("portfolios", user_id=pia, level_id=level, artifact_ids=[late_work, case_work],
                reflections={"KO1": "Now I measure it."}, updated_at=start)

        upgrade()
        with db.engine.connect() as conn:
            hand_ins = {version: json_of(reflections) for version, reflections in
                        conn.execute(sa.text("SELECT version_id, reflections FROM portfolio_hand_ins"))}
            pieces = conn.execute(sa.text("SELECT h.version_id, p.version_id FROM portfolio_hand_in_pieces p "
                                          "JOIN portfolio_hand_ins h ON h.id = p.hand_in_id ORDER BY h.version_id, p.position"))
            held: dict[int, list[int]] = {}
            for hand_in, piece in pieces:
                held.setdefault(hand_in, []).append(piece)
        assert hand_ins == {first: {"KO1": "Now I measure it."}, second: {"KO1": "Now I measure it."}}
        assert alone not in hand_ins
        assert held == {first: [case_versions[0]],                          # the hands-on work did not exist yet
                        second: [_late_versions[0], case_versions[1]]}     # in the portfolio's order, newest versions
        downgrade(revision="zu1c3d4e5f613")
        assert not {"portfolio_hand_ins", "portfolio_hand_in_pieces"} & set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()


def json_of(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def test_the_peer_review_kind_migration_keeps_one_live_review_per_reviewer_and_work(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                                    tmp_path: Path) -> None:
    """``zv2c3d4e5f613`` makes every existing review required, and cancels the live
    duplicates two asks at once could make before its unique index: of a reviewer's live
    reviews of one piece of work the done one stays (else the first made); cancelled
    reviews stay as they are."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("zu1c3d4e5f613")
        old = sa.MetaData()
        old.reflect(db.engine)
        start = datetime(2026, 3, 2, 9, 30)
        with db.engine.begin() as conn:
            def add(table: str, **values: object) -> int:
                return int(conn.execute(old.tables[table].insert().values(**values)).inserted_primary_key[0])

            author, one, two, three = (add("users", email=f"{name}@example.com", name=name, timezone="UTC", is_admin=False,
                                           session_version=0, created_at=start) for name in ("author", "one", "two", "three"))
            org = add("organizations", name="Upgraded Co", created_at=start)
            cohort = add("cohorts", organization_id=org, name="Upgraded 1", start_date=date(2026, 1, 5), timezone="UTC",
                         created_at=start)
            program = add("programs", key="p", title="P", summary="")
            module = add("modules", program_id=program, key="m", title="M", summary="", position=0, metric_group="")
            phase = add("phases", module_id=module, key="m-1", title="M 1", month=1, position=0, summary="")
            rubric = add("rubrics", key="r", title="R", current_number=1)
            rubric_version = add("rubric_versions", rubric_id=rubric, number=1, criteria=[], max_points=10.0,
                                 checksum="0" * 64, created_at=start)
            assignment = add("assignments", key="peer", kind="hands_on", title="Peer", module_id=module, phase_id=phase,
                             rubric_id=rubric, due_after_days=14, peer_reviews=2, deliverables=[], body="",
                             position=0, source_path="peer.md")
            submission = add("submissions", assignment_id=assignment, user_id=author, cohort_id=cohort, status="submitted",
                             draft_body="text", created_at=start, updated_at=start)
            version = add("submission_versions", submission_id=submission, number=1, body="text", attachment_ids=[],
                          submitted_at=start, late=False)

            def review(reviewer: int, status: str) -> int:
                return add("peer_reviews", submission_id=submission, reviewer_id=reviewer, version_id=version,
                           rubric_version_id=rubric_version, status=status, selections={}, comment="", assigned_at=start)

            one_assigned, one_done = review(one, "assigned"), review(one, "done")
            two_first, two_second = review(two, "assigned"), review(two, "assigned")
            three_cancelled, three_live = review(three, "cancelled"), review(three, "assigned")

        upgrade()
        with db.engine.connect() as conn:
            found = {id_: (status, kind) for id_, status, kind in conn.execute(sa.text("SELECT id, status, kind FROM peer_reviews"))}
        assert found == {one_assigned: ("cancelled", "required"), one_done: ("done", "required"),
                         two_first: ("assigned", "required"), two_second: ("cancelled", "required"),
                         three_cancelled: ("cancelled", "required"), three_live: ("assigned", "required")}
        downgrade(revision="zu1c3d4e5f613")
        assert "kind" not in {c["name"] for c in sa.inspect(db.engine).get_columns("peer_reviews")}
        db.engine.dispose()


def test_the_xapi_event_base_migration_gives_each_statement_the_key_of_its_event(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                                  tmp_path: Path) -> None:
    """``zys4c3d4e5f613`` fills ``xapi_statements.event_base`` in one UPDATE: a corrected
    "submitted" statement's base is its key up to ``:late:`` (the key of the first one),
    every other statement's its own key; the column is indexed and required."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    statements = sa.table("xapi_statements", *(sa.column(c) for c in ("statement_id", "event_key", "body", "created_at",
                                                                       "status", "attempts", "error")))
    first = "submission:7:version:2:submitted"
    keys = {first: first,
            f"{first}:late:false:2026-06-01T10:00:00Z": first,
            f"{first}:late:true:2026-06-02T10:00:00Z": first,
            "void:0b8d5a4e-0000-5000-8000-000000000001": "void:0b8d5a4e-0000-5000-8000-000000000001",
            "attempt:3:completed": "attempt:3:completed",
            "mastery:4:late:2026-06-01T10:00:00Z:3.0": "mastery:4:late:2026-06-01T10:00:00Z:3.0",  # not a correction
            "submission:8:version:1:submitted": "submission:8:version:1:submitted"}
    with app.app_context():
        upgrade_empty_to("zyr3c3d4e5f613")
        with db.engine.begin() as conn:
            conn.execute(sa.insert(statements), [
                {"statement_id": f"00000000-0000-5000-8000-{n:012}", "event_key": key, "body": "{}",
                 "created_at": datetime(2026, 6, 1, tzinfo=UTC), "status": "sent", "attempts": 1, "error": ""}
                for n, key in enumerate(keys)])
        upgrade()
        with db.engine.connect() as conn:
            assert dict(conn.execute(sa.text("SELECT event_key, event_base FROM xapi_statements")).all()) == keys
        assert "ix_xapi_statements_event_base" in {i["name"] for i in sa.inspect(db.engine).get_indexes("xapi_statements")}
        with db.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):  # every statement names its event
            conn.execute(sa.text("INSERT INTO xapi_statements (statement_id, event_key, body, created_at, status, attempts, "
                                 "error) VALUES ('x', 'k', '{}', CURRENT_TIMESTAMP, 'sent', 0, '')"))
        downgrade(revision="zyr3c3d4e5f613")
        assert "event_base" not in {c["name"] for c in sa.inspect(db.engine).get_columns("xapi_statements")}
        db.engine.dispose()


def test_the_sent_one_time_links_migration_blanks_the_links_mail_sent_earlier_kept(fresh_database_url: str, upgrade_empty_to: Callable[[str], None],
                                                                                  tmp_path: Path) -> None:
    """Mail sent before the outbox blanked one-time links kept them live in its stored body.
    ``zzm2c3d4e5f614`` blanks every link to a page whose URL carries a one-time token (reset,
    unlock, invitation, stakeholder and expert rating) in sent mail, leaves other links and
    other mail alone, gives mail not sent yet its blanked copy, and changes nothing run again."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    outbox = sa.table("outbox_messages", *(sa.column(c) for c in ("id", "recipient", "subject", "body", "redacted_body",
                                                                   "created_at", "transport", "error", "status", "attempts",
                                                                   "earlier_attempts")))
    site = "https://lms.example.org"
    gone = "[one-time link removed]"
    rows = {  # id: (status, body, redacted_body, body after, redacted_body after)
        1: ("sent", f"Choose a new password:\n{site}/password/reset/Abc-12_x.y\n\nIgnore it otherwise.\n", None,
            f"Choose a new password:\n{gone}\n\nIgnore it otherwise.\n", None),
        2: ("sent", f"Unlock: {site}/login/unlock/tok3n.", None, f"Unlock: {gone}.", None),
        3: ("sent", f"Accept:\n{site}/invitations/inv1te\nthen see {site}/modules/mlops\n", None,
            f"Accept:\n{gone}\nthen see {site}/modules/mlops\n", None),
        4: ("sent", f"Rate:\n{site}/f/stake\nor the work: http://localhost:5000/lms/e/exp3rt\n", None,
            f"Rate:\n{gone}\nor the work: {gone}\n", None),
        5: ("sent", f"Your feedback is ready: {site}/assignments/key/feedback and {site}/certificates/CODE1\n", None,
            f"Your feedback is ready: {site}/assignments/key/feedback and {site}/certificates/CODE1\n", None),
        6: ("sent", f"Already blanked:\n{gone}\n", None, f"Already blanked:\n{gone}\n", None),
        7: ("failed", f"Reset:\n{site}/password/reset/unsent\n", None,
            f"Reset:\n{site}/password/reset/unsent\n", f"Reset:\n{gone}\n"),
        8: ("pending", f"Reset:\n{site}/password/reset/new\n", f"Reset:\n{gone}\n",
            f"Reset:\n{site}/password/reset/new\n", f"Reset:\n{gone}\n"),
    }

    def stored() -> dict[int, tuple[str, str | None]]:
        with db.engine.connect() as conn:
            return {i: (body, kept) for i, body, kept in conn.execute(
                sa.select(outbox.c.id, outbox.c.body, outbox.c.redacted_body).order_by(outbox.c.id))}

    with app.app_context():
        upgrade_empty_to("zzd2c3d4e5f614")
        with db.engine.begin() as conn:
            conn.execute(sa.insert(outbox), [
                {"id": i, "recipient": f"r{i}@example.com", "subject": "Hello", "body": body, "redacted_body": kept,
                 "created_at": datetime(2026, 6, 1, tzinfo=UTC), "transport": "smtp" if status == "sent" else "",
                 "error": "", "status": status, "attempts": 1, "earlier_attempts": 0}
                for i, (status, body, kept, _, _) in rows.items()])
        upgrade()
        after = {i: (body, kept) for i, (_, _, _, body, kept) in rows.items()}
        assert stored() == after
        downgrade(revision="zzd2c3d4e5f614")
        assert stored() == after  # a blank is never undone
        upgrade()
        assert stored() == after
        db.engine.dispose()


def test_the_admins_since_migration_dates_each_admin_from_the_audit_log(fresh_database_url: str, tmp_path: Path) -> None:
    """Organization admins added before ``zzk2c3d4e5f614`` read "since: not recorded".
    ``zzp2c3d4e5f614`` dates each from the audit log's latest change that added them (an
    admin removed and added again: the second time); one the log never added (added before
    it was kept), or whose latest change removed them, stays undated; a date already there
    is kept; running it again changes nothing."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    admins = sa.table("organization_admins", sa.column("organization_id"), sa.column("user_id"), sa.column("added_at"))
    audit = sa.table("audit_log", *(sa.column(c) for c in ("created_at", "action", "organization_id", "target", "before",
                                                           "after")))
    first, second, third, recorded = (datetime(2026, 3, day, 9, tzinfo=UTC) for day in (2, 5, 9, 20))
    with app.app_context():
        upgrade(revision="zzm2c3d4e5f614")
        with db.engine.begin() as conn:
            ada, bo, cy, di, eve = (conn.execute(sa.insert(User).values(email=f"{name.lower()}@example.com", name=name))
                                    .inserted_primary_key[0] for name in ("Ada", "Bo", "Cy", "Di", "Eve"))
            org, other = (conn.execute(sa.insert(Organization).values(name=name)).inserted_primary_key[0]
                          for name in ("Acme", "Other"))

            def edited(org_id: int, when: datetime, before: list[int], after: list[int]) -> dict[str, object]:
                return {"created_at": when, "action": "organization_edited", "organization_id": org_id,
                        "target": f"organization:{org_id}", "before": json.dumps({"admins": before}),
                        "after": json.dumps({"admins": after})}

            conn.execute(sa.insert(audit), [
                edited(org, first, [cy], [ada, cy]),         # Ada added
                edited(org, first, [ada, cy], [ada, bo, cy]),  # Bo added ...
                edited(org, second, [ada, bo, cy], [ada, cy]),  # ... removed
                edited(org, third, [ada, cy], [ada, bo, cy]),   # ... and added again
                edited(org, third, [ada, bo, cy], [ada, bo, cy, di]),  # Di added, then removed off the log
                edited(org, recorded, [ada, bo, cy, di], [ada, bo, cy]),
                edited(other, second, [], [eve]),             # Eve administers Other, not Acme
                {"created_at": first, "action": "organization_created", "organization_id": org,
                 "target": f"organization:{org}", "before": None, "after": json.dumps({"name": "Acme"})}])
            conn.execute(sa.insert(admins), [
                {"organization_id": org, "user_id": ada, "added_at": None},
                {"organization_id": org, "user_id": bo, "added_at": None},
                {"organization_id": org, "user_id": cy, "added_at": None},   # before the log: not recorded
                {"organization_id": org, "user_id": di, "added_at": None},   # the log's latest removed them
                {"organization_id": org, "user_id": eve, "added_at": None},  # never added to Acme in the log
                {"organization_id": other, "user_id": eve, "added_at": recorded}])  # recorded: kept

        def since() -> dict[tuple[int, int], datetime | None]:
            with db.engine.connect() as conn:
                rows = conn.execute(sa.select(admins.c.organization_id, admins.c.user_id, admins.c.added_at)).all()
            return {(o, u): None if at is None else utc(at if isinstance(at, datetime) else datetime.fromisoformat(str(at)))
                    for o, u, at in rows}

        def utc(moment: datetime) -> datetime:
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)

        upgrade()
        expected = {(org, ada): first, (org, bo): third, (org, cy): None, (org, di): None, (org, eve): None,
                    (other, eve): recorded}
        assert since() == expected
        downgrade(revision="zzm2c3d4e5f614")
        assert since() == expected  # the dates are true: going back keeps them
        upgrade()
        assert since() == expected
        db.engine.dispose()


AWAITING_TITLES = {  # a title the reminders wrote -> the counts it told
    "1 piece of work awaits grading": {"work": 1, "essays": 0},
    "3 pieces of work await grading": {"work": 3, "essays": 0},
    "1 quiz attempt with essays awaits grading": {"work": 0, "essays": 1},
    "2 quiz attempts with essays await grading": {"work": 0, "essays": 2},
    "1 piece of work and 1 quiz attempt with essays await grading": {"work": 1, "essays": 1},
    "12 pieces of work and 5 quiz attempts with essays await grading": {"work": 12, "essays": 5},
    "Work awaits grading": None,  # not its words: nothing to tell
    " awaits grading": None,
}


def test_the_notices_recall_migration_keeps_the_awaiting_counts_and_the_retry_waits(
        fresh_database_url: str, upgrade_empty_to: Callable[[str], None], tmp_path: Path) -> None:
    """``zzs2c3d4e5f614`` gives each awaiting-grading notice made before the counts its
    title told (read back with the pattern the reminders used until then; none for other
    words, nor for a notice of another kind), and each message waiting out the wait after
    a failed try the next try that failure set (``retry_at``), so a recall cancels it; a
    message never tried, or sent, gets none. Back and up again leaves the rows whole."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("zzq2c3d4e5f614")
        old = sa.MetaData()
        old.reflect(db.engine)
        assert "counts" not in old.tables["notifications"].c and "retry_at" not in old.tables["outbox_messages"].c
        start = datetime(2026, 12, 1, 9, 0)  # naive UTC, as stored
        with db.engine.begin() as conn:
            def add(table: str, **values: object) -> int:
                return int(conn.execute(old.tables[table].insert().values(**values)).inserted_primary_key[0])

            teacher = add("users", email="t@example.com", name="T", timezone="UTC", is_admin=False, session_version=0,
                          created_at=start)
            notices = {title: add("notifications", user_id=teacher, event="awaiting_grading", key=f"awaiting:{n}",
                                  title=title, body="", channel="digest", created_at=start)
                       for n, title in enumerate(AWAITING_TITLES)}
            other = add("notifications", user_id=teacher, event="announcement", key="a:1",
                        title="3 pieces of work await grading", body="", channel="email", created_at=start)

            def message(status: str, attempts: int, next_attempt_at: datetime | None) -> int:
                return add("outbox_messages", recipient="t@example.com", subject="S", body="B", created_at=start,
                           transport="", error="refused" if attempts else "", status=status, attempts=attempts,
                           earlier_attempts=0, next_attempt_at=next_attempt_at)

            waiting = message("pending", 2, start + timedelta(minutes=2))
            fresh, sent = message("pending", 0, None), message("sent", 1, None)
        upgrade()
        notifications = sa.table("notifications", sa.column("id"), sa.column("counts", sa.JSON))
        outbox = sa.table("outbox_messages", sa.column("id"), sa.column("retry_at", sa.DateTime))
        with db.engine.connect() as conn:
            counts = dict(conn.execute(sa.select(notifications.c.id, notifications.c.counts)).all())
            retry_at = dict(conn.execute(sa.select(outbox.c.id, outbox.c.retry_at)).all())
        assert {title: counts[notice_id] for title, notice_id in notices.items()} == AWAITING_TITLES
        assert counts[other] is None
        assert {key: retry_at[message_id] for key, message_id in (("waiting", waiting), ("fresh", fresh), ("sent", sent))} \
            == {"waiting": start + timedelta(minutes=2), "fresh": None, "sent": None}
        downgrade(revision="zzq2c3d4e5f614")
        upgrade()
        with db.engine.connect() as conn:
            assert dict(conn.execute(sa.select(notifications.c.id, notifications.c.counts)).all()) == counts
        db.engine.dispose()


def test_the_member_marks_migration_marks_each_cohort_and_its_triggers_mark_each_change_to_its_members(
        fresh_database_url: str, upgrade_empty_to: Callable[[str], None], tmp_path: Path) -> None:
    """``zzt2c3d4e5f614`` gives each cohort a mark of 0; from then on the database draws a
    new mark for exactly the cohorts whose members as listed a statement changes (plain SQL
    included): an enrolment inserted, updated or deleted, a member renamed, given another
    email, closed or reopened; a sign-in (which writes the account too) and a change to
    someone in no cohort draw none. Going back removes the marks and the triggers."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": fresh_database_url}, instance_path=tmp_path)
    with app.app_context():
        upgrade_empty_to("zzs2c3d4e5f614")
        with db.engine.begin() as conn:
            org = conn.execute(sa.insert(Organization).values(name="Org")).inserted_primary_key[0]
            north, south, empty = (conn.execute(sa.insert(Cohort).values(organization_id=org, name=name, start_date=date(2026, 1, 5),
                                                                         timezone="UTC")).inserted_primary_key[0]
                                   for name in ("North", "South", "Empty"))
            ann, bo, cy = (conn.execute(sa.insert(User).values(email=f"{name}@example.com", name=name)).inserted_primary_key[0]
                           for name in ("ann", "bo", "cy"))
            enrolments = sa.table("enrolments", *(sa.column(c) for c in ("cohort_id", "user_id", "started_at", "ended_reason",
                                                                         "pace", "time_allowance")))
            conn.execute(sa.insert(enrolments), [
                {"cohort_id": cohort, "user_id": user, "started_at": datetime(2026, 1, 5), "ended_reason": "", "pace": "catch_up",
                 "time_allowance": "standard"} for cohort, user in ((north, ann), (north, bo), (south, bo))])

        def marks() -> dict[int, int]:
            return marks_in("member_marks", "cohort_id")

        def marked(statement: str, **values: object) -> set[int]:
            """The cohorts whose mark the statement drew again."""
            return drawn_again("member_marks", "cohort_id", statement, **values)

        upgrade()
        assert marks() == {north: 0, south: 0, empty: 0}
        assert marked("UPDATE users SET name = 'Ann A' WHERE id = :user", user=ann) == {north}
        assert marked("UPDATE users SET email = 'bo@elsewhere.com' WHERE id = :user", user=bo) == {north, south}
        assert marked("UPDATE users SET deactivated_at = CURRENT_TIMESTAMP WHERE id = :user", user=ann) == {north}
        assert marked("UPDATE users SET deactivated_at = NULL WHERE id = :user", user=ann) == {north}
        assert marked("UPDATE users SET last_login_at = CURRENT_TIMESTAMP, session_version = session_version + 1") == set()
        assert marked("UPDATE users SET name = 'Ann A' WHERE id = :user", user=ann) == set()  # the same name again
        assert marked("UPDATE users SET name = 'Cy C' WHERE id = :user", user=cy) == set()  # in no cohort
        assert marked("INSERT INTO enrolments (cohort_id, user_id, started_at, ended_reason, pace, time_allowance) "
                      "VALUES (:cohort, :user, CURRENT_TIMESTAMP, '', 'catch_up', 'standard')", cohort=empty, user=cy) == {empty}
        assert marked("UPDATE enrolments SET ended_at = CURRENT_TIMESTAMP WHERE user_id = :user AND cohort_id = :cohort",
                      user=bo, cohort=north) == {north}
        assert marked("UPDATE enrolments SET cohort_id = :to WHERE user_id = :user", to=south, user=cy) == {empty, south}
        assert marked("UPDATE enrolments SET pace = 'own_start'") == {north, south}
        assert marked("UPDATE enrolments SET started_at = started_at") == set()  # a write that holds the rows (hold_enrolment)
        assert marked("DELETE FROM enrolments WHERE user_id = :user", user=bo) == {north, south}

        downgrade(revision="zzs2c3d4e5f614")
        assert "member_marks" not in sa.inspect(db.engine).get_table_names()
        with db.engine.begin() as conn:  # no trigger left behind
            assert conn.execute(sa.text("UPDATE users SET name = 'Ann B' WHERE id = :user"), {"user": ann}).rowcount == 1
            assert conn.execute(sa.text("UPDATE enrolments SET pace = 'catch_up'")).rowcount == 2  # Ann's and Cy's
        db.engine.dispose()
