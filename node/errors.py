"""The root of the node's exception hierarchies, and the shared modules' own errors.

Each package has its own hierarchy under ``NodeError`` (``node.api.errors``,
``node.replica.errors``, ``node.store.errors`` …); errors about a request's content come from
``protocol.errors``. Every error has a stable ``code`` and an HTTP ``status_hint`` (as h11's
``ProtocolError.error_status_hint``), so the API maps each one to a response in one place.
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of the node's own errors."""

    code = "node_error"
    status_hint = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(NodeError):
    """A missing, unreadable or invalid configuration or data directory."""

    code = "config_error"


class RateLimitedError(NodeError):
    """A caller over its request budget."""

    code = "rate_limited"
    status_hint = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeoutError(NodeError):
    """A request body that did not arrive in time."""

    code = "request_timeout"
    status_hint = 408
