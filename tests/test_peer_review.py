"""Peer review: fair hand-out with late submitters, anonymity both ways, completing a
review, instructor reassignment, and peer scores informing (not replacing) the grade."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Submission
from lms.extensions import db
from lms.grading.models import Grade, PeerReview

HANDS_ON = "cs-hands-on-own-operation"  # month 6, two peer reviews each


@pytest.fixture()
def cohort(app: Flask, loaded, make_cohort, make_user):
    teacher = make_user(name="Tom Teacher")
    return make_cohort(months_ago=5, instructors=[teacher]), teacher


@pytest.fixture()
def people(app: Flask, cohort, enrol_learner, login):
    made = {}

    def person(name: str):
        if name not in made:
            user = enrol_learner(cohort[0], name=name)
            client = app.test_client()
            login(client, user)
            made[name] = (user, client)
        return made[name]

    return person


def hand_in(client, text: str) -> None:
    assert client.post(f"/assignments/{HANDS_ON}/work", data={"body": text, "action": "submit"}).status_code == 302


def ask(client) -> None:
    assert client.post(f"/assignments/{HANDS_ON}/peer-reviews").status_code == 302


def live() -> list[PeerReview]:
    db.session.expire_all()
    return db.session.scalars(select(PeerReview).where(PeerReview.status != "cancelled")).all()


def test_late_submitters_do_not_hold_anyone_up(people) -> None:
    a, b, c, d = (people(n) for n in ("Ana", "Ben", "Cleo", "Dev"))
    hand_in(a[1], "Ana's plan")
    ask(a[1])
    assert live() == []  # nothing to review yet, and nobody waits for it
    hand_in(b[1], "Ben's plan")
    ask(b[1])
    ask(a[1])
    hand_in(c[1], "Cleo's plan")
    ask(c[1])
    hand_in(d[1], "Dev's plan")  # the late one
    ask(d[1])
    ask(a[1])
    ask(b[1])
    reviews = live()
    by_author = {}
    submissions = {s.id: s.user_id for s in db.session.scalars(select(Submission))}
    for r in reviews:
        assert submissions[r.submission_id] != r.reviewer_id  # nobody reviews their own work
        by_author.setdefault(submissions[r.submission_id], []).append(r.reviewer_id)
    for user, _ in (a, b, c, d):
        assert 1 <= len(by_author.get(user.id, [])) <= 2, user.name  # everyone is reviewed, nobody more than k
        mine = [r for r in reviews if r.reviewer_id == user.id]
        assert len(mine) <= 2 and len({r.submission_id for r in mine}) == len(mine)
    # The earliest submitters got their reviews before the late one even submitted.
    assert len(by_author[a[0].id]) == 2 and len(by_author[b[0].id]) == 2


def test_reviews_are_anonymous_both_ways_and_reach_the_author(people) -> None:
    author, reviewer = people("Priya Author"), people("Quentin Reviewer")
    hand_in(author[1], "Priya's onboarding plan")
    hand_in(reviewer[1], "Quentin's plan")
    ask(reviewer[1])
    review = next(r for r in live() if r.reviewer_id == reviewer[0].id)
    page = reviewer[1].get(f"/peer-reviews/{review.id}").get_data(as_text=True)
    assert "Priya's onboarding plan" in page and "Priya Author" not in page

    criteria = review.rubric_version.criteria
    incomplete = reviewer[1].post(f"/peer-reviews/{review.id}", data={"comment": "Nice."})
    assert incomplete.status_code == 400 and "choose one of its levels" in incomplete.get_data(as_text=True)
    no_comment = reviewer[1].post(f"/peer-reviews/{review.id}", data={f"level-{c.id}": c.levels[0].id for c in criteria})
    assert no_comment.status_code == 400 and next(r for r in live() if r.id == review.id).status == "assigned"
    huge = reviewer[1].post(f"/peer-reviews/{review.id}", data={f"level-{c.id}": c.levels[0].id for c in criteria}
                            | {"comment": "word " * 2_001})  # past 10,000 characters
    assert huge.status_code == 400 and "Keep the comment under 10,000 characters" in huge.get_data(as_text=True)
    assert ("word " * 2_001).strip() in huge.get_data(as_text=True)  # kept in the form
    assert next(r for r in live() if r.id == review.id).status == "assigned"
    done = {f"level-{c.id}": c.levels[1].id for c in criteria} | {"comment": "Clear steps; add a baseline."}
    assert reviewer[1].post(f"/peer-reviews/{review.id}", data=done).status_code == 302
    listed = reviewer[1].get(f"/assignments/{HANDS_ON}/peer-reviews").get_data(as_text=True)
    assert f'<a href="/peer-reviews/{review.id}">Review 1</a> · done' in listed  # a done review can be read again
    reread = reviewer[1].get(f"/peer-reviews/{review.id}").get_data(as_text=True)
    assert "Clear steps; add a baseline." in reread and f"<dd>{criteria[0].levels[1].title}</dd>" in reread

    feedback = author[1].get(f"/assignments/{HANDS_ON}/peer-reviews").get_data(as_text=True)
    assert "Clear steps; add a baseline." in feedback and "Quentin" not in feedback
    assert author[1].get(f"/peer-reviews/{review.id}").status_code == 404  # not the author's to open


def test_instructor_reassigns_and_peer_scores_inform_the_grade(app: Flask, people, cohort, login, make_user) -> None:
    author, slow, helper = people("Ada Author"), people("Sam Slow"), people("Hal Helper")
    hand_in(author[1], "Ada's work")
    hand_in(slow[1], "Sam's work")
    hand_in(helper[1], "Hal's work")
    ask(slow[1])
    review = next(r for r in live() if r.reviewer_id == slow[0].id and r.submission_id == db.session.scalar(
        select(Submission.id).where(Submission.user_id == author[0].id)))
    teacher = app.test_client()
    login(teacher, cohort[1])
    url = f"/cohorts/{cohort[0].id}/peer-reviews/{review.id}/reassign"
    refused = teacher.post(url, data={"reviewer": author[0].id}, follow_redirects=True)
    assert "cannot review their own work" in refused.get_data(as_text=True)
    # Anybody else's id (a person of no cohort here) is refused without their name.
    stranger = make_user(name="Zed Elsewhere")
    named = teacher.post(url, data={"reviewer": stranger.id}, follow_redirects=True).get_data(as_text=True)
    assert "That person is not a learner of this cohort." in named and "Zed Elsewhere" not in named
    assert teacher.post(url, data={"reviewer": helper[0].id}).status_code == 302
    reviews = live()
    assert not any(r.id == review.id for r in reviews)
    moved = next(r for r in reviews if r.reviewer_id == helper[0].id and r.submission_id == review.submission_id)
    assert slow[1].get(f"/peer-reviews/{review.id}").status_code == 404

    criteria = moved.rubric_version.criteria
    helper[1].post(f"/peer-reviews/{moved.id}", data={f"level-{c.id}": c.levels[0].id for c in criteria} | {"comment": "Strong."})
    page = teacher.get(f"/cohorts/{cohort[0].id}/submissions/{moved.submission_id}").get_data(as_text=True)
    assert "Peer reviews" in page and "Strong." in page and "Hal Helper" in page
    assert db.session.scalar(select(Grade)) is None  # peer scores do not make a grade


def test_asking_for_work_to_review_says_what_it_gave_and_why_nothing(people) -> None:
    """"Get work to review" tells the learner what it did: how many pieces it handed them,
    or why none (their own work not in yet, no classmate's in yet, every classmate's work
    already has its reviewers, or they have all theirs). It said nothing when it gave work, and told a
    learner who had handed in to "submit your own first"."""
    def told(client) -> str:
        answer = client.post(f"/assignments/{HANDS_ON}/peer-reviews", follow_redirects=True)
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    a, b, c, d = (people(n) for n in ("Ana", "Ben", "Cleo", "Dev"))
    assert "Hand in your own work first" in told(a[1])
    hand_in(a[1], "Ana's plan")
    alone = told(a[1])  # nobody else has handed in: not "every piece ... already has its reviewers"
    assert "No classmate has handed in this work yet" in alone and "already has its" not in alone
    for who in (b, c):
        hand_in(who[1], f"{who[0].name}'s plan")
    assert "2 pieces of work to review." in told(a[1])
    assert "You already have your 2 reviews" in told(a[1])
    assert "2 pieces of work to review." in told(b[1])
    assert "2 pieces of work to review." in told(c[1])  # now everyone's work has its two reviewers
    hand_in(d[1], "Dev's plan")  # the late one: everyone else's work is taken
    page = told(d[1])
    assert "No more work to review right now" in page and "already has its 2 reviewers" in page
    assert "submit your own first" not in page


def test_the_author_reads_a_peer_score_out_of_the_rubric_and_the_comment_as_written(people) -> None:
    """"A classmate · 14 points" did not say out of what, and the comment's line breaks
    ran together into one paragraph."""
    author, reviewer = people("Ola Author"), people("Pia Reviewer")
    hand_in(author[1], "Ola's plan")
    hand_in(reviewer[1], "Pia's plan")
    ask(reviewer[1])
    review = next(r for r in live() if r.reviewer_id == reviewer[0].id)
    criteria = review.rubric_version.criteria
    done = {f"level-{c.id}": c.levels[0].id for c in criteria} | {"comment": "Clear steps.\nAdd a baseline."}
    assert reviewer[1].post(f"/peer-reviews/{review.id}", data=done).status_code == 302
    review = next(r for r in live() if r.id == review.id)
    page = author[1].get(f"/assignments/{HANDS_ON}/peer-reviews").get_data(as_text=True)
    assert f"A classmate · {review.score:g} of {review.rubric_version.max_points:g} points" in page
    assert '<p class="plain-text">Clear steps.\nAdd a baseline.</p>' in page
