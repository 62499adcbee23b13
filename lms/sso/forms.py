from __future__ import annotations

from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from lms.accounts.forms import OWN_EMAIL
from lms.web.forms import Form


class SettingsForm(Form):
    issuer = StringField("Issuer", validators=[DataRequired(), Length(max=500)],
                         description="The provider's issuer URL, e.g. https://login.example.org/realms/staff")
    client_id = StringField("Client id", validators=[DataRequired(), Length(max=255)])
    client_secret = PasswordField("Client secret", validators=[Optional(), Length(max=2000)],
                                  description="Stored encrypted and never shown again; leave empty to keep the current one.")
    allowed_domains = TextAreaField("Allowed email domains", validators=[DataRequired(), Length(max=1000)],
                                    description="One or more, separated by spaces or commas, e.g. example.org")
    create_accounts = BooleanField("Create an account at first sign-in for people who have none")
    enabled = BooleanField("Single sign-on is on", default=True)
    revision = HiddenField()
    submit = SubmitField("Save")


class FindOrganizationForm(Form):
    email = EmailField("Your work email", validators=[DataRequired(), Length(max=254)], render_kw=OWN_EMAIL)
    submit = SubmitField("Continue")


class ConfirmForm(Form):
    submit = SubmitField("Continue")
