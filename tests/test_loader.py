"""`flask lms load-content`: validation with file and line, idempotence, update in place,
retire instead of delete, and an untouched database when the content is bad."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.catalog.models import Lesson, Level, Metric, Module, Objective, Phase, Program
from lms.extensions import db

LESSON = "modules/mlops/lessons/01-release-pipeline-and-registry.md"


def invoke(app: Flask, *args: str):
    """Run the command; ``result.output`` holds stdout and stderr as a terminal shows them."""
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
            for m in (Program, Level, Objective, Module, Phase, Lesson, Metric)
        }


def active(app: Flask, model) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(model.key).where(model.retired_at.is_(None))))


@pytest.fixture()
def edit(content_dir: Path) -> Callable[[str, str, str], None]:
    """Replace text in a content file; the test fails if the text is not there."""

    def replace(relative: str, old: str, new: str) -> None:
        path = content_dir / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    return replace


def test_check_passes_on_the_shipped_content(app: Flask) -> None:
    result = invoke(app, "--check")
    assert result.exit_code == 0, result.output
    found = re.search(r"(\d+) levels, (\d+) objectives, (\d+) modules, (\d+) lessons, (\d+) metrics", result.output)
    assert found, result.output
    levels, objectives, modules, lessons, metrics = map(int, found.groups())
    assert (levels, objectives, modules, metrics) == (3, 11, 6, 28)
    assert lessons >= 18
    assert counts(app)["programs"] == 0  # --check writes nothing


def test_load_then_load_again_changes_nothing(app: Flask, content_dir: Path) -> None:
    first = invoke(app)
    assert first.exit_code == 0, first.output
    assert "lessons: " in first.output and "created" in first.output
    after_first = counts(app)
    assert after_first["objectives"] == 11 and after_first["modules"] == 6 and after_first["levels"] == 3

    second = invoke(app)
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output
    assert counts(app) == after_first


def test_every_objective_is_taught_by_a_module(app: Flask, loaded) -> None:
    with app.app_context():
        for objective in db.session.scalars(select(Objective)):
            assert objective.modules, f"{objective.key} is taught by no module"


def test_schedule_places_each_framework(app: Flask, loaded) -> None:
    with app.app_context():
        months = {p.key: p.month for p in db.session.scalars(select(Phase))}
    # the seeds' path: the four frameworks' fundamentals in months 1-4, one a month ...
    foundations = [months[f"{f}.foundation"] for f in ("mlops", "customer-success", "process-optimization", "quality-assurance")]
    assert foundations == [1, 2, 3, 4]
    # ... strategy and plans, advanced MLOps and customer success, global operations and
    # compliance, advanced process optimization in months 5-8 ...
    assert months["operations-implementation.strategy"] == 5
    assert months["mlops.advanced"] == months["customer-success.advanced"] == 6
    assert months["international-operations.compliance-infrastructure"] == 7
    assert months["process-optimization.advanced"] == 8
    # ... then initiatives, innovation, transformation and thought leadership in months 9-12
    assert [months[f"operations-implementation.{p}"] for p in ("innovation", "integration", "capstone")] == [10, 11, 12]
    assert 9 in months.values() and all(1 <= m <= 12 for m in months.values())


def test_metric_targets_are_stored_as_data(app: Flask, loaded) -> None:
    with app.app_context():
        metrics = {m.key: m for m in db.session.scalars(select(Metric))}
    assert metrics["mlops-deployment-success"].target == 95
    assert metrics["mlops-system-uptime"].target == 99.9
    assert metrics["cs-first-contact-resolution"].target == 95
    assert metrics["cs-net-promoter-score"].target == 70
    assert metrics["po-automation-rate"].target == 80
    assert metrics["cs-response-time"].comparison == "under"
    assert metrics["cs-response-time"].meets(3.5) and not metrics["cs-response-time"].meets(5)
    # "under 4 hours", as every lesson writes it: 4.0 itself misses.
    assert not metrics["cs-response-time"].meets(4.0)
    assert metrics["cs-response-time"].target_label == "under 4 h"
    # "at most 25%" and "at least 95%" count the target itself as met.
    assert metrics["impl-cost-to-serve"].meets(25.0) and not metrics["impl-cost-to-serve"].meets(25.01)
    assert metrics["cs-first-contact-resolution"].meets(95.0) and not metrics["cs-first-contact-resolution"].meets(94.9)


@pytest.mark.parametrize(("wording", "comparison", "equal_meets"), [
    ("under 4", "under", False), ("less than 4", "under", False), ("below 4", "under", False),
    ("at most 4", "at_most", True), ("no more than 4", "at_most", True),
    ("over 4", "over", False), ("more than 4", "over", False), ("above 4", "over", False),
    ("at least 4", "at_least", True), ("no less than 4", "at_least", True), ("At  Least 4", "at_least", True),
])
def test_a_targets_wording_sets_its_comparison(app: Flask, edit, wording: str, comparison: str,
                                               equal_meets: bool) -> None:
    edit("modules/customer-success/module.yml", "target: under 4", f"target: {wording}")
    assert invoke(app).exit_code == 0
    with app.app_context():
        metric = db.session.scalar(select(Metric).where(Metric.key == "cs-response-time"))
        assert (metric.comparison, metric.target) == (comparison, 4.0)
        assert metric.meets(4.0) is equal_meets
        higher = comparison in ("over", "at_least")
        assert metric.meets(5.0) is higher and metric.meets(3.0) is not higher


@pytest.mark.parametrize("wording", ["4", "'around 4'", "under", "within 4", "under four", "<4"])
def test_a_target_whose_wording_cannot_be_read_is_refused_on_its_line(app: Flask, content_dir: Path, edit,
                                                                      wording: str) -> None:
    edit("modules/customer-success/module.yml", "target: under 4", f"target: {wording}")
    path = content_dir / "modules/customer-success/module.yml"
    result = invoke(app, "--check")
    assert result.exit_code == 1
    line = _line_of(path, f"target: {wording}")
    assert f"{path}:{line}: metrics.items[1].target: Value error, cannot read the target" in result.output, result.output
    assert "'under 4'" in result.output  # it says how to write one


def test_changed_lesson_is_updated_in_place(app: Flask, content_dir: Path) -> None:
    invoke(app)
    with app.app_context():
        lesson_id = db.session.scalar(select(Lesson.id).where(Lesson.key == "mlops-release-pipeline-registry"))
    path = content_dir / LESSON
    path.write_text(re.sub(r"^title:.*$", "title: Pipelines, renamed", path.read_text(), count=1, flags=re.M))

    result = invoke(app)
    assert result.exit_code == 0, result.output
    shipped = len(list(content_dir.glob("modules/*/lessons/*.md")))
    assert f"lessons: 1 updated ({shipped - 1} unchanged)" in result.output
    with app.app_context():
        after = db.session.scalar(select(Lesson).where(Lesson.key == "mlops-release-pipeline-registry"))
        assert (after.id, after.title) == (lesson_id, "Pipelines, renamed")



def _drop_from_needs(content_dir: Path, lesson: str) -> None:
    """A removed lesson goes from the ``needs:`` of the work that named it (the check refuses
    work that needs a lesson the content no longer has)."""
    for work in (content_dir / "modules").glob("*/assignments/*.md"):
        text = work.read_text()
        if lesson in text:
            work.write_text(text.replace(f"{lesson}, ", "").replace(f", {lesson}", ""))

def test_removed_items_are_retired_not_deleted_and_come_back(app: Flask, content_dir: Path) -> None:
    invoke(app)
    total = counts(app)
    lesson_file = content_dir / LESSON
    saved = lesson_file.read_text()
    lesson_file.unlink()
    shutil.rmtree(content_dir / "modules" / "quality-assurance")
    for quiz in (content_dir.parent / "quizzes").glob("quality-assurance-*quiz.yml"):  # the module quiz and its phase quizzes
        quiz.unlink()
    checks = content_dir.parent / "quizzes" / "checks"  # the weekly checks of the removed units go with them
    for check in [*checks.glob("mlops-release-pipeline-registry.yml"), *checks.glob("qa-*.yml")]:
        check.unlink()
    _drop_from_needs(content_dir, "mlops-release-pipeline-registry")  # the case study no longer needs the unit
    for sheet in [*(content_dir / "templates").glob("*.md"), *(content_dir / "templates").glob("*.yml")]:
        # the templates that served the removed module now serve another; its assignments are gone
        text = re.sub(r"^assignments:.*\n", "", sheet.read_text(), flags=re.M)
        text = text.replace("[quality-assurance]", "[mlops]").replace(", quality-assurance", "").replace("quality-assurance, ", "")
        sheet.write_text(text)

    result = invoke(app)
    assert result.exit_code == 0, result.output
    assert "retired" in result.output
    assert counts(app) == total  # nothing deleted
    assert "mlops-release-pipeline-registry" not in active(app, Lesson)
    assert "quality-assurance" not in active(app, Module)
    assert "qa-defect-reduction" not in active(app, Metric)

    lesson_file.write_text(saved)
    result = invoke(app)
    assert "restored" in result.output
    assert "mlops-release-pipeline-registry" in active(app, Lesson)


def test_retired_lesson_is_hidden_from_the_catalog(app: Flask, admin_client, content_dir: Path) -> None:
    client = admin_client
    invoke(app)
    assert client.get("/lessons/mlops-release-pipeline-registry").status_code == 200
    (content_dir / LESSON).unlink()
    for check in (content_dir.parent / "quizzes" / "checks").glob("mlops-release-pipeline-registry.yml"):
        check.unlink()  # its weekly check goes with it
    _drop_from_needs(content_dir, "mlops-release-pipeline-registry")
    assert invoke(app).exit_code == 0
    assert client.get("/lessons/mlops-release-pipeline-registry").status_code == 404
    assert "mlops-release-pipeline-registry" not in client.get("/modules/mlops").get_data(as_text=True)


BAD_CASES = {
    "unknown objective code": (
        "modules/mlops/module.yml", "objectives: [KO1,", "objectives: [KO9,",
        "modules/mlops/module.yml", "unknown objective code 'KO9'",
    ),
    "missing title": (
        "modules/customer-success/module.yml", "title: Customer Success Operations\n", "",
        "modules/customer-success/module.yml", "title: missing",
    ),
    "broken front matter": (
        LESSON, "---\n", "--\n",
        LESSON, "broken front matter",
    ),
    "broken YAML": (
        "objectives.yml", "objectives:\n", "objectives: [\n",
        "objectives.yml", "invalid YAML",
    ),
    "duplicate lesson id": (
        "modules/customer-success/lessons/01-ai-assisted-support.md", "id: cs-ai-assisted-support", "id: mlops-release-pipeline-registry",
        "duplicate id 'mlops-release-pipeline-registry'", "duplicate id",
    ),
    "month outside 1-12": (
        "modules/mlops/module.yml", "month: 6", "month: 13",
        "modules/mlops/module.yml", "month: Input should be less than or equal to 12",
    ),
    "unknown phase": (
        LESSON, "phase: foundation", "phase: nowhere",
        LESSON, "unknown phase 'nowhere'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_content_is_refused_with_file_and_line(app: Flask, content_dir: Path, edit, case: str) -> None:
    invoke(app)
    before = counts(app)
    file, old, new, where, message = BAD_CASES[case]
    edit(file, old, new)

    result = invoke(app)
    assert result.exit_code == 1
    errors = result.output
    assert message in errors
    assert re.search(r"\.(yml|md):\d+: ", errors), errors
    if where.endswith((".yml", ".md")):
        assert f"{content_dir / where}:" in errors
    assert "database was not changed" in errors
    assert counts(app) == before

    check = invoke(app, "--check")
    assert check.exit_code == 1


def test_error_line_points_at_the_bad_line(app: Flask, content_dir: Path, edit) -> None:
    edit("modules/mlops/module.yml", "month: 6", "month: 13")
    result = invoke(app, "--check")
    lines = (content_dir / "modules/mlops/module.yml").read_text().splitlines()
    reported = int(re.search(r"module\.yml:(\d+): phases\[1\]\.month", result.output).group(1))
    assert lines[reported - 1].strip() == "month: 13"


def test_lesson_for_a_missing_module_is_refused(app: Flask, content_dir: Path) -> None:
    orphan = content_dir / "modules" / "ghost" / "lessons"
    orphan.mkdir(parents=True)
    (orphan / "01-boo.md").write_text("---\nid: ghost-1\ntitle: Boo\nphase: foundation\n---\nBody\n")
    result = invoke(app)
    assert result.exit_code == 1
    assert f"{orphan / '01-boo.md'}:1: lesson for a missing module" in result.output
    assert counts(app)["lessons"] == 0


def test_non_utf8_file_is_refused(app: Flask, content_dir: Path) -> None:
    (content_dir / LESSON).write_bytes(b"---\nid: x\ntitle: \xff\xfe\n---\n")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert "not UTF-8" in result.output


def test_non_utf8_byte_is_reported_on_its_line(app: Flask, content_dir: Path) -> None:
    # A stray Latin-1 byte deep in a lesson: the author needs the line, not line 1.
    path = content_dir / LESSON
    lines = path.read_bytes().split(b"\n")
    lines[40] = b"Caf\xe9 " + lines[40]
    path.write_bytes(b"\n".join(lines))
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert f"{LESSON}:41: not UTF-8 text" in result.output, result.output
    assert "column 4 of this line" in result.output
    assert "Traceback" not in result.output


def test_an_unclosed_quote_names_the_line_it_opens_on(app: Flask, content_dir: Path, edit) -> None:
    # The parser notices at the end of the file; the author must look where the quote opens.
    edit("program.yml", "title: AI Operations for Entrepreneurs", 'title: "AI Operations for Entrepreneurs')
    path = content_dir / "program.yml"
    opened = _line_of(path, 'title: "AI Operations')
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert f"(while scanning a quoted scalar that starts on line {opened})" in result.output, result.output
    assert "Traceback" not in result.output


def test_every_empty_front_matter_is_reported(app: Flask, content_dir: Path) -> None:
    # The second empty file (or one after any other problem) was silently skipped.
    lessons = content_dir / "modules" / "mlops" / "lessons"
    (lessons / "07-empty.md").write_text("---\n---\nBody\n")
    (lessons / "08-empty.md").write_text("---\n---\nBody\n")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert "07-empty.md:2: broken front matter: it is empty" in result.output, result.output
    assert "08-empty.md:2: broken front matter: it is empty" in result.output, result.output


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_links_to_missing_lessons_modules_and_levels_are_refused(app: Flask, content_dir: Path) -> None:
    # Each would be a 'page not found' for the learner who follows it.
    lesson = content_dir / LESSON
    lesson.write_text(lesson.read_text() + "\nNext: [drift](/lessons/no-such-lesson#intro), "
                      "[the module](/modules/mlops), [the level](/levels/foundation).\n"
                      "\n[old module]: /modules/retired-module\n")
    assignment = content_dir / "modules" / "mlops" / "assignments" / "01-case-study.md"
    assignment.write_text(assignment.read_text() + '\nRevisit <a href="/levels/expert">the level</a> and '
                          "[the first lesson](/lessons/mlops-release-pipeline-registry).\n")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert (f"{LESSON}:{_line_of(lesson, 'no-such-lesson')}: link to an unknown lesson 'no-such-lesson'"
            in result.output), result.output
    assert f"{LESSON}:{_line_of(lesson, 'retired-module')}: link to an unknown module 'retired-module'" in result.output
    assert "Content refused: 2 problems" in result.output  # the links that exist pass

    # Fixed, the lesson passes, and the assignment's broken link is reported in its turn.
    lesson.write_text(lesson.read_text().replace("no-such-lesson", "mlops-data-features")
                      .replace("retired-module", "mlops"))
    result = invoke(app, "--check")
    assert result.exit_code == 1
    line = _line_of(assignment, "/levels/expert")
    assert f"01-case-study.md:{line}: link to an unknown level 'expert'" in result.output, result.output
    assert "Content refused: 1 problem;" in result.output


def test_a_code_fence_never_closed_is_refused(app: Flask, content_dir: Path) -> None:
    # Unclosed, Markdown shows the ``` as text and the code as a paragraph.
    lesson = content_dir / LESSON
    lesson.write_text(lesson.read_text() + "\n```yaml\nthreshold: 0.9\n\n```\n\n~~~\nrollback: manual\n")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert f"{LESSON}:{_line_of(lesson, '~~~')}: a code fence opened here is never closed" in result.output, result.output
    assert "Content refused: 1 problem;" in result.output


def test_levels_must_cover_twelve_months(app: Flask, content_dir: Path, edit) -> None:
    edit("program.yml", "months: [5, 8]", "months: [6, 8]")
    result = invoke(app, "--check")
    assert result.exit_code == 1
    assert "expected month 5" in result.output


def test_load_without_schema_is_a_clear_error(make_app, tmp_path: Path) -> None:
    bare = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with bare.app_context():  # not the migrated test app that pytest-flask pushes
        result = bare.test_cli_runner().invoke(args=["lms", "load-content"])
    assert result.exit_code == 1
    assert "flask db upgrade" in result.output
