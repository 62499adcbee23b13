"""In Chromium: a conversation opened by its link (an email's, the subject in the inbox) is read
with its notices by the page's script, up to the last message shown; with scripts off nothing
is marked until the page's Mark read is pressed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lms.database import utcnow
from lms.extensions import db
from lms.inbox.models import ConversationRead
from lms.inbox.services import reply, start_conversation
from lms.inbox.views import link_for
from lms.notifications.models import Notification
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser


def unread_keys(user_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification.key).where(Notification.user_id == user_id,
                                                                   Notification.read_at.is_(None)).order_by(Notification.id)))


def test_opening_a_conversation_reads_it_and_its_notices_with_scripts_on_and_by_the_button_without(
        server_url: str, world, browser) -> None:
    learner = world.learner_a
    scripted = start_conversation(db.session, world.cohort_a, world.instructor_a, learner, "Your plan", "Send your plan.",
                                  utcnow(), link_for, token="scripted-token").conversation
    answer = reply(db.session, scripted, world.instructor_a, "And the budget.", utcnow(), link_for).message
    plain = start_conversation(db.session, world.cohort_a, world.instructor_a, learner, "Your budget", "Send it too.",
                               utcnow(), link_for, token="plain-token-1").conversation
    db.session.commit()
    assert len(unread_keys(learner.id)) == 3

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    page.goto(f"{server_url}/inbox/{scripted.id}")
    page.get_by_role("status").filter(has_text="Marked read.").wait_for()
    assert unread_keys(learner.id) == [plain.source_key]  # the other conversation keeps its notice
    mark = db.session.scalars(select(ConversationRead).where(ConversationRead.user_id == learner.id,
                                                             ConversationRead.conversation_id == scripted.id)).one()
    assert mark.read_up_to == answer.id
    context.close()

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    page.goto(f"{server_url}/inbox/{plain.id}")
    button = page.get_by_role("button", name="Mark read")
    assert button.is_visible() and unread_keys(learner.id) == [plain.source_key]  # loading the page marks nothing
    button.click()
    page.wait_for_load_state()
    page.get_by_text("Jump to the first new message").wait_for(state="detached")
    assert unread_keys(learner.id) == []
    context.close()
