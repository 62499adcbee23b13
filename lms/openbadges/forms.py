from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class VerifyForm(FlaskForm):
    credential = TextAreaField("Credential (VC-JWT)", validators=[DataRequired(message="Paste a credential to verify."),
                                                                  Length(max=64_000)],
                               description="The contents of the .jwt file downloaded from a certificate page.")
    submit = SubmitField("Verify")


class RevokeForm(FlaskForm):
    reason = StringField("Reason", validators=[Optional(), Length(max=500)],
                         description="Shown to anyone who verifies the credential.")
    submit = SubmitField("Revoke the credential")
