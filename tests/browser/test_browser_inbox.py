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


def said(link) -> str:
    """A link's text as a screen reader reads it (the count's "unread" is visually hidden)."""
    return " ".join((link.text_content() or "").split())


def test_the_navigations_unread_badges_follow_the_mark_read_on_the_page(server_url: str, world, browser) -> None:
    """The page's script marks the conversation read and, from the JSON answer, puts the new
    counts in the navigation at once: Inbox 2 -> 1 and Notifications 3 -> 1 (the other
    conversation's notice stays); no reload. Reading the last one removes the Inbox badge."""
    learner = world.learner_a
    first = start_conversation(db.session, world.cohort_a, world.instructor_a, learner, "Your plan", "Send your plan.",
                               utcnow(), link_for, token="badge-token-1").conversation
    reply(db.session, first, world.instructor_a, "And the budget.", utcnow(), link_for)
    second = start_conversation(db.session, world.cohort_a, world.instructor_a, learner, "Your budget", "Send it too.",
                                utcnow(), link_for, token="badge-token-2").conversation
    db.session.commit()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    nav = page.get_by_role("navigation", name="Main")
    inbox, notices = nav.locator("a[data-unread-badge=inbox]"), nav.locator("a[data-unread-badge=notifications]")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if request.resource_type == "document" else None)
    page.goto(f"{server_url}/inbox/{first.id}")
    page.get_by_role("status").filter(has_text="Marked read.").wait_for()
    # the page rendered the counts before the mark; the script replaced them from the answer
    inbox.locator(".notification-count").filter(has_text="1").wait_for()
    assert said(inbox) == "Inbox 1 unread" and said(notices) == "Notifications 1 unread"
    assert requests == [f"{server_url}/inbox/{first.id}"]  # no reload: one page load
    assert unread_keys(learner.id) == [second.source_key]
    page.goto(f"{server_url}/inbox/{second.id}")
    page.get_by_role("status").filter(has_text="Marked read.").wait_for()
    inbox.locator(".notification-count").wait_for(state="detached")
    notices.locator(".notification-count").wait_for(state="detached")
    assert said(inbox) == "Inbox" and said(notices) == "Notifications"
    context.close()
