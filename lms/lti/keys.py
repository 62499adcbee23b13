"""The tool's RSA key: generated once (when the first platform is registered), its private
half stored Fernet-encrypted under a key derived from SECRET_KEY, its public half served
as the tool's JWKS. Platforms check deep-linking answers and service-token requests with it."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey
from sqlalchemy import select

from lms.database import DbSession, utcnow
from lms.lti.models import LtiToolKey


class ToolKeyError(Exception):
    """The tool's key cannot be used; the message says why."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"lms.lti.tool-key:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def current_key(session: DbSession) -> LtiToolKey | None:
    return session.scalar(select(LtiToolKey).order_by(LtiToolKey.id.desc()).limit(1))


def ensure_tool_key(session: DbSession, secret_key: str) -> LtiToolKey:
    """The tool's key, generated on first use (flushes)."""
    key = current_key(session)
    if key is not None:
        return key
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return store_tool_key(session, secret_key, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())


def store_tool_key(session: DbSession, secret_key: str, pem: str) -> LtiToolKey:
    """Keep ``pem`` (an RSA private key) as the tool's current key (flushes)."""
    public = RSAKey.import_key(pem).as_dict(private=False)
    kid = RSAKey.import_key(pem).thumbprint()
    jwk = {"kty": "RSA", "n": public["n"], "e": public["e"], "kid": kid, "alg": "RS256", "use": "sig"}
    key = LtiToolKey(kid=kid, private_key_encrypted=_fernet(secret_key).encrypt(pem.encode()).decode(),
                     public_jwk=jwk, created_at=utcnow())
    session.add(key)
    session.flush()
    return key


def private_pem(key: LtiToolKey, secret_key: str) -> str:
    try:
        return _fernet(secret_key).decrypt(key.private_key_encrypted.encode()).decode()
    except InvalidToken as exc:
        raise ToolKeyError("The tool's private key cannot be read (was SECRET_KEY changed?).") from exc


def public_pem(key: LtiToolKey) -> str:
    return RSAKey.import_key(key.public_jwk).as_pem(private=False).decode()


def jwks(session: DbSession) -> dict[str, Any]:
    return {"keys": [dict(key.public_jwk) for key in session.scalars(select(LtiToolKey).order_by(LtiToolKey.id))]}
