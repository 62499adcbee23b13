"""The demo's team assignment is done in teams (issue 12 point 4): ``flask lms demo`` on a
cohort that has reached the team assignment, and the volume generator, form teams of 2-4
among the learners who reached it, hand in one submission per team, grade it once (every
member gets its evidence and counts it done) and leave a few contribution ratings."""

from __future__ import annotations

import itertools

import pytest
import werkzeug.security
from dateutil.relativedelta import relativedelta
from flask import Flask
from sqlalchemy import select

from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Submission
from lms.database import utcnow
from lms.demo import services as demo
from lms.demo.benchmark import build_benchmark
from lms.demo.services import COHORT, TEAM_NAMES, build_demo, demo_activity
from lms.extensions import db
from lms.grading.models import Grade, GradeStatus
from lms.progress.completion import cohort_progress
from lms.progress.models import Evidence
from lms.teams.models import ContributionRating, Team

KEY = "intl-hands-on-entry-plan"




@pytest.fixture(autouse=True)
def _same_salts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The n-th account a test makes gets the same salt in each test, so the suite's
    remembered scrypt hashes the demo's passwords once per worker."""
    salts = itertools.count(1)
    monkeypatch.setattr(werkzeug.security, "gen_salt", lambda length: f"{next(salts):0{length}d}")


def team_rows() -> list[tuple[Team, list[int], Submission]]:
    found = []
    for team in db.session.scalars(select(Team).order_by(Team.id)):
        submission = db.session.get(Submission, team.submission_id)
        assert submission is not None
        found.append((team, [m.user_id for m in team.members], submission))
    return found


def assert_team_work_done(assignment: Assignment, rows: list[tuple[Team, list[int], Submission]]) -> None:
    """Teams of 2-4, one submission each held by a member, graded once; no member has a
    submission of their own; every member's evidence carries the team's grade; ratings only
    between teammates."""
    assert rows
    members = [uid for _, ids, _ in rows for uid in ids]
    assert len(members) == len(set(members)) and all(2 <= len(ids) <= 4 for _, ids, _ in rows)
    own = set(db.session.scalars(select(Submission.user_id).where(Submission.assignment_id == assignment.id)))
    assert own == {s.user_id for _, _, s in rows} and all(s.user_id in ids for _, ids, s in rows)
    grades = {g.submission_id: g for g in db.session.scalars(select(Grade).where(
        Grade.submission_id.in_([s.id for _, _, s in rows]), Grade.status == GradeStatus.RELEASED))}
    assert grades, "some team work is graded"
    for _, ids, submission in rows:
        if submission.id in grades:
            refs = {uid: set(db.session.scalars(select(Evidence.source_ref).where(Evidence.user_id == uid)))
                    for uid in ids}
            assert all(f"grade:{grades[submission.id].id}" in r for r in refs.values())
    ratings = list(db.session.scalars(select(ContributionRating)))
    assert ratings
    team_of = {uid: team.id for team, ids, _ in rows for uid in ids}
    assert all(team_of[r.rater_id] == team_of[r.ratee_id] == r.team_id and r.rater_id != r.ratee_id for r in ratings)


def test_the_demo_does_the_team_assignment_in_teams(loaded: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo cohort that started eleven months ago has reached the team assignment (month 9).
    Kept cheap: seven of the demo's learner profiles (the strong and middle ones who reach it,
    and one falling behind), which is enough for several teams."""
    monkeypatch.setattr(demo, "PROFILES", [*demo.PROFILES[:6], demo.PROFILES[9]])
    build_demo(db.session, today=utcnow().date() - relativedelta(months=6))
    report = demo_activity(db.session, utcnow())
    db.session.commit()
    assert report.months >= 10 and report.teams >= 2 and report.team_ratings > 0
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == KEY))
    rows = team_rows()
    assert_team_work_done(assignment, rows)
    assert {t.name for t, _, _ in rows} == {f"{TEAM_NAMES[n]} {n + 1}" for n in range(len(rows))}
    # every member of a graded team counts it done
    cohort = db.session.scalar(select(Cohort).where(Cohort.name == COHORT))
    members = [uid for _, ids, s in rows if s.status == "released" for uid in ids]
    progress = cohort_progress(db.session, cohort, members, utcnow())
    assert members and all(next(i for i in progress[uid].items if i.key == KEY).done for uid in members)


def test_the_volume_generator_writes_teams(loaded: Flask) -> None:
    build_demo(db.session)
    report = build_benchmark(db.session, 14, 1, utcnow(), lambda _n: None)  # cohort 1 started 11 months ago
    db.session.commit()
    assert report.teams >= 3
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == KEY))
    assert_team_work_done(assignment, team_rows())
