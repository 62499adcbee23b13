"""Contract test (issue 15 point 5): schemathesis generates requests for every operation
of the OpenAPI document and sends them to the app in-process (WSGI) with an organization
admin's token: no server error, and every answer (status, content type, headers, body)
is one the document declares. Bounded: a few examples per operation."""

from __future__ import annotations

import time

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lms.api.models import Scope
from lms.api.tokens import create_token
from lms.extensions import db
from lms.web.unit_of_work import WROTE
from tests.conftest import World

EXAMPLES = 8
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def test_every_operation_keeps_to_the_document(app: Flask, loaded: Flask, world: World) -> None:
    app.config["API_RATE_LIMIT"] = "100000/minute"
    secret = create_token(db.session, world.org_admin_a, "contract", [s.value for s in Scope], None).secret
    db.session.commit()
    db.session.info.pop(WROTE, None)  # the fixture's own writes, committed; the requests below share its session
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    assert schema.raw_schema["openapi"] == "3.1.0"
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    headers = {"Authorization": f"Bearer {secret}"}
    started = time.monotonic()
    tried = []
    known = {"cohort_id": world.cohort_a.id, "user_id": world.learner_a.id}
    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)
        # one request that must succeed: the world's cohort and learner, a valid body
        names = [p.name for p in operation.path_parameters]
        body = {"email": "contract@example.com", "name": "Contract"} if operation.method.upper() == "POST" else NOT_SET
        answer = operation.Case(path_parameters={n: known[n] for n in names}, query={"limit": 2}, body=body,
                                media_type="application/json" if body is not NOT_SET else None
                                ).call_and_validate(headers=headers, checks=CHECKS)
        assert answer.status_code in (200, 201), (operation.label, answer.status_code, answer.text)

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
    assert len(tried) == 36, tried  # 10 removed lists: 6 of a cohort (grades, submissions, evidence, mastery, learners, quiz attempts), 4 of "me"
    assert time.monotonic() - started < 60, time.monotonic() - started
