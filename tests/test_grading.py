"""Grading assessed work with rubrics: the queue, draft / release / return, two graders,
the audit trail, rubric versions, and every refused input."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from lms.cohorts.models import Cohort
from lms.coursework.models import Submission, SubmissionStatus
from lms.coursework.services import dates_for
from lms.database import utcnow
from lms.extensions import db
from lms.grading import services as grading_services
from lms.grading.models import Grade, GradeEvent, GradeStatus
from lms.grading.services import GradingError, save_grade
from lms.learning.services import build_schedule, grant_override
from lms.progress.models import Evidence, Mastery
from lms.progress.services import rebuild

CASE = "mlops-case-coldwatch"


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login):
    org_admin = make_user(name="Olga Admin")
    org = make_org(admins=[org_admin])
    teacher, other_teacher = make_user(name="Tess Teacher"), make_user(name="Otto Teacher")
    cohort = make_cohort(org, "Main", months_ago=5, instructors=[teacher])
    other = make_cohort(months_ago=5, instructors=[other_teacher])

    def client_for(user):
        client = app.test_client()
        login(client, user)
        return client

    def hand_in(cohort_, name: str, body: str = "My analysis.") -> tuple:
        learner = enrol_learner(cohort_, name=name)
        client = client_for(learner)
        client.post(f"/assignments/{CASE}/work", data={"body": body, "action": "submit"})
        db.session.expire_all()
        work = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
        return learner, client, work

    return {"cohort": cohort, "other": other, "teacher": teacher, "other_teacher": other_teacher,
            "org_admin": org_admin, "client_for": client_for, "hand_in": hand_in}


def levels(rubric_criteria, pick: int = 0) -> dict[str, str]:
    return {f"level-{c.id}": c.levels[pick].id for c in rubric_criteria}


def grade_url(work) -> str:
    return f"/cohorts/{work.cohort_id}/submissions/{work.id}"


def criteria_of(work):
    return work.assignment.rubric.current.criteria


def test_queue_shows_own_cohorts_oldest_first_with_filters_and_counts(course, count_queries) -> None:
    first = course["hand_in"](course["cohort"], "Ada First")[2]
    second = course["hand_in"](course["cohort"], "Bo Second")[2]
    course["hand_in"](course["other"], "Cy Elsewhere")
    teacher = course["client_for"](course["teacher"])
    page = teacher.get("/grading").get_data(as_text=True)
    assert page.index("Ada First") < page.index("Bo Second") and "Cy Elsewhere" not in page
    assert "To grade (2)" in page and "late" in page
    assert "Ada First" not in teacher.get("/grading?module=customer-success").get_data(as_text=True)
    assert "Ada First" in teacher.get(f"/grading?cohort={first.cohort_id}&late=1").get_data(as_text=True)
    assert "Nothing here" in teacher.get("/grading?status=released").get_data(as_text=True)
    few = count_queries(lambda: teacher.get("/grading"))
    for n in range(5):
        course["hand_in"](course["cohort"], f"Extra {n}")
    assert count_queries(lambda: teacher.get("/grading")) == few
    assert second.id  # both handed in


def test_a_graded_pieces_page_links_the_next_work_waiting_in_its_cohort(course) -> None:
    """Releasing a grade (or returning the work) left the instructor on the same page with
    a message and only "Work to grade" to go back by: the next piece meant a trip through
    the queue. Once the work is graded its page links the next piece waiting in its cohort,
    oldest first as the queue lists it, with how many wait; none when nothing else waits, and
    none while this piece itself still waits for a grade."""
    first = course["hand_in"](course["cohort"], "Ada First")[2]
    second = course["hand_in"](course["cohort"], "Bo Second")[2]
    third = course["hand_in"](course["cohort"], "Cy Third")[2]
    course["hand_in"](course["other"], "Di Elsewhere")
    teacher = course["client_for"](course["teacher"])
    assert 'id="next-to-grade"' not in teacher.get(grade_url(first)).get_data(as_text=True)  # still waiting itself
    released = teacher.post(grade_url(first), data={**levels(criteria_of(first)), "action": "release"}, follow_redirects=True)
    page = released.get_data(as_text=True)
    assert "Grade released to the learner." in page
    found = re.search(r'<p id="next-to-grade">(.*?)</p>', page, re.S)
    assert found, "the released work's page links the next"
    line = " ".join(found.group(1).split())
    assert f'<a href="{grade_url(second)}">Bo Second · {second.assignment.title}</a>' in line, line
    assert "2 waiting in this cohort" in line and f'href="/grading?cohort={first.cohort_id}"' in line
    for work in (second, third):
        teacher.post(grade_url(work), data={**levels(criteria_of(work)), "action": "release"})
    assert 'id="next-to-grade"' not in teacher.get(grade_url(third)).get_data(as_text=True)  # nothing else waits here


def test_the_queue_filters_by_a_module_chosen_by_its_title(course) -> None:
    """The queue's module filter lists the modules by title, as the gradebook's does, the one
    chosen selected: nobody has to know a module's key to type it ("e.g. mlops")."""
    course["hand_in"](course["cohort"], "Ada First")
    teacher = course["client_for"](course["teacher"])
    page = teacher.get("/grading").get_data(as_text=True)
    assert 'placeholder="e.g. mlops"' not in page
    assert re.search(r'<select name="module">\s*<option value="">Every module</option>', page)
    assert '<option value="customer-success">Customer Success Operations</option>' in page
    chosen = teacher.get("/grading?module=customer-success&status=all").get_data(as_text=True)
    assert '<option value="customer-success" selected>Customer Success Operations</option>' in chosen
    assert "Ada First" not in chosen
    mlops = teacher.get("/grading?module=mlops").get_data(as_text=True)
    assert '<option value="mlops" selected>' in mlops and "Ada First" in mlops


def test_the_queue_reads_one_page_of_one_tab(course, monkeypatch) -> None:
    """Each tab is chosen in SQL and shown a page at a time, oldest first, its count from
    the whole tab; a page past the end shows the last. Grading one moves it between tabs."""
    monkeypatch.setattr(grading_services, "QUEUE_PER_PAGE", 2)
    works = [course["hand_in"](course["cohort"], name)[2] for name in ("Ann One", "Bo Two", "Cy Three")]
    teacher = course["client_for"](course["teacher"])
    first = teacher.get("/grading").get_data(as_text=True)
    assert "To grade (3)" in first and "page 1 of 2" in first
    assert first.index("Ann One") < first.index("Bo Two") and "Cy Three" not in first
    assert 'rel="next" href="/grading?status=to_grade&amp;page=2"' in first
    second = teacher.get("/grading?status=to_grade&page=2").get_data(as_text=True)
    assert "Cy Three" in second and "Ann One" not in second and "page 2 of 2" in second
    assert "Cy Three" in teacher.get("/grading?page=99").get_data(as_text=True)  # the last page there is

    form = {**levels(criteria_of(works[0]), 2), "feedback": "Done.", "action": "release", "revision": ""}
    assert teacher.post(grade_url(works[0]), data=form).status_code == 302
    page = teacher.get("/grading").get_data(as_text=True)
    assert "To grade (2)" in page and "Released (1)" in page and "All (3)" in page and "Ann One" not in page
    released = teacher.get("/grading?status=released").get_data(as_text=True)
    assert "Ann One" in released and "Bo Two" not in released and "released" in released


def test_draft_release_and_return_as_the_learner_sees_them(course) -> None:
    learner, learner_client, work = course["hand_in"](course["cohort"], "Lia Learner", "first line\nsecond line")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    form = {**levels(criteria, 1), f"comment-{criteria[0].id}": "Name the owner.\nThen the check.",
            "feedback": "Clear diagnosis.", "action": "draft", "revision": ""}
    assert teacher.post(grade_url(work), data=form).status_code == 302
    feedback = f"/assignments/{CASE}/feedback"
    assert "No grade has been released" in learner_client.get(feedback).get_data(as_text=True)

    grade = db.session.scalar(select(Grade))
    released = {**form, "action": "release", "revision": str(grade.revision)}
    assert teacher.post(grade_url(work), data=released).status_code == 302
    page = learner_client.get(feedback).get_data(as_text=True)
    assert "Clear diagnosis." in page and "Proficient" in page
    assert '<td class="plain-text" data-label="Comment">Name the owner.\nThen the check.</td>' in page  # its line break kept
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert grade.score == sum(c.levels[1].points for c in criteria_of(work))

    returned = {**form, "action": "return", "revision": str(grade.revision)}
    assert teacher.post(grade_url(work), data=returned).status_code == 302
    page = learner_client.get(feedback).get_data(as_text=True)  # taken back: the feedback, not the grade
    assert "What to revise" in page and "Clear diagnosis." in page and "Proficient" not in page and "points" not in page
    learner_client.post(f"/assignments/{CASE}/work", data={"body": "first line\nsecond line, better", "action": "submit"})
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    assert "What changed since the previous version" in page and "second line, better" in page


def test_a_release_refused_for_a_criterion_left_without_a_level_marks_that_criterion(course) -> None:
    """Before: the refusal named the criteria only at the top of the page; a grader going
    through the rubric with a screen reader met no mark on them. Now each criterion left
    without a level says so beside its levels, which are invalid and described by it, and the
    criteria chosen are left as they were (WCAG 3.3.1)."""
    _, _, work = course["hand_in"](course["cohort"], "Uma Unfinished")
    teacher = course["client_for"](course["teacher"])
    first, *others = criteria_of(work)
    form = {**levels(others, 1), "feedback": "Nearly.", "action": "release", "revision": ""}
    refused = teacher.post(grade_url(work), data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and f"Choose a level for every criterion before releasing: {first.title}" in html
    radios = re.findall(rf'<input type="radio" name="level-{first.id}"[^>]*>', html)
    assert len(radios) == len(first.levels)
    assert all(f'aria-invalid="true" aria-describedby="level-{first.id}-error"' in radio for radio in radios)
    assert f'<p class="error" id="level-{first.id}-error">' in html
    assert not any("aria-invalid" in radio for c in others for radio in re.findall(rf'<input type="radio" name="level-{c.id}"[^>]*>', html))
    assert "aria-invalid" not in teacher.get(grade_url(work)).get_data(as_text=True).split('id="main"')[1]


def test_returned_work_shows_the_learner_what_to_revise_but_no_grade(course) -> None:
    """The notice's link (the feedback page) and the work page show what the grader sent
    back with a return: the overall feedback (Markdown) and each criterion's comment (plain
    text), never the levels or points, as a return is not a grade. A draft the grader saves
    afterwards stays theirs; what came back with earlier versions stays readable."""
    _, learner_client, work = course["hand_in"](course["cohort"], "Rae Reviser", "My first try.")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    comments = {f"comment-{c.id}": f"Fix {c.title} <b>now</b>\nthen check it" for c in criteria}
    form = {**levels(criteria, 1), **comments, "feedback": "Quantify the **lost minutes**.", "action": "return",
            "revision": ""}
    assert teacher.post(grade_url(work), data=form).status_code == 302
    feedback_url, work_url = f"/assignments/{CASE}/feedback", f"/assignments/{CASE}/work"
    for url in (feedback_url, work_url):
        page = learner_client.get(url).get_data(as_text=True)
        assert "What to revise" in page and "Quantify the <strong>lost minutes</strong>." in page, url
        assert all(f"<dt>{c.title}</dt><dd>Fix {c.title} &lt;b&gt;now&lt;/b&gt;\nthen check it</dd>" in page
                   for c in criteria), url
        assert "No grade has been released" not in page and "Proficient" not in page and "points" not in page, url

    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    draft = {**form, "feedback": "Half-written second thoughts", "action": "draft", "revision": str(grade.revision)}
    assert teacher.post(grade_url(work), data=draft).status_code == 302
    page = learner_client.get(feedback_url).get_data(as_text=True)
    assert "Half-written" not in page and "Quantify the" in page  # what was returned, not the grader's draft

    learner_client.post(work_url, data={"body": "My second try.", "action": "submit"})
    page = learner_client.get(feedback_url).get_data(as_text=True)
    assert "What to revise" not in page and "Your revised version waits for its grade" in page
    assert "Feedback on returned versions" in page and "Quantify the" in page and "Half-written" not in page
    work_page = learner_client.get(work_url).get_data(as_text=True)
    assert "What to revise" not in work_page and "Quantify the" in work_page  # with version 1, below

    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    only_one = {**levels(criteria, 2), f"comment-{criteria[0].id}": "Show the calculation.", "feedback": "",
                "action": "return", "revision": str(grade.revision)}
    assert teacher.post(grade_url(work), data=only_one).status_code == 302
    page = learner_client.get(feedback_url).get_data(as_text=True)
    assert page.index("Show the calculation.") < page.index("Feedback on earlier returned versions") < page.index("Quantify the")
    assert "Version 2, returned for revision" in page and "Version 1, returned for revision" in page

    learner_client.post(work_url, data={"body": "My third try.", "action": "submit"})
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    teacher.post(grade_url(work), data={**levels(criteria, 0), "feedback": "Well revised.", "action": "release",
                                        "revision": str(grade.revision)})
    page = learner_client.get(feedback_url).get_data(as_text=True)
    assert "Well revised." in page and "Exemplary" in page and "What to revise" not in page
    assert "Show the calculation." in page and "Quantify the" in page  # the returns, as history


def test_a_return_without_a_word_on_what_to_revise_is_refused_and_the_form_kept(course) -> None:
    work = course["hand_in"](course["cohort"], "Sam Silent")[2]
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    blank = {**levels(criteria, 2), **{f"comment-{c.id}": "  " for c in criteria}, "feedback": " \n ",
             "action": "return", "revision": ""}
    response = teacher.post(grade_url(work), data=blank)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "write what the learner should revise" in page
    assert page.count(f'value="{criteria[0].levels[2].id}" checked') == len(criteria)  # the levels chosen, kept
    db.session.expire_all()
    assert db.session.scalar(select(Grade)) is None and db.session.get(Submission, work.id).status == "submitted"
    with pytest.raises(GradingError, match="write what the learner should revise"):
        save_grade(db.session, work, course["teacher"], {}, {}, "", None, "return", utcnow())
    db.session.rollback()
    too_long = teacher.post(grade_url(work), data={**blank, "feedback": "x" * 20_001})
    assert too_long.status_code == 400 and "Keep the feedback under 20,000 characters" in too_long.get_data(as_text=True)
    assert "x" * 20_001 in too_long.get_data(as_text=True)  # kept
    one_comment = {**blank, f"comment-{criteria[1].id}": "Name the stage that failed."}
    assert teacher.post(grade_url(work), data=one_comment).status_code == 302
    db.session.expire_all()
    assert db.session.get(Submission, work.id).status == "returned"


def test_the_learners_work_and_feedback_pages_read_as_much_whatever_the_rounds(course, page_statements) -> None:
    _, client, work = course["hand_in"](course["cohort"], "Rob Rounds", "Round 0")
    teacher = course["client_for"](course["teacher"])
    urls = [f"/assignments/{CASE}/work", f"/assignments/{CASE}/feedback"]

    def round_trip(n: int) -> None:
        db.session.expire_all()
        grade = db.session.scalar(select(Grade))
        form = {**levels(criteria_of(work), 1), "feedback": f"Revise round {n}.", "action": "return",
                "revision": str(grade.revision) if grade else ""}
        assert teacher.post(grade_url(work), data=form).status_code == 302
        assert client.post(urls[0], data={"body": f"Round {n}", "action": "submit"}).status_code == 302

    round_trip(1)
    few = page_statements(client, urls)
    for n in range(2, 6):
        round_trip(n)
    page = client.get(urls[1]).get_data(as_text=True)
    assert all(f"Revise round {n}." in page for n in range(1, 6))
    assert page_statements(client, urls) == few


def test_a_stale_save_is_refused_and_the_newer_grade_shown(course) -> None:
    work = course["hand_in"](course["cohort"], "Kim Learner")[2]
    a, b = course["client_for"](course["teacher"]), course["client_for"](course["org_admin"])
    a.post(grade_url(work), data={**levels(criteria_of(work), 2), "feedback": "First view", "action": "draft"})
    revision = str(db.session.scalar(select(Grade)).revision)
    # Both open the grade at this revision; B saves first.
    assert b.post(grade_url(work), data={**levels(criteria_of(work), 0), "feedback": "B's verdict", "action": "draft", "revision": revision}).status_code == 302
    late = a.post(grade_url(work), data={**levels(criteria_of(work), 3), "feedback": "A overwrites", "action": "release", "revision": revision})
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "Not saved: this grade was changed by Olga Admin at" in page and "B&#39;s verdict" in page
    assert "A overwrites" in page  # A's input is kept in the form, to save again deliberately
    db.session.expire_all()
    assert db.session.scalar(select(Grade)).feedback == "B's verdict"


def shown_version(page: str) -> str:
    """The version id the grading page's form says it shows."""
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def test_a_grade_is_not_put_on_a_version_handed_in_after_the_page_opened(course) -> None:
    """The grader returns the work and keeps the page; the learner hands in a revision; a
    release from the page that showed the first version is refused, names the new version,
    keeps the choices and shows the new version; from that page it saves."""
    _, learner_client, work = course["hand_in"](course["cohort"], "Rae Reviser", "My first try.")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    assert teacher.post(grade_url(work), data={**levels(criteria, 2), "feedback": "Add owners.", "action": "return",
                                               "revision": ""}).status_code == 302
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    first, revision = shown_version(page), str(db.session.scalar(select(Grade)).revision)
    assert learner_client.post(f"/assignments/{CASE}/work", data={"body": "My second try, with owners.",
                                                                   "action": "submit"}).status_code == 302

    late = teacher.post(grade_url(work), data={**levels(criteria, 0), "feedback": "Read on the first version.",
                                               "action": "release", "revision": revision, "version": first})
    page = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "Not saved: version 2 was handed in at" in page and "My second try, with owners." in page
    assert "Read on the first version." in page  # the choices are kept
    db.session.expire_all()
    grade, work = db.session.scalar(select(Grade)), db.session.get(Submission, work.id)
    assert work.status == SubmissionStatus.SUBMITTED and grade.status == GradeStatus.DRAFT
    assert grade.feedback == "Add owners." and grade.version_id != work.latest.id

    again = teacher.post(grade_url(work), data={**levels(criteria, 0), "feedback": "Now with owners.", "action": "release",
                                                "revision": revision, "version": shown_version(page)})
    assert again.status_code == 302
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert grade.status == GradeStatus.RELEASED and grade.version_id == db.session.get(Submission, work.id).latest.id


def test_a_return_tells_the_grader_when_the_revision_is_due(course) -> None:
    """The grader was told "the learner can edit and resubmit", not until when; the learner's
    pages give a date. The flash gives it too, with the hour on the grader's clock when
    their zone is not the cohort's."""
    _, _, work = course["hand_in"](course["cohort"], "Rae Reviser")
    course["teacher"].timezone = "America/Los_Angeles"  # the cohort keeps UTC
    db.session.commit()
    teacher = course["client_for"](course["teacher"])
    returned = teacher.post(grade_url(work), data={**levels(criteria_of(work), 1), "feedback": "Add owners.",
                                                   "action": "return", "revision": ""}, follow_redirects=True)
    db.session.expire_all()
    work = db.session.get(Submission, work.id)
    cohort = db.session.get(Cohort, work.cohort_id)
    dates = dates_for(work.assignment, build_schedule(db.session, cohort, work.user_id, utcnow()), work)
    assert dates is not None and dates.revision  # its own due date passed months ago: a week from today
    local = dates.deadline.astimezone(ZoneInfo("America/Los_Angeles"))
    said = (f"Returned for revision; the revision is due {dates.due_on:%d %B %Y} "
            f"(by {local:%H:%M} {local.tzname()} on {local:%a %d %b}, your time).")
    assert said in returned.get_data(as_text=True)


def test_every_change_is_in_the_audit_trail_visible_to_admins(course) -> None:
    work = course["hand_in"](course["cohort"], "Ian Learner")[2]
    teacher = course["client_for"](course["teacher"])
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 3), "action": "draft"})
    rev = str(db.session.scalar(select(Grade)).revision)
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 0), "action": "release", "revision": rev})
    events = db.session.scalars(select(GradeEvent).order_by(GradeEvent.id)).all()
    assert [e.action for e in events] == ["draft", "release"]
    assert events[0].before is None and events[1].before["status"] == "draft" and events[1].after["status"] == "released"
    assert all(e.actor_id == course["teacher"].id for e in events)
    assert "Audit trail" in course["client_for"](course["org_admin"]).get(grade_url(work)).get_data(as_text=True)
    assert "Audit trail" not in teacher.get(grade_url(work)).get_data(as_text=True)


def test_a_grade_keeps_its_rubric_version(course, app: Flask, content_dir: Path) -> None:
    work = course["hand_in"](course["cohort"], "Rui Learner")[2]
    teacher = course["client_for"](course["teacher"])
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 0), "action": "release"})
    path = content_dir / "rubrics" / "mlops-case-rubric.yml"
    path.write_text(re.sub(r"^(    title: .*)$", r"\1 (revised)", path.read_text(), count=1, flags=re.M))
    assert app.test_cli_runner().invoke(args=["lms", "load-content"]).exit_code == 0
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert grade.rubric_version.number == 1 and work.assignment.rubric.current_number == 2
    assert "(revised)" not in teacher.get(grade_url(work)).get_data(as_text=True)


def test_refused_inputs_change_nothing(course) -> None:
    work = course["hand_in"](course["cohort"], "Noa Learner")[2]
    teacher = course["client_for"](course["teacher"])
    bad_level = {**levels(criteria_of(work)), f"level-{criteria_of(work)[0].id}": "legendary", "action": "draft"}
    response = teacher.post(grade_url(work), data=bad_level)
    assert response.status_code == 400 and "does not exist" in response.get_data(as_text=True)
    incomplete = {f"level-{criteria_of(work)[0].id}": criteria_of(work)[0].levels[0].id, "action": "release"}
    response = teacher.post(grade_url(work), data=incomplete)
    assert response.status_code == 400 and "every criterion" in response.get_data(as_text=True)
    assert db.session.scalar(select(Grade)) is None
    outsider = course["client_for"](course["other_teacher"])
    assert outsider.post(grade_url(work), data={**levels(criteria_of(work)), "action": "release"}).status_code in (403, 404)
    wrong_cohort = f"/cohorts/{course['other'].id}/submissions/{work.id}"
    assert course["client_for"](course["other_teacher"]).get(wrong_cohort).status_code == 404
    assert db.session.scalar(select(Grade)) is None


def test_unsubmitted_work_cannot_be_graded(course, enrol_learner) -> None:
    learner = enrol_learner(course["cohort"], name="Dee Drafter")
    client = course["client_for"](learner)
    client.post(f"/assignments/{CASE}/work", data={"body": "still thinking", "action": "save"})
    db.session.expire_all()
    work = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
    teacher = course["client_for"](course["teacher"])
    assert teacher.get(grade_url(work)).status_code == 404  # a draft is the learner's alone
    assert teacher.post(grade_url(work), data={"action": "draft"}).status_code == 404
    with pytest.raises(GradingError, match="no submitted work"):
        save_grade(db.session, work, course["teacher"], {}, {}, "", None, "draft", utcnow())
    assert db.session.scalar(select(Grade)) is None


def test_cohort_grades_export_as_csv_with_a_column_per_criterion(course, count_queries) -> None:
    learner, _, work = course["hand_in"](course["cohort"], "=Eve Exporter")
    teacher = course["client_for"](course["teacher"])
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 0), "action": "release"})
    response = teacher.get(f"/cohorts/{course['cohort'].id}/grades.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, row = rows[0], rows[1]
    criteria = [c.id for c in criteria_of(work)]
    assert [h for h in header if " / " in h] == [f"{CASE} / {c}" for c in criteria]
    assert row[0] == "'=Eve Exporter"  # no formula injection into spreadsheets
    assert float(row[header.index("score")]) == sum(c.levels[0].points for c in criteria_of(work))
    assert row[header.index(f"{CASE} / {criteria[0]}")] == str(criteria_of(work)[0].levels[0].points)
    url = f"/cohorts/{course['cohort'].id}/grades.csv"  # built once: the count is the request's alone
    few = count_queries(lambda: teacher.get(url))
    for n in range(4):
        course["hand_in"](course["cohort"], f"More {n}")
    assert count_queries(lambda: teacher.get(url)) == few
    assert course["client_for"](course["other_teacher"]).get(url).status_code == 404


def test_a_nul_character_in_what_is_sent_is_dropped_not_a_server_error(course) -> None:
    """A NUL pasted into a text (or sent by a crafted request) reached the database:
    PostgreSQL refuses it in text, so saving the grade's feedback, the learner's work or
    filtering the queue by it answered a 500. It is dropped from every form field and query
    argument (lms.web.inputs), as nobody types one."""
    learner, learner_client, work = course["hand_in"](course["cohort"], "Nia Nul")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    form = {**levels(criteria, 1), f"comment-{criteria[0].id}": "Sharp\x00 point.", "feedback": "Clear\x00 work.",
            "action": "draft", "revision": ""}
    assert teacher.post(grade_url(work), data=form).status_code == 302
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert grade.feedback == "Clear work." and grade.selections[criteria[0].id]["comment"] == "Sharp point."
    assert learner_client.post(f"/assignments/{CASE}/work", data={"body": "a\x00b", "action": "save"}).status_code in (302, 400)
    assert teacher.get("/grading?module=\x00mlops&status=all").status_code == 200
    assert "Nia Nul" in teacher.get("/grading?module=mlops\x00&status=all").get_data(as_text=True)


def test_saving_a_draft_of_a_released_grade_says_it_takes_the_grade_back(course) -> None:
    """A draft saved on a released grade takes it back from the learner (their feedback page
    shows no grade, their evidence is withdrawn): the grading page says so before the click,
    and the message after it no longer claims that "the learner sees nothing yet", as if
    nothing had been taken from them."""
    _, learner_client, work = course["hand_in"](course["cohort"], "Rex Released")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    form = {**levels(criteria, 1), "feedback": "Good.", "action": "release", "revision": ""}
    assert teacher.post(grade_url(work), data=form).status_code == 302
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    assert "Saving a draft takes it back from them until you release it again." in page
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    draft = {**levels(criteria, 0), "feedback": "Better.", "action": "draft", "revision": str(grade.revision)}
    saved = teacher.post(grade_url(work), data=draft, follow_redirects=True).get_data(as_text=True)
    assert "the grade the learner had is taken back until you release it again" in saved
    assert "the learner sees nothing yet" not in saved
    assert "Saving a draft takes it back" not in saved  # nothing released to take back now
    assert "No grade has been released" in learner_client.get(f"/assignments/{CASE}/feedback").get_data(as_text=True)
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    again = {**draft, "feedback": "Better still.", "revision": str(grade.revision)}
    assert "the learner sees nothing yet" in teacher.post(grade_url(work), data=again, follow_redirects=True).get_data(as_text=True)


def test_a_stale_save_of_ones_own_grade_says_it_was_yours_from_another_tab(course) -> None:
    """The same grader in two tabs: the second save was refused saying the grade "was
    changed by Tess Teacher ... Their version is shown below", as if someone else had."""
    work = course["hand_in"](course["cohort"], "Ivy Learner")[2]
    teacher = course["client_for"](course["teacher"])
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 2), "feedback": "First", "action": "draft"})
    revision = str(db.session.scalar(select(Grade)).revision)
    first = {**levels(criteria_of(work), 0), "feedback": "Tab one", "action": "draft", "revision": revision}
    assert teacher.post(grade_url(work), data=first).status_code == 302
    late = teacher.post(grade_url(work), data={**first, "feedback": "Tab two"})
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "Not saved: you changed this grade at" in page and "in another tab or window" in page
    assert "changed by Tess Teacher" not in page and "Tab two" in page


def test_regrading_the_same_work_counts_once_as_the_latest_grade(course) -> None:
    """The same grader grading the same criteria of the same work again (released, taken back,
    returned, handed in again, released again) is one judgement: the grade's evidence is
    replaced, never added to, so mastery follows the latest grade alone and a rebuild agrees."""
    learner, learner_client, work = course["hand_in"](course["cohort"], "Rex Regrade")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)

    def release(pick: int) -> None:
        db.session.expire_all()
        grade = db.session.scalar(select(Grade).where(Grade.submission_id == work.id))
        form = {**levels(criteria, pick), "feedback": "Graded.", "action": "release",
                "revision": str(grade.revision) if grade else ""}
        assert teacher.post(grade_url(work), data=form).status_code == 302
        db.session.expire_all()

    def state() -> tuple[dict[str, list[float]], dict[str, tuple[float | None, int]]]:
        db.session.expire_all()
        found: dict[str, list[float]] = {}
        for e in db.session.scalars(select(Evidence).where(Evidence.user_id == learner.id).order_by(Evidence.id)):
            found.setdefault(e.objective.key, []).append(e.level)
        return found, {m.objective.key: (m.level, m.evidence_count)
                       for m in db.session.scalars(select(Mastery).where(Mastery.user_id == learner.id))}

    release(3)  # beginning on every criterion
    first, _ = state()
    release(0)  # regraded: exemplary on every criterion
    evidence, mastery = state()
    assert set(evidence) == set(first) and all(levels_ == [4.0] for levels_ in evidence.values())
    assert all(count == 1 for _level, count in mastery.values())
    grade = db.session.scalar(select(Grade).where(Grade.submission_id == work.id))
    returned = {**levels(criteria, 1), "feedback": "Tighten the plan.", "action": "return", "revision": str(grade.revision)}
    assert teacher.post(grade_url(work), data=returned).status_code == 302
    learner_client.post(f"/assignments/{CASE}/work", data={"body": "Better analysis.", "action": "submit"})
    release(1)  # the new version, proficient
    evidence, mastery = state()
    assert all(len(levels_) == 1 for levels_ in evidence.values()) and all(count == 1 for _l, count in mastery.values())
    kept = dict(mastery)
    rebuild(db.session, utcnow())
    db.session.commit()
    assert state()[1] == kept


def test_text_the_form_let_the_grader_type_is_not_refused_for_its_line_breaks(course) -> None:
    """A browser's ``maxlength`` counts a line break as one character but sends it as CR LF:
    a comment or feedback typed to the limit, over many lines, is saved (with plain line
    breaks), and text truly too long is refused naming where it is too long."""
    work = course["hand_in"](course["cohort"], "Lou Lines")[2]
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    comment = "\r\n".join(["x" * 99] * 40)   # 3,999 characters as the form counts them, 4,038 as sent
    feedback = "\r\n".join(["y" * 99] * 200)  # 19,999 as counted, 20,198 as sent
    form = {**levels(criteria, 1), f"comment-{criteria[0].id}": comment, "feedback": feedback, "action": "draft"}
    assert teacher.post(grade_url(work), data=form).status_code == 302
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    assert grade.selections[criteria[0].id]["comment"] == comment.replace("\r\n", "\n")
    assert grade.feedback == feedback.replace("\r\n", "\n")

    too_long = {**form, f"comment-{criteria[1].id}": "z" * 4_001, "revision": str(grade.revision)}
    response = teacher.post(grade_url(work), data=too_long)
    assert response.status_code == 400
    assert f"(too long: {criteria[1].title})" in response.get_data(as_text=True)


def test_after_a_revision_the_grading_page_says_its_choices_were_for_the_returned_version(course) -> None:
    """The form opens with the levels and comments saved on the returned version (a comment
    asking for the revision, say): the grader is told, so none goes out unread with the grade."""
    _, learner_client, work = course["hand_in"](course["cohort"], "Val Version", "First try.")
    teacher = course["client_for"](course["teacher"])
    criteria = criteria_of(work)
    form = {**levels(criteria, 2), f"comment-{criteria[0].id}": "Add the support desk numbers.", "action": "return"}
    assert teacher.post(grade_url(work), data=form).status_code == 302
    assert 'id="earlier-version"' not in teacher.get(grade_url(work)).get_data(as_text=True)
    learner_client.post(f"/assignments/{CASE}/work", data={"body": "Second try, with the numbers.", "action": "submit"})
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    assert "The levels and comments below were chosen for version 1." in page
    assert "Version 2 was handed in since" in page and "Add the support desk numbers." in page
    db.session.expire_all()
    grade = db.session.scalar(select(Grade))
    saved = {**levels(criteria, 1), "feedback": "Better.", "action": "draft", "revision": str(grade.revision),
             "version": shown_version(page)}
    assert teacher.post(grade_url(work), data=saved).status_code == 302
    assert 'id="earlier-version"' not in teacher.get(grade_url(work)).get_data(as_text=True)


def test_the_grading_page_says_which_text_takes_markdown_and_the_works_state_in_words(course) -> None:
    """The learner reads the overall feedback as Markdown and a criterion's comment as typed:
    the form says so, and the work's state is words, not a stored value."""
    work = course["hand_in"](course["cohort"], "Wes Words")[2]
    teacher = course["client_for"](course["teacher"])
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    assert '<label for="feedback">Overall feedback <span class="muted small">(Markdown' in page
    assert "Comment on this criterion (plain text, shown as typed)" in page
    for criterion in criteria_of(work):  # each comment box has a label of its own, not only the placeholder's hint
        assert (f'<label class="visually-hidden" for="comment-{criterion.id}">Comment on {criterion.title} (plain text)'
                '</label>') in page
    assert "· waiting for a grade</p>" in page and "status submitted" not in page
    criteria = criteria_of(work)
    teacher.post(grade_url(work), data={**levels(criteria, 1), "feedback": "Revise.", "action": "return"})
    assert "· returned for revision, waiting for the learner</p>" in teacher.get(grade_url(work)).get_data(as_text=True)


# The MLOps case rubric's key for its first criterion: the worked figures a learner must find.
WORKED = "164 lost minutes of 43,200"


def test_the_graders_key_is_on_the_grading_page_and_never_on_the_learners_pages(course) -> None:
    """A case rubric's key holds the worked answers: the instructor grading reads it beside
    the levels; the learner's assignment, work and released feedback pages never show it,
    and the descriptors they do show no longer carry the figures."""
    learner, client, work = course["hand_in"](course["cohort"], "Kim Learner")
    first = criteria_of(work)[0]
    assert first.id == "metric-analysis" and WORKED in first.key
    assert "14 of 18" not in " ".join(lv.descriptor for lv in first.levels)
    teacher = course["client_for"](course["teacher"])
    grading = teacher.get(grade_url(work)).get_data(as_text=True)
    assert "Grader's key" in grading and WORKED in grading
    assert teacher.post(grade_url(work), data={**levels(criteria_of(work), 1), "feedback": "Good.", "action": "release",
                                                "revision": ""}).status_code == 302
    for url in (f"/assignments/{CASE}", f"/assignments/{CASE}/work", f"/assignments/{CASE}/feedback"):
        page = client.get(url).get_data(as_text=True)
        assert "Grader's key" not in page and WORKED not in page and "14 of 18" not in page, url
    assert "Good." in client.get(f"/assignments/{CASE}/feedback").get_data(as_text=True)  # the released feedback page
    staff_view = teacher.get(f"/assignments/{CASE}").get_data(as_text=True)
    assert WORKED not in staff_view


def test_the_grading_page_tells_the_due_date_that_applies_with_the_extension_and_who_granted_it(course, count_queries) -> None:
    """An extension moves the learner's due date (``deadline_that_applies``): the grader reads
    the date that applies, who granted the extension, and the work's lateness against it."""
    cohort, teacher_user = course["cohort"], course["teacher"]
    learner, _, work = course["hand_in"](cohort, "Ella Extended")
    teacher = course["client_for"](teacher_user)
    dates = dates_for(work.assignment, build_schedule(db.session, cohort, learner.id, utcnow()))
    handed_at = work.latest.submitted_at.astimezone(ZoneInfo(cohort.timezone)).date()
    assert dates.due_on < handed_at  # a case study from month 1 handed in in month 6: late against the regular date
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    assert f"Due {dates.due_on:%d %B %Y} ·" in page and "<strong>late</strong> against it" in page and "extension" not in page

    extended_to = handed_at + timedelta(days=7)
    grant_override(db.session, cohort, learner, work.assignment.phase_id, "extension", extended_to, "ill", course["org_admin"],
                   utcnow(), item_due=dates.due_on)
    db.session.commit()
    page = teacher.get(grade_url(work)).get_data(as_text=True)
    assert f"Due {extended_to:%d %B %Y}, the date of the extension Olga Admin granted on" in page
    assert "on time against it" in page and '<span class="tag">late</span>' not in page  # the kept flag agrees

    def statements() -> int:
        db.session.expire_all()  # the page's own statements, not what this test's session kept
        return count_queries(lambda: teacher.get(grade_url(work)))

    few = statements()
    for n in range(3):
        course["hand_in"](cohort, f"Classmate {n}")
    assert statements() == few


def test_the_audit_trail_writes_scores_as_the_rest_of_the_site(course) -> None:
    """A whole score reads "17", not the stored float's "17.0"; a half point stays "17.5"."""
    work = course["hand_in"](course["cohort"], "Ada Audited")[2]
    teacher = course["client_for"](course["teacher"])
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 3), "action": "draft"})
    rev = str(db.session.scalar(select(Grade)).revision)
    teacher.post(grade_url(work), data={**levels(criteria_of(work), 0), "action": "release", "revision": rev})
    events = db.session.scalars(select(GradeEvent).order_by(GradeEvent.id)).all()
    drafted, released = events[0].after["score"], events[1].after["score"]
    page = course["client_for"](course["org_admin"]).get(grade_url(work)).get_data(as_text=True)
    trail = page[page.index("Audit trail"):]
    assert f"<td>draft · {drafted:g}</td>" in trail and f"<td>released · {released:g}</td>" in trail
    assert f"<td>draft · {drafted:g}</td><td>released · {released:g}</td>" in trail.replace("\n      ", "")
    assert not re.search(r"· \d+\.0<", trail)
