"""The registry of signal types: the one place that knows what a hash value looks like.

Adding a signal type (``vpdq`` one day) means adding one ``SignalType`` here; entry
validation, the HTTP API and the matcher all read this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol.errors import InvalidValueError, MalformedError
from protocol.identity import parse_hex


class Comparison(enum.Enum):
    """How two values of a signal type are compared."""

    HAMMING = "hamming"
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class SignalType:
    """One kind of hash: its wire name, value size and how values compare."""

    name: str
    size: int
    comparison: Comparison
    default_threshold: int = 0
    max_threshold: int = 0
    description: str = ""

    def parse(self, text: object, field: str = "value") -> bytes:
        """Parse the text form (hex, either case) of a value, naming ``field`` on error."""
        return parse_hex(text, self.size, field, of=self.name)

    def check(self, value: object, field: str = "value") -> bytes:
        """Check a decoded value's type (bytes, else ``MalformedError``) and length."""
        if type(value) is not bytes:
            raise MalformedError(
                f"{field} for {self.name} must be bytes, got {type(value).__name__}", field=field
            )
        if len(value) != self.size:
            raise InvalidValueError(
                f"{field} for {self.name} must be {self.size} bytes, got {len(value)}", field=field
            )
        return value

    def format(self, value: bytes) -> str:
        """The text form of a value: lowercase hex."""
        return value.hex()


# PDQ's published guidance treats distance <= 31 as a match. Beyond 63 (a quarter of the
# bits) unrelated images start to match and the index degrades toward a linear scan, so the
# per-request threshold is capped there.
PDQ = SignalType(
    name="pdq",
    size=32,
    comparison=Comparison.HAMMING,
    default_threshold=31,
    max_threshold=63,
    description="Meta's PDQ perceptual photo hash, 256 bits; Hamming distance",
)
MD5 = SignalType(
    name="md5", size=16, comparison=Comparison.EXACT, description="MD5 of the file bytes"
)
SHA256 = SignalType(
    name="sha256", size=32, comparison=Comparison.EXACT, description="SHA-256 of the file bytes"
)

SIGNAL_TYPES: dict[str, SignalType] = {s.name: s for s in (PDQ, MD5, SHA256)}


def signal_type(name: object, field: str = "signal_type") -> SignalType:
    """Look up a signal type by wire name, naming the known ones on error."""
    found = SIGNAL_TYPES.get(name) if isinstance(name, str) else None
    if found is None:
        known = ", ".join(sorted(SIGNAL_TYPES))
        raise InvalidValueError(
            f"unknown {field} {str(name)[:40]!r}; known signal types: {known}", field=field
        )
    return found
