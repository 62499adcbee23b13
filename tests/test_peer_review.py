"""Peer review: fair hand-out with late submitters, anonymity both ways, completing a
review, instructor reassignment, and peer scores informing (not replacing) the grade."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Rubric, Submission
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
        # Everyone is reviewed, nobody past k by more than one: the late one (Dev), who found
        # every other piece with its two reviewers, reviews the pieces with the fewest.
        assert 1 <= len(by_author.get(user.id, [])) <= 3, user.name
        mine = [r for r in reviews if r.reviewer_id == user.id]
        assert len(mine) == 2 and len({r.submission_id for r in mine}) == len(mine)  # everyone can do their k
    # The earliest submitters got their reviews before the late one even submitted.
    assert len(by_author[a[0].id]) >= 2 and len(by_author[b[0].id]) >= 2


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
    """"Get work to review" tells the learner what it did: how many pieces it handed them
    (and why to work that had its reviewers already), or why none (their own work not in
    yet, nobody else's in yet, or they have all theirs). It said nothing when it gave work, and told a
    learner who had handed in to "submit your own first"."""
    def told(client) -> str:
        answer = client.post(f"/assignments/{HANDS_ON}/peer-reviews", follow_redirects=True)
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    a, b, c, d = (people(n) for n in ("Ana", "Ben", "Cleo", "Dev"))
    assert "Hand in your own work first" in told(a[1])
    hand_in(a[1], "Ana's plan")
    assert "No more work to review right now: no classmate has handed in theirs yet" in told(a[1])
    for who in (b, c):
        hand_in(who[1], f"{who[0].name}'s plan")
    assert "2 pieces of work to review." in told(a[1])
    assert "You already have your 2 reviews" in told(a[1])
    assert "2 pieces of work to review." in told(b[1])
    assert "2 pieces of work to review." in told(c[1])  # now everyone's work has its two reviewers
    hand_in(d[1], "Dev's plan")  # the late one: everyone else's work has its reviewers
    page = told(d[1])  # they get their two all the same, and are told why those
    assert "2 pieces of work to review. Every classmate&#39;s work already had its 2 reviewers" in page
    assert "submit your own first" not in page
    assert "You already have your 2 reviews" in told(d[1])


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


def submission_of(user) -> int:
    return db.session.scalar(select(Submission.id).where(Submission.user_id == user.id))


def reviewers_of(user) -> list[int]:
    return sorted(r.reviewer_id for r in live() if r.submission_id == submission_of(user))


def review(client, r: PeerReview) -> None:
    criteria = r.rubric_version.criteria
    done = {f"level-{c.id}": c.levels[1].id for c in criteria} | {"comment": "Clear; add a baseline."}
    assert client.post(f"/peer-reviews/{r.id}", data=done).status_code == 302


def page(client) -> str:
    return client.get(f"/assignments/{HANDS_ON}/peer-reviews").get_data(as_text=True)


@pytest.fixture()
def reviewed(people):
    """Ana, Ben and Cleo hand in and review each other (two each: everyone's work has its
    two reviewers); Dev hands in after that."""
    a, b, c, d = (people(n) for n in ("Ana", "Ben", "Cleo", "Dev"))
    for who in (a, b, c):
        hand_in(who[1], f"{who[0].name}'s plan")
    for who in (a, b, c):
        ask(who[1])
    assert all(len(reviewers_of(who[0])) == 2 for who in (a, b, c))
    hand_in(d[1], "Dev's plan")
    return a, b, c, d


def test_a_learner_who_hands_in_late_gets_their_reviews_from_the_work_with_the_fewest(people, reviewed) -> None:
    """Every classmate's work had its two reviewers when Dev handed in: Dev was told "no more
    work" and could never do their part. Now they get two, from the work with the fewest
    reviews (each one past k before any gets two past), never their own, never one twice."""
    a, b, c, d = reviewed
    ask(d[1])
    mine = [r for r in live() if r.reviewer_id == d[0].id]
    assert len(mine) == 2 and len({r.submission_id for r in mine}) == 2
    assert submission_of(d[0]) not in {r.submission_id for r in mine}
    assert sorted(len(reviewers_of(who[0])) for who in (a, b, c)) == [2, 3, 3]
    listed = page(d[1])
    assert "Review 2</a> · to do" in listed and "0 of your 2 reviews done" in listed
    assert "Get work to review" not in listed  # their two are given
    e = people("Eve")  # later still: Dev's work (none yet) first, then the one piece still at two
    hand_in(e[1], "Eve's plan")
    ask(e[1])
    assert len(reviewers_of(d[0])) == 1
    assert sorted(len(reviewers_of(who[0])) for who in (a, b, c)) == [3, 3, 3]  # none at four while one had two


def test_a_learner_whose_reviews_are_done_may_review_one_more_of_the_work_short_of_reviewers(people, reviewed) -> None:
    """Dev's own work had nobody to review it: classmates who had done their two never asked
    again. A learner whose reviews are done is offered "Review one more" while some work is
    short of reviewers (told how many pieces wait); the extra is optional, one at a time,
    and never takes work past its k."""
    a, b, c, d = reviewed
    ask(d[1])
    assert reviewers_of(d[0]) == []
    assert "Review one more" not in page(a[1])  # Ana's own two are not done yet
    refused = a[1].post(f"/assignments/{HANDS_ON}/peer-reviews/one-more", follow_redirects=True).get_data(as_text=True)
    assert "Do your 2 reviews first" in refused and reviewers_of(d[0]) == []
    for who in (a, b, c):
        for r in [r for r in live() if r.reviewer_id == who[0].id]:
            review(who[1], r)
    offer = page(a[1])
    assert "Review one more" in offer and "1 piece of classmates' work waits for reviewers" in offer
    taken = a[1].post(f"/assignments/{HANDS_ON}/peer-reviews/one-more")
    extra = next(r for r in live() if r.reviewer_id == a[0].id and r.kind == "extra")
    assert extra.submission_id == submission_of(d[0]) and taken.headers["Location"].endswith(f"/peer-reviews/{extra.id}")
    listed = page(a[1])
    assert "2 of your 2 reviews done" in listed and "Extra review 1</a> · optional, not done yet" in listed
    assert "to do" not in listed and "Review one more" not in listed  # optional, and one at a time
    again = a[1].post(f"/assignments/{HANDS_ON}/peer-reviews/one-more", follow_redirects=True).get_data(as_text=True)
    assert "Finish the extra review you have first" in again
    assert "Dev's plan" in a[1].get(f"/peer-reviews/{extra.id}").get_data(as_text=True)
    assert "An extra review you offered: optional." in a[1].get(f"/peer-reviews/{extra.id}").get_data(as_text=True)
    b[1].post(f"/assignments/{HANDS_ON}/peer-reviews/one-more")  # Dev's work is still one short
    assert reviewers_of(d[0]) == sorted([a[0].id, b[0].id])
    assert "Review one more" not in page(c[1])  # nothing waits now
    nothing = c[1].post(f"/assignments/{HANDS_ON}/peer-reviews/one-more", follow_redirects=True).get_data(as_text=True)
    assert "Every classmate&#39;s work has its 2 reviewers now: no extra review is needed" in nothing
    assert len(reviewers_of(d[0])) == 2  # never past k
    review(a[1], extra)  # an extra done counts for the work like any other review
    assert "Clear; add a baseline." in page(d[1])


def test_the_grading_page_gives_a_peer_score_out_of_the_rubric(app: Flask, reviewed, cohort, login) -> None:
    """The grader read a bare "3" for a classmate's review: out of 4, or of 20? It says "of"
    the rubric's points, as the learner's own page of reviews received does."""
    a, b, _c, _d = reviewed
    done = next(r for r in live() if r.reviewer_id == b[0].id and r.submission_id == submission_of(a[0]))
    review(b[1], done)
    db.session.expire_all()
    done = db.session.get(PeerReview, done.id)
    teacher = app.test_client()
    login(teacher, cohort[1])
    page = teacher.get(f"/cohorts/{cohort[0].id}/submissions/{submission_of(a[0])}").get_data(as_text=True)
    row = page[page.index("Clear; add a baseline.") - 300:page.index("Clear; add a baseline.")]
    assert f"<td>{done.score:g} of {done.rubric_version.max_points:g}</td>" in row


def test_the_instructor_sees_the_work_short_of_reviewers_and_gives_it_one(app: Flask, people, reviewed, cohort, login) -> None:
    """The instructor had no way to know that Dev's work had no reviewer, nor to give it
    one. The assignment's peer review page lists the cohort's work, the pieces short of
    their k first, and gives one a reviewer: a learner of the cohort who has handed in,
    not its author, not one reviewing it already (the checks of reassigning)."""
    a, b, c, d = reviewed
    eve = people("Eve")  # enrolled, a draft saved and not handed in
    assert eve[1].post(f"/assignments/{HANDS_ON}/work", data={"body": "Eve's draft", "action": "save"}).status_code == 302
    teacher = app.test_client()
    login(teacher, cohort[1])
    url = f"/cohorts/{cohort[0].id}/assignments/{HANDS_ON}/peer-reviews"
    shown = teacher.get(url).get_data(as_text=True)
    assert "1 piece of work is short of 2 reviewers." in shown
    row = shown[shown.index('<tr class="peer-short">'):]
    row = row[:row.index("</tr>")]
    assert "Dev" in row and f'value="{a[0].id}">Ana<' in row and f'value="{d[0].id}"' not in row
    assert f'value="{eve[0].id}"' not in row  # has not handed in
    grade_page = teacher.get(f"/cohorts/{cohort[0].id}/submissions/{submission_of(d[0])}").get_data(as_text=True)
    assert url in grade_page and "No reviewer yet." in grade_page

    def give(piece_of, reviewer) -> str:
        return teacher.post(f"{url}/assign", data={"submission": submission_of(piece_of[0]), "reviewer": reviewer[0].id},
                            follow_redirects=True).get_data(as_text=True)

    assert "cannot review their own work" in give(d, d)
    assert "Eve has not handed in this assignment yet" in give(d, eve)
    assert "Ana now reviews the work of Dev: it has 1 of its 2 reviewers." in give(d, a)
    assert "Ana already reviews this work" in give(d, a)
    assert "This work has its 2 reviewers already: nothing was changed." in give(a, d)
    given = next(r for r in live() if r.reviewer_id == a[0].id and r.submission_id == submission_of(d[0]))
    assert given.kind == "required" and "Review 3</a> · to do" in page(a[1])  # asked of Ana by her instructor
    assert "Ben now reviews the work of Dev: it has 2 of its 2 reviewers." in give(d, b)
    assert "Every piece of work has its 2 reviewers." in teacher.get(url).get_data(as_text=True)
    assert "This work has its 2 reviewers already" in give(d, c)
    assert teacher.get(f"/cohorts/{cohort[0].id}/assignments/mlops-case-coldwatch/peer-reviews").status_code == 404  # not peer reviewed


def test_a_review_comment_typed_to_the_forms_limit_over_many_lines_is_saved(people) -> None:
    """The form's maxlength counts a line break as one character; the browser sends CR LF."""
    author, reviewer = people("Rita Author"), people("Sol Reviewer")
    hand_in(author[1], "Rita's plan")
    hand_in(reviewer[1], "Sol's plan")
    ask(reviewer[1])
    review = next(r for r in live() if r.reviewer_id == reviewer[0].id)
    comment = "\r\n".join(["w" * 99] * 100)  # 9,999 characters as the form counts them, 10,098 as sent
    form = {f"level-{c.id}": c.levels[1].id for c in review.rubric_version.criteria} | {"comment": comment}
    assert reviewer[1].post(f"/peer-reviews/{review.id}", data=form).status_code == 302
    assert next(r for r in live() if r.id == review.id).comment == comment.replace("\r\n", "\n")


def test_a_peer_reviewer_never_sees_the_graders_key(people) -> None:
    """A key written on the peer-reviewed rubric (here the MLOps case rubric's worked figures)
    stays off the reviewer's page and the author's list of reviews."""
    case_rubric = db.session.scalar(select(Rubric).where(Rubric.key == "mlops-case-rubric"))
    key = case_rubric.current.criteria[0].key
    assert "164 lost minutes" in key
    author, reviewer = people("Ada Author"), people("Rex Reviewer")
    hand_in(author[1], "Ada's plan")
    hand_in(reviewer[1], "Rex's plan")
    ask(reviewer[1])
    review = next(r for r in live() if r.reviewer_id == reviewer[0].id)
    version = review.rubric_version
    version.criteria = [c.model_copy(update={"key": key}) for c in version.criteria]
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(PeerReview, review.id).rubric_version.criteria[0].key == key
    page = reviewer[1].get(f"/peer-reviews/{review.id}").get_data(as_text=True)
    assert "Ada's plan" in page and "164 lost minutes" not in page and "Grader's key" not in page
    criteria = db.session.get(PeerReview, review.id).rubric_version.criteria
    done = {f"level-{c.id}": c.levels[0].id for c in criteria} | {"comment": "Clear."}
    assert reviewer[1].post(f"/peer-reviews/{review.id}", data=done).status_code == 302
    for client, url in ((reviewer[1], f"/peer-reviews/{review.id}"), (author[1], f"/assignments/{HANDS_ON}/peer-reviews")):
        assert "164 lost minutes" not in client.get(url).get_data(as_text=True), url
