"""Errors a request to the JSON API can meet."""

from __future__ import annotations

from node.errors import NodeError


class ApiError(NodeError):
    """Base of the API's errors."""

    code = "bad_request"


class BadRequestError(ApiError):
    """A request the API cannot act on (bad JSON, missing field, wrong type)."""

    code = "bad_request"


class NotFoundError(ApiError):
    """A request naming something this node does not hold."""

    code = "not_found"
    status_hint = 404


class UnauthenticatedError(ApiError):
    """A request without valid credentials."""

    code = "unauthenticated"
    status_hint = 401


class PayloadTooLargeError(ApiError):
    """A request body, batch or answer over its limit."""

    code = "payload_too_large"
    status_hint = 413
