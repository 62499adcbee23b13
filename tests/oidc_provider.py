"""A real OpenID Connect provider for the single sign-on tests, served on 127.0.0.1.

It is built from Authlib's server parts: the discovery document is Authlib's
``OpenIDProviderMetadata`` (validated as Authlib validates a provider's metadata), PKCE
is checked with Authlib's S256 challenge, and ID tokens are signed RS256 with the
provider's own RSA key through joserfc (Authlib's JOSE library); the JWKS endpoint
publishes the public half. Its authorization endpoint signs in ``next_user`` without
asking (the tests choose who), and ``tamper`` rewrites claims of the next ID tokens to
play a misbehaving or hostile provider. The UserInfo endpoint answers a bearer access
token it issued with the person's claims; ``id_token_omits`` leaves claims out of the ID
token (they are still in userinfo), ``userinfo_tamper`` rewrites userinfo answers and
``userinfo_calls`` counts them. The claims are the standard ones of the openid, email and
profile scopes, ``zoneinfo`` (the person's time zone) among them when ``next_user`` has it."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

CLIENT_ID = "lms-test-client"
CLIENT_SECRET = "provider-test-secret-0123456789"


@dataclass
class Provider:
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(
        2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"}, private=True))
    next_user: dict[str, Any] = field(default_factory=dict)
    tamper: dict[str, Any] = field(default_factory=dict)
    signing_key: RSAKey | None = None      # sign with another key than the published one
    advertised_issuer: str | None = None   # what discovery claims to be
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_token_omits: set[str] = field(default_factory=set)
    userinfo_tamper: dict[str, Any] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    userinfo_calls: int = 0

    def reset(self) -> None:
        self.next_user, self.tamper, self.signing_key, self.advertised_issuer = {}, {}, None, None
        self.codes.clear()
        self.id_token_omits, self.userinfo_tamper, self.userinfo_calls = set(), {}, 0
        self.access_tokens.clear()

    def metadata(self) -> dict[str, Any]:
        metadata = OpenIDProviderMetadata({
            "issuer": self.advertised_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "iss", "aud", "email", "email_verified", "name", "zoneinfo"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        })
        if self.advertised_issuer is None:
            metadata.validate()
        return dict(metadata)

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                                  "nonce": grant["nonce"], "auth_time": now} | grant["user"]
        claims.update(self.tamper)
        for name in self.id_token_omits:
            claims.pop(name, None)
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.signing_key or self.key)


def make_app(provider: Provider) -> Flask:
    app = Flask("oidc_provider")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return jsonify(provider.metadata())

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify({"keys": [provider.key.as_dict(private=False)]})

    @app.get("/authorize")
    def authorize() -> Any:
        args = request.args
        if (args.get("client_id") != CLIENT_ID or args.get("response_type") != "code"
                or "openid" not in args.get("scope", "").split() or args.get("code_challenge_method") != "S256"):
            return jsonify({"error": "invalid_request"}), 400
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {"redirect_uri": args["redirect_uri"], "nonce": args.get("nonce"),
                                "challenge": args["code_challenge"], "user": dict(provider.next_user)}
        return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}")

    @app.post("/token")
    def token() -> Any:
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != expected:
            return jsonify({"error": "invalid_client"}), 401
        grant = provider.codes.pop(request.form.get("code", ""), None)
        if (grant is None or request.form.get("redirect_uri") != grant["redirect_uri"]
                or create_s256_code_challenge(request.form.get("code_verifier", "")) != grant["challenge"]):
            return jsonify({"error": "invalid_grant"}), 400
        access_token = secrets.token_urlsafe(16)
        provider.access_tokens[access_token] = dict(grant["user"])
        return jsonify({"access_token": access_token, "token_type": "Bearer", "expires_in": 300,
                        "id_token": provider.id_token(grant)})

    @app.get("/userinfo")
    def userinfo() -> Any:
        provider.userinfo_calls += 1
        scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
        user = provider.access_tokens.get(access_token) if scheme == "Bearer" else None
        if user is None:
            return jsonify({"error": "invalid_token"}), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return jsonify(user | provider.userinfo_tamper)

    return app


def serve() -> Iterator[Provider]:
    provider = Provider()
    server = make_server("127.0.0.1", 0, make_app(provider), threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=5)
