"""The jobs pages' forms: a button (its CSRF token is all it carries), and the choice of a
periodic job to run now."""

from __future__ import annotations

from wtforms import SelectField, SubmitField
from wtforms.validators import InputRequired

from lms.web.forms import Form


class ButtonForm(Form):
    submit = SubmitField("Go")


class RunJobForm(Form):
    """One of the kinds cron queues (``lms.jobs.runner.periodic``): the view sets the choices."""

    kind = SelectField("Job", validators=[InputRequired(message="Choose the job to run.")])
    submit = SubmitField("Run now")
