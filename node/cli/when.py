"""Times on the command line: printed as UTC dates, read as ISO 8601 dates or durations."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from node.cli.errors import UsageError

UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")


def date(ms: int | None) -> str:
    """``2026-11-25 21:14:41 UTC`` for epoch milliseconds (``never`` for none)."""
    if not ms:
        return "never"
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """``3 d 4 h``, ``5 min``, ``12 s``: the two largest units."""
    left = int(seconds)
    parts: list[str] = []
    for name, size in (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size or (size == 1 and not parts):
            parts.append(f"{left // size} {name}")
            left %= size
    return " ".join(parts[:2])


def parse_when(text: str, now_ms: int, what: str) -> int:
    """Epoch ms for ``2027-06-01``, ``2027-06-01T12:00:00+02:00`` (UTC if no zone) or ``90d``.

    A duration (``s``, ``m``, ``h``, ``d``, ``w``; combined as ``1w3d``) counts from now.
    """
    value = text.strip()
    if re.fullmatch(r"(\d+\s*[smhdw]\s*)+", value):
        seconds = sum(int(n) * UNITS_S[unit] for n, unit in _DURATION.findall(value))
        return now_ms + seconds * 1000
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what}: {text!r} is neither a date (2027-06-01, 2027-06-01T12:00Z) nor a "
            "duration (90d, 12h, 2w)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


# Keys of the API's JSON that hold points in time (epoch ms), not durations.
TIME_KEYS = frozenset(
    {"effective_ms", "detected_ms", "timestamp_ms", "received_ms", "expires_ms", "since_ms"}
    | {"last_ok_ms", "advanced_ms"}
)


def with_dates(doc: Any) -> Any:
    """``doc`` with a date beside every epoch-ms time (``effective`` for ``effective_ms``).

    For JSON the CLI prints for people; keys already there are kept as they are.
    """
    if isinstance(doc, list):
        return [with_dates(x) for x in doc]
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out[key] = with_dates(value)
        if key in TIME_KEYS and isinstance(value, int) and key[:-3] not in doc:
            out[key[:-3]] = date(value)
    return out
