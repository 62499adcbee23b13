"""Critique assignments (issue 12 point 7): the kind loads with its artifact template, the
loader refuses a critique without an artifact or with an unknown one (file and line), the
assignment page links the artifact, and a released critique grade is case-study evidence.
And the three level portfolio briefs (point 8) ask for different things."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Assignment, AssignmentKind, Submission
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import save_grade
from lms.progress.evidence import grade_outcome
from lms.progress.sources import CaseStudySource, RubricSource
from tests.conftest import SHIPPED_CONTENT
from tests.test_evidence import evidence_of

CRITIQUES = {
    "mlops-critique-on-call-runbook": "flawed-on-call-runbook",
    "po-critique-onboarding-sop": "flawed-sop",
    "intl-critique-compliance-register": "flawed-compliance-register",
}
RUNBOOK = "mlops-critique-on-call-runbook"


def check(app: Flask):
    return app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])


def critique_file(content_dir: Path) -> Path:
    return content_dir / "modules" / "mlops" / "assignments" / "03-critique-on-call-runbook.md"


def test_the_shipped_critiques_load_with_their_artifacts(app: Flask, loaded) -> None:
    with app.app_context():
        found = {a.key: a for a in db.session.scalars(select(Assignment).where(Assignment.kind == AssignmentKind.CRITIQUE))}
        assert {k: a.artifact for k, a in found.items()} == CRITIQUES
        assert found[RUNBOOK].kind_label == "Critique" and found[RUNBOOK].rubric.key == "mlops-critique-rubric"
    for template in CRITIQUES.values():
        lines = (SHIPPED_CONTENT / "templates" / f"{template}.md").read_text().splitlines()
        assert 60 <= len(lines) <= 130, (template, len(lines))


def test_a_critique_without_an_artifact_is_refused_with_file_and_line(app: Flask, content_dir: Path) -> None:
    path = critique_file(content_dir)
    text = path.read_text()
    path.write_text(text.replace("artifact: flawed-on-call-runbook\n", ""))
    result = check(app)
    assert result.exit_code != 0
    kind_line = next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if line.startswith("kind:"))
    assert f"03-critique-on-call-runbook.md:{kind_line}: a critique needs an artifact" in result.output, result.output


def test_a_critique_with_an_unknown_template_is_refused_with_file_and_line(app: Flask, content_dir: Path) -> None:
    path = critique_file(content_dir)
    path.write_text(path.read_text().replace("artifact: flawed-on-call-runbook", "artifact: no-such-template"))
    result = check(app)
    assert result.exit_code != 0
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if text.startswith("artifact:"))
    assert f"03-critique-on-call-runbook.md:{line}: the critique's artifact is an unknown template 'no-such-template'" \
        in result.output, result.output


def test_an_artifact_on_another_kind_is_refused(app: Flask, content_dir: Path) -> None:
    path = content_dir / "modules" / "mlops" / "assignments" / "01-case-study.md"
    path.write_text(path.read_text().replace("kind: case_study\n", "kind: case_study\nartifact: flawed-on-call-runbook\n"))
    result = check(app)
    assert result.exit_code != 0
    assert "01-case-study.md:4: only a critique has an artifact" in result.output, result.output


def test_the_assignment_page_shows_and_links_the_artifact(app: Flask, client, loaded, make_cohort,
                                                         enrol_learner, login) -> None:
    login(client, enrol_learner(make_cohort(months_ago=1)))
    page = client.get(f"/assignments/{RUNBOOK}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "The artifact to assess" in html and "Flawed artifact: Kestrel Docs on-call runbook" in html
    assert 'href="/templates/flawed-on-call-runbook"' in html
    assert 'href="/templates/flawed-on-call-runbook/download"' in html
    download = client.get("/templates/flawed-on-call-runbook/download")
    assert download.status_code == 200 and b"Extraction API: on-call runbook" in download.data
    # Other kinds show no artifact box.
    assert "The artifact to assess" not in client.get("/assignments/mlops-case-coldwatch").get_data(as_text=True)


def test_a_released_critique_grade_is_case_study_evidence(app: Flask, client, loaded, make_cohort, enrol_learner,
                                                          make_user, login) -> None:
    teacher = make_user()
    user = enrol_learner(make_cohort(months_ago=1, instructors=[teacher]))
    login(client, user)
    assert client.post(f"/assignments/{RUNBOOK}/work", data={"body": "My findings.", "action": "submit"}).status_code == 302
    work = db.session.scalar(select(Submission).where(Submission.user_id == user.id))
    criteria = work.assignment.rubric.current.criteria
    chosen = {c.id: c.levels[0].id for c in criteria}  # every criterion exemplary
    save_grade(db.session, work, teacher, chosen, {}, "Thorough.", None, "release", utcnow())
    db.session.commit()
    trail = evidence_of(user.id, "case_study")
    codes = {code for c in criteria for code in c.objectives}
    assert set(trail) == codes == {"KO1", "SO1"}  # a critique claims no application objective
    assert all(e.level == 4 and e.recorded_by_id == teacher.id for rows in trail.values() for e in rows)
    assert evidence_of(user.id, "rubric") == {}


def test_the_kind_decides_the_source() -> None:
    def source(kind: AssignmentKind) -> type:
        return grade_outcome(1, "Work", None, [], {}, {}, kind=kind).source

    assert source(AssignmentKind.CRITIQUE) is CaseStudySource and source(AssignmentKind.CASE_STUDY) is CaseStudySource
    assert source(AssignmentKind.HANDS_ON) is RubricSource and source(AssignmentKind.CAPSTONE) is RubricSource


PORTFOLIOS = [
    SHIPPED_CONTENT / "modules" / "quality-assurance" / "assignments" / "09-portfolio-foundation.md",
    SHIPPED_CONTENT / "modules" / "quality-assurance" / "assignments" / "10-portfolio-intermediate.md",
    SHIPPED_CONTENT / "modules" / "operations-implementation" / "assignments" / "09-portfolio-advanced.md",
]


def _words(path: Path) -> set[str]:
    """The distinct words of four letters or more in a brief, front matter included."""
    return set(re.findall(r"[a-z]{4,}", path.read_text().lower()))


def test_the_three_portfolio_briefs_differ_by_level() -> None:
    words = [_words(p) for p in PORTFOLIOS]
    for i in range(3):
        for j in range(i + 1, 3):
            overlap = len(words[i] & words[j]) / len(words[i] | words[j])
            assert overlap < 0.35, (PORTFOLIOS[i].name, PORTFOLIOS[j].name, round(overlap, 2))
    foundation, intermediate, advanced = (p.read_text().lower() for p in PORTFOLIOS)
    assert "first measurements" in foundation and "working basics" in foundation
    assert all(w in intermediate for w in ("strategy", "implementation plan", "global operations", "analytics"))
    assert all(w in advanced for w in ("leadership", "innovation", "transformation results", "thought leadership"))
