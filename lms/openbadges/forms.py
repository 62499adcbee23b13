from __future__ import annotations

from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from lms.web.forms import Form


class VerifyForm(Form):
    credential = TextAreaField("Credential (VC-JWT)", validators=[DataRequired(message="Paste a credential to verify."),
                                                                  Length(max=64_000)],
                               description="The contents of the .jwt file downloaded from a certificate page.")
    submit = SubmitField("Verify")


class RevokeForm(Form):
    reason = StringField("Reason", validators=[DataRequired(message="Give the reason for revoking: it is shown to anyone "
                                                                    "who verifies the certificate, and a revocation "
                                                                    "cannot be undone."),
                                               Length(max=500, message="Keep the reason under 500 characters.")],
                         description="Required. Shown to anyone who verifies the certificate or its credentials.")
    submit = SubmitField("Revoke the credential")
