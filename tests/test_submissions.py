"""Handing in assessed work: drafts, attachments, submitting, late work, versions."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lms.coursework import services
from lms.coursework.models import Attachment, Submission, SubmissionVersion
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import GradeAction
from lms.grading.services import save_grade
from lms.learning.services import build_schedule
from lms.web.markdown import render_user_markdown
from tests.test_downloads import parse
from tests.test_form_fields import Elements, described

CASE = "mlops-case-coldwatch"          # month 1, due 21 days after it opens
LOCKED = "po-hands-on-automate-core-process"  # month 7


@pytest.fixture()
def learner(app: Flask, loaded, make_cohort, enrol_learner, make_user):
    instructor = make_user(name="Ines Instructor")
    cohort = make_cohort(months_ago=5, instructors=[instructor])
    return enrol_learner(cohort, name="Lea Learner"), instructor, cohort


@pytest.fixture()
def signed_in(app: Flask, learner, login):
    client = app.test_client()
    login(client, learner[0])
    return client


def post_work(client, **data):
    """Post the work form; the multipart body is built in memory (the test client would
    spool a large one to a temporary file it never closes)."""
    fields = {"body": data.pop("body", ""), "action": data.pop("action", "save")}
    upload = data.pop("file", None)
    if upload:
        fields["file"] = FileStorage(io.BytesIO(upload[1]), filename=upload[0])
    boundary, body = encode_multipart(fields)
    return client.post(f"/assignments/{CASE}/work", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def submission() -> Submission:
    db.session.expire_all()
    return db.session.scalar(select(Submission))


def test_draft_then_submit_late(signed_in) -> None:
    assert post_work(signed_in, body="## Diagnosis\nReleases fail.").status_code == 302
    assert submission().status == "draft" and submission().versions == []
    page = signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    assert "Releases fail." in page and "Preview of your draft" in page
    assert post_work(signed_in, body="## Diagnosis\nReleases fail.", action="submit").status_code == 302
    work = submission()
    assert work.status == "submitted" and len(work.versions) == 1
    assert work.versions[0].late  # month 1 of a cohort five months in: long past its due date
    assert "late" in signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)


def test_resubmission_after_return_keeps_every_version_and_shows_changes(signed_in) -> None:
    post_work(signed_in, body="first line\nsecond line", action="submit")
    refused = post_work(signed_in, body="sneaky edit", action="submit")
    assert refused.status_code == 400 and "returns it for revision" in refused.get_data(as_text=True)
    services.return_for_revision(db.session, submission(), utcnow())
    db.session.commit()
    post_work(signed_in, body="first line\nsecond line, improved", action="submit")
    work = submission()
    assert [v.body for v in work.versions] == ["first line\nsecond line", "first line\nsecond line, improved"]
    page = signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    assert '<span class="removed">- second line' in page and '<span class="added">+ second line, improved' in page


def test_a_save_refused_after_handing_in_shows_what_was_sent(signed_in) -> None:
    """A second tab or the back button: the work is handed in, so the page is read-only
    and has no form; the text sent is shown to copy, as the message says."""
    post_work(signed_in, body="handed in", action="submit")
    for action in ("save", "submit"):
        refused = post_work(signed_in, body="my <b>late</b> idea\nsecond line", action=action)
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "Nothing was saved; your text is still below." in page
        assert ('<label for="not-saved-body">Your answer</label>\n    <textarea id="not-saved-body" rows="8" readonly>\n'
                "my &lt;b&gt;late&lt;/b&gt; idea\nsecond line</textarea>") in page
        assert 'name="action"' not in page  # still read-only
    assert [v.body for v in submission().versions] == ["handed in"] and submission().draft_body == "handed in"
    assert "not-saved" not in signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)


def test_work_returned_for_revision_is_due_again_a_week_after_its_return_and_a_revision_in_time_is_not_late(
        signed_in, learner) -> None:
    """The schedule gives returned work ``REVISION_DAYS`` from its return (lms.progress.completion);
    the work page says that date, and a revision handed in within it is not marked late,
    though the case study's own due date is months past."""
    post_work(signed_in, body="first try", action="submit")
    assert submission().versions[0].late
    work = submission()
    criteria = work.assignment.rubric.current.criteria
    returned = utcnow() - timedelta(days=2)
    save_grade(db.session, work, learner[1], {c.id: c.levels[0].id for c in criteria}, {}, "Revise the diagnosis.", None,
               GradeAction.RETURN, returned)
    db.session.commit()
    again = (returned.astimezone(ZoneInfo(learner[2].timezone)).date() + timedelta(days=services.revision_days()))
    page = signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    assert f"Revision due {again.strftime('%d %B %Y')}" in page
    sent = post_work(signed_in, body="second try", action="submit")
    assert sent.status_code == 302
    assert [v.late for v in submission().versions] == [True, False]
    assert "after the due date" not in signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)


def test_the_learner_reads_each_version_they_handed_in(signed_in) -> None:
    """After handing in, the learner reads what they handed in, each version with its files,
    rendered as the grader reads it (sanitised Markdown); the latest is open."""
    first = "## Diagnosis\nReleases **fail** <script>alert(1)</script>"
    post_work(signed_in, body=first, file=("plan.csv", b"x,y\n1,2\n"), action="submit")
    attachment = db.session.scalar(select(Attachment))
    page = signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    assert str(render_user_markdown(first)) in page and "<strong>fail</strong>" in page
    assert "<script>alert(1)" not in page
    assert f'Files: <a href="/attachments/{attachment.id}">plan.csv</a>' in page and "<details open>" in page

    services.return_for_revision(db.session, submission(), utcnow())
    db.session.commit()
    assert signed_in.post(f"/assignments/{CASE}/work/attachments/{attachment.id}/remove").status_code == 302
    post_work(signed_in, body="Releases fail *less*.", action="submit")
    page = signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    assert page.index("<strong>fail</strong>") < page.index("Releases fail <em>less</em>.")  # both, in order
    assert page.count("Files: ") == 1 and page.count("<details") == 2 and page.count("<details open>") == 1


def test_attachment_is_stored_privately_and_served_only_to_allowed_people(app, signed_in, learner, make_cohort, make_user, enrol_learner, login) -> None:
    _, instructor, cohort = learner
    assert post_work(signed_in, body="See the file.", file=("plan.pdf", b"%PDF-1.4 plan")).status_code == 302
    attachment = db.session.scalar(select(Attachment))
    stored = Path(app.instance_path) / "uploads" / attachment.stored_name
    assert stored.read_bytes() == b"%PDF-1.4 plan"
    assert "static" not in str(stored)
    url = f"/attachments/{attachment.id}"
    assert signed_in.get(url).data == b"%PDF-1.4 plan"
    assert "plan.pdf</a> <span class=\"muted\">· 13 Bytes</span>" in signed_in.get(f"/assignments/{CASE}/work").get_data(
        as_text=True)  # its size as read, not "0.0 KB"

    staff = app.test_client()
    login(staff, instructor)
    # A draft's file is the learner's alone, as the draft is (it was served to the cohort's staff by its id).
    assert staff.get(url).status_code == 404
    assert post_work(signed_in, body="See the file.", action="submit").status_code == 302
    assert staff.get(url).status_code == 200  # handed in: the graders read it
    stranger_teacher = make_user(name="Other Teacher")
    make_cohort(months_ago=5, instructors=[stranger_teacher])
    for person in (enrol_learner(cohort, name="Classmate"), stranger_teacher):
        other = app.test_client()
        login(other, person)
        assert other.get(url).status_code == 404
    assert app.test_client().get(url).status_code == 302  # anonymous: sign in first


@pytest.mark.parametrize(("uploaded", "shown", "content_type"), [
    ("отчёт.pdf", "отчёт.pdf", "application/pdf"),
    ("报告.txt", "报告.txt", "text/plain"),
    ("📄.txt", "📄.txt", "text/plain"),
    ("résumé 📄 «final».pdf", "résumé 📄 «final».pdf", "application/pdf"),
    ("Re\u0301sume\u0301.PDF", "Résumé.PDF", "application/pdf"),  # decomposed (as macOS sends it): one letter each
    ("a\tb  /c\\d\u200b\u202e.csv", "a b cd.csv", "text/csv"),  # separators, control and format characters
    ("\u200b\u2066.md", "file.md", "text/markdown"),  # nothing left but the extension
])
def test_a_file_keeps_its_name_in_any_script(signed_in, uploaded, shown, content_type) -> None:
    """The type is read from the name as uploaded (werkzeug's secure_filename dropped every
    non-ASCII letter, and with "отчёт" the extension: refused as the wrong type); the name
    shown keeps its letters, and its download names it in the header's ``filename*``."""
    response = post_work(signed_in, body="See the file.", file=(uploaded, b"%PDF-1.4 report"))
    assert response.status_code == 302, response.get_data(as_text=True)
    attachment = db.session.scalar(select(Attachment))
    assert (attachment.filename, attachment.content_type) == (shown, content_type)
    assert attachment.stored_name.endswith("." + shown.rsplit(".", 1)[1].lower())
    assert f">{shown}</a>" in signed_in.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    download = signed_in.get(f"/attachments/{attachment.id}")
    _, fallback, full = parse(download.headers["Content-Disposition"])
    assert (full or fallback) == shown and fallback.isascii()
    download.close()


@pytest.mark.parametrize(("uploaded", "shown"), [
    ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),  # 304 characters were kept whole
    ("报告" * 100 + ".txt", "报告" * 58 + ".txt"),
    ("abc " * 40 + ".pdf", ("abc " * 29).rstrip() + ".pdf"),  # cut after a space: not ending in one
])
def test_a_long_file_name_is_cut_keeping_its_extension(signed_in, uploaded, shown) -> None:
    assert post_work(signed_in, body="See the file.", file=(uploaded, b"%PDF-1.4 report")).status_code == 302
    attachment = db.session.scalar(select(Attachment))
    assert attachment.filename == shown and len(shown) <= services.MAX_FILENAME_CHARS


@pytest.mark.parametrize(("file", "message"), [
    (("tool.exe", b"MZ..."), "not accepted"),
    (("huge.pdf", b"x" * (services.MAX_ATTACHMENT_BYTES + 19)), "huge.pdf&#39; is 10.1 MB, over the 10 MB limit."),
    (("huger.pdf", b"x" * (services.MAX_ATTACHMENT_BYTES * 3 // 2)), "huger.pdf&#39; is 15.0 MB, over the 10 MB limit."),
    (("empty.pdf", b""), "is empty"),
])
def test_bad_files_are_refused_and_the_text_is_kept(signed_in, file, message) -> None:
    response = post_work(signed_in, body="My careful answer.", file=file)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert "My careful answer." in page  # nothing the learner typed is lost
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_a_refused_file_is_marked_on_its_field_and_each_fields_help_is_read_with_it(signed_in) -> None:
    """Before: a refused file was said only in a line at the top of the page; the file field
    was not marked, and its help (which files, how large) and the answer's (the deliverables)
    were text beside the fields, not read with them. Now the message is the file field's
    (aria-invalid, aria-describedby) and listed in the summary the page opens on, and each
    field is described by its help (WCAG 3.3.1, 3.3.2, 1.3.1)."""
    response = post_work(signed_in, body="My careful answer.", file=("tool.exe", b"MZ..."))
    page = Elements()
    page.feed(response.get_data(as_text=True))
    assert response.status_code == 400
    assert page.inputs["file"]["aria-invalid"] == "true"
    help_text, error = described(page, "file")
    assert help_text.startswith("PDF, images") and "not accepted" in error and error.endswith("Nothing was saved.")
    assert "error-summary" in response.get_data(as_text=True) and "<title>Error:" in response.get_data(as_text=True)
    body = response.get_data(as_text=True).split('id="body-help"', 1)[1]
    assert body.split("</small>", 1)[0].lstrip(">").startswith("Markdown works") and "Deliverables:" in body
    assert 'aria-describedby="body-help"' in response.get_data(as_text=True)
    refused = post_work(signed_in, body="   ", action="submit").get_data(as_text=True)
    assert 'aria-describedby="body-help body-error-1"' in refused and 'aria-invalid="true"' in refused


def test_an_empty_submission_is_refused(signed_in) -> None:
    response = post_work(signed_in, body="   ", action="submit")
    assert response.status_code == 400 and "nothing to submit" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SubmissionVersion)) == 0


def test_a_locked_assignment_takes_no_work(signed_in) -> None:
    response = signed_in.post(f"/assignments/{LOCKED}/work", data={"body": "early", "action": "submit"})
    assert response.status_code == 403 and "opens for your cohort on" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 0


def test_a_removed_file_stays_with_the_version_that_had_it(signed_in) -> None:
    post_work(signed_in, body="v1", file=("a.csv", b"x,y\n1,2\n"), action="submit")
    services.return_for_revision(db.session, submission(), utcnow())
    db.session.commit()
    attachment = db.session.scalar(select(Attachment))
    assert signed_in.post(f"/assignments/{CASE}/work/attachments/{attachment.id}/remove").status_code == 302
    work = submission()
    assert work.current_attachments == [] and work.versions[0].attachment_ids == [attachment.id]
    assert signed_in.get(f"/attachments/{attachment.id}").status_code == 200


@pytest.mark.parametrize(("zone", "hour", "late"), [
    ("America/New_York", 22, False),   # the evening of the due day in New York: 03:00 UTC the next day
    ("America/New_York", 24, True),    # just after midnight there
    ("Asia/Tokyo", 32, True),          # 08:00 the day after in Tokyo: still the due day in UTC
])
def test_late_is_counted_by_the_cohorts_day_not_the_utc_date(app: Flask, loaded, make_cohort, enrol_learner,
                                                              zone: str, hour: int, late: bool) -> None:
    """Work was marked late by the UTC date of its hand-in, while the schedule (and the
    overdue list) count the due day in the cohort's time zone: a New York cohort's work
    handed in on the evening of its due day was tagged late, a Tokyo cohort's handed in the
    next morning was not."""
    cohort = make_cohort(months_ago=5, timezone=zone)
    user = enrol_learner(cohort)
    item = services.get_assignment(db.session, CASE)
    plan = build_schedule(db.session, cohort, user.id, utcnow())
    due = services.dates_for(item, plan).due_on
    at = (datetime.combine(due, time(0, 0), ZoneInfo(zone)) + timedelta(hours=hour)).astimezone(UTC)  # as utcnow() gives it
    work = services.start_submission(db.session, item, user.id, cohort.id, at)
    dates = services.dates_for(item, plan, work)
    services.save_draft(db.session, work, "My analysis.", dates, at)
    version = services.submit(db.session, work, dates, at)
    db.session.commit()
    assert version.late is late
