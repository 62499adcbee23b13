"""Expert evaluation: a learner (for their own handed-in work) or the cohort's staff invite
an outside expert by a single-use, expiring link; the expert states their credentials and
rates the work on its rubric without an account; the rating becomes expert evidence and is
shown, with the credentials, to the learner and the staff. Links can be withdrawn."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.accounts.services import hash_token
from lms.catalog.models import Objective
from lms.coursework.models import Submission
from lms.database import utcnow
from lms.expert import services
from lms.expert.models import ExpertEvaluation, ExpertInvite
from lms.extensions import db
from lms.mail.models import OutboxMessage
from lms.progress.models import Evidence, Mastery
from lms.progress.services import record
from tests.conftest import sent_body

CASE = "mlops-case-coldwatch"  # criteria: metric-analysis (KO1, KO4), diagnosis (KO1), improvement-plan (KO1, SO1),
# monitoring-reliability (KO1, SO1), judgement (KO1, KO4); levels exemplary 4, proficient 3, developing 2, beginning 1
CREDENTIALS = {"role": "Head of ML Platform", "organization": "Brightfield Analytics", "years": "12",
               "qualification": "I run model releases and on-call for a team of eight."}


def page(response: Any) -> str:
    return response.get_data(as_text=True)


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def token_in(message: OutboxMessage) -> str:
    found = re.search(r"http://localhost/e/([A-Za-z0-9_-]+)", sent_body(message))
    assert found, f"no absolute evaluation link in: {sent_body(message)!r}"
    return found.group(1)


def rating(work: Submission, best: tuple[str, ...] = ("metric-analysis",)) -> dict[str, str]:
    """Exemplary on the criteria in ``best``, proficient on the others, a comment on each."""
    form = {**CREDENTIALS, "comment": "Sound analysis; the **alert routing** needs owners."}
    for c in work.assignment.rubric.current.criteria:
        form[f"level-{c.id}"] = "exemplary" if c.id in best else "proficient"
        form[f"comment-{c.id}"] = f"On {c.title}: clear."
    return form


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    org_admin, other_admin = make_user(name="Olga Admin"), make_user(name="Oskar Admin")
    org, other_org = make_org(admins=[org_admin]), make_org(admins=[other_admin])
    teacher, other_teacher, far_teacher = make_user(name="Tess Teacher"), make_user(name="Otto Teacher"), make_user(name="Fay Far")
    cohort = make_cohort(org, "Main", months_ago=5, instructors=[teacher])
    sibling = make_cohort(org, "Sibling", months_ago=5, instructors=[other_teacher])
    far = make_cohort(other_org, "Far", months_ago=5, instructors=[far_teacher])

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    def hand_in(cohort_: Any, name: str, body: str = "My **analysis** of Coldwatch.") -> tuple[Any, Any, Submission]:
        learner = enrol_learner(cohort_, name=name)
        client = client_for(learner)
        assert client.post(f"/assignments/{CASE}/work", data={"body": body, "action": "submit"}).status_code == 302
        db.session.expire_all()
        work = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
        return learner, client, work

    learner, client, work = hand_in(cohort, "Pia Learner")
    return {"app": app, "cohort": cohort, "sibling": sibling, "far": far, "teacher": teacher, "org_admin": org_admin,
            "other_admin": other_admin, "other_teacher": other_teacher, "far_teacher": far_teacher,
            "learner": learner, "client": client, "work": work, "client_for": client_for, "hand_in": hand_in,
            "expert": app.test_client()}


def invite(work: Submission, by: Any, when: Any = None, email: str = "erin@expert.example",
           days: int = 14) -> tuple[ExpertInvite, str]:
    item, token = services.invite(db.session, work, by, "Erin Expert", email, "Please look at the plan.",
                                  when or utcnow(), lambda t: f"http://lms.example/e/{t}", days_valid=days)
    db.session.commit()
    return item, token


def staff_url(work: Submission) -> str:
    return f"/cohorts/{work.cohort_id}/submissions/{work.id}/experts"


# ---------------------------------------------------------------- the whole life cycle


def test_learner_invites_expert_rates_evidence_and_mastery_change(course) -> None:
    learner, client, work, expert = course["learner"], course["client"], course["work"], course["expert"]
    mine = page(client.get(f"/assignments/{CASE}/experts"))
    assert "Invite an expert" in mine and "valid for 14 days" in mine
    sent = client.post(f"/assignments/{CASE}/experts", data={"name": "Erin Expert", "email": "Erin@Expert.example",
                                                             "note": "Please look at the alerting plan."})
    assert sent.status_code == 302
    db.session.expire_all()
    [mail] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "erin@expert.example")).all()
    assert "Pia Learner" in mail.subject and "Coldwatch" in mail.subject
    assert "Please look at the alerting plan." in mail.body and "works once" in mail.body
    token = token_in(mail)
    [item] = db.session.scalars(select(ExpertInvite)).all()
    assert item.token_hash == hash_token(token) and token not in item.token_hash  # only the hash is kept
    assert item.expires_at - item.created_at == timedelta(days=14)
    assert item.invited_by_id == learner.id and item.version_id == work.latest.id
    assert '<span class="tag">Waiting</span>' in page(client.get(f"/assignments/{CASE}/experts"))

    # Earlier evidence on KO1: an instructor's grade at half marks (level 2), a week ago.
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    record(db.session, learner.id, ko1.id, "rubric", "grade:1", 0.5, utcnow() - timedelta(days=7))
    db.session.commit()

    # The expert opens the link without an account and sees the work and the rubric.
    form = expert.get(f"/e/{token}")
    assert form.status_code == 200
    text = page(form)
    assert "Pia Learner" in text and "<strong>analysis</strong>" in text and "Please look at the alerting plan." in text
    assert "Metric analysis" in text and "Incident diagnosis" in text
    done = expert.post(f"/e/{token}", data=rating(work))
    assert done.status_code == 200 and "Thank you, Erin Expert" in page(done)

    db.session.expire_all()
    [evaluation] = db.session.scalars(select(ExpertEvaluation)).all()
    assert (evaluation.role, evaluation.organization, evaluation.years) == ("Head of ML Platform", "Brightfield Analytics", 12)
    assert evaluation.score == 16 and evaluation.max_score == 20  # exemplary 4 + four proficient 3s, of 5 x 4
    assert evaluation.selections["diagnosis"] == {"level": "proficient", "comment": "On Incident diagnosis: clear."}
    assert evaluation.invite.used_at is not None
    evidence = {e.objective.key: e for e in db.session.scalars(select(Evidence).where(Evidence.source == "expert"))}
    # KO1: mean of 1, .75, .75, .75, .75 = 0.8 -> 3.2; KO4: mean of 1 and .75 = .875 -> 3.5; SO1: .75 -> 3.
    assert {k: e.level for k, e in evidence.items()} == {"KO1": pytest.approx(3.2), "KO4": pytest.approx(3.5), "SO1": 3.0}
    assert {(e.weight, e.source_ref) for e in evidence.values()} == {(0.75, f"expert:{evaluation.id}")}
    assert "Erin Expert, Head of ML Platform at Brightfield Analytics" in evidence["KO1"].note
    mastery = {m.objective.key: m for m in db.session.scalars(select(Mastery).where(Mastery.user_id == learner.id))}
    # KO1, decaying average: 0.65 scaled by the expert weight 0.75 = 0.4875 on the new point: 0.4875 * 3.2 + 0.5125 * 2.
    assert mastery["KO1"].level == pytest.approx(0.4875 * 3.2 + 0.5125 * 2) and mastery["KO1"].evidence_count == 2
    # SO1's and KO4's only evidence is the expert's (3 and 3.5): an expert the learner chose is
    # not staff-checked, so with nothing else on them both are held just under proficient, at 2.4.
    assert mastery["SO1"].level == pytest.approx(2.4) and mastery["KO4"].level == pytest.approx(2.4)
    assert mastery["SO1"].held and mastery["KO4"].held

    # Single use: the page and a second submit are refused with a page; nothing changes.
    again = expert.get(f"/e/{token}")
    assert again.status_code == 410 and "already been used" in page(again)
    twice = expert.post(f"/e/{token}", data=rating(work, best=()))
    assert twice.status_code == 410
    db.session.expire_all()
    assert count(ExpertEvaluation) == 1 and db.session.scalar(select(func.count()).where(Evidence.source == "expert")) == 3

    # The learner sees the rating with the credentials on their work page and the expert page.
    for url in (f"/assignments/{CASE}/work", f"/assignments/{CASE}/experts"):
        shown = page(client.get(url))
        assert "Expert evaluation" in shown and "Head of ML Platform at Brightfield Analytics, 12 years" in shown, url
        assert "<strong>alert routing</strong>" in shown and "16 / 20" in shown and "On Incident diagnosis: clear." in shown
    assert '<span class="tag">Rated</span>' in page(client.get(f"/assignments/{CASE}/experts"))
    # So do the cohort's staff, on the grading page and the submission's expert page.
    teacher = course["client_for"](course["teacher"])
    for url in (f"/cohorts/{work.cohort_id}/submissions/{work.id}", staff_url(work)):
        shown = page(teacher.get(url))
        assert "Head of ML Platform at Brightfield Analytics" in shown and "I run model releases" in shown, url
    # A rated link cannot be withdrawn: the rating stays.
    assert client.post(f"/experts/{item.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(ExpertInvite, item.id).revoked_at is None


def test_staff_invite_and_revoke(course) -> None:
    work, expert = course["work"], course["expert"]
    teacher = course["client_for"](course["teacher"])
    assert teacher.post(staff_url(work), data={"name": "Sam Senior", "email": "sam@ops.example", "note": ""}).status_code == 302
    db.session.expire_all()
    [mail] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "sam@ops.example")).all()
    assert "Tess Teacher, an instructor of Pia Learner" in mail.body
    token = token_in(mail)
    [item] = db.session.scalars(select(ExpertInvite)).all()
    assert item.invited_by_id == course["teacher"].id
    # The learner sees the invitation but cannot withdraw what their instructor sent.
    assert "Sam Senior" in page(course["client"].get(f"/assignments/{CASE}/experts"))
    assert course["client"].post(f"/experts/{item.id}/revoke").status_code == 404
    # Another staff member of the cohort (the organization's admin) may.
    assert course["client_for"](course["org_admin"]).post(f"/experts/{item.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(ExpertInvite, item.id).revoked_at is not None
    gone = expert.get(f"/e/{token}")
    assert gone.status_code == 410 and "withdrawn" in page(gone)
    assert expert.post(f"/e/{token}", data=rating(work)).status_code == 410
    assert '<span class="tag">Withdrawn</span>' in page(teacher.get(staff_url(work)))
    assert count(ExpertEvaluation) == 0


def test_a_learner_sends_a_bounded_number_of_invitations_a_day(course) -> None:
    """Each invitation mails the learner's note to an address of their choosing: the form sent
    as many as it was posted. A day holds MAX_LEARNER_INVITES_PER_DAY; the next is refused
    with a message, nothing mailed. The cohort's staff, inviting for a whole cohort, are not bound."""
    work, learner, now = course["work"], course["learner"], utcnow()
    for n in range(services.MAX_LEARNER_INVITES_PER_DAY):
        invite(work, learner, when=now - timedelta(hours=23), email=f"expert{n}@expert.example")
    mails = count(OutboxMessage)
    refused = course["client"].post(f"/assignments/{CASE}/experts", data={
        "name": "One More", "email": "one.more@expert.example", "note": "Buy cheap watches at http://spam.example"})
    assert refused.status_code == 400 and "in the last 24 hours" in page(refused)
    assert "One More" in page(refused)  # what was typed is kept
    assert count(OutboxMessage) == mails
    teacher = course["client_for"](course["teacher"])
    assert teacher.post(staff_url(work), data={"name": "Sam Senior", "email": "sam@ops.example", "note": ""}).status_code == 302
    invite(work, learner, when=now + timedelta(hours=1, seconds=1), email="one.more@expert.example")  # a day later


def test_learner_withdraws_own_link(course) -> None:
    item, token = invite(course["work"], course["learner"])
    assert course["client"].post(f"/experts/{item.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(ExpertInvite, item.id).revoked_at is not None
    assert course["expert"].get(f"/e/{token}").status_code == 410


def test_links_expire_after_the_setting(course) -> None:
    work, expert = course["work"], course["expert"]
    old, token = invite(work, course["learner"], when=utcnow() - timedelta(days=15), days=14)
    closed = expert.get(f"/e/{token}")
    assert closed.status_code == 410 and "expired" in page(closed)
    assert expert.post(f"/e/{token}", data=rating(work)).status_code == 410
    assert count(ExpertEvaluation) == 0
    assert '<span class="tag">Expired</span>' in page(course["client"].get(f"/assignments/{CASE}/experts"))
    # An expired invitation does not block a new one to the same address; the setting sets the validity.
    course["app"].config["EXPERT_LINK_DAYS"] = 3
    try:
        assert course["client"].post(f"/assignments/{CASE}/experts",
                                     data={"name": "Erin Expert", "email": "erin@expert.example"}).status_code == 302
    finally:
        course["app"].config.pop("EXPERT_LINK_DAYS")
    db.session.expire_all()
    new = db.session.scalar(select(ExpertInvite).where(ExpertInvite.id != old.id))
    assert new.expires_at - new.created_at == timedelta(days=3)


def test_unknown_tokens_get_a_page_not_an_error(course) -> None:
    for method in ("get", "post"):
        answer = getattr(course["expert"], method)("/e/not-a-real-token")
        assert answer.status_code == 404 and "not valid" in page(answer)
    assert course["expert"].get("/e/not-a-real-token/files/1").status_code == 404


# ---------------------------------------------------------------- refused input


def test_bad_ratings_rerender_with_a_message_and_keep_the_link(course) -> None:
    work, expert = course["work"], course["expert"]
    _item, token = invite(work, course["learner"])
    good = rating(work)
    criterion = work.assignment.rubric.current.criteria[1]
    cases = [
        ({**good, "role": "  "}, "State your role"),
        ({**good, "organization": ""}, "organization"),
        ({**good, "years": "many"}, "years of relevant experience"),
        ({**good, "years": "200"}, "years of relevant experience"),
        ({**good, "qualification": ""}, "why you are qualified"),
        ({k: v for k, v in good.items() if k != f"level-{criterion.id}"}, "Choose a level on every criterion"),
        ({**good, f"level-{criterion.id}": "legendary"}, "does not exist"),
        ({**good, "comment": "   "}, "overall comment"),
    ]
    for data, message in cases:
        answer = expert.post(f"/e/{token}", data=data)
        assert answer.status_code == 400, message
        text = page(answer)
        assert message in text and "Nothing was saved" in text, message
        assert "Brightfield Analytics" in text or data.get("organization") == ""  # the entries are kept
    db.session.expire_all()
    assert count(ExpertEvaluation) == 0 and db.session.scalar(select(ExpertInvite.used_at)) is None
    assert expert.post(f"/e/{token}", data=good).status_code == 200  # the link still works


def test_bad_invitations_rerender_with_a_message(course, enrol_learner) -> None:
    client, work = course["client"], course["work"]
    url = f"/assignments/{CASE}/experts"
    cases = [
        ({"name": "", "email": "erin@expert.example"}, "Give the expert&#39;s name."),
        ({"name": "Erin", "email": "not-an-address"}, "email"),
        ({"name": "Myself", "email": course["learner"].email}, "not the learner (nor a teammate)"),
        ({"name": "Erin", "email": "erin@expert.example", "note": "x" * 2001}, "2000"),
    ]
    classmate = enrol_learner(course["cohort"], name="Cal Classmate")
    inside = [classmate, course["teacher"], course["org_admin"]]  # a rating from them would be the program's own
    cases += [({"name": "Insider", "email": person.email.upper()}, "belongs to the program") for person in inside]
    for data, message in cases:
        answer = client.post(url, data=data)
        assert answer.status_code == 400 and message in page(answer), (data, page(answer)[:300])
        assert f'value="{data["name"]}"' in page(answer)  # what was typed is kept
        if message not in ("email", "2000"):  # each is about a field: under it and in the summary the page opens on
            assert page(answer).count(message) == 2, message
    invite(work, course["learner"])
    twice = client.post(url, data={"name": "Erin", "email": "erin@expert.example"})
    assert twice.status_code == 400 and "already has a waiting invitation" in page(twice)
    # Work that was never handed in cannot be rated.
    fresh = enrol_learner(course["cohort"], name="Nia New")
    unsubmitted = course["client_for"](fresh).post(url, data={"name": "Erin", "email": "erin2@expert.example"})
    assert unsubmitted.status_code == 400 and "Hand the work in first" in page(unsubmitted)
    assert count(ExpertInvite) == 1 and count(OutboxMessage) == 1
    # someone of another organization is outside this program: invited
    outsider = course["hand_in"](course["far"], "Out Sider")[0]
    assert client.post(url, data={"name": "Out Sider", "email": outsider.email}).status_code == 302


# ---------------------------------------------------------------- who may do what


def test_other_cohorts_and_organizations_are_refused(course) -> None:
    work = course["work"]
    item, _token = invite(work, course["learner"])
    other_learner, other_client, other_work = course["hand_in"](course["sibling"], "Oli Other")
    # Another learner: their own page shows nothing of Pia's invitations; they cannot withdraw them.
    assert "Erin Expert" not in page(other_client.get(f"/assignments/{CASE}/experts"))
    assert other_client.post(f"/experts/{item.id}/revoke").status_code == 404
    assert other_client.get(staff_url(work)).status_code in (403, 404)
    # The instructor of a sibling cohort, and another organization's admin and instructor.
    # Inside the organization, the sibling cohort's instructor is told "forbidden"; outside it, "not found".
    for who, status in (("other_teacher", 403), ("other_admin", 404), ("far_teacher", 404)):
        outsider = course["client_for"](course[who])
        assert outsider.get(staff_url(work)).status_code == status, who
        assert outsider.post(staff_url(work), data={"name": "X", "email": "x@example.com"}).status_code == status, who
        assert outsider.post(f"/experts/{item.id}/revoke").status_code == 404, who
    # Staff of the sibling cohort cannot reach Pia's work through their own cohort's address.
    sibling_teacher = course["client_for"](course["other_teacher"])
    disguised = f"/cohorts/{other_work.cohort_id}/submissions/{work.id}/experts"
    assert sibling_teacher.get(disguised).status_code == 404
    assert sibling_teacher.post(disguised, data={"name": "X", "email": "x@example.com"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(ExpertInvite, item.id).revoked_at is None and count(ExpertInvite) == 1
    assert other_learner.id != course["learner"].id


def test_pages_do_not_query_per_row(course, count_queries) -> None:
    work = course["work"]
    teacher = course["client_for"](course["teacher"])
    experts, grading = staff_url(work), f"/cohorts/{work.cohort_id}/submissions/{work.id}"
    _first, token = invite(work, course["learner"])
    course["expert"].post(f"/e/{token}", data=rating(work))
    few = {url: count_queries(lambda u=url: teacher.get(u)) for url in (experts, grading)}
    for n in range(3):
        _item, more = invite(work, course["learner"], email=f"expert{n}@example.com")
        course["expert"].post(f"/e/{more}", data=rating(work))
    invite(work, course["teacher"], email="waiting@example.com")
    assert {url: count_queries(lambda u=url: teacher.get(u)) for url in (experts, grading)} == few
    assert page(teacher.get(experts)).count("expert-evaluation-") == 4


def test_the_same_expert_rating_again_counts_once_as_their_latest(course) -> None:
    """A learner invited the same expert to rate the same work twice: both ratings counted as
    evidence, the earlier pulling the level as much as the later. The expert (by address,
    whatever its case) rating the learner on an objective again replaces their earlier rating;
    another expert's counts beside it; a rebuild agrees."""
    learner, work, expert = course["learner"], course["work"], course["expert"]

    def rated(email: str, best: tuple[str, ...]) -> None:
        _item, token = invite(work, learner, email=email)
        assert expert.post(f"/e/{token}", data=rating(work, best)).status_code == 200

    def ko1() -> tuple[float, int, list[float]]:
        db.session.expire_all()
        objective = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
        row = db.session.scalar(select(Mastery).where(Mastery.user_id == learner.id, Mastery.objective_id == objective.id))
        levels = [e.level for e in db.session.scalars(select(Evidence).where(
            Evidence.user_id == learner.id, Evidence.objective_id == objective.id).order_by(Evidence.id))]
        return row.level, row.evidence_count, levels

    every = tuple(c.id for c in work.assignment.rubric.current.criteria)
    rated("erin@expert.example", every)   # all exemplary
    rated("Erin@Expert.example", ())      # the same expert again: all proficient
    level, count_, levels = ko1()
    # The latest alone (it had been pulled by both); experts alone are not staff-checked, so the
    # proficient level it reaches is held just under proficient (2.4).
    assert len(levels) == 2 and count_ == 1 and levels[-1] >= 2.5 and level == 2.4
    rated("ed@other.example", every)      # another expert: counts beside Erin's latest
    level, count_, levels = ko1()
    assert count_ == 2 and level == 2.4
    kept = ko1()
    assert course["app"].test_cli_runner().invoke(args=["lms", "rebuild-mastery"]).exit_code == 0
    assert ko1() == kept


def test_the_graders_key_shows_only_to_an_expert_the_staff_invited(course) -> None:
    """Staff invite an expert to grade: the page shows each criterion's key. A learner's own
    invitation shows the rubric without it, since the learner chose where the link goes."""
    work = course["work"]
    staff_item, staff_token = invite(work, course["teacher"], email="sam@expert.example")
    text = page(course["expert"].get(f"/e/{staff_token}"))
    assert "Grader's key" in text and "164 lost minutes" in text
    own_item, own_token = invite(work, course["learner"], email="lee@expert.example")
    text = page(course["expert"].get(f"/e/{own_token}"))
    assert "Metric analysis" in text and "Grader's key" not in text and "164 lost minutes" not in text
