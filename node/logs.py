"""Readable, structured log lines: ``time level logger message key=value …``."""

from __future__ import annotations

import logging
import sys
import time


class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def untrusted(value: object, limit: int = 200) -> str:
    """``value`` safe for one log line: quoted, control characters escaped, bounded.

    Whatever a client controls (a path, a header, a peer's reason) goes through this, so no
    request can write a line of its own into the log.
    """
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr, one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log would duplicate ours.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
