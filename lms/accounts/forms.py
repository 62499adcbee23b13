from __future__ import annotations

from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from lms.accounts.services import MIN_PASSWORD_LENGTH
from lms.accounts.timezones import grouped_choices
from lms.web.forms import CachedOptionsSelect, Form

# By region, without the tz database's deprecated aliases (the account page puts the person's likely zones first).
TIMEZONE_CHOICES = grouped_choices()


class LoginForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class ForgotPasswordForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Send me a reset link")


class NewPasswordForm(Form):
    password = PasswordField(
        "New password",
        validators=[DataRequired(),
                    Length(min=MIN_PASSWORD_LENGTH, max=200, message=f"Use at least {MIN_PASSWORD_LENGTH} characters (at most 200).")],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")])
    submit = SubmitField("Set password")


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    submit = SubmitField("Change password")


class ProfileForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    timezone = SelectField("Time zone", choices=TIMEZONE_CHOICES, validators=[DataRequired()], widget=CachedOptionsSelect())
    submit = SubmitField("Save")


class UnlockForm(Form):
    """The unlock link's button (a GET only shows it: mail scanners that open links unlock nothing)."""

    submit = SubmitField("Unlock my account")
