"""Portfolios: released work gathered per level, curated with reflections per objective,
submitted for the level review (graded like any submission), shared by revocable link."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select, update

from lms.accounts.models import User
from lms.admin.services import deactivate, reactivate
from lms.audit.services import Origin
from lms.cohorts.enrolment import end_enrolment
from lms.coursework.models import Assignment, AssignmentKind, Submission
from lms.coursework.services import revision_days
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade
from lms.learning.services import month_opens_on
from lms.portfolio.models import Portfolio, PortfolioHandIn
from lms.privacy.kinds import Erasure, Portfolios

CASE = "mlops-case-coldwatch"  # month 1: foundation
SECOND_CASE = "cs-case-keylet"   # month 2: foundation
FOUNDATION_CODES = ["KO1", "KO2", "KO4", "SO1", "SO2", "SO4", "AO1"]


@pytest.fixture()
def setting(app: Flask, loaded, make_cohort, enrol_learner, make_user, login):
    teacher = make_user(name="Greta Grader")
    cohort = make_cohort(months_ago=5, instructors=[teacher])

    def client_for(user):
        client = app.test_client()
        login(client, user)
        return client

    learner = enrol_learner(cohort, name="Pia Portfolio")
    other = enrol_learner(cohort, name="Oli Other")
    learner_client, other_client, teacher_client = client_for(learner), client_for(other), client_for(teacher)

    def released_case(client, user, text: str, file: tuple[str, bytes] | None = None, key: str = CASE) -> Submission:
        data = {"body": text, "action": "submit"}
        if file:
            data["file"] = (io.BytesIO(file[1]), file[0])
        client.post(f"/assignments/{key}/work", data=data, content_type="multipart/form-data")
        db.session.expire_all()
        work = db.session.scalar(select(Submission).where(Submission.user_id == user.id,
                                                          Submission.assignment.has(Assignment.key == key)))
        levels = {f"level-{c.id}": c.levels[0].id for c in work.assignment.rubric.current.criteria}
        teacher_client.post(f"/cohorts/{cohort.id}/submissions/{work.id}", data={**levels, "action": "release"})
        return work

    return {"learner": learner, "client": learner_client, "other": other, "other_client": other_client,
            "teacher": teacher_client, "cohort": cohort, "released_case": released_case}


def reflections(text: str = "I can now measure it.") -> dict[str, str]:
    return {f"reflection-{c}": f"{c}: {text}" for c in FOUNDATION_CODES}


def test_only_my_released_work_is_offered(setting) -> None:
    page = setting["client"].get("/portfolio/foundation").get_data(as_text=True)
    assert "No released work from this level yet" in page
    setting["client"].post(f"/assignments/{CASE}/work", data={"body": "draft only", "action": "submit"})
    assert "No released work" in setting["client"].get("/portfolio/foundation").get_data(as_text=True)  # submitted, not released
    setting["released_case"](setting["other_client"], setting["other"], "Oli's analysis")
    assert "No released work" in setting["client"].get("/portfolio/foundation").get_data(as_text=True)  # someone else's


def test_curate_submit_grade_and_share(setting, app: Flask) -> None:
    mine = setting["released_case"](setting["client"], setting["learner"], "Pia's careful analysis", ("evidence.csv", b"month,uptime\n1,99.5\n"))
    theirs = setting["released_case"](setting["other_client"], setting["other"], "Oli's analysis")
    client = setting["client"]
    page = client.get("/portfolio/foundation").get_data(as_text=True)
    assert "Case study: false alarms and a silent outage at Coldwatch" in page

    tampered = client.post("/portfolio/foundation", data={"artifact": [str(theirs.id)], "action": "save", **reflections()})
    assert tampered.status_code == 400 and "Only your own graded and released work" in tampered.get_data(as_text=True)

    partial = {"reflection-KO1": "Only one."}
    refused = client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit", **partial})
    assert refused.status_code == 400 and "Write a reflection for every objective" in refused.get_data(as_text=True)
    assert "Only one." in refused.get_data(as_text=True)  # what was typed is kept

    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit", **reflections()}).status_code == 302
    db.session.expire_all()
    review = db.session.scalar(select(Submission).join(Submission.assignment).where(
        Submission.user_id == setting["learner"].id, Submission.assignment.has(kind="portfolio")))
    assert review.status == "submitted" and "KO4: I can now measure it." in review.latest.body

    queue = setting["teacher"].get("/grading").get_data(as_text=True)
    assert "Portfolio review: Foundation level" in queue
    criteria = review.assignment.rubric.current.criteria
    assert review.assignment.rubric.level.key == "foundation"
    setting["teacher"].post(f"/cohorts/{review.cohort_id}/submissions/{review.id}",
                            data={**{f"level-{c.id}": c.levels[1].id for c in criteria}, "feedback": "Convincing evidence.", "action": "release"})
    assert "read the feedback" in client.get("/portfolio/foundation").get_data(as_text=True)
    assert "Convincing evidence." in client.get("/assignments/portfolio-foundation/feedback").get_data(as_text=True)

    first = re.search(r'value="(http[^"]+/shared/portfolios/[^"]+)"', client.post("/portfolio/foundation/share").get_data(as_text=True)).group(1)
    visitor = app.test_client()
    shared = visitor.get(first.replace("http://localhost", ""))
    assert shared.status_code == 200
    text = shared.get_data(as_text=True)
    assert "Pia Portfolio" in text and "careful analysis" in text and "AO1: I can now measure it." in text
    assert "Oli" not in text
    file_link = re.search(r'href="(/shared/portfolios/[^"]+/files/\d+)"', text).group(1)
    assert visitor.get(file_link).data == b"month,uptime\n1,99.5\n"
    other_file = file_link.rsplit("/", 1)[0] + "/99999"
    assert visitor.get(other_file).status_code == 404
    second = re.search(r'value="(http[^"]+/shared/portfolios/[^"]+)"', client.post("/portfolio/foundation/share").get_data(as_text=True)).group(1)
    assert visitor.get(first.replace("http://localhost", "")).status_code == 404  # the new link replaces the old
    client.post("/portfolio/foundation/share/revoke")
    assert visitor.get(second.replace("http://localhost", "")).status_code == 404


def test_a_deactivated_learners_shared_portfolio_is_not_found_until_reactivated(setting, app: Flask, make_user) -> None:
    """A shared link is the learner's own secret, as an API token is: deactivating the account
    (a compromised one, or a person who left) stops it answering, page and files alike; the
    link works again once the account is reactivated."""
    mine = setting["released_case"](setting["client"], setting["learner"], "Pia's careful analysis", ("evidence.csv", b"month,uptime\n"))
    client = setting["client"]
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "save", **reflections()}).status_code == 302
    link = re.search(r'value="http://localhost(/shared/portfolios/[^"]+)"',
                     client.post("/portfolio/foundation/share").get_data(as_text=True)).group(1)
    visitor = app.test_client()
    file_link = re.search(r'href="(/shared/portfolios/[^"]+/files/\d+)"', visitor.get(link).get_data(as_text=True)).group(1)
    assert visitor.get(file_link).status_code == 200
    admin, learner = make_user(admin=True), db.session.get(User, setting["learner"].id)
    deactivate(db.session, learner, learner.session_version, Origin(admin.id, None))
    db.session.commit()
    assert visitor.get(link).status_code == 404
    assert visitor.get(file_link).status_code == 404
    learner = db.session.get(User, setting["learner"].id)
    reactivate(db.session, learner, learner.session_version, Origin(admin.id, None))
    db.session.commit()
    assert visitor.get(link).status_code == 200 and visitor.get(file_link).status_code == 200


def levels_row(client, level: str) -> str:
    page = client.get("/portfolio").get_data(as_text=True)
    found = re.search(rf'<tr id="portfolio-{level}">(.*?)</tr>', page, re.S)
    assert found is not None, page
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_the_portfolio_page_says_how_far_each_level_is_and_when_it_is_due(setting) -> None:
    client = setting["client"]
    assert "Not started" in levels_row(client, "foundation")
    assert "Not handed in · was due" in levels_row(client, "foundation")  # five months in: the review's day has passed
    assert "Not handed in · opens on" in levels_row(client, "advanced")

    mine = setting["released_case"](client, setting["learner"], "Pia's analysis")
    two = {"reflection-KO1": "One.", "reflection-SO1": "Two."}
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "save", **two}).status_code == 302
    assert "1 piece of work chosen, 2 of 7 reflections written" in levels_row(client, "foundation")

    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit",
                                                      **reflections()}).status_code == 302
    handed_in = levels_row(client, "foundation")
    assert "7 of 7 reflections written" in handed_in and "Handed in, waiting for your instructor" in handed_in
    assert "was due" not in handed_in

    db.session.expire_all()
    review = db.session.scalar(select(Submission).join(Submission.assignment).where(
        Submission.user_id == setting["learner"].id, Submission.assignment.has(kind="portfolio")))
    criteria = review.assignment.rubric.current.criteria
    setting["teacher"].post(f"/cohorts/{review.cohort_id}/submissions/{review.id}",
                            data={**{f"level-{c.id}": c.levels[0].id for c in criteria}, "action": "return",
                                  "feedback": "Say more about KO4."})
    returned = levels_row(client, "foundation")
    # theirs to hand in again, within the revision window (not overdue: the schedule's rule)
    assert "Returned for revision" in returned and "revision due" in returned and "was due" not in returned
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit",
                                                      **reflections("I can now measure it, and say how.")}).status_code == 302
    assert "Handed in, waiting for your instructor" in levels_row(client, "foundation")
    db.session.expire_all()
    graded = db.session.scalar(select(Grade).where(Grade.submission_id == review.id))
    setting["teacher"].post(f"/cohorts/{review.cohort_id}/submissions/{review.id}",
                            data={**{f"level-{c.id}": c.levels[1].id for c in criteria}, "action": "release",
                                  "revision": str(graded.revision)})
    page = client.get("/portfolio").get_data(as_text=True)
    assert "Graded · read the feedback" in levels_row(client, "foundation")
    assert 'href="/assignments/portfolio-foundation/feedback"' in page



INTERMEDIATE_CASE = "impl-case-pebblerun"  # month 5: intermediate; the level's review opens with month 8


def test_before_the_review_opens_the_portfolio_is_saved_and_the_page_says_when_to_hand_it_in(setting) -> None:
    """Month 6: the intermediate portfolio can be gathered, but its review opens with month 8.
    The page offers no hand-in yet and says from when; a hand-in sent anyway (a page left
    open, a second tab) keeps what was typed and says when the review opens, instead of
    "This assignment is not open for you yet." and nothing saved."""
    client = setting["client"]
    mine = setting["released_case"](client, setting["learner"], "Pia's plan", key=INTERMEDIATE_CASE)
    page = client.get("/portfolio/intermediate").get_data(as_text=True)
    opens = re.search(r"You can hand it in for review from (\d\d \w+ \d{4})", page)
    assert opens is not None, page
    assert 'value="submit"' not in page and 'value="save"' in page

    codes = re.findall(r'name="reflection-(\w+)"', page)
    typed = {f"reflection-{c}": f"{c}: what I learnt." for c in codes}
    sent = client.post("/portfolio/intermediate", data={"artifact": [str(mine.id)], "action": "submit", **typed})
    assert sent.status_code == 302
    shown = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert f"The intermediate review opens on {opens.group(1)}" in shown and "not open for you yet" not in shown
    db.session.expire_all()
    kept = db.session.scalar(select(Portfolio).where(
        Portfolio.user_id == setting["learner"].id, Portfolio.level.has(key="intermediate")))
    assert kept.artifact_ids == [mine.id] and kept.reflections[codes[0]] == f"{codes[0]}: what I learnt."
    assert db.session.scalar(select(Submission).where(Submission.user_id == setting["learner"].id,
                                                      Submission.assignment.has(kind="portfolio"))) is None


def portfolio_review(user_id: int) -> Submission:
    db.session.expire_all()
    found = db.session.scalar(select(Submission).join(Submission.assignment).where(
        Submission.user_id == user_id, Submission.assignment.has(kind="portfolio")))
    assert found is not None
    return found


def test_a_handed_in_portfolio_waits_unchanged_until_it_is_returned(setting) -> None:
    """As assessed work (``Submission.editable``): once handed in, the portfolio is the
    instructor's to read until they return it; a save or a hand-in from a page left open is
    refused, nothing stored changes, and what was typed is shown back."""
    client = setting["client"]
    mine = setting["released_case"](client, setting["learner"], "Pia's analysis")
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit",
                                                      **reflections()}).status_code == 302
    page = client.get("/portfolio/foundation").get_data(as_text=True)
    assert "is with your instructor for review" in page
    assert 'name="reflection-KO1"' not in page and 'value="save"' not in page and 'value="submit"' not in page
    assert "KO4: I can now measure it." in page  # the version handed in, as the instructor reads it

    for action in ("save", "submit"):
        refused = client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": action,
                                                             **reflections("Changed after handing in.")})
        text = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "is with your instructor for review" in text, action
        assert "Nothing was saved" in text and "KO1: Changed after handing in." in text, action  # shown back, to copy
    review = portfolio_review(setting["learner"].id)
    assert review.status == "submitted" and len(review.versions) == 1
    kept = db.session.scalar(select(Portfolio).where(Portfolio.user_id == setting["learner"].id))
    assert kept.reflections["KO1"] == "KO1: I can now measure it."


def test_a_page_opened_before_the_portfolio_was_saved_from_another_tab_does_not_wipe_it(setting) -> None:
    """Two tabs on one portfolio: the one opened first, saved last, is refused (409, its
    text kept in the form, the reflections saved from the other shown to copy from) instead
    of replacing them; saved again from that page, it goes through. It replaced them: a
    reflection written in the other tab was wiped."""
    client = setting["client"]

    def base(page: str) -> str:
        found = re.search(r'name="base" value="([^"]*)"', page)
        return found.group(1) if found else ""  # the page carries (a digest of) what it showed

    first = base(client.get("/portfolio/foundation").get_data(as_text=True))
    second = base(client.get("/portfolio/foundation").get_data(as_text=True))
    assert client.post("/portfolio/foundation", data={"reflection-KO1": "Written in tab two.", "action": "save",
                                                      "base": second}).status_code == 302
    refused = client.post("/portfolio/foundation", data={"reflection-KO2": "Written in tab one.", "action": "save",
                                                         "base": first})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "saved from another tab or window" in page
    assert '<textarea id="saved-KO1" rows="3" readonly>Written in tab two.</textarea>' in page
    assert ">Written in tab one.</textarea>" in page  # the refused text, kept in the form
    kept = db.session.scalar(select(Portfolio).where(Portfolio.user_id == setting["learner"].id))
    assert kept.reflections == {"KO1": "Written in tab two."}
    merged = client.post("/portfolio/foundation", data={"reflection-KO1": "Written in tab two.", "action": "save",
                                                        "reflection-KO2": "Written in tab one.", "base": base(page)})
    assert merged.status_code == 302
    db.session.expire_all()
    kept = db.session.scalar(select(Portfolio).where(Portfolio.user_id == setting["learner"].id))
    assert kept.reflections == {"KO1": "Written in tab two.", "KO2": "Written in tab one."}


def test_a_returned_portfolio_shows_what_to_revise_and_its_revision_reaches_the_instructor(setting) -> None:
    """What the instructor sent back with the return (overall feedback, criterion comments)
    is on the portfolio's page, as on assessed work's, and the levels page links to it."""
    client, teacher = setting["client"], setting["teacher"]
    mine = setting["released_case"](client, setting["learner"], "Pia's analysis")
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit",
                                                      **reflections()}).status_code == 302
    review = portfolio_review(setting["learner"].id)
    criteria = review.assignment.rubric.current.criteria
    grade_url = f"/cohorts/{review.cohort_id}/submissions/{review.id}"
    assert teacher.post(grade_url, data={**{f"level-{c.id}": c.levels[0].id for c in criteria}, "action": "return",
                                         f"comment-{criteria[0].id}": "Name the alarm threshold.",
                                         "feedback": "Please add more work.", "revision": ""}).status_code == 302
    page = client.get("/portfolio/foundation").get_data(as_text=True)
    assert "What to revise" in page and "Please add more work." in page
    assert f"<dt>{criteria[0].title}</dt><dd>Name the alarm threshold.</dd>" in page
    assert 'href="/assignments/portfolio-foundation/feedback"' in page
    assert 'name="reflection-KO1"' in page and 'value="submit"' in page  # theirs to change again
    assert "is with your instructor for review" not in page
    assert "Returned for revision" in levels_row(client, "foundation")
    assert 'href="/assignments/portfolio-foundation/feedback"' in client.get("/portfolio").get_data(as_text=True)
    # due again a week from its return (the level's own date is a month past), as the schedule says
    again = (utcnow().astimezone(ZoneInfo(setting["cohort"].timezone)).date() + timedelta(days=revision_days()))
    assert f"Revision due {again.strftime('%d %B %Y')}" in page
    assert f"revision due {again.strftime('%d %b %Y')}" in levels_row(client, "foundation")

    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "save",
                                                      **reflections("Revised, with more work.")}).status_code == 302
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit",
                                                      **reflections("Revised, with more work.")}).status_code == 302
    review = portfolio_review(setting["learner"].id)
    assert review.status == "submitted" and len(review.versions) == 2
    assert not review.versions[1].late  # handed in within the revision window
    assert "KO1: Revised, with more work." in teacher.get(grade_url).get_data(as_text=True)
    page = client.get("/portfolio/foundation").get_data(as_text=True)
    assert "is with your instructor for review" in page and "What to revise" not in page
    assert "KO1: Revised, with more work." in page


def test_a_graded_portfolio_stays_as_it_was_graded(setting) -> None:
    client = setting["client"]
    mine = setting["released_case"](client, setting["learner"], "Pia's analysis")
    client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit", **reflections()})
    review = portfolio_review(setting["learner"].id)
    criteria = review.assignment.rubric.current.criteria
    setting["teacher"].post(f"/cohorts/{review.cohort_id}/submissions/{review.id}",
                            data={**{f"level-{c.id}": c.levels[1].id for c in criteria}, "action": "release"})
    page = client.get("/portfolio/foundation").get_data(as_text=True)
    assert "is graded" in page and 'name="reflection-KO1"' not in page and "read the feedback" in page
    refused = client.post("/portfolio/foundation", data={"artifact": [], "action": "save", **reflections("Later.")})
    assert refused.status_code == 400 and "is graded" in refused.get_data(as_text=True)
    db.session.expire_all()
    kept = db.session.scalar(select(Portfolio).where(Portfolio.user_id == setting["learner"].id))
    assert kept.artifact_ids == [mine.id] and kept.reflections["KO1"] == "KO1: I can now measure it."


def test_the_portfolio_pages_send_as_many_statements_after_one_return_as_after_two(setting, page_statements) -> None:
    client, teacher = setting["client"], setting["teacher"]
    mine = setting["released_case"](client, setting["learner"], "Pia's analysis")
    urls = ["/portfolio/foundation", "/portfolio"]

    def hand_in_and_return(text: str) -> list[int]:
        client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit", **reflections(text)})
        review = portfolio_review(setting["learner"].id)
        criteria = review.assignment.rubric.current.criteria
        grade = db.session.scalar(select(Grade).where(Grade.submission_id == review.id))
        teacher.post(f"/cohorts/{review.cohort_id}/submissions/{review.id}",
                     data={**{f"level-{c.id}": c.levels[0].id for c in criteria}, "action": "return",
                           f"comment-{criteria[0].id}": f"About {text}", "feedback": "Please add more work.",
                           "revision": str(grade.revision) if grade else ""})
        db.session.expire_all()
        return page_statements(client, urls)

    once = hand_in_and_return("First.")
    twice = hand_in_and_return("Second.")
    assert "About Second." in client.get("/portfolio/foundation").get_data(as_text=True)
    assert twice == once


def test_the_grader_opens_each_chosen_piece_as_handed_in_with_the_portfolio(setting, app: Flask, make_user, make_cohort,
                                                                              login) -> None:
    """The portfolio's grading page links each piece of work to the version handed in with
    the portfolio and its files, for the cohort's staff only."""
    client, teacher, cohort = setting["client"], setting["teacher"], setting["cohort"]
    mine = setting["released_case"](client, setting["learner"], "Pia's first analysis", ("evidence.csv", b"month,uptime\n1,99.5\n"))
    theirs = setting["released_case"](setting["other_client"], setting["other"], "Oli's analysis")
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit", **reflections()}).status_code == 302
    db.session.expire_all()
    review = db.session.scalar(select(Submission).join(Submission.assignment).where(
        Submission.user_id == setting["learner"].id, Submission.assignment.has(kind="portfolio")))
    # afterwards the piece is returned, revised and released again: the portfolio still holds version 1
    criteria = mine.assignment.rubric.current.criteria
    piece_url = f"/cohorts/{cohort.id}/submissions/{mine.id}"

    def graded() -> str:
        db.session.expire_all()
        return str(db.session.scalar(select(Grade.revision).where(Grade.submission_id == mine.id)))

    assert teacher.post(piece_url, data={**{f"level-{c.id}": c.levels[0].id for c in criteria}, "action": "return",
                                         "feedback": "Add the second month.", "revision": graded()}).status_code == 302
    assert client.post(f"/assignments/{CASE}/work", data={"body": "Pia's second analysis", "action": "submit"}).status_code == 302
    assert teacher.post(piece_url, data={**{f"level-{c.id}": c.levels[1].id for c in criteria}, "action": "release",
                                         "revision": graded()}).status_code == 302
    db.session.expire_all()
    assert [v.body for v in db.session.get_one(Submission, mine.id).versions] == ["Pia's first analysis", "Pia's second analysis"]

    grading_page = teacher.get(f"/cohorts/{cohort.id}/submissions/{review.id}").get_data(as_text=True)
    link = f"/cohorts/{cohort.id}/submissions/{review.id}/pieces/{mine.id}"
    assert f'<a href="{link}">Case study: false alarms and a silent outage at Coldwatch</a>' in grading_page
    assert "version 1 handed in" in grading_page
    page = teacher.get(link)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Pia&#39;s first analysis" in text or "Pia's first analysis" in text
    assert "second analysis" not in text and "the work has 2 versions now" in text
    file_link = re.search(rf'href="({link}/files/\d+)"', text).group(1)
    assert teacher.get(file_link).data == b"month,uptime\n1,99.5\n"
    assert teacher.get(f"{link}/files/99999").status_code == 404
    # only the pieces the portfolio holds, only through a portfolio review
    assert teacher.get(f"/cohorts/{cohort.id}/submissions/{review.id}/pieces/{theirs.id}").status_code == 404
    assert teacher.get(f"/cohorts/{cohort.id}/submissions/{theirs.id}/pieces/{mine.id}").status_code == 404
    # the cohort's staff only: the learner themself and another cohort's instructor are refused
    assert client.get(link).status_code == 403
    stranger = make_user(name="Sam Stranger")
    make_cohort(instructors=[stranger])
    elsewhere = app.test_client()
    login(elsewhere, stranger)
    assert elsewhere.get(link).status_code in (403, 404)
    assert elsewhere.get(file_link).status_code in (403, 404)


def pieces_listed(page: str) -> list[str]:
    """The titles of the work the grading page lists under "The chosen work", in order."""
    found = re.search(r"<h3>The chosen work</h3>\s*<ul>(.*?)</ul>", page, re.S)
    return re.findall(r'<a href="[^"]+/pieces/\d+">([^<]+)</a>', found.group(1)) if found else []


def grade_review(teacher, review: Submission, action: str, **extra: str) -> None:
    db.session.expire_all()
    criteria = review.assignment.rubric.current.criteria
    grade = db.session.scalar(select(Grade).where(Grade.submission_id == review.id))
    assert teacher.post(f"/cohorts/{review.cohort_id}/submissions/{review.id}",
                        data={**{f"level-{c.id}": c.levels[1].id for c in criteria}, "action": action,
                              "revision": str(grade.revision) if grade else "", **extra}).status_code == 302


COLDWATCH = "Case study: false alarms and a silent outage at Coldwatch"
KEYLET = "Case study: a busy inbox and quiet churn at Keylet"


def test_the_grader_reads_what_was_handed_in_while_the_learner_changes_the_choice(setting) -> None:
    """Each hand-in keeps what it held (``PortfolioHandIn``): returned for revision, the
    learner changes their choice and reflections, and the instructor's page still lists the
    pieces handed in, opens them, and the version's text is the one handed in; the second
    hand-in then shows its own, and the learner's page shows each version's work."""
    client, teacher, cohort = setting["client"], setting["teacher"], setting["cohort"]
    coldwatch = setting["released_case"](client, setting["learner"], "Pia's Coldwatch analysis")
    keylet = setting["released_case"](client, setting["learner"], "Pia's Keylet analysis", key=SECOND_CASE)
    assert client.post("/portfolio/foundation", data={"artifact": [str(keylet.id), str(coldwatch.id)], "action": "submit",
                                                      **reflections()}).status_code == 302
    review = portfolio_review(setting["learner"].id)
    grade_url = f"/cohorts/{cohort.id}/submissions/{review.id}"
    assert pieces_listed(teacher.get(grade_url).get_data(as_text=True)) == [KEYLET, COLDWATCH]  # the learner's order
    grade_review(teacher, review, "return", feedback="Keep only your best piece.")

    # returned: the learner takes Coldwatch back and rewrites a reflection, saved but not handed in
    assert client.post("/portfolio/foundation", data={"artifact": [str(keylet.id)], "action": "save",
                                                      **reflections("Rewritten, not handed in.")}).status_code == 302
    page = teacher.get(grade_url).get_data(as_text=True)
    assert pieces_listed(page) == [KEYLET, COLDWATCH]
    assert "KO1: I can now measure it." in page and "Rewritten, not handed in." not in page
    assert teacher.get(f"{grade_url}/pieces/{coldwatch.id}").status_code == 200
    mine = client.get("/portfolio/foundation").get_data(as_text=True)
    assert re.search(rf'value="{coldwatch.id}"\s*>', mine) and re.search(rf'value="{keylet.id}" checked', mine)  # the choice now
    assert "The work handed in with version 1:" in mine and COLDWATCH in mine.split("The work handed in with version 1:")[1]

    # the second hand-in shows its own: Keylet alone, and Coldwatch is no longer reachable through the review
    assert client.post("/portfolio/foundation", data={"artifact": [str(keylet.id)], "action": "submit",
                                                      **reflections("Rewritten, not handed in.")}).status_code == 302
    page = teacher.get(grade_url).get_data(as_text=True)
    assert pieces_listed(page) == [KEYLET] and "Rewritten, not handed in." in page
    assert teacher.get(f"{grade_url}/pieces/{coldwatch.id}").status_code == 404
    mine = client.get("/portfolio/foundation").get_data(as_text=True)
    first, second = mine.split("The work handed in with version 1:")[1].split("The work handed in with version 2:")
    assert COLDWATCH in first and KEYLET in first
    assert KEYLET in second and COLDWATCH not in second
    db.session.expire_all()
    kept = db.session.scalars(select(PortfolioHandIn).order_by(PortfolioHandIn.id)).all()
    assert [[p.version.submission_id for p in h.pieces] for h in kept] == [[keylet.id, coldwatch.id], [keylet.id]]
    assert [h.reflections["KO1"] for h in kept] == ["KO1: I can now measure it.", "KO1: Rewritten, not handed in."]


def test_a_piece_taken_back_after_grading_still_shows_on_that_review(setting) -> None:
    """A released review keeps the work it was graded on: the piece's own grade taken back
    by its grader (it is no longer released work to choose) or the portfolio's choice
    changed afterwards, the review still lists and opens it, at the version handed in."""
    client, teacher, cohort = setting["client"], setting["teacher"], setting["cohort"]
    coldwatch = setting["released_case"](client, setting["learner"], "Pia's Coldwatch analysis")
    assert client.post("/portfolio/foundation", data={"artifact": [str(coldwatch.id)], "action": "submit",
                                                      **reflections()}).status_code == 302
    review = portfolio_review(setting["learner"].id)
    grade_review(teacher, review, "release")
    grade_url = f"/cohorts/{cohort.id}/submissions/{review.id}"
    assert pieces_listed(teacher.get(grade_url).get_data(as_text=True)) == [COLDWATCH]

    # the piece's grade is taken back from the learner (a draft saved on it): no longer released work
    db.session.expire_all()
    piece_grade = db.session.scalar(select(Grade).where(Grade.submission_id == coldwatch.id))
    criteria = coldwatch.assignment.rubric.current.criteria
    assert teacher.post(f"/cohorts/{cohort.id}/submissions/{coldwatch.id}",
                        data={**{f"level-{c.id}": c.levels[0].id for c in criteria}, "action": "draft",
                              "revision": str(piece_grade.revision)}).status_code == 302
    assert f'value="{coldwatch.id}"' not in client.get("/portfolio/foundation").get_data(as_text=True)
    assert pieces_listed(teacher.get(grade_url).get_data(as_text=True)) == [COLDWATCH]
    # and the portfolio's current choice emptied (as a later change of it would)
    db.session.execute(update(Portfolio).where(Portfolio.user_id == setting["learner"].id).values(artifact_ids=[]))
    db.session.commit()
    assert pieces_listed(teacher.get(grade_url).get_data(as_text=True)) == [COLDWATCH]
    piece = teacher.get(f"{grade_url}/pieces/{coldwatch.id}")
    assert piece.status_code == 200 and "Coldwatch analysis" in piece.get_data(as_text=True)
    mine = client.get("/portfolio/foundation").get_data(as_text=True)
    assert "is graded" in mine and COLDWATCH in mine.split("The work handed in with version 1:")[1]


def test_the_grading_and_portfolio_pages_send_as_many_statements_for_two_pieces_as_for_one(setting, page_statements) -> None:
    client, teacher, cohort = setting["client"], setting["teacher"], setting["cohort"]
    coldwatch = setting["released_case"](client, setting["learner"], "Pia's Coldwatch analysis")
    keylet = setting["released_case"](client, setting["learner"], "Pia's Keylet analysis", key=SECOND_CASE)

    def hand_in(chosen: list[Submission]) -> list[int]:
        assert client.post("/portfolio/foundation", data={"artifact": [str(s.id) for s in chosen], "action": "submit",
                                                          **reflections()}).status_code == 302
        review = portfolio_review(setting["learner"].id)
        counts = page_statements(teacher, [f"/cohorts/{cohort.id}/submissions/{review.id}"])
        counts += page_statements(client, ["/portfolio/foundation"])  # each version with its work
        assert len(pieces_listed(teacher.get(f"/cohorts/{cohort.id}/submissions/{review.id}").get_data(as_text=True))) == len(chosen)
        grade_review(teacher, review, "return", feedback="Again.")
        return counts

    hand_in([keylet])  # the first hand-in: its page has no grade nor earlier version yet, the next ones have
    assert hand_in([coldwatch]) == hand_in([coldwatch, keylet])


def test_the_hand_ins_are_in_the_learners_data_and_their_reflections_go_with_an_erasure(setting) -> None:
    client, learner = setting["client"], setting["learner"]
    coldwatch = setting["released_case"](client, learner, "Pia's Coldwatch analysis")
    assert client.post("/portfolio/foundation", data={"artifact": [str(coldwatch.id)], "action": "submit",
                                                      **reflections()}).status_code == 302
    db.session.expire_all()
    [exported] = Portfolios().export(db.session, learner)
    [hand_in] = exported["hand_ins"]
    assert hand_in["reflections"]["KO1"] == "KO1: I can now measure it."
    assert hand_in["piece_version_ids"] == [coldwatch.versions[-1].id]
    Portfolios().erase(db.session, Erasure(user=learner, original_email=learner.email, now=utcnow()))
    db.session.commit()
    db.session.expire_all()
    assert [h.reflections for h in db.session.scalars(select(PortfolioHandIn))] == [{}]
    assert [len(h.pieces) for h in db.session.scalars(select(PortfolioHandIn))] == [1]  # the work's ids stay


# --------------------------------------------------------------------------- the review's date

GRADING_DAYS = 7  # the foundation review's margin: its last work is due a week before it


@pytest.mark.parametrize("start", [date(2026, 1, 7), date(2026, 2, 28), date(2026, 11, 30)])
def test_each_level_review_is_due_after_the_work_it_must_hold_is_graded(app: Flask, loaded, start: date) -> None:
    """A level's portfolio holds its graded work (``eligible_work``: released only) and the
    advanced review asks for the capstone's results and the thought-leadership piece: due
    before (or with) them, that work cannot be in it. Each review comes at least a week
    after the last other piece of its level is due, whatever day the cohort starts."""
    def due(assignment: Assignment) -> date:
        return month_opens_on(start, assignment.phase.month) + timedelta(days=assignment.due_after_days)

    assignments = list(db.session.scalars(select(Assignment).where(Assignment.retired_at.is_(None))))
    reviews = [a for a in assignments if a.kind is AssignmentKind.PORTFOLIO]
    assert len(reviews) == 3
    late = []
    for review in reviews:
        level = review.rubric.level
        work = [a for a in assignments if a.kind is not AssignmentKind.PORTFOLIO
                and level.first_month <= a.phase.month <= level.last_month]
        last = max(work, key=due)
        if due(review) < due(last) + timedelta(days=GRADING_DAYS):
            late.append(f"{review.key} due {due(review)}, {last.key} due {due(last)}")
    assert late == []


def test_a_former_learner_reads_their_portfolio_and_can_turn_its_link_off_but_hands_in_nothing(setting, app: Flask) -> None:
    """The enrolment ended (the program over, or left): the portfolio page stays theirs to read,
    with the shared link's switch (off, and on again); saving and handing in are refused."""
    mine = setting["released_case"](setting["client"], setting["learner"], "Pia's careful analysis")
    client = setting["client"]
    assert client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "save", **reflections()}).status_code == 302
    link = re.search(r'value="http://localhost(/shared/portfolios/[^"]+)"',
                     client.post("/portfolio/foundation/share").get_data(as_text=True)).group(1)
    end_enrolment(db.session, db.session.get(User, setting["learner"].id), setting["cohort"], "Program finished")
    db.session.commit()
    visitor = app.test_client()
    assert visitor.get(link).status_code == 200

    assert "Your portfolio" in client.get("/home").get_data(as_text=True)
    assert client.get("/portfolio").status_code == 200
    page = client.get("/portfolio/foundation")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="former-portfolio"' in text
    assert "Case study: false alarms and a silent outage at Coldwatch" in text and "KO1: I can now measure it." in text
    assert 'name="action"' not in text and "Turn the link off" in text
    refused = client.post("/portfolio/foundation", data={"artifact": [str(mine.id)], "action": "submit", **reflections("Later.")})
    assert refused.status_code == 403
    db.session.expire_all()
    assert db.session.scalar(select(Submission).where(Submission.user_id == setting["learner"].id,
                                                      Submission.assignment.has(kind="portfolio"))) is None
    assert db.session.scalar(select(Portfolio).where(Portfolio.user_id == setting["learner"].id)).reflections["KO1"] == \
        "KO1: I can now measure it."

    assert client.post("/portfolio/foundation/share/revoke").status_code == 302
    assert visitor.get(link).status_code == 404
    again = re.search(r'value="http://localhost(/shared/portfolios/[^"]+)"',
                      client.post("/portfolio/foundation/share").get_data(as_text=True)).group(1)
    assert visitor.get(again).status_code == 200

    progress = client.get("/progress")
    assert progress.status_code == 200 and 'id="former-progress"' in progress.get_data(as_text=True)
