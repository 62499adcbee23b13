"""Who may read and answer a conversation: its learner and its cohort's staff (instructors,
the organization's admins, site admins). Anybody else, the cohort's other learners included,
is told it does not exist (404): a conversation is private to one learner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.extensions import db
from lms.inbox.models import Conversation
from lms.inbox.services import is_staff_of
from lms.web.access import AccessRule, Decision, hold


class ConversationMember(AccessRule):
    label = "the conversation's learner and its cohort's staff"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        conversation = db.session.get(Conversation, view_args["conversation_id"])
        if conversation is None:
            return Decision.NOT_FOUND
        hold(conversation)
        if conversation.learner_id == user.id or is_staff_of(db.session, user, conversation):
            return Decision.ALLOW
        return Decision.NOT_FOUND


CONVERSATION_MEMBER = ConversationMember()
