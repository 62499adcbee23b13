"""The learner's certificates and the check for new ones; the public printable certificate;
the Open Badges 2.0 documents for hosted verification (Assertion, BadgeClass, Issuer
Profile) and the badge image of each level."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.catalog.services import active_program
from lms.certificates import services
from lms.certificates.forms import CheckForm
from lms.cohorts.enrolment import active_enrolment, last_enrolment
from lms.cohorts.models import Cohort
from lms.database import utcnow
from lms.extensions import db
from lms.progress.completion import learner_progress
from lms.web.site_url import site_root

bp = Blueprint("certificates", __name__, template_folder="templates")

# Badge documents are JSON-LD; a client asking for plain JSON only gets that type.
JSON_TYPES = ["application/ld+json", "application/json"]
# One colour scheme a level, in program order: (outer ring, inner disc, ribbon).
PALETTES = (("#1f5f8b", "#e8f1f8", "#2f7fb5"), ("#6b3fa0", "#f1ebf8", "#8a5cc2"), ("#9a5b00", "#fbf1e2", "#c27a12"))


def _base_url() -> str:
    return site_root()


def _badge_json(document: dict[str, Any], status: int = 200) -> Response:
    mimetype = request.accept_mimetypes.best_match(JSON_TYPES, default=JSON_TYPES[0])
    response = Response(json.dumps(document, indent=2, ensure_ascii=False), status=status, mimetype=mimetype)
    response.headers["Access-Control-Allow-Origin"] = "*"  # verifiers and backpacks read these from anywhere
    return response


def _not_found(reason: str) -> Response:
    return _badge_json({"error": "Not found", "reason": reason}, 404)


def _mine(error: str | None = None, status: int = 200) -> tuple[str, int]:
    user_id = signed_in().id
    held = {c.level_id: c for c in services.certificates_of(db.session, user_id)}
    revoked = services.revocations(db.session, [c.id for c in held.values()])
    enrolment = active_enrolment(db.session, user_id)
    if enrolment is None:  # a former learner (``LEARNER_OR_FORMER``): what they earned, and no check to run
        return render_template("certificates/mine.html", levels=[], earlier=list(held.values()), revoked=revoked,
                               former=last_enrolment(db.session, user_id) or abort(403),
                               urls=services.Urls.at(_base_url()), form=CheckForm(), error=error), status
    progress = learner_progress(db.session, enrolment.cohort, user_id, utcnow())
    levels = [(s, held.get(s.level.id), services.missing(s, progress.today)) for s in progress.levels]
    shown = {s.level.id for s in progress.levels}
    return render_template("certificates/mine.html", levels=levels, earlier=[c for c in held.values() if c.level_id not in shown],
                           revoked=revoked, former=None, urls=services.Urls.at(_base_url()), form=CheckForm(),
                           error=error), status


@bp.get("/certificates")
def mine() -> tuple[str, int]:
    return _mine()


@bp.post("/certificates/check")
def check() -> Any:
    user_id = signed_in().id
    enrolment = active_enrolment(db.session, user_id) or abort(403)
    issued = services.issue_due(db.session, enrolment.cohort, user_id, utcnow())
    if issued:
        names = ", ".join(f"{c.level.title} level" for c in issued)
        flash(f"Congratulations: your certificate for the {names} is ready.", "success")
    else:
        flash("No new certificate yet. What is still missing for each level is listed below.", "success")
    return redirect(url_for("certificates.mine"))


@bp.get("/cohorts/<int:cohort_id>/certificates")
def cohort_certificates(cohort_id: int) -> str:
    """Who in the cohort is certified, for its organization's admins: each certificate with its
    level, the day it was issued, its public page, and the way to revoke it (``openbadges.manage``,
    whose confirmation asks for the reason)."""
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    shown, at = services.certified_in(db.session, cohort.id, request.args.get("page", 1, type=int))
    return render_template("certificates/cohort.html", cohort=cohort, shown=shown, at=at, urls=services.Urls.at(_base_url()))


@bp.get("/certificates/<code>")
def certificate(code: str) -> str:
    found = services.by_code(db.session, code) or abort(404)
    return render_template("certificates/certificate.html", certificate=found, urls=services.Urls.at(_base_url()),
                           revocation=services.revocation_of(db.session, found))


@bp.get("/badges/assertions/<code>.json")
def assertion(code: str) -> Response:
    found = services.by_code(db.session, code)
    if found is None:
        return _not_found("No certificate has this code.")
    return _badge_json(services.assertion(found, _base_url(), current_app.config["SECRET_KEY"],
                                          services.revocation_of(db.session, found)))


@bp.get("/badges/issuer.json")
def issuer() -> Response:
    program = active_program(db.session)
    name = program.title if program else "AI Operations"
    return _badge_json(services.issuer_profile(_base_url(), name, current_app.config["MAIL_FROM"]))


@bp.get("/badges/<level_key>.json")
def badge_class(level_key: str) -> Response:
    level = services.badge_level(db.session, level_key)
    if level is None:
        return _not_found("No level has this key.")
    return _badge_json(services.badge_class(level, _base_url()))


@bp.get("/badges/<level_key>.svg")
def badge_image(level_key: str) -> Response:
    level = services.badge_level(db.session, level_key) or abort(404)
    ring, disc, ribbon = PALETTES[level.position % len(PALETTES)]
    svg = render_template("certificates/badge.svg", level=level, ring=ring, disc=disc, ribbon=ribbon)
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})
