"""After a learner's program has closed (``lms.learning.services.Close``: the cohort's close,
or their own for a late joiner at their own pace) no simulation is run and no KPI figure is
recorded, so the competency signal stops moving with the program, unless one of their
extensions runs to today or later (``Schedule.refuses``): the same rule as work handed in
(tests/test_program_closed.py). What was done stays to read, and the pages say why in place
of the start button, the decision and the figure form."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from flask import Flask
from sqlalchemy import func, select

from lms.catalog.models import Metric
from lms.cohorts.calendar import program_closes_on
from lms.coursework.models import Assignment
from lms.database import utcnow
from lms.extensions import db
from lms.kpi import services as kpi
from lms.kpi.models import KpiEntry
from lms.learning.models import OverrideKind
from lms.learning.services import cohort_today, grant_override, opens_at
from lms.simulations import services as simulations
from lms.simulations.models import Simulation, SimulationRun
from tests.test_api import bearer
from tests.test_program_closed import own_pace_learner

SIM = "mlops-2am-outage"  # the advanced phase of MLOps, month 6
BEST = [("page", 0), ("triage", 0), ("stabilised", 0), ("review", 0)]  # its path to an end
METRIC = "mlops-deployment-success"  # at least 95 %, 0..100
CAPSTONE = "impl-capstone"  # month 12: the part an extension after the close is granted on


def _said(cohort: Any) -> str:
    return f"The program of {cohort.name} closed on {program_closes_on(cohort.start_date):%d %B %Y}"


SIMULATIONS_REFUSED = "simulations can no longer be run unless your instructor grants you an extension."
FIGURES_REFUSED = "KPI figures can no longer be recorded unless your instructor grants you an extension."


@pytest.fixture()
def closed(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """A cohort whose program closed about two weeks ago, its instructor and two learners,
    each signed in on a client of their own (as in tests/test_program_closed.py)."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Founders", months_ago=13, instructors=[teacher])
    assert cohort_today(cohort, utcnow()) > program_closes_on(cohort.start_date)
    learners = [enrol_learner(cohort, name=f"Founder {n}") for n in "AB"]
    clients = {}
    for person in learners:
        clients[person.id] = app.test_client()
        login(clients[person.id], person)
    return {"cohort": cohort, "teacher": teacher, "learners": learners, "clients": clients}


def _simulation() -> Simulation:
    return db.session.scalars(select(Simulation).where(Simulation.key == SIM)).one()


def _extend(closed: dict[str, Any], learner: Any, days: int) -> None:
    """An extension of the capstone's part running ``days`` past the cohort's today (negative: ended)."""
    cohort = closed["cohort"]
    phase_id = db.session.scalars(select(Assignment.phase_id).where(Assignment.key == CAPSTONE)).one()
    today = cohort_today(cohort, utcnow())
    grant_override(db.session, cohort, learner, phase_id, OverrideKind.EXTENSION, today + timedelta(days=days),
                   "after the close", closed["teacher"], now=utcnow() - timedelta(days=10))
    db.session.commit()


def _runs(user_id: int) -> list[SimulationRun]:
    db.session.expire_all()
    return list(db.session.scalars(select(SimulationRun).where(SimulationRun.user_id == user_id).order_by(SimulationRun.id)))


def _figures(user_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(KpiEntry).where(KpiEntry.user_id == user_id)) or 0


def _month() -> str:
    return (utcnow().date() - relativedelta(months=1)).strftime("%Y-%m")


# --------------------------------------------------------------------------- simulations


def test_no_simulation_is_started_after_the_close_and_the_page_says_so(closed) -> None:
    learner, cohort = closed["learners"][0], closed["cohort"]
    client = closed["clients"][learner.id]
    page = client.get(f"/simulations/{SIM}").get_data(as_text=True)
    assert 'id="program-closed"' in page and f"{_said(cohort)}: {SIMULATIONS_REFUSED}" in page
    assert f'action="/simulations/{SIM}/start"' not in page  # no start button
    refused = client.post(f"/simulations/{SIM}/start")
    assert refused.status_code == 400
    assert f"{_said(cohort)}: {SIMULATIONS_REFUSED}" in refused.get_data(as_text=True)
    assert _runs(learner.id) == []
    listed = client.get("/simulations").get_data(as_text=True)
    assert 'id="program-closed"' in listed and ">closed</td>" in listed and ">open</td>" not in listed
    with pytest.raises(simulations.ProgramClosed, match=SIMULATIONS_REFUSED):
        simulations.start_run(db.session, _simulation(), learner, utcnow())


def test_a_run_under_way_at_the_close_takes_no_more_decisions_and_stays_to_read(closed) -> None:
    learner, cohort = closed["learners"][0], closed["cohort"]
    client = closed["clients"][learner.id]
    simulation = _simulation()
    before = opens_at(cohort, program_closes_on(cohort.start_date)) - timedelta(days=3)
    finished = simulations.start_run(db.session, simulation, learner, before)
    for node, choice in BEST:
        simulations.choose(db.session, finished, node, choice, before)
    under_way = simulations.start_run(db.session, simulation, learner, before + timedelta(hours=1))
    simulations.choose(db.session, under_way, "page", 0, before + timedelta(hours=1))
    db.session.commit()
    assert finished.finished and not under_way.finished and under_way.node == "triage"

    refused = client.post(f"/simulation-runs/{under_way.id}", data={"node": "triage", "choice": "0"})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert f"{_said(cohort)}: {SIMULATIONS_REFUSED}" in body and 'role="alert"' in body
    assert [len(r.path) for r in _runs(learner.id)] == [4, 1]  # nothing moved
    with pytest.raises(simulations.ProgramClosed):
        simulations.choose(db.session, db.session.get_one(SimulationRun, under_way.id), "triage", 0, utcnow())
    db.session.rollback()

    # the run stays to read, without the decision's form or a new run
    page = client.get(f"/simulation-runs/{under_way.id}").get_data(as_text=True)
    assert 'id="program-closed"' in page and "This run stays as it stood, to read." in page
    assert "Your path so far" in page and 'name="choice"' not in page and "/start" not in page
    done = client.get(f"/simulation-runs/{finished.id}").get_data(as_text=True)
    assert 'id="outcome"' in done and "Play again" not in done and _said(cohort) in done
    listed = client.get(f"/simulations/{SIM}").get_data(as_text=True)
    assert "Your runs stay here to read." in listed and "Run 2" in listed and "in progress" in listed


def test_a_running_extension_lets_that_learner_run_simulations_after_the_close(closed) -> None:
    first, second = closed["learners"]
    _extend(closed, first, days=5)  # of another part: any extension running to today or later will do
    mine = closed["clients"][first.id]
    page = mine.get(f"/simulations/{SIM}").get_data(as_text=True)
    assert 'id="program-closed"' not in page and f'action="/simulations/{SIM}/start"' in page
    assert mine.post(f"/simulations/{SIM}/start").status_code == 302
    run = _runs(first.id)[0]
    for node, choice in BEST:
        assert mine.post(f"/simulation-runs/{run.id}", data={"node": node, "choice": str(choice)}).status_code == 200
    assert _runs(first.id)[0].finished
    # the other learner has none: still refused
    assert closed["clients"][second.id].post(f"/simulations/{SIM}/start").status_code == 400
    assert _runs(second.id) == []


def test_an_extension_that_ended_before_today_keeps_simulations_and_figures_refused(closed) -> None:
    learner = closed["learners"][0]
    _extend(closed, learner, days=-1)  # ended yesterday
    assert closed["clients"][learner.id].post(f"/simulations/{SIM}/start").status_code == 400
    response = closed["clients"][learner.id].post("/kpis", data={"metric": METRIC, "period": _month(), "value": "97"})
    assert response.status_code == 400
    assert _runs(learner.id) == [] and _figures(learner.id) == 0
    # one running to today itself still lets them through (the day of an extension counts, as for work)
    _extend(closed, learner, days=0)
    assert closed["clients"][learner.id].post(f"/simulations/{SIM}/start").status_code == 302


# --------------------------------------------------------------------------- KPI figures


def test_no_figure_is_recorded_after_the_close_and_the_tracker_stays_to_read(closed) -> None:
    learner, cohort = closed["learners"][0], closed["cohort"]
    client = closed["clients"][learner.id]
    early = cohort_today(cohort, utcnow()) - relativedelta(months=4)
    kpi.record_figure(db.session, learner.id, db.session.scalars(select(Metric).where(Metric.key == METRIC)).one(),
                      early, 80, opens_at(cohort, early))  # recorded while the program ran
    db.session.commit()
    page = client.get("/kpis").get_data(as_text=True)
    assert 'id="program-closed"' in page and f"{_said(cohort)}: {FIGURES_REFUSED}" in page
    assert 'action="/kpis"' not in page and "Record one" not in page  # no form, no link to it
    assert "80%" in page  # the figures recorded stay
    metric_page = client.get(f"/kpis/{METRIC}")
    assert metric_page.status_code == 200
    assert f"{_said(cohort)}: {FIGURES_REFUSED}" in metric_page.get_data(as_text=True)
    assert "Record a figure" not in metric_page.get_data(as_text=True)  # the metric's page sends nobody to a refused form

    refused = client.post("/kpis", data={"metric": METRIC, "period": _month(), "value": "97,5", "note": "From the board"})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert f"{_said(cohort)}: {FIGURES_REFUSED}" in body and 'role="alert"' in body
    # what was typed is shown back, not lost, and nothing was recorded
    assert f"Not recorded: 97,5 for Model deployment success rate in {_month()}, with the note “From the board”." in body
    assert _figures(learner.id) == 1
    # correcting the month recorded before the close is refused as well
    again = client.post("/kpis", data={"metric": METRIC, "period": early.strftime("%Y-%m"), "value": "90"})
    assert again.status_code == 400
    assert db.session.scalars(select(KpiEntry.value).where(KpiEntry.user_id == learner.id)).all() == [80]


def test_a_running_extension_lets_that_learner_record_figures_after_the_close(closed) -> None:
    first, second = closed["learners"]
    _extend(closed, first, days=5)
    mine = closed["clients"][first.id]
    page = mine.get("/kpis").get_data(as_text=True)
    assert 'id="program-closed"' not in page and 'action="/kpis"' in page
    assert "Record a figure" in mine.get(f"/kpis/{METRIC}").get_data(as_text=True)
    assert mine.post("/kpis", data={"metric": METRIC, "period": _month(), "value": "97"}).status_code == 302
    assert closed["clients"][second.id].post("/kpis", data={"metric": METRIC, "period": _month(),
                                                             "value": "97"}).status_code == 400
    assert _figures(first.id) == 1 and _figures(second.id) == 0


# --------------------------------------------------------------------------- before the close, a late joiner's own close


def test_both_are_open_up_to_the_close_and_refused_from_its_day(loaded, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(start=utcnow().date() - relativedelta(months=12) - timedelta(days=5))  # closes in nine days or so
    learner = enrol_learner(cohort)
    closes = opens_at(cohort, program_closes_on(cohort.start_date))
    metric = db.session.scalars(select(Metric).where(Metric.key == METRIC)).one()
    eve = closes - timedelta(minutes=1)
    run = simulations.start_run(db.session, _simulation(), learner, eve)
    simulations.choose(db.session, run, "page", 0, eve)
    kpi.record_figure(db.session, learner.id, metric, eve.date(), 90, eve)
    db.session.commit()
    with pytest.raises(simulations.ProgramClosed, match=SIMULATIONS_REFUSED):
        simulations.choose(db.session, run, "triage", 0, closes)
    with pytest.raises(simulations.ProgramClosed):
        simulations.start_run(db.session, _simulation(), learner, closes)
    with pytest.raises(kpi.ProgramClosed, match=FIGURES_REFUSED):
        kpi.record_figure(db.session, learner.id, metric, eve.date(), 91, closes)


def test_a_late_joiner_at_their_own_pace_runs_and_records_until_their_own_close(app: Flask, closed, enrol_learner,
                                                                                  login) -> None:
    cohort = closed["cohort"]
    own, client, plan = own_pace_learner(app, cohort, enrol_learner, login)
    # between the two closes: both still open to them
    assert 'id="program-closed"' not in client.get("/kpis").get_data(as_text=True)
    assert client.post("/kpis", data={"metric": METRIC, "period": _month(), "value": "97"}).status_code == 302
    assert _figures(own.id) == 1
    assert 'id="program-closed"' not in client.get(f"/simulations/{SIM}").get_data(as_text=True)
    assert 'id="program-closed"' not in client.get("/simulations").get_data(as_text=True)
    # from their own close: refused, told of their own program
    own_close: date = plan.timeline.closes_on
    assert own_close > program_closes_on(cohort.start_date)
    after = opens_at(cohort, own_close) + timedelta(hours=1)
    said = f"Your program in {cohort.name} closed on {own_close:%d %B %Y}: "
    with pytest.raises(simulations.ProgramClosed, match=said + SIMULATIONS_REFUSED):
        simulations.start_run(db.session, _simulation(), own, after)
    metric = db.session.scalars(select(Metric).where(Metric.key == METRIC)).one()
    with pytest.raises(kpi.ProgramClosed, match=said + FIGURES_REFUSED):
        kpi.record_figure(db.session, own.id, metric, after.date(), 97, after)
    # the day before their close it is still their program's last day: a run is started
    eve = opens_at(cohort, own_close) - timedelta(hours=1)
    assert simulations.start_run(db.session, _simulation(), own, eve).user_id == own.id


# --------------------------------------------------------------------------- the API


def test_the_api_takes_no_kpi_figures_or_simulation_runs(closed) -> None:
    """The API only reads figures (``GET /cohorts/<id>/kpi``) and has no simulations: there
    is no write to refuse after the close. A write sent all the same is answered in JSON,
    4xx, and records nothing."""
    cohort = closed["cohort"]
    headers = bearer(closed["teacher"])
    client = closed["clients"][closed["learners"][0].id]
    listed = client.get(f"/api/v1/cohorts/{cohort.id}/kpi", headers=headers)
    assert listed.status_code == 200 and listed.is_json
    sent = client.post(f"/api/v1/cohorts/{cohort.id}/kpi", headers=headers,
                       json={"metric_key": METRIC, "period": _month(), "value": 97})
    assert sent.status_code == 405 and sent.is_json
    assert _figures(closed["learners"][0].id) == 0
