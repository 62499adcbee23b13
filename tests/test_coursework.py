"""Assessed work as content: case studies, hands-on assignments, the capstone and their
rubrics load with the usual guarantees; learners see each brief once its phase opens."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import JSON, bindparam, func, select, type_coerce
from sqlalchemy import text as sql_text

from lms.coursework.models import Assignment, Rubric, RubricVersion, Submission, SubmissionStatus, SubmissionVersion
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade, GradeStatus
from lms.learning.services import month_opens_on
from tests.content_edits import problems_at, replace_once

MODULES = {"mlops", "customer-success", "process-optimization", "quality-assurance",
           "international-operations", "operations-implementation"}


def run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


def test_every_module_has_a_case_study_and_a_hands_on_assignment(app: Flask, loaded) -> None:
    assignments = db.session.scalars(select(Assignment)).all()
    for kind in ("case_study", "hands_on"):
        assert {a.module.key for a in assignments if a.kind == kind} == MODULES, kind
    capstone = [a for a in assignments if a.kind == "capstone"]
    assert len(capstone) == 1 and 9 <= capstone[0].phase.month <= 12
    for a in assignments:
        assert a.deliverables and a.objectives and a.body.strip()
        criteria = a.rubric.current.criteria
        assert len(criteria) >= 3, a.key
        assert all(c.objectives for c in criteria)


def test_each_level_has_a_portfolio_rubric(app: Flask, loaded) -> None:
    portfolio = {r.level.key: r for r in db.session.scalars(select(Rubric).where(Rubric.level_id.is_not(None)))}
    assert set(portfolio) == {"foundation", "intermediate", "advanced"}
    for rubric in portfolio.values():
        assert rubric.current.max_points > 0


def test_an_edited_rubric_gets_a_new_version_and_keeps_the_old(app: Flask, content_dir: Path) -> None:
    assert run(app).exit_code == 0
    path = content_dir / "rubrics" / "mlops-case-rubric.yml"
    original = path.read_text()
    edited = re.sub(r"^(    title: .*)$", r"\1 (revised)", original, count=1, flags=re.M)
    assert edited != original
    path.write_text(edited)
    result = run(app)
    assert result.exit_code == 0 and "rubric versions: 1 created" in result.output
    db.session.expire_all()
    rubric = db.session.scalar(select(Rubric).where(Rubric.key == "mlops-case-rubric"))
    assert [v.number for v in rubric.versions] == [1, 2] and rubric.current_number == 2
    path.write_text(original)
    result = run(app)
    assert "rubric versions: 1 restored" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(RubricVersion).where(RubricVersion.rubric_id == rubric.id)) == 2
    assert db.session.get(Rubric, rubric.id).current_number == 1
    assert "No changes" in run(app).output


def test_a_removed_assignment_is_retired(app: Flask, content_dir: Path) -> None:
    run(app)
    (content_dir / "modules" / "mlops" / "assignments" / "01-case-study.md").unlink()
    for template in (content_dir / "templates").glob("*.md"):  # templates that named it for the assignment stop naming it
        text = template.read_text()
        template.write_text(text.replace("mlops-case-coldwatch, ", "").replace(", mlops-case-coldwatch", "")
                            .replace("[mlops-case-coldwatch]", "[]"))
    assert "assignments: " in run(app).output
    db.session.expire_all()
    retired = db.session.scalar(select(Assignment).where(Assignment.key == "mlops-case-coldwatch"))
    assert retired is not None and retired.retired_at is not None


BAD = {
    "unknown rubric": ("modules/mlops/assignments/01-case-study.md", "rubric: mlops-case-rubric", "rubric: no-such-rubric", "unknown rubric 'no-such-rubric'"),
    "unknown phase": ("modules/mlops/assignments/01-case-study.md", "phase: foundation", "phase: nowhere", "has no phase 'nowhere'"),
    "unknown objective": ("rubrics/mlops-case-rubric.yml", "objectives: [", "objectives: [KO9, ", "unknown objective code 'KO9'"),
    "points not descending": ("rubrics/mlops-case-rubric.yml", "points: 4", "points: 1", "points strictly descending"),
    "second portfolio rubric": ("rubrics/mlops-case-rubric.yml", "\ncriteria:", "\nlevel: foundation\ncriteria:", "already has a portfolio rubric"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_coursework_is_refused_with_file_and_line(app: Flask, content_dir: Path, case: str) -> None:
    file, old, new, message = BAD[case]
    path = content_dir / file
    text = path.read_text()
    assert old in text, (file, old)
    path.write_text(text.replace(old, new, 1))
    result = run(app, "--check")
    assert result.exit_code == 1
    assert message in result.output
    assert re.search(r"\.(yml|md):\d+: ", result.output)


def test_learners_open_released_work_and_see_due_dates(app: Flask, loaded, make_cohort, enrol_learner, login, make_user) -> None:
    cohort = make_cohort(months_ago=5)  # month 6
    client = app.test_client()
    login(client, enrol_learner(cohort))
    case = client.get("/assignments/mlops-case-coldwatch")
    assert case.status_code == 200
    due = month_opens_on(cohort.start_date, 1) + timedelta(days=21)
    page = case.get_data(as_text=True)
    assert f"due {due:%d %B %Y}" in page and "What to hand in" in page and "How it is graded" in page
    locked = client.get("/assignments/po-hands-on-automate-core-process")  # month 7
    assert locked.status_code == 403 and "opens for your cohort on" in locked.get_data(as_text=True)
    listing = client.get("/coursework").get_data(as_text=True)
    assert "mlops-case-coldwatch" in listing and "opens " in listing

    staff = app.test_client()
    login(staff, make_user(admin=True))
    assert staff.get("/assignments/po-hands-on-automate-core-process").status_code == 200
    assert app.test_client().get("/assignments/mlops-case-coldwatch").status_code == 302
    assert staff.get("/assignments/no-such-thing").status_code == 404


def test_a_learner_in_another_zone_is_told_the_hour_their_work_falls_due(
        app: Flask, loaded, make_cohort, enrol_learner, login) -> None:
    """Work is late once the due day has ended in the cohort's zone (``handed_in_late``): a
    learner elsewhere reads that moment in their own time beside the due date, on the brief
    and on their work page; a learner whose midnight it is reads the date alone. They read
    the date alone, and someone in Los Angeles handing in that evening was late."""
    cohort = make_cohort(months_ago=5, timezone="Europe/London")  # month 6
    work = db.session.scalar(select(Assignment).where(Assignment.key == "mlops-hands-on-own-pipeline"))
    due = month_opens_on(cohort.start_date, 6) + timedelta(days=work.due_after_days)  # the month's first hands-on work
    end = datetime.combine(due + timedelta(days=1), time(0), tzinfo=ZoneInfo("Europe/London"))
    west = end.astimezone(ZoneInfo("America/Los_Angeles"))
    there, here = app.test_client(), app.test_client()
    login(there, enrol_learner(cohort, timezone="America/Los_Angeles"))
    login(here, enrol_learner(cohort, timezone="Europe/London"))
    told = f"(by {west:%H:%M} {west.tzname()} on {west:%a %d %b}, your time)"
    for path in ("/assignments/mlops-hands-on-own-pipeline", "/assignments/mlops-hands-on-own-pipeline/work"):
        page = there.get(path).get_data(as_text=True)
        assert f"{due:%d %B %Y}" in page and told in page, path
        page = here.get(path).get_data(as_text=True)
        assert f"{due:%d %B %Y}" in page and "your time)" not in page, path


def test_a_draft_saved_from_another_tab_is_not_overwritten_by_a_page_opened_before(
        app: Flask, loaded, make_cohort, enrol_learner, login) -> None:
    """Two tabs on one piece of work: the one opened first, saved last, is refused (409, its
    text kept in the form, the draft saved from the other shown to copy from) instead of
    silently replacing the other's draft; saved again from that page, it goes through. It
    replaced it, and the learner lost what they had written in the other tab."""
    cohort = make_cohort(months_ago=5)
    client = app.test_client()
    login(client, enrol_learner(cohort))
    url = "/assignments/mlops-hands-on-own-pipeline/work"

    def base(page: str) -> str:
        found = re.search(r'name="base" type="hidden" value="([^"]*)"', page)
        return found.group(1) if found else ""  # the work form carries (a digest of) the draft it showed

    first, second = base(client.get(url).get_data(as_text=True)), base(client.get(url).get_data(as_text=True))
    assert client.post(url, data={"body": "Three hours of writing", "action": "save", "base": second}).status_code == 302
    refused = client.post(url, data={"body": "An old page's text", "action": "submit", "base": first})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "saved from another tab or window" in page
    assert '<textarea id="saved-meanwhile-body" rows="8" readonly>\nThree hours of writing</textarea>' in page
    assert "An old page&#39;s text</textarea>" in page  # the refused text, kept in the form
    work = db.session.scalars(select(Submission).where(Submission.draft_body.is_not(None))).one()
    assert work.draft_body == "Three hours of writing" and not work.versions  # neither overwritten nor handed in
    merged = client.post(url, data={"body": "Three hours of writing, merged", "action": "save", "base": base(page)})
    assert merged.status_code == 302
    db.session.expire_all()
    assert db.session.get(Submission, work.id).draft_body == "Three hours of writing, merged"


def test_staff_see_the_dates_of_a_cohort_of_theirs(app: Flask, loaded, world, login) -> None:
    """An instructor's list shows their cohort's dates; an organization admin chooses among
    their cohorts; another organization's cohort is not found."""
    coldwatch_due = f"due {month_opens_on(world.cohort_a.start_date, 1) + timedelta(days=21):%d %b %Y}"
    teacher = app.test_client()
    login(teacher, world.instructor_a)
    listing = teacher.get("/coursework").get_data(as_text=True)
    assert coldwatch_due in listing and f'<option value="{world.cohort_a.id}" selected>Alpha 1</option>' in listing
    assert 'href="/assignments/po-hands-on-automate-core-process"' in listing  # month 7: not open, but staff read it
    assert "opens " in listing
    assert teacher.get(f"/coursework?cohort={world.cohort_b.id}").status_code == 404
    assert teacher.get(f"/coursework?cohort={world.cohort_a2.id}").status_code == 404  # not theirs to teach

    manager = app.test_client()
    login(manager, world.org_admin_a)
    newer = manager.get(f"/coursework?cohort={world.cohort_a2.id}").get_data(as_text=True)
    assert f"due {month_opens_on(world.cohort_a2.start_date, 1) + timedelta(days=21):%d %b %Y}" in newer
    assert ">Alpha 1</option>" in newer and ">Alpha 2</option>" in newer
    assert manager.get(f"/coursework?cohort={world.cohort_b.id}").status_code == 404

    learner = app.test_client()
    login(learner, world.learner_a)
    own = learner.get(f"/coursework?cohort={world.cohort_b.id}").get_data(as_text=True)  # a learner's own dates
    assert coldwatch_due in own and "Dates of" not in own


# --------------------------------------------------------------------------- assessment validity lint


CASE_RUBRIC = "rubrics/mlops-case-rubric.yml"
LAST_LEVEL = ('      - {id: beginning, title: Beginning, points: 1, descriptor: "Figures are missing, copied from the '
              'scenario without calculation, or compared with the wrong target."}\n')


def test_a_criterion_graded_on_other_levels_is_refused_at_its_levels(app: Flask, content_dir: Path) -> None:
    rubric = content_dir / CASE_RUBRIC
    text = rubric.read_text()
    levels_line = text[: text.index("    levels:")].count("\n") + 1  # the first criterion's levels
    replace_once(rubric, LAST_LEVEL, "")  # three levels where every other criterion has four

    result = run(app, "--check")

    assert result.exit_code == 1
    message = " ".join(problems_at(result.output, rubric)[levels_line])
    assert "criterion 'metric-analysis' grades on the levels exemplary (Exemplary, 4), proficient (Proficient, 3), " \
           "developing (Developing, 2);" in message, result.output
    assert "in this order: exemplary (Exemplary, 4), proficient (Proficient, 3), developing (Developing, 2), " \
           "beginning (Beginning, 1)" in message


def test_levels_in_another_order_or_named_otherwise_are_refused(app: Flask, content_dir: Path) -> None:
    rubric = content_dir / CASE_RUBRIC
    replace_once(rubric, "      - {id: beginning, title: Beginning, points: 1, descriptor: \"Figures",
             "      - {id: novice, title: Novice, points: 1, descriptor: \"Figures")

    result = run(app, "--check")

    assert result.exit_code == 1
    assert "criterion 'metric-analysis' grades on the levels" in result.output and "novice (Novice, 1)" in result.output


def test_a_descriptor_that_only_judges_is_refused_on_its_line(app: Flask, content_dir: Path) -> None:
    rubric = content_dir / CASE_RUBRIC
    line = replace_once(rubric, '"Figures are missing, copied from the scenario without calculation, or compared with the wrong target."',
                    '"Poor work, below expectations."')

    result = run(app, "--check")

    assert result.exit_code == 1
    assert problems_at(result.output, rubric)[line] == [
        "criterion 'metric-analysis', level 'beginning': 'Poor work, below expectations.' judges the work without "
        "saying what it shows; describe what an instructor would find in work at this level"], result.output


def test_two_levels_with_one_descriptor_are_refused(app: Flask, content_dir: Path) -> None:
    rubric = content_dir / CASE_RUBRIC
    text = rubric.read_text()
    start = text.index("      - {id: developing, title: Developing, points: 2, descriptor: \"Only one figure")
    developing = text[start: text.index("}", start)].split("descriptor: ", 1)[1]
    line = replace_once(rubric, '"Figures are missing, copied from the scenario without calculation, or compared with the wrong target."',
                    developing)

    result = run(app, "--check")

    assert result.exit_code == 1
    assert ("criterion 'metric-analysis': level 'beginning' has the same descriptor as level 'developing', so the two "
            "cannot be told apart") in problems_at(result.output, rubric)[line], result.output


def test_a_team_assignment_claiming_an_application_objective_is_refused(app: Flask, content_dir: Path) -> None:
    team = content_dir / "modules/international-operations/assignments/02-hands-on.md"
    line = replace_once(team, "objectives: [KO3, SO3]", "objectives: [KO3, SO3, AO1]")
    replace_once(content_dir / "rubrics/international-operations-hands-on-rubric.yml",
             "      the plan in a board-style review before handing it in.\n    objectives: [KO3, SO3]",
             "      the plan in a board-style review before handing it in.\n    objectives: [KO3, SO3, AO1]")

    result = run(app, "--check")

    assert result.exit_code == 1
    assert problems_at(result.output, team)[line] == [
        "AO1 is an application objective (results in the learner's own business), and a team assignment gives every "
        "member the grade of one piece about one business: name the knowledge or skill objective the team's work "
        "shows"], result.output
    assert "does not claim" not in result.output  # both sides agree: only the team rule speaks


def test_a_portfolio_due_before_its_levels_work_is_refused_at_its_due_date(app: Flask, content_dir: Path) -> None:
    review = content_dir / "modules/operations-implementation/assignments/09-portfolio-advanced.md"
    line = replace_once(review, "due_after_days: 42", "due_after_days: 28")

    result = run(app, "--check")

    assert result.exit_code == 1
    messages = problems_at(result.output, review)[line]
    assert ("the advanced portfolio review 'portfolio-advanced' is due 28 days into month 12, but 'impl-capstone' "
            "(02-capstone.md) of the same level is due 35 days into month 12: a review falls due after the work it "
            "collects") in messages, result.output
    assert any("'impl-thought-leadership'" in m for m in messages)
    assert not any("'impl-innovation-proposal'" in m for m in messages)  # month 10's work falls due well before


def test_a_rubric_version_stored_before_keys_existed_still_loads(app: Flask, loaded) -> None:
    """Criteria are typed JSON: a version whose stored criteria have no ``key`` reads "" for it,
    and a criterion without a key checksums as it did before keys existed."""
    rubric = db.session.scalar(select(Rubric).where(Rubric.key == "mlops-case-rubric"))
    version = rubric.current
    column = RubricVersion.__table__.c.criteria
    raw = db.session.execute(select(type_coerce(column, JSON)).where(RubricVersion.id == version.id)).scalar_one()
    stored = [{k: v for k, v in c.items() if k != "key"} for c in raw]
    assert any("key" in c for c in raw) and not any("key" in c for c in stored)
    db.session.execute(sql_text("UPDATE rubric_versions SET criteria = :criteria WHERE id = :id")
                       .bindparams(bindparam("criteria", type_=JSON)), {"criteria": stored, "id": version.id})
    db.session.commit()
    db.session.expire_all()
    old = db.session.get(RubricVersion, version.id)
    assert [c.key for c in old.criteria] == [""] * len(old.criteria)
    assert old.criteria[0].levels[0].id == "exemplary"
    assert "key" not in old.criteria[0].fingerprint()


def _work(learner, assignment: Assignment, status: SubmissionStatus, cohort) -> Submission:
    work = Submission(assignment_id=assignment.id, user_id=learner.id, cohort_id=cohort.id, status=status)
    db.session.add(work)
    db.session.flush()
    return work


def test_a_learner_sees_where_each_piece_of_work_stands_in_one_statement(
        app: Flask, loaded, make_cohort, enrol_learner, make_user, login, count_queries) -> None:
    cohort = make_cohort(months_ago=5)
    learner, grader = enrol_learner(cohort), make_user(name="Gail Grader")
    client = app.test_client()
    login(client, learner)
    items = db.session.scalars(select(Assignment).where(Assignment.team_max.is_(None), Assignment.retired_at.is_(None))
                               .order_by(Assignment.id).limit(4)).all()
    _work(learner, items[0], SubmissionStatus.DRAFT, cohort)
    db.session.commit()
    before = count_queries(lambda: client.get("/coursework"))

    _work(learner, items[1], SubmissionStatus.SUBMITTED, cohort)
    _work(learner, items[2], SubmissionStatus.RETURNED, cohort)
    graded = _work(learner, items[3], SubmissionStatus.RELEASED, cohort)
    version = SubmissionVersion(submission_id=graded.id, number=1, body="Done.", attachment_ids=[], submitted_at=utcnow())
    db.session.add(version)
    db.session.flush()
    db.session.add(Grade(submission_id=graded.id, version_id=version.id, rubric_version_id=items[3].rubric.current.id,
                         grader_id=grader.id, selections={}, score=7.5, max_score=12, status=GradeStatus.RELEASED))
    db.session.commit()
    assert count_queries(lambda: client.get("/coursework")) == before  # more work, no more statements

    html = client.get("/coursework").get_data(as_text=True)
    rows = {a.key: row for a in items for row in re.findall(r"<tr>.*?</tr>", html, re.S) if f"{a.title}<" in row}
    assert ">draft<" in rows[items[0].key] and ">submitted<" in rows[items[1].key]
    assert ">returned for revision<" in rows[items[2].key] and "graded: 7.5 of 12 points" in rows[items[3].key]
    assert html.count(">not started<") == len(re.findall(r"<tr>", html)) - 1 - 4  # the header row and the four above

    staff = app.test_client()
    login(staff, make_user(admin=True))
    assert "Your work" not in staff.get("/coursework").get_data(as_text=True)
