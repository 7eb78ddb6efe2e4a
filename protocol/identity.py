"""Ed25519 identities, organisation ids and domain-separated signatures.

An organisation is named by an *org id* that is not a key: it is derived once from the
organisation's first key, and the charter may later attach other keys to it (rotation), so the
feed outlives any one key. A *key id* in hashbank is the raw 32-byte Ed25519 public key itself:
there is no second name for a key that a threshold count or a lookup could get wrong.

Every signature is made over ``context || message``, where the context is a fixed byte string
per object type. An entry signature therefore never verifies as a charter signature or a
request signature, whatever the message bytes. The one exception is ``sign_raw`` /
``verify_raw``, for RFC 9421 signature bases, which the RFC signs without a prefix: a base
always starts with the byte ``"`` and every context with ``h``, so the two message spaces stay
disjoint, and these two functions refuse any other first byte.

Every call into PyNaCl is in this module.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import NewType

import nacl.exceptions
import nacl.signing

from protocol.errors import BadSignatureError, InvalidValueError

KEY_SIZE = 32
SIGNATURE_SIZE = 64

OrgId = NewType("OrgId", bytes)
"""32 bytes: SHA-256 of ``ORG_ID_CONTEXT || first public key``."""

ORG_ID_CONTEXT = b"hashbank/v1/org-id\x00"


class Context(enum.Enum):
    """Signature contexts: one per kind of signed object."""

    ENTRY = b"hashbank/v1/entry\x00"
    CHARTER = b"hashbank/v1/charter\x00"
    REQUEST = b"hashbank/v1/request\x00"


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (also its key id)."""

    raw: bytes

    def __post_init__(self) -> None:
        if type(self.raw) is not bytes or len(self.raw) != KEY_SIZE:
            raise InvalidValueError(
                f"public key must be {KEY_SIZE} bytes, got {len(self.raw)}", field="key"
            )

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Parse the printable form: 64 lowercase hex characters."""
        return cls(parse_hex(text, KEY_SIZE, "key"))

    def __str__(self) -> str:
        return self.raw.hex()

    def verify(self, context: Context, message: bytes, signature: bytes) -> None:
        """Raise ``BadSignatureError`` unless ``signature`` signs ``context || message``."""
        verify(self.raw, context, message, signature)


class SigningKey:
    """An Ed25519 private key. Its seed never leaves this object except through ``seed``."""

    __slots__ = ("_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if type(seed) is not bytes or len(seed) != KEY_SIZE:
            raise InvalidValueError(f"signing key seed must be {KEY_SIZE} bytes", field="seed")
        self._key = nacl.signing.SigningKey(seed)
        self.public_key = PublicKey(bytes(self._key.verify_key))

    @classmethod
    def generate(cls) -> SigningKey:
        """A new key from the operating system's random source."""
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        """The 32-byte seed, for storing the key in a file readable only by its owner."""
        return bytes(self._key)

    def sign(self, context: Context, message: bytes) -> bytes:
        """The 64-byte signature of ``context || message``."""
        return self._key.sign(context.value + message).signature

    def __repr__(self) -> str:
        return f"SigningKey(public_key={self.public_key})"


# Building a VerifyKey parses and checks the point; feeds reuse a handful of keys, so cache.
_VERIFY_KEYS: dict[bytes, nacl.signing.VerifyKey] = {}
_VERIFY_CACHE_LIMIT = 4096

RAW_FIRST_BYTE = b'"'
"""The first byte of every message ``sign_raw`` and ``verify_raw`` accept (an RFC 9421 base)."""


def verify(key: bytes, context: Context, message: bytes, signature: bytes) -> None:
    """Raise ``BadSignatureError`` unless ``signature`` by ``key`` covers ``context || message``."""
    verifier = _VERIFY_KEYS.get(key)
    if verifier is None:
        verifier = _verifier(key)
    if len(signature) != SIGNATURE_SIZE:
        raise BadSignatureError(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        verifier.verify(context.value + message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as exc:
        raise BadSignatureError(
            f"{context.name.lower()} signature does not verify with key {key.hex()}"
        ) from exc


def sign_raw(key: SigningKey, base: bytes) -> bytes:
    """Sign an RFC 9421 signature base as it is, with no context (RFC 9421 §3.3.6 ``ed25519``).

    For ``protocol.httpsig`` only. ``base`` must start with ``"`` (every base starts with a
    quoted component identifier); anything else raises ``ValueError``, so no message signed
    here can verify as a context signature (those start with ``hashbank/``).
    """
    _check_raw(base)
    signature: bytes = key._key.sign(base).signature
    return signature


def verify_raw(key: PublicKey, base: bytes, signature: bytes) -> None:
    """Raise ``BadSignatureError`` unless ``signature`` by ``key`` covers the RFC 9421 ``base``.

    The counterpart of ``sign_raw``, with the same rule on ``base``'s first byte.
    """
    _check_raw(base)
    verifier = _VERIFY_KEYS.get(key.raw)
    if verifier is None:
        verifier = _verifier(key.raw)
    if len(signature) != SIGNATURE_SIZE:
        raise BadSignatureError(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        verifier.verify(base, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as exc:
        raise BadSignatureError(f"signature does not verify with key {key}") from exc


def _check_raw(base: bytes) -> None:
    if base[:1] != RAW_FIRST_BYTE:
        raise ValueError("an RFC 9421 signature base starts with a quoted component identifier")


def _verifier(key: bytes) -> nacl.signing.VerifyKey:
    try:
        verifier = nacl.signing.VerifyKey(key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise BadSignatureError(f"key {key.hex()} is not a valid Ed25519 key") from exc
    if len(_VERIFY_KEYS) >= _VERIFY_CACHE_LIMIT:
        _VERIFY_KEYS.clear()
    _VERIFY_KEYS[key] = verifier
    return verifier


def org_id_for(first_key: PublicKey) -> OrgId:
    """The org id of an organisation whose first key is ``first_key``."""
    return OrgId(hashlib.sha256(ORG_ID_CONTEXT + first_key.raw).digest())


def parse_hex(text: object, size: int, field: str, *, of: str = "") -> bytes:
    """Parse ``size`` bytes written as lowercase or uppercase hex, naming ``field`` on error.

    ``of`` says what the value is (``"pdq"``) when the field name alone does not.
    """
    name = f"{field} for {of}" if of else field
    if not isinstance(text, str):
        raise InvalidValueError(f"{name} must be a hex string", field=field)
    if len(text) != 2 * size:
        raise InvalidValueError(
            f"{name} must be {2 * size} hex characters, got {len(text)}: {text[:80]!r}",
            field=field,
        )
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    # fromhex skips whitespace, so a right-length string with spaces decodes short.
    if len(raw) != size:
        raise InvalidValueError(f"{field} is not hex: {text[:80]!r}", field=field)
    return raw
