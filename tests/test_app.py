"""The application factory, configuration and error pages."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask, abort

from config import normalise_database_url
from lms import create_app
from lms.web.access import POLICY_KEY, PUBLIC


def test_testing_config(app: Flask) -> None:
    assert app.testing
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_default_database_is_sqlite_in_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    app = create_app("development", instance_path=tmp_path)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'lms.sqlite3'}"


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example:5432/lms")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    app = create_app("development", instance_path=tmp_path)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example:5432/lms"


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_database_url("postgres://h/d") == "postgresql+psycopg://h/d"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_secret_key_generated_once_into_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app("development", instance_path=tmp_path).config["SECRET_KEY"]
    second = create_app("development", instance_path=tmp_path).config["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert first == second == key_file.read_text()
    assert len(first) >= 40
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_secret_key_from_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert create_app("development", instance_path=tmp_path).config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production", instance_path=tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_production_uses_secure_cookies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LMS_BASE_URL", "http://localhost")  # production needs the site's address
    app = create_app("production", instance_path=tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not app.testing


def test_the_collector_runs_less_often_outside_the_test_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages reading thousands of rows spent half their time in Python's garbage collector at
    its default threshold (700): an app raises it (GC_FIRST_GENERATION), keeping the older
    generations' ratios; 0 leaves Python's; the suite's own apps leave it."""
    default = (700, 10, 10)
    gc.set_threshold(*default)
    create_app("testing", instance_path=tmp_path)
    assert gc.get_threshold() == default
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LMS_BASE_URL", "http://localhost")  # production needs the site's address
    app = create_app("production", instance_path=tmp_path)
    assert app.config["GC_FIRST_GENERATION"] == 10_000 and gc.get_threshold() == (10_000, 10, 10)
    gc.set_threshold(*default)
    monkeypatch.setenv("GC_FIRST_GENERATION", "0")
    create_app("production", instance_path=tmp_path)
    assert gc.get_threshold() == default
    monkeypatch.setenv("GC_FIRST_GENERATION", "25000")
    create_app("development", instance_path=tmp_path)
    assert gc.get_threshold() == (25_000, 10, 10)
    monkeypatch.setenv("GC_FIRST_GENERATION", "lots")
    with pytest.raises(RuntimeError, match="GC_FIRST_GENERATION='lots' is not a number"):
        create_app("production", instance_path=tmp_path)


def test_unknown_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Unknown LMS_ENV"):
        create_app("staging", instance_path=tmp_path)


def test_wsgi_exposes_an_app_and_freezes_what_it_made(tmp_path: Path) -> None:
    """The server's entry point, imported in a process of its own (as a gunicorn worker
    does; here it would freeze the suite's own objects): an app, and the objects made to
    start it moved out of the garbage collector's full collections."""
    env = {**os.environ, "LMS_INSTANCE_PATH": str(tmp_path), "LMS_ENV": "development"}
    probe = ("import gc, sys; from flask import Flask; import wsgi; "
             "print(isinstance(wsgi.app, Flask), gc.get_freeze_count(), len(gc.get_objects()))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    is_app, frozen, collected = done.stdout.split()
    assert is_app == "True" and int(frozen) > 50_000 and int(collected) < int(frozen) // 10


def test_health(client) -> None:
    assert client.get("/healthz").data == b"ok"


def test_404_page_uses_the_layout(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html
    assert 'class="site-header"' in html


def _app_with_routes(make_app) -> Flask:
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    @app.get("/bad")
    def bad() -> str:
        abort(400)

    @app.get("/undeclared")
    def undeclared() -> str:
        return "should never be served"

    @app.get("/api/boom")
    def api_bad() -> str:
        abort(400, "the field 'x' must be a number")

    # "undeclared" is deliberately left out of the policy.
    app.extensions[POLICY_KEY].update({"boom": PUBLIC, "bad": PUBLIC, "api_bad": PUBLIC})
    return app


@pytest.mark.parametrize(
    ("url", "code", "text"),
    [
        ("/boom", 500, "Something went wrong"),
        ("/bad", 400, "Bad request"),
        ("/undeclared", 403, "Not allowed"),
    ],
)
def test_error_pages_in_layout(make_app, _migrated, url: str, code: int, text: str) -> None:
    client = _app_with_routes(make_app).test_client()
    response = client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == code
    assert text in html and 'class="site-header"' in html
    assert "Traceback" not in html and "kaboom" not in html


def test_api_errors_are_json_with_a_reason(make_app, _migrated) -> None:
    response = _app_with_routes(make_app).test_client().get("/api/boom")
    assert response.status_code == 400
    assert response.json == {"error": "Bad request", "reason": "the field 'x' must be a number"}
