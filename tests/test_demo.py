"""``flask lms demo``: the demo learners' months of real activity (evidence and mastery with
a spread, safe to run twice) and ``--learners N --cohorts C`` benchmark cohorts at volume."""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import werkzeug.security
from click.testing import Result
from flask import Flask
from sqlalchemy import delete, func, insert, select, text

from lms.accounts.models import User
from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.catalog.models import Objective, Phase
from lms.certificates.models import Certificate
from lms.cohorts.models import Cohort, Enrolment
from lms.competency.services import compare
from lms.coursework.models import Assignment, AssignmentKind, Submission
from lms.database import utcnow
from lms.demo import benchmark
from lms.demo import cli as demo_cli
from lms.demo.services import PROFILES, DemoActivity, DemoError, build_demo, demo_organization
from lms.expert.models import ExpertEvaluation
from lms.extensions import db
from lms.grading.models import Grade, PeerReview
from lms.inbox.models import Conversation, Message
from lms.inbox.services import unread_count
from lms.kpi.models import KpiEntry
from lms.learning.services import cohort_today, current_month
from lms.notifications.models import Notification, NotificationEvent
from lms.portfolio.models import Portfolio
from lms.progress.completion import cohort_progress
from lms.progress.models import Evidence, EvidenceSourceName, LessonRead, Mastery
from lms.progress.services import objective_kinds, policy, rebuild
from lms.progress.sources import SOURCES
from lms.simulations.models import SimulationRun

UTC = UTC
DEMO_LEARNERS = [f"learner{n:02d}@demo.lms" for n in range(1, 13)]
COUNTED = (User, Cohort, Enrolment, Attempt, Submission, Grade, PeerReview, LessonRead, KpiEntry, Evidence, Mastery,
           SimulationRun, ExpertEvaluation, Notification, Conversation, Message)


def run(app: Flask, *args: str) -> Result:
    # The n-th account a run makes gets the same salt each run, so the suite's remembered
    # scrypt hashes its password once per worker (15 accounts, about 3 s a run otherwise).
    salts = itertools.count(1)
    with app.app_context(), pytest.MonkeyPatch.context() as patch:  # a session of its own, as on the command line
        patch.setattr(werkzeug.security, "gen_salt", lambda length: f"{next(salts):0{length}d}")
        result = app.test_cli_runner().invoke(args=["lms", "demo", *args])
    db.session.rollback()
    db.session.expire_all()
    return result


def counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) or 0 for model in COUNTED}


def mastery_snapshot() -> dict[tuple[int, int], tuple[float | None, int, datetime | None, bool]]:
    """Each record's level, evidence count, when it went below the at-risk bar and whether it is held under mastered."""
    snapshot = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since, m.held)
                for m in db.session.scalars(select(Mastery))}
    assert any(since for _level, _count, since, _held in snapshot.values())  # some learner is below the bar somewhere
    return snapshot


def user_ids(emails: list[str]) -> dict[str, int]:
    return dict(db.session.execute(select(User.email, User.id).where(User.email.in_(emails))).all())  # type: ignore[arg-type]


def mean_mastery(ids: list[int]) -> dict[int, float]:
    levels: dict[int, list[float]] = defaultdict(list)
    for m in db.session.scalars(select(Mastery).where(Mastery.user_id.in_(ids))):
        levels[m.user_id].append(m.level or 0.0)
    return {uid: sum(v) / len(v) for uid, v in levels.items()}


def credentials(result: Result) -> list[str]:
    return [line.split()[-2] for line in result.output.splitlines() if line.strip().endswith("demo-password-2026")]


# --------------------------------------------------------------------------- the standard demo


def test_demo_learners_get_real_varied_activity_and_a_second_run_adds_nothing(
        loaded: Flask, demo_command: Callable[[], Result]) -> None:
    started = datetime.now(UTC)
    first = demo_command()
    assert first.exit_code == 0, first.output
    assert "Demo activity: 12 learners given 5 months of work" in first.output
    # its mail is queued outside a request: without LMS_BASE_URL its links are bare paths, and it says so
    assert "warning: no site address is configured (LMS_BASE_URL" in first.output
    assert len(credentials(first)) == 15

    ids = user_ids(DEMO_LEARNERS)
    assert len(ids) == 12
    evidence = list(db.session.scalars(select(Evidence).where(Evidence.user_id.in_(ids.values()))))
    # every way the real services turn work into evidence was exercised
    assert {e.source for e in evidence} >= {"quiz", "rubric", "peer", "rating", "kpi", "simulation", "expert"}
    assert "simulation runs" in first.output and "expert ratings" in first.output
    # simulations played to their end and experts' ratings with credentials, through the real services
    assert db.session.scalar(select(func.count()).select_from(SimulationRun).where(
        SimulationRun.user_id.in_(ids.values()), SimulationRun.finished_at.is_not(None))) >= 6
    rated = list(db.session.scalars(select(ExpertEvaluation)))
    assert len(rated) >= 3 and all(e.role and e.organization and e.invite.used_at for e in rated)
    cohort = db.session.scalar(select(Cohort).where(Cohort.name == "Northwind cohort 1"))
    opened = datetime.combine(cohort.start_date, datetime.min.time(), tzinfo=UTC).replace(day=1)
    assert all(opened <= e.recorded_at < started for e in evidence)
    assert len({e.recorded_at.date().replace(day=1) for e in evidence}) >= 4  # spread over the months

    # quizzes were answered page by page and scored; work handed in and released
    attempts = list(db.session.scalars(select(Attempt).where(Attempt.user_id.in_(ids.values()))))
    assert attempts and all(a.finished and a.score is not None for a in attempts)
    assert len({a.percent for a in attempts}) > 5
    learner01 = ids["learner01@demo.lms"]
    mine = list(db.session.scalars(select(Submission).where(Submission.user_id == learner01)))
    assert len(mine) >= 5 and all(s.status == "released" for s in mine)
    assert any(len(s.versions) == 2 for s in mine)  # returned for revision, then resubmitted
    assert db.session.scalar(select(func.count()).select_from(LessonRead).where(LessonRead.user_id == learner01)) >= 8
    assert db.session.scalar(select(func.count()).select_from(PeerReview).join(Submission).where(
        Submission.user_id == learner01, PeerReview.status == "done")) >= 1

    # weekly checks practised: many by the engaged, fewer by those falling behind;
    # their evidence is practice, which counts toward no mastery
    checks = dict(db.session.execute(select(Attempt.user_id, func.count(func.distinct(Attempt.quiz_id)))
                                     .join(Quiz, Quiz.id == Attempt.quiz_id)
                                     .where(Quiz.kind == QuizKind.CHECK, Attempt.submitted_at.is_not(None))
                                     .group_by(Attempt.user_id)).all())
    assert all(checks.get(ids[e], 0) >= 3 for e in DEMO_LEARNERS[:9])  # those on track
    assert sum(checks.get(ids[e], 0) for e in DEMO_LEARNERS[:3]) > 2 * sum(checks.get(ids[e], 0) for e in DEMO_LEARNERS[-3:])
    assert "practice" in {e.source for e in evidence}

    # the instructor finds work to grade: the last month's hand-ins of two strong learners, left
    # ungraded on purpose; beside them only work handed in too lately to be graded yet (grading
    # takes up to six days, and the demo stops an hour before it is built), which the day and
    # hour the demo is built decide (it once held none). Not "the two learners' work is older
    # than six days": how old depends on the length of the month just ended (built in early
    # March, after a February of 28 days, learner03's only such hand-in is 5.1 to 6 days old)
    waiting = db.session.execute(select(User.email, Assignment.phase_id, Submission.submitted_at)
                                 .join(Submission, Submission.user_id == User.id)
                                 .join(Assignment, Assignment.id == Submission.assignment_id)
                                 .outerjoin(Grade, Grade.submission_id == Submission.id)
                                 .where(Submission.status == "submitted", Grade.id.is_(None))).all()
    on_purpose = {"learner02@demo.lms", "learner03@demo.lms"}
    assert on_purpose <= {email for email, _, _ in waiting}
    too_late = started - timedelta(days=6, hours=1)  # handed in after this, no grade had come by the demo's end
    assert all(email in on_purpose or at.replace(tzinfo=UTC) >= too_late for email, _, at in waiting), waiting
    months = {db.session.get_one(Phase, phase).month for _, phase, _ in waiting}
    assert months == {current_month(cohort.start_date, cohort_today(cohort, started)) - 1}

    # the foundation portfolios handed in were made on the portfolio page's terms: released
    # work of the level chosen, a reflection for each objective, the review's text composed
    # from them (they once were a generic hand-in beside an empty portfolio)
    reviews = list(db.session.scalars(select(Submission).join(Assignment).where(
        Assignment.kind == AssignmentKind.PORTFOLIO, Submission.user_id.in_(ids.values()))))
    assert len(reviews) >= 6
    for review in reviews:
        kept = db.session.scalar(select(Portfolio).where(Portfolio.user_id == review.user_id,
                                                         Portfolio.level_id == review.assignment.rubric.level_id))
        assert kept is not None and kept.artifact_ids, review.user_id
        assert set(kept.reflections) == {o.key for o in review.assignment.objectives}
        assert all(f"{code} (" in text for code, text in kept.reflections.items())  # each about its own objective
        chosen = list(db.session.scalars(select(Submission).where(Submission.id.in_(kept.artifact_ids))))
        assert all(s.user_id == review.user_id and s.status == "released" for s in chosen)
        assert "## Reflections" in review.versions[0].body and chosen[0].assignment.title in review.versions[0].body

    # the staff are told what the first run of send-reminders tells them: the work waiting
    # for a grade and the learners at risk (the mail waits in the outbox for deliver-mail)
    instructor = db.session.scalar(select(User).where(User.email == "instructor@demo.lms"))
    told = dict(db.session.execute(select(Notification.event, func.count()).where(Notification.user_id == instructor.id)
                                   .group_by(Notification.event)).all())
    assert told.get(NotificationEvent.AWAITING_GRADING) == 1 and told.get(NotificationEvent.LEARNER_AT_RISK) == 3
    assert "Notices of today:" in first.output and "learner at risk 3" in first.output

    # the inbox shows conversations: the instructor's messages to learners, answered in turn, each
    # side notified; learner01 has the instructor's answer to read, the instructor learner10's reply
    assert "Inbox: 3 conversations" in first.output
    threads = {c.learner_id: c for c in db.session.scalars(select(Conversation))}
    assert set(threads) == {learner01, ids["learner02@demo.lms"], ids["learner10@demo.lms"]}
    assert all(c.started_by_id == instructor.id and c.cohort_id == cohort.id for c in threads.values())
    authors = [m.author_id for m in db.session.scalars(select(Message).where(Message.conversation_id == threads[learner01].id)
                                                       .order_by(Message.id))]
    assert authors == [instructor.id, learner01, instructor.id]
    assert unread_count(db.session, learner01) == 1 and unread_count(db.session, instructor.id) == 1
    assert told.get(NotificationEvent.MESSAGE_REPLY) == 2
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.event == NotificationEvent.MESSAGE, Notification.link.like("/inbox/%"))) == 4

    # a spread: strong learners well above those falling behind, who show up as at risk
    means = mean_mastery(list(ids.values()))
    assert set(means) == set(ids.values())  # everyone has some mastery
    strong = [means[ids[e]] for e in DEMO_LEARNERS[:3]]
    behind = [means[ids[e]] for e in DEMO_LEARNERS[-3:]]
    assert min(strong) >= 3.0 and max(behind) < 2.5
    # well apart as groups. The ratings and KPI figures have draws of their own: while they took
    # the lessons' and quizzes' (whose number depends on the hour the demo is built), a strong
    # learner's mean fell to 2.99 when built at 00:30 UTC on 2026-12-08 and rose to 3.26 by noon.
    # Built at 16 moments over a year since, the strong learners' lowest mean was 3.23, the
    # highest of those falling behind 1.98.
    assert sum(strong) / len(strong) - sum(behind) / len(behind) > 1.0
    # ... and behind schedule, which is what flags them at risk; the strong ones are on track
    progress = cohort_progress(db.session, cohort, list(ids.values()), datetime.now(UTC))
    assert all(progress[ids[e]].behind for e in DEMO_LEARNERS[-3:])
    assert not any(progress[ids[e]].behind for e in DEMO_LEARNERS[:3])

    # mastery was kept current as the evidence arrived: a full rebuild changes nothing
    before = mastery_snapshot()
    rebuild(db.session, datetime.now(UTC))
    assert mastery_snapshot() == before
    db.session.rollback()

    totals = counts()
    second = run(loaded)
    assert second.exit_code == 0, second.output
    assert "already in place for 12 learners; nothing added" in second.output
    assert credentials(second) == credentials(first)
    assert counts() == totals


def test_a_learners_ratings_and_kpi_figures_do_not_change_with_the_hour_the_demo_is_built(loaded: Flask) -> None:
    """They drew from the learner's one sequence after the lessons and quizzes, whose draws
    depend on the hour: a strong learner's mean mastery moved under 3.0 at some hours. Played
    for one strong learner at 00:30 and at 12:40 on 2026-12-08 (a day their draws differed
    then), they are the same."""
    day = date(2026, 12, 8)
    build_demo(db.session, day)
    cohort = db.session.scalar(select(Cohort).where(Cohort.name == "Northwind cohort 1"))
    instructor = db.session.scalar(select(User).where(User.email == "instructor@demo.lms"))
    learner = db.session.scalar(select(User).where(User.email == "learner03@demo.lms"))
    db.session.commit()

    def played(hour: int, minute: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        db.session.begin_nested()
        DemoActivity(db.session, cohort, instructor, datetime.combine(day, time(hour, minute), UTC)
                                   ).run([(learner, PROFILES[2])])
        db.session.flush()
        found = db.session.execute(select(Evidence.objective_id, Evidence.source, Evidence.level, Evidence.recorded_at)
                                   .where(Evidence.user_id == learner.id).order_by(Evidence.id)).all()
        db.session.rollback()
        return ([tuple(row) for row in found if row.source in ("rating", "kpi")],
                [tuple(row) for row in found if row.source not in ("rating", "kpi")])

    (night, night_rest), (noon, noon_rest) = played(0, 30), played(12, 40)
    assert {row[1] for row in night} == {"rating", "kpi"} and len(night) >= 10
    assert night == noon
    assert night_rest != noon_rest  # the hour does move the rest (the lessons, the quizzes)


def test_demo_without_a_course_makes_the_accounts_and_says_why_there_is_no_activity(app: Flask) -> None:
    result = run(app)
    assert result.exit_code == 0, result.output
    assert "flask lms load-content" in result.output
    assert len(credentials(result)) == 15
    assert counts()["Evidence"] == 0


# --------------------------------------------------------------------------- benchmark cohorts


def test_benchmark_cohorts_have_evidence_on_every_objective_from_every_source(loaded: Flask, monkeypatch: Any) -> None:
    ticks: list[int] = []
    real = demo_cli.build_benchmark

    def counting(session: Any, learners: int, cohorts: int, now: datetime, tick: Any) -> Any:
        return real(session, learners, cohorts, now, lambda n: (ticks.append(n), tick(n)))

    monkeypatch.setattr(demo_cli, "build_benchmark", counting)
    started = datetime.now(UTC)
    result = run(loaded, "--learners", "20", "--cohorts", "2")
    assert result.exit_code == 0, result.output
    assert sum(ticks) == 40 and "Benchmark learners" in result.output  # the progress bar, learner by learner
    assert "Benchmark: 2 cohorts" in result.output and "40 learners generated" in result.output
    assert len(credentials(result)) == 15

    cohorts = list(db.session.scalars(select(Cohort).where(Cohort.name.like("Northwind benchmark cohort %"))
                                      .order_by(Cohort.name)))
    assert [c.name for c in cohorts] == ["Northwind benchmark cohort 1", "Northwind benchmark cohort 2"]
    assert cohorts[0].start_date != cohorts[1].start_date  # staggered starts
    for number, cohort in enumerate(cohorts, start=1):
        enrolled = list(db.session.scalars(select(User.email).join(Enrolment, Enrolment.user_id == User.id).where(
            Enrolment.cohort_id == cohort.id, Enrolment.ended_at.is_(None))))
        assert sorted(enrolled) == sorted(f"gen-c{number}-l{n}@demo.lms" for n in range(1, 21))
        assert any(i.email == "instructor@demo.lms" for i in cohort.instructors)

    generated = list(db.session.scalars(select(User.id).where(User.email.like("gen-%"))))
    evidence = list(db.session.scalars(select(Evidence).where(Evidence.user_id.in_(generated))))
    objectives = set(db.session.scalars(select(Objective.id)))
    assert len(objectives) == 11
    assert {e.objective_id for e in evidence} == objectives
    # every source but practice quizzes: the shipped course marks no quiz as practice (checks are not generated)
    assert {e.source for e in evidence} == set(SOURCES) - {EvidenceSourceName.PRACTICE}
    assert "simulation runs" in result.output and "expert ratings" in result.output
    assert {e.user_id for e in evidence} == set(generated)
    assert len(evidence) > 40 * 200  # hundreds per learner, as in a real year
    rules, kinds = policy(db.session), objective_kinds(db.session)
    assert all(e.recorded_at < started and 0 <= e.level <= 4 and e.weight == rules.weight(e.source, kinds[e.objective_id])
               for e in evidence)  # weighed by the program's rules for the objective's kind
    assert {e.weight for e in evidence if e.source == "quiz" and kinds[e.objective_id] == "application"} <= {0.0}
    # the rows the evidence points at exist: graded work, attempts, peer reviews, figures, reads
    grades = {f"grade:{g}" for g in db.session.scalars(select(Grade.id).where(Grade.status == "released"))}
    assert {e.source_ref for e in evidence if e.source in ("rubric", "case_study")} <= grades
    assert counts()["PeerReview"] > 0 and counts()["KpiEntry"] > 0 and counts()["LessonRead"] > 0
    assert db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.user_id.in_(generated))) > 40

    # mastery was rebuilt from all the evidence, and spreads out
    before = mastery_snapshot()
    assert {uid for uid, _ in before} >= set(generated)
    rebuild(db.session, datetime.now(UTC))
    assert mastery_snapshot() == before
    db.session.rollback()
    means = mean_mastery(generated)
    assert max(means.values()) - min(means.values()) > 1.0

    # The certificates their data earns are issued, as the periodic check issues them: a
    # benchmark cohort's "Foundation complete" had nobody certified.
    comparison = compare(db.session, demo_organization(db.session), datetime.now(UTC))
    complete = 0
    for row in comparison.cohorts:
        learners = select(Enrolment.user_id).where(Enrolment.cohort_id == row.cohort.id, Enrolment.active)
        for step in row.completion:
            held = db.session.scalar(select(func.count()).select_from(Certificate).where(
                Certificate.level_id == step.level.id, Certificate.user_id.in_(learners)))
            assert held == step.complete, (row.cohort.name, step.level.key)
            complete += step.complete if row.cohort.name.startswith("Northwind benchmark") else 0
    assert complete > 0 and "issued for levels the demo's learners completed" in result.output, result.output

    totals = counts()
    certificates = db.session.scalar(select(func.count()).select_from(Certificate))
    again = run(loaded, "--learners", "20", "--cohorts", "2")
    assert again.exit_code == 0, again.output
    assert "0 learners generated, 40 already there" in again.output
    assert counts() == totals
    assert "Certificates: none due (every level the demo's learners completed has its certificate)." in again.output
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == certificates

    # past CERTIFY_INLINE benchmark learners the build leaves their certificates to the
    # periodic check (tens of milliseconds a learner: minutes at 100,000), and says so
    benchmark = select(Enrolment.user_id).join(Cohort, Cohort.id == Enrolment.cohort_id).where(
        Cohort.name.startswith("Northwind benchmark"))
    db.session.execute(delete(Certificate).where(Certificate.user_id.in_(benchmark)))
    db.session.commit()
    left = db.session.scalar(select(func.count()).select_from(Certificate))
    monkeypatch.setattr(demo_cli, "CERTIFY_INLINE", 39)
    big = run(loaded, "--learners", "20", "--cohorts", "2")
    assert big.exit_code == 0, big.output
    assert "Over 39 benchmark learners, their certificates are left to the periodic check" in big.output
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == left


ORPHANS = """SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, f.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1]
WHERE c.contype = 'f' AND array_length(c.conkey, 1) = 1 AND c.connamespace = current_schema()::regnamespace"""


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="the row triggers are set aside on PostgreSQL only")
def test_a_volume_build_without_row_triggers_leaves_every_foreign_key_true_and_checked_again(loaded: Flask) -> None:
    """The build copies its rows without their row triggers (the foreign keys' checks) when
    it may: afterwards every row of every table points at a row that exists, and the checks
    are back for everyone else (the setting was the build's transaction's only)."""
    result = run(loaded, "--learners", "12", "--cohorts", "2")
    assert result.exit_code == 0, result.output
    keys = db.session.execute(text(ORPHANS)).all()
    assert ("evidence", "user_id", "users", "id") in keys and ("mastery", "objective_id", "objectives", "id") in keys
    for table, column, target, key in keys:
        orphans = db.session.scalar(text(f'SELECT count(*) FROM {table} t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
                                         f'(SELECT 1 FROM {target} r WHERE r."{key}" = t."{column}")'))
        assert orphans == 0, f"{table}.{column}: {orphans} rows point at no {target}"
    assert db.session.scalar(text("SHOW session_replication_role")) == "origin"
    objective = db.session.scalar(select(Objective.id))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(insert(Evidence).values(user_id=10**9, objective_id=objective, source="rating", source_ref="x",
                                                   level=1.0, weight=1.0, note=""))
    db.session.rollback()


def generated_rows() -> dict[str, int]:
    """Rows of the generated learners in the tables the side connection copies, and in the rest."""
    generated = select(User.id).where(User.email.like("gen-%")).scalar_subquery()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model).where(model.user_id.in_(generated)))
            for model in (Evidence, KpiEntry, SimulationRun, LessonRead, Mastery, Attempt)}


@pytest.fixture
def sides(monkeypatch: Any) -> list[Any]:
    """The side connections the builds open (``benchmark.SideCopier``), as they are made."""
    made: list[Any] = []

    class Recorded(benchmark.SideCopier):
        def __init__(self, engine: Any) -> None:
            super().__init__(engine)
            made.append(self)

    monkeypatch.setattr(benchmark, "SideCopier", Recorded)
    return made


def in_transaction(side: Any) -> bool:
    """Whether the side connection's server process is inside a transaction now."""
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    state = db.session.scalar(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": side.pid})
    return str(state).startswith("idle in transaction")


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="the side connection is PostgreSQL's only")
def test_a_volume_build_that_fails_leaves_nothing_behind_on_either_connection(loaded: Flask, monkeypatch: Any,
                                                                              sides: list[Any]) -> None:
    """The evidence, mastery, KPI figures, simulation runs, grade events and teammates'
    ratings go in on a second connection while the build writes the rest: it ends with the
    build's transaction, so a build that stops on its second chunk leaves no row of its
    learners and no open transaction."""
    real, calls = benchmark.refresh_progress, []

    def failing(session: Any, ids: Any, now: datetime) -> None:
        calls.append(ids)
        if len(calls) == 2:
            raise DemoError("the disk is full")
        real(session, ids, now)

    monkeypatch.setattr(benchmark, "refresh_progress", failing)
    result = run(loaded, "--learners", "12", "--cohorts", "2")
    assert result.exit_code != 0 and "the disk is full" in result.output
    assert len(calls) == 2 and len(sides) == 1  # the first chunk's rows had been copied on both connections
    db.session.rollback()
    assert set(generated_rows().values()) == {0}
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email.like("gen-%"))) == 0
    assert not in_transaction(sides[0])


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="the side connection is PostgreSQL's only")
def test_the_side_connections_rows_are_committed_with_the_build_and_rolled_back_with_it(loaded: Flask,
                                                                                      sides: list[Any]) -> None:
    build_demo(db.session)
    db.session.commit()
    benchmark.build_benchmark(db.session, 6, 1, utcnow(), lambda _n: None)
    assert len(sides) == 1 and in_transaction(sides[0])
    db.session.rollback()  # the caller's unit of work fails after the build returned
    assert set(generated_rows().values()) == {0}
    assert not in_transaction(sides[0])

    started = db.session.scalar(text("SELECT clock_timestamp()"))
    report = benchmark.build_benchmark(db.session, 6, 1, utcnow(), lambda _n: None)
    seen = generated_rows()  # before the commit the build's connection sees its own rows only
    assert seen["Evidence"] == seen["Mastery"] == seen["KpiEntry"] == seen["SimulationRun"] == 0
    # the schedule state reads lessons read and attempts: never on the side
    assert seen["LessonRead"] == report.lessons_read and seen["Attempt"] == report.attempts
    assert len(sides) == 2 and in_transaction(sides[1])
    db.session.commit()
    rows = generated_rows()
    assert all(rows.values()), rows
    assert rows["Evidence"] == report.evidence and rows["KpiEntry"] == report.kpi_figures
    assert rows["SimulationRun"] == report.simulation_runs and rows["LessonRead"] == report.lessons_read
    assert not in_transaction(sides[1])
    # analyzed once both were committed, so the statistics count the side connection's rows too
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    analyzed = db.session.execute(text("SELECT last_analyze, n_live_tup FROM pg_stat_user_tables "
                                       "WHERE relid = 'evidence'::regclass")).one()
    assert analyzed.last_analyze is not None and analyzed.last_analyze > started
    db.session.rollback()


@pytest.mark.parametrize(("args", "message"), [
    (["--learners", "0"], "--learners"),
    (["--learners", "5001"], "--learners"),
    (["--learners", "-3"], "--learners"),
    (["--learners", "10", "--cohorts", "-1"], "--cohorts"),
    (["--cohorts", "2"], "--cohorts needs --learners"),
    (["--learners", "many"], "--learners"),
])
def test_bad_options_are_refused_before_anything_is_written(app: Flask, args: list[str], message: str) -> None:
    result = run(app, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert counts()["User"] == 0


def test_benchmark_without_a_course_is_refused_with_a_reason(app: Flask) -> None:
    result = run(app, "--learners", "5")
    assert result.exit_code == 1
    assert "No course is loaded" in result.output
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email.like("gen-%"))) == 0
