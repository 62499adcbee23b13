"""The worker's app (``WorkerApp`` in ``tests/conftest.py``): one app serves test after test
unless a test changed its shape. Building one costs about 60 ms, as much as a typical test,
so an app thrown away after every test that made a request doubles the suite's time; that
had happened unnoticed when the app started keeping memos in ``app.extensions``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from lms.accounts.current import USER_STATEMENT
from lms.web.links import FIXED_URLS
from tests.conftest import WorkerApp


def test_an_app_that_served_pages_is_kept_and_one_given_a_route_is_not(
        make_app: Callable[..., Flask], make_cohort: Callable[..., Any], enrol_learner: Callable[..., Any],
        login: Callable[..., Any]) -> None:
    learner = enrol_learner(make_cohort(months_ago=2))
    worker = WorkerApp(make_app)
    served = worker.take()
    client = served.test_client()
    login(client, learner)
    assert client.get("/home").status_code == 200
    assert client.get("/progress").status_code == 200
    assert client.get("/admin/users").status_code == 403
    assert client.get("/no-such-page").status_code == 404
    # what the requests left behind: the memos, and Flask's empty entries for the handlers it looked up
    assert FIXED_URLS in served.extensions and USER_STATEMENT in served.extensions
    assert any(not found for by_code in served.error_handler_spec.values() for found in by_code.values())

    worker.give_back(served)
    assert worker.take() is served
    assert FIXED_URLS not in served.extensions and USER_STATEMENT not in served.extensions  # worked out again

    served.add_url_rule("/added-by-a-test", "added_by_a_test", lambda: "added")
    worker.give_back(served)
    assert worker.take() is not served
