"""At-risk you can act on: each reason says since when and links what it is about; staff
record reviews (kept as an audit trail); the list shows the last review and what changed
since; the form refuses bad input and other people's learners; statements stay fixed."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from flask import Flask
from sqlalchemy import func, select

from lms.competency.models import MAX_REVIEW_NOTE, AtRiskReview, ReasonKind
from lms.competency.render import reason_items
from lms.competency.services import OVERDUE_SHOWN, Link, OverdueItem, Reason, ReviewError, Row, heat_map, record_review
from lms.database import utcnow
from lms.extensions import db
from lms.job_kinds import HeatMapExport
from lms.learning.services import month_opens_on
from lms.notifications.models import Notification
from lms.notifications.reminders import at_risk_notices
from lms.notifications.services import notify_all
from lms.progress.completion import learner_progress
from lms.progress.models import ItemKind
from tests.conftest import PASSWORD
from tests.test_competency import do_work, evidence

NOTE = "Called Bo: agreed to redo the KO2 practice quiz and book a coaching slot."


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture()
def cohort(app, loaded, make_user, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    """A cohort in month 8 (the objectives of the first six months have closed): a learner
    on schedule who was weak on KO2 before it closed, one on schedule who dropped on KO2 after
    it closed, one who went below, above and below again on KO1, and one who did nothing."""
    admin = make_user(name="Olivia Org")
    instructor = make_user(name="Ines Instructor", timezone="Asia/Tokyo")
    org = make_org("Acme", admins=[admin])
    group = make_cohort(org, "Acme 1", months_ago=7, instructors=[instructor])
    start = group.start_date
    early, late, zigzag = (enrol_learner(group, name=n) for n in ("Bo Early", "Cy Late", "Di Zigzag"))
    idle = enrol_learner(group, name="Ed Idle")
    ko2_closes = month_opens_on(start, 7)  # customer success runs to month 6 ...
    ko1_closes = month_opens_on(start, 7)  # ... and so does MLOps
    for learner in (early, late, zigzag):  # on schedule, proficient on the four closed objectives
        do_work(group, learner)
        evidence(learner, {"KO1": 3.5, "SO1": 3.5, "KO2": 3.5, "SO2": 3.5}, when=at(start + relativedelta(months=4)), ref="base")
    # Decaying average, the latest at 0.65: 0.65 * 1.0 + 0.35 * 3.5 = 1.875, below proficient (2.5).
    evidence(early, {"KO2": 1.0}, when=at(start + relativedelta(months=5)), ref="weak")
    evidence(late, {"KO2": 0.4}, when=at(ko2_closes + timedelta(days=6)), ref="weak")  # 1.485
    evidence(zigzag, {"KO1": 1.0}, when=at(ko1_closes + timedelta(days=2)), ref="one")     # 1.875: below
    evidence(zigzag, {"KO1": 4.0}, when=at(ko1_closes + timedelta(days=9)), ref="two")     # 3.256: above
    evidence(zigzag, {"KO1": 0.5}, when=at(ko1_closes + timedelta(days=15)), ref="three")  # 1.465: below again
    return {"org": org, "admin": admin, "instructor": instructor, "cohort": group, "early": early, "late": late,
            "zigzag": zigzag, "idle": idle, "ko1_closes": ko1_closes, "ko2_closes": ko2_closes}


def rows_by_name(group: Any, now: datetime | None = None) -> dict[str, Row]:
    return {r.user.name: r for r in heat_map(db.session, group, now or utcnow()).rows}


def reason(row: Row, kind: ReasonKind, objective: str | None = None) -> Reason:
    found = [r for r in row.reasons if r.kind == kind and r.objective == objective]
    assert len(found) == 1, [str(r) for r in row.reasons]
    return found[0]


def url(group: Any, learner: Any) -> str:
    return f"/cohorts/{group.id}/learners/{learner.id}/at-risk"


def reviews() -> list[AtRiskReview]:
    db.session.expire_all()
    return list(db.session.scalars(select(AtRiskReview).order_by(AtRiskReview.id)))


# --------------------------------------------------------------------------- reasons: since when, and links


def test_reasons_carry_the_day_they_started_and_what_they_are_about(cohort) -> None:
    group = cohort["cohort"]
    rows = rows_by_name(group)
    # Below the bar before the objective closed: at risk from the day it closed.
    early = reason(rows["Bo Early"], ReasonKind.BELOW_BAR, "KO2")
    assert early.text == "KO2 below proficient after its modules closed" and early.since == cohort["ko2_closes"]
    assert (early.link.endpoint, early.link.args, early.link.anchor) == (
        "progress.learner", {"cohort_id": group.id, "user_id": cohort["early"].id}, "objective-KO2")
    # Dropped below after it closed: from the day of the evidence that took it below.
    assert reason(rows["Cy Late"], ReasonKind.BELOW_BAR, "KO2").since == cohort["ko2_closes"] + timedelta(days=6)
    # Below, above, below again: from the last time it went below.
    assert reason(rows["Di Zigzag"], ReasonKind.BELOW_BAR, "KO1").since == cohort["ko1_closes"] + timedelta(days=15)
    assert [r.kind for r in rows["Bo Early"].reasons] == [ReasonKind.BELOW_BAR]  # on schedule: not behind

    idle = rows["Ed Idle"]
    progress = learner_progress(db.session, group, cohort["idle"].id, utcnow())
    behind = reason(idle, ReasonKind.BEHIND)
    assert behind.text == f"{progress.days_behind} days behind schedule" and behind.days_behind == progress.days_behind
    assert behind.since == progress.today - timedelta(days=progress.days_behind)  # the oldest overdue item's due day
    assert behind.items and [i.due_on for i in behind.items] == sorted(i.due_on for i in behind.items)
    assert behind.items[0].due_on == behind.since
    assert {i.key for i in behind.items} == {i.key for i in progress.overdue if i.assessed}
    assert (behind.link.endpoint, behind.link.anchor) == ("progress.learner", "overdue")
    assert {i.link.endpoint for i in behind.items} <= {"assessment.quiz", "coursework.assignment"}
    nothing = reason(idle, ReasonKind.NO_EVIDENCE, "KO1")
    assert nothing.since == cohort["ko1_closes"] and nothing.link.anchor == "objective-KO1"


def test_the_page_links_each_reason_and_says_since_when(cohort, client, login) -> None:
    group, idle, late = cohort["cohort"], cohort["idle"], cohort["late"]
    login(client, cohort["admin"])
    page = client.get(f"/cohorts/{group.id}/competency").get_data(as_text=True)
    risk = page[page.index('id="at-risk"'):page.index('id="map"')]
    since = (cohort["ko2_closes"] + timedelta(days=6)).strftime("%d %b %Y")
    assert f'href="/cohorts/{group.id}/learners/{late.id}/progress#objective-KO2">KO2 below proficient after its modules closed</a>' in risk
    assert f"since <time datetime=\"{(cohort['ko2_closes'] + timedelta(days=6)).isoformat()}\">{since}</time>" in risk
    assert f'href="/cohorts/{group.id}/learners/{idle.id}/progress#overdue"' in risk
    behind = reason(rows_by_name(group)["Ed Idle"], ReasonKind.BEHIND)
    first = behind.items[0]
    assert f'/{"quizzes" if first.link.endpoint == "assessment.quiz" else "assignments"}/{first.key}"' in risk
    assert risk.count("Not reviewed yet.") == 4
    assert f'href="/cohorts/{group.id}/learners/{late.id}/at-risk"' in risk
    # The anchors exist on the staff view of the learner.
    profile = client.get(f"/cohorts/{group.id}/learners/{late.id}/progress").get_data(as_text=True)
    assert 'id="objective-KO2"' in profile and 'id="overdue"' in profile
    # The export carries the typed reasons too.
    document = client.get(f"/cohorts/{group.id}/competency.json").get_json(force=True)
    details = next(r["details"] for r in document["at_risk"] if r["name"] == "Cy Late")
    assert {"kind": "below_bar", "text": "KO2 below proficient after its modules closed",
            "since": (cohort["ko2_closes"] + timedelta(days=6)).isoformat(), "objective": "KO2"} in details


def test_the_review_page_links_contacting_the_learner_and_their_extensions(cohort, client, login) -> None:
    """The at-risk review page listed why a learner is at risk, but to contact them (a
    message) or give them more time (an extension) the instructor had to hunt for the
    learner's page from the cohort's list. Both are linked from the review page now."""
    group, idle = cohort["cohort"], cohort["idle"]
    login(client, cohort["instructor"])
    page = client.get(url(group, idle)).get_data(as_text=True)
    base = f"/cohorts/{group.id}/learners/{idle.id}"
    assert f'href="{base}/message">Send Ed Idle a message</a>' in page
    assert f'href="{base}">Extensions and schedule of Ed Idle</a>' in page
    for link in (f"{base}/message", base):
        assert client.get(link).status_code == 200


def test_recording_a_review_marks_the_reviewers_notices_of_that_learner_read(cohort, client, login) -> None:
    """The notice that a learner is at risk stayed unread in the instructor's centre (and its
    count) after they had reviewed the learner: they were asked twice about what they had
    done. A recorded review marks the reviewer's at-risk notices of that learner read; the
    other learners' stay unread, and so do a colleague's."""
    group, early, late, instructor, admin = (cohort["cohort"], cohort["early"], cohort["late"], cohort["instructor"],
                                             cohort["admin"])
    notify_all(db.session, at_risk_notices(db.session, group, [instructor, admin], utcnow()), utcnow())
    db.session.commit()

    def unread(person: Any) -> set[str]:
        db.session.expire_all()
        return set(db.session.scalars(select(Notification.key).where(Notification.user_id == person.id,
                                                                     Notification.read_at.is_(None))))

    before = unread(instructor)
    assert len(before) == 4 and unread(admin) == before  # the four learners at risk
    login(client, instructor)
    assert client.post(url(group, early), data={"note": NOTE}).status_code == 302
    assert unread(instructor) == {k for k in before if not k.startswith(f"at-risk:{group.id}:{early.id}:")}
    assert any(k.startswith(f"at-risk:{group.id}:{late.id}:") for k in unread(instructor))
    assert unread(admin) == before


def test_the_downloads_of_a_filtered_map_hold_the_learners_it_shows(cohort, client, login, enrol_learner) -> None:
    """Filtered to the learners at risk (or by name), the map's CSV and JSON downloads give
    those learners only, the at-risk list and the figures still the whole cohort's, as on
    the page, and so does the same export run as a job. The links had dropped the filter and
    the exports ignored it: "Download CSV" under "Only learners at risk" gave everyone."""
    group = cohort["cohort"]
    fine = enrol_learner(group, name="Fay Fine")
    do_work(group, fine)
    evidence(fine, {"KO1": 3.5, "SO1": 3.5, "KO2": 3.5, "SO2": 3.5}, when=at(group.start_date + relativedelta(months=4)),
             ref="base")
    db.session.commit()
    at_risk = ["Bo Early", "Cy Late", "Di Zigzag", "Ed Idle"]
    login(client, cohort["admin"])
    page = client.get(f"/cohorts/{group.id}/competency?risk=1").get_data(as_text=True)
    links = re.findall(r'href="(/cohorts/\d+/competency\.(?:csv|json)[^"]*)"', page)
    assert len(links) == 3 and all("risk=1" in link for link in links), links
    csv_link, json_link, list_link = (link.replace("&amp;", "&") for link in links)
    assert [r["learner"] for r in csv_rows(client.get(csv_link))] == at_risk
    # the at-risk list's own download: those learners, the most reasons and days behind first, with why
    listed = csv_rows(client.get(list_link))
    assert sorted(r["learner"] for r in listed) == at_risk and all(r["at risk"] == "yes" and r["reasons"] for r in listed)
    document = client.get(json_link).get_json(force=True)
    assert [r["name"] for r in document["rows"]] == at_risk
    assert sum(s["count"] for s in document["distributions"]["KO1"].values()) == 5  # the figures: the whole cohort
    everyone = csv_rows(client.get(f"/cohorts/{group.id}/competency.csv"))
    assert sorted(r["learner"] for r in everyone) == sorted([*at_risk, "Fay Fine"])
    # by name or email, alone or with the at-risk filter
    assert [r["learner"] for r in csv_rows(client.get(f"/cohorts/{group.id}/competency.csv?q=FAY"))] == ["Fay Fine"]
    assert csv_rows(client.get(f"/cohorts/{group.id}/competency.csv?q=fay&risk=1")) == []
    named = client.get(f"/cohorts/{group.id}/competency.json?q=cy").get_json(force=True)
    assert [r["name"] for r in named["rows"]] == ["Cy Late"] and len(named["at_risk"]) == 4
    # the same export as a background job
    made = HeatMapExport().build(db.session, group, "csv", {"risk": "1", "sort": "name"}, utcnow())
    assert [r["learner"] for r in csv.DictReader(io.StringIO("".join(made.chunks)))] == at_risk


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.status_code
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


# --------------------------------------------------------------------------- reviews


def test_a_review_is_recorded_listed_and_kept(cohort, client, login) -> None:
    group, early, instructor = cohort["cohort"], cohort["early"], cohort["instructor"]
    login(client, instructor)
    follow_up = date.today() + timedelta(days=7)
    response = client.post(url(group, early), data={"note": f"  {NOTE}  ", "follow_up_on": follow_up.isoformat()})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cohorts/{group.id}/competency#at-risk")
    [review] = reviews()
    assert (review.learner_id, review.cohort_id, review.reviewer_id) == (early.id, group.id, instructor.id)
    assert review.note == NOTE and review.follow_up_on == follow_up and review.days_behind == 0
    assert [(r.kind, r.objective, r.since) for r in review.reasons] == [(ReasonKind.BELOW_BAR, "KO2", cohort["ko2_closes"])]
    assert review.created_at.tzinfo is not None and abs(review.created_at - utcnow()) < timedelta(minutes=5)

    page = client.get(f"/cohorts/{group.id}/competency").get_data(as_text=True)
    item = re.search(rf'<li class="at-risk-learner[^"]*" data-user="{early.id}">(.*?)</li>\s*(?=<li class="at-risk-learner|</ul>\s*</section>)',
                     page, re.S)
    assert item, "the learner is in the at-risk list"
    # The reviewer's time in the viewer's zone (the instructor is in Tokyo).
    tokyo = review.created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"Last reviewed by Ines Instructor, {tokyo:%d %b %Y, %H:%M} JST" in item.group(1)
    assert re.search(rf"follow-up\s+{follow_up:%d %b %Y}", item.group(1))
    assert "No change since that review." in item.group(1) and "follow-up-due" not in item.group(0)

    # A second review adds to the history; the first is kept as it was.
    client.post("/logout")
    login(client, cohort["admin"])
    assert client.post(url(group, early), data={"note": "Second look: progress on KO2 practice."}).status_code == 302
    first, second = reviews()
    assert first.note == NOTE and first.follow_up_on == follow_up and second.follow_up_on is None
    history = client.get(url(group, early)).get_data(as_text=True)
    assert history.index("Second look") < history.index("Called Bo")  # newest first
    assert "Ines Instructor" in history and "Olivia Org" in history
    assert f"{second.created_at:%d %b %Y, %H:%M} UTC" in history  # the admin's zone is UTC


def test_what_changed_since_the_review(cohort) -> None:
    group, early, idle, reviewer = cohort["cohort"], cohort["early"], cohort["idle"], cohort["admin"]
    now = utcnow()
    record_review(db.session, group, early, reviewer, NOTE, None, now)
    record_review(db.session, group, idle, reviewer, "Emailed Ed; no answer yet.", None, now)
    db.session.commit()
    before = heat_map(db.session, group, now)
    assert not before.review_of(next(r for r in before.rows if r.user.id == early.id)).changed

    # New weak evidence on SO1 (closed): a new reason. KO2 back above the bar: a reason gone.
    evidence(early, {"SO1": 1.0}, ref="weak-so1")
    evidence(early, {"KO2": 4.0}, ref="strong-ko2")
    later = now + timedelta(days=3)
    heat = heat_map(db.session, group, later)
    since = heat.review_of(next(r for r in heat.rows if r.user.id == early.id))
    assert since.reviewed and since.changed
    assert [(r.kind, r.objective) for r in since.new] == [(ReasonKind.BELOW_BAR, "SO1")]
    assert [(r.kind, r.objective) for r in since.gone] == [(ReasonKind.BELOW_BAR, "KO2")]
    assert since.new[0].since == now.date()  # today's evidence took it below, after SO1 closed
    # Three days later the idle learner is three more days behind.
    idle_since = heat.review_of(next(r for r in heat.rows if r.user.id == idle.id))
    assert idle_since.days_change == 3 and not idle_since.new and not idle_since.gone


def test_what_changed_is_shown_on_the_list(cohort, client, login) -> None:
    group, late = cohort["cohort"], cohort["late"]
    login(client, cohort["admin"])
    record_review(db.session, group, late, cohort["admin"], NOTE, None, utcnow())
    db.session.commit()
    evidence(late, {"SO2": 0.5}, ref="weak-so2")  # customer success closed: SO2 is new
    page = client.get(f"/cohorts/{group.id}/competency").get_data(as_text=True)
    risk = page[page.index('id="at-risk"'):page.index('id="map"')]
    assert '<li class="new-reason"><strong>New:</strong> SO2 below proficient after its modules closed</li>' in risk
    assert risk.count("Not reviewed yet.") == 3


def test_a_follow_up_that_is_due_is_highlighted(cohort, client, login) -> None:
    group, early, late, reviewer = cohort["cohort"], cohort["early"], cohort["late"], cohort["admin"]
    now = utcnow()
    today = now.date()
    record_review(db.session, group, early, reviewer, NOTE, today + timedelta(days=2), now)
    record_review(db.session, group, late, reviewer, NOTE, today, now)
    db.session.commit()
    heat = heat_map(db.session, group, now)
    due = {r.user.name: heat.review_of(r).follow_up_due for r in heat.at_risk}
    assert due == {"Bo Early": False, "Cy Late": True, "Di Zigzag": False, "Ed Idle": False}
    later = heat_map(db.session, group, now + timedelta(days=2))
    assert later.review_of(next(r for r in later.rows if r.user.id == early.id)).follow_up_due  # its day has come
    login(client, reviewer)
    page = client.get(f"/cohorts/{group.id}/competency").get_data(as_text=True)
    assert f'<li class="at-risk-learner follow-up-due" data-user="{late.id}">' in page
    assert f'<li class="at-risk-learner" data-user="{early.id}">' in page
    assert f'<strong class="risk follow-up-due">due {today:%d %b %Y}</strong>' in page


def test_invalid_reviews_are_refused_with_the_input_kept(cohort, client, login) -> None:
    group, early = cohort["cohort"], cohort["early"]
    login(client, cohort["instructor"])
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    empty = client.post(url(group, early), data={"note": "   ", "follow_up_on": tomorrow})
    assert empty.status_code == 400
    page = empty.get_data(as_text=True)
    assert "Write a support note" in page and f'value="{tomorrow}"' in page

    long_note = "x" * (MAX_REVIEW_NOTE + 1)
    too_long = client.post(url(group, early), data={"note": long_note})
    assert too_long.status_code == 400 and f"Keep the note to {MAX_REVIEW_NOTE} characters." in too_long.get_data(as_text=True)
    assert long_note in too_long.get_data(as_text=True)

    yesterday = (date.today() - timedelta(days=1))
    past = client.post(url(group, early), data={"note": NOTE, "follow_up_on": yesterday.isoformat()})
    page = past.get_data(as_text=True)
    assert past.status_code == 400 and "is in the past; choose today or a later day." in page
    assert f'value="{yesterday.isoformat()}"' in page and "Called Bo: agreed" in page

    far = client.post(url(group, early), data={"note": NOTE, "follow_up_on": "9999-12-31"})
    page = far.get_data(as_text=True)
    assert far.status_code == 400 and "Choose a date between 1 January 2000 and 31 December 2099." in page
    assert "Called Bo: agreed" in page

    garbled = client.post(url(group, early), data={"note": NOTE, "follow_up_on": "31/02/2027"})
    assert garbled.status_code == 400 and "Not a valid date value" in garbled.get_data(as_text=True)
    assert reviews() == []


def test_the_service_refuses_bad_reviews_too(cohort) -> None:
    group, early, reviewer = cohort["cohort"], cohort["early"], cohort["admin"]
    with pytest.raises(ReviewError, match="Write a support note"):
        record_review(db.session, group, early, reviewer, " \n ", None, utcnow())
    with pytest.raises(ReviewError, match="keep it to"):
        record_review(db.session, group, early, reviewer, "y" * (MAX_REVIEW_NOTE + 1), None, utcnow())
    with pytest.raises(ReviewError, match="in the past") as refused:
        record_review(db.session, group, early, reviewer, NOTE, utcnow().date() - timedelta(days=1), utcnow())
    assert refused.value.field == "follow_up_on"
    with pytest.raises(ReviewError, match="not a learner of"):
        record_review(db.session, group, cohort["admin"], reviewer, NOTE, None, utcnow())
    assert reviews() == []


# --------------------------------------------------------------------------- access


def test_only_the_cohorts_staff_may_review(app, client, login, loaded, world, make_user) -> None:
    outsider_instructor = make_user(name="Instructor A2")
    world.cohort_a2.instructors.append(outsider_instructor)
    db.session.commit()
    target = url(world.cohort_a, world.learner_a)
    data = {"note": NOTE}
    refused = [(outsider_instructor, 403),      # instructor of another cohort of the same organization
               (world.instructor_b, 404),       # staff of another organization: not told the cohort exists
               (world.org_admin_b, 404),
               (world.learner_a, 403),          # the learner themself
               (world.learner_a2, 403)]         # a learner of the organization
    for person, status in refused:
        login(client, person)
        assert client.get(target).status_code == status, person.name
        assert client.post(target, data=data).status_code == status, person.name
        client.post("/logout")
    assert reviews() == []
    # A learner of another cohort under this cohort's address: no such learner here.
    login(client, world.admin)
    assert client.post(url(world.cohort_a, world.learner_a2), data=data).status_code == 404
    client.post("/logout")
    for person in (world.instructor_a, world.org_admin_a, world.admin):
        login(client, person)
        assert client.post(target, data=data).status_code == 302, person.name
        client.post("/logout")
    assert [r.reviewer_id for r in reviews()] == [world.instructor_a.id, world.org_admin_a.id, world.admin.id]


@pytest.fixture()
def csrf_client(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Any]:
    strict = make_app(WTF_CSRF_ENABLED=True)
    yield strict.test_client()
    with strict.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_review_form_is_protected_against_forgery(cohort, csrf_client) -> None:
    def token(html: str) -> str:
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', html)
        assert match, "no csrf_token"
        return match.group(1) or match.group(2)

    group, early = cohort["cohort"], cohort["early"]
    login_page = csrf_client.get("/login").get_data(as_text=True)
    signed = csrf_client.post("/login", data={"email": cohort["admin"].email, "password": PASSWORD,
                                              "csrf_token": token(login_page)})
    assert signed.status_code == 302
    assert csrf_client.post(url(group, early), data={"note": NOTE}).status_code == 400
    form = csrf_client.get(url(group, early)).get_data(as_text=True)
    assert csrf_client.post(url(group, early), data={"note": NOTE, "csrf_token": token(form)}).status_code == 302
    assert len(reviews()) == 1


# --------------------------------------------------------------------------- statements


def test_statements_do_not_grow_with_learners_or_reviews(cohort, client, login, enrol_learner, page_statements) -> None:
    group = cohort["cohort"]
    login(client, cohort["admin"])
    record_review(db.session, group, cohort["early"], cohort["admin"], NOTE, date.today(), utcnow())
    db.session.commit()
    urls = [f"/cohorts/{group.id}/competency", f"/cohorts/{group.id}/competency.json",
            url(group, cohort["early"])]

    def counts() -> list[int]:
        return page_statements(client, urls)

    counts()  # the process keeps the curriculum and the policy for the content revision from the first view
    few = counts()
    start = group.start_date
    for n in range(6):
        learner = enrol_learner(group, name=f"Extra {n}")
        evidence(learner, {"KO1": 3.0, "KO2": 3.0}, when=at(start + relativedelta(months=2)), ref="good")
        evidence(learner, {"KO1": 0.5 + n % 2, "SO1": 1.0}, when=at(start + relativedelta(months=6)), ref="weak")
        for k in range(2):
            record_review(db.session, group, learner, cohort["instructor"], f"Review {k} of extra {n}", None, utcnow())
        db.session.commit()
    assert sum(1 for r in heat_map(db.session, group, utcnow()).at_risk) == 10
    assert db.session.scalar(select(func.count()).select_from(AtRiskReview)) == 13
    assert counts() == few


def test_reasons_are_listed_linked_escaped_and_overdue_items_counted(app: Flask) -> None:
    """The at-risk list's reasons (``competency_reasons``): each links where it shows on the
    learner's page, says since when, escapes what it quotes; being behind lists the first
    overdue items, each linked to its page, and counts the rest."""
    learner = Link("progress.learner", (("cohort_id", 3), ("user_id", 7)))
    items = tuple(OverdueItem(kind=ItemKind.QUIZ, key=f"quiz-{n}", title=f"Quiz <{n}>", due_on=date(2026, 3, n))
                  for n in range(1, OVERDUE_SHOWN + 3))
    behind = Reason(kind=ReasonKind.BEHIND, text="21 days behind schedule", since=date(2026, 3, 1),
                    link=Link(learner.endpoint, learner.values, "overdue"), days_behind=21, items=items)
    below = Reason(kind=ReasonKind.BELOW_BAR, text="KO2 below Proficient & more", since=date(2026, 4, 2),
                   link=Link(learner.endpoint, learner.values, "objective-KO2"), objective="KO2")
    with app.test_request_context("/"):
        html = str(reason_items([behind, below]))
    assert html.count('<li class="reason"') == 2
    assert '<li class="reason" data-kind="behind">' in html
    assert '<li class="reason" data-kind="below_bar" data-objective="KO2">' in html
    assert '<a href="/cohorts/3/learners/7/progress#overdue">21 days behind schedule</a>' in html
    assert '<a href="/cohorts/3/learners/7/progress#objective-KO2">KO2 below Proficient &amp; more</a>' in html
    assert 'since <time datetime="2026-04-02">02 Apr 2026</time>' in html
    shown = re.findall(r'<li><a href="/quizzes/(quiz-\d+)">Quiz &lt;\d+&gt;</a> <span class="muted">\(quiz, due \d\d Mar 2026\)', html)
    assert shown == [f"quiz-{n}" for n in range(1, OVERDUE_SHOWN + 1)]
    assert '<a href="/cohorts/3/learners/7/progress#overdue">and 2 more overdue</a>' in html
    assert "Quiz <" not in html
