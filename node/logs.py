"""Log lines: readable ``time level logger message key=value …`` by default, or JSON.

Messages name their fields in the format string (``"request method=%s status=%d"``). In JSON
mode (``hashbank run --log-format json``, or ``[log] format = "json"``) each line is one JSON
object with ``time``, ``level``, ``logger``, ``message`` (the text without its fields) and
each ``key=%x`` as a member of its own, numbers as numbers; values are JSON-escaped by
construction (the Unicode line breaks JSON allows raw included), so no client-controlled text
can forge a line there either.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from typing import Any

FORMATS = ("text", "json")
# One printf conversion, optionally preceded by "key=" (a field).
_CONVERSION = re.compile(
    r"(?:(?P<key>[A-Za-z_][A-Za-z0-9_]*)=)?"
    r"%(?P<spec>[-#0 +]*\d*(?:\.\d+)?[hlL]?[diouxXeEfFgGcrsa%])"
)
# Line breaks json.dumps leaves as they are (ensure_ascii=False), as JSON escapes.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
# Members every JSON line has; a field of the same name gets a "field_" prefix.
_RESERVED = frozenset({"time", "level", "logger", "message", "exception"})


class Untrusted(str):
    """A client-controlled value: quoted in text lines, its plain text kept for JSON ones."""

    raw: str

    def __new__(cls, text: str) -> Untrusted:
        quoted = super().__new__(cls, repr(text))
        quoted.raw = text
        return quoted


def untrusted(value: object, limit: int = 200) -> str:
    """``value`` safe for one log line: quoted, control characters escaped, bounded.

    Whatever a client controls (a path, a header, a peer's reason) goes through this, so no
    request can write a line of its own into the log.
    """
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return Untrusted(text)


def _stamp(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _stamp(record)


def _field_value(spec: str, arg: object) -> object:
    """A field's value for JSON: numbers stay numbers (as formatted), text stays text."""
    kind = spec[-1]
    if isinstance(arg, Untrusted):
        return arg.raw
    if arg is None or isinstance(arg, bool):
        return arg
    if kind in "di" and isinstance(arg, int):
        return arg
    if kind in "eEfFgG" and isinstance(arg, int | float) and math.isfinite(arg):
        return float(("%" + spec) % arg)
    if kind == "s":
        return str(arg)
    if kind == "r":
        return repr(arg)
    try:
        return ("%" + spec) % (arg,)
    except (TypeError, ValueError):  # a mismatched call: keep the value rather than fail
        return str(arg)


def split_fields(msg: str, args: tuple[Any, ...]) -> tuple[str, dict[str, object]]:
    """A log call's free text (fields removed, formatted) and its ``key=value`` fields."""
    fields: dict[str, object] = {}
    kept_args: list[object] = []
    pieces: list[str] = []
    position, index = 0, 0
    for m in _CONVERSION.finditer(msg):
        pieces.append(msg[position : m.start()])
        position = m.end()
        spec = m.group("spec")
        if spec == "%":
            pieces.append(m.group(0))
            continue
        arg = args[index] if index < len(args) else None
        index += 1
        key = m.group("key")
        if key is None:
            pieces.append(m.group(0))
            kept_args.append(arg)
            continue
        fields[f"field_{key}" if key in _RESERVED else key] = _field_value(spec, arg)
    pieces.append(msg[position:])
    template = re.sub(r"\s{2,}", " ", "".join(pieces)).strip()
    try:
        text = template % tuple(kept_args) if kept_args or "%" in template else template
    except (TypeError, ValueError):
        text = template
    return text, fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        message, fields = self._split(record)
        doc: dict[str, object] = {
            "time": _stamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            **fields,
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        line = json.dumps(doc, ensure_ascii=False, default=str, separators=(",", ":"))
        # JSON escapes every C0 control, but NEL and the Unicode line and paragraph separators
        # pass as they are, and many readers (Python's splitlines among them) break lines there.
        return line.translate(_LINE_BREAKS)

    @staticmethod
    def _split(record: logging.LogRecord) -> tuple[str, dict[str, object]]:
        args = record.args
        if isinstance(record.msg, str) and isinstance(args, tuple):
            try:
                return split_fields(record.msg, args)
            except (TypeError, ValueError):
                pass
        try:
            return record.getMessage(), {}
        except (TypeError, ValueError):
            return f"{record.msg} {record.args!r}", {}


def setup_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Log to stderr, one line per event, readable (``text``) or as JSON objects."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log would duplicate ours.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
