"""Mastery from evidence: every method against hand-computed cases, and the incremental
update as evidence arrives gives the same numbers as a full rebuild, with when each level
went below the at-risk bar (kept with the record) equal to a replay of the evidence."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask import Flask
from sqlalchemy import select

from lms.catalog.models import Objective
from lms.extensions import db
from lms.progress.methods import DEFAULT_THRESHOLDS, MASTERY_METHODS, MasteryMethod, Point, counted, named_level
from lms.progress.models import Evidence, Mastery
from lms.progress.services import EvidenceError, mastery_changed, method_for, needs_text, rebuild, record, replace_evidence
from lms.progress.sources import UNVOUCHED, rater_of
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
def test_one_piece_of_evidence_never_makes_an_objective_mastered(name: str) -> None:
    """Whatever the method, a level at mastery (3.5 by the shipped thresholds) is held at 3.4,
    proficient, until the counted evidence weighs 2 in all: one stakeholder rating of 5 (weight
    0.75), one expert rating, one instructor rating, had made an objective mastered at once."""
    one = {"n": 1, "mastery_level": 3}  # n times: shown once is enough for the method itself
    assert level(name, [Point(4, weight=0.75)], **one) == 3.4           # a stakeholder's 5 stars, alone
    assert level(name, [Point(4)], **one) == 3.4                        # one full judgement
    assert level(name, [Point(4), Point(4, weight=0.75)], **one) == 3.4  # 1.75
    assert level(name, [Point(4), Point(4, weight=0.5), Point(4, weight=0.5)], **one) == 4.0  # 2.0
    assert level(name, [Point(4), Point(4)], **one) == 4.0              # two full judgements
    assert level(name, [Point(4), Point(4, weight=0), Point(4, weight=0)], **one) == 3.4  # weight 0 is not evidence
    assert level(name, [Point(3.2, weight=0.75)], **one) == 3.2         # below mastery: untouched
    assert level(name, [Point(3.45)], **one) == 3.45                    # just under it: untouched too
    assert level(name, [Point(4)], mastery_min_weight=0, **one) == 4.0  # the rule turned off
    assert level(name, [Point(4), Point(4)], mastery_min_weight=2.5, **one) == 3.4
    assert level(name, [Point(4, weight=0.2)] * 10, mastery_min_weight=2, **one) == 4.0  # 0.2 ten times is 2
    # What the learner reports of themselves (KPI figures) moves the level but is not vouched
    # for: three figures on target (2.25 in all) had made an objective mastered in one sitting
    # (alone they do not even make it proficient: ``test_the_learners_own_kpi_figures_...``).
    assert level(name, [Point(4, weight=0.75, vouched=False)] * 3, **one) == 2.4
    assert level(name, [Point(4), *[Point(4, weight=0.75, vouched=False)] * 4], **one) == 3.4
    assert level(name, [Point(4), Point(4, weight=0.75, vouched=False), Point(4)], **one) == 4.0


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_one_rater_rating_again_is_still_one_judgement(name: str) -> None:
    """The same instructor rating a learner 4 on one objective on two days had counted as two
    full judgements: that instructor alone made it mastered. Their ratings count once toward
    the evidence mastered needs; a second instructor, or graded work, makes it two."""
    one = {"n": 1, "mastery_level": 3}
    assert level(name, [Point(4, rater=7), Point(4, rater=7)], **one) == 3.4
    assert level(name, [Point(4, rater=7)] * 5, **one) == 3.4
    assert level(name, [Point(4, rater=7), Point(4, rater=8)], **one) == 4.0  # two instructors
    assert level(name, [Point(4, rater=7), Point(4, rater=7), Point(4)], **one) == 4.0  # and a graded piece
    method = method_for({"method": name, **one})
    points = [Point(4, rater=7), Point(4, rater=7), Point(4, rater=8)]
    assert list(method.running(points)) == [3.4, 3.4, 4.0]
    assert method.levels_at(points, [1, 2, 3]) == [3.4, 3.4, 4.0]


def test_n_times_counts_one_rater_once_as_their_latest() -> None:
    """Shown n times means n judgements: one instructor rating 4 three times is shown once."""
    three = {"n": 3, "mastery_level": 3, "mastery_min_weight": 0}
    assert level("n_times", [Point(4, rater=7)] * 3, **three) == 2.5      # still below mastery
    assert level("n_times", [Point(4, rater=7), Point(4, rater=8), Point(4)], **three) == 4.0
    # the latest of a rater's ratings stands: a 4 taken back to a 2 is a 2
    assert level("n_times", [Point(4, rater=7), Point(4), Point(2, rater=7)], **three) == 2.0


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_raters_the_learner_chose_never_make_an_objective_mastered_alone(name: str) -> None:
    """Three friendly stakeholders (or experts) rating 5 stars (2.25 in all) had made an
    application objective mastered. The learner picks them, so they move the level but count
    for nothing toward the evidence mastered needs: staff-graded work must carry it."""
    one = {"n": 1, "mastery_level": 3}
    rules = method_for({"method": name, **one})
    stakeholder = Point(4, weight=0.75, vouched="stakeholder" not in UNVOUCHED)
    expert = Point(4, weight=0.75, vouched="expert" not in UNVOUCHED)
    assert not stakeholder.vouched and not expert.vouched
    assert rules.level([stakeholder] * 3) == 2.4  # alone, not even proficient (the test below)
    assert rules.level([stakeholder, expert, stakeholder, expert]) == 2.4
    assert rules.level([Point(4), stakeholder, stakeholder]) == 3.4       # one staff judgement is not two
    assert rules.level([Point(4), stakeholder, Point(4, rater=8)]) == 4.0  # graded work and a rating


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_raters_the_learner_chose_never_make_an_objective_proficient_alone(name: str) -> None:
    """Stakeholders the learner invited (or experts they chose) rating 4 or 5 had made an
    objective proficient (3.4) with no staff-checked evidence on it at all. Until graded work,
    a quiz, a peer review or an instructor's rating is on it, the level is held just under
    proficient (2.4, "developing"); one such piece lifts that hold (mastered still needs its weight)."""
    one = {"n": 1, "mastery_level": 2}
    rules = method_for({"method": name, **one})
    dana, eve = (Point(3, weight=0.75, vouched=False, judge=f"stakeholder:{who}") for who in ("dana", "eve"))
    erin = Point(4, weight=0.75, vouched=False, judge="expert:erin")
    assert (rules.checked_bar, rules.unchecked_at) == (2.5, 2.4)
    assert rules.assess([dana]) == (2.4, True) and rules.missing([dana]) == 1.0
    assert rules.level([dana, eve, erin]) == 2.4
    assert rules.held_under(2.4) == "proficient" and rules.held_under(3.4) == "mastered"
    assert rules.level([Point(2, weight=0.75, vouched=False, judge="stakeholder:dana")]) == 2.0  # below: untouched
    assert rules.assess([Point(3, weight=0.5), dana])[0] >= 2.5                          # a peer review lifts it
    assert rules.level([Point(3, weight=0.5), dana, eve, erin]) < 3.5                      # not to mastered
    assert method_for({"method": name, "mastery_min_weight": 0, **one}).level([dana]) == 3.0
    # The learner's own KPI figures alone are held the same way (``test_the_learners_own_kpi_figures_...``).
    assert rules.level([Point(3, weight=0.75, vouched=False)]) == 2.4
    # Every shortcut agrees.
    points = [dana, eve, Point(3, weight=0.5), erin]
    assert list(rules.running(points)) == [rules.level(points[:end]) for end in range(1, 5)]
    assert rules.levels_at(points, [1, 2, 4]) == [rules.level(points[:cut]) for cut in (1, 2, 4)]


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_the_learners_own_kpi_figures_never_make_an_objective_proficient_alone(name: str) -> None:
    """KPI figures the learner types in (not vouched, no judge) had escaped the hold ratings
    from chosen raters are under: figures meeting their targets made an objective proficient
    (3.4) with nothing staff-checked on it. Any evidence no one on the staff checked, the
    learner's own figures as much as chosen raters' ratings, is held just under proficient
    (2.4) until one staff-checked piece is on the objective; that piece lifts the hold."""
    one = {"n": 1, "mastery_level": 2}
    rules = method_for({"method": name, **one})
    kpi = Point(4, weight=0.75, vouched="kpi" not in UNVOUCHED)  # a month on target
    assert not kpi.vouched and kpi.judge is None and kpi.rater is None
    assert rules.assess([kpi]) == (2.4, True) and rules.missing([kpi]) == 1.0
    assert rules.held_under(rules.level([kpi])) == "proficient"
    assert rules.level([kpi] * 4) == 2.4                                      # however many months
    assert rules.level([Point(2.5, weight=0.75, vouched=False)]) == 2.4        # at the bar: held
    assert rules.level([Point(2.4, weight=0.75, vouched=False)]) == 2.4        # below it: untouched
    assert rules.assess([Point(2.1, weight=0.75, vouched=False)]) == (2.1, False)
    dana = Point(3, weight=0.75, vouched=False, judge="stakeholder:dana")
    assert rules.level([kpi, dana]) == rules.level([dana, kpi]) == 2.4         # figures and chosen raters alike
    assert rules.assess([dana]) == (2.4, True)                                 # chosen raters: as before
    # One graded piece of work lifts it: the level the evidence reaches, held under mastered
    # only while the staff-checked evidence weighs less than the minimum.
    graded, moved = Point(3), Point(3, weight=0.75, vouched=False)  # a month three quarters of the way to target
    assert rules.assess([moved, moved]) == (2.4, True)
    assert rules.assess([moved, moved, graded]) == (3.0, False)
    assert rules.level([graded, kpi]) >= 2.5 and rules.level([graded, kpi, kpi]) < 3.5
    assert rules.level([Point(4), kpi, kpi]) == 3.4 and rules.missing([Point(4), kpi, kpi]) == 1.0  # mastered: 1 of 2
    assert rules.level([Point(4, weight=0), kpi]) == 2.4                        # weight 0 is not staff-checked evidence
    assert method_for({"method": name, "mastery_min_weight": 0, **one}).assess([kpi]) == (4.0, False)  # rule off
    # Every shortcut agrees, the figures first and then the graded piece.
    points = [kpi, kpi, dana, graded, kpi]
    assert list(rules.running(points)) == [rules.level(points[:end]) for end in range(1, 6)]
    assert list(rules.running(points))[:3] == [2.4, 2.4, 2.4]
    assert rules.levels_at(points, [1, 3, 4, 5]) == [rules.level(points[:cut]) for cut in (1, 3, 4, 5)]
    assert rules.levels_at(points, [5, 2]) == [rules.level(points), 2.4]


def test_the_hold_follows_the_programs_thresholds() -> None:
    """Held just under the top threshold, whatever it is: 0.1 under it, or at the band below's
    own bound when that is nearer, so the level never reads as a lower band than it reached."""
    assert method_for({}, {"no": 0, "yes": 3.0}).level([Point(3.6)]) == 2.9
    assert method_for({}, {"no": 0, "nearly": 2.95, "yes": 3.0}).level([Point(3.6)]) == 2.95
    assert method_for({}, {"no": 0, "yes": 3.0}).level([Point(2.95)]) == 2.95
    method = method_for({}, DEFAULT_THRESHOLDS)
    assert method.held_back([Point(4)]) and not method.held_back([Point(4), Point(4)])
    assert not method.held_back([Point(3)]) and not method.held_back([])


def hold_replayed(method: MasteryMethod, points: list[Point]) -> float | None:
    """The rule worked out independently of the methods: combine the counted points, then hold."""
    counted = [p for p in points if p.weight > 0]
    combined = method.combine(counted)
    total = 0.0
    for p in counted:
        total += p.weight if p.vouched else 0.0
    unchecked = all(not p.vouched for p in counted)  # KPI figures, chosen raters: nothing staff-checked
    if combined is None or method.min_weight <= 0:
        return combined
    if unchecked and method.checked_bar is not None and combined >= method.checked_bar:
        return method.unchecked_at
    if combined < method.top or total >= method.min_weight - 1e-9:
        return combined
    return method.held_at


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
@pytest.mark.parametrize("least", [0, 1.5, 2, 3.25])
def test_every_shortcut_keeps_the_hold_as_level_does(name: str, least: float) -> None:
    """Property test: with the rule at several minimums, weights from 0.1 to 1 (sums a float
    leaves a hair off) and thresholds of several shapes, ``running``, ``levels_at`` and
    ``below_since`` give, prefix by prefix, what ``level`` gives, and ``level`` what combining
    the counted points and holding them gives."""
    rng = random.Random(f"hold:{name}:{least}")
    shapes = [DEFAULT_THRESHOLDS, {"no": 0, "yes": 3.0}, {"no": 0, "nearly": 3.45, "yes": 3.5}, {"a": 0, "b": 2, "c": 4}]
    for _ in range(60):
        method = MASTERY_METHODS[name]({"latest_weight": 0.6, "n": 2, "mastery_level": 3, "mastery_min_weight": least},
                                       rng.choice(shapes))
        points = [Point(level=rng.choice((4.0, 3.9, 3.5, round(rng.uniform(0, 4), 2))),
                        weight=rng.choice((0.0, 0.1, 0.2, 0.5, 0.75, 1.0)), vouched=vouched,
                        judge=None if vouched or rng.random() < 0.5 else f"stakeholder:{n}")  # a chosen rater, or a KPI figure
                  for n, vouched in enumerate(rng.random() < 0.7 for _n in range(rng.randint(0, 14)))]
        prefixes = [method.level(points[:end]) for end in range(len(points) + 1)]
        assert prefixes == [hold_replayed(method, points[:end]) for end in range(len(points) + 1)]
        assert list(method.running(points)) == prefixes[1:]
        cuts = sorted(rng.randint(0, len(points)) for _n in range(rng.randint(1, 6)))
        assert method.levels_at(points, cuts) == [prefixes[cut] if cut else None for cut in cuts]
        shuffled = rng.sample(cuts, len(cuts))
        assert method.levels_at(points, shuffled) == [prefixes[cut] if cut else None for cut in shuffled]
        moments = [T0 + timedelta(hours=h) for h in range(len(points))]
        for bar in (2.5, method.held_at, method.top):
            since = None
            for now, moment in zip(prefixes[1:], moments, strict=True):
                since = None if now is None or now >= bar else since or moment
            assert method.below_since(points, moments, bar) == since


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
    # what the learner reports or picks is not vouched for; a rater's ratings count once
    points = [Point(e.level, e.weight, e.source not in UNVOUCHED, rater_of(e.source, e.recorded_by_id)) for e in ordered]
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
    raters = [make_user().id for _ in range(2)]  # a rater's ratings count once
    for i in range(120):
        record(db.session, rng.choice(users), rng.choice(objectives[:5]), rng.choice(sources), f"test:{i}",
               rng.choice([0, 0.25, 0.5, 0.75, 0.875, 1]), T0 + timedelta(hours=i), settings=settings,
               recorded_by_id=rng.choice(raters))
    db.session.commit()
    incremental = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since, m.held)
                   for m in db.session.scalars(select(Mastery))}
    assert rebuild(db.session, T0, settings) == len(incremental)
    db.session.commit()
    rebuilt = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since, m.held)
               for m in db.session.scalars(select(Mastery))}
    assert rebuilt == incremental
    assert sum(count for _, count, _since, _held in rebuilt.values()) == 120
    evidence: dict[tuple[int, int], list[Evidence]] = {}
    for e in db.session.scalars(select(Evidence)):
        evidence.setdefault((e.user_id, e.objective_id), []).append(e)
    replayed = {pair: replayed_below_since(method, settings, found, 2.5) for pair, found in evidence.items()}
    assert {pair: since for pair, (_level, _count, since, _held) in rebuilt.items()} == replayed
    assert any(replayed.values()) and not all(replayed.values())  # some below the bar now, some not
    # held is what the method says of the evidence (kept with the level: the heat map marks it)
    rule = method_for(settings)
    held = {pair: rule.held_back([Point(e.level, e.weight, e.source not in UNVOUCHED, rater_of(e.source, e.recorded_by_id))
                                  for e in sorted(found, key=lambda e: (e.recorded_at, e.id))])
            for pair, found in evidence.items()}
    assert {pair: flag for pair, (_level, _count, _since, flag) in rebuilt.items()} == held


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


@pytest.mark.parametrize("method", sorted(MASTERY_METHODS))
def test_kept_mastery_holds_a_level_on_light_evidence_as_a_rebuild_does(app: Flask, objectives, make_user,
                                                                        method: str) -> None:
    """As evidence arrives the kept row is held under mastered until the evidence weighs 2, and
    a rebuild (``flask lms rebuild-mastery``) gives the same row at each step."""
    settings = {"method": method, "n": 1, "mastery_level": 3}
    user, objective = make_user().id, objectives[0]

    def kept() -> tuple[float, int, datetime | None, bool]:
        db.session.expire_all()
        row = db.session.scalars(select(Mastery).where(Mastery.user_id == user)).one()
        return row.level, row.evidence_count, row.below_since, row.held

    rater = make_user().id
    steps = [("stakeholder", 1.0, (2.4, 1, T0, True)),     # one stakeholder's five stars: held under proficient
             ("peer", 1.0, (3.4, 2, None, True)),          # 0.5: staff-checked, held under mastered
             ("rating", 1.0, (3.4, 3, None, True)),        # 1.5
             ("rating", 1.0, (3.4, 4, None, True)),        # the same instructor again: still 1.5
             ("rubric", 1.0, (4.0, 5, None, False))]       # 2.5: mastered
    for hours, (source, fraction, expected) in enumerate(steps):
        record(db.session, user, objective, source, f"{source}:{hours}", fraction, T0 + timedelta(hours=hours),
               settings=settings, recorded_by_id=rater)
        db.session.commit()
        assert kept() == expected
        rebuild(db.session, T0, settings)
        db.session.commit()
        assert kept() == expected


@pytest.mark.parametrize("name", sorted(MASTERY_METHODS))
def test_a_judges_later_rating_replaces_their_earlier_one(name: str) -> None:
    """The same stakeholder (or outside expert) rating a learner on one objective again had
    counted each rating as more evidence: one friendly person rating three times pulled the
    level three times. Only their latest counts, under every method; another person's rating
    still counts beside it, and the earlier stays on the record (weight kept, superseded)."""
    rules = method_for({"method": name, "n": 1, "mastery_level": 3})
    base = Point(2.0)
    low, high = Point(1.0, 0.75, False, judge="stakeholder:dana"), Point(3.0, 0.75, False, judge="stakeholder:dana")
    other = Point(3.5, 0.75, False, judge="stakeholder:eve")
    assert rules.level([base, low, high]) == rules.level([base, high])
    assert rules.level([base, high, low]) == rules.level([base, low])
    assert rules.level([base, low, other, high]) == rules.level([base, other, high])
    assert counted([base, low, other, high]) == 3 and counted([base, low, high, Point(4, weight=0)]) == 2
    points = [base, low, other, high, Point(1.0), Point(2.5, 0.75, False, judge="stakeholder:eve")]
    assert list(rules.running(points)) == [rules.level(points[:end]) for end in range(1, len(points) + 1)]
    cuts = [1, 3, 4, 6]
    assert rules.levels_at(points, cuts) == [rules.level(points[:cut]) for cut in cuts]
    assert rules.levels_at(points, [6, 2]) == [rules.level(points), rules.level(points[:2])]


def test_n_times_counts_a_judge_once_as_their_latest() -> None:
    """Shown n times is n judgements: one stakeholder answering three links with top marks showed it once."""
    three = {"n": 3, "mastery_level": 3, "mastery_min_weight": 0}
    same = Point(4, 0.75, False, judge="expert:erin")
    assert level("n_times", [same] * 3, **three) == 2.5
    assert level("n_times", [same, Point(4, 0.75, False, judge="expert:ed"), Point(4)], **three) == 4.0


def test_what_a_held_level_misses_is_the_staff_checked_weight_still_to_come() -> None:
    """The pages name what a held level waits for: the counted, vouched weight still short of
    mastery_min_weight. A rubric grade (1) and any number of stakeholder ratings miss 1."""
    rules = method_for({})
    stakeholder = Point(4, 0.75, False, judge="stakeholder:dana")
    assert rules.held_back([Point(4), stakeholder, Point(4, 0.75, False, judge="stakeholder:eve")])
    assert rules.missing([Point(4), stakeholder, Point(4, 0.75, False, judge="stakeholder:eve")]) == 1.0
    # A stakeholder alone: held under proficient, which one piece of staff-checked evidence lifts.
    assert rules.missing([stakeholder]) == 1.0 and rules.missing([Point(4), Point(4, weight=0.5)]) == 0.5
    assert rules.missing([Point(4), Point(4)]) == 0.0
    assert rules.missing([Point(4, rater=7), Point(4, rater=7)]) == 1.0  # one instructor twice: one judgement
    assert needs_text(1.0) == needs_text(0.5) == "needs one more piece of staff-checked evidence"
    assert needs_text(2.0) == "needs 2 more pieces of staff-checked evidence" and needs_text(0) == ""


@pytest.mark.parametrize("method", sorted(MASTERY_METHODS))
def test_superseded_ratings_and_figures_before_joining_rebuild_as_recorded(app: Flask, objectives, make_user,
                                                                           make_cohort, enrol_learner, method: str) -> None:
    """The incremental update and ``flask lms rebuild-mastery`` agree when judges rate again and
    KPI figures for months before the learner joined are on the record."""
    settings = {"method": method, "n": 2, "mastery_level": 3}
    rng = random.Random(11)
    cohort = make_cohort(months_ago=4)
    joined = datetime.now(UTC) - timedelta(days=40)  # joined late: the cohort's first months are before them
    users = [enrol_learner(cohort, joined=joined).id for _ in range(2)] + [enrol_learner(cohort).id]
    start = cohort.start_date.replace(day=1)
    months = [start + relativedelta(months=n) for n in range(5)]
    for i in range(90):
        source = rng.choice(["quiz", "rubric", "stakeholder", "expert", "kpi"])
        judge = f"{source}:{rng.choice('ab')}" if source in ("stakeholder", "expert") else None
        ref = f"kpi:metric-{i}:{rng.choice(months):%Y-%m}" if source == "kpi" else f"test:{i}"
        replace_evidence(db.session, rng.choice(users), source, ref, {rng.choice(objectives[:3]): rng.choice([0, 0.5, 1])},
                         T0 + timedelta(hours=i), settings=settings, judge=judge)
    db.session.commit()
    incremental = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since, m.held)
                   for m in db.session.scalars(select(Mastery))}
    rebuild(db.session, T0, settings)
    db.session.commit()
    rebuilt = {(m.user_id, m.objective_id): (m.level, m.evidence_count, m.below_since, m.held)
               for m in db.session.scalars(select(Mastery))}
    assert rebuilt == incremental
    rows = db.session.scalars(select(Evidence)).all()
    early = [e for e in rows if e.source == "kpi" and e.user_id != users[2] and e.source_ref[-7:] < f"{joined:%Y-%m}"]
    assert early  # some figures before joining were recorded: they count for nothing
    counted_rows = sum(count for _level, count, _since, _held in rebuilt.values())
    assert counted_rows < len(rows)
