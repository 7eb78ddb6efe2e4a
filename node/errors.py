"""The node's exception hierarchy.

Errors about a request's content come from ``protocol.errors``; these are the node's own
conditions (configuration, storage, local files). Each has a stable ``code`` and an HTTP status
so the server maps every error to a response in one place.
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of the node's own errors."""

    code = "node_error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(NodeError):
    """A missing, unreadable or invalid configuration or data directory."""

    code = "config_error"


class StoreError(NodeError):
    """A store that cannot be opened safely (damaged, newer schema, locked)."""

    code = "store_error"
    status = 503


class HashingError(NodeError):
    """A local file that cannot be hashed (unreadable, not an image for PDQ)."""

    code = "hashing_error"


class BadRequestError(NodeError):
    """A request the API cannot act on (bad JSON, missing field, wrong type)."""

    code = "bad_request"


class NotFoundError(NodeError):
    """A request naming something this node does not hold."""

    code = "not_found"
    status = 404


class ForbiddenError(NodeError):
    """A request for something its caller may not do (revoking another author's entry)."""

    code = "forbidden"
    status = 403


class UnauthenticatedError(NodeError):
    """A request without valid credentials."""

    code = "unauthenticated"
    status = 401


class ConflictError(NodeError):
    """A request that conflicts with the current state (revoking what is already revoked)."""

    code = "conflict"
    status = 409


class PayloadTooLargeError(NodeError):
    """A request body or batch over its limit."""

    code = "payload_too_large"
    status = 413


class UnavailableError(NodeError):
    """A request the node cannot serve right now (retry later)."""

    code = "unavailable"
    status = 503


class RateLimitedError(NodeError):
    """A caller over its request budget."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
