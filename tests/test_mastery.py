"""Mastery from evidence: every method against hand-computed cases, and the incremental
update as evidence arrives gives the same numbers as a full rebuild, with when each level
went below the at-risk bar (kept with the record) equal to a replay of the evidence."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.catalog.models import Objective
from lms.extensions import db
from lms.progress.methods import MASTERY_METHODS, Point, named_level
from lms.progress.models import Evidence, Mastery
from lms.progress.services import EvidenceError, mastery_changed, method_for, rebuild, record
from tests.races import second_waits_for_first

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def level(method: str, points: list[Point], **settings) -> float | None:
    return method_for({"method": method, **settings}).level(points)


def test_decaying_average_by_hand() -> None:
    assert level("decaying_average", []) is None
    assert level("decaying_average", [Point(2)]) == 2
    assert level("decaying_average", [Point(2), Point(4)]) == pytest.approx(3.3)          # .65*4 + .35*2
    assert level("decaying_average", [Point(2), Point(4), Point(1)]) == pytest.approx(1.805)  # .65*1 + .35*3.3
    assert level("decaying_average", [Point(4), Point(2, weight=0.5)]) == pytest.approx(3.35)  # a peer point moves it half as far
    assert level("decaying_average", [Point(2), Point(4)], latest_weight=0.5) == pytest.approx(3.0)


def test_n_times_by_hand() -> None:
    two = {"n": 2, "mastery_level": 3}
    assert level("n_times", [Point(3.5)], **two) == 2.5            # shown once: still below mastery
    assert level("n_times", [Point(3.5), Point(2)], **two) == 2    # best point below mastery
    assert level("n_times", [Point(3.5), Point(2), Point(3)], **two) == 3.25  # shown twice: mean of those
    assert level("n_times", [], **two) is None


def test_highest_and_latest_by_hand() -> None:
    points = [Point(1), Point(3), Point(2)]
    assert level("highest", points) == 3
    assert level("latest", points) == 2


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_running_levels_equal_the_level_of_each_prefix(name: str) -> None:
    """``running`` (the heat map dates "below the bar" with it) gives, point by point, what
    ``level`` gives for the points so far, weight-0 points included (they do not count)."""
    rng = random.Random(name)
    method = MASTERY_METHODS[name]({"latest_weight": 0.6, "n": 2, "mastery_level": 3})
    for _ in range(50):
        points = [Point(level=round(rng.uniform(0, 4), 2), weight=rng.choice((0.0, 0.5, 1.0, 1.0)))
                  for _n in range(rng.randint(0, 12))]
        assert list(method.running(points)) == [method.level(points[:end]) for end in range(1, len(points) + 1)]


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_levels_at_cuts_equal_the_level_of_each_prefix(name: str) -> None:
    """``levels_at`` (a cohort's trend: the level at the end of each month) gives, for each
    cut, what ``level`` gives for that many points; a cut of 0 has no level."""
    rng = random.Random(f"cuts:{name}")
    method = MASTERY_METHODS[name]({"latest_weight": 0.6, "n": 2, "mastery_level": 3})
    for _ in range(50):
        points = [Point(level=round(rng.uniform(0, 4), 2), weight=rng.choice((0.0, 0.5, 1.0, 1.0)))
                  for _n in range(rng.randint(0, 12))]
        cuts = sorted(rng.randint(0, len(points)) for _n in range(rng.randint(1, 6)))
        assert method.levels_at(points, cuts) == [method.level(points[:cut]) if cut else None for cut in cuts]
        shuffled = rng.sample(cuts, len(cuts))  # in any order too
        assert method.levels_at(points, shuffled) == [method.level(points[:cut]) if cut else None for cut in shuffled]


def test_below_since_by_hand() -> None:
    """The moment of the point that last took the level below the bar, while it stays below."""
    method = method_for({"method": "decaying_average"})
    points = [Point(3), Point(1), Point(2), Point(4), Point(0.5)]  # levels 3, 1.7, 1.895, 3.263, 1.467
    moments = [T0 + timedelta(days=d) for d in range(5)]
    assert [method.below_since(points[:end], moments[:end], 2.5) for end in range(1, 6)] == [
        None, moments[1], moments[1], None, moments[4]]
    assert method.below_since(points, moments, 1.0) is None          # never under a lower bar
    assert method.below_since([], [], 2.5) is None
    assert method.below_since([Point(1), Point(1, weight=0)], moments[:2], 2.5) == moments[0]  # weight 0 moves nothing


def replayed_below_since(method: str, settings: dict, evidence: list[Evidence], bar: float) -> datetime | None:
    """Independently of ``running`` and ``below_since``: the level of each prefix, oldest first."""
    ordered = sorted(evidence, key=lambda e: (e.recorded_at, e.id))
    points = [Point(e.level, e.weight) for e in ordered]
    since = None
    for end, e in enumerate(ordered, start=1):
        now = method_for(settings).level(points[:end])
        since = None if now is None or now >= bar else since or e.recorded_at
    return since


def test_named_levels() -> None:
    assert named_level(None) == "no evidence"
    assert named_level(0.4) == "not yet"
    assert named_level(1.5) == "developing"
    assert named_level(3.0) == "proficient"
    assert named_level(3.9) == "mastered"


@pytest.fixture()
def objectives(app: Flask, loaded) -> list[int]:
    return list(db.session.scalars(select(Objective.id).order_by(Objective.position)))


def test_bad_evidence_is_refused(app: Flask, objectives, make_user) -> None:
    user = make_user()
    with pytest.raises(EvidenceError):
        record(db.session, user.id, objectives[0], "gossip", "x", 0.5, T0)
    with pytest.raises(EvidenceError):
        record(db.session, user.id, objectives[0], "quiz", "x", 1.5, T0)
    with pytest.raises(EvidenceError):
        method_for({"method": "vibes"})
    assert db.session.scalar(select(Evidence)) is None


@pytest.mark.parametrize("method", sorted(MASTERY_METHODS))
def test_incremental_updates_equal_a_full_rebuild(app: Flask, objectives, make_user, method: str) -> None:
    settings = {"method": method, "n": 2, "mastery_level": 3}
    rng = random.Random(7)
    users = [make_user().id for _ in range(4)]
    sources = ["quiz", "rubric", "peer", "rating", "stakeholder", "kpi"]
    for i in range(120):
        record(db.session, rng.choice(users), rng.choice(objectives[:5]), rng.choice(sources), f"test:{i}",
               rng.choice([0, 0.25, 0.5, 0.75, 0.875, 1]), T0 + timedelta(hours=i), settings=settings)
    db.session.commit()
    incremental = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since)
                   for m in db.session.scalars(select(Mastery))}
    assert rebuild(db.session, T0, settings) == len(incremental)
    db.session.commit()
    rebuilt = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since)
               for m in db.session.scalars(select(Mastery))}
    assert rebuilt == incremental
    assert sum(count for _, count, _since in rebuilt.values()) == 120
    evidence: dict[tuple[int, int], list[Evidence]] = {}
    for e in db.session.scalars(select(Evidence)):
        evidence.setdefault((e.user_id, e.objective_id), []).append(e)
    replayed = {pair: replayed_below_since(method, settings, found, 2.5) for pair, found in evidence.items()}
    assert {pair: since for pair, (_level, _count, since) in rebuilt.items()} == replayed
    assert any(replayed.values()) and not all(replayed.values())  # some below the bar now, some not


@pytest.mark.parametrize("kept_before", [False, True], ids=["first record", "record kept"])
def test_evidence_recorded_at_once_for_one_objective_counts_both(app: Flask, objectives, make_user,
                                                                 kept_before: bool) -> None:
    """A quiz scored and a grade released for the same learner and objective at the same
    moment, in two requests: the second works the mastery out after the first commits,
    from both points. On PostgreSQL it had read only its own point: it overwrote the
    first's level (a point lost until the next one), or, with no record yet, failed on the
    record the first had just made."""
    user = make_user().id
    objective = objectives[0]
    if kept_before:
        record(db.session, user, objective, "quiz", "earlier", 0.5, T0)
    db.session.commit()

    def recorded(source: str, fraction: float, hours: int) -> Callable[[sa.orm.Session], None]:
        def run(session: sa.orm.Session) -> None:
            record(session, user, objective, source, f"{source}:{hours}", fraction, T0 + timedelta(hours=hours))
        return run

    second_waits_for_first(app, recorded("quiz", 1.0, 1), recorded("rubric", 0.25, 2))
    db.session.expire_all()
    kept = db.session.scalars(select(Mastery).where(Mastery.user_id == user)).one()
    assert kept.evidence_count == (3 if kept_before else 2)
    expected = (kept.level, kept.evidence_count, kept.below_since)
    rebuild(db.session, T0)
    db.session.expire_all()
    again = db.session.scalars(select(Mastery).where(Mastery.user_id == user)).one()
    assert (again.level, again.evidence_count, again.below_since) == expected
    db.session.rollback()


def test_a_change_is_announced_from_the_level_another_request_left(app: Flask, objectives, make_user) -> None:
    """A request that had read a learner's mastery before another request moved it (and
    committed) announces its own change from the level the other left, not from the one
    it had read: else the webhook and the xAPI statement said "from" a stale level, or,
    when the new level equalled the stale one, nothing at all."""
    latest = {"method": "latest"}
    user, objective = make_user().id, objectives[0]
    record(db.session, user, objective, "quiz", "quiz:1", 0.5, T0, settings=latest)
    db.session.commit()
    read = db.session.scalars(select(Mastery).where(Mastery.user_id == user)).one()
    assert read.level == 2.0  # this request has read it

    other = sa.orm.Session(db.engine)
    try:
        record(other, user, objective, "quiz", "quiz:2", 1.0, T0 + timedelta(hours=1), settings=latest)
        other.commit()
    finally:
        other.close()

    announced: list[dict[int, tuple[float | None, float | None]]] = []

    def heard(_user_id: int, **kwargs) -> None:
        announced.append(kwargs["changes"])

    mastery_changed.connect(heard)
    try:
        record(db.session, user, objective, "quiz", "quiz:3", 0.5, T0 + timedelta(hours=2), settings=latest)
    finally:
        mastery_changed.disconnect(heard)
    assert announced == [{objective: (4.0, 2.0)}]
    assert read.level == 2.0 and read.evidence_count == 3
    db.session.rollback()


def test_rebuild_command(app: Flask, objectives, make_user) -> None:
    user = make_user()
    record(db.session, user.id, objectives[0], "quiz", "q:1", 0.5, T0)
    record(db.session, user.id, objectives[0], "rubric", "r:1", 1.0, T0 + timedelta(days=1))
    db.session.commit()
    before = db.session.scalar(select(Mastery.level))
    assert before == pytest.approx(0.65 * 4 + 0.35 * 2)
    result = app.test_cli_runner().invoke(args=["lms", "rebuild-mastery"])
    assert result.exit_code == 0 and "Rebuilt 1 mastery record." in result.output
    db.session.expire_all()
    assert db.session.scalar(select(Mastery.level)) == pytest.approx(before)
