"""The protocol's one exception hierarchy.

Every error carries a stable machine-readable ``code`` (used verbatim in HTTP error bodies and
rejection counters), a ``status_hint`` (the HTTP status a server should answer with when the
error is about a request it received) and a message that names what was wrong and with which
input. docs/protocol.md §6.2 lists every code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocol.charter import CharterForkProof


class ProtocolError(Exception):
    """Base of every error the protocol core raises about its input."""

    code = "protocol_error"
    # Input the sender got wrong: 400 unless a subclass knows better (like h11's hint).
    status_hint = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class MalformedError(ProtocolError):
    """Bytes that are not a well-formed object of the expected shape (or a field's type)."""

    code = "malformed"


class NonCanonicalError(MalformedError):
    """Well-formed msgpack of allowed types that is not the one canonical encoding."""

    code = "non_canonical"


class TooLargeError(ProtocolError):
    """An object or a collection over its documented size limit."""

    code = "too_large"
    status_hint = 413


class UnsupportedVersionError(ProtocolError):
    """A protocol or document version this implementation does not know."""

    code = "unsupported_version"


class UnknownKindError(ProtocolError):
    """An entry kind this implementation does not know."""

    code = "unknown_kind"


class InvalidValueError(ProtocolError):
    """A field of the right type whose value breaks a rule (bad signal type, wrong length...)."""

    code = "invalid_value"


class BadSignatureError(ProtocolError):
    """A signature that does not verify with the stated key."""

    code = "bad_signature"


class BodyMismatchError(ProtocolError):
    """A body whose digest is not the one the signed header commits to."""

    code = "body_mismatch"


class TimestampError(ProtocolError):
    """An author timestamp too far in the future, or earlier than its predecessor's."""

    code = "bad_timestamp"


class BrokenChainError(ProtocolError):
    """An entry that does not continue its author's feed (gap, wrong prev, bad seq)."""

    code = "broken_chain"


class ForkError(ProtocolError):
    """Two different, validly signed entries at the same author and seq."""

    code = "fork"
    # Not the sender's mistake as such (it may only relay the fork), but a conflict.
    status_hint = 409

    def __init__(self, message: str, proof: object) -> None:
        super().__init__(message)
        self.proof = proof


class UnauthorizedError(ProtocolError):
    """A key or organisation that may not do what the object asks (charter rules)."""

    code = "unauthorized"
    status_hint = 403


class CharterError(ProtocolError):
    """A charter version that breaks the charter chain rules."""

    code = "charter_invalid"


class CharterForkError(CharterError):
    """Two different, validly signed charter versions with the same number."""

    code = "charter_fork"
    status_hint = 409

    def __init__(self, message: str, proof: CharterForkProof) -> None:
        super().__init__(message)
        self.proof = proof


class AuthError(ProtocolError):
    """A node-to-node request whose signature, time window or nonce is not acceptable."""

    code = "auth_failed"
    status_hint = 401


def error_for_code(code: str, message: str) -> ProtocolError:
    """The error a ``code`` names, with ``message`` (for verdicts reported by another process)."""
    pending: list[type[ProtocolError]] = [ProtocolError]
    while pending:
        cls = pending.pop()
        if cls.code == code and cls.__init__ is ProtocolError.__init__:
            return cls(message)
        pending += cls.__subclasses__()
    raise ValueError(f"no protocol error has the code {code!r}")
