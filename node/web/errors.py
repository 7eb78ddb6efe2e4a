"""Errors of the web app: the self-service endpoints' refusals and catalogue problems.

``node.api.app``'s error middleware turns each into ``{"error": {"code", "message"}}`` with
the status it hints; the pages' scripts word them from the catalogue by ``code``.
"""

from __future__ import annotations

from node.errors import ConfigError, NodeError, RateLimitedError


class WebError(NodeError):
    """Base of the web app's errors."""

    code = "bad_request"


class CatalogueError(ConfigError):
    """A message catalogue that is missing, unreadable or incomplete."""

    code = "catalogue_error"


class BadInputError(WebError):
    """A self-service request the node cannot act on (bad JSON, wrong shape, bad hash)."""

    code = "bad_request"


class SelfServiceOffError(WebError):
    """Self-service on a node that does not offer it (a subscriber, or turned off)."""

    code = "self_service_off"
    status_hint = 404

    def __init__(self) -> None:
        super().__init__("this node does not offer self-service")


class CrossOriginError(WebError):
    """A request from another site's page (CSRF), refused."""

    code = "cross_origin"
    status_hint = 403


class MediaTypeError(WebError):
    """A body that is not ``application/json``."""

    code = "unsupported_media_type"
    status_hint = 415


class BodyTooLargeError(WebError):
    """A body or a list over its limit."""

    code = "payload_too_large"
    status_hint = 413


class CaseLockedError(WebError):
    """Too many wrong PINs for this case number: locked for a while (unknown numbers too)."""

    code = "case_locked"
    status_hint = 403

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            f"too many attempts for this case number; try again in {retry_after_s:.0f} s"
        )
        self.retry_after_s = retry_after_s


class SelfRateLimitedError(RateLimitedError):
    """A client over its self-service budget (answered with Retry-After)."""

    code = "rate_limited"
