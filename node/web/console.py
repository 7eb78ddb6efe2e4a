"""The console's back end: its parts, the one middleware under ``/console``, login and logout.

``console_middleware`` runs for every request under ``/console``: it finds the request's
session, and for every state-changing method (anything but GET, HEAD, OPTIONS) checks the
origin and the CSRF token before any handler runs. Errors on pages become a short page;
under ``/console/api/`` they stay the API's JSON errors.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

from node.clock import Clock
from node.errors import NodeError, RateLimitedError
from node.logs import untrusted
from node.store import Store
from node.web import login_page, views
from node.web.accounts import OPERATOR, Accounts
from node.web.audit import Action, AuditLog
from node.web.csrf import (
    LOGIN_COOKIE,
    LOGIN_COOKIE_MAX_AGE,
    SAFE_METHODS,
    LoginTokens,
    check_token,
    read_form,
    submitted_token,
)
from node.web.errors import LoginFailedError, NotLoggedInError, PageTooLargeError, WebError
from node.web.origin import Listener, check_origin
from node.web.sessions import (
    COOKIE,
    REQUEST_KEY,
    Handler,
    Sessions,
    clear_cookie,
    current_session,
    logged_in,
    require_login,
    set_cookie,
)
from node.web.throttle import LoginGuard

log = logging.getLogger("hashbank.console")
PREFIX = "/console"
API_PREFIX = "/console/api/"
LOGIN_PATH = "/console/login"
HOME_PATH = "/console/"
MAX_AUDIT_PAGE = 1000
REFERRER_POLICY = "same-origin"  # other sites learn nothing; our own posts carry Origin


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The console's settings (``[console]`` and ``[listen]`` of the config)."""

    idle_ms: int = 30 * 60_000
    lifetime_ms: int = 12 * 3_600_000
    listener: Listener = field(default_factory=Listener)
    caseworkers: bool = True  # publisher nodes; a subscriber's console has operators only


class Console:
    """Accounts, sessions, the audit log and the login throttles of one node."""

    def __init__(self, store: Store, clock: Clock, settings: ConsoleSettings) -> None:
        self.clock = clock
        self.settings = settings
        self.audit = AuditLog(store, clock)
        self.guard = LoginGuard(clock)
        self.accounts = Accounts(
            store, clock, self.audit, self.guard, caseworkers=settings.caseworkers
        )
        self.sessions = Sessions(
            store, clock, self.audit, idle_ms=settings.idle_ms, lifetime_ms=settings.lifetime_ms
        )
        self.login_tokens = LoginTokens()
        # Login outcomes since start (ok, bad_credentials, locked, throttled), for /metrics.
        self.logins: collections.Counter[str] = collections.Counter()

    @property
    def listener(self) -> Listener:
        return self.settings.listener


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)


def _redirect(location: str) -> web.Response:
    """303 See Other: after a form post the browser fetches ``location`` with GET."""
    return web.Response(status=303, headers={"Location": location})


def _under_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, origin and CSRF checks for everything under /console, in one place."""
    if not _under_console(request.path):
        return await handler(request)
    console = request.app[CONSOLE]
    api = request.path.startswith(API_PREFIX)
    try:
        response = await _guarded(request, handler, console)
    except NotLoggedInError:
        if api or request.method not in SAFE_METHODS:
            raise
        response = _redirect(f"{LOGIN_PATH}?{urlencode({'next': request.path})}")
    except (WebError, NodeError) as exc:
        if api:
            raise
        response = login_page.error_page(request, exc.status_hint, exc.code, exc.message)
        if isinstance(exc, RateLimitedError):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    except web.HTTPException as exc:
        if api or exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else "http"
        response = login_page.error_page(request, exc.status, code, exc.text or exc.reason)
    response.headers["Cache-Control"] = "no-store"
    # Not the web app's "no-referrer": under it browsers send "Origin: null" with the
    # console's own form posts, and the origin check must see the console's origin.
    response.headers["Referrer-Policy"] = REFERRER_POLICY
    return response


async def _guarded(request: web.Request, handler: Handler, console: Console) -> web.StreamResponse:
    session = await console.sessions.find(request.cookies.get(COOKIE))
    request[REQUEST_KEY] = session
    if request.method not in SAFE_METHODS:
        check_origin(request, console.listener)
        sent = await submitted_token(request)
        if session is not None:
            check_token(session.csrf, sent)
        elif request.path == LOGIN_PATH:
            console.login_tokens.check(request.cookies.get(LOGIN_COOKIE), sent)
        else:
            raise NotLoggedInError()
    return await handler(request)


# --- logging in and out ----------------------------------------------------------------------


def _safe_next(value: object) -> str:
    """Where to go after logging in: only a console path (never another site)."""
    text = value if isinstance(value, str) else ""
    if text.startswith(HOME_PATH) and not text.startswith("//") and "\\" not in text:
        return text[:500]
    return HOME_PATH


def _login_form(
    request: web.Request,
    *,
    key: str | None = None,
    message: str | None = None,
    status: int = 200,
    next_path: str = "",
) -> web.Response:
    console = request.app[CONSOLE]
    cookie = request.cookies.get(LOGIN_COOKIE) or LoginTokens.new_cookie()
    response = login_page.login_form(
        request,
        console.login_tokens.token(cookie),
        next_path=next_path,
        message_key=key,
        message=message,
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        path=LOGIN_PATH,
        max_age=LOGIN_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Strict",
        secure=console.listener.tls(request),
    )
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    if current_session(request) is not None:
        return _redirect(_safe_next(request.query.get("next")))
    return _login_form(request, next_path=_safe_next(request.query.get("next")))


async def login_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await read_form(request)
    name, password = form.get("name"), form.get("password")
    next_path = _safe_next(form.get("next"))
    if not isinstance(name, str) or not isinstance(password, str):
        return _login_form(
            request, key="console.error.login_missing", message="enter your name and password",
            status=400,
        )  # fmt: skip
    client = console.listener.client(request)
    try:
        user = await console.accounts.authenticate(name, password, client)
    except LoginFailedError as exc:
        console.logins["locked" if exc.locked else "bad_credentials"] += 1
        log.info("console login failed client=%s", untrusted(client))
        key = "console.error.login_locked" if exc.locked else "console.error.login_failed"
        return _login_form(request, key=key, message=exc.message, status=401, next_path=next_path)
    except RateLimitedError as exc:
        console.logins["throttled"] += 1
        response = _login_form(
            request, key="console.error.rate_limited", message=exc.message, status=429,
            next_path=next_path,
        )  # fmt: skip
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    console.logins["ok"] += 1
    token, _ = await console.sessions.start(user, client)
    log.info("console login user=%s client=%s", untrusted(user.name), untrusted(client))
    tls = console.listener.tls(request)
    response = _redirect(next_path)
    set_cookie(response, token, secure=tls)
    response.del_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@require_login(before_password_change=True)
async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = logged_in(request)
    await console.sessions.end(session)
    response = _redirect(LOGIN_PATH)
    clear_cookie(response, secure=console.listener.tls(request))
    return response


# --- the user's own: where to start, changing the password ---------------------------------


@require_login(before_password_change=True)
async def home(request: web.Request) -> web.StreamResponse:
    """The console's front door: the password first if it must change, else the user's work."""
    session = logged_in(request)
    if session.user.must_change:
        return _redirect("/console/password")
    if session.user.role == OPERATOR:
        return _redirect("/console/node")
    return _redirect("/console/cases")


# The password errors' catalogue keys, by the start of their (English) message.
_PASSWORD_ERRORS = (
    ("a password needs at least", "console.error.password_short"),
    ("a password has at most", "console.error.password_long"),
    ("a password cannot contain", "console.error.password_control"),
    ("the current password is not right", "console.error.password_current"),
    ("the new password must differ", "console.error.password_same"),
)


@require_login(before_password_change=True)
async def password_get(request: web.Request) -> web.StreamResponse:
    session = logged_in(request)
    return login_page.password_form(request, session.csrf, required=session.user.must_change)


@require_login(before_password_change=True)
async def password_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = logged_in(request)
    form = await read_form(request)
    current, new = form.get("current"), form.get("new")
    required = session.user.must_change
    if not isinstance(current, str) or not isinstance(new, str):
        return login_page.password_form(
            request, session.csrf, required=required, message_key="console.error.password_both",
            message="fill in both", status=400,
        )  # fmt: skip
    try:
        await console.accounts.change_password(session.user, current, new, session.token_hash)
    except WebError as exc:
        key = next((k for start, k in _PASSWORD_ERRORS if exc.message.startswith(start)), None)
        return login_page.password_form(
            request, session.csrf, required=required, message_key=key, message=exc.message,
            status=400,
        )  # fmt: skip
    return _redirect(HOME_PATH)


# --- JSON for the console's scripts (and the tests) ----------------------------------------


@require_login(before_password_change=True)
async def api_me(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    now = console.clock.now_ms()
    return web.json_response(views.me_view(logged_in(request), console.settings.idle_ms, now))


@require_login(OPERATOR)
async def api_audit(request: web.Request) -> web.StreamResponse:
    """``?before=&limit=&actor=&action=``: the audit log, newest first (operators only)."""
    doc = await audit_page(request.app[CONSOLE], audit_query(request))
    return web.json_response(doc)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What an audit read asks for (``?before=&limit=&actor=&action=``)."""

    before: int | None
    limit: int
    actor: str | None
    action: str | None


def audit_query(request: web.Request) -> AuditQuery:
    """The audit read's parameters, or a 400 (413 for a limit too large) naming the bad one."""
    q = request.query
    before = _whole(q.get("before"), "before", minimum=0)
    limit = _whole(q.get("limit"), "limit", minimum=1)
    limit = 100 if limit is None else limit
    if limit > MAX_AUDIT_PAGE:
        raise PageTooLargeError(f"limit must be at most {MAX_AUDIT_PAGE}, got {limit}")
    action = q.get("action") or None  # an empty form field filters nothing
    if action is not None and action not in set(Action):
        raise WebError(f"action must be one of {', '.join(Action)}, got {action[:40]!r}")
    return AuditQuery(before, limit, q.get("actor") or None, action)


def _whole(text: str | None, name: str, *, minimum: int) -> int | None:
    if text is None:
        return None
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= minimum:
        return int(text)
    raise WebError(f"{name} must be a whole number of at least {minimum}, got {text[:40]!r}")


async def audit_page(console: Console, query: AuditQuery) -> dict[str, object]:
    """A page of the audit log as JSON, for the console and the operator API alike."""
    entries = await console.audit.page(
        before_id=query.before, limit=query.limit + 1, actor=query.actor, action=query.action
    )
    return views.audit_view(entries[: query.limit], len(entries) > query.limit)
