"""Stakeholder feedback: a learner invites someone by a single-use link; the stakeholder
answers without an account; the answer becomes evidence and is shown to the learner and
their instructors. Links expire, can be withdrawn, and work once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.accounts.services import hash_token
from lms.catalog.models import Module, Objective
from lms.cohorts.calendar import month_opens_on
from lms.database import utcnow
from lms.extensions import db
from lms.feedback import services
from lms.feedback.models import FeedbackInvite, FeedbackResponse
from lms.mail.models import OutboxMessage
from lms.progress.models import Evidence, Mastery
from lms.progress.services import record
from tests.conftest import sent_body

GOOD = {"reliability": "4", "communication": "5", "results": "3", "recommend": "4"}  # mean 4 -> fraction 0.75


def link(token: str) -> str:
    return f"http://lms.example/f/{token}"


def token_in(message: OutboxMessage) -> str:
    found = re.search(r"http://localhost/f/([A-Za-z0-9_-]+)", sent_body(message))
    assert found, f"no absolute feedback link in: {sent_body(message)!r}"
    return found.group(1)


def module(key: str = "mlops") -> Module:
    return db.session.scalar(select(Module).where(Module.key == key))


def objective(code: str) -> Objective:
    return db.session.scalar(select(Objective).where(Objective.key == code))


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def page(response: Any) -> str:
    return response.get_data(as_text=True)


@pytest.fixture()
def setting(app: Flask, loaded, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    teacher = make_user(name="Greta Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    learner = enrol_learner(cohort, name="Pia Learner")
    other = enrol_learner(cohort, name="Oli Other")
    return {"learner": learner, "other": other, "teacher": teacher, "cohort": cohort, "app": app,
            "client": client_for(learner), "other_client": client_for(other), "teacher_client": client_for(teacher),
            "stranger": app.test_client()}


def invite(learner: Any, when: Any = None, email: str = "dana@client.example", days: int = 21,
           key: str = "mlops") -> tuple[FeedbackInvite, str]:
    item, token = services.invite(db.session, learner, module(key), "Dana Client", email, "customer",
                                  when or utcnow(), link, days_valid=days)
    db.session.commit()
    return item, token


# ---------------------------------------------------------------- the whole life cycle


def test_invite_answer_and_evidence(setting) -> None:
    learner, client, stranger = setting["learner"], setting["client"], setting["stranger"]
    assert "Stakeholder feedback" in page(client.get("/home"))
    mlops = module()
    sent = client.post("/feedback", data={"module": mlops.id, "name": "Dana Client", "email": "Dana@Client.example",
                                          "relation": "customer"})
    assert sent.status_code == 302
    db.session.expire_all()
    [mail] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "dana@client.example")).all()
    assert "Pia Learner" in mail.subject and "AI Development Operations (MLOps)" in mail.subject
    token = token_in(mail)
    [item] = db.session.scalars(select(FeedbackInvite)).all()
    assert item.token_hash == hash_token(token) and token not in item.token_hash  # only the hash is kept
    assert item.expires_at - item.created_at == timedelta(days=21)
    assert '<span class="tag">Waiting</span>' in page(client.get("/feedback"))

    # A learner already has evidence on KO1, a week earlier: a rubric grade at half marks (level 2).
    record(db.session, learner.id, objective("KO1").id, "rubric", "grade:1", 0.5, utcnow() - timedelta(days=7))
    db.session.commit()

    # The stakeholder opens the link without an account.
    form = stranger.get(f"/f/{token}")
    assert form.status_code == 200
    assert "Pia Learner" in page(form) and "AI Development Operations (MLOps)" in page(form)
    assert "How dependably" in page(form)
    done = stranger.post(f"/f/{token}", data={**GOOD, "comment": "Outages are **rare** now."})
    assert done.status_code == 200 and "Thank you, Dana Client" in page(done)

    db.session.expire_all()
    [response] = db.session.scalars(select(FeedbackResponse)).all()
    assert response.ratings == {"reliability": 4, "communication": 5, "results": 3, "recommend": 4}
    assert response.invite.used_at is not None
    evidence = db.session.scalars(select(Evidence).where(Evidence.source == "stakeholder")).all()
    # One row per objective of the MLOps module, each at level 3 (mean 4 of 5 -> 0.75 -> 3 of 4).
    assert sorted(e.objective.key for e in evidence) == ["AO1", "AO2", "AO3", "KO1", "SO1"]
    assert {(e.level, e.weight, e.source_ref) for e in evidence} == {(3.0, 0.75, f"feedback:{item.id}")}
    assert evidence[0].note.startswith("Customer Dana Client: 4 of 5 on average")
    mastery = {m.objective.key: m for m in db.session.scalars(select(Mastery).where(Mastery.user_id == learner.id))}
    # KO1: decaying average, 0.65 scaled by the stakeholder weight 0.75 = 0.4875 on the new point:
    # 0.4875 * 3 + 0.5125 * 2 = 2.4875. SO1 has only this answer: 3, proficient, but a stakeholder
    # the learner chose is not staff-checked: held just under proficient, at 2.4.
    assert mastery["KO1"].level == pytest.approx(2.4875) and mastery["KO1"].evidence_count == 2
    assert (mastery["SO1"].level, mastery["SO1"].evidence_count, mastery["SO1"].held) == (2.4, 1, True)

    # The link works once: the page and a second submit are refused; nothing changes.
    again = stranger.get(f"/f/{token}")
    assert again.status_code == 410 and "already been used" in page(again)
    twice = stranger.post(f"/f/{token}", data={**GOOD, "recommend": "1"})
    assert twice.status_code == 410
    db.session.expire_all()
    assert count(FeedbackResponse) == 1 and count(Evidence) == 6
    assert db.session.get(FeedbackResponse, response.id).ratings["recommend"] == 4

    # The learner and their instructor see the answer; it is sanitised Markdown.
    mine = page(client.get("/feedback"))
    assert '<span class="tag">Answered</span>' in mine and "<strong>rare</strong>" in mine and "4 of 5</strong> on average" in mine
    cohort = setting["cohort"]
    staff_page = setting["teacher_client"].get(f"/cohorts/{cohort.id}/learners/{learner.id}")
    assert f"/cohorts/{cohort.id}/learners/{learner.id}/feedback" in page(staff_page)
    staff = setting["teacher_client"].get(f"/cohorts/{cohort.id}/learners/{learner.id}/feedback")
    assert staff.status_code == 200
    assert "Dana Client" in page(staff) and "<strong>rare</strong>" in page(staff) and '<span class="tag">Answered</span>' in page(staff)
    # The other learner sees nothing of it.
    assert "Dana Client" not in page(setting["other_client"].get("/feedback"))


def test_one_stakeholders_top_marks_do_not_make_an_objective_mastered(setting) -> None:
    """A single answer of all fives is one piece of evidence at the stakeholder weight (0.75):
    it had made each objective it alone speaks for mastered at once, then (held under mastered)
    proficient at 3.4. A stakeholder the learner chose is not staff-checked: with no graded work,
    quiz or review on them the objectives are held just under proficient (2.4), and the
    learner's competency profile says why."""
    learner, client = setting["learner"], setting["client"]
    _item, token = invite(learner)
    fives = {name: "5" for name in GOOD}
    assert setting["stranger"].post(f"/f/{token}", data=fives).status_code == 200
    db.session.expire_all()
    evidence = db.session.scalars(select(Evidence).where(Evidence.user_id == learner.id)).all()
    assert {(e.level, e.weight) for e in evidence} == {(4.0, 0.75)}
    levels = {m.objective.key: m.level for m in db.session.scalars(select(Mastery).where(Mastery.user_id == learner.id))}
    assert levels == {"AO1": 2.4, "AO2": 2.4, "AO3": 2.4, "KO1": 2.4, "SO1": 2.4}
    profile = page(client.get("/progress/competency"))
    assert profile.count("needs one more piece of staff-checked evidence to count as proficient") == 10
    heat = page(setting["teacher_client"].get(f"/cohorts/{setting['cohort'].id}/competency"))
    assert heat.count('data-held="1" title="needs one more piece of staff-checked evidence to count as proficient"') == 5  # in the table and in each card


def test_answered_link_cannot_be_withdrawn(setting) -> None:
    item, token = invite(setting["learner"])
    services.answer(db.session, token, GOOD, "", utcnow())
    db.session.commit()
    refused = setting["client"].post(f"/feedback/{item.id}/revoke", follow_redirects=True)
    assert "already answered" in page(refused)
    db.session.expire_all()
    assert db.session.get(FeedbackInvite, item.id).revoked_at is None and count(Evidence) == 5


# ---------------------------------------------------------------- links that do not work


def test_expired_link_is_refused(setting) -> None:
    item, token = invite(setting["learner"], when=utcnow() - timedelta(days=22))
    shown = setting["stranger"].get(f"/f/{token}")
    assert shown.status_code == 410 and "expired" in page(shown)
    posted = setting["stranger"].post(f"/f/{token}", data=GOOD)
    assert posted.status_code == 410
    assert count(FeedbackResponse) == 0 and count(Evidence) == 0
    assert '<span class="tag">Expired</span>' in page(setting["client"].get("/feedback"))
    with pytest.raises(services.ExpiredLink):
        services.open_invite(db.session, token, utcnow())
    # A day before the end it still opens.
    assert services.open_invite(db.session, token, item.expires_at - timedelta(days=1)).id == item.id


def test_withdrawn_link_is_refused(setting) -> None:
    item, token = invite(setting["learner"])
    assert setting["stranger"].get(f"/f/{token}").status_code == 200
    # Another learner cannot withdraw it: for them it does not exist.
    assert setting["other_client"].post(f"/feedback/{item.id}/revoke").status_code == 404
    db.session.expire_all()
    assert db.session.get(FeedbackInvite, item.id).revoked_at is None
    assert setting["client"].post(f"/feedback/{item.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(FeedbackInvite, item.id).revoked_at is not None
    shown = setting["stranger"].get(f"/f/{token}")
    assert shown.status_code == 410 and "withdrawn" in page(shown)
    assert setting["stranger"].post(f"/f/{token}", data=GOOD).status_code == 410
    assert count(FeedbackResponse) == 0 and count(Evidence) == 0
    assert '<span class="tag">Withdrawn</span>' in page(setting["client"].get("/feedback"))
    with pytest.raises(services.RevokedLink):
        services.answer(db.session, token, GOOD, "", utcnow())


def test_unknown_link_is_not_found(setting) -> None:
    invite(setting["learner"])
    assert setting["stranger"].get("/f/not-a-real-token").status_code == 404
    assert setting["stranger"].post("/f/not-a-real-token", data=GOOD).status_code == 404
    with pytest.raises(services.UnknownLink):
        services.open_invite(db.session, "not-a-real-token", utcnow())
    assert count(FeedbackResponse) == 0


# ---------------------------------------------------------------- single use under a race


def test_a_second_submit_is_refused_even_from_a_stale_page(setting, app: Flask) -> None:
    item, token = invite(setting["learner"])
    opened = services.open_invite(db.session, token, utcnow())  # the first tab has the form
    assert opened.used_at is None
    # Meanwhile a second request (another connection) answers and commits.
    with Session(db.engine) as other:
        services.answer(other, token, GOOD, "first", utcnow())
        other.commit()
    # The first tab's session still believes the link unused; the claim in the database refuses it.
    assert opened.used_at is None
    with pytest.raises(services.UsedLink):
        services.answer(db.session, token, {**GOOD, "results": "1"}, "second", utcnow())
    db.session.rollback()
    assert count(FeedbackResponse) == 1
    assert db.session.scalar(select(FeedbackResponse.comment)) == "first"


def test_answer_twice_in_one_session_is_refused(setting) -> None:
    _, token = invite(setting["learner"])
    services.answer(db.session, token, GOOD, "", utcnow())
    with pytest.raises(services.UsedLink):
        services.answer(db.session, token, GOOD, "", utcnow())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("ratings, message", [
    ({**GOOD, "results": "6"}, "Ratings go from 1 to 5"),
    ({**GOOD, "results": "0"}, "Ratings go from 1 to 5"),
    ({**GOOD, "results": "three"}, "Ratings go from 1 to 5"),
    ({k: v for k, v in GOOD.items() if k != "communication"}, "missing: communication"),
])
def test_bad_ratings_rerender_with_nothing_saved(setting, ratings, message) -> None:
    item, token = invite(setting["learner"])
    refused = setting["stranger"].post(f"/f/{token}", data={**ratings, "comment": "Kept text"})
    assert refused.status_code == 400
    assert message in page(refused) and "Kept text" in page(refused)
    assert 'value="4" required checked' in page(refused)  # a rating already chosen stays chosen
    db.session.expire_all()
    assert count(FeedbackResponse) == 0 and count(Evidence) == 0
    assert db.session.get(FeedbackInvite, item.id).used_at is None
    # The link still works for a correct answer.
    assert setting["stranger"].post(f"/f/{token}", data=GOOD).status_code == 200


def test_too_long_comment_is_refused(setting) -> None:
    _, token = invite(setting["learner"])
    with pytest.raises(services.FeedbackError, match="under 3,000 characters"):
        services.answer(db.session, token, GOOD, "x" * 3001, utcnow())


@pytest.mark.parametrize("change, message", [
    ({"email": "not-an-email"}, "is not a valid email address"),
    ({"email": ""}, "Give their email address."),
    ({"name": "   "}, "Give their name."),
    ({"relation": "cousin"}, "Not a valid choice"),
    ({"module": "999999"}, "Not a valid choice"),
    ({"email": "self"}, "You cannot rate your own work"),
])
def test_bad_invitations_rerender_with_nothing_sent(setting, change, message) -> None:
    data = {"module": module().id, "name": "Dana Client", "email": "dana@client.example", "relation": "customer", **change}
    if data["email"] == "self":
        data["email"] = setting["learner"].email
    refused = setting["client"].post("/feedback", data=data)
    assert refused.status_code == 400 and message in page(refused)
    if data["name"].strip():
        assert 'value="Dana Client"' in page(refused)  # what was typed is kept
    assert count(FeedbackInvite) == 0 and count(OutboxMessage) == 0


def test_an_invited_persons_name_keeps_no_direction_override_or_invisible_character(setting) -> None:
    """The name is shown to the learner's instructors and mailed: a direction override in it
    (U+202E) turned the text after it around, where an account's name has it taken out. It
    is taken out here too (``tidy_name``); a name of nothing readable is refused."""
    data = {"module": module().id, "email": "dana@client.example", "relation": "customer"}
    assert setting["client"].post("/feedback", data={**data, "name": "Dana\u202e Client\u200b"}).status_code == 302
    assert db.session.scalar(select(FeedbackInvite.name)) == "Dana Client"
    refused = setting["client"].post("/feedback", data={**data, "email": "eve@client.example", "name": "\u202e\u200b"})
    assert refused.status_code == 400 and "A name needs at least one letter or digit" in page(refused)
    assert count(FeedbackInvite) == 1


def test_a_classmate_or_the_cohorts_staff_cannot_be_invited(setting, make_user) -> None:
    # Their ratings would be evidence from inside the program (the expert feature's rule, lms/cohorts/roles.py).
    org_admin = make_user(name="Olga Admin")
    setting["cohort"].organization.admins.append(org_admin)
    db.session.commit()
    for person in (setting["other"], setting["teacher"], org_admin):
        refused = setting["client"].post("/feedback", data={"module": module().id, "name": "Insider", "relation": "team_member",
                                                            "email": person.email.upper()})
        assert refused.status_code == 400 and "belongs to the program" in page(refused), person.email
        assert 'value="Insider"' in page(refused)
    assert count(FeedbackInvite) == 0 and count(OutboxMessage) == 0
    invite(setting["learner"], email=make_user(name="Someone Elsewhere").email)  # an account outside the cohort is fine
    assert count(FeedbackInvite) == 1


def test_a_second_waiting_link_to_the_same_person_is_refused(setting) -> None:
    item, _ = invite(setting["learner"])
    with pytest.raises(services.FeedbackError, match="already has a waiting invitation"):
        invite(setting["learner"])
    db.session.rollback()
    invite(setting["learner"], key="quality-assurance")  # another framework is fine
    services.revoke(db.session, db.session.get(FeedbackInvite, item.id), utcnow())
    invite(setting["learner"])  # once withdrawn, a new link may go out
    assert count(FeedbackInvite) == 3


def test_a_learner_sends_a_bounded_number_of_invitations_a_day(setting) -> None:
    """Each invitation is a mail from the platform to an address the learner chooses: the
    form sent as many as it was posted (to anybody, withdrawn and sent again). A day holds
    MAX_INVITES_PER_DAY; the next is refused with a message and nothing is mailed."""
    learner, now = setting["learner"], utcnow()
    for n in range(services.MAX_INVITES_PER_DAY):
        invite(learner, when=now - timedelta(hours=23), email=f"person{n}@client.example")
    mails = count(OutboxMessage)
    refused = setting["client"].post("/feedback", data={"module": module().id, "name": "One More", "relation": "customer",
                                                        "email": "one.more@client.example"})
    assert refused.status_code == 400 and "in the last 24 hours" in page(refused)
    assert 'value="One More"' in page(refused)  # what was typed is kept
    assert count(OutboxMessage) == mails and count(FeedbackInvite) == services.MAX_INVITES_PER_DAY
    invite(setting["other"], email="one.more@client.example")  # another learner's day is their own
    invite(learner, when=now + timedelta(hours=1, seconds=1), email="one.more@client.example")  # a day later


def test_only_enrolled_learners_and_active_modules(setting, make_user) -> None:
    outsider = make_user(name="Not Enrolled")
    with pytest.raises(services.FeedbackError, match="enrolled"):
        invite(outsider)
    db.session.rollback()
    retired = module("mlops")
    retired.retired_at = utcnow()
    db.session.commit()
    with pytest.raises(services.FeedbackError, match="framework modules"):
        invite(setting["learner"])
    db.session.rollback()
    assert "AI Development Operations (MLOps)" not in page(setting["client"].get("/feedback"))
    assert count(FeedbackInvite) == 0


def test_a_framework_whose_month_has_not_opened_cannot_be_rated_yet(setting) -> None:
    """Month 6: International Operations opens with month 7. A stakeholder cannot yet rate
    how the learner runs it (the mail would say they "put it into practice"), and one
    answer would make its objectives "proficient" before a lesson of it opened."""
    later, opens = module("international-operations"), month_opens_on(setting["cohort"].start_date, 7)
    mine = page(setting["client"].get("/feedback"))
    assert f'<option value="{later.id}"' not in mine and f'<option value="{module().id}"' in mine
    assert f"International Operations: you can ask about it from {opens:%d %B %Y}" in " ".join(re.sub(r"<[^>]+>", " ", mine).split())

    sent = setting["client"].post("/feedback", data={"module": later.id, "name": "Dana Client", "relation": "customer",
                                                     "email": "dana@client.example"})
    assert sent.status_code == 400 and "Dana Client" in page(sent)  # shown back, nothing sent
    with pytest.raises(services.FeedbackError, match=f"International Operations opens on {opens:%d %B %Y}"):
        invite(setting["learner"], key="international-operations")
    db.session.rollback()
    assert count(FeedbackInvite) == 0 and count(OutboxMessage) == 0


def test_fraction_maps_one_to_zero_and_five_to_one() -> None:
    assert services.fraction_of({q.id: 1 for q in services.QUESTIONS}) == 0
    assert services.fraction_of({q.id: 5 for q in services.QUESTIONS}) == 1
    assert services.fraction_of({"a": 3, "b": 4}) == pytest.approx(0.625)


# ---------------------------------------------------------------- fixed statements


def test_pages_run_a_fixed_number_of_statements(setting, count_queries) -> None:
    learner, cohort = setting["learner"], setting["cohort"]
    keys = ["mlops", "quality-assurance", "customer-success", "process-optimization",
            "operations-implementation"]  # each open by month 6

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            _, token = invite(learner, email=f"person{i}@client.example", key=keys[i % len(keys)])
            services.answer(db.session, token, GOOD, f"Comment {i}", utcnow())
            invite(learner, email=f"waiting{i}@client.example", key=keys[i % len(keys)])  # one left waiting
        db.session.commit()

    urls = [(setting["teacher_client"], f"/cohorts/{cohort.id}/learners/{learner.id}/feedback"),
            (setting["client"], "/feedback")]

    def measure() -> list[int]:
        counts = []
        for client, url in urls:
            assert client.get(url).status_code == 200  # warm up
            counts.append(count_queries(lambda client=client, url=url: client.get(url)))
        return counts

    add(2, 0)
    few = measure()
    add(4, 2)
    many = measure()
    assert few == many, f"statements for 2 answers: {few}; for 6: {many}"
    assert page(setting["teacher_client"].get(urls[0][1])).count("Comment ") == 6


def test_the_same_stakeholder_answering_again_counts_once_as_their_latest(setting) -> None:
    """A learner sent the same customer three links and each answer of top marks counted as
    more evidence, pulling the level up each time. The same person (by address, whatever its
    case) rating the learner on an objective again replaces their earlier rating: only the
    latest counts; another stakeholder's counts beside it; the trail shows the earlier one
    as replaced; and ``flask lms rebuild-mastery`` gives the same levels."""
    learner, client, stranger = setting["learner"], setting["client"], setting["stranger"]
    mlops = module()

    def answered(email: str, mark: str) -> None:
        assert client.post("/feedback", data={"module": mlops.id, "name": "Dana Client", "email": email,
                                              "relation": "customer"}).status_code == 302
        db.session.expire_all()
        message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email.lower())
                                     .order_by(OutboxMessage.id.desc())).first()
        assert stranger.post(f"/f/{token_in(message)}", data={name: mark for name in GOOD}).status_code == 200

    def so1() -> Mastery:
        db.session.expire_all()
        return db.session.scalar(select(Mastery).where(Mastery.user_id == learner.id, Mastery.objective_id == objective("SO1").id))

    answered("dana@client.example", "5")
    assert (so1().level, so1().evidence_count) == (2.4, 1)  # one stakeholder's top marks: held under proficient
    answered("Dana@Client.example", "2")  # the same person, later, less happy: 2 of 5 -> 0.25 -> level 1
    assert (so1().level, so1().evidence_count) == (1.0, 1)  # their latest only (it had been 2.5375, from two)
    answered("dana@client.example", "3")
    assert (so1().level, so1().evidence_count) == (2.0, 1)
    answered("eve@partner.example", "5")  # someone else: counts beside Dana's latest
    # Eve's 4 beside Dana's latest 2 make 0.4875 * 4 + 0.5125 * 2 = 2.975, proficient, but
    # neither is staff-checked: held just under proficient.
    assert so1().evidence_count == 2 and (so1().level, so1().held) == (2.4, True)
    rows = db.session.scalars(select(Evidence).where(Evidence.user_id == learner.id,
                                                     Evidence.objective_id == objective("SO1").id)).all()
    assert len(rows) == 4 and len({e.judge for e in rows}) == 2 and "dana" not in str({e.judge for e in rows})

    trail = page(client.get("/progress/competency"))
    section = trail[trail.index('id="objective-SO1"'):]
    assert section[:section.index("</section>")].count("replaced by the same person's later rating") == 2
    kept = {m.objective_id: (m.level, m.evidence_count, m.held) for m in db.session.scalars(
        select(Mastery).where(Mastery.user_id == learner.id))}
    assert setting["app"].test_cli_runner().invoke(args=["lms", "rebuild-mastery"]).exit_code == 0
    db.session.expire_all()
    assert {m.objective_id: (m.level, m.evidence_count, m.held) for m in db.session.scalars(
        select(Mastery).where(Mastery.user_id == learner.id))} == kept


def test_one_graded_piece_and_stakeholder_ratings_say_what_is_missing(setting) -> None:
    """One rubric grade at full marks and stakeholders' top ratings stay held under mastered:
    by the program's rule (content/mastery.yml, ``mastery_min_weight: 2``) staff-checked
    evidence must weigh 2 on its own. The learner's and the staff's pages say exactly what is
    missing instead of "more evidence"."""
    learner, client, cohort = setting["learner"], setting["client"], setting["cohort"]
    record(db.session, learner.id, objective("SO1").id, "rubric", "grade:1", 1.0, utcnow() - timedelta(days=2))
    db.session.commit()
    for email in ("dana@client.example", "eve@partner.example"):
        _item, token = invite(learner, email=email)
        assert setting["stranger"].post(f"/f/{token}", data={name: "5" for name in GOOD}).status_code == 200
    db.session.expire_all()
    row = db.session.scalar(select(Mastery).where(Mastery.user_id == learner.id, Mastery.objective_id == objective("SO1").id))
    assert (row.level, row.held) == (3.4, True)
    for html in (page(client.get("/progress/competency")),
                 page(setting["teacher_client"].get(f"/cohorts/{cohort.id}/learners/{learner.id}/progress"))):
        card = html[html.index('id="objective-SO1"'):]
        assert "needs one more piece of staff-checked evidence to count as mastered" in card[:card.index("</section>")]


@pytest.mark.parametrize(("months_ago", "wording"), [(5, "is taking the AI Operations program"),
                                                      (13, "took part in the AI Operations program")])
def test_the_invitation_says_whether_the_learner_is_still_taking_the_program(app: Flask, loaded, make_cohort, enrol_learner,
                                                                            months_ago: int, wording: str) -> None:
    """After month 12 the email and the answer page said the learner "is taking" the program:
    both word it by whether the learner's twelve months are over."""
    learner = enrol_learner(make_cohort(months_ago=months_ago), name="Pia Learner")
    _item, token = invite(learner)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "dana@client.example")).one()
    assert f"Pia Learner {wording} and has put" in mail.body
    assert f"Pia Learner {wording}" in page(app.test_client().get(f"/f/{token}"))
