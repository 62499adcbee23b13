"""The CASE 1.0 service's read endpoints (public, like the catalog): the documents, one
document, its package (document, items, associations, definitions) and one item. An
unknown or malformed identifier answers 404 with an imsx status payload, as CASE says."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from lms.extensions import db
from lms.framework.services import BASE, Framework, build, find_item
from lms.web.site_url import site_root

bp = Blueprint("framework", __name__)


def _framework() -> Framework | None:
    return build(db.session, site_root(), current_app.config.get("CONTENT_DIR"))


def _unknown(identifier: str) -> tuple[Response, int]:
    try:
        uuid.UUID(identifier)
        description = "Unknown Object"
    except ValueError:
        description = "Invalid UUID"
    return jsonify({"imsx_codeMajor": "failure", "imsx_severity": "error", "imsx_description": description,
                    "imsx_codeMinor": {"imsx_codeMinorField": [{"imsx_codeMinorFieldName": "sourcedId",
                                                                "imsx_codeMinorFieldValue": "unknownobject"}]}}), 404


def _matches(framework: Framework | None, identifier: str) -> bool:
    return framework is not None and framework.document_id == identifier.lower()


@bp.get(f"/{BASE}/CFDocuments")
def documents() -> Any:
    framework = _framework()
    return jsonify({"CFDocuments": [framework.document] if framework else []})


@bp.get(f"/{BASE}/CFDocuments/<identifier>")
def document(identifier: str) -> Any:
    framework = _framework()
    if framework is None or not _matches(framework, identifier):
        return _unknown(identifier)
    return jsonify(framework.document)


@bp.get(f"/{BASE}/CFPackages/<identifier>")
def package(identifier: str) -> Any:
    framework = _framework()
    if framework is None or not _matches(framework, identifier):
        return _unknown(identifier)
    return jsonify(framework.package)


@bp.get(f"/{BASE}/CFItems/<identifier>")
def item(identifier: str) -> Any:
    framework = _framework()
    found = find_item(framework, identifier) if framework is not None else None
    if found is None:
        return _unknown(identifier)
    return jsonify(found)
