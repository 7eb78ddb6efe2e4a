"""Console sessions: server-side records, a cookie holding only a random token, ``require_login``.

The cookie carries 256 random bits; the store keeps only their SHA-256, so a copy of the store
opens no session. A session ends at logout (its record is deleted), after ``idle`` without a
request, at its absolute ``lifetime`` however busy, or when the operator disables or resets
its account (the records are deleted in that transaction). The cookie is ``HttpOnly``,
``SameSite=Strict``, ``Path=/console`` and ``Secure`` whenever the console is served over TLS.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from node.clock import Clock
from node.store import SessionRow, Store, Transaction
from node.web.accounts import CASEWORKER, User, allows
from node.web.audit import Action, AuditLog
from node.web.errors import ForbiddenError, NotLoggedInError, PasswordChangeRequiredError

COOKIE = "hb_session"
COOKIE_PATH = "/console"
# A request refreshes its session's last-seen time at most this often (each refresh is a
# committed write); the idle timeout is therefore exact to within this much.
TOUCH_MS = 60_000
REQUEST_KEY: web.RequestKey[Session | None] = web.RequestKey("console_session")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Session:
    """A live console session and its user."""

    token_hash: bytes
    csrf: str
    user: User
    created_ms: int
    last_seen_ms: int
    expires_ms: int


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Sessions:
    """Starting, finding and ending console sessions."""

    def __init__(
        self, store: Store, clock: Clock, audit: AuditLog, *, idle_ms: int, lifetime_ms: int
    ) -> None:
        self.store = store
        self.clock = clock
        self.audit = audit
        self.idle_ms = idle_ms
        self.lifetime_ms = lifetime_ms

    async def start(self, user: User, client: str) -> tuple[str, Session]:
        """A new session for ``user`` (just authenticated): its cookie token and record."""
        token = secrets.token_urlsafe(32)
        digest, csrf = token_hash(token), secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        expires = now + self.lifetime_ms

        async def work(txn: Transaction) -> None:
            await txn.add_session(digest, user.user_id, csrf, now, expires)
            await self.audit.write(txn, user.name, Action.LOGIN, user.name, {"client": client})

        await self.store.transaction(work)
        return token, Session(digest, csrf, user, now, now, expires)

    async def find(self, token: str | None) -> Session | None:
        """The live session of a cookie's token; a dead one's record is deleted on the way."""
        if not token or len(token) > 100:
            return None
        row = await self.store.session_by_hash(token_hash(token))
        if row is None:
            return None
        now = self.clock.now_ms()
        if self._dead(row, now):
            await self._delete(row.token_hash)
            return None
        if now - row.last_seen_ms >= TOUCH_MS:
            await self._touch(row.token_hash, now)
            return _session(row, now)
        return _session(row, row.last_seen_ms)

    def _dead(self, row: SessionRow, now: int) -> bool:
        return (
            row.user.disabled
            or now >= row.expires_ms
            or now - row.last_seen_ms >= self.idle_ms
            or now < row.created_ms - 60_000  # the clock went back a long way: trust nothing
        )

    async def end(self, session: Session) -> None:
        """Log out: delete the record, with the audit line."""

        async def work(txn: Transaction) -> None:
            await txn.end_session(session.token_hash)
            await self.audit.write(txn, session.user.name, Action.LOGOUT, session.user.name)

        await self.store.transaction(work)

    async def sweep(self) -> int:
        """Delete the records of sessions that have died unseen; returns how many."""
        now = self.clock.now_ms()

        async def work(txn: Transaction) -> int:
            return await txn.end_stale_sessions(now - self.idle_ms, now)

        return await self.store.transaction(work)

    async def _delete(self, digest: bytes) -> None:
        async def work(txn: Transaction) -> None:
            await txn.end_session(digest)

        await self.store.transaction(work)

    async def _touch(self, digest: bytes, now: int) -> None:
        async def work(txn: Transaction) -> None:
            await txn.touch_session(digest, now)

        await self.store.transaction(work)


def _session(row: SessionRow, seen: int) -> Session:
    return Session(
        row.token_hash, row.csrf, User.of(row.user), row.created_ms, seen, row.expires_ms
    )


def set_cookie(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    """The session cookie: no Max-Age, so closing the browser forgets it too."""
    response.set_cookie(
        COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="Strict", secure=secure
    )


def clear_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    response.del_cookie(COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="Strict")


def current_session(request: web.Request) -> Session | None:
    """The session the console middleware found for this request, if any."""
    return request.get(REQUEST_KEY)


def logged_in(request: web.Request) -> Session:
    session = current_session(request)
    if session is None:
        raise NotLoggedInError()
    return session


def require_login(
    role: str = CASEWORKER, *, before_password_change: bool = False
) -> Callable[[Handler], Handler]:
    """A handler only a logged-in user of ``role`` (or an operator) may reach.

    A user whose password the operator set must change it first: until then only handlers
    marked ``before_password_change`` answer.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = logged_in(request)
            if not allows(session.user.role, role):
                raise ForbiddenError(f"this needs the {role} role")
            if session.user.must_change and not before_password_change:
                raise PasswordChangeRequiredError(
                    "change your password first (POST /console/password)"
                )
            return await handler(request)

        return guarded

    return wrap
