"""Cohort competency: the heat map (values, sorting, distributions, funnel, at risk), the
trend by month, cohorts side by side, the exports, and a fixed number of statements."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from lms.assessment.models import Attempt, Quiz
from lms.catalog.models import Lesson, Objective
from lms.cohorts.calendar import own_month_reached
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Enrolment, Pace
from lms.competency import services as competency_services
from lms.competency.models import KeptTrend
from lms.competency.services import compare, heat_map, record_review, trend
from lms.coursework.models import Assignment, Submission
from lms.database import utcnow
from lms.extensions import db
from lms.jobs.models import Job
from lms.learning.services import cohort_today, current_month, month_opens_on
from lms.notifications.models import Notification
from lms.progress.completion import learner_progress
from lms.progress.methods import shown_level
from lms.progress.models import EvidenceSourceName, LessonRead, Mastery
from lms.progress.services import policy, record, replace_evidence
from lms.progress.sources import KpiSource
from tests.test_refused_fields import Page

CLOSED_AT_MONTH_8 = {"KO1", "SO1", "KO2", "SO2"}  # mlops closes after month 5, customer success after month 6


def objective(code: str) -> Objective:
    return db.session.scalar(select(Objective).where(Objective.key == code))


def evidence(user: Any, levels: dict[str, float], when: datetime | None = None, ref: str = "test") -> None:
    """Record a quiz-like result on each knowledge or skill objective, a rubric grade on each
    application objective (``levels`` on the 0-4 scale)."""
    for code, level in levels.items():
        source = "rubric" if code.startswith("AO") else "quiz"
        record(db.session, user.id, objective(code).id, source, f"{ref}:{code}", level / 4, when or utcnow())
    db.session.commit()


def do_work(cohort: Any, user: Any, *, level_key: str | None = None, exam: bool = True, portfolio: bool = True) -> None:
    """Mark done every item already due (or, with ``level_key``, every module item of that
    level): lessons read, quizzes and exams passed, work accepted."""
    progress = learner_progress(db.session, cohort, user.id, utcnow())
    if level_key is None:
        items = [i for i in progress.items if i.due_on < progress.today]
    else:
        status = progress.level_status(level_key)
        items = [i for p in status.parts for i in p.items]
        items += [i for i in (status.exam if exam else None, status.portfolio if portfolio else None) if i is not None]
    keys = {kind: {i.key for i in items if i.kind in kinds} for kind, kinds in
            {"lesson": ("lesson",), "quiz": ("quiz", "exam"), "work": ("assignment", "portfolio")}.items()}
    for lesson in db.session.scalars(select(Lesson).where(Lesson.key.in_(keys["lesson"]))):
        db.session.add(LessonRead(user_id=user.id, lesson_id=lesson.id))
    for quiz in db.session.scalars(select(Quiz).where(Quiz.key.in_(keys["quiz"]))):
        db.session.add(Attempt(quiz_id=quiz.id, user_id=user.id, number=1, layout=[], submitted_at=utcnow(), score=100, max_score=100))
    for assignment in db.session.scalars(select(Assignment).where(Assignment.key.in_(keys["work"]))):
        db.session.add(Submission(assignment_id=assignment.id, user_id=user.id, cohort_id=cohort.id, status="released",
                                  submitted_at=utcnow()))
    db.session.commit()


@pytest.fixture()
def course(app, loaded, make_user, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    """A cohort a week into month 8: a strong learner on schedule, a learner on schedule but
    weak on KO2, a learner who did nothing, and one who finished only the foundation modules.
    A week in, not on its first day: the last foundation quiz is due 90 days after month 5
    opens, which is month 8's first day or the day after when those three months hold a
    February (from March to May), and an item due today is not yet done by ``do_work``."""
    admin = make_user(name="Olivia Org")
    org = make_org("Acme", admins=[admin])
    cohort = make_cohort(org, "Acme 1", start=utcnow().date() - relativedelta(months=7, days=7))
    strong = enrol_learner(cohort, name="Ada Strong")
    weak = enrol_learner(cohort, name="Bo Weak")
    idle = enrol_learner(cohort, name="Cy Idle")
    partial = enrol_learner(cohort, name="Di Partial")
    do_work(cohort, strong)
    do_work(cohort, weak)
    do_work(cohort, partial, level_key="foundation", exam=False, portfolio=False)
    # Strong's KO1 and KO2 are at mastery twice over: one piece of evidence would be held under it.
    evidence(strong, {"KO1": 3.6, "KO2": 3.8}, ref="earlier")
    evidence(strong, {"KO1": 3.6, "SO1": 3.2, "KO2": 3.8, "SO2": 3.0, "AO1": 2.0})
    evidence(weak, {"KO1": 3.0, "SO1": 3.0, "KO2": 1.0, "SO2": 2.8, "KO3": 0.5})
    evidence(partial, {"KO1": 2.0})
    return {"org": org, "admin": admin, "cohort": cohort, "strong": strong, "weak": weak, "idle": idle, "partial": partial}


def by_name(heat: Any) -> dict[str, Any]:
    return {r.user.name: r for r in heat.rows}


def test_cells_are_the_mastery_rows(course) -> None:
    heat = heat_map(db.session, course["cohort"], utcnow())
    assert [c.code for c in heat.columns] == ["KO1", "KO2", "KO3", "KO4", "SO1", "SO2", "SO3", "SO4", "AO1", "AO2", "AO3"]
    expected = {(m.user_id, m.objective_id): m.level for m in db.session.scalars(select(Mastery))}
    seen = 0
    for row in heat.rows:
        for column, cell in zip(heat.columns, row.cells, strict=True):
            assert cell.level == expected.get((row.user.id, column.objective.id))
            assert cell.name == heat.policy.name_of(cell.level) and cell.rank == heat.policy.rank_of(cell.level)
            seen += cell.level is not None
    assert seen == len(expected) == 11
    strong = by_name(heat)["Ada Strong"]
    assert strong.cells[1].level == 3.8 and strong.cells[1].name == "mastered"
    assert strong.mean == pytest.approx((3.6 + 3.2 + 3.8 + 3.0 + 2.0) / 5, abs=1e-4)
    assert by_name(heat)["Cy Idle"].mean is None


def test_a_level_just_under_a_bar_never_reads_as_that_band(course, client, login) -> None:
    """A level is shown rounded down: 3.46 is proficient under a bar of 3.5 for mastered, so
    its cell reads 3.4 (3.5, rounded as before, sat in a proficient cell under a legend that
    says mastered from 3.5), on the heat map and on the learner's progress page alike."""
    assert [shown_level(v) for v in (None, 0.0, 2.3, 3.4579, 3.5, 3.99, 4.0)] == ["–", "0.0", "2.3", "3.4", "3.5", "3.9", "4.0"]
    assert shown_level(3.4999, 2) == "3.49" and shown_level(0.29, 2) == "0.29"
    weak = course["weak"]
    objective = db.session.scalar(select(Objective).where(Objective.key == "SO1"))
    db.session.scalar(select(Mastery).where(Mastery.user_id == weak.id, Mastery.objective_id == objective.id)).level = 3.4579
    db.session.commit()
    login(client, course["admin"])
    page = client.get(f"/cohorts/{course['cohort'].id}/competency").get_data(as_text=True)
    cell = re.search(r'<td class="heat heat-(\d)" data-level="3.4579">([^<]*)<span class="visually-hidden"> ([a-z ]+)</span>', page)
    assert cell is not None and cell.group(2) == "3.4" and cell.group(3) == "proficient"
    assert cell.group(1) == str(policy(db.session).rank_of(3.4579))
    mine = client.get(f"/cohorts/{course['cohort'].id}/learners/{weak.id}/progress").get_data(as_text=True)
    assert "SO1 3.4 (proficient)" in mine and "SO1 3.5" not in mine


def test_sorting_by_a_column_by_the_mean_and_by_risk(course) -> None:
    cohort = course["cohort"]
    names = lambda heat: [r.user.name for r in heat.rows]  # noqa: E731
    assert names(heat_map(db.session, cohort, utcnow())) == ["Ada Strong", "Bo Weak", "Cy Idle", "Di Partial"]
    # No evidence sorts below every level.
    assert names(heat_map(db.session, cohort, utcnow(), "KO2")) == ["Cy Idle", "Di Partial", "Bo Weak", "Ada Strong"]
    assert names(heat_map(db.session, cohort, utcnow(), "KO2", descending=True)) == ["Ada Strong", "Bo Weak", "Cy Idle", "Di Partial"]
    assert names(heat_map(db.session, cohort, utcnow(), "KO1", descending=True)) == ["Ada Strong", "Bo Weak", "Di Partial", "Cy Idle"]
    means = heat_map(db.session, cohort, utcnow(), "mean", descending=True)
    assert names(means) == ["Ada Strong", "Bo Weak", "Di Partial", "Cy Idle"]
    assert names(heat_map(db.session, cohort, utcnow(), "mean")) == ["Cy Idle", "Di Partial", "Bo Weak", "Ada Strong"]
    assert names(heat_map(db.session, cohort, utcnow(), "risk", descending=True))[-1] == "Ada Strong"
    unknown = heat_map(db.session, cohort, utcnow(), "nonsense", descending=False)
    assert unknown.sort == "name" and names(unknown)[0] == "Ada Strong"


def test_distributions_sum_to_the_cohort(course) -> None:
    heat = heat_map(db.session, course["cohort"], utcnow())
    for d in heat.distributions:
        assert sum(s.count for s in d.shares) == d.total == 4
        assert sum(s.share for s in d.shares) == pytest.approx(1.0)
    ko2 = {s.band.name: s.count for s in heat.distributions[1].shares}
    assert ko2 == {"no evidence": 2, "not yet": 1, "developing": 0, "proficient": 0, "mastered": 1}
    ko1 = {s.band.name: s.count for s in heat.distributions[0].shares}
    assert ko1 == {"no evidence": 1, "not yet": 0, "developing": 1, "proficient": 1, "mastered": 1}


def test_the_level_completion_funnel(course) -> None:
    heat = heat_map(db.session, course["cohort"], utcnow())
    foundation = next(s for s in heat.funnel if s.level.key == "foundation")
    assert foundation.opened and foundation.total == 4
    # Strong and weak did everything due (foundation complete); partial only its modules; idle nothing.
    assert (foundation.started, foundation.modules_done, foundation.exam_passed, foundation.complete) == (3, 3, 2, 2)
    advanced = next(s for s in heat.funnel if s.level.key == "advanced")
    assert not advanced.opened and advanced.complete == 0


def test_at_risk_behind_or_below_the_bar_on_a_closed_objective(course) -> None:
    heat = heat_map(db.session, course["cohort"], utcnow())
    assert {c.code for c in heat.columns if c.closed} == CLOSED_AT_MONTH_8
    rows = by_name(heat)
    assert not rows["Ada Strong"].at_risk and rows["Ada Strong"].days_behind <= 14
    # On schedule but below proficient on KO2, whose modules have all closed; KO3 is low but still open.
    assert [r.text for r in rows["Bo Weak"].reasons] == ["KO2 below proficient after its modules closed"]
    idle = rows["Cy Idle"]
    behind = learner_progress(db.session, course["cohort"], course["idle"].id, utcnow()).days_behind
    assert behind > 14 and idle.reasons[0].text == f"{behind} days behind schedule"
    assert "KO1 has no evidence after its modules closed" in [r.text for r in idle.reasons]
    assert {r.user.name for r in heat.at_risk} == {"Bo Weak", "Cy Idle", "Di Partial"}
    assert heat.at_risk[0].user.name == "Cy Idle"  # the most reasons first


def test_trend_replays_evidence_month_by_month(app, loaded, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=2)  # month 3 now
    one, two = enrol_learner(cohort, name="One"), enrol_learner(cohort, name="Two")
    start = datetime.combine(cohort.start_date, time(12), tzinfo=UTC)
    evidence(one, {"KO1": 2.0}, when=start + timedelta(days=3), ref="first")
    evidence(one, {"KO1": 4.0}, when=start + relativedelta(months=1) + timedelta(days=3), ref="second")
    evidence(two, {"KO1": 1.0}, when=start + relativedelta(months=1) + timedelta(days=4), ref="first")
    points = trend(db.session, cohort, utcnow())
    assert [p.month for p in points] == [1, 2, 3] and [p.partial for p in points] == [False, False, True]
    assert points[0].means["KO1"] == 2.0 and points[0].learners["KO1"] == 1
    # Decaying average (latest weight 0.65): 0.65 * 4 + 0.35 * 2 = 3.3 for One; Two has 1.0.
    assert points[1].means["KO1"] == pytest.approx((3.3 + 1.0) / 2) and points[1].learners["KO1"] == 2
    assert points[2].means == points[1].means
    assert points[1].kinds["knowledge"] == pytest.approx(2.15) and points[1].kinds["skill"] is None
    assert points[0].means["SO1"] is None


def test_ending_a_weak_learners_enrolment_moves_the_months_gone_by_and_the_pages_say_so(
        app, loaded, make_cohort, enrol_learner, make_user, make_org, client, login) -> None:
    """The end-enrolment page promised "the cohort's statistics" stay; but every competency
    figure counts current learners only, the trend's past months included: ending a weak
    learner's enrolment raised the cohort's month 1. Both pages now say what happens."""
    admin = make_user(name="Olivia Org")
    cohort = make_cohort(make_org("Acme", admins=[admin]), "Acme 1", start=utcnow().date() - relativedelta(months=2))
    strong, weak = enrol_learner(cohort, name="Strong"), enrol_learner(cohort, name="Weak")
    start = datetime.combine(cohort.start_date, time(12), tzinfo=UTC)
    evidence(strong, {"KO1": 4.0}, when=start + timedelta(days=3))
    evidence(weak, {"KO1": 1.0}, when=start + timedelta(days=3))
    # one piece of evidence at 4.0 is held at 3.4 (too little to count as mastered)
    assert trend(db.session, cohort, utcnow())[0].means["KO1"] == pytest.approx((3.4 + 1.0) / 2)
    login(client, admin)
    url = f"/cohorts/{cohort.id}/learners/{weak.id}/end"
    page = " ".join(client.get(url).get_data(as_text=True).split())
    assert "the cohort&#39;s statistics" not in page and "and the cohort's statistics" not in page
    assert "its trend by month, the months gone by too, all count its current learners only" in page
    assert client.post(url, data={"reason": "Withdrew", "confirm": "y"}).status_code == 302
    db.session.expire_all()
    assert trend(db.session, cohort, utcnow())[0].means["KO1"] == pytest.approx(3.4)  # month 1, gone by, moved
    trend_page = " ".join(client.get(f"/cohorts/{cohort.id}/competency/trend").get_data(as_text=True).split())
    assert "is left out of the months gone by too" in trend_page


def test_the_trend_keeps_the_months_gone_by_and_always_equals_a_full_replay(app, loaded, make_cohort, enrol_learner,
                                                                           count_queries) -> None:
    """The months gone by are kept while the evidence recorded before them adds up the same;
    the running month is the mastery now. Whatever happens (evidence now, evidence withdrawn,
    evidence recorded late, a learner leaving), the trend equals every month replayed."""
    cohort = make_cohort(months_ago=3)  # month 4 now
    one, two, three = (enrol_learner(cohort, name=name) for name in ("One", "Two", "Three"))
    start = datetime.combine(cohort.start_date, time(12), tzinfo=UTC)
    evidence(one, {"KO1": 2.0, "SO1": 3.0}, when=start + timedelta(days=3), ref="a")
    evidence(two, {"KO1": 1.0}, when=start + relativedelta(months=1) + timedelta(days=2), ref="b")
    evidence(three, {"KO2": 3.5}, when=start + relativedelta(months=2) + timedelta(days=1), ref="c")
    evidence(one, {"KO1": 4.0}, ref="d")  # now: the running month

    def rounded(values: dict[Any, float | None]) -> dict[Any, float | None]:
        return {k: None if v is None else round(v, 6) for k, v in values.items()}

    def checked() -> list[Any]:
        """The trend, against every month replayed from the evidence (the running month's end
        is still to come: all its evidence so far)."""
        points = trend(db.session, cohort, utcnow())
        today = cohort_today(cohort, utcnow())
        ends = [month_opens_on(cohort.start_date, m + 1) for m in range(1, current_month(cohort.start_date, today) + 1)]
        replayed = competency_services._replay(db.session, cohort, policy(db.session), competency_services._objectives(db.session), ends)
        assert [(p.month, p.ends_on) for p in points] == [(r.month, r.ends_on) for r in replayed]
        assert [p.partial for p in points] == [False, False, False, True]
        for point, replay in zip(points, replayed, strict=True):
            assert (rounded(point.means), point.learners, rounded(point.kinds)) == (
                rounded(replay.means), replay.learners, rounded(replay.kinds)), point.month
        return points

    def statements() -> int:
        """The trend's statements in a transaction of its own."""
        db.session.commit()
        return count_queries(lambda: trend(db.session, cohort, utcnow()))

    built = statements()
    kept = statements()
    assert kept == built - 3  # the months gone by kept in the process: not looked for as stored, no evidence replayed (nor the learners' first months read)
    points = checked()
    assert points[0].means["KO1"] == 2.0 and points[3].means["KO1"] == pytest.approx((0.65 * 4 + 0.35 * 2 + 1.0) / 2)
    evidence(two, {"KO1": 3.0}, ref="e")  # more now: the months gone by are still kept
    assert statements() == kept
    checked()
    replace_evidence(db.session, one.id, EvidenceSourceName.QUIZ, "a:KO1", {}, utcnow())  # One's first quiz withdrawn
    assert statements() == built and checked()[0].means["KO1"] is None
    evidence(two, {"SO1": 1.0}, when=start + timedelta(days=4), ref="late")  # recorded late, in month 1
    assert statements() == built and checked()[0].means["SO1"] == 2.0
    move_learner(db.session, three, cohort, make_cohort(cohort.organization, "Elsewhere", months_ago=3), utcnow())  # Three leaves
    assert statements() == built and checked()[2].learners["KO2"] == 0


def _finished_ends(cohort: Any) -> list[Any]:
    """The days the cohort's months gone by end on (each the next month's first)."""
    today = cohort_today(cohort, utcnow())
    ends = [month_opens_on(cohort.start_date, m + 1) for m in range(1, current_month(cohort.start_date, today) + 1)]
    return [day for day in ends if day <= today]


def _replayed(cohort: Any) -> list[Any]:
    """The cohort's months gone by replayed from the evidence, as a page that keeps nothing would."""
    return competency_services._replay(db.session, cohort, policy(db.session), competency_services._objectives(db.session),
                                       _finished_ends(cohort))


def _trend_reading(cohort: Any) -> tuple[list[Any], bool]:
    """The cohort's trend built by a process that keeps nothing yet (after a restart, on
    another node), and whether it replayed the evidence (read the evidence's levels)."""
    competency_services.forget_finished_months()
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        points = trend(db.session, cohort, utcnow())
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    return points, any("evidence.level" in statement for statement in sent)


def test_the_keep_trends_job_stores_the_months_gone_by_for_a_process_that_kept_nothing(app, loaded, make_cohort,
                                                                                       enrol_learner) -> None:
    """A process that has kept nothing (just started, or another node) replays a cohort's
    months gone by from the evidence: 0.7-1.0 s at 500 learners. The ``keep-trends`` job
    (cron, nightly) stores them with a digest of what they were replayed from; a process
    then shows them without reading the evidence, and they equal a full replay. Evidence
    recorded late changes the digest: the stored months are not read until the job runs
    again. Run twice, the job writes nothing the second time."""
    cohort = make_cohort(months_ago=3)  # month 4 now
    one, two = enrol_learner(cohort, name="One"), enrol_learner(cohort, name="Two")
    start = datetime.combine(cohort.start_date, time(12), tzinfo=UTC)
    evidence(one, {"KO1": 2.0, "SO1": 3.0}, when=start + timedelta(days=3), ref="a")
    evidence(two, {"KO1": 1.0}, when=start + relativedelta(months=1) + timedelta(days=2), ref="b")
    evidence(one, {"KO1": 4.0}, when=start + relativedelta(months=2) + timedelta(days=2), ref="c")
    evidence(two, {"KO2": 3.0}, ref="now")  # the running month: never part of what is stored
    cli = app.test_cli_runner()

    def run_job() -> str:
        result = cli.invoke(args=["lms", "queue-job", "keep-trends"])
        assert result.exit_code == 0 and ": done." in result.output, result.output
        db.session.expire_all()
        return db.session.scalar(select(Job.result).order_by(Job.id.desc()).limit(1)) or ""

    points, replayed = _trend_reading(cohort)
    assert replayed and points[:3] == _replayed(cohort)
    assert "Stored the trend of 1 cohort;" in run_job()
    stored = db.session.get(KeptTrend, cohort.id)
    assert stored is not None and stored.points == _replayed(cohort) and len(stored.points) == 3
    made = stored.made_at

    points, replayed = _trend_reading(cohort)
    assert not replayed and points[:3] == _replayed(cohort) and points[3].partial
    assert points[2].means["KO1"] == pytest.approx((0.65 * 4 + 0.35 * 2 + 1.0) / 2)
    assert "Stored the trend of 0 cohorts;" in run_job()
    assert db.session.get(KeptTrend, cohort.id).made_at == made  # nothing new: not written again

    evidence(two, {"SO1": 1.0}, when=start + timedelta(days=4), ref="late")  # recorded late, in month 1
    points, replayed = _trend_reading(cohort)
    assert replayed and points[0].means["SO1"] == 2.0 and points[:3] == _replayed(cohort)  # the stored months not read
    assert "Stored the trend of 1 cohort;" in run_job()
    points, replayed = _trend_reading(cohort)
    assert not replayed and points[0].means["SO1"] == 2.0 and db.session.get(KeptTrend, cohort.id).made_at > made


def test_a_trend_kept_under_an_earlier_rule_is_replayed_under_this_one(app, loaded, make_cohort, enrol_learner,
                                                                        monkeypatch) -> None:
    """The rules that combine evidence changed (the learner's own KPI figures alone are held
    under proficient): a trend the ``keep-trends`` job stored before, under the same
    evidence and policy, had the same key, so months gone by showed the old levels and the
    job never stored them again. The rules' revision is part of the key: a trend kept under
    an earlier one is not read; the months are replayed, and the job stores them anew."""
    cohort = make_cohort(months_ago=2)
    learner = enrol_learner(cohort, name="Kai Kpi")
    month_one = datetime.combine(cohort.start_date, time(12), tzinfo=UTC) + timedelta(days=5)
    record(db.session, learner.id, objective("SO1").id, EvidenceSourceName.KPI,
           KpiSource.ref("mlops-deployment-success", cohort.start_date.replace(day=1)), 1.0, month_one)
    db.session.commit()
    replayed_now = _replayed(cohort)
    assert replayed_now[0].means["SO1"] == 2.4  # the figure alone: held under proficient
    # What the job stored under the earlier rule (the figure made SO1 3.4), with that rule's key.
    monkeypatch.setattr(competency_services, "RULES_REVISION", competency_services.RULES_REVISION - 1)
    rules, objectives = policy(db.session), competency_services._objectives(db.session)
    finished = _finished_ends(cohort)
    earlier = competency_services._finished_key(db.session, cohort, rules, objectives, finished)
    stale = [replace(point, means={**point.means, "SO1": 3.4}) for point in replayed_now]
    db.session.add(KeptTrend(cohort_id=cohort.id, key=earlier, points=stale, made_at=utcnow()))
    db.session.commit()
    points, replayed = _trend_reading(cohort)
    assert not replayed and points[0].means["SO1"] == 3.4  # read while the key was the earlier rule's
    monkeypatch.undo()
    assert competency_services._finished_key(db.session, cohort, rules, objectives, finished) != earlier
    points, replayed = _trend_reading(cohort)
    assert replayed and points[:len(finished)] == replayed_now and points[0].means["SO1"] == 2.4
    result = app.test_cli_runner().invoke(args=["lms", "queue-job", "keep-trends"])
    assert result.exit_code == 0 and ": done." in result.output, result.output
    db.session.expire_all()
    assert db.session.get(KeptTrend, cohort.id).points == replayed_now
    points, replayed = _trend_reading(cohort)
    assert not replayed and points[0].means["SO1"] == 2.4


def test_a_trend_stored_by_another_job_meanwhile_is_replaced_not_an_error(app, loaded, make_cohort, enrol_learner,
                                                                          monkeypatch) -> None:
    """Two jobs store a cohort's first trend at once: while this one replays the evidence,
    another commits its row. The insert meets the primary key; the row is then locked and
    replaced, and the job answers as if it had written first."""
    cohort = make_cohort(months_ago=2)
    learner = enrol_learner(cohort, name="One")
    evidence(learner, {"KO1": 2.0}, when=datetime.combine(cohort.start_date, time(12), tzinfo=UTC) + timedelta(days=3))
    replay = competency_services._replay

    def overtaken(*args: Any) -> list[Any]:
        with sa.orm.Session(db.engine) as other:  # the other job: a connection of its own
            other.add(KeptTrend(cohort_id=cohort.id, key="another", points=[], made_at=utcnow()))
            other.commit()
        return replay(*args)

    monkeypatch.setattr(competency_services, "_replay", overtaken)
    assert competency_services.keep_trend(db.session, cohort, utcnow()) is True
    db.session.commit()
    monkeypatch.setattr(competency_services, "_replay", replay)
    db.session.expire_all()
    stored = db.session.get(KeptTrend, cohort.id)
    assert stored.key != "another" and stored.points == _replayed(cohort) and stored.points[0].means["KO1"] == 2.0
    points, replayed = _trend_reading(cohort)
    assert not replayed and points[:2] == stored.points


def test_the_trends_check_of_the_months_gone_by_reads_an_index_never_the_evidence_table(app, loaded, make_cohort,
                                                                                         enrol_learner) -> None:
    """Every build of the trend asks whether the evidence recorded before the months gone by
    is still the same rows (``_recorded_before``). The answer comes from
    ``ix_evidence_user_time`` alone, a range of it per learner: reading the evidence table
    made it 112 ms of the page's 124 at 500 learners (237,000 rows, SQLite). PostgreSQL's
    plan is checked at volume in tests/test_explain.py."""
    cohort = make_cohort(months_ago=2)
    learner = enrol_learner(cohort, name="One")
    start = datetime.combine(cohort.start_date, time(12), tzinfo=UTC)
    evidence(learner, {"KO1": 2.0}, when=start + timedelta(days=3), ref="a")
    sent: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        points = trend(db.session, cohort, utcnow())
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    assert [p.partial for p in points] == [False, False, True] and points[0].means["KO1"] == 2.0
    checks = [(s, p) for s, p in sent if s.lstrip().startswith("SELECT count(*)") and "FROM evidence" in s]
    assert len(checks) == 1, [s for s, _p in sent]
    statement, parameters = checks[0]
    replays = [(s, p) for s, p in sent if "evidence.level" in s]  # nothing kept: the months replayed
    assert len(replays) == 1, [s for s, _p in sent]
    if engine.dialect.name == "sqlite":
        plan = " ".join(row[3] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        assert "USING COVERING INDEX ix_evidence_user_time (user_id=? AND recorded_at<?)" in plan, plan
        # The replay reads each learner's rows in the index's order: nothing to sort (a
        # quarter of the statement at 237,000 rows).
        replay, parameters = replays[0]
        plan = " ".join(row[3] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + replay, parameters))
        assert "ix_evidence_user_time" in plan and "TEMP B-TREE" not in plan, plan


def taught_keys(cohort: Any) -> list[str]:
    """The objectives whose teaching has started for ``cohort`` today: an active phase of one
    of their active modules in a month already open on the cohort's dates."""
    month = current_month(cohort.start_date, cohort_today(cohort, utcnow()))
    return [o.key for o in db.session.scalars(select(Objective).where(Objective.retired_at.is_(None)))
            if any(p.month <= month for m in o.modules if m.active for p in m.phases if p.active)]


def test_the_comparison_counts_only_the_objectives_a_cohort_has_been_taught(client, login, loaded, world) -> None:
    """A cohort one month in, with its learner at the bar on everything taught so far, read
    a small share "at proficient or above" because the objectives it has not reached counted
    as not proficient: a younger cohort looked weaker than it is."""
    taught = taught_keys(world.cohort_a2)
    assert 0 < len(taught) < len(taught_keys(world.cohort_a)) <= 11
    evidence(world.learner_a2, dict.fromkeys(taught, 3.0))
    young = compare(db.session, world.org_a, utcnow()).cohorts[0]  # newest first
    assert young.cohort.name == "Alpha 2" and young.learners == 1
    assert young.proficient == 1.0
    login(client, world.org_admin_a)
    page = client.get(f"/organizations/{world.org_a.id}/competency").get_data(as_text=True)
    row = re.search(rf'<tr data-cohort="{world.cohort_a2.id}">.*?</tr>', page, re.S)
    assert row is not None and ">100%</td>" in row.group(0)
    assert "counts each learner on the objectives whose teaching has started" in " ".join(page.split())


def test_compare_shows_the_organizations_cohorts_only(client, login, loaded, world, enrol_learner) -> None:
    evidence(world.learner_a, {"KO1": 3.0, "KO2": 1.0})
    extra = enrol_learner(world.cohort_a, name="Another A")
    evidence(extra, {"KO1": 2.0})
    comparison = compare(db.session, world.org_a, utcnow())
    assert [c.cohort.name for c in comparison.cohorts] == ["Alpha 2", "Alpha 1"]  # newest first, as the organization page
    alpha = comparison.cohorts[1]
    assert alpha.learners == 2 and alpha.at_risk == 2  # both five months in with nothing done
    assert alpha.means[0].level == pytest.approx(2.5) and alpha.means[0].evidence == 2
    assert alpha.means[1].level == 1.0 and alpha.means[2].level is None
    taught = taught_keys(world.cohort_a)
    assert len(taught) == 9  # five months in: two objectives not yet taught count for nothing
    assert alpha.proficient == pytest.approx(1 / (2 * len(taught)))  # one of 2 x 9 learner-objective pairs
    assert [s.complete for s in alpha.completion] == [0, 0, 0]
    login(client, world.org_admin_a)
    page = client.get(f"/organizations/{world.org_a.id}/competency").get_data(as_text=True)
    assert "Alpha 1" in page and "Alpha 2" in page and "Beta 1" not in page
    assert f"/cohorts/{world.cohort_a.id}/competency" in page


def taught_by_month(month: int) -> list[str]:
    """The objectives whose teaching starts in ``month`` of the program or before."""
    return [o.key for o in db.session.scalars(select(Objective).where(Objective.retired_at.is_(None)))
            if any(p.month <= month for m in o.modules if m.active for p in m.phases if p.active)]


def close_account(user: Any) -> None:
    user.deactivated_at = utcnow()
    db.session.commit()


def test_the_comparison_leaves_closed_accounts_out_and_says_how_many(client, login, loaded, world, enrol_learner) -> None:
    """The comparison counted a learner whose account was closed among the cohort's learners
    and in its figures (the heat map's header counts them apart): a cohort with departed
    learners looked larger, and their old evidence moved its means and its share."""
    taught = taught_keys(world.cohort_a)
    evidence(world.learner_a, dict.fromkeys(taught, 1.0))
    gone = enrol_learner(world.cohort_a, name="Gone Learner")
    evidence(gone, dict.fromkeys(taught, 4.0))
    close_account(gone)
    alpha = compare(db.session, world.org_a, utcnow()).cohorts[-1]
    assert alpha.learners == 1 and alpha.closed == 1
    assert alpha.means[0].level == 1.0 and alpha.means[0].evidence == 1  # the closed account's 4.0 left out
    assert alpha.at_bar[0] == 0 and alpha.proficient == 0.0
    assert all(step.total == 1 for step in alpha.completion)
    login(client, world.org_admin_a)
    page = " ".join(client.get(f"/organizations/{world.org_a.id}/competency").get_data(as_text=True).split())
    row = re.search(rf'<tr data-cohort="{world.cohort_a.id}">.*?</tr>', page, re.S)
    assert row is not None and "<td class=\"num\">1 <span class=\"closed-count small\">(and 1 closed account, left out)</span></td>" in row.group(0)
    assert "1 learner with a closed account is left out of every figure" in page
    heat = " ".join(client.get(f"/cohorts/{world.cohort_a.id}/competency").get_data(as_text=True).split())
    assert "0 of the 9 learner-objective pairs" in heat, heat  # the heat map's share: the same figure


def test_the_share_at_the_bar_judges_a_late_joiner_on_their_own_schedule(client, login, loaded, world, enrol_learner) -> None:
    """A learner who joined a five-month-old cohort three weeks ago at their own pace is in
    their own month 1: the share counted them against the nine objectives the cohort has
    been taught, so a late joiner at the bar on everything they had been taught pulled the
    cohort's share down. Each learner now counts the objectives taught on their own dates,
    as the at-risk list judges them; a catch-up joiner is where the cohort is."""
    taught, first = taught_keys(world.cohort_a), taught_by_month(1)
    assert 0 < len(first) < len(taught) == 9
    late = enrol_learner(world.cohort_a, name="Late Own Pace", joined=utcnow() - timedelta(days=21), pace=Pace.OWN_START)
    evidence(late, dict.fromkeys(first, 3.0))
    evidence(world.learner_a, dict.fromkeys(taught[:3], 3.0))
    alpha = compare(db.session, world.org_a, utcnow()).cohorts[-1]
    pairs = len(taught) + len(first)
    assert alpha.learners == 2 and alpha.proficient == pytest.approx((3 + len(first)) / pairs)
    assert alpha.fewer_taught
    login(client, world.org_admin_a)
    page = " ".join(client.get(f"/organizations/{world.org_a.id}/competency").get_data(as_text=True).split())
    assert "for a learner who joined late at their own pace, the one that started when they joined" in page
    row = re.search(rf'<tr data-cohort="{world.cohort_a.id}">.*?</tr>', page, re.S)
    assert row is not None and f">{(3 + len(first)) / pairs * 100:.0f}%<span" in row.group(0)
    heat = " ".join(client.get(f"/cohorts/{world.cohort_a.id}/competency").get_data(as_text=True).split())
    assert f"{3 + len(first)} of the {pairs} learner-objective pairs" in heat, heat
    assert "counts only the objectives taught so far on their own schedule" in heat
    # A catch-up joiner of the same day is counted on everything the cohort has been taught.
    enrol_learner(world.cohort_a, name="Late Catch Up", joined=utcnow() - timedelta(days=21), pace=Pace.CATCH_UP)
    alpha = compare(db.session, world.org_a, utcnow()).cohorts[-1]
    assert alpha.proficient == pytest.approx((3 + len(first)) / (pairs + len(taught)))


def test_own_month_reached_counts_months_from_the_joining_day(loaded, world, enrol_learner) -> None:
    """A learner at their own pace who joined a month ago to the day is in their month 2; a
    day later and they are still in month 1. One who follows the cohort is where it is."""
    cohort = world.cohort_a
    today = cohort_today(cohort, utcnow())
    month_ago = datetime.combine(today - relativedelta(months=1), time(12), tzinfo=ZoneInfo(cohort.timezone))
    on_day = enrol_learner(cohort, name="On The Day", joined=month_ago, pace=Pace.OWN_START)
    day_later = enrol_learner(cohort, name="Day Later", joined=month_ago + timedelta(days=1), pace=Pace.OWN_START)

    def reached(month: int) -> set[int]:
        return set(db.session.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort.id, Enrolment.active,
                                                                      own_month_reached(cohort, today, month))))

    assert reached(2) == {world.learner_a.id, on_day.id}
    assert reached(1) == {world.learner_a.id, on_day.id, day_later.id}
    assert reached(current_month(cohort.start_date, today)) == {world.learner_a.id}
    assert reached(current_month(cohort.start_date, today) + 1) == set()


def test_exports_parse_and_match_the_page(course, client, login) -> None:
    login(client, course["admin"])
    cohort = course["cohort"]
    page = client.get(f"/cohorts/{cohort.id}/competency?sort=KO2&dir=desc").get_data(as_text=True)
    response = client.get(f"/cohorts/{cohort.id}/competency.csv?sort=KO2&dir=desc")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="competency-acme-1-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    document = client.get(f"/cohorts/{cohort.id}/competency.json?sort=KO2&dir=desc").get_json(force=True)
    assert client.get(f"/cohorts/{cohort.id}/competency.xml").status_code == 404

    # Rows in the page's order, with the page's numbers.
    page_rows = re.findall(r'<tr class="[^"]*" data-user="(\d+)">(.*?)</tr>', page, re.S)
    assert [int(uid) for uid, _ in page_rows] == [r["user_id"] for r in document["rows"]]
    assert [r["learner"] for r in rows] == [r["name"] for r in document["rows"]] == ["Ada Strong", "Bo Weak", "Cy Idle", "Di Partial"]
    codes = [o["code"] for o in document["objectives"]]
    for (_uid, html), csv_row, json_row in zip(page_rows, rows, document["rows"], strict=True):
        shown = re.findall(r'data-level="([^"]*)"', html)
        assert shown == [("" if json_row["levels"][c]["level"] is None else str(json_row["levels"][c]["level"])) for c in codes]
        assert [csv_row[f"{c} level"] for c in codes] == shown
        assert [csv_row[f"{c} named level"] for c in codes] == [json_row["levels"][c]["named_level"] for c in codes]
        assert csv_row["at risk"] == ("yes" if json_row["at_risk"] else "no")
        assert csv_row["reasons"] == "; ".join(json_row["reasons"])
    assert rows[1]["reasons"] == "KO2 below proficient after its modules closed"
    assert "KO2 below proficient after its modules closed" in page
    assert document["thresholds"] == {"not yet": 0, "developing": 1.5, "proficient": 2.5, "mastered": 3.5}
    assert sum(v["count"] for v in document["distributions"]["KO1"].values()) == 4
    assert [f["complete"] for f in document["funnel"]] == [2, 0, 0]
    assert {r["name"] for r in document["at_risk"]} == {"Bo Weak", "Cy Idle", "Di Partial"}


def test_an_export_cut_down_to_the_learners_at_risk_or_a_name_is_named_so(course, client, login) -> None:
    """The at-risk list's CSV ("Download the learners at risk") and a filtered map's export
    had the whole cohort's file name: saved beside it, nothing said it was cut down."""
    login(client, course["admin"])
    cohort = course["cohort"]

    def name(query: str) -> str:
        response = client.get(f"/cohorts/{cohort.id}/competency.csv{query}")
        assert response.status_code == 200
        return response.headers["Content-Disposition"]

    assert 'filename="competency-acme-1-' in name("")
    assert 'filename="competency-at-risk-acme-1-' in name("?risk=1&sort=risk&dir=desc")
    assert 'filename="competency-matching-acme-1-' in name("?q=Bo")
    assert 'filename="competency-at-risk-matching-acme-1-' in name("?q=Bo&risk=1")
    rows = list(csv.DictReader(io.StringIO(client.get(f"/cohorts/{cohort.id}/competency.csv?risk=1").get_data(as_text=True))))
    assert {r["learner"] for r in rows} == {"Bo Weak", "Cy Idle", "Di Partial"}
    # a background job's file too (a cohort past EXPORT_BACKGROUND_ABOVE learners)
    asked = client.post(f"/cohorts/{cohort.id}/exports/competency.csv", data={"risk": "1"})
    assert asked.status_code == 302
    made = db.session.scalars(select(Job).order_by(Job.id.desc())).first()
    assert made is not None and made.file_name.startswith("competency-at-risk-acme-1-")


def test_page_shows_legend_numbers_sort_links_and_learner_links(course, client, login) -> None:
    login(client, course["admin"])
    cohort = course["cohort"]
    page = client.get(f"/cohorts/{cohort.id}/competency").get_data(as_text=True)
    assert "Colour key" in page and ">3.8<" in page  # the number is printed in the cell
    assert f'/cohorts/{cohort.id}/competency?sort=KO2&amp;dir=asc' in page
    assert f'/cohorts/{cohort.id}/learners/{course["weak"].id}/progress' in page
    again = client.get(f"/cohorts/{cohort.id}/competency?sort=KO2&dir=asc").get_data(as_text=True)
    assert f'/cohorts/{cohort.id}/competency?sort=KO2&amp;dir=desc' in again and 'aria-sort="ascending"' in again
    trend_page = client.get(f"/cohorts/{cohort.id}/competency/trend").get_data(as_text=True)
    assert "<svg" in trend_page and "Month 8" in trend_page and 'data-objective="KO2"' in trend_page
    cohort_page = client.get(f"/cohorts/{cohort.id}").get_data(as_text=True)
    assert f"/cohorts/{cohort.id}/competency" in cohort_page
    org_page = client.get(f"/organizations/{course['org'].id}").get_data(as_text=True)
    assert f"/organizations/{course['org'].id}/competency" in org_page


def test_the_map_explains_its_mean_and_an_empty_cohort_is_not_a_filter_matching_nobody(course, client, login,
                                                                                          make_cohort) -> None:
    """A cohort with no learners read "No learner matches, sorted over the whole cohort" with
    no filter set; and the mean column, over the objectives with evidence only, said nothing
    of it (a learner with one good grade and nothing else sorted above steady ones)."""
    login(client, course["admin"])
    page = client.get(f"/cohorts/{course['cohort'].id}/competency").get_data(as_text=True)
    assert "The mean is over the objectives the learner has evidence on" in page
    empty = make_cohort(course["org"], "Acme 2", start=utcnow().date() + timedelta(days=30))
    page = client.get(f"/cohorts/{empty.id}/competency").get_data(as_text=True)
    count = re.search(r'<p class="muted small" id="map-count">(.*?)</p>', page, re.S)
    assert count is not None and count.group(1) == "No learners in this cohort yet."
    filtered = client.get(f"/cohorts/{course['cohort'].id}/competency?q=nobody-at-all").get_data(as_text=True)
    assert "No learner matches, sorted over the whole cohort." in filtered


def test_the_at_risk_card_says_what_behind_counts_and_that_no_evidence_counts_too(course, client, login) -> None:
    """The card said "below proficient on an objective whose modules have all closed" (a
    learner with no evidence there is at risk too) and not that days behind count from
    assessed items only, while the learner's page lists unread lessons as overdue."""
    login(client, course["admin"])
    page = client.get(f"/cohorts/{course['cohort'].id}/competency").get_data(as_text=True)
    card = re.search(r'<p class="muted small" id="at-risk-means">(.*?)</p>', page, re.S)
    assert card is not None
    said = " ".join(card.group(1).split())
    assert said.startswith("More than 14 days behind schedule, or below proficient (2.5), or without evidence, on an objective")
    assert "lessons not yet read do not count" in said and "waiting for its grade" in said
    reasons = [r.text for r in by_name(heat_map(db.session, course["cohort"], utcnow()))["Cy Idle"].reasons]
    assert any("has no evidence after its modules closed" in r for r in reasons)  # what "without evidence" stands for


def test_pages_run_a_fixed_number_of_statements(course, client, login, make_cohort, enrol_learner, count_queries) -> None:
    cohort = course["cohort"]
    login(client, course["admin"])
    # The at-risk details: reasons dated from the evidence, and the learners' reviews.
    record_review(db.session, cohort, course["weak"], course["admin"], "Spoke with Bo about KO2.", None, utcnow())
    db.session.commit()
    urls = [f"/cohorts/{cohort.id}/competency?sort=KO2&dir=desc", f"/cohorts/{cohort.id}/competency.csv",
            f"/cohorts/{cohort.id}/competency.json", f"/cohorts/{cohort.id}/competency/trend",
            f"/organizations/{course['org'].id}/competency",
            f"/cohorts/{cohort.id}/learners/{course['weak'].id}/at-risk"]

    def counts() -> list[int]:
        result = []
        for url in urls:
            result.append(count_queries(lambda url=url: client.get(url)))  # noqa: B023
            db.session.expire_all()
        return result

    few = counts()
    start = datetime.combine(cohort.start_date, time(9), tzinfo=UTC)
    for n in range(8):
        # one joined late at their own pace, one whose account is closed: the comparison counts them in SQL too
        learner = (enrol_learner(cohort, name=f"Extra {n}", joined=utcnow() - timedelta(days=40), pace=Pace.OWN_START)
                   if n == 2 else enrol_learner(cohort, name=f"Extra {n}"))
        for month in range(3):
            evidence(learner, {"KO1": 1.0 + n % 3, "SO2": 3.0, "AO3": 2.2}, when=start + relativedelta(months=month), ref=f"m{month}")
        if n % 2:
            do_work(cohort, learner)
        evidence(learner, {"KO2": 0.5}, when=start + relativedelta(months=7), ref="late")  # below the bar, closed
        record_review(db.session, cohort, learner, course["admin"], f"Review of extra {n}.", None, utcnow())
        db.session.commit()
        if n == 3:
            close_account(learner)
    second = make_cohort(course["org"], "Acme 2", months_ago=2)
    evidence(enrol_learner(second, name="Second cohort learner"), {"KO1": 2.0})
    assert counts() == few


def test_a_level_the_learners_own_kpi_figures_alone_set_is_held_under_proficient_on_the_map(course, client,
                                                                                             login) -> None:
    """Cy's KPI figure on target (4.0 on SO1) is all the evidence on SO1: nothing
    staff-checked. The cell had read 3.4 proficient (held only under mastered); it reads
    2.4 developing, held under proficient, with what it needs in its title, for screen
    readers, in the exports and on the staff view, and the key says why. A graded piece of
    work on SO1 releases it."""
    cohort, idle = course["cohort"], course["idle"]
    record(db.session, idle.id, objective("SO1").id, EvidenceSourceName.KPI,
           KpiSource.ref("mlops-deployment-success", utcnow().date().replace(day=1)), 1.0, utcnow())
    db.session.commit()
    heat = heat_map(db.session, cohort, utcnow())
    codes = [c.code for c in heat.columns]
    cell = by_name(heat)["Cy Idle"].cells[codes.index("SO1")]
    needs = "needs one more piece of staff-checked evidence"
    assert (cell.level, cell.name, cell.held, cell.needs) == (2.4, "developing", True, needs)
    assert [(r.user.name, c.code) for r in heat.rows for c, x in zip(heat.columns, r.cells, strict=True) if x.held] == [
        ("Cy Idle", "SO1")]

    login(client, course["admin"])
    page = client.get(f"/cohorts/{cohort.id}/competency").get_data(as_text=True)
    lines = dict(re.findall(r'<tr class="[^"]*" data-user="(\d+)">(.*?)</tr>', page, re.S))
    assert (f'<td class="heat heat-2 held" data-level="2.4" data-held="1" title="{needs} to count as proficient">2.4'
            f'<span class="held-mark" aria-hidden="true">*</span><span class="visually-hidden"> developing</span>'
            f'<span class="visually-hidden">, {needs} to count as proficient</span></td>') in lines[str(idle.id)]
    key = " ".join(page[page.index('id="held-key"'):].split("</p>")[0].split())
    assert ("When evidence no one on the staff checked (the learner's own KPI figures, ratings from stakeholders or "
            "experts they chose) takes a level to proficient with no staff-checked evidence on the objective yet, it is "
            "held just under it, at 2.4.") in key.replace("&#39;", "'")
    csv_rows = {r["learner"]: r for r in csv.DictReader(io.StringIO(
        client.get(f"/cohorts/{cohort.id}/competency.csv").get_data(as_text=True)))}
    assert (csv_rows["Cy Idle"]["SO1 level"], csv_rows["Cy Idle"]["SO1 named level"], csv_rows["Cy Idle"]["SO1 held"]) == (
        "2.4", "developing", "yes")
    staff = client.get(f"/cohorts/{cohort.id}/learners/{idle.id}/progress").get_data(as_text=True)
    assert f"{needs} to count as proficient" in staff and 'data-objective="SO1" data-held="1"' in staff

    record(db.session, idle.id, objective("SO1").id, EvidenceSourceName.RUBRIC, "grade:so1", 0.75, utcnow())
    db.session.commit()
    cell = by_name(heat_map(db.session, cohort, utcnow())).get("Cy Idle").cells[codes.index("SO1")]
    assert (cell.level, cell.name, cell.held, cell.needs) == (3.35, "proficient", False, "")


def test_a_level_held_under_mastered_is_marked_on_the_map_in_the_exports_and_on_the_learners_page(course, client,
                                                                                                 login) -> None:
    """One quiz at 4 holds Di's SO3 at 3.4 (too little evidence to count as mastered); one
    quiz at 3.4 makes Bo's SO4 3.4 on its own. Both cells read 3.4 proficient: only the
    held one is marked, with words for screen readers and a line under the colour key, in
    the CSV ("SO3 held": yes) and the JSON, and on the staff view of the learner, until a
    second piece of evidence makes it mastered. The map and its exports say what the held
    cell needs in the words of the learner's page ("needs one more piece of staff-checked
    evidence"), read with the cell (the page's statements are counted elsewhere)."""
    cohort, partial, weak = course["cohort"], course["partial"], course["weak"]
    evidence(partial, {"SO3": 4.0}, ref="one")
    evidence(weak, {"SO4": 3.4}, ref="one")
    heat = heat_map(db.session, cohort, utcnow())
    codes = [c.code for c in heat.columns]
    rows = by_name(heat)
    held_cell, plain = rows["Di Partial"].cells[codes.index("SO3")], rows["Bo Weak"].cells[codes.index("SO4")]
    assert (held_cell.level, held_cell.name, held_cell.held) == (3.4, "proficient", True)
    assert (plain.level, plain.name, plain.held) == (3.4, "proficient", False)
    assert sum(c.held for r in heat.rows for c in r.cells) == 1
    assert heat.held_under == "mastered"

    login(client, course["admin"])
    page = client.get(f"/cohorts/{cohort.id}/competency").get_data(as_text=True)
    lines = dict(re.findall(r'<tr class="[^"]*" data-user="(\d+)">(.*?)</tr>', page, re.S))
    assert page.count('data-held="1"') == 1
    needs = "needs one more piece of staff-checked evidence"
    assert held_cell.needs == needs and plain.needs == ""
    assert re.search(rf'<td class="heat heat-3 held" data-level="3.4" data-held="1" title="{needs} to count as '
                     rf'mastered">3.4<span class="held-mark" aria-hidden="true">\*</span><span class="visually-hidden"> proficient'
                     rf'</span><span class="visually-hidden">, {needs} to count as mastered</span></td>',
                     lines[str(partial.id)])
    assert '<td class="heat heat-3" data-level="3.4">3.4<span class="visually-hidden"> proficient</span></td>' in lines[str(weak.id)]
    assert 'id="held-key"' in page and "Held: needs more staff-checked evidence to count as the level the evidence reaches" in page

    csv_rows = {r["learner"]: r for r in csv.DictReader(io.StringIO(
        client.get(f"/cohorts/{cohort.id}/competency.csv").get_data(as_text=True)))}
    assert (csv_rows["Di Partial"]["SO3 level"], csv_rows["Di Partial"]["SO3 named level"],
            csv_rows["Di Partial"]["SO3 held"]) == ("3.4", "proficient", "yes")
    assert (csv_rows["Bo Weak"]["SO4 level"], csv_rows["Bo Weak"]["SO4 held"]) == ("3.4", "no")
    assert sum(row[f"{c} held"] == "yes" for row in csv_rows.values() for c in codes) == 1
    document = client.get(f"/cohorts/{cohort.id}/competency.json").get_json(force=True)
    flags = {(r["name"], c): r["levels"][c]["held"] for r in document["rows"] for c in codes}
    assert [pair for pair, flag in flags.items() if flag] == [("Di Partial", "SO3")]
    said = {(r["name"], c): r["levels"][c]["needs"] for r in document["rows"] for c in codes}
    assert {pair: text for pair, text in said.items() if text} == {("Di Partial", "SO3"): needs}

    staff = client.get(f"/cohorts/{cohort.id}/learners/{partial.id}/progress").get_data(as_text=True)
    assert "needs one more piece of staff-checked evidence to count as mastered" in staff
    assert 'data-objective="SO3" data-held="1"' in staff and "held under mastered for want of evidence" in staff
    other = client.get(f"/cohorts/{cohort.id}/learners/{weak.id}/progress").get_data(as_text=True)
    assert "staff-checked evidence to count" not in other and 'data-held="1"' not in other

    evidence(partial, {"SO3": 4.0}, ref="two")  # a second full judgement: mastered
    again = client.get(f"/cohorts/{cohort.id}/competency").get_data(as_text=True)
    assert 'data-held="1"' not in again
    assert "staff-checked evidence to count" not in client.get(f"/cohorts/{cohort.id}/learners/{partial.id}/progress").get_data(as_text=True)


def test_staff_message_exactly_the_learners_at_risk_from_the_heat_map(course, client, login, make_cohort,
                                                                      enrol_learner) -> None:
    """The heat map's at-risk list had no way to reach those learners: the gradebook's
    message action took ticking each one there. The list links to a page with exactly the
    learners at risk (under the map's name or email filter) ticked; its message reaches them
    and nobody else, through the gradebook's message service. A learner no longer at risk is
    not messaged (the answer says so), an id from another cohort is not found, and a message
    without a subject is refused with the form kept."""
    cohort = course["cohort"]
    at_risk = competency_services.at_risk_ids(db.session, cohort, utcnow())
    assert course["strong"].id not in at_risk and {course["weak"].id, course["idle"].id} <= at_risk
    login(client, course["admin"])
    link = f"/cohorts/{cohort.id}/gradebook/message-at-risk"
    assert f'href="{link}"' in client.get(f"/cohorts/{cohort.id}/competency").get_data(as_text=True)
    form = client.get(link).get_data(as_text=True)
    assert set(map(int, re.findall(r'name="learner" value="(\d+)" checked', form))) == at_risk
    assert "Ada Strong" not in form

    def sent_to(subject: str) -> set[int]:
        db.session.expire_all()
        return set(db.session.scalars(select(Notification.user_id).where(Notification.title == f"{cohort.name}: {subject}")))

    refused = client.post(link, data={"learner": [str(i) for i in at_risk], "q": "", "subject": " ", "body": "Call me."})
    assert refused.status_code == 400 and "Write a subject and a message." in refused.get_data(as_text=True)
    assert "Call me." in refused.get_data(as_text=True) and sent_to("") == set()
    shown = Page()  # the refusal is shown by the subject field, which it describes, and in the summary
    shown.feed(refused.get_data(as_text=True))
    subject = shown.controls["subject"]
    assert subject.get("aria-invalid") == "true" and subject.get("aria-describedby") == "at-risk-subject-error-1"
    assert [target for target, text in shown.summary if "Write a subject" in text] == ["#at-risk-subject"]
    sent = client.post(link, data={"learner": [str(i) for i in at_risk], "q": "", "subject": "Let us talk",
                                   "body": "Book a call with me this week."})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/cohorts/{cohort.id}/competency#at-risk")
    assert sent_to("Let us talk") == at_risk

    # Under the map's filter: only the learners at risk whose name or email holds it.
    filtered = client.get(f"/cohorts/{cohort.id}/competency?q=Bo").get_data(as_text=True)
    assert f'href="{link}?q=Bo"' in filtered
    form = client.get(f"{link}?q=Bo").get_data(as_text=True)
    assert set(map(int, re.findall(r'name="learner" value="(\d+)" checked', form))) == {course["weak"].id}
    # Ticked but not at risk (the page was opened before they caught up): not messaged, and told.
    mixed = client.post(link, data={"learner": [str(course["weak"].id), str(course["strong"].id)], "q": "",
                                    "subject": "Next steps", "body": "See you Monday."}, follow_redirects=True)
    assert "Messaged 1; 1 is no longer at risk (Ada Strong)." in mixed.get_data(as_text=True)
    assert sent_to("Next steps") == {course["weak"].id}
    elsewhere = enrol_learner(make_cohort(course["org"], "Acme 2", months_ago=2), name="Eli Elsewhere")
    assert client.post(link, data={"learner": [str(elsewhere.id)], "q": "", "subject": "Hi",
                                   "body": "Hello."}).status_code == 404
    assert sent_to("Hi") == set()


def test_the_heat_map_and_the_comparison_show_one_share_at_the_bar(client, login, loaded, world, enrol_learner) -> None:
    """The comparison's "at proficient or above" pooled the objectives taught so far; the
    heat map showed only each objective's shares, over every objective (those not yet
    taught too), so a reader working the cohort's figure out from it read another number.
    Both pages now show the one figure (``share_at_bar``), saying what it counts."""
    taught = taught_keys(world.cohort_a)
    assert len(taught) == 9
    evidence(world.learner_a, dict.fromkeys(taught[:5], 3.0))
    extra = enrol_learner(world.cohort_a, name="Another A")
    evidence(extra, {taught[0]: 3.6, taught[1]: 1.0})
    alpha = compare(db.session, world.org_a, utcnow()).cohorts[-1]  # the oldest, listed last
    assert alpha.proficient == pytest.approx(6 / 18)  # over every objective it would be 6 / 22
    login(client, world.org_admin_a)
    page = client.get(f"/organizations/{world.org_a.id}/competency").get_data(as_text=True)
    row = re.search(rf'<tr data-cohort="{world.cohort_a.id}">.*?</tr>', page, re.S)
    assert row is not None and ">33%</td>" in row.group(0)
    heat = client.get(f"/cohorts/{world.cohort_a.id}/competency").get_data(as_text=True)
    line = re.search(r'<p[^>]*id="at-bar"[^>]*>(.*?)</p>', heat, re.S)
    assert line is not None, heat
    text = " ".join(line.group(1).split())
    assert "33%" in text and "6 of the 18 learner-objective pairs" in text, text
    assert "9 objectives the cohort has started being taught" in text, text
