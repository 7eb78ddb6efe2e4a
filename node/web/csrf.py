"""CSRF tokens for the console's forms (a synchroniser token per session, one for login).

A logged-in user's forms carry their session's token (``csrf_token`` field, or the
``X-CSRF-Token`` header for scripts); the login form, which has no session yet, carries an
HMAC of a random cookie set with the form, under a key that lives only in this process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from aiohttp import web
from multidict import MultiDictProxy

from node.errors import RequestTimeoutError
from node.limits import BODY_TIMEOUT
from node.web.errors import CsrfError

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
LOGIN_COOKIE = "hb_login"
LOGIN_COOKIE_MAX_AGE = 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def submitted_token(request: web.Request) -> str | None:
    """The token a request carries: the header, else the form field (the form is cached)."""
    if header := request.headers.get(HEADER):
        return header
    if request.content_type in FORM_TYPES:
        value = (await read_form(request)).get(FIELD)
        return value if isinstance(value, str) else None
    return None


async def read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form (aiohttp keeps it for the handler), within the slow-client limit."""
    seconds = request.config_dict.get(BODY_TIMEOUT, 30.0)
    try:
        async with asyncio.timeout(seconds):
            return await request.post()
    except TimeoutError:
        raise RequestTimeoutError(f"the form did not arrive within {seconds:g} s") from None


def check_token(expected: str, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError("this form has expired or was not sent from the console; reload the page")


class LoginTokens:
    """Tokens for the login form, bound to a random cookie set with it."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def token(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def check(self, cookie: str | None, sent: str | None) -> None:
        if not cookie or len(cookie) > 100:
            raise CsrfError("the login form has expired; reload the page and try again")
        check_token(self.token(cookie), sent)
