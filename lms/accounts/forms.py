from __future__ import annotations

from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from lms.accounts.services import MIN_PASSWORD_LENGTH
from lms.accounts.timezones import grouped_choices
from lms.web.forms import CachedOptionsSelect, Form

# By region, without the tz database's deprecated aliases (the account page puts the person's likely zones first).
TIMEZONE_CHOICES = grouped_choices()


# What each field asks for, named for the browser and assistive technology (WCAG 1.3.5,
# identify input purpose): they fill it in from what the person saved, or mark it.
OWN_EMAIL = {"autocomplete": "email"}
OWN_NAME = {"autocomplete": "name"}
CURRENT_PASSWORD = {"autocomplete": "current-password"}
NEW_PASSWORD = {"autocomplete": "new-password"}


class LoginForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired()], render_kw=CURRENT_PASSWORD)
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class ForgotPasswordForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)], render_kw=OWN_EMAIL)
    submit = SubmitField("Send me a reset link")


class NewPasswordForm(Form):
    password = PasswordField(
        "New password",
        validators=[DataRequired(),
                    Length(min=MIN_PASSWORD_LENGTH, max=200, message=f"Use at least {MIN_PASSWORD_LENGTH} characters (at most 200).")],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
        render_kw=NEW_PASSWORD,
    )
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")],
                            render_kw=NEW_PASSWORD)
    # On by default here: a forgotten password is often a lost or stolen one.
    revoke_api_tokens = BooleanField(
        "Also revoke my personal API tokens", default=True,
        description="Someone who had your password may have made a token, so this is on: "
                    "programs that use your tokens stop working until you make new ones.")
    submit = SubmitField("Set password")


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired()], render_kw=CURRENT_PASSWORD)
    revoke_api_tokens = BooleanField(
        "Also revoke my personal API tokens", default=False,
        description="Choose this if someone else may have known your password: "
                    "programs that use your tokens stop working until you make new ones.")
    submit = SubmitField("Change password")


class SignOutForm(Form):
    """A button on the account page's list of sign-ins (its CSRF token only)."""

    submit = SubmitField("Sign out")


class ProfileForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], render_kw=OWN_NAME)
    timezone = SelectField("Time zone", choices=TIMEZONE_CHOICES, validators=[DataRequired()], widget=CachedOptionsSelect(),
                           render_kw={"data-zone-from-browser": "offer"})  # static/timezone.js
    submit = SubmitField("Save")


class UnlockForm(Form):
    """The unlock link's button (a GET only shows it: mail scanners that open links unlock nothing)."""

    submit = SubmitField("Unlock my account")
