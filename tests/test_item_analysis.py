"""Item analysis that acts (issue 12 point 3): from 20 finished attempts in a cohort the
statistics page flags items that are too easy, too hard or do not discriminate; staff of
the cohort withdraw an item from the running quiz (new attempts no longer draw it) and may
regrade the cohort's finished attempts without it, the evidence following."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lms.assessment import services
from lms.assessment.models import Attempt, ItemWithdrawal, QuestionVersion, Quiz
from lms.database import utcnow, zone_named
from lms.extensions import db
from lms.progress.models import Evidence

KEYS = ["ia-easy", "ia-hard", "ia-split", "ia-graded"]


def single(qid: str, objective: str, pool: str | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"id": qid, "type": "single", "objectives": [objective], "text": f"Question {qid}?",
                         "options": [{"id": o, "text": f"{qid} option {o}", "correct": o == "a"} for o in "abc"]}
    if pool:
        q["pool"] = pool
    return q


def quiz_files(folder: Path) -> None:
    fixed = {
        "id": "ia-quiz", "title": "Item analysis quiz", "kind": "quiz", "module": "mlops", "phase": "foundation",
        "settings": {"shuffle_questions": False, "shuffle_answers": False, "attempts_allowed": 0},
        # Easy and hard count toward KO1, the other two toward SO1.
        "questions": [single("ia-easy", "KO1"), single("ia-hard", "KO1"), single("ia-split", "SO1"),
                      single("ia-graded", "SO1")],
    }
    pooled = {
        "id": "ia-pool-quiz", "title": "Pooled quiz", "kind": "quiz", "module": "mlops", "phase": "foundation",
        "settings": {"shuffle_questions": False, "shuffle_answers": False},
        "pools": [{"id": "bank", "draw": 3}],
        "questions": [single("iap-fixed", "KO1"), *[single(f"iap-bank-{i}", "KO1", "bank") for i in range(1, 5)]],
    }
    (folder / "ia.yml").write_text(yaml.safe_dump(fixed, sort_keys=False))
    (folder / "ia-pool.yml").write_text(yaml.safe_dump(pooled, sort_keys=False))


@pytest.fixture()
def quizzes(app: Flask, tmp_path: Path, load_content) -> SimpleNamespace:
    folder = tmp_path / "quizzes"
    folder.mkdir()
    quiz_files(folder)
    app.config["QUIZZES_DIR"] = folder
    load_content()
    fixed, pooled = services.get_quiz(db.session, "ia-quiz"), services.get_quiz(db.session, "ia-pool-quiz")
    assert fixed is not None and pooled is not None
    return SimpleNamespace(fixed=fixed, pooled=pooled)


def answers_of(i: int, n: int) -> dict[int, str]:
    """Learner i of n: everyone gets the easy item, nobody the hard one, the top half the
    split item and the top three quarters the graded one (so totals rank them by i)."""
    return {0: "a", 1: "b", 2: "a" if i >= n // 2 else "b", 3: "a" if i >= n // 4 else "c"}


def take(quiz: Quiz, user: Any, pages: dict[int, str]) -> Attempt:
    now = utcnow()
    attempt = services.start_attempt(db.session, quiz, user, now)
    for page, option in pages.items():
        services.save_page(db.session, attempt, page, MultiDict({f"p{page}": option}), now)
    services.submit_attempt(db.session, attempt, now)
    db.session.commit()
    return attempt


@pytest.fixture()
def cohort_with(quizzes, make_user, make_org, make_cohort, enrol_learner):
    """A cohort (with its instructor) whose ``n`` learners each finished one attempt at the fixed quiz."""

    def build(n: int) -> SimpleNamespace:
        instructor = make_user(name="Ines Instructor")
        cohort = make_cohort(make_org(), months_ago=1, instructors=[instructor])
        learners = [enrol_learner(cohort, name=f"Learner {i}") for i in range(n)]
        attempts = [take(quizzes.fixed, user, answers_of(i, n)) for i, user in enumerate(learners)]
        return SimpleNamespace(cohort=cohort, instructor=instructor, learners=learners, attempts=attempts,
                               url=f"/cohorts/{cohort.id}/quizzes/ia-quiz/statistics",
                               withdraw=f"/cohorts/{cohort.id}/quizzes/ia-quiz/withdraw")

    return build


def keys_in(attempt: Attempt) -> list[str]:
    ids = [page["version"] for page in attempt.layout]
    versions = {v.id: v for v in db.session.scalars(select(QuestionVersion).where(QuestionVersion.id.in_(ids)))}
    return [versions[i].question.key for i in ids]


def quiz_evidence(user_id: int) -> dict[str, float]:
    db.session.expire_all()
    rows = db.session.scalars(select(Evidence).where(Evidence.user_id == user_id, Evidence.source == "quiz"))
    return {e.objective.key: e.level for e in rows}


# --------------------------------------------------------------------------- flags


def test_twenty_attempts_flag_easy_hard_and_non_discriminating_items(quizzes, cohort_with) -> None:
    g = cohort_with(20)
    stats = services.quiz_statistics(db.session, quizzes.fixed, g.cohort)
    assert stats.attempts == 20 and stats.flagged
    by_key = {q.key: q for q in stats.questions}
    assert by_key["ia-easy"].facility == 1.0 and by_key["ia-easy"].discrimination == 0.0
    assert [f.name for f in by_key["ia-easy"].flags] == ["too easy", "does not discriminate"]
    assert by_key["ia-hard"].facility == 0.0
    assert [f.name for f in by_key["ia-hard"].flags] == ["too hard", "does not discriminate"]
    # The split item: half right, all of the best 27% and none of the weakest.
    assert (by_key["ia-split"].facility, by_key["ia-split"].discrimination, by_key["ia-split"].flags) == (0.5, 1.0, [])
    assert (by_key["ia-graded"].facility, by_key["ia-graded"].discrimination, by_key["ia-graded"].flags) == (0.75, 1.0, [])


def test_the_thresholds_are_strict() -> None:
    assert services.item_flags(0.95, 0.1) == [] and services.item_flags(0.2, 0.5) == []
    assert services.item_flags(0.951, 0.5) == [services.TOO_EASY]
    assert services.item_flags(0.199, 0.5) == [services.TOO_HARD]
    assert services.item_flags(0.5, 0.099) == [services.NO_DISCRIMINATION]
    assert services.item_flags(None, None) == []


def test_the_page_shows_flags_with_their_explanation(cohort_with, client, login) -> None:
    g = cohort_with(20)
    login(client, g.instructor)
    page = client.get(g.url).get_data(as_text=True)
    assert "upper–lower index" in page and "best 27% of attempts" in page
    easy = re.search(r"<code>ia-easy</code>.*?</tr>", page, re.S).group(0)
    assert ">too easy</span>" in easy and ">does not discriminate</span>" in easy
    assert "More than 95% of the points were scored" in page
    split = re.search(r"<code>ia-split</code>.*?</tr>", page, re.S).group(0)
    assert 'class="flag"' not in split


def test_below_twenty_attempts_nothing_is_flagged(quizzes, cohort_with, client, login) -> None:
    g = cohort_with(19)
    stats = services.quiz_statistics(db.session, quizzes.fixed, g.cohort)
    assert stats.attempts == 19 and not stats.flagged
    assert all(q.flags == [] for q in stats.questions)
    login(client, g.instructor)
    page = client.get(g.url).get_data(as_text=True)
    assert "appear from 20 finished attempts" in page and "(19 so far)" in page
    assert 'class="flag"' not in page


def test_the_statistics_page_sends_as_many_queries_for_25_attempts_as_for_5(quizzes, cohort_with, client, login, count_queries) -> None:
    small, large = cohort_with(5), cohort_with(25)
    # A withdrawn item (program-wide: both pages list it) costs no query per row either.
    services.withdraw_item(db.session, quizzes.fixed, small.cohort, "ia-hard", "Key wrong.", small.instructor, utcnow())
    db.session.commit()
    counts = []
    for g in (small, large):
        client.post("/logout")
        login(client, g.instructor)
        assert client.get(g.url).status_code == 200
        counts.append(count_queries(lambda g=g: client.get(g.url)))
    assert counts[0] == counts[1]


# --------------------------------------------------------------------------- withdrawing


def test_withdrawn_item_is_not_drawn_by_new_attempts_and_scored_attempts_keep_their_points(
        quizzes, cohort_with, enrol_learner, client, login) -> None:
    g = cohort_with(4)
    before = [(a.id, a.score, a.max_score) for a in g.attempts]
    in_progress = services.start_attempt(db.session, quizzes.fixed, enrol_learner(g.cohort), utcnow())
    db.session.commit()
    login(client, g.instructor)
    done = client.post(g.withdraw, data={"item": "ia-easy", "reason": "Everyone gets it: it gives the answer away."})
    assert done.status_code == 302 and done.headers["Location"].endswith(g.url + "#items")
    db.session.expire_all()
    withdrawal = db.session.scalar(select(ItemWithdrawal))
    assert withdrawal.question.key == "ia-easy" and withdrawal.withdrawn_by_id == g.instructor.id
    assert withdrawal.cohort_id == g.cohort.id and withdrawal.reason == "Everyone gets it: it gives the answer away."
    assert withdrawal.withdrawn_at is not None and withdrawal.regraded_at is None and withdrawal.regraded_attempts == 0
    # Scored attempts keep their points; the attempt in progress keeps what it drew.
    assert [(a.id, a.score, a.max_score) for a in (db.session.get(Attempt, i) for i, _, _ in before)] == before
    assert "ia-easy" in keys_in(db.session.get(Attempt, in_progress.id))
    # A new attempt no longer draws it (hard missed, split right, graded missed).
    fresh = take(quizzes.fixed, enrol_learner(g.cohort), {0: "b", 1: "a", 2: "c"})
    assert keys_in(fresh) == ["ia-hard", "ia-split", "ia-graded"]
    assert (fresh.score, fresh.max_score) == (1, 3)
    assert [q.key for q, _ in services.current_versions(db.session, quizzes.fixed)] == ["ia-hard", "ia-split", "ia-graded"]
    page = client.get(g.url).get_data(as_text=True)
    assert "Item ia-easy withdrawn: new attempts no longer draw it." in page
    at = withdrawal.withdrawn_at.astimezone(zone_named(g.instructor.timezone))  # when, in the instructor's time zone
    assert f"<code>ia-easy</code> · {at:%d %b %Y, %H:%M} {at.tzname()} by Ines Instructor" in page
    row = re.search(r"<code>ia-easy</code>.*?</tr>", page, re.S).group(0)
    assert "Withdrawn" in row and "Ines Instructor" in row and "attempts already scored keep its points" in page


def test_the_withdrawn_items_row_gives_the_day_in_the_viewers_time_zone(quizzes, cohort_with, client, login) -> None:
    # The row said the UTC day: withdrawn late in the evening in London, a day behind for
    # an instructor in Kiritimati (UTC+14), where the list below it said the next day.
    g = cohort_with(2)
    g.instructor.timezone = "Pacific/Kiritimati"
    db.session.commit()
    moment = utcnow().replace(hour=20, minute=30, second=0, microsecond=0)
    services.withdraw_item(db.session, quizzes.fixed, g.cohort, "ia-easy", "Gives it away.", g.instructor, moment)
    db.session.commit()
    login(client, g.instructor)
    page = client.get(g.url).get_data(as_text=True)
    row = re.search(r"<code>ia-easy</code>.*?</tr>", page, re.S).group(0)
    local = moment.astimezone(zone_named("Pacific/Kiritimati"))
    assert local.date() != moment.date()
    assert f"<strong>Withdrawn</strong> {local:%d %b %Y} by Ines Instructor" in row, row


def test_a_pool_draws_what_it_still_can(quizzes, make_cohort, enrol_learner, make_user) -> None:
    cohort = make_cohort(months_ago=1)
    for key in ("iap-bank-1", "iap-bank-2"):
        services.withdraw_item(db.session, quizzes.pooled, cohort, key, "Ambiguous.", make_user(), utcnow())
    attempt = services.start_attempt(db.session, quizzes.pooled, enrol_learner(cohort), utcnow())
    assert keys_in(attempt) == ["iap-fixed", "iap-bank-3", "iap-bank-4"] and attempt.max_score == 3
    db.session.commit()


def test_regrade_rescores_the_cohorts_finished_attempts_and_the_evidence_follows(
        quizzes, cohort_with, make_cohort, make_org, enrol_learner, client, login) -> None:
    g = cohort_with(4)
    other = make_cohort(make_org(), months_ago=1)  # another cohort's attempt is not regraded
    theirs = take(quizzes.fixed, enrol_learner(other), answers_of(3, 4))
    top = g.attempts[3]  # easy, split and graded right: 3 of 4
    assert (top.score, top.max_score) == (3, 4)
    learner = g.learners[3]
    # KO1: easy (right) and hard (wrong), a half; SO1: both right.
    assert quiz_evidence(learner.id) == {"KO1": 2.0, "SO1": 4.0}
    login(client, g.instructor)
    done = client.post(g.withdraw, data={"item": "ia-easy", "reason": "Gives the answer away.", "regrade": "y"})
    assert done.status_code == 302
    assert "4 finished attempts of this cohort rescored without it." in client.get(g.url).get_data(as_text=True)
    db.session.expire_all()
    withdrawal = db.session.scalar(select(ItemWithdrawal))
    assert withdrawal.regraded_at is not None and withdrawal.regraded_attempts == 4
    top = db.session.get(Attempt, top.id)
    assert (top.score, top.max_score, top.percent) == (2, 3, 66.67)
    assert "ia-easy" not in keys_in(top)
    assert [(a.score, a.max_score) for a in (db.session.get(Attempt, a.id) for a in g.attempts)] == [(0, 3), (1, 3), (2, 3), (2, 3)]
    # KO1 now rests on the hard item alone, which the learner missed.
    assert quiz_evidence(learner.id) == {"KO1": 0.0, "SO1": 4.0}
    theirs = db.session.get(Attempt, theirs.id)
    assert (theirs.score, theirs.max_score) == (3, 4) and "ia-easy" in keys_in(theirs)


# --------------------------------------------------------------------------- refusals


def test_refusals_give_a_clear_message_and_change_nothing(quizzes, cohort_with, client, login) -> None:
    g = cohort_with(2)
    login(client, g.instructor)
    unknown = client.post(g.withdraw, data={"item": "no-such-item", "reason": "Typo."})
    assert unknown.status_code == 400 and "This quiz has no item &#39;no-such-item&#39;." in unknown.get_data(as_text=True)
    other_quiz = client.post(g.withdraw, data={"item": "iap-fixed", "reason": "Not this quiz's."})
    assert other_quiz.status_code == 400 and "This quiz has no item" in other_quiz.get_data(as_text=True)
    no_reason = client.post(g.withdraw, data={"item": "ia-easy", "reason": "  "})
    assert no_reason.status_code == 400 and "Say why the item is withdrawn." in no_reason.get_data(as_text=True)
    assert db.session.scalar(select(ItemWithdrawal)) is None
    assert client.post(g.withdraw, data={"item": "ia-easy", "reason": "Too easy."}).status_code == 302
    again = client.post(g.withdraw, data={"item": "ia-easy", "reason": "Again.", "regrade": "y"})
    assert again.status_code == 400 and "was already withdrawn on" in again.get_data(as_text=True)
    db.session.expire_all()
    assert [w.reason for w in db.session.scalars(select(ItemWithdrawal))] == ["Too easy."]
    assert all(db.session.get(Attempt, a.id).max_score == 4 for a in g.attempts)  # the refused regrade did nothing
    assert client.post(f"/cohorts/{g.cohort.id}/quizzes/no-such-quiz/withdraw",
                       data={"item": "ia-hard", "reason": "x"}).status_code == 404


def test_only_the_cohorts_staff_may_withdraw(quizzes, cohort_with, make_user, make_cohort, enrol_learner, client, login) -> None:
    g = cohort_with(1)
    stranger = make_user()
    make_cohort(months_ago=1, instructors=[stranger])
    for user, status in ((g.learners[0], 403), (stranger, 404)):
        client.post("/logout")
        login(client, user)
        assert client.post(g.withdraw, data={"item": "ia-easy", "reason": "No."}).status_code == status
    assert db.session.scalar(select(ItemWithdrawal)) is None
