"""A peer review is its reviewer's alone; anyone else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.extensions import db
from lms.grading.models import PeerReview, PeerReviewStatus
from lms.web.access import AccessRule, Decision


class OwnPeerReview(AccessRule):
    label = "the learner asked to review"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        review = db.session.get(PeerReview, view_args["review_id"])
        ok = review is not None and review.reviewer_id == user.id and review.status != PeerReviewStatus.CANCELLED
        return Decision.ALLOW if ok else Decision.NOT_FOUND


OWN_PEER_REVIEW = OwnPeerReview()
