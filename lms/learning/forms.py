from __future__ import annotations

from wtforms import HiddenField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from lms.learning.services import OVERRIDE_KINDS, PACES, TIME_ALLOWANCES
from lms.web.forms import DayField, Form, labelled_choices


class OverrideForm(Form):
    phase = SelectField("Part of the program", coerce=int, validators=[DataRequired()])
    kind = SelectField("Grant", choices=labelled_choices(dict(OVERRIDE_KINDS)), validators=[DataRequired()])
    # InputRequired, not DataRequired: DataRequired would replace the field's own message
    # (a day out of range) with this one when the typed day is refused.
    on_date = DayField("Date", validators=[InputRequired(
        message="Enter the date: the new due date for an extension, the day it opens for early access (YYYY-MM-DD).")],
                        description="Early access: the day it opens. Extension: the new due date.")
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])
    seen = HiddenField()  # the newest grant the page showed: one of the same kind and part made since is not replaced unseen
    submit = SubmitField("Grant")


class RemoveExtensionForm(Form):
    """Remove one extension listed on the learner's page; the page asks first (a
    ``details`` to open), and the removal is conditional on that extension still being the
    newest of its part (``lms.learning.services.remove_extension``)."""

    submit = SubmitField("Yes, remove it")


class PaceForm(Form):
    pace = SelectField("Pace", choices=labelled_choices(dict(PACES)), validators=[DataRequired()],
                       description="For a learner who joined after the cohort started.")
    submit = SubmitField("Change pace")


class TimeAllowanceForm(Form):
    allowance = SelectField("Time allowance", choices=labelled_choices(dict(TIME_ALLOWANCES)),
                            validators=[DataRequired()],
                            description="Against each quiz's or exam's time limit. Attempts already started keep their time.")
    seen = HiddenField()  # the allowance the page showed: the write is conditional on it
    submit = SubmitField("Save time allowance")


class FeedForm(Form):
    submit = SubmitField("Create a new calendar link")


class RevokeFeedForm(Form):
    submit = SubmitField("Turn the calendar link off")
