"""pylti1p3 fitted to this app: the registrations come from the database, the login's nonce
is kept in a signed cookie of the browser that started it (a GET never writes), cookies
cross sites (SameSite=None; Secure) when the site is served over HTTPS, calls to the
platform have timeouts, and the id_token check adds what pylti1p3 leaves out: the
audience and issuer claims, a bounded clock skew, RSA signatures only, ``azp`` when there
are several audiences. Every refusal becomes ``Refusal`` with a sentence and a status."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from typing import Any

import jwt
import requests
from flask import current_app, request
from pylti1p3.contrib.flask.cookie import FlaskCookieService
from pylti1p3.contrib.flask.message_launch import FlaskMessageLaunch
from pylti1p3.contrib.flask.oidc_login import FlaskOIDCLogin
from pylti1p3.contrib.flask.request import FlaskRequest
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.session import SessionService
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import select

from lms.database import DbSession
from lms.lti.keys import ToolKeyError, current_key, private_pem, public_pem
from lms.lti.models import LtiDeployment, LtiPlatform, LtiToolKey

TIMEOUT = 10  # seconds, for every call to a platform
ALGORITHMS = ("RS256", "RS384", "RS512")
LEEWAY = 60  # seconds of clock skew tolerated on exp and iat
NONCE_PREFIX = "lti1p3-nonce-"


class Refusal(Exception):
    """A launch (or login) refused; ``status`` is the answer's HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class TimeoutSession(requests.Session):
    """A requests session whose calls give up after ``TIMEOUT`` seconds."""

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)


class ToolRegistration(Registration):
    """A registration whose tool key carries its ``kid`` (pylti1p3 derives none from a PEM)."""

    def __init__(self, platform: LtiPlatform, key: LtiToolKey | None, secret_key: str) -> None:
        self.platform_id = platform.id
        self.set_issuer(platform.issuer).set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url).set_auth_token_url(platform.auth_token_url)
        self.set_key_set_url(platform.key_set_url)
        self._key = key
        if key is not None:
            with contextlib.suppress(ToolKeyError):  # unreadable: signing fails with a clear message later
                self.set_tool_private_key(private_pem(key, secret_key))
            self.set_tool_public_key(public_pem(key))

    def get_kid(self) -> str | None:
        return self._key.kid if self._key is not None else None

    def get_jwks(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [dict(self._key.public_jwk)] if self._key is not None else []


def registration_for(session: DbSession, platform: LtiPlatform, secret_key: str) -> ToolRegistration:
    return ToolRegistration(platform, current_key(session), secret_key)


class DatabaseToolConf(ToolConfAbstract[FlaskRequest]):
    """Platforms registered by a site admin; several client ids per issuer are allowed."""

    def __init__(self, session: DbSession, secret_key: str) -> None:
        self.session = session
        self.secret_key = secret_key
        self.platform: LtiPlatform | None = None

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        raise NotImplementedError  # every issuer may have several client ids

    def find_platform(self, iss: str, client_id: str | None) -> LtiPlatform | None:
        query = select(LtiPlatform).where(LtiPlatform.issuer == iss)
        if client_id:
            return self.session.scalar(query.where(LtiPlatform.client_id == client_id))
        found = list(self.session.scalars(query.limit(2)))  # a login may omit client_id: only if unambiguous
        return found[0] if len(found) == 1 else None

    def find_registration_by_params(self, iss: str, client_id: str | None, *args: Any, **kwargs: Any) -> Registration:
        platform = self.find_platform(iss, client_id)
        if platform is None:
            raise Refusal(f"No platform is registered here with the issuer {iss!r} and the client id {client_id!r}: "
                          "a site administrator registers it under Administration → LTI platforms.", 403)
        self.platform = platform
        return registration_for(self.session, platform, self.secret_key)

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        raise NotImplementedError

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str, *args: Any,
                                  **kwargs: Any) -> Deployment | None:
        platform = self.find_platform(iss, client_id)
        if platform is None:
            return None
        found = self.session.scalar(select(LtiDeployment.id).where(
            LtiDeployment.platform_id == platform.id, LtiDeployment.deployment_id == deployment_id))
        return Deployment().set_deployment_id(deployment_id) if found is not None else None


class CrossSiteCookies(FlaskCookieService):
    """The login's cookies must come back with the platform's cross-site form POST:
    SameSite=None, which browsers accept only with Secure, so over HTTPS (or whenever the
    session cookie is Secure, as in production behind a TLS proxy)."""

    def update_response(self, response: Any) -> None:
        secure = bool(request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"))
        for key, data in self._cookie_data_to_set.items():
            response.set_cookie(key=key, value=data["value"], max_age=data["exp"], secure=secure, path="/",
                                httponly=True, samesite="None" if secure else None)


class BrowserBoundStorage(LaunchDataStorage[Any]):
    """What pylti1p3 keeps between the login and the launch. The nonce goes into a cookie
    of the browser that started the login, named after the nonce's hash and holding its
    HMAC; the rest (the validated launch, kept by pylti1p3 for later requests) lives for
    the request only, as this tool keeps what it needs itself."""

    def __init__(self, cookies: CrossSiteCookies, secret_key: str) -> None:
        super().__init__()
        self.cookies = cookies
        self.secret_key = secret_key.encode()
        self.values: dict[str, Any] = {}

    def _nonce_cookie(self, nonce: str) -> tuple[str, str]:
        name = "nonce-" + hashlib.sha256(nonce.encode()).hexdigest()[:32]
        return name, hmac.new(self.secret_key, b"lti-nonce:" + nonce.encode(), hashlib.sha256).hexdigest()

    def get_session_cookie_name(self) -> None:
        return None

    def can_set_keys_expiration(self) -> bool:
        return False

    def get_value(self, key: str) -> Any:
        return self.values.get(key)

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        if key.startswith(NONCE_PREFIX):
            name, mac = self._nonce_cookie(key[len(NONCE_PREFIX):])
            self.cookies.set_cookie(name, mac, 5 * 60)  # type: ignore[no-untyped-call]
        else:
            self.values[key] = value

    def check_value(self, key: str) -> bool:
        if key.startswith(NONCE_PREFIX):
            name, mac = self._nonce_cookie(key[len(NONCE_PREFIX):])
            return hmac.compare_digest(self.cookies.get_cookie(name) or "", mac)  # type: ignore[no-untyped-call]
        return key in self.values


def _services(secret_key: str) -> tuple[FlaskRequest, CrossSiteCookies, SessionService]:
    lti_request = FlaskRequest(session={})  # type: ignore[no-untyped-call]
    cookies = CrossSiteCookies(lti_request)  # type: ignore[no-untyped-call]
    sessions = SessionService(lti_request)
    sessions.set_data_storage(BrowserBoundStorage(cookies, secret_key))
    return lti_request, cookies, sessions


def login_redirect(session: DbSession, secret_key: str, launch_url: str) -> Any:
    """Answer a third-party initiated login: the redirect to the platform's authorization
    endpoint, with the state and nonce cookies set."""
    lti_request, cookies, sessions = _services(secret_key)
    login = FlaskOIDCLogin(lti_request, DatabaseToolConf(session, secret_key),  # type: ignore[no-untyped-call]
                           session_service=sessions, cookie_service=cookies)
    try:
        return login.get_redirect_object(launch_url).do_redirect()
    except OIDCException as exc:
        raise Refusal(_login_problem(str(exc)), 400) from exc


def _login_problem(text: str) -> str:
    known = {"Could not find issuer": "The login request names no issuer (iss).",
             "Could not find login hint": "The login request carries no login_hint.",
             "Could not find registration details": "This platform is not registered here."}
    return known.get(text, f"The login request was refused: {text}.")


class ToolLaunch(FlaskMessageLaunch):
    """A checked launch. Signature, audience, issuer, expiry and issue time are checked here
    with PyJWT against the key the platform's JWKS names (pylti1p3 skips the audience)."""

    def validate_jwt_signature(self) -> ToolLaunch:
        public_key, alg = self.get_public_key()
        if alg not in ALGORITHMS:
            raise Refusal(f"The launch is signed with {alg}; only RSA signatures ({', '.join(ALGORITHMS)}) are accepted.", 401)
        registration = self._registration
        assert registration is not None
        try:
            claims = jwt.decode(self._get_id_token(), public_key, algorithms=[alg], audience=registration.get_client_id(),
                                issuer=registration.get_issuer(), leeway=LEEWAY,
                                options={"require": ["exp", "iat", "iss", "aud", "nonce"]})
        except jwt.ExpiredSignatureError as exc:
            raise Refusal("The launch has expired (its id_token is past its expiry time): launch again from the course, "
                          "and check the platform's clock if it keeps happening.", 401) from exc
        except jwt.InvalidAudienceError as exc:
            raise Refusal("The launch was issued for another tool (its audience is not this tool's client id).", 403) from exc
        except jwt.InvalidIssuerError as exc:
            raise Refusal("The launch was issued by another platform than the registered issuer.", 403) from exc
        except jwt.ImmatureSignatureError as exc:
            raise Refusal("The launch is not valid yet (issued in the future): check the platform's clock.", 401) from exc
        except jwt.InvalidSignatureError as exc:
            raise Refusal("The launch's signature does not verify with the platform's published keys: "
                          "it was not signed by the registered platform.", 401) from exc
        except jwt.InvalidTokenError as exc:
            raise Refusal(f"The launch's id_token was refused: {exc}.", 401) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != registration.get_client_id():
            raise Refusal("The launch names several audiences without this tool as its authorized party (azp).", 403)
        return self


LIBRARY_PROBLEMS: tuple[tuple[str, str, int], ...] = (
    ("Missing state", "The launch carries no state: it must follow a login started by the platform.", 400),
    ("State not found", "This launch was not started in this browser (its state cookie is missing or differs): launch "
                        "again from the course. If the tool opens inside a frame, set it to open in a new window.", 400),
    ("Missing id_token", "The launch carries no id_token.", 400),
    ("Invalid id_token", "The launch's id_token is not a signed token.", 400),
    ("Invalid JWT format", "The launch's id_token cannot be read.", 400),
    ('"nonce" is empty', "The launch's id_token has no nonce.", 400),
    ("Invalid Nonce", "The launch does not answer a login started in this browser (nonce unknown or already used): "
                      "launch again from the course.", 400),
    ("Client id not registered", "The launch's client id is not registered for this issuer.", 403),
    ('"iss" is empty', "The launch's id_token names no issuer.", 400),
    ("JWT KID not found", "The launch's id_token does not name its signing key (kid).", 401),
    ("JWT ALG not found", "The launch's id_token does not name its algorithm.", 401),
    ("Unable to find public key", "The platform's published keys (JWKS) have no key matching the launch's kid: "
                                  "it was not signed by the registered platform.", 401),
    ("Error during fetch URL", "The platform's keys (JWKS URL) could not be fetched.", 502),
    ("Invalid response from", "The platform's JWKS URL did not answer with keys.", 502),
    ("Unable to find deployment", "This deployment of the tool is not registered for the platform: a site "
                                  "administrator adds its deployment id to the platform's registration.", 403),
    ("deployment_id is not set", "The launch names no deployment id.", 400),
    ("Invalid message type", "The launch names no LTI message type.", 400),
    ("Unrecognized message type", "This LTI message type is not supported by the tool.", 400),
    ("Message validation failed", "The launch lacks claims its message type requires.", 400),
    ("Validator conflict", "The launch's message type is ambiguous.", 400),
)


def explain(exc: Exception) -> Refusal:
    if isinstance(exc, Refusal):
        return exc
    text = str(exc)
    for prefix, message, status in LIBRARY_PROBLEMS:
        if text.startswith(prefix):
            return Refusal(message, status)
    return Refusal(f"The launch was refused: {text or type(exc).__name__}.", 400)


def validated_launch(session: DbSession, secret_key: str) -> tuple[dict[str, Any], LtiPlatform]:
    """Check the POSTed launch: its claims and the platform that sent it."""
    lti_request, cookies, sessions = _services(secret_key)
    conf = DatabaseToolConf(session, secret_key)
    with TimeoutSession() as http:  # fetches the platform's JWKS
        launch = ToolLaunch(lti_request, conf, session_service=sessions, cookie_service=cookies,  # type: ignore[no-untyped-call]
                            requests_session=http)
        try:
            claims = dict(launch.get_launch_data())
        except (LtiException, Refusal) as exc:
            raise explain(exc) from exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # malformed claims pylti1p3 indexes into
            raise Refusal(f"The launch's claims are malformed: {exc}.", 400) from exc
    assert conf.platform is not None
    return claims, conf.platform
