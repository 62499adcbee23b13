"""The learner's progress and competency pages, marking lessons read, instructor ratings
and the staff view of one learner: services without HTTP, pages through the client, and a
fixed number of statements whatever the evidence and reading."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import func, select

from lms.assessment.models import Attempt, Quiz
from lms.catalog.models import Lesson, Objective
from lms.coursework.models import Assignment
from lms.coursework.services import dates_for, save_draft, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import rubric_for, save_grade
from lms.learning.services import build_schedule
from lms.progress.completion import learner_progress
from lms.progress.models import Evidence, EvidenceSourceName, LessonRead, Mastery
from lms.progress.services import EvidenceError, TrailEntry, mark_read, profile, rate, record, unmark_read
from lms.progress.sources import KpiSource

T0 = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


@pytest.fixture()
def course(app: Flask, loaded) -> None:
    """The shipped curriculum, loaded."""


@pytest.fixture()
def client_for(app: Flask, login):
    def make(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    return make


def objective(code: str) -> Objective:
    return db.session.scalar(select(Objective).where(Objective.key == code))


def lesson(key: str) -> Lesson:
    return db.session.scalar(select(Lesson).where(Lesson.key == key))


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def section(html: str, element_id: str) -> str:
    """The HTML of the element with ``id`` up to the next card section."""
    start = html.index(f'id="{element_id}"')
    end = html.find('<section class="card', start + 1)
    return html[start:end if end != -1 else len(html)]


def module_row(html: str, level_key: str, module_key: str) -> dict[str, str]:
    row = re.search(rf'data-module="{module_key}".*?</tr>', section(html, f"level-{level_key}"), re.S).group(0)
    return {kind: re.search(rf'class="{kind}">([^<]*)<', row).group(1) for kind in ("lessons", "quizzes", "assignments")}


# --------------------------------------------------------------------------- services


def test_marking_a_lesson_read_is_idempotent(course, make_user) -> None:
    user, first = make_user(), db.session.scalars(select(Lesson).order_by(Lesson.id)).first()
    assert mark_read(db.session, user.id, first, T0).id == mark_read(db.session, user.id, first, T0 + timedelta(days=1)).id
    rows = list(db.session.scalars(select(LessonRead).where(LessonRead.user_id == user.id)))
    assert len(rows) == 1 and rows[0].read_at == T0
    assert unmark_read(db.session, user.id, first) is True
    assert unmark_read(db.session, user.id, first) is False
    assert db.session.scalar(select(func.count()).select_from(LessonRead)) == 0


def test_a_rating_is_evidence_that_moves_mastery(course, make_user) -> None:
    learner, teacher = make_user(), make_user(name="Tess Teacher")
    ko1 = objective("KO1")
    evidence = rate(db.session, learner.id, ko1, 3, "  Explained the drift alert clearly.  ", teacher.id, T0)
    assert (evidence.source, evidence.level, evidence.weight) == ("rating", 3.0, 1.0)
    assert evidence.recorded_by_id == teacher.id and evidence.note == "Explained the drift alert clearly."
    assert evidence.objective_id == ko1.id and evidence.recorded_at == T0
    mastery = db.session.scalar(select(Mastery).where(Mastery.user_id == learner.id, Mastery.objective_id == ko1.id))
    assert (mastery.level, mastery.evidence_count) == (3.0, 1)
    rate(db.session, learner.id, ko1, 1, "Missed the rollback step.", teacher.id, T0 + timedelta(days=1))
    db.session.refresh(mastery)
    assert mastery.level == pytest.approx(0.65 * 1 + 0.35 * 3) and mastery.evidence_count == 2
    assert rate(db.session, learner.id, ko1, 0, "No attempt at all.", teacher.id, T0).level == 0.0


@pytest.mark.parametrize("level, note, which", [
    (5, "fine", "KO1"), (-1, "fine", "KO1"), (True, "fine", "KO1"), (2.5, "fine", "KO1"),
    (3, "", "KO1"), (3, "   ", "KO1"), (3, "x" * 2001, "KO1"),
    (3, "fine", None), (3, "fine", "unknown"), (3, "fine", "retired"),
])
def test_a_bad_rating_is_refused_and_nothing_is_saved(course, make_user, level, note, which) -> None:
    learner, teacher = make_user(), make_user()
    target = {"KO1": objective("KO1"), None: None, "unknown": Objective(key="XX9", title="Not in the program")}.get(which)
    if which == "retired":
        target = objective("KO2")
        target.retired_at = T0
    with pytest.raises(EvidenceError):
        rate(db.session, learner.id, target, level, note, teacher.id, T0)
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(select(func.count()).select_from(Mastery)) == 0


def test_profile_lists_every_objective_with_its_trail_oldest_first(course, make_user) -> None:
    learner, teacher = make_user(), make_user(name="Tess Teacher")
    ko1, so1 = objective("KO1"), objective("SO1")
    record(db.session, learner.id, ko1.id, "quiz", "attempt:1", 0.5, T0 + timedelta(days=2), note="MLOps quiz, attempt 1")
    rate(db.session, learner.id, ko1, 4, "Led the post-mortem.", teacher.id, T0)
    record(db.session, learner.id, so1.id, "peer", "peer:1", 1.0, T0, note="Peer review", recorded_by_id=teacher.id)
    rows = profile(db.session, learner.id)
    codes = list(db.session.scalars(select(Objective.key).order_by(Objective.position)))
    assert [p.objective.key for p in rows] == codes and len(rows) == 11
    first = rows[codes.index("KO1")]
    assert [(e.source, e.level, e.note, e.recorded_by) for e in first.trail] == [
        ("Instructor rating", 4.0, "Led the post-mortem.", "Tess Teacher"),
        ("Quiz", 2.0, "MLOps quiz, attempt 1", None)]
    assert first.trail[0].recorded_at == T0 and first.evidence_count == 2
    assert first.level == pytest.approx(0.65 * 2 + 0.35 * 4) and first.name == "proficient"
    peer = rows[codes.index("SO1")]
    assert peer.trail[0].weight == 0.5 and peer.trail[0].source == "Peer review"
    empty = rows[codes.index("AO1")]
    assert (empty.level, empty.name, empty.rank, empty.evidence_count, empty.trail) == (None, "no evidence", 0, 0, [])


# --------------------------------------------------------------------------- pages


@pytest.fixture()
def month6(course, make_org, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Main", months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lia Learner")
    return {"cohort": cohort, "learner": learner, "teacher": teacher}


def release_grade(cohort: Any, learner: Any, teacher: Any, key: str) -> None:
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == key))
    work = start_submission(db.session, assignment, learner.id, cohort.id, utcnow())
    dates = dates_for(assignment, build_schedule(db.session, cohort, learner.id, utcnow()))
    save_draft(db.session, work, "My plan.", dates, utcnow())
    submit(db.session, work, dates, utcnow())
    criteria = rubric_for(db.session, work, None).criteria
    save_grade(db.session, work, teacher, {c.id: c.levels[0].id for c in criteria}, {}, "Good.", None, "release", utcnow())
    db.session.commit()


def test_the_learner_sees_month_level_and_module_counts_change(month6, client_for) -> None:
    cohort, learner = month6["cohort"], month6["learner"]
    part = learner_progress(db.session, cohort, learner.id, utcnow()).level_status("foundation").parts[0]
    module = part.module.key
    lessons, assignments = part.lessons[1], part.assignments[1]
    client = client_for(learner)
    html = text(client.get("/progress"))
    assert "Month 6 of 12 · Intermediate" in html
    assert module_row(html, "foundation", module)["lessons"] == f"0/{lessons}"
    assert module_row(html, "foundation", module)["assignments"] == f"0/{assignments}"

    first = next(i for i in part.items if i.kind == "lesson")
    lesson_page = text(client.get(f"/lessons/{first.key}"))
    assert "Mark as read" in lesson_page and "Read ✓ (undo)" not in lesson_page
    assert client.post(f"/lessons/{first.key}/read").status_code == 302
    assert client.post(f"/lessons/{first.key}/read").status_code == 302  # twice: still one mark
    assert "Read ✓ (undo)" in text(client.get(f"/lessons/{first.key}"))
    assert module_row(text(client.get("/progress")), "foundation", module)["lessons"] == f"1/{lessons}"
    client.post(f"/lessons/{first.key}/read", data={"undo": "1"})
    assert "Mark as read" in text(client.get(f"/lessons/{first.key}"))
    assert module_row(text(client.get("/progress")), "foundation", module)["lessons"] == f"0/{lessons}"

    work = next(i for i in part.items if i.kind == "assignment")
    release_grade(cohort, learner, month6["teacher"], work.key)
    html = text(client.get("/progress"))
    assert module_row(html, "foundation", module)["assignments"] == f"1/{assignments}"
    assert work.title not in section(html, "overdue")


def test_overdue_lists_unfinished_past_due_work_with_days(month6, client_for) -> None:
    progress = learner_progress(db.session, month6["cohort"], month6["learner"].id, utcnow())
    late = next(i for i in progress.overdue if i.kind == "assignment")
    html = text(client_for(month6["learner"]).get("/progress"))
    overdue = section(html, "overdue")
    assert late.title in overdue and f'href="/assignments/{late.key}"' in overdue
    assert f"{(progress.today - late.due_on).days} days overdue" in overdue
    assert progress.opens_next[0].title in section(html, "opens-next")
    home = text(client_for(month6["learner"]).get("/home"))
    assert 'class="button secondary" href="/progress"' in home and 'href="/progress/competency"' in home


def test_each_level_lists_every_item_ticked_when_done_with_its_due_date(month6, client_for) -> None:
    cohort, learner = month6["cohort"], month6["learner"]
    work = next(i for i in learner_progress(db.session, cohort, learner.id, utcnow()).level_status("foundation").parts[0].items
                if i.kind == "assignment")
    release_grade(cohort, learner, month6["teacher"], work.key)
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    html = text(client_for(learner).get("/progress"))
    for status in progress.levels:
        listed = re.findall(r"<li>([✓○]) (.*?)</li>", section(html, f"level-{status.level.key}").split("<summary>")[1], re.S)
        items = [i for part in status.parts for i in part.items] + [i for i in (status.exam, status.portfolio) if i]
        assert [mark for mark, _rest in listed] == ["✓" if i.done else "○" for i in items]
        for (_mark, rest), item in zip(listed, items, strict=True):
            # a quiz whose window closes says so and the hour it closes (00:00, as its day
            # begins), as the list of what is due soon does; work is due by the end of its day
            said = f"· closes {item.due_on:%d %b %Y}, 00:00 UTC</span>" if item.closes else f"· due {item.due_on:%d %b %Y}</span>"
            assert rest.endswith(said) and str(escape(item.title)) in rest
            assert (f'href="/{"lessons" if item.kind == "lesson" else "quizzes" if item.kind in ("quiz", "exam") else "assignments"}/'
                    in rest) == (item.opens_on <= progress.today)
    assert any(i.done for i in progress.items) and not all(i.done for i in progress.items)


def test_a_quiz_due_soon_or_overdue_says_the_hour_it_closes(course, make_cohort, enrol_learner, client_for) -> None:
    """A quiz closes as its day begins, work is due by the end of its day. The progress page
    said "closes 05 Jan 2027" and "was due 05 Jan 2027" for a quiz whose window closed at 00:00
    that morning, as the home page did before it said the hour; it now says it as the home
    page does: "closes 05 Jan 2027, 00:00 UTC", and "closed ..." once it has."""
    behind = make_cohort(months_ago=4)  # its first module quiz closed yesterday: a cohort a week later has it due soon
    quizzes, work = [], []
    for cohort in (behind, make_cohort(start=behind.start_date + timedelta(days=7))):
        learner = enrol_learner(cohort)
        progress = learner_progress(db.session, cohort, learner.id, utcnow())
        html = text(client_for(learner).get("/progress"))
        for where, items, word in ((section(html, "due-soon"), progress.due_soon, "closes"),
                                   (section(html, "overdue"), progress.overdue, "closed")):
            for item in items:
                entry = " ".join(re.sub(r"<[^>]+>", " ", where.split(str(escape(item.title)))[1].split("</li>")[0]).split())
                (quizzes if item.closes else work).append((word, item, entry))
    assert {word for word, _item, _entry in quizzes} == {"closes", "closed"} and work
    for word, item, entry in quizzes:
        assert f"{word} {item.due_on:%d %b %Y}, 00:00 UTC" in entry, entry
    for _word, item, entry in work:
        assert "00:00" not in entry and f"due {item.due_on:%d %b %Y}" in entry, entry


def test_staff_do_not_get_a_read_button(month6, client_for, make_user) -> None:
    admin = client_for(make_user(admin=True))
    key = db.session.scalars(select(Lesson.key).order_by(Lesson.id)).first()
    assert "Mark as read" not in text(admin.get(f"/lessons/{key}"))
    assert admin.post(f"/lessons/{key}/read").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(LessonRead)) == 0
    assert admin.post("/lessons/no-such-lesson/read").status_code == 404


def test_the_competency_page_draws_every_objective_and_the_trail(month6, client_for, make_user) -> None:
    learner = month6["learner"]
    learner.timezone = "Pacific/Auckland"  # 20:00 UTC on 2 March is 3 March there
    rate(db.session, learner.id, objective("KO1"), 3, "Explained the drift alert clearly.", month6["teacher"].id, T0)
    db.session.commit()
    html = text(client_for(learner).get("/progress/competency"))
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert len(re.findall(r'<g class="objective" data-objective="', svg)) == 11
    assert all(name in svg for name in ("not yet", "developing", "proficient", "mastered"))
    assert len(re.findall(r'<rect class="bar"', svg)) == 1
    table = re.search(r'<table class="profile-table">.*?</table>', html, re.S).group(0)
    assert table.count("<tr>") == 12  # heading and one row per objective
    trail = section(html, "objective-KO1")
    assert "Instructor rating" in trail and "Explained the drift alert clearly." in trail and "Tess Teacher" in trail
    assert "03 Mar 2026" in trail and "3.0" in trail
    assert "No evidence yet" in section(html, "objective-AO1")


def test_the_trail_writes_a_source_inside_a_sentence_in_lower_case_keeping_an_initialism(month6, client_for) -> None:
    """"Why this level" and the falls name the source inside a sentence: "moved by instructor
    rating", but "moved by KPI progress" (it read "kpi progress")."""
    learner = month6["learner"]
    now = utcnow()
    rate(db.session, learner.id, objective("KO1"), 4, "Explained the drift alert clearly.", month6["teacher"].id,
         now - timedelta(days=3))
    record(db.session, learner.id, objective("KO1").id, EvidenceSourceName.KPI,
           KpiSource.ref("mlops-model-performance", now.date().replace(day=1)), 0.25, now - timedelta(days=1),
           note="Model quality retained fell to 60%.")
    db.session.commit()
    trail = " ".join(section(text(client_for(learner).get("/progress/competency")), "objective-KO1").split())
    assert "most recently moved by KPI progress (Model quality retained fell to 60%.)" in trail, trail
    assert ": KPI progress (Model quality retained fell to 60%.) took it down" in trail
    assert "kpi progress" not in trail
    assert TrailEntry(now, "Instructor rating", "", 3, 1, None).source_in_sentence == "instructor rating"


def test_the_profile_says_kpi_figures_move_it_when_they_alone_set_a_level(month6, client_for) -> None:
    """A new learner's first KPI figure set an objective to "proficient" while the page said
    the profile was built from quizzes, graded work, peer reviews and instructors' ratings
    only: it now names the learner's own figures and invited ratings too."""
    learner = month6["learner"]
    now = utcnow()
    record(db.session, learner.id, objective("AO2").id, EvidenceSourceName.KPI,
           KpiSource.ref("mlops-system-uptime", now.date().replace(day=1)), 0.9, now, note="Availability 99.5%.")
    db.session.commit()
    html = text(client_for(learner).get("/progress/competency"))
    assert "KPI progress" in section(html, "objective-AO2")
    lead = " ".join(section(html, "built-from").split())
    assert "the ratings of the stakeholders and experts you invite move it too" in lead
    # A single figure is no evidence: the page says what KPI evidence takes (``lms.kpi.services``).
    assert ("so do your own KPI figures once they measure progress over time: your first figure for a metric is your "
            "baseline and counts for nothing, and a month recorded at least four weeks later counts as far as it has "
            "moved from that baseline toward the target") in lead
    assert "None of these ever make an objective mastered" in lead
    assert ("on their own, with none of your graded work, quizzes, simulations, peer reviews or instructors' ratings on "
            "the objective, they do not make it proficient either") in lead


def test_a_piece_of_evidence_reads_as_the_level_it_sets_not_a_tenth_above(month6, client_for) -> None:
    """A piece of evidence was shown rounded, the level floored (``shown_level``): a figure at
    2.99 read "the first evidence that counts, 3.0 of 4, set the level to 2.9", as if the
    program had marked it down, and its row in the trail read 3.0 beside a level of 2.9. (A
    figure at 2.49 here: the learner's own figures alone are held under proficient, 2.5.)"""
    learner = month6["learner"]
    now = utcnow()
    record(db.session, learner.id, objective("AO2").id, EvidenceSourceName.KPI,
           KpiSource.ref("mlops-system-uptime", now.date().replace(day=1)), 2.49 / 4, now, note="Availability 99.5%.")
    db.session.commit()
    trail = " ".join(section(text(client_for(learner).get("/progress/competency")), "objective-AO2").split())
    assert "the first evidence that counts, 2.4 of 4, set the level to 2.4." in trail, trail
    assert "2.5" not in trail and "held-note" not in trail


def test_an_instructor_of_another_cohort_gets_404(month6, client_for, world) -> None:
    cohort, learner = month6["cohort"], month6["learner"]
    outsider = client_for(world.instructor_b)
    assert outsider.get(f"/cohorts/{cohort.id}/learners/{learner.id}/progress").status_code == 404
    form = {"objective": str(objective("KO1").id), "level": "3", "note": "Sneaky."}
    assert outsider.post(f"/cohorts/{cohort.id}/learners/{learner.id}/ratings", data=form).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    # Not the learner of this cohort: 404 for its own staff too.
    teacher = client_for(month6["teacher"])
    assert teacher.get(f"/cohorts/{cohort.id}/learners/{world.learner_a.id}/progress").status_code == 404


def test_rating_through_the_form_updates_the_profile(month6, client_for) -> None:
    cohort, learner = month6["cohort"], month6["learner"]
    teacher = client_for(month6["teacher"])
    url = f"/cohorts/{cohort.id}/learners/{learner.id}"
    assert f'href="{url}/progress"' in text(teacher.get(url))
    page = text(teacher.get(f"{url}/progress"))
    assert "Month 6 of 12 · Intermediate" in page and "<svg" in page and 'id="overdue"' in page
    assert "3 · proficient" in page and "4 · mastered" in page

    ko2 = objective("KO2")
    bad = teacher.post(f"{url}/ratings", data={"objective": str(ko2.id), "level": "5", "note": "Too high."})
    assert bad.status_code == 400 and "Not a valid choice" in text(bad) and "Too high." in text(bad)
    missing = teacher.post(f"{url}/ratings", data={"objective": str(ko2.id), "level": "2", "note": "  "})
    assert missing.status_code == 400 and "Write a note" in text(missing)
    # The rating form's one-time value is ``OneTimeField``'s (it had a twin that took a malformed one as none).
    malformed = teacher.post(f"{url}/ratings", data={"objective": str(ko2.id), "level": "2", "note": "Fine.", "token": "<x>"})
    assert malformed.status_code == 400 and "This form carried a malformed one-time value" in text(malformed)
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0

    done = teacher.post(f"{url}/ratings", data={"objective": str(ko2.id), "level": "4", "note": "Ran the incident review well."})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"{url}/progress")
    db.session.expire_all()
    mastery = db.session.scalar(select(Mastery).where(Mastery.user_id == learner.id, Mastery.objective_id == ko2.id))
    # One rating, however high, is one piece of evidence: held just under mastered, and the
    # learner is told why (it had made the objective mastered at once).
    assert mastery.level == 3.4
    mine = text(client_for(learner).get("/progress/competency"))
    trail = section(mine, "objective-KO2")
    assert "Ran the incident review well." in trail and "by Tess Teacher" in trail and "Proficient" in trail
    assert "needs one more piece of staff-checked evidence to count as mastered" in trail and "Mastered" not in trail
    staff = section(text(teacher.get(f"{url}/progress")), "objective-KO2")
    assert "Ran the incident review well." in staff and "needs one more piece of staff-checked evidence to count as mastered" in staff

    # The form shown carries a token: sent twice (a double click), it records one rating.
    page = text(teacher.get(f"{url}/progress"))
    token = re.search(r'name="token" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    form = {"objective": str(ko2.id), "level": "4", "note": "And the next one too.", "token": token}
    for _ in range(2):
        assert teacher.post(f"{url}/ratings", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 2
    assert token not in text(teacher.get(f"{url}/progress"))  # the next form is a new rating
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 2

    # Two ratings by the same instructor are one judgement: still held under mastered (the
    # second had made it mastered, one instructor alone).
    mastery = db.session.scalar(select(Mastery).where(Mastery.user_id == learner.id, Mastery.objective_id == ko2.id))
    assert mastery.level == 3.4 and mastery.evidence_count == 2 and mastery.held  # one instructor: one judgement
    trail = section(text(client_for(learner).get("/progress/competency")), "objective-KO2")
    assert "Mastered" not in trail and "needs one more piece of staff-checked evidence to count as mastered" in trail


# --------------------------------------------------------------------------- statements


def statements(count_queries: Any, client: Any, url: str) -> int:
    assert client.get(url).status_code == 200, url  # warm up
    return count_queries(lambda: client.get(url))


def test_pages_run_the_same_statements_for_more_evidence_and_reading(month6, client_for, make_user, count_queries) -> None:
    cohort, learner = month6["cohort"], month6["learner"]
    codes = list(db.session.scalars(select(Objective).order_by(Objective.position)))
    raters = [make_user(password=None) for _ in range(5)]
    rate(db.session, learner.id, codes[0], 2, "First look.", raters[0].id, T0)
    record(db.session, learner.id, codes[1].id, "quiz", "attempt:1", 0.5, T0)
    lessons = [i.key for i in learner_progress(db.session, cohort, learner.id, utcnow()).items if i.kind == "lesson"
               and i.opens_on <= utcnow().date()]
    mark_read(db.session, learner.id, lesson(lessons[0]), T0)
    db.session.commit()
    pages = [(client_for(learner), "/progress"), (client_for(learner), "/progress/competency"),
             (client_for(month6["teacher"]), f"/cohorts/{cohort.id}/learners/{learner.id}/progress")]
    few = [statements(count_queries, client, url) for client, url in pages]

    for n in range(38):
        rate(db.session, learner.id, codes[n % 11], n % 5, f"Rating {n}.", raters[n % 5].id, T0 + timedelta(hours=n))
    for key in lessons[1:20]:
        mark_read(db.session, learner.id, lesson(key), T0)
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "mlops-quiz"))
    db.session.add(Attempt(quiz_id=quiz.id, user_id=learner.id, number=1, layout=[], submitted_at=utcnow(), score=90, max_score=100))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 40
    many = [statements(count_queries, client, url) for client, url in pages]
    assert many == few
    assert text(pages[1][0].get("/progress/competency")).count("Rating ") >= 38
