"""Errors of the web side: console accounts, sessions and forms."""

from __future__ import annotations

from node.errors import NodeError


class WebError(NodeError):
    """Base of the web side's errors."""

    code = "bad_request"


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
