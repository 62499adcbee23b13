"""The inbox's wiring: its pages, the unread count in every page's navigation, the
conversations with a learner's reply not read under each cohort of the instructor's home, the
conversations the gradebook's staff messages open, and a message's notice followed from the
notification centre reading the conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask

from lms.accounts.current import load_with_signed_in_user
from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.database import DbSession
from lms.gradebook.services import learners_messaged
from lms.inbox import services
from lms.inbox.views import UNREAD, bp, link_for, unread_context, unread_conversations
from lms.notifications.models import Notification
from lms.notifications.services import notification_opened
from lms.today.waiting import WaitingLine, add_waiting_source
from lms.web.page_cache import add_viewer_input


def on_learners_messaged(_sender: Any, *, session: DbSession, cohort: Cohort, by: User, learners: list[User],
                         subject: str, body: str, key: str, now: Any) -> dict[int, str]:
    """A staff message opens a conversation with each learner it reaches; their notice links it."""
    opened = services.open_conversations(session, cohort, by, learners, subject, body, key, now)
    return {uid: link_for(c) for uid, c in opened.items()}


def on_notification_opened(_sender: Any, *, session: DbSession, notification: Notification, now: Any) -> None:
    """Following a notice of a message (the centre's Open) reads the conversation up to that
    message, in the same POST: the conversation's page shows it read."""
    user = session.get(User, notification.user_id)
    if user is not None:
        services.mark_noticed_read(session, user, notification.key, now)


def replies_waiting(session: DbSession, user_id: int, cohort_ids: Sequence[int]) -> dict[int, WaitingLine]:
    """Each cohort's conversations with a learner's reply the person has not read, for the
    instructor's home ("Waiting for you"): linked to the inbox, where they are listed."""
    counts = services.replies_not_read(session, user_id, cohort_ids)
    return {cohort_id: WaitingLine(kind="replies-waiting", endpoint="inbox.index",
                                   text=f"{n} conversation{'' if n == 1 else 's'} with a reply you have not read")
            for cohort_id, n in counts.items() if n}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(unread_context)
    load_with_signed_in_user(app, UNREAD, services.unread_count_of_users_row())
    add_viewer_input(app, unread_conversations)  # the count in every page's navigation
    learners_messaged.connect(on_learners_messaged)
    notification_opened.connect(on_notification_opened)
    add_waiting_source(app, replies_waiting)
