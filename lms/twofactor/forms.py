from __future__ import annotations

from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from lms.web.forms import Form


class CodeForm(Form):
    code = StringField("Code", validators=[DataRequired(message="Type the code."), Length(max=32)],
                       description="The 6 digits your authenticator app shows, or one of your recovery codes.",
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off"})
    remember = BooleanField("Remember this device for 30 days")
    submit = SubmitField("Continue")


class ConfirmForm(Form):
    key = HiddenField(validators=[DataRequired(message="Start again with a new key."), Length(max=1000)])
    code = StringField("Code from the app", validators=[DataRequired(message="Type the code."), Length(max=32)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    # Asked on the account page only (``views.setup``): set-up during a sign-in follows the password just given.
    password = PasswordField("Your password", description="Asked again: whoever holds a signed-in browser must not put their own "
                             "phone on your account.", validators=[Length(max=1000)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Turn on two-factor sign-in")


class DisableForm(Form):
    code = StringField("Current code (or a recovery code)", validators=[DataRequired(message="Type the code."),
                                                                       Length(max=32)],
                       render_kw={"autocomplete": "one-time-code"})
    submit = SubmitField("Turn off two-factor sign-in")


class NewCodesForm(DisableForm):
    """Confirmed like turning it off: a current code or a recovery code."""

    submit = SubmitField("Make new recovery codes")


class PlainForm(Form):
    submit = SubmitField("Go")


class PolicyForm(Form):
    require_for_instructors = BooleanField("Require two-factor sign-in for this organization's instructors")
    submit = SubmitField("Save")


class ResetForm(Form):
    confirm = BooleanField("I am sure", validators=[DataRequired(message="Tick the box to confirm.")])
    submit = SubmitField("Reset two-factor")
