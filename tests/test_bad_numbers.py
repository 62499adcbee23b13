"""Numbers no column can hold (issue 17 point 1): an id above 2**31 - 1 (2**63 and more broke SQLite) in any URL answers
404 (not a 500 from the database driver), and decimal inputs refuse NaN, sNaN and the
infinities with a message on the form."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from lms.api.models import Scope
from lms.api.tokens import create_token
from lms.assessment.models import Attempt, Response
from lms.assessment.services import submit_attempt
from lms.database import utcnow
from lms.extensions import db
from lms.web.converters import MAX_ID
from lms.web.unit_of_work import WROTE
from tests.conftest import World
from tests.test_access import route_extras

TOO_BIG = [2**31, 2**63, 2**64, 10**30]


def id_routes(app: Flask) -> list[tuple[str, str, list[str]]]:
    """(endpoint, method, int arguments) for every rule with an ``<int:...>`` part."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)]
        if ints:
            found.append((rule.endpoint, "GET" if "GET" in (rule.methods or ()) else "POST", ints))
    return found


def url_for_rule(app: Flask, endpoint: str, method: str, values: dict[str, object]) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    filled = {name: values.get(name, 1) for name in rule.arguments}
    filled = {name: ("x" if not isinstance(rule._converters[name], IntegerConverter) and value == 1 else value)
              for name, value in filled.items()}
    with app.test_request_context():
        return app.url_map.bind("localhost").build(endpoint, filled, method=method)


def test_every_id_route_answers_404_for_an_id_no_column_holds(app: Flask, client, world: World, login) -> None:
    """As the site admin: signed in for pages, and for /api/v1 with their personal token of
    every scope (so the id, not the missing token or scope, decides), where the 404 is a
    problem+json document."""
    routes = id_routes(app)
    assert len(routes) > 20
    login(client, world.admin)
    secret = create_token(db.session, world.admin, "bad numbers", [s.value for s in Scope], None).secret
    db.session.commit()
    db.session.info.pop(WROTE, None)
    api = {"Authorization": f"Bearer {secret}"}
    wrong = []
    for endpoint, method, ints in routes:
        for name in ints:
            for big in TOO_BIG:
                url = url_for_rule(app, endpoint, method, {name: big} | {other: world.cohort_a.id for other in ints if other != name})
                is_api = url.startswith("/api/v1/")
                response = client.open(url, method=method, headers=api if is_api else {})
                if response.status_code != 404 or (is_api and response.mimetype != "application/problem+json"):
                    wrong.append(f"{method} {url} ({endpoint}): {response.status_code} {response.mimetype}")
                response.close()
    assert wrong == []


@pytest.mark.parametrize("path", ["/cohorts/{big}", "/cohorts/{big}/grades.csv", "/cohorts/{big}/competency",
                                  "/attachments/{big}", "/admin/organizations/{big}", "/organizations/{big}/competency"])
def test_named_routes_answer_404_while_the_largest_id_is_only_not_found(app: Flask, client, world: World, login, path: str) -> None:
    login(client, world.admin)
    assert client.get(path.format(big=2**63)).status_code == 404
    assert client.get(path.format(big=2**31)).status_code == 404
    assert client.get(path.format(big=99999999999999999999)).status_code == 404
    assert client.get(path.format(big=MAX_ID)).status_code == 404  # reaches the database and finds nothing
    assert client.get(path.format(big=world.cohort_a.id)).status_code != 500


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "-sNaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e999999"])
def test_essay_points_refuse_nan_and_infinities_with_a_message(app: Flask, client, loaded, world: World, login, bad: str) -> None:
    extra = route_extras(app, world)
    submit_attempt(db.session, db.session.get(Attempt, extra["attempt_id"]), utcnow())  # its essay waits for a grade
    db.session.commit()
    login(client, world.instructor_a)
    url = f"/cohorts/{world.cohort_a.id}/responses/{extra['response_id']}/grade"
    graded_before = db.session.scalar(select(func.count()).select_from(Response).where(Response.graded_by_id.is_not(None)))
    response = client.post(url, data={"points": bad})
    assert response.status_code == 400, bad
    page = response.get_data(as_text=True)
    # 1e999999 is a finite Decimal: it is refused as too many points
    assert ("Give between 0 and" if "1e" in bad else "Enter a number (not NaN or infinity).") in page
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Response).where(Response.graded_by_id.is_not(None))) == graded_before
    assert client.post(url, data={"points": "1"}).status_code == 302
