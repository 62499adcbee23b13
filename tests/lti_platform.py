"""A real LTI 1.3 platform for the LTI tests, served on 127.0.0.1 by a thread.

It has its own RSA key (JWKS at ``/jwks``) and signs id_tokens with it through joserfc;
its OIDC authorization endpoint (``/auth``) answers the tool's login redirect with the
launch a browser would post back (as JSON: the test client posts it); ``/token`` is an
OAuth2 client-credentials endpoint that checks the tool's signed client assertion against
the tool's JWKS; ``/lineitems`` and ``/memberships`` are the Assignment and Grade Services
and Names and Role Provisioning Services endpoints. ``tamper`` rewrites claims of the next
id_tokens, ``signing_key`` signs with another key than the published one, and
``fail_scores`` makes the next score posts fail, to play a hostile or failing platform."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from joserfc.jwt import JWTClaimsRegistry
from werkzeug.serving import make_server

from tests.receivers import running

CLIENT_ID = "lms-tool-client"
DEPLOYMENT_ID = "deployment-1"
CONTEXT_ID = "course-101"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
SCOPES = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
          "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
          "https://purl.imsglobal.org/spec/lti-ags/scope/score"]


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


@dataclass
class Platform:
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: _key("platform-key"))
    signing_key: RSAKey | None = None
    tool_jwks: dict[str, Any] = field(default_factory=dict)
    next_launch: dict[str, Any] = field(default_factory=dict)
    tamper: dict[str, Any] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    line_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    fail_scores: int = 0
    last_id_token: str = ""

    def reset(self) -> None:
        self.signing_key, self.tool_jwks, self.next_launch, self.tamper = None, {}, {}, {}
        self.members, self.scores, self.fail_scores, self.last_id_token = [], [], 0, ""
        self.line_items.clear()
        self.tokens.clear()

    def person(self, sub: str, email: str, role: str = LEARNER, name: str = "Lea Learner", **more: Any) -> None:
        self.next_launch = {"sub": sub, "email": email, "name": name, CLAIM + "roles": [role]} | more

    def id_token(self, nonce: str, redirect_uri: str) -> str:
        now = int(time.time())
        launch = dict(self.next_launch)
        message_type = launch.pop("message_type", "LtiResourceLinkRequest")
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
            CLAIM + "message_type": message_type, CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT_ID, CLAIM + "target_link_uri": redirect_uri,
            CLAIM + "context": {"id": CONTEXT_ID, "title": "Operations 101", "type": ["CourseOffering"]},
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {"scope": SCOPES, "lineitems": f"{self.issuer}/lineitems"},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": f"{self.issuer}/memberships", "service_versions": ["2.0"]},
        }
        if message_type == "LtiResourceLinkRequest":
            claims[CLAIM + "resource_link"] = {"id": launch.pop("resource_link_id", "link-1"), "title": "Activity"}
        else:
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": f"{self.issuer}/deep-link-return", "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["window"], "accept_multiple": True, "data": "opaque-data"}
        lineitem = launch.pop("lineitem", None)
        if lineitem:
            claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]["lineitem"] = lineitem
        claims.update(launch)
        claims.update(self.tamper)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.signing_key or self.key
        self.last_id_token = jwt.encode({"alg": "RS256", "kid": "platform-key"}, claims, key)
        return self.last_id_token

    def add_line_item(self, data: dict[str, Any]) -> dict[str, Any]:
        item_id = f"{self.issuer}/lineitems/{len(self.line_items) + 1}"
        item = {"id": item_id, **{k: v for k, v in data.items() if k != "id"}}
        self.line_items[item_id] = item
        return item


def make_app(platform: Platform) -> Flask:
    app = Flask("lti_platform")

    def bearer(scope: str) -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return scope in platform.tokens.get(token, [])

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify({"keys": [platform.key.as_dict(private=False)]})

    @app.get("/auth")
    def auth() -> Any:
        args = request.args
        if (args.get("client_id") != CLIENT_ID or args.get("response_type") != "id_token" or args.get("scope") != "openid"
                or args.get("response_mode") != "form_post" or not args.get("nonce") or not args.get("login_hint")):
            return jsonify({"error": "invalid_request"}), 400
        return jsonify({"redirect_uri": args["redirect_uri"], "state": args["state"],
                        "id_token": platform.id_token(args["nonce"], args["redirect_uri"])})

    @app.post("/token")
    def token() -> Any:
        form = request.form
        if (form.get("grant_type") != "client_credentials"
                or form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"):
            return jsonify({"error": "unsupported_grant_type"}), 400
        try:
            decoded = jwt.decode(form.get("client_assertion", ""), KeySet.import_key_set(platform.tool_jwks))  # type: ignore[arg-type]
            JWTClaimsRegistry(iss={"essential": True, "value": CLIENT_ID}, sub={"essential": True, "value": CLIENT_ID},
                              aud={"essential": True, "value": f"{platform.issuer}/token"}).validate(decoded.claims)
        except Exception as exc:  # any refusal of the assertion
            return jsonify({"error": "invalid_client", "error_description": str(exc)}), 401
        access = secrets.token_urlsafe(16)
        platform.tokens[access] = form.get("scope", "").split()
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": form.get("scope", "")})

    @app.route("/lineitems", methods=["GET", "POST"])
    def lineitems() -> Any:
        if not bearer(SCOPES[0]):
            return jsonify({"error": "unauthorized"}), 401
        if request.method == "POST":
            return jsonify(platform.add_line_item(request.get_json(force=True))), 201
        items = list(platform.line_items.values())
        wanted = request.args.get("resource_id")
        return jsonify([i for i in items if wanted is None or i.get("resourceId") == wanted])

    @app.get("/lineitems/<int:number>")
    def lineitem(number: int) -> Any:
        item = platform.line_items.get(f"{platform.issuer}/lineitems/{number}")
        return (jsonify(item), 200) if item else (jsonify({"error": "not found"}), 404)

    @app.post("/lineitems/<int:number>/scores")
    def scores(number: int) -> Any:
        if not bearer(SCOPES[2]):
            return jsonify({"error": "unauthorized"}), 401
        if f"{platform.issuer}/lineitems/{number}" not in platform.line_items:
            return jsonify({"error": "no such line item"}), 404
        if platform.fail_scores > 0:
            platform.fail_scores -= 1
            return jsonify({"error": "temporarily unavailable"}), 503
        platform.scores.append({"lineitem": number, **request.get_json(force=True)})
        return "", 204

    @app.get("/memberships")
    def memberships() -> Any:
        if not bearer("https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"):
            return jsonify({"error": "unauthorized"}), 401
        return jsonify({"id": f"{platform.issuer}/memberships", "context": {"id": CONTEXT_ID},
                        "members": platform.members})

    return app


def serve() -> Iterator[Platform]:
    platform = Platform()
    server = make_server("127.0.0.1", 0, make_app(platform), threaded=True)
    platform.issuer = f"http://127.0.0.1:{server.server_port}"
    with running(server):
        yield platform


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
