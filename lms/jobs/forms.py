"""The jobs pages' forms: a button (its CSRF token is all it carries), and the choice of a
periodic job to run now."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField
from wtforms.validators import InputRequired


class ButtonForm(FlaskForm):
    submit = SubmitField("Go")


class RunJobForm(FlaskForm):
    """One of the kinds cron queues (``lms.jobs.runner.periodic``): the view sets the choices."""

    kind = SelectField("Job", validators=[InputRequired(message="Choose the job to run.")])
    submit = SubmitField("Run now")
