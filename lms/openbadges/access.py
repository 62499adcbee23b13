"""Who may revoke a certificate's credential: site admins and the admins of an
organization the learner is or was enrolled in (``view_args["code"]``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.certificates.services import by_code
from lms.extensions import db
from lms.openbadges.services import may_revoke
from lms.web.access import AccessRule, Decision


class CertificateAdmin(AccessRule):
    label = "site admins and the learner's organization admins"

    def decide(self, user: Any, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        certificate = by_code(db.session, str(view_args.get("code", "")))
        if certificate is None:
            return Decision.NOT_FOUND
        return Decision.ALLOW if may_revoke(db.session, user, certificate) else Decision.NOT_FOUND


CERTIFICATE_ADMIN = CertificateAdmin()
