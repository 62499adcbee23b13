"""The inbox (lms.inbox): a staff message sent from the gradebook opens a private conversation
per learner; the learner replies, the cohort's staff answer, each reply notified to the other
side as their preferences say; read marks move by POST only; replies are never lost or doubled;
the pages read a fixed number of statements; erasure and the data export reach the messages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.api.tokens import create_token as create_api_token
from lms.cohorts.models import Cohort
from lms.database import utcnow
from lms.extensions import db
from lms.inbox.models import Conversation, ConversationRead, Message
from lms.inbox.services import open_conversations, reply, unread_count
from lms.mail.models import OutboxMessage
from lms.notifications.models import Channel, Notification, NotificationEvent
from lms.notifications.services import set_preferences
from lms.privacy.kinds import ERASED_MESSAGE
from lms.privacy.services import erase_learner, export_bundle
from tests.conftest import World
from tests.races import race


@pytest.fixture()
def people(app: Flask, loaded, world: World, make_user, login) -> dict[str, Any]:
    """World's cohort A with a second instructor, and a classmate of learner A's."""
    cohort = db.session.get(Cohort, world.cohort_a.id)
    assert cohort is not None
    second = make_user(name="Second Instructor")
    cohort.instructors.append(second)
    db.session.commit()

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    return {"world": world, "cohort": cohort, "second": second, "client_for": client_for}


def message(client: Any, cohort: Any, learners: list[Any], subject: str = "Your case study",
            body: str = "Hand it in **by Friday**.") -> Any:
    """Staff's bulk "Message learners" from the gradebook."""
    return client.post(f"/cohorts/{cohort.id}/gradebook", data={"action": "message", "scope": "selected",
                                                                "learner": [u.id for u in learners],
                                                                "subject": subject, "body": body})


def token_of(page: str) -> str:
    found = re.search(r'name="token" type="hidden" value="([0-9a-f]+)"|name="token" value="([0-9a-f]+)"', page) \
        or re.search(r'id="token" name="token" type="hidden" value="([0-9a-f]+)"', page)
    assert found, "the reply form carries a one-time token"
    return next(g for g in found.groups() if g)


def nav_count(page: str) -> str | None:
    found = re.search(r'href="/inbox"[^>]*>Inbox(?: <span class="notification-count">(\d+))?', page)
    assert found, "the navigation links the inbox"
    return found.group(1)


def conversation_of(learner: Any) -> Conversation:
    found = db.session.scalars(select(Conversation).where(Conversation.learner_id == learner.id)).one()
    return found


def test_a_staff_message_opens_a_conversation_the_learner_answers_and_staff_see(people) -> None:
    w = people["world"]
    teacher = people["client_for"](w.instructor_a)
    classmate = people["world"].learner_a2  # another cohort: not messaged
    assert message(teacher, people["cohort"], [w.learner_a]).status_code == 302
    db.session.expire_all()
    conversation = conversation_of(w.learner_a)
    assert conversation.subject == "Your case study" and conversation.started_by_id == w.instructor_a.id
    notice = db.session.scalars(select(Notification).where(Notification.user_id == w.learner_a.id)).one()
    assert notice.link == f"/inbox/{conversation.id}"  # the notice links the conversation
    assert db.session.scalar(select(func.count()).select_from(Conversation).where(Conversation.learner_id == classmate.id)) == 0

    learner = people["client_for"](w.learner_a)
    home = learner.get("/inbox").get_data(as_text=True)
    assert nav_count(home) == "1" and "Your case study" in home and "1 new" in home
    page = learner.get(f"/inbox/{conversation.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<strong>by Friday</strong>" in text and "Instructor A" in text
    assert nav_count(learner.get("/inbox").get_data(as_text=True)) == "1"  # reading a page never writes

    sent = learner.post(f"/inbox/{conversation.id}", data={"body": "Can I have *until Monday*?", "token": token_of(text)})
    assert sent.status_code == 302
    db.session.expire_all()
    assert nav_count(learner.get("/inbox").get_data(as_text=True)) is None  # a reply reads the conversation up to it
    # the sender is notified (a learner's reply, by email by default); the other instructor reads it in the inbox
    replies = list(db.session.scalars(select(Notification).where(Notification.event == NotificationEvent.MESSAGE_REPLY)))
    assert [n.user_id for n in replies] == [w.instructor_a.id] and replies[0].link == f"/inbox/{conversation.id}"
    assert "until Monday" in replies[0].body
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.recipient == w.instructor_a.email,
                                    OutboxMessage.subject.contains("Your case study"))) == 1
    for staff in (w.instructor_a, people["second"], w.org_admin_a, w.admin):
        thread = people["client_for"](staff).get(f"/inbox/{conversation.id}")
        assert thread.status_code == 200 and "<em>until Monday</em>" in thread.get_data(as_text=True), staff.name
    assert "Can I have" not in people["client_for"](w.instructor_a).get("/inbox").get_data(as_text=True)  # the list: subjects
    other = people["client_for"](people["second"])
    listed = other.get("/inbox").get_data(as_text=True)
    assert "Your case study" in listed and "With Learner A" in listed and nav_count(listed) == "1"

    # the other instructor answers: the learner is notified (a message from staff), the sender sees it
    answer_page = other.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert other.post(f"/inbox/{conversation.id}", data={"body": "Yes, Monday.", "token": token_of(answer_page)}).status_code == 302
    db.session.expire_all()
    staff_reply = db.session.scalars(select(Notification).where(Notification.user_id == w.learner_a.id,
                                                                 Notification.key.startswith("inbox-message:"))).one()
    assert staff_reply.event == NotificationEvent.MESSAGE and "Second Instructor replied" in staff_reply.title
    assert nav_count(learner.get("/inbox").get_data(as_text=True)) == "1"
    assert learner.post(f"/inbox/{conversation.id}/read").status_code == 302
    assert nav_count(learner.get("/inbox").get_data(as_text=True)) is None
    bodies = [m.body for m in db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                                 .order_by(Message.id))]
    assert bodies == ["Hand it in **by Friday**.", "Can I have *until Monday*?", "Yes, Monday."]


def test_each_learner_messaged_gets_a_conversation_of_their_own(people, enrol_learner) -> None:
    w = people["world"]
    classmate = enrol_learner(people["cohort"], name="Classmate C")
    teacher = people["client_for"](w.instructor_a)
    assert message(teacher, people["cohort"], [w.learner_a, classmate]).status_code == 302
    db.session.expire_all()
    mine, theirs = conversation_of(w.learner_a), conversation_of(classmate)
    assert mine.id != theirs.id
    reply(db.session, mine, w.learner_a, "Private answer", utcnow(), lambda c: "/inbox")
    db.session.commit()
    classmate_client = people["client_for"](classmate)
    assert classmate_client.get(f"/inbox/{mine.id}").status_code == 404  # the cohort's other learners are not told
    assert classmate_client.post(f"/inbox/{mine.id}", data={"body": "Hi"}).status_code == 404
    assert "Private answer" not in classmate_client.get(f"/inbox/{theirs.id}").get_data(as_text=True)
    for outsider in (w.learner_b, w.instructor_b, w.org_admin_b, w.learner_a2):
        assert people["client_for"](outsider).get(f"/inbox/{mine.id}").status_code == 404, outsider.name


def test_an_api_token_opens_no_conversation(people, client) -> None:
    """The inbox is web pages for a signed-in person: the learner's own API token (every
    scope) is no session, so it is sent to sign in, and nothing is posted."""
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "S", "B", "api-test",
                                      utcnow())[w.learner_a.id]
    secret = create_api_token(db.session, w.learner_a, "Mine", ["read:curriculum"], None).secret
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    for method, url in (("GET", "/inbox"), ("GET", f"/inbox/{conversation.id}"), ("POST", f"/inbox/{conversation.id}")):
        answer = client.open(url, method=method, headers=headers, data={"body": "by token"})
        assert answer.status_code == 302 and "/login?next=" in answer.headers["Location"], (method, url)
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.body == "by token")) == 0


def test_preferences_are_respected_off_and_digest(people) -> None:
    w = people["world"]
    set_preferences(db.session, w.instructor_a.id, {NotificationEvent.MESSAGE_REPLY: Channel.OFF})
    set_preferences(db.session, w.learner_a.id, {NotificationEvent.MESSAGE: Channel.DIGEST})
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "Plan", "Your plan?",
                                      "pref-test", utcnow())[w.learner_a.id]
    reply(db.session, conversation, w.learner_a, "Here it is", utcnow(), lambda c: "/inbox")
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == w.instructor_a.id)) == 0  # switched off: no notice (the inbox still counts it)
    assert unread_count(db.session, w.instructor_a.id) == 1
    reply(db.session, conversation, w.instructor_a, "Thanks", utcnow(), lambda c: "/inbox")
    notice = db.session.scalars(select(Notification).where(Notification.user_id == w.learner_a.id)).one()
    assert notice.channel == Channel.DIGEST and notice.mailed_at is None  # waits for the day's digest


def test_a_learner_reply_reaches_the_instructors_when_the_sender_is_gone(people) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.org_admin_a, [w.learner_a], "Hello", "Hi",
                                      "gone-test", utcnow())[w.learner_a.id]
    db.session.get(User, w.org_admin_a.id).deactivated_at = utcnow()  # type: ignore[union-attr]
    reply(db.session, conversation, w.learner_a, "Hello back", utcnow(), lambda c: "/inbox")
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.event == NotificationEvent.MESSAGE_REPLY)))
    assert told == {w.instructor_a.id, people["second"].id}


def test_bodies_are_sanitised_markdown(people) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "<b>Subject</b>",
                                      "<script>alert(1)</script>", "xss-test", utcnow())[w.learner_a.id]
    reply(db.session, conversation, w.learner_a, '<img src=x onerror=alert(1)> [a](javascript:alert(1))', utcnow(),
          lambda c: "/inbox")
    db.session.commit()
    for page in (people["client_for"](w.learner_a).get(f"/inbox/{conversation.id}").get_data(as_text=True),
                 people["client_for"](w.instructor_a).get("/inbox").get_data(as_text=True)):
        assert "<script>" not in page and "onerror" not in page and "javascript:" not in page and "<b>Subject" not in page
    assert "&lt;b&gt;Subject&lt;/b&gt;" in people["client_for"](w.instructor_a).get("/inbox").get_data(as_text=True)


def test_bad_input_is_refused_with_a_message_and_kept(people) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "S", "B", "bad-test",
                                      utcnow())[w.learner_a.id]
    db.session.commit()
    learner = people["client_for"](w.learner_a)
    empty = learner.post(f"/inbox/{conversation.id}", data={"body": "   "})
    assert empty.status_code == 400 and "Write a message first." in empty.get_data(as_text=True)
    long = learner.post(f"/inbox/{conversation.id}", data={"body": "x" * 20_001})
    assert long.status_code == 400 and "Keep a message to 20,000 characters." in long.get_data(as_text=True)
    assert learner.post("/inbox/999999", data={"body": "x"}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.author_id == w.learner_a.id)) == 0


def opened(people: dict[str, Any], key: str) -> tuple[Conversation, Any, Any]:
    """A conversation Instructor A opened with Learner A (under ``key``), with a client signed in as each."""
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "S", "B", key,
                                      utcnow())[w.learner_a.id]
    db.session.commit()
    return conversation, people["client_for"](w.learner_a), people["client_for"](w.instructor_a)


def test_two_replies_at_once_both_land(people) -> None:
    conversation, learner, teacher = opened(people, "race-test")
    url = f"/inbox/{conversation.id}"
    forms = [{"body": "From the learner", "token": token_of(learner.get(url).get_data(as_text=True))},
             {"body": "From the teacher", "token": token_of(teacher.get(url).get_data(as_text=True))}]
    statuses = race([lambda: learner.post(url, data=forms[0]).status_code, lambda: teacher.post(url, data=forms[1]).status_code])
    assert statuses == [302, 302]
    db.session.expire_all()
    bodies = set(db.session.scalars(select(Message.body).where(Message.conversation_id == conversation.id)))
    assert bodies == {"B", "From the learner", "From the teacher"}


def test_a_double_clicked_send_posts_once(people) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "S", "B", "twice-test",
                                      utcnow())[w.learner_a.id]
    db.session.commit()
    clients = [people["client_for"](w.learner_a), people["client_for"](w.learner_a)]
    url = f"/inbox/{conversation.id}"
    form = {"body": "Only once", "token": token_of(clients[0].get(url).get_data(as_text=True))}
    statuses = race([lambda c=c: c.post(url, data=form).status_code for c in clients])  # type: ignore[misc]
    assert statuses == [302, 302]
    again = clients[0].post(url, data=form, follow_redirects=True)  # sent again later (back, resend)
    assert "That message had already been sent." in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.body == "Only once")) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.event == NotificationEvent.MESSAGE_REPLY)) == 1
    form["token"] = token_of(clients[0].get(url).get_data(as_text=True))  # a new form: a new message
    assert clients[0].post(url, data=form).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.body == "Only once")) == 2


def test_the_pages_read_a_fixed_number_of_statements(people, page_statements, enrol_learner) -> None:
    w = people["world"]
    learners = [enrol_learner(people["cohort"], name=f"Learner {i}") for i in range(6)]

    def grow(batch: list[Any], key: str) -> Conversation:
        opened = open_conversations(db.session, people["cohort"], w.instructor_a, batch, f"Subject {key}", "Body", key,
                                    utcnow())
        for learner, conversation in opened.items():
            author = next(u for u in batch if u.id == learner)
            reply(db.session, conversation, author, "Answer", utcnow(), lambda c: "/inbox")
            reply(db.session, conversation, people["second"], "Staff answer", utcnow(), lambda c: "/inbox")
        db.session.commit()
        return next(iter(opened.values()))

    first = grow(learners[:1], "one")
    teacher = people["client_for"](w.instructor_a)
    few = page_statements(teacher, ["/inbox", f"/inbox/{first.id}"])
    grow(learners[1:], "many")
    for i in range(5):
        reply(db.session, first, w.instructor_a, f"More {i}", utcnow(), lambda c: "/inbox")
    db.session.commit()
    many = page_statements(teacher, ["/inbox", f"/inbox/{first.id}"])
    assert many == few, (few, many)
    assert "Subject many" in teacher.get("/inbox").get_data(as_text=True)


def test_erasure_removes_the_learners_messages_and_the_export_lists_them(people) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "Plan", "Your plan?",
                                      "erase-test", utcnow())[w.learner_a.id]
    mine = reply(db.session, conversation, w.learner_a, "My secret plan", utcnow(), lambda c: "/inbox").message
    reply(db.session, conversation, w.instructor_a, "Good plan", utcnow(), lambda c: "/inbox")
    db.session.commit()
    exported = export_bundle(db.session, w.learner_a, utcnow()).data["inbox"]
    assert [c["subject"] for c in exported] == ["Plan"]
    assert [(m["from"], m["body"]) for m in exported[0]["messages"]] == [
        ("Instructor A", "Your plan?"), ("you", "My secret plan"), ("Instructor A", "Good plan")]
    # someone else's export does not list it
    assert export_bundle(db.session, w.learner_a2, utcnow()).data["inbox"] == []

    learner = db.session.get(User, w.learner_a.id)
    assert learner is not None
    erase_learner(db.session, learner, learner.email, actor_id=None, ip=None, now=utcnow())
    db.session.commit()
    db.session.expire_all()
    bodies = [m.body for m in db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                                 .order_by(Message.id))]
    assert bodies == ["Your plan?", ERASED_MESSAGE, "Good plan"]  # the staff's kept, in order
    staff_notice = db.session.scalars(select(Notification).where(Notification.key == f"inbox-message:{mine.id}")).one()
    assert "secret" not in staff_notice.body and "secret" not in staff_notice.title
    assert db.session.scalar(select(func.count()).select_from(ConversationRead)
                             .where(ConversationRead.user_id == w.learner_a.id)) == 0
    page = people["client_for"](w.instructor_a).get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert "My secret plan" not in page and "removed when its author" in page


# ------------------------------------------------------------------ following a notice reads the conversation


def open_notice(client: Any, notice: Notification) -> Any:
    """The notification centre's Open (a POST): marks the notice read and goes to its link."""
    return client.post(f"/notifications/{notice.id}/open")


def test_following_the_notice_of_a_message_reads_the_conversation(people) -> None:
    w = people["world"]
    teacher, learner = people["client_for"](w.instructor_a), people["client_for"](w.learner_a)
    assert message(teacher, people["cohort"], [w.learner_a]).status_code == 302
    db.session.expire_all()
    conversation = conversation_of(w.learner_a)
    notice = db.session.scalars(select(Notification).where(Notification.user_id == w.learner_a.id)).one()
    assert nav_count(learner.get("/notifications").get_data(as_text=True)) == "1"
    opened = open_notice(learner, notice)
    assert opened.status_code == 302 and opened.headers["Location"] == f"/inbox/{conversation.id}"
    db.session.expire_all()
    assert db.session.get(Notification, notice.id).read_at is not None  # type: ignore[union-attr]
    page = learner.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert nav_count(page) is None and "Mark read" not in page and '<span class="tag">new</span>' not in page

    # the learner answers; the instructor follows the reply's notice: read for them too
    sent = learner.post(f"/inbox/{conversation.id}", data={"body": "First answer", "token": token_of(page)})
    assert sent.status_code == 302
    later = learner.post(f"/inbox/{conversation.id}", data={"body": "Second answer",
                                                            "token": token_of(learner.get(f"/inbox/{conversation.id}").get_data(as_text=True))})
    assert later.status_code == 302
    db.session.expire_all()
    first, second = db.session.scalars(select(Notification).where(Notification.user_id == w.instructor_a.id,
                                                                   Notification.event == NotificationEvent.MESSAGE_REPLY)
                                       .order_by(Notification.id)).all()
    assert unread_count(db.session, w.instructor_a.id) == 1
    assert open_notice(teacher, first).headers["Location"] == f"/inbox/{conversation.id}"
    db.session.expire_all()
    # read up to the message the notice announced: the later one has its notice, and stays new
    reads = db.session.scalars(select(ConversationRead).where(ConversationRead.user_id == w.instructor_a.id)).one()
    assert reads.read_up_to == int(first.key.split(":")[1])
    thread = teacher.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert "Mark read" in thread and thread.count('<span class="tag">new</span>') == 1
    open_notice(teacher, second)
    db.session.expire_all()
    assert unread_count(db.session, w.instructor_a.id) == 0
    assert "Mark read" not in teacher.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert nav_count(teacher.get("/inbox").get_data(as_text=True)) is None


def test_a_notice_of_a_conversation_no_longer_theirs_or_of_something_else_reads_nothing(people) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "S", "B", "gone-staff",
                                      utcnow())[w.learner_a.id]
    reply(db.session, conversation, w.learner_a, "Answer", utcnow(), lambda c: f"/inbox/{c.id}")
    notice = db.session.scalars(select(Notification).where(Notification.user_id == w.instructor_a.id)).one()
    people["cohort"].instructors.remove(db.session.get(User, w.instructor_a.id))  # no longer teaches the cohort
    other = Notification(user_id=w.learner_a.id, event=NotificationEvent.MESSAGE, key="inbox-message:not-a-number",
                         title="Odd", body="", link="/inbox", channel=Channel.IN_APP, created_at=utcnow())
    db.session.add(other)
    db.session.commit()
    assert open_notice(people["client_for"](w.instructor_a), notice).status_code == 302
    assert open_notice(people["client_for"](w.learner_a), other).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ConversationRead).where(
        ConversationRead.user_id == w.instructor_a.id)) == 0
    assert db.session.get(Notification, notice.id).read_at is not None  # type: ignore[union-attr]


# ------------------------------------------------------------------ staff start a conversation from a learner's page


def test_staff_send_a_message_from_the_learners_page(people) -> None:
    w = people["world"]
    teacher = people["client_for"](w.instructor_a)
    base = f"/cohorts/{people['cohort'].id}/learners/{w.learner_a.id}"
    for page in (base, f"{base}/progress"):
        assert f'href="{base}/message"' in teacher.get(page).get_data(as_text=True), page
    form_page = teacher.get(f"{base}/message").get_data(as_text=True)
    assert "Send a message to Learner A" in form_page
    form = {"subject": "Your  hands-on plan", "body": "Can we talk about **month 3**?", "token": token_of(form_page)}
    sent = teacher.post(f"{base}/message", data=form)
    assert sent.status_code == 302
    db.session.expire_all()
    conversation = conversation_of(w.learner_a)
    assert sent.headers["Location"] == f"/inbox/{conversation.id}"
    assert (conversation.subject, conversation.started_by_id, conversation.cohort_id) == \
        ("Your hands-on plan", w.instructor_a.id, people["cohort"].id)
    # the learner is notified as by the gradebook's message: a message from staff, mailed by default
    notice = db.session.scalars(select(Notification).where(Notification.user_id == w.learner_a.id)).one()
    assert notice.event == NotificationEvent.MESSAGE and notice.link == f"/inbox/{conversation.id}"
    assert notice.title.endswith(": Your hands-on plan") and "— Instructor A" in notice.body
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.recipient == w.learner_a.email)) == 1
    learner = people["client_for"](w.learner_a)
    assert nav_count(learner.get("/inbox").get_data(as_text=True)) == "1"
    assert "<strong>month 3</strong>" in learner.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    # the same form again (a double click, back and resend): one conversation, one notice
    again = teacher.post(f"{base}/message", data=form, follow_redirects=True)
    assert "That message had already been sent." in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    # a fresh form is a new conversation
    form["token"] = token_of(teacher.get(f"{base}/message").get_data(as_text=True))
    assert teacher.post(f"{base}/message", data=form).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 2


def test_staff_reach_the_learners_page_from_a_conversation(people) -> None:
    """A learner asked for an extension in a reply; the conversation named them but did not
    link them, so the instructor hunted through the cohort's list for the page where an
    extension is granted. The staff's view links the learner's page; the learner's does not."""
    w = people["world"]
    assert message(people["client_for"](w.instructor_a), people["cohort"], [w.learner_a]).status_code == 302
    db.session.expire_all()
    conversation = conversation_of(w.learner_a)
    learner_page = f"/cohorts/{people['cohort'].id}/learners/{w.learner_a.id}"
    for staff in (w.instructor_a, people["second"], w.org_admin_a):
        client = people["client_for"](staff)
        page = client.get(f"/inbox/{conversation.id}").get_data(as_text=True)
        assert f'with <a href="{learner_page}">Learner A</a>' in page, staff.name
        assert client.get(learner_page).status_code == 200, staff.name
    own = people["client_for"](w.learner_a).get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert learner_page not in own


def test_a_double_clicked_new_message_opens_one_conversation(people) -> None:
    w = people["world"]
    clients = [people["client_for"](w.instructor_a), people["client_for"](w.instructor_a)]
    url = f"/cohorts/{people['cohort'].id}/learners/{w.learner_a.id}/message"
    form = {"subject": "Once", "body": "Only once", "token": token_of(clients[0].get(url).get_data(as_text=True))}
    assert race([lambda c=c: c.post(url, data=form).status_code for c in clients]) == [302, 302]  # type: ignore[misc]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1


def test_a_malformed_one_time_value_sends_nothing_and_the_form_comes_back_with_a_fresh_one(people) -> None:
    """The inbox's forms kept a one-time value of their own making (a hidden field, checked by
    a pattern in the services), a twin of ``OneTimeField``: a malformed one was quietly taken
    as none, and the message sent without the double-click guard. They now use the one
    field: refused beside the form, nothing sent, and the form shown again with a fresh value."""
    w = people["world"]
    conversation, learner, teacher = opened(people, "malformed")
    new_url = f"/cohorts/{people['cohort'].id}/learners/{w.learner_a.id}/message"
    for client, url, form in ((learner, f"/inbox/{conversation.id}", {"body": "Kept"}),
                              (teacher, new_url, {"subject": "Kept subject", "body": "Kept"})):
        refused = client.post(url, data={**form, "token": "<x>"})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "This form carried a malformed one-time value, so nothing was made." in page
        assert re.fullmatch(r"[0-9a-f]{32}", token_of(page)) and "Kept" in page
        without = client.post(url, data=form)  # none at all (a script): drawn as if the form was shown
        assert without.status_code == 302, url
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.body == "Kept")) == 2
    assert db.session.scalar(select(func.count()).select_from(Conversation).where(Conversation.subject == "Kept subject")) == 1


def test_a_new_message_refuses_bad_input_with_a_message_and_keeps_it(people) -> None:
    w = people["world"]
    teacher = people["client_for"](w.instructor_a)
    url = f"/cohorts/{people['cohort'].id}/learners/{w.learner_a.id}/message"
    for data, said in (({"subject": "", "body": "Hi"}, "Write a subject."),
                       ({"subject": "   ", "body": "Hi"}, "Write a subject."),
                       ({"subject": "S", "body": "  "}, "Write a message first."),
                       ({"subject": "x" * 201, "body": "Hi"}, "Keep the subject to 200 characters."),
                       ({"subject": "S", "body": "x" * 20_001}, "Keep a message to 20,000 characters.")):
        answer = teacher.post(url, data=data)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 400 and said in text, data
        assert data["subject"].strip()[:20] in text
    # another cohort's learner: not this cohort's to message
    other = f"/cohorts/{people['cohort'].id}/learners/{w.learner_b.id}/message"
    assert teacher.post(other, data={"subject": "S", "body": "B"}).status_code == 404
    # a closed account reads no messages
    db.session.get(User, w.learner_a.id).deactivated_at = utcnow()  # type: ignore[union-attr]
    db.session.commit()
    closed = teacher.post(url, data={"subject": "S", "body": "B"})
    assert closed.status_code == 400 and "is closed: they read no messages" in closed.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0


def test_a_new_message_to_a_learner_who_switched_staff_messages_off_waits_in_their_inbox(people) -> None:
    w = people["world"]
    set_preferences(db.session, w.learner_a.id, {NotificationEvent.MESSAGE: Channel.OFF})
    db.session.commit()
    url = f"/cohorts/{people['cohort'].id}/learners/{w.learner_a.id}/message"
    sent = people["client_for"](w.instructor_a).post(url, data={"subject": "S", "body": "B"}, follow_redirects=True)
    assert "switched staff messages off" in sent.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    assert unread_count(db.session, w.learner_a.id) == 1


def test_the_inbox_tells_each_role_whose_messages_come_there(people) -> None:
    """A learner reads the messages of their cohort's staff; an instructor or an organization
    administrator reads conversations with learners, and is not told their cohort's staff
    write to them."""
    w = people["world"]
    learner_text = people["client_for"](w.learner_a).get("/inbox").get_data(as_text=True)
    assert "Messages from your cohort's staff come here" in learner_text
    assert "Conversations with the learners" not in learner_text
    for staff in (w.instructor_a, w.org_admin_a):
        text = people["client_for"](staff).get("/inbox").get_data(as_text=True)
        assert "cohort's staff come here" not in text, staff.name
        assert "Conversations with the learners of the cohorts you work on come here" in text, staff.name
        assert "start one from a learner's page" in text, staff.name


# ------------------------------------------------------------------ reading a conversation reads its notices


def notices_count(page: str) -> str | None:
    """The unread count beside Notifications in the navigation (None: nothing unread)."""
    found = re.search(r'href="/notifications"[^>]*>Notifications(?: <span class="notification-count">(\d+))?', page)
    assert found, "the navigation links the notification centre"
    return found.group(1)


def unread_keys(user: Any) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification.key).where(Notification.user_id == user.id,
                                                                   Notification.read_at.is_(None)).order_by(Notification.id)))


def test_opening_a_conversation_in_the_inbox_reads_its_notices(people) -> None:
    w = people["world"]
    teacher, learner = people["client_for"](w.instructor_a), people["client_for"](w.learner_a)
    assert message(teacher, people["cohort"], [w.learner_a]).status_code == 302
    assert message(teacher, people["cohort"], [w.learner_a], subject="Another matter").status_code == 302
    db.session.expire_all()
    conversation, other = db.session.scalars(select(Conversation).where(Conversation.learner_id == w.learner_a.id)
                                             .order_by(Conversation.id)).all()
    answer = reply(db.session, conversation, w.instructor_a, "And one more thing.", utcnow(), lambda c: f"/inbox/{c.id}")
    db.session.commit()
    assert unread_keys(w.learner_a) == [conversation.source_key, other.source_key, f"inbox-message:{answer.message.id}"]
    assert notices_count(learner.get(f"/inbox/{conversation.id}").get_data(as_text=True)) == "3"
    assert len(unread_keys(w.learner_a)) == 3  # reading the page (a GET) never writes

    # the inbox's Open (a POST) reads the conversation and its notices: the opening one and the reply's
    opened = learner.post(f"/inbox/{conversation.id}/read")
    assert opened.status_code == 302 and opened.headers["Location"] == f"/inbox/{conversation.id}"
    assert unread_keys(w.learner_a) == [other.source_key]  # the other conversation keeps its notice
    page = learner.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert notices_count(page) == "1" and nav_count(page) == "1"
    centre = learner.get("/notifications").get_data(as_text=True)
    assert notices_count(centre) == "1"


def test_mark_read_on_the_page_reads_the_notices_up_to_the_last_message_shown(people) -> None:
    w = people["world"]
    teacher = people["client_for"](w.instructor_a)
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "Plan", "Your plan?",
                                      "shown-test", utcnow())[w.learner_a.id]
    first = reply(db.session, conversation, w.learner_a, "First answer", utcnow(), lambda c: f"/inbox/{c.id}").message
    db.session.commit()
    page = teacher.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert "Mark read" in page and f'name="up_to" type="hidden" value="{first.id}"' in page
    # with scripts on the page sends that form itself (static/mark_read.js); the GET wrote nothing
    assert "data-mark-read-on-open" in page and "/static/inbox/mark_read.js" in page
    assert teacher.get("/static/inbox/mark_read.js").status_code == 200
    # a second answer arrives while the instructor reads the page: it was not shown
    second = reply(db.session, conversation, w.learner_a, "Second answer", utcnow(), lambda c: f"/inbox/{c.id}").message
    db.session.commit()
    assert unread_keys(w.instructor_a) == [f"inbox-message:{first.id}", f"inbox-message:{second.id}"]
    assert teacher.post(f"/inbox/{conversation.id}/read", data={"up_to": str(first.id)}).status_code == 302
    assert unread_keys(w.instructor_a) == [f"inbox-message:{second.id}"]
    assert unread_count(db.session, w.instructor_a.id) == 1
    thread = teacher.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert thread.count('<span class="tag">new</span>') == 1 and notices_count(thread) == "1"

    # the other instructor, who has no notice of these answers, reads it all: nothing of the first moves
    other = people["client_for"](people["second"])
    assert other.post(f"/inbox/{conversation.id}/read").status_code == 302
    assert unread_keys(w.instructor_a) == [f"inbox-message:{second.id}"]
    # a mark past the last message reads no further than the last message
    assert teacher.post(f"/inbox/{conversation.id}/read", data={"up_to": str(second.id + 1000)}).status_code == 302
    assert unread_keys(w.instructor_a) == []
    reads = db.session.scalars(select(ConversationRead).where(ConversationRead.user_id == w.instructor_a.id)).one()
    assert reads.read_up_to == second.id


def test_mark_read_asked_for_json_answers_the_new_unread_counts(people) -> None:
    """The page's script asks for JSON (Accept), and puts the counts it gets in the
    navigation's badges: the person's conversations and notices still unread once marked.
    Without the header (no script, the button) the answer is the redirect, as before."""
    w = people["world"]
    teacher, learner = people["client_for"](w.instructor_a), people["client_for"](w.learner_a)
    assert message(teacher, people["cohort"], [w.learner_a]).status_code == 302
    assert message(teacher, people["cohort"], [w.learner_a], subject="Another matter").status_code == 302
    db.session.expire_all()
    conversation, other = db.session.scalars(select(Conversation).where(Conversation.learner_id == w.learner_a.id)
                                             .order_by(Conversation.id)).all()
    page = learner.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert nav_count(page) == "2" and notices_count(page) == "2"
    # the badges the script updates (mark_read.js; tests/browser/test_browser_inbox.py)
    assert re.search(r'data-unread-badge="inbox"( aria-current="page")?>Inbox <span class="notification-count">2<', page)
    assert 'data-unread-badge="notifications">Notifications <span class="notification-count">2<' in page
    answer = learner.post(f"/inbox/{conversation.id}/read", headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.get_json() == {"read": True, "unread": {"inbox": 1, "notifications": 1}}
    assert unread_keys(w.learner_a) == [other.source_key]  # written, as by the button
    answer = learner.post(f"/inbox/{other.id}/read", headers={"Accept": "application/json, text/plain, */*"})
    assert answer.get_json() == {"read": True, "unread": {"inbox": 0, "notifications": 0}}
    # a browser's usual Accept (or none) still gets the redirect; a bad mark is refused, not JSON
    assert learner.post(f"/inbox/{other.id}/read",
                        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}).status_code == 302
    assert learner.post(f"/inbox/{other.id}/read", data={"up_to": "abc"},
                        headers={"Accept": "application/json"}).status_code == 400


@pytest.mark.parametrize("up_to", ["abc", "-1", "1" * 30, "1.5"])
def test_a_bad_read_mark_is_refused(people, up_to: str) -> None:
    w = people["world"]
    conversation = open_conversations(db.session, people["cohort"], w.instructor_a, [w.learner_a], "S", "B", "bad-mark",
                                      utcnow())[w.learner_a.id]
    db.session.commit()
    learner = people["client_for"](w.learner_a)
    assert learner.post(f"/inbox/{conversation.id}/read", data={"up_to": up_to}).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ConversationRead)) == 0


def test_a_learners_empty_inbox_says_where_to_ask_a_question(people) -> None:
    """A new learner opening the inbox to ask their instructor something found only "No
    messages yet" and no way to write: learners cannot start a conversation there. The page
    now points them to their cohort's discussions (whose instructors are told of a new
    thread); staff, who start conversations from the gradebook, are not sent there."""
    world, cohort = people["world"], people["cohort"]
    page = people["client_for"](world.learner_a).get("/inbox").get_data(as_text=True)
    assert re.search(rf'A question about the course\? Ask it in <a href="/cohorts/{cohort.id}/discussions">', page)
    assert 'href="/inbox/new">Message your instructors</a>' in page
    staff_page = people["client_for"](world.instructor_a).get("/inbox").get_data(as_text=True)
    assert 'id="ask"' not in staff_page


def test_a_learner_messages_their_instructors_in_private(people) -> None:
    """A learner asking for an extension had to post in the public discussions or reply to
    a staff message: they could not start a conversation. "Message your instructors" opens
    one with their own cohort's staff; each instructor is notified; staff of another cohort
    never see it; the learner's answer comes to their inbox."""
    w, cohort, second = people["world"], people["cohort"], people["second"]
    learner = people["client_for"](w.learner_a)
    form_page = learner.get("/inbox/new").get_data(as_text=True)
    assert "Message your instructors" in form_page and cohort.name in form_page
    form = {"subject": "Extension  for month 3", "body": "I was ill; may I have **a week** more?", "token": token_of(form_page)}
    sent = learner.post("/inbox/new", data=form)
    assert sent.status_code == 302
    db.session.expire_all()
    conversation = conversation_of(w.learner_a)
    assert sent.headers["Location"] == f"/inbox/{conversation.id}"
    assert (conversation.subject, conversation.started_by_id, conversation.cohort_id) == \
        ("Extension for month 3", w.learner_a.id, cohort.id)
    notices = db.session.scalars(select(Notification).order_by(Notification.user_id)).all()
    assert {n.user_id for n in notices} == {w.instructor_a.id, second.id}
    assert all(n.event == NotificationEvent.MESSAGE_REPLY and n.link == f"/inbox/{conversation.id}" for n in notices)
    assert all("Extension for month 3" in n.title and "Learner A" in n.title for n in notices)
    # the same form again (a double click): one conversation, one message
    again = learner.post("/inbox/new", data=form, follow_redirects=True)
    assert "That message had already been sent." in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    # the learner's own message is not unread for them; their instructor sees it unread
    assert nav_count(learner.get("/inbox").get_data(as_text=True)) is None
    teacher = people["client_for"](w.instructor_a)
    assert nav_count(teacher.get("/inbox").get_data(as_text=True)) == "1"
    assert "<strong>a week</strong>" in teacher.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    # another cohort's instructor and a classmate are told it does not exist
    assert people["client_for"](w.instructor_b).get(f"/inbox/{conversation.id}").status_code == 404
    assert people["client_for"](w.learner_a2).get(f"/inbox/{conversation.id}").status_code == 404
    # the instructor's answer reaches the learner
    answer = teacher.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert teacher.post(f"/inbox/{conversation.id}", data={"body": "Yes: a week.", "token": token_of(answer)}).status_code == 302
    db.session.expire_all()
    told = db.session.scalars(select(Notification).where(Notification.user_id == w.learner_a.id)).one()
    assert told.event == NotificationEvent.MESSAGE and told.link == f"/inbox/{conversation.id}"


def test_a_learner_writes_only_to_their_own_cohorts_staff(people) -> None:
    """The cohort is the learner's current enrolment's, never one the form names: a cohort
    id sent along is ignored; staff cannot use the learner's form; bad input is refused."""
    w = people["world"]
    learner = people["client_for"](w.learner_b)
    page = learner.get("/inbox/new").get_data(as_text=True)
    assert learner.post("/inbox/new", data={"subject": "Hi", "body": "Hello", "token": token_of(page),
                                            "cohort_id": people["cohort"].id}).status_code == 302
    db.session.expire_all()
    assert conversation_of(w.learner_b).cohort_id == w.cohort_b.id
    assert {n.user_id for n in db.session.scalars(select(Notification))} == {w.instructor_b.id}
    refused = learner.post("/inbox/new", data={"subject": "", "body": "", "token": token_of(page)})
    assert refused.status_code == 400 and "Write a subject." in refused.get_data(as_text=True)
    assert people["client_for"](w.instructor_a).get("/inbox/new").status_code == 403
