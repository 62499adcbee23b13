"""The OpenID Connect relying party: discovery, the authorization request and the
code's exchange, and checking the ID token.

Authlib does the protocol: ``OAuth2Session`` builds the request (state, nonce, PKCE) and
exchanges the code; joserfc (Authlib's JOSE library) checks the signature against the
provider's JWKS, and Authlib's ``CodeIDToken`` the claims (issuer, audience, expiry,
nonce, ``azp``, ``at_hash``). What they leave to the caller is added here: the discovery
document must name the configured issuer, ``none`` and HMAC algorithms are refused, and
every failure becomes ``SsoError`` with a sentence a person can act on.

Every call to the provider (discovery, the code's exchange, its keys, userinfo) goes through
a session that connects to public addresses only (``lms.web.addresses.guard``): the issuer
is typed by an organization's admin, and the discovery document names the other addresses,
so either could point the server at the site's own network (and anyone may start a sign-in,
reading the failure's words). ``Client.allow_local`` lifts it (development and tests, whose
provider runs on 127.0.0.1: ``SSO_ALLOW_LOCAL``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lms.web.addresses import guard

TIMEOUT = 10  # seconds, for every call to the provider
SCOPE = "openid email profile"
# Asymmetric signatures only: "none" is never accepted, nor HMAC keyed with the client secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY = 60  # seconds of clock skew tolerated on exp, iat and nbf


class SsoError(Exception):
    """Sign-in through the provider was refused; the message says why."""


@dataclass(frozen=True)
class Client:
    issuer: str
    client_id: str
    client_secret: str
    allow_local: bool = False  # connect to local and private addresses too (development)


def _guarded(http: requests.Session, client: Client) -> requests.Session:
    if not client.allow_local:
        guard(http)
    return http


@dataclass(frozen=True)
class Request:
    """Where to send the browser, and what the callback must find again."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """The checked claims of an ID token."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    zoneinfo: str | None = None  # the standard claim (profile scope): the person's time zone, unchecked


def _get_json(client: Client, url: str, what: str) -> dict[str, Any]:
    try:
        with _guarded(requests.Session(), client) as http:
            response = http.get(url, timeout=TIMEOUT)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SsoError(f"The organization's sign-in provider could not be reached ({what}): {exc}") from exc
    if not isinstance(data, dict):
        raise SsoError(f"The organization's sign-in provider answered something unexpected ({what}).")
    return data


def discover(client: Client) -> dict[str, Any]:
    """The provider's metadata, checked to name the client's issuer (OpenID Connect Discovery 4.3)."""
    issuer = client.issuer
    metadata = _get_json(client, issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
    if metadata.get("issuer") != issuer:
        raise SsoError(f"The provider's discovery document names the issuer {metadata.get('issuer')!r}, "
                       f"not the configured {issuer!r}: check the issuer in the single sign-on settings.")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise SsoError(f"The provider's discovery document has no {key}.")
    return metadata


def _session(client: Client, redirect_uri: str) -> OAuth2Session:
    oauth = OAuth2Session(client.client_id, client.client_secret, scope=SCOPE, redirect_uri=redirect_uri,
                          code_challenge_method="S256", default_timeout=TIMEOUT)
    _guarded(oauth, client)
    return oauth


def authorization_request(client: Client, redirect_uri: str, state: str, nonce: str,
                          code_verifier: str) -> Request:
    metadata = discover(client)
    with _session(client, redirect_uri) as oauth:
        url, _ = oauth.create_authorization_url(metadata["authorization_endpoint"], state=state, nonce=nonce,
                                                code_verifier=code_verifier)
    return Request(url=url, state=state, nonce=nonce, code_verifier=code_verifier)


def finish(client: Client, redirect_uri: str, expected: Request, returned: dict[str, str]) -> Identity:
    """Check the callback's parameters, exchange the code and check the ID token."""
    if "error" in returned:
        raise SsoError(f"The provider refused the sign-in: {returned.get('error_description') or returned['error']}.")
    if not hmac.compare_digest(returned.get("state", ""), expected.state):
        raise SsoError("This sign-in answer does not belong to the sign-in started in this browser (state differs).")
    code = returned.get("code")
    if not code:
        raise SsoError("The provider's answer carries no authorization code.")
    metadata = discover(client)
    with _session(client, redirect_uri) as oauth:
        try:
            token = oauth.fetch_token(metadata["token_endpoint"], code=code, code_verifier=expected.code_verifier)
        except (AuthlibBaseError, requests.RequestException, ValueError) as exc:
            raise SsoError(f"The provider did not exchange the authorization code: {exc}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoError("The provider's token answer carries no ID token.")
    try:
        keys = KeySet.import_key_set(_get_json(client, metadata["jwks_uri"], "signing keys"))  # type: ignore[arg-type]  # a JSON object, checked by joserfc itself
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SsoError(f"The provider's signing keys (JWKS) could not be read: {exc}.") from exc
    allowed = [alg for alg in metadata.get("id_token_signing_alg_values_supported", ["RS256"]) if alg in ALGORITHMS]
    try:
        decoded = jwt.decode(id_token, keys, algorithms=allowed or ["RS256"])
    except (JoseError, ValueError) as exc:
        raise SsoError(f"The ID token's signature could not be verified: {exc}.") from exc
    claims = CodeIDToken(decoded.claims, decoded.header,
                         options={"iss": {"essential": True, "value": client.issuer},
                                  "aud": {"essential": True, "value": client.client_id}},
                         params={"nonce": expected.nonce, "client_id": client.client_id,
                                 "access_token": token.get("access_token")})
    try:
        claims.validate(leeway=LEEWAY)
    except JoseError as exc:
        raise SsoError(_claim_problem(exc)) from exc
    email, verified, name = _email(claims), claims.get("email_verified") is True, _name(claims)
    zone = _zone(claims)  # from userinfo only when it is asked anyway
    if (email is None or name is None) and isinstance(metadata.get("userinfo_endpoint"), str):
        info = userinfo(client, metadata["userinfo_endpoint"], token.get("access_token"), str(claims["sub"]))
        if email is None:  # the address and whether it is verified come from the same answer
            email, verified = _email(info), info.get("email_verified") is True
        name = name or _name(info)
        zone = zone or _zone(info)
    return Identity(issuer=str(claims["iss"]), subject=str(claims["sub"]), email=email, email_verified=verified,
                    name=name, zoneinfo=zone)


def _email(claims: Mapping[str, Any]) -> str | None:
    email = claims.get("email")
    return email.strip().lower() or None if isinstance(email, str) else None


def _name(claims: Mapping[str, Any]) -> str | None:
    name = claims.get("name")
    return name.strip() or None if isinstance(name, str) else None


def _zone(claims: Mapping[str, Any]) -> str | None:
    zone = claims.get("zoneinfo")
    return zone.strip()[:64] or None if isinstance(zone, str) else None


def userinfo(client: Client, endpoint: str, access_token: Any, subject: str) -> dict[str, Any]:
    """The provider's UserInfo answer (OpenID Connect Core 5.3), asked with the access token
    when the ID token leaves out the email or name. Its ``sub`` must be the ID token's
    (5.3.2): an answer about someone else is refused."""
    if not isinstance(access_token, str) or not access_token:
        raise SsoError("The ID token does not carry your email address and the provider gave no access token "
                       "to ask for it (userinfo).")
    try:
        with _guarded(requests.Session(), client) as http:
            response = http.get(endpoint, headers={"Authorization": f"Bearer {access_token}",
                                                   "Accept": "application/json"}, timeout=TIMEOUT)
        response.raise_for_status()
        info = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SsoError(f"The organization's sign-in provider could not be reached (userinfo): {exc}") from exc
    if not isinstance(info, dict):
        raise SsoError("The organization's sign-in provider answered something unexpected (userinfo).")
    if str(info.get("sub")) != subject:
        raise SsoError("The provider's userinfo answer is about another person than the ID token (sub differs).")
    return info


def _claim_problem(exc: JoseError) -> str:
    claim = getattr(exc, "claim", None) or ""
    known = {
        "iss": "The ID token was issued by another provider than the configured issuer.",
        "aud": "The ID token was issued for another application (audience differs from the client id).",
        "azp": "The ID token was issued for another application (authorized party differs).",
        "nonce": "The ID token does not answer the sign-in started in this browser (nonce differs).",
        "exp": "The ID token has expired: sign in again (and check the provider's clock).",
        "iat": "The ID token's issue time is not valid: check the provider's clock.",
        "nbf": "The ID token is not valid yet: check the provider's clock.",
        "at_hash": "The ID token does not match the access token issued with it.",
    }
    if exc.error == "expired_token":
        return known["exp"]
    return known.get(claim, f"The ID token was refused: {exc.description or exc.error}.")
