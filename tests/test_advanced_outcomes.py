"""The advanced level's outcomes are assessed work, not goal text: an innovation proposal and a
published thought-leadership piece, each graded with a rubric that maps AO3 (and the other
objectives it serves), so a released grade moves the learner's application mastery."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lms.catalog.models import Level
from lms.coursework.models import Assignment, AssignmentKind, Attachment, Rubric, Submission, SubmissionStatus
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade
from lms.progress.completion import learner_progress
from lms.progress.models import Evidence, ItemKind, Mastery

PROPOSAL = "impl-innovation-proposal"
PIECE = "impl-thought-leadership"
ADVANCED = (PROPOSAL, PIECE)
SHIPPED = Path(__file__).resolve().parent.parent / "content"


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


def assignment(key: str) -> Assignment:
    found = db.session.scalar(select(Assignment).where(Assignment.key == key))
    assert found is not None, key
    return found


# --------------------------------------------------------------------------- the content


def test_both_outcomes_are_hands_on_work_in_the_advanced_level(loaded: Flask) -> None:
    advanced = db.session.scalar(select(Level).where(Level.key == "advanced"))
    for key in ADVANCED:
        item = assignment(key)
        assert item.kind == AssignmentKind.HANDS_ON and item.retired_at is None
        assert item.module.key == "operations-implementation"
        assert advanced.first_month <= item.phase.month <= advanced.last_month, key
        assert "AO3" in [o.key for o in item.objectives]
        assert item.deliverables and 400 <= len(item.body.split()) <= 900, (key, len(item.body.split()))
        for heading in ("Apply it to your business", "What to hand in", "How it is judged"):
            assert f"## {heading}" in item.body, (key, heading)
    assert assignment(PIECE).phase.month == 12
    assert "Evidence of publication" in " ".join(assignment(PIECE).deliverables)


@pytest.mark.parametrize(("key", "central", "served"), [
    # a proposal has measurement and process change behind it but no results yet: no AO1
    (PROPOSAL, {"the-innovation", "expected-effect", "pilot-and-measurement", "leading-adoption"}, {"KO4", "SO4"}),
    (PIECE, {"lesson-and-results", "usefulness-to-peers", "publication-and-response"}, {"AO1", "KO4", "SO4"}),
])
def test_each_rubric_maps_ao3_on_its_central_criteria(loaded: Flask, key: str, central: set[str], served: set[str]) -> None:
    item = assignment(key)
    criteria = item.rubric.current.criteria
    assert 4 <= len(criteria) <= 6 and item.rubric.level is None  # a graded rubric, not a level's portfolio rubric
    scheme = [(lv.id, lv.points) for lv in assignment("impl-hands-on-roadmap").rubric.current.criteria[0].levels]
    for c in criteria:
        assert [(lv.id, lv.points) for lv in c.levels] == scheme, c.id  # the same four levels as every rubric
        assert all(lv.descriptor.strip() for lv in c.levels)
    mapped = {c.id: set(c.objectives) for c in criteria}
    assert all("AO3" in mapped[c] for c in central), mapped
    # Every objective a criterion evidences is one the assignment declares, and the other
    # objectives served (measured results, process change, measurement) are mapped too.
    declared = {o.key for o in item.objectives}
    assert set().union(*mapped.values()) == declared
    assert served <= declared
    if key == PROPOSAL:
        assert "AO1" not in declared  # predicted effects are not achieved ones


def test_the_shipped_content_passes_the_check_with_the_new_work(app: Flask) -> None:
    result = invoke(app, "--check")
    assert result.exit_code == 0, result.output
    for name in ("03-innovation-proposal.md", "04-thought-leadership.md"):
        assert (SHIPPED / "modules" / "operations-implementation" / "assignments" / name).is_file()
    for name in ("innovation-proposal-rubric.yml", "thought-leadership-rubric.yml"):
        assert (SHIPPED / "rubrics" / name).is_file()


def test_loading_twice_changes_nothing_and_keeps_the_ids(app: Flask, content_dir: Path) -> None:
    assert invoke(app).exit_code == 0
    ids = {key: assignment(key).id for key in ADVANCED}
    rubrics = {key: (assignment(key).rubric_id, assignment(key).rubric.current_number) for key in ADVANCED}
    second = invoke(app)
    assert second.exit_code == 0 and "No changes" in second.output, second.output
    db.session.expire_all()
    assert {key: assignment(key).id for key in ADVANCED} == ids
    assert {key: (assignment(key).rubric_id, assignment(key).rubric.current_number) for key in ADVANCED} == rubrics
    assert db.session.scalar(select(func.count()).select_from(Rubric).where(
        Rubric.key.in_(["innovation-proposal-rubric", "thought-leadership-rubric"]))) == 2


# --------------------------------------------------------------------------- the work, done


def hand_in(client: FlaskClient, key: str, body: str, upload: tuple[str, bytes] | None = None):
    fields: dict[str, object] = {"body": body, "action": "submit"}
    if upload:
        fields["file"] = FileStorage(io.BytesIO(upload[1]), filename=upload[0])
    boundary, data = encode_multipart(fields)
    return client.post(f"/assignments/{key}/work", data=data, content_type=f"multipart/form-data; boundary={boundary}")


def work_of(user_id: int, key: str) -> Submission:
    db.session.expire_all()
    found = db.session.scalar(select(Submission).join(Submission.assignment)
                              .where(Submission.user_id == user_id, Assignment.key == key))
    assert found is not None
    return found


def ao3_mastery(user_id: int) -> float | None:
    db.session.expire_all()
    return db.session.scalar(select(Mastery.level).join(Mastery.objective)
                             .where(Mastery.user_id == user_id, Mastery.objective.has(key="AO3")))


def grade_and_release(teacher: FlaskClient, work: Submission, pick: int, feedback: str) -> None:
    """Grade every criterion at the level ``pick`` (0 is the best) and release."""
    url = f"/cohorts/{work.cohort_id}/submissions/{work.id}"
    levels = {f"level-{c.id}": c.levels[pick].id for c in work.assignment.rubric.current.criteria}
    assert teacher.get(url).status_code == 200
    assert teacher.post(url, data={**levels, "feedback": feedback, "action": "draft", "revision": ""}).status_code == 302
    revision = db.session.scalar(select(Grade.revision).where(Grade.submission_id == work.id))
    released = teacher.post(url, data={**levels, "feedback": feedback, "action": "release", "revision": str(revision)})
    assert released.status_code == 302


@pytest.fixture()
def month_twelve(app: Flask, loaded, make_cohort, enrol_learner, make_user, login):
    teacher = make_user(name="Tove Teacher")
    cohort = make_cohort(months_ago=11, instructors=[teacher])  # the cohort is in month 12
    learner = enrol_learner(cohort, name="Ada Founder")
    client, staff = app.test_client(), app.test_client()
    login(client, learner)
    login(staff, teacher)
    return cohort, learner, client, staff


def test_a_month_twelve_learner_does_both_and_ao3_mastery_moves(month_twelve, app: Flask) -> None:
    cohort, learner, client, staff = month_twelve
    listing = client.get("/coursework").get_data(as_text=True)
    for key in ADVANCED:
        assert f"/assignments/{key}" in listing  # listed and open, with a link to the brief
        brief = client.get(f"/assignments/{key}")
        assert brief.status_code == 200
        page = brief.get_data(as_text=True)
        assert "What to hand in" in page and "How it is graded" in page and "AO3" in page
    assert ao3_mastery(learner.id) is None

    # The innovation proposal: text only.
    assert hand_in(client, PROPOSAL, "## Summary\nDraft first replies for the ten commonest tickets.").status_code == 302
    proposal = work_of(learner.id, PROPOSAL)
    assert proposal.status == SubmissionStatus.SUBMITTED and proposal.cohort_id == cohort.id
    grade_and_release(staff, proposal, 1, "A testable idea; the guard metric is well chosen.")
    after_proposal = ao3_mastery(learner.id)
    assert after_proposal == pytest.approx(3.0)  # every criterion proficient: 3 of 4

    # The thought-leadership piece with its evidence of publication attached.
    screenshot = b"\x89PNG\r\n\x1a\n listing of the talk"
    response = hand_in(client, PIECE, "## My talk\nPublished at https://example.org/meetup/talk", ("programme.png", screenshot))
    assert response.status_code == 302
    piece = work_of(learner.id, PIECE)
    assert piece.status == SubmissionStatus.SUBMITTED
    [evidence_file] = piece.current_attachments
    assert piece.latest is not None and piece.latest.attachment_ids == [evidence_file.id]
    assert staff.get(f"/attachments/{evidence_file.id}").data == screenshot  # the grader sees the evidence
    grade_and_release(staff, piece, 0, "Peers can use this on Monday.")

    # Rubric evidence counts toward AO3 (an application objective) at full weight, and the
    # mastery moves up from the proposal's level toward the piece's.
    db.session.expire_all()
    rows = db.session.scalars(select(Evidence).join(Evidence.objective)
                              .where(Evidence.user_id == learner.id, Evidence.objective.has(key="AO3"))
                              .order_by(Evidence.id)).all()
    assert [(e.source, e.weight) for e in rows] == [("rubric", 1), ("rubric", 1)]
    assert [e.level for e in rows] == [pytest.approx(3.0), pytest.approx(4.0)]
    after_piece = ao3_mastery(learner.id)
    assert after_piece is not None and after_proposal < after_piece < 4.0
    assert "Peers can use this on Monday." in client.get(f"/assignments/{PIECE}/feedback").get_data(as_text=True)

    # Both count toward the advanced level and show in the learner's advanced portfolio.
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    advanced = progress.level_status("advanced")
    assert advanced is not None
    part = next(p for p in advanced.parts if p.module.key == "operations-implementation")
    done = {i.key: i.done for i in part.items if i.kind == ItemKind.ASSIGNMENT}
    assert done[PROPOSAL] and done[PIECE]
    assert not advanced.complete  # the rest of the level's work is still to do
    portfolio = client.get("/portfolio/advanced").get_data(as_text=True)
    assert assignment(PROPOSAL).title in portfolio and assignment(PIECE).title in portfolio


def test_the_advanced_level_is_not_complete_without_them(month_twelve) -> None:
    cohort, learner, _client, _staff = month_twelve
    advanced = learner_progress(db.session, cohort, learner.id, utcnow()).level_status("advanced")
    assert advanced is not None
    part = next(p for p in advanced.parts if p.module.key == "operations-implementation")
    keys = {i.key for i in part.items if i.kind == ItemKind.ASSIGNMENT}
    assert set(ADVANCED) <= keys and not part.done


def test_an_earlier_learner_cannot_open_them_yet(app: Flask, loaded, make_cohort, enrol_learner, login) -> None:
    client = app.test_client()
    login(client, enrol_learner(make_cohort(months_ago=5)))  # month 6
    for key in ADVANCED:
        response = client.get(f"/assignments/{key}")
        assert response.status_code == 403 and "opens for your cohort on" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
