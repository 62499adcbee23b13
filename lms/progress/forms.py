from __future__ import annotations

from wtforms import HiddenField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from lms.progress.services import MAX_NOTE
from lms.web.forms import Form, OneTimeField


class ReadForm(Form):
    """Mark a lesson read; ``undo`` set takes the mark off."""

    undo = HiddenField()


class RatingForm(Form):
    """The objective and level choices come from the program; the view sets them. ``token``:
    the form's one-time value (``OneTimeField``): the same form sent twice (a double click)
    records one rating."""

    token = OneTimeField()

    objective = SelectField("Objective", coerce=int, validators=[InputRequired(message="Choose an objective.")])
    level = SelectField("Level", coerce=int, validators=[InputRequired(message="Choose a level from 0 to 4.")],
                        description="0 to 4; the name is the level it reaches on the program's scale.")
    note = TextAreaField("Note", validators=[DataRequired(message="Write a note saying what you saw that justifies this level."),
                                             Length(max=MAX_NOTE)],
                         description="What you observed. The learner sees this note in their evidence trail.")
    submit = SubmitField("Record the rating")
