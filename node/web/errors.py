"""Errors of the web side: the self-service endpoints' refusals, catalogue problems, and the
console's accounts, sessions and forms.

``node.api.app``'s error middleware turns each into ``{"error": {"code", "message"}}`` with
the status it hints; the pages' scripts word them from the catalogue by ``code``.
"""

from __future__ import annotations

from node.errors import ConfigError, NodeError, RateLimitedError


class WebError(NodeError):
    """Base of the web side's errors."""

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


class PasswordPolicyError(WebError):
    """A password that may not be chosen (too short, too long, control characters)."""

    code = "weak_password"


class AccountError(WebError):
    """An account request that cannot be carried out (bad name, unknown role)."""

    code = "bad_account"


class UnknownUserError(WebError):
    """An operator's request naming an account that does not exist."""

    code = "unknown_user"
    status_hint = 404


class UserExistsError(WebError):
    """An account name already taken."""

    code = "user_exists"
    status_hint = 409


class LoginFailedError(WebError):
    """A name and password that do not log in: the same answer whichever was wrong."""

    code = "login_failed"
    status_hint = 401

    def __init__(self, locked: bool = False) -> None:
        super().__init__(
            "too many failed logins for this name; wait a while and try again"
            if locked
            else "that name and password do not match"
        )
        self.locked = locked


class NotLoggedInError(WebError):
    """A console request without a live session (none, expired, ended)."""

    code = "not_logged_in"
    status_hint = 401

    def __init__(self, message: str = "log in first (your session may have expired)") -> None:
        super().__init__(message)


class ForbiddenError(WebError):
    """A logged-in user asking for what their role does not allow."""

    code = "forbidden"
    status_hint = 403


class CsrfError(WebError):
    """A state-changing console request without a valid form token or from another origin."""

    code = "csrf_failed"
    status_hint = 403


class PasswordChangeRequiredError(ForbiddenError):
    """A user who must change the password the operator set before doing anything else."""

    code = "password_change_required"


class PageTooLargeError(WebError):
    """A page of results asked for beyond its maximum size."""

    code = "payload_too_large"
    status_hint = 413
