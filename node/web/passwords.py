"""Console passwords: a slow, salted KDF (scrypt) whose parameters travel with each hash.

A stored record reads ``scrypt$ln=15,r=8,p=1$<salt>$<hash>`` (salt and hash unpadded
URL-safe base64), so the cost can be raised later: a record made with weaker parameters than
``CURRENT`` still verifies, and ``needs_rehash`` tells the caller to store a fresh one at the
next successful login. Checks compare in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from node.web.errors import PasswordPolicyError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # scrypt takes any length; this bounds the work a request can ask for
SALT_BYTES = 16
HASH_BYTES = 32
# Crockford's base32 without look-alikes: one-time passwords are read out or copied by hand.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Params:
    """scrypt's cost: n = 2**ln, block size r, parallelism p."""

    ln: int
    r: int
    p: int

    @property
    def maxmem(self) -> int:
        # scrypt needs 128 * r * n bytes; allow twice that.
        return 256 * self.r * (1 << self.ln) + 1024 * 1024

    def text(self) -> str:
        return f"ln={self.ln},r={self.r},p={self.p}"


# 32 MiB and roughly 50-150 ms per check on a current CPU core.
CURRENT = Params(ln=15, r=8, p=1)


@dataclass(frozen=True, slots=True)
class PasswordRecord:
    """A stored password: the KDF, its parameters, the salt and the derived key."""

    params: Params
    salt: bytes
    digest: bytes

    def text(self) -> str:
        return f"scrypt${self.params.text()}${_b64(self.salt)}${_b64(self.digest)}"

    @classmethod
    def parse(cls, text: str) -> PasswordRecord:
        """Read a stored record; a damaged one raises ValueError (and so never verifies)."""
        kdf, params, salt, digest = text.split("$")
        if kdf != "scrypt":
            raise ValueError(f"unknown password KDF {kdf!r}")
        fields = dict(part.split("=", 1) for part in params.split(","))
        parsed = Params(int(fields["ln"]), int(fields["r"]), int(fields["p"]))
        if not (10 <= parsed.ln <= 22 and 1 <= parsed.r <= 32 and 1 <= parsed.p <= 16):
            raise ValueError(f"scrypt parameters out of range: {params}")
        return cls(parsed, _unb64(salt), _unb64(digest))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: Params) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=1 << params.ln,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=HASH_BYTES,
    )


def hash_password(password: str, params: Params = CURRENT) -> str:
    """A stored record for ``password`` with a fresh salt (slow: call it on a thread)."""
    salt = secrets.token_bytes(SALT_BYTES)
    return PasswordRecord(params, salt, _derive(password, salt, params)).text()


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (slow, constant-time compare)."""
    try:
        record = PasswordRecord.parse(stored)
    except (ValueError, KeyError):
        record = None
    if record is None or len(password) > MAX_LENGTH:
        dummy()  # as slow as a real check, so a damaged record looks like a wrong password
        return False
    return hmac.compare_digest(_derive(password, record.salt, record.params), record.digest)


_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)


def dummy() -> None:
    """A check's worth of work for an account that does not exist."""
    _derive("", _DUMMY_SALT, CURRENT)


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than ``CURRENT``."""
    try:
        return PasswordRecord.parse(stored).params != CURRENT
    except (ValueError, KeyError):
        return True


def check_policy(password: str) -> str:
    """``password`` if it may be chosen; else a PasswordPolicyError saying why."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"a password has at most {MAX_LENGTH} characters")
    if not password.isprintable():
        raise PasswordPolicyError("a password cannot contain control characters")
    return password


def one_time_password() -> str:
    """A fresh password for the operator to hand over: 20 base32 characters, 100 bits."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(20))
    return "-".join(chars[i : i + 5] for i in range(0, 20, 5))
