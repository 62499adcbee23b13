"""LTI forms: a platform's registration, mapping a course to a cohort, deep linking's choice."""
from __future__ import annotations

from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from lms.web.forms import Form


class PlatformForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], description="e.g. Acme Moodle")
    issuer = StringField("Issuer (platform ID)", validators=[DataRequired(), Length(max=500)],
                         description="Moodle: the site's address, e.g. https://moodle.example.org; Canvas: https://canvas.instructure.com")
    client_id = StringField("Client ID", validators=[DataRequired(), Length(max=255)])
    deployment_ids = TextAreaField("Deployment IDs", validators=[DataRequired(), Length(max=4000)],
                                   description="One or more, separated by spaces or new lines.")
    auth_login_url = StringField("Authentication request URL", validators=[DataRequired(), Length(max=1000)],
                                 description="Moodle: …/mod/lti/auth.php; Canvas: https://sso.canvaslms.com/api/lti/authorize_redirect")
    auth_token_url = StringField("Access token URL", validators=[DataRequired(), Length(max=1000)],
                                 description="Moodle: …/mod/lti/token.php; Canvas: https://sso.canvaslms.com/login/oauth2/token")
    key_set_url = StringField("Public keyset URL (JWKS)", validators=[DataRequired(), Length(max=1000)],
                              description="Moodle: …/mod/lti/certs.php; Canvas: https://sso.canvaslms.com/api/lti/security/jwks")
    trust_emails = BooleanField("The platform vouches for email addresses (a first launch finds an existing account by email)",
                                default=True)
    revision = HiddenField()
    submit = SubmitField("Save")


class ContextForm(Form):
    context_id = StringField("Course context ID", validators=[DataRequired(), Length(max=255)],
                             description="As the platform sends it (shown on the refusal page of an unmapped course's launch).")
    title = StringField("Course title", validators=[Optional(), Length(max=255)])
    cohort_id = SelectField("Cohort", coerce=int)
    submit = SubmitField("Map")


class ActionForm(Form):
    submit = SubmitField("Go")


class DeepLinkForm(Form):
    items = SelectMultipleField("Content to place", choices=[], validate_choice=False)
    submit = SubmitField("Place in the course")
