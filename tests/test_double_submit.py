"""A form sent twice at once (a double click, two tabs): where the first send makes a row
that is unique per learner (their submission of an assignment, their portfolio of a
level, their figure for a metric's month), the second waits for the first, finds its row
and ends without an error, on real connections and both databases. Each had failed on the
unique key (a 500)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from lms.catalog.models import Level, Metric, Objective, ObjectiveKind
from lms.coursework.models import Assignment, Submission
from lms.coursework.services import start_submission
from lms.database import utcnow
from lms.extensions import db
from lms.kpi.models import KpiEntry
from lms.kpi.services import first_of_month, record_figure
from lms.portfolio.models import Portfolio
from lms.portfolio.services import portfolio_for
from lms.progress.models import Evidence, Mastery
from lms.progress.services import rate
from tests.races import second_waits_for_first


@pytest.fixture()
def learner(loaded: Flask, make_cohort, enrol_learner) -> dict[str, Any]:
    cohort = make_cohort(months_ago=2)
    user = enrol_learner(cohort)
    return {"app": loaded, "user": user.id, "cohort": cohort.id}


def rows(model: Any, user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.user_id == user_id))


def test_a_submission_started_twice_at_once_is_one(learner: dict[str, Any]) -> None:
    assignment = db.session.scalars(select(Assignment.id).order_by(Assignment.id)).first()
    db.session.commit()

    def start(session: sa.orm.Session) -> int:
        return start_submission(session, session.get_one(Assignment, assignment), learner["user"], learner["cohort"],
                                utcnow()).id

    first, second = second_waits_for_first(learner["app"], start, start)
    assert first == second and rows(Submission, learner["user"]) == 1


def test_a_portfolio_stored_twice_at_once_is_one(learner: dict[str, Any]) -> None:
    level = db.session.scalars(select(Level.id).order_by(Level.position)).first()
    db.session.commit()

    def store(session: sa.orm.Session) -> int:
        return portfolio_for(session, learner["user"], session.get_one(Level, level), utcnow()).id

    first, second = second_waits_for_first(learner["app"], store, store)
    assert first == second and rows(Portfolio, learner["user"]) == 1


def test_a_months_first_figure_sent_twice_at_once_is_one_entry_holding_the_last(learner: dict[str, Any]) -> None:
    metric = db.session.scalars(select(Metric).order_by(Metric.position)).first()
    low, high, metric_id = metric.min_value, metric.max_value, metric.id
    db.session.commit()
    month = first_of_month(utcnow().date())

    def send(value: float) -> Any:
        def run(session: sa.orm.Session) -> int:
            return record_figure(session, learner["user"], session.get_one(Metric, metric_id), month, value, utcnow()).id
        return run

    first, second = second_waits_for_first(learner["app"], send(low), send(high))
    assert first == second and rows(KpiEntry, learner["user"]) == 1
    assert db.session.scalars(select(KpiEntry.value).where(KpiEntry.user_id == learner["user"])).one() == high


def test_a_rating_sent_twice_at_once_is_one_judgement(learner: dict[str, Any], make_user) -> None:
    """One rating form sent twice (a double click) had recorded two ratings, two full
    judgements: an objective the learner had no other evidence on read mastered (4.0)."""
    rater = make_user(name="Rita Rater").id
    objective = db.session.scalars(select(Objective.id).where(Objective.kind == ObjectiveKind.APPLICATION)).first()
    db.session.commit()

    def send(session: sa.orm.Session) -> int:
        return rate(session, learner["user"], session.get_one(Objective, objective), 4, "Ran the rollout review well.", rater,
                    utcnow(), token="f3a9c2d4e5b60718").id

    first, second = second_waits_for_first(learner["app"], send, send)
    assert first == second and rows(Evidence, learner["user"]) == 1
    mastery = db.session.scalars(select(Mastery).where(Mastery.user_id == learner["user"])).one()
    assert (mastery.level, mastery.held, mastery.evidence_count) == (3.4, True, 1)
