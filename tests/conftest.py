"""Shared fixtures. The schema is built by running the migrations, once per session, on
SQLite (default) or on PostgreSQL when TEST_DATABASE_URL points there; every test then
starts from empty tables. The browser tests' fixtures (Playwright) are in
tests/browser/conftest.py, so that these import without Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from config import BASE_DIR, normalise_database_url
from lms import create_app
from lms.accounts.services import create_user
from lms.cohorts.enrolment import enrol
from lms.cohorts.models import Cohort
from lms.cohorts.services import create_organization
from lms.content.services import ContentSource, apply_content
from lms.extensions import db, limiter
from lms.sections import parse_curriculum

SHIPPED_CONTENT = BASE_DIR / "content"
# Each pytest-xdist worker has its own database (SQLite file or PostgreSQL schema).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
SHIPPED_QUIZZES = BASE_DIR / "quizzes"
PG_SCHEMA = f"lms_test_{WORKER}"


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema``; tests never touch ``public``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def reset_pg_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    url = normalise_database_url(url)
    try:
        reset_pg_schema(url, PG_SCHEMA)
    except sa.exc.OperationalError as exc:
        pytest.exit(f"TEST_DATABASE_URL is unreachable: {exc}", returncode=1)
    return with_search_path(url, PG_SCHEMA)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


class IsolatedClient(FlaskClient):
    """Every request runs in an app context of its own, as in production.

    pytest-flask keeps a request context of ``app`` pushed during each test, and a request
    to the same app would otherwise reuse its app context: ``g`` (where Flask-Login caches
    the signed-in user) and ``db.session`` would be shared by the test body and every
    client, so a second sign-in would silently keep the first user. The test body keeps
    its own session: commit before a request, ``db.session.expire_all()`` after one."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)

    # pytest-flask enters ``with app.test_client()``, which would keep each request's
    # context pushed after it returns; these tests never need that.
    def __enter__(self) -> IsolatedClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context_stack.close()


@pytest.fixture(scope="session")
def make_app(database_url: str, instance_dir: Path) -> Callable[..., Flask]:
    def factory(**overrides: Any) -> Flask:
        config = {"SQLALCHEMY_DATABASE_URI": database_url, **overrides}
        app = create_app("testing", overrides=config, instance_path=instance_dir)
        app.test_client_class = IsolatedClient
        return app

    return factory


@pytest.fixture(scope="session")
def _migrated(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture()
def app(make_app: Callable[..., Flask], _migrated: None) -> Iterator[Flask]:
    app = make_app()
    yield app
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture()
def session(app: Flask) -> Iterator[sa.orm.Session]:
    with app.app_context():
        yield db.session


@pytest.fixture()
def content_dir(tmp_path: Path, app: Flask) -> Path:
    """A private copy of the shipped content (and quizzes, beside it) that a test may
    edit; the app reads it."""
    target = tmp_path / "content"
    shutil.copytree(SHIPPED_CONTENT, target)
    shutil.copytree(SHIPPED_QUIZZES, tmp_path / "quizzes")
    app.config["CONTENT_DIR"] = target
    app.config["QUIZZES_DIR"] = tmp_path / "quizzes"
    return target


_PARSED: dict[tuple[Path, Path], Any] = {}


@pytest.fixture()
def load_content(app: Flask) -> Callable[..., Any]:
    """Load content (the shipped files by default) the way the CLI does, and commit.
    The shipped files are parsed once per test session; applying is real every time."""

    def load(content: Path | None = None) -> Any:
        source = ContentSource(
            content_dir=Path(content or app.config["CONTENT_DIR"]),
            quizzes_dir=Path(app.config["QUIZZES_DIR"]),
        )
        key = (source.content_dir, source.quizzes_dir)
        shipped = key == (SHIPPED_CONTENT, SHIPPED_QUIZZES)
        with app.app_context():
            parsed = _PARSED.get(key) if shipped else None
            if parsed is None:
                parsed = parse_curriculum(source)
                if shipped:
                    _PARSED[key] = parsed
            assert not parsed.problems, [str(p) for p in parsed.problems]
            report = apply_content(db.session, parsed)
            db.session.commit()
            return report

    return load


@pytest.fixture()
def loaded(app: Flask, load_content: Callable[..., Any]) -> Flask:
    """The app with the shipped curriculum loaded."""
    load_content()
    return app


@pytest.fixture()
def count_queries(app: Flask) -> Callable[[Callable[[], Any]], int]:
    """Run a callable and return how many SQL statements it sent."""

    def run(action: Callable[[], Any]) -> int:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            action()
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        return len(statements)

    return run


# --------------------------------------------------------------------------- people

PASSWORD = "correct-horse-battery"


@pytest.fixture()
def make_user(app: Flask) -> Callable[..., Any]:
    """Create a user with a password (``PASSWORD`` unless given); returns the User."""
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, name: str | None = None, password: str | None = PASSWORD,
             admin: bool = False, timezone: str = "UTC") -> Any:
        n = next(counter)
        user = create_user(db.session, email or f"person{n}@example.com", name or f"Person {n}",
                           password, timezone=timezone, is_admin=admin)
        db.session.commit()
        return user

    return make


@pytest.fixture()
def make_org(app: Flask) -> Callable[..., Any]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, admins: list[Any] = ()) -> Any:  # type: ignore[assignment]
        org = create_organization(db.session, name or f"Organization {next(counter)}")
        org.admins.extend(admins)
        db.session.commit()
        return org

    return make


@pytest.fixture()
def make_cohort(app: Flask, make_org) -> Callable[..., Any]:
    """A cohort; ``months_ago`` sets the start date relative to today (UTC)."""
    counter = iter(range(1, 10_000))

    def make(org: Any = None, name: str | None = None, months_ago: int = 0, start: date | None = None,
             timezone: str = "UTC", instructors: list[Any] = ()) -> Any:  # type: ignore[assignment]
        org = org or make_org()
        start = start or (datetime.now(UTC).date() - relativedelta(months=months_ago))
        cohort = Cohort(organization=org, name=name or f"Cohort {next(counter)}", start_date=start, timezone=timezone)
        cohort.instructors.extend(instructors)
        db.session.add(cohort)
        db.session.commit()
        return cohort

    return make


@pytest.fixture()
def enrol_learner(app: Flask, make_user) -> Callable[..., Any]:
    """Enrol a (new, unless given) user in ``cohort``; returns the user."""

    def make(cohort: Any, user: Any = None, **user_fields: Any) -> Any:
        user = user or make_user(**user_fields)
        enrol(db.session, cohort, user)
        db.session.commit()
        return user

    return make


@pytest.fixture()
def login(app: Flask) -> Callable[..., Any]:
    """Sign ``user`` in on ``client`` through the real form; returns the response."""

    def sign_in(client: Any, user: Any, password: str = PASSWORD) -> Any:
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, f"could not sign in {user.email}"
        return response

    return sign_in


@dataclass
class World:
    """Two organizations, with every kind of person the access rules tell apart."""

    org_a: Any
    org_b: Any
    cohort_a: Any          # org A, started five months ago
    cohort_a2: Any         # org A, another cohort
    cohort_b: Any          # org B
    admin: Any
    org_admin_a: Any
    org_admin_b: Any
    instructor_a: Any
    instructor_b: Any
    learner_a: Any
    learner_a2: Any
    learner_b: Any
    nobody: Any            # signed in, no role anywhere


@pytest.fixture()
def world(make_user, make_org, make_cohort, enrol_learner) -> World:
    admin = make_user(email="admin@example.com", name="Site Admin", admin=True)
    org_admin_a, org_admin_b = make_user(name="Org Admin A"), make_user(name="Org Admin B")
    instructor_a, instructor_b = make_user(name="Instructor A"), make_user(name="Instructor B")
    org_a = make_org("Alpha Org", admins=[org_admin_a])
    org_b = make_org("Beta Org", admins=[org_admin_b])
    cohort_a = make_cohort(org_a, "Alpha 1", months_ago=5, instructors=[instructor_a])
    cohort_a2 = make_cohort(org_a, "Alpha 2", months_ago=1)
    cohort_b = make_cohort(org_b, "Beta 1", months_ago=5, instructors=[instructor_b])
    return World(
        org_a=org_a, org_b=org_b, cohort_a=cohort_a, cohort_a2=cohort_a2, cohort_b=cohort_b,
        admin=admin, org_admin_a=org_admin_a, org_admin_b=org_admin_b,
        instructor_a=instructor_a, instructor_b=instructor_b,
        learner_a=enrol_learner(cohort_a, name="Learner A"),
        learner_a2=enrol_learner(cohort_a2, name="Learner A2"),
        learner_b=enrol_learner(cohort_b, name="Learner B"),
        nobody=make_user(name="Nobody"),
    )


@pytest.fixture(autouse=True)
def _reset_rate_limits(app: Flask) -> Iterator[None]:
    yield
    limiter.reset()


@pytest.fixture()
def admin_client(client: Any, make_user, login) -> Any:
    """The test client signed in as a site admin (reads every lesson)."""
    login(client, make_user(email="reader@example.com", admin=True))
    return client
