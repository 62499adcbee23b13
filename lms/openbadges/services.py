"""Level certificates as Open Badges 3.0 ``OpenBadgeCredential``s (W3C Verifiable
Credentials 2.0), signed as VC-JWT (a compact JWS, ``alg: EdDSA``, Ed25519) by the issuer's
key; the issuer profile and its keys (JWKS) published; revocation through a
BitstringStatusList credential (one bit per certificate: its id); verification of a
credential: signature, issuer key, validity dates and status.

A revocation is the certificate's (lms/certificates): its printable page, its Open Badges 2.0
hosted assertion and the API say it is revoked as the status list does. Services take a session and plain values and only flush."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import User
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.certificates.models import Certificate, CredentialRevocation
from lms.certificates.services import Urls, badge_name, criteria_narrative, identity_hash, recipient_salt, revocation_of
from lms.cohorts.models import Cohort, Enrolment
from lms.cohorts.roles import roles_of
from lms.database import DbSession, utcnow
from lms.openbadges.models import BadgeIssuerKey

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB3_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
STATUS_LIST_BITS = 131072  # the BitstringStatusList minimum (16 KiB): certificate ids below it
MAX_TOKEN = 64_000
MAX_REASON = 500


class BadgeError(ValueError):
    """Something the Open Badges pages refuse; nothing was saved."""


# --------------------------------------------------------------------------- the issuer's key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"lms.openbadges.issuer-key:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def public_jwk(public: Ed25519PublicKey) -> dict[str, Any]:
    x = _b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    # RFC 7638 thumbprint: the required members in lexicographic order, no spaces
    kid = _b64url(hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                                            sort_keys=True).encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def keys(session: DbSession) -> list[BadgeIssuerKey]:
    """Every issuer key, the newest (the one that signs) first."""
    return list(session.scalars(select(BadgeIssuerKey).order_by(BadgeIssuerKey.id.desc())))


def current_key(session: DbSession) -> BadgeIssuerKey | None:
    return session.scalar(select(BadgeIssuerKey).order_by(BadgeIssuerKey.id.desc()).limit(1))


def ensure_key(session: DbSession, secret_key: str, *, rotate: bool = False) -> BadgeIssuerKey:
    """The signing key, generated on first use (or a new one with ``rotate``). Flushes."""
    key = None if rotate else current_key(session)
    if key is not None:
        return key
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    jwk = public_jwk(private.public_key())
    key = BadgeIssuerKey(kid=jwk["kid"], private_key_encrypted=_fernet(secret_key).encrypt(pem).decode(),
                         public_jwk=jwk, created_at=utcnow())
    session.add(key)
    session.flush()
    return key


def private_key(key: BadgeIssuerKey, secret_key: str) -> Ed25519PrivateKey:
    try:
        pem = _fernet(secret_key).decrypt(key.private_key_encrypted.encode())
    except InvalidToken:
        raise BadgeError("The issuer's signing key cannot be read (was SECRET_KEY changed?): "
                         "run `flask lms badge-key --rotate`.") from None
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


def public_key(jwk: dict[str, Any]) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_unb64url(str(jwk["x"])))


# --------------------------------------------------------------------------- URLs and documents


@dataclass(frozen=True)
class Urls3:
    """The Open Badges 3.0 documents under the site's absolute base URL."""

    base: str

    @classmethod
    def at(cls, base_url: str) -> Urls3:
        return cls(base_url.rstrip("/"))

    def issuer(self) -> str:
        return f"{self.base}/badges/v3/issuer"

    def jwks(self) -> str:
        return f"{self.base}/badges/v3/jwks.json"

    def key(self, kid: str) -> str:
        return f"{self.issuer()}#{kid}"

    def credential(self, code: str) -> str:
        return f"{self.base}/badges/v3/credentials/{code}"

    def status_list(self) -> str:
        return f"{self.base}/badges/v3/status/revocation"

    def verify(self) -> str:
        return f"{self.base}/badges/v3/verify"


def iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def issuer_profile(base_url: str, name: str, email: str, issuer_keys: list[BadgeIssuerKey]) -> dict[str, Any]:
    """The issuer's Profile with its public keys as verification methods (JsonWebKey)."""
    urls = Urls3.at(base_url)
    return {
        "@context": [VC_CONTEXT, OB3_CONTEXT],
        "id": urls.issuer(),
        "type": ["Profile"],
        "name": name,
        "url": Urls.at(base_url).home(),
        "email": email,
        "verificationMethod": [{"id": urls.key(k.kid), "type": "JsonWebKey", "controller": urls.issuer(),
                                "publicKeyJwk": {m: k.public_jwk[m] for m in ("kty", "crv", "x")}} for k in issuer_keys],
    }


def credential(certificate: Certificate, base_url: str, secret: str, issuer_name: str) -> dict[str, Any]:
    """The OpenBadgeCredential of a level certificate (unsigned). The learner is named as on
    the certificate (the name they had when it was issued) and identified by a salted hash
    of their e-mail address, as in the 2.0 assertion."""
    urls, urls2 = Urls3.at(base_url), Urls.at(base_url)
    level = certificate.level
    salt = recipient_salt(certificate.code, secret)
    status_url = urls.status_list()
    return {
        "@context": [VC_CONTEXT, OB3_CONTEXT],
        "id": urls.credential(certificate.code),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": badge_name(level),
        "description": f"{certificate.holder_name} completed the {level.title} level of {level.program.title}.",
        "issuer": {"id": urls.issuer(), "type": ["Profile"], "name": issuer_name, "url": urls2.home()},
        "validFrom": iso(certificate.issued_at),
        "awardedDate": iso(certificate.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "name": certificate.holder_name,
            "identifier": [{"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
                            "identityHash": identity_hash(certificate.user.email, salt), "salt": salt}],
            "achievement": {
                "id": urls2.criteria(level.key),
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": badge_name(level),
                "description": " ".join(level.summary.split()) or badge_name(level),
                "criteria": {"id": urls2.criteria(level.key), "narrative": criteria_narrative(level)},
                "image": {"id": urls2.image(level.key), "type": "Image"},
                "tag": [level.program.title, f"{level.title} level"],
            },
        },
        "evidence": [{"id": urls2.certificate(certificate.code), "type": ["Evidence"], "name": "The printable certificate"}],
        "credentialStatus": {"id": f"{status_url}#{certificate.id}", "type": "BitstringStatusListEntry",
                             "statusPurpose": "revocation", "statusListIndex": str(certificate.id),
                             "statusListCredential": status_url},
        "credentialSchema": [{"id": OB3_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }


def sign(document: dict[str, Any], key: BadgeIssuerKey, secret_key: str, base_url: str) -> str:
    """The VC-JWT: a compact JWS over the credential with the JWT claims Open Badges 3.0
    asks for (iss, jti, nbf, and exp when the credential expires)."""
    header = {"alg": "EdDSA", "typ": "JWT", "kid": Urls3.at(base_url).key(key.kid)}
    issuer = document["issuer"]
    claims = {**document, "iss": issuer["id"] if isinstance(issuer, dict) else issuer, "jti": document["id"],
              "nbf": int(datetime.fromisoformat(document["validFrom"].replace("Z", "+00:00")).timestamp())}
    if "validUntil" in document:
        claims["exp"] = int(datetime.fromisoformat(document["validUntil"].replace("Z", "+00:00")).timestamp())
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()))
    signature = private_key(key, secret_key).sign(signing_input.encode())
    return signing_input + "." + _b64url(signature)


def revoked_ids(session: DbSession) -> set[int]:
    return set(session.scalars(select(CredentialRevocation.certificate_id)))


def encoded_list(revoked: set[int]) -> str:
    """The status bits (bit 0 the first byte's highest), gzipped, multibase base64url ("u")."""
    bits = bytearray(STATUS_LIST_BITS // 8)
    for index in revoked:
        if 0 <= index < STATUS_LIST_BITS:
            bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + _b64url(gzip.compress(bytes(bits), mtime=0))


def status_bit(encoded: str, index: int) -> bool:
    bits = gzip.decompress(_unb64url(encoded.removeprefix("u")))
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(session: DbSession, base_url: str, now: datetime) -> dict[str, Any]:
    urls = Urls3.at(base_url)
    return {
        "@context": [VC_CONTEXT],
        "id": urls.status_list(),
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": urls.issuer(),
        "validFrom": iso(now),
        "credentialSubject": {"id": urls.status_list() + "#list", "type": "BitstringStatusList",
                              "statusPurpose": "revocation", "encodedList": encoded_list(revoked_ids(session))},
    }


# --------------------------------------------------------------------------- verification


@dataclass
class Verification:
    valid: bool = False
    revoked: bool = False
    reasons: list[str] = field(default_factory=list)
    credential: dict[str, Any] | None = None
    certificate: Certificate | None = None

    def as_json(self) -> dict[str, Any]:
        subject = (self.credential or {}).get("credentialSubject") or {}
        achievement = subject.get("achievement") or {} if isinstance(subject, dict) else {}
        return {"valid": self.valid, "revoked": self.revoked, "reasons": self.reasons,
                "credential": None if self.credential is None else {
                    "id": self.credential.get("id"), "name": self.credential.get("name"),
                    "validFrom": self.credential.get("validFrom"),
                    "achievement": achievement.get("name") if isinstance(achievement, dict) else None}}


def _refuse(reason: str) -> Verification:
    return Verification(valid=False, reasons=[reason])


def verify(session: DbSession, token: str, base_url: str, now: datetime | None = None) -> Verification:
    """Check a VC-JWT this site issued: the signature with one of the issuer's keys, that it
    is an OpenBadgeCredential of this issuer, its dates, its certificate and its status."""
    token = "".join(token.split())
    if not token:
        return _refuse("No credential was given: paste the VC-JWT (three base64url parts separated by dots).")
    if len(token) > MAX_TOKEN:
        return _refuse("The credential is too long.")
    if token.startswith("{"):
        return _refuse("This is a credential without its signature: give the VC-JWT file downloaded from the certificate page.")
    parts = token.split(".")
    if len(parts) != 3:
        return _refuse("This is not a VC-JWT: it must have three base64url parts separated by dots.")
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
        signature = _unb64url(parts[2])
    except (ValueError, UnicodeDecodeError):
        return _refuse("The VC-JWT cannot be read: a part is not base64url-encoded JSON.")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return _refuse("The VC-JWT cannot be read: its header and payload must be JSON objects.")
    if header.get("alg") not in ("EdDSA", "Ed25519"):  # Ed25519: RFC 9864's name for the same
        return _refuse(f"Unsupported signature algorithm {header.get('alg')!r}: this issuer signs with EdDSA (Ed25519).")
    kid = str(header.get("kid") or "").rsplit("#", 1)[-1]
    key = session.scalar(select(BadgeIssuerKey).where(BadgeIssuerKey.kid == kid)) if kid else None
    if key is None:
        return _refuse("The credential was not signed with a key of this issuer.")
    try:
        public_key(key.public_jwk).verify(signature, f"{parts[0]}.{parts[1]}".encode())
    except (InvalidSignature, ValueError):
        return Verification(valid=False, reasons=["The signature does not match: the credential was changed after it was "
                                                  "issued, or was not issued here."], credential=claims)
    result = Verification(valid=True, credential=claims)
    types = claims.get("type") or []
    if "OpenBadgeCredential" not in types or "VerifiableCredential" not in types:
        result.reasons.append("It is not an OpenBadgeCredential.")
    issuer = claims.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not issuer_id.endswith("/badges/v3/issuer") or claims.get("iss") != issuer_id:
        result.reasons.append("The issuer named in the credential is not this site's issuer profile.")
    moment = now or utcnow()
    try:
        valid_from = datetime.fromisoformat(str(claims.get("validFrom", "")).replace("Z", "+00:00"))
        if valid_from > moment:
            result.reasons.append("The credential is not valid yet.")
        if "validUntil" in claims and datetime.fromisoformat(str(claims["validUntil"]).replace("Z", "+00:00")) < moment:
            result.reasons.append("The credential has expired.")
    except ValueError:
        result.reasons.append("The credential's dates cannot be read.")
    code = str(claims.get("id") or "").rsplit("/", 1)[-1]
    certificate = session.scalar(select(Certificate).where(Certificate.code == code)) if code else None
    status = claims.get("credentialStatus") or {}
    if certificate is None:
        result.reasons.append("No certificate of this site matches the credential.")
    elif not isinstance(status, dict) or str(status.get("statusListIndex")) != str(certificate.id):
        result.reasons.append("The credential's status entry does not match its certificate.")
    else:
        result.certificate = certificate
        revocation = session.scalar(select(CredentialRevocation).where(CredentialRevocation.certificate_id == certificate.id))
        if revocation is not None:
            result.revoked = True
            result.reasons.append(f"The issuer revoked this credential on {revocation.revoked_at.date().isoformat()}"
                                  + (f": {revocation.reason}" if revocation.reason else "."))
    result.valid = not result.reasons
    return result


# --------------------------------------------------------------------------- revocation


def organizations_of_learner(session: DbSession, user_id: int) -> set[int]:
    return set(session.scalars(select(Cohort.organization_id).join(Enrolment, Enrolment.cohort_id == Cohort.id)
                               .where(Enrolment.user_id == user_id)))


def organization_of_learner(session: DbSession, user_id: int) -> int | None:
    """The organization of the learner's latest enrolment (the one an audit entry names)."""
    return session.scalar(select(Cohort.organization_id).join(Enrolment, Enrolment.cohort_id == Cohort.id)
                          .where(Enrolment.user_id == user_id).order_by(Enrolment.started_at.desc(), Enrolment.id.desc())
                          .limit(1))


def may_revoke(session: DbSession, user: User, certificate: Certificate) -> bool:
    """Site admins, and admins of an organization the learner is (or was) enrolled in."""
    if user.is_admin:
        return True
    return bool(roles_of(session, user).admin_of & organizations_of_learner(session, certificate.user_id))


def revoke(session: DbSession, certificate: Certificate, actor_id: int | None, reason: str, now: datetime) -> CredentialRevocation:
    """Revoke the certificate for good, with a reason (shown to whoever verifies it): its bit
    is set in the status list, and its page, assertion and API entries say it is revoked.
    Audited. Flushes only."""
    reason = " ".join(reason.split())
    if not reason:
        raise BadgeError("Give the reason for revoking: it is shown to anyone who verifies the certificate, "
                         "and a revocation cannot be undone.")
    if len(reason) > MAX_REASON:
        raise BadgeError(f"Keep the reason under {MAX_REASON} characters.")
    if certificate.id >= STATUS_LIST_BITS:
        raise BadgeError("This certificate is beyond the status list's size and cannot be revoked here.")
    if revocation_of(session, certificate) is not None:
        raise BadgeError("This credential is already revoked.")
    row = CredentialRevocation(certificate_id=certificate.id, revoked_at=now, revoked_by_id=actor_id, reason=reason)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise BadgeError("This credential is already revoked.") from None
    record_from(session, action=AuditAction.CERTIFICATE_REVOKED,
                organization_id=organization_of_learner(session, certificate.user_id),
                target=f"certificate:{certificate.id}", before={"code": certificate.code, "revoked": False},
                after={"code": certificate.code, "learner_id": certificate.user_id, "level": certificate.level.key,
                       "revoked": True, "reason": reason}, actor_id=actor_id)
    return row
