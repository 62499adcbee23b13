"""Branching simulations: the learner's list, a simulation's page, a run (each decision
posts a choice and shows its consequence and the next situation, the end shows the path
and the score per objective), and the staff's page of a cohort's runs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.catalog.models import Module
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of, staff_cohorts
from lms.database import utcnow
from lms.extensions import db
from lms.simulations import services
from lms.simulations.forms import ChoiceForm, CsrfForm
from lms.simulations.models import Simulation, SimulationRun
from lms.web.forms import labelled_choices, refuse_field

bp = Blueprint("simulations", __name__, template_folder="templates")

_FACTS = {"node_of": services.node_of, "is_end": services.is_end, "steps": services.steps, "overall": services.overall,
          "max_points": services.MAX_POINTS}


@bp.app_template_global("module_simulations")
def module_simulations(module: Module) -> list[Simulation]:
    """For the module page: the module's active simulations."""
    return [s for s in services.active_simulations(db.session) if s.module_id == module.id]


def _simulation(key: str) -> Simulation:
    return services.get_simulation(db.session, key) or abort(404)


def _run(run_id: int) -> SimulationRun:
    return db.session.get(SimulationRun, run_id) or abort(404)


@bp.get("/simulations")
def index() -> str:
    user = signed_in()
    roles = roles_of(db.session, user)
    listings = services.listings(db.session, user, utcnow())
    return render_template("simulations/index.html", listings=listings, closed=next((i.closed for i in listings), None),
                           enrolled=roles.enrolment is not None, overall=services.overall, max_points=services.MAX_POINTS,
                           staff_cohorts=staff_cohorts(db.session, user) if roles.is_staff else [])


def _simulation_page(item: Simulation, status: int = 200) -> tuple[str, int]:
    user = signed_in()
    runs = services.runs_of(db.session, item, user.id)
    may = services.standing(db.session, item, user.id, utcnow())
    return render_template("simulations/simulation.html", simulation=item, runs=runs, best=services.best_run(runs),
                           open=may.open, closed=may.closed, refused=status != 200, form=CsrfForm(), **_FACTS), status


@bp.get("/simulations/<key>")
def simulation(key: str) -> tuple[str, int]:
    return _simulation_page(_simulation(key))


@bp.post("/simulations/<key>/start")
def start(key: str) -> Any:
    item = _simulation(key)
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        run = services.start_run(db.session, item, signed_in(), utcnow())
    except services.ProgramClosed:
        db.session.rollback()
        return _simulation_page(item, status=400)  # the page says the program has closed, in place of the button
    except services.SimulationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("simulations.simulation", key=key))
    return redirect(url_for("simulations.run", run_id=run.id))


def _run_page(run: SimulationRun, made: dict[str, Any] | None = None, form: ChoiceForm | None = None,
              error: str | None = None, status: int = 200) -> tuple[str, int]:
    form = form or ChoiceForm(formdata=None)  # not the choice just made, on the next decision
    node = services.node_of(run.simulation, run.node)
    form.choice.choices = labelled_choices({i: choice["text"] for i, choice in enumerate(node.get("choices") or [])})
    form.node.data = run.node  # the decision the page shows: a choice posted from an older page is refused
    # once the learner's program has closed the run stays to read: no decision, no new run
    closed = services.closed_to(db.session, run.user_id, utcnow())
    return render_template("simulations/run.html", run=run, simulation=run.simulation, made=made,
                           node=node, form=form, closed=closed, refused=closed is not None and error == closed,
                           restart=CsrfForm(), error=None if error == closed else error, **_FACTS), status


@bp.get("/simulation-runs/<int:run_id>")
def run(run_id: int) -> tuple[str, int]:
    return _run_page(_run(run_id))


@bp.post("/simulation-runs/<int:run_id>")
def choose(run_id: int) -> Any:
    item = _run(run_id)
    form = ChoiceForm()
    if not form.validate_on_submit():  # no choice: said by the options (invalid, described by it, in the summary)
        return _run_page(item, form=form, error=None if form.choice.errors else "Choose one of the options.", status=400)
    try:
        made = services.choose(db.session, item, form.node.data or "", form.choice.data or 0, utcnow())
    except services.SimulationError as exc:
        db.session.rollback()
        shown = refuse_field(form, exc.field, str(exc))
        return _run_page(_run(run_id), form=form if shown else None, error=None if shown else str(exc),
                         status=400 if isinstance(exc, services.ProgramClosed) else 409)
    # The consequence is shown once, on the page right after the choice (post, then show).
    return _run_page(item, made=made)


@bp.get("/cohorts/<int:cohort_id>/simulations")
def cohort(cohort_id: int) -> str:
    group = db.session.get(Cohort, cohort_id) or abort(404)
    return render_template("simulations/cohort.html", cohort=group,
                           runs=services.cohort_runs(db.session, group, request.args.get("page", 1, type=int) or 1), **_FACTS)
