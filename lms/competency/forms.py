"""The review of an at-risk learner: a support note and an optional follow-up date. The
heat map and its exports only read, filtered by query string."""

from __future__ import annotations

from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from lms.competency.models import MAX_REVIEW_NOTE
from lms.web.forms import DayField, Form


class ReviewForm(Form):
    note = TextAreaField("Support note", validators=[
        DataRequired(message="Write a support note: what you saw and what was agreed."),
        Length(max=MAX_REVIEW_NOTE, message=f"Keep the note to {MAX_REVIEW_NOTE} characters.")],
        description="What you looked at, what you did or agreed with the learner. Kept in the review history; it cannot be changed later.")
    follow_up_on = DayField("Follow-up date (optional)", validators=[Optional()],
                             description="Today or later, as YYYY-MM-DD. The at-risk list highlights the learner from that day.")
    submit = SubmitField("Record the review")
