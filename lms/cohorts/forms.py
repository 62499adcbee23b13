from __future__ import annotations

from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from lms.accounts.forms import NEW_PASSWORD, OWN_NAME, TIMEZONE_CHOICES
from lms.accounts.services import MIN_PASSWORD_LENGTH
from lms.cohorts.csv_import import MAX_IMPORT_BYTES
from lms.cohorts.models import Pace
from lms.web.forms import CachedOptionsSelect, Form, WholeNumberField, labelled_choices


class OrganizationForm(Form):
    name = StringField("Organization name", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Create organization")


class PersonForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    submit = SubmitField("Add")


class CohortForm(Form):
    name = StringField("Cohort name", validators=[DataRequired(), Length(max=200)])
    start_date = DateField("Start date", validators=[DataRequired(message="Enter the start date as YYYY-MM-DD.")],
                           description="Month 1 opens on this date; month N opens N-1 months later.")
    timezone = SelectField("Time zone", choices=TIMEZONE_CHOICES, default="UTC", widget=CachedOptionsSelect(),
                           description="Months open at midnight in this time zone.")
    instructors = TextAreaField("Instructors' emails", validators=[Optional(), Length(max=4000)],
                                description="Comma or line separated: people already on the organization's staff (its "
                                            "administrators and the instructors of its cohorts). Someone new is invited "
                                            "from the cohort's page (\"Invite an instructor\").")
    submit = SubmitField("Save cohort")


class EditCohortForm(CohortForm):
    """The cohort form for an existing cohort, with the revision it was shown."""

    revision = WholeNumberField(widget=HiddenInput(), validators=[InputRequired()])
    # What the form was opened with (JSON): after a refused save (someone else saved first),
    # the fields left as they were shown take the cohort's values now, the ones changed stay.
    shown = HiddenField()
    later_start = BooleanField("Yes, move the start of this running cohort to this later date")


PACE_LABELS = {
    Pace.CATCH_UP.value: "Catch-up: the missed months are compressed into a catch-up window",
    Pace.OWN_START.value: "Own start: follow the program's pace from the day they join",
}
PACE_LABEL = "If they join after the cohort started"


def pace_field() -> RadioField:
    """The pace of someone joining late; asked only when the cohort has started (a form
    posted without it gets the default)."""
    return RadioField(PACE_LABEL, choices=labelled_choices(PACE_LABELS), default=Pace.CATCH_UP.value)


class InviteForm(Form):
    email = EmailField("Learner's email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    pace = pace_field()
    submit = SubmitField("Send invitation")


class InviteInstructorForm(Form):
    """An instructor invited to the cohort (shown with ``prefix="instructor"``, beside the
    learner's invitation form on the cohort page). No name: the person gives theirs when
    they accept."""

    email = EmailField("Instructor's email", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Invite to teach")


class ImportForm(Form):
    file = FileField("CSV file with the columns email,name", validators=[
        FileRequired("Choose a CSV file."),
        FileAllowed(["csv", "txt"], "Upload a .csv file."),
        FileSize(max_size=MAX_IMPORT_BYTES, message=f"The file is larger than {MAX_IMPORT_BYTES // 1024} KB."),
    ])
    submit = SubmitField("Preview")


class ConfirmForm(Form):
    pace = pace_field()
    submit = SubmitField("Send the invitations")


class MoveForm(Form):
    target = SelectField("Move to", coerce=int, validators=[DataRequired()])
    pace = pace_field()
    submit = SubmitField("Move learner")


class EndEnrolmentForm(Form):
    reason = StringField("Why the enrolment ends", validators=[DataRequired(message="Say why the enrolment ends."), Length(max=40)],
                         description="Kept with the enrolment and in the audit log, for example: withdrew from the program.")
    confirm = BooleanField("I understand they will no longer open this cohort's pages",
                           validators=[DataRequired(message="Tick the box to confirm.")])
    submit = SubmitField("End the enrolment")


class ButtonForm(Form):
    """A bare form for POST buttons: CSRF token only."""

    submit = SubmitField("Confirm")


class AcceptInvitationForm(Form):
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)], render_kw=OWN_NAME)
    password = PasswordField(
        "Choose a password",
        validators=[DataRequired(),
                    Length(min=MIN_PASSWORD_LENGTH, max=200, message=f"Use at least {MIN_PASSWORD_LENGTH} characters (at most 200).")],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.", render_kw=NEW_PASSWORD)
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")],
                            render_kw=NEW_PASSWORD)
    # Every deadline and time the site shows is on this clock. It starts on the cohort's (or, with
    # scripts on, the browser's: accounts/static/timezone.js) and can be changed on the account page.
    timezone = SelectField("Your time zone", choices=TIMEZONE_CHOICES, validators=[DataRequired()],
                           widget=CachedOptionsSelect(), render_kw={"data-zone-from-browser": "choose"},
                           description="Deadlines and times are shown on this clock. You can change it later on your account page.")
    submit = SubmitField("Join the cohort")
