"""The aiohttp application: its middlewares (errors, auth, request log) and its one route table.

Every error becomes a JSON body ``{"error": {"code", "message"}}`` here and only here, with the
status its class hints (``status_hint``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from node.api import bank, charter, feedback, health, metrics, platform, probes, stream, users
from node.api.context import API_LIMIT, GOSSIP, GUARD, NODE, PEER_LIMIT, TOKEN, json_response
from node.api.errors import UnauthenticatedError
from node.api.metrics import METRICS, Metrics
from node.api.probes import LIFECYCLE, Lifecycle
from node.errors import NodeError, RateLimitedError
from node.federation.gossip import Gossip
from node.federation.routes import make_peer_app
from node.limits import BODY_TIMEOUT, ConnectionGuard, RateLimiter
from node.logs import untrusted
from node.matching.errors import MatchingError
from node.replica.node import Node
from node.web.console import Console, ConsoleSettings, console_middleware
from node.web.console_routes import add_console
from node.web.origin import Listener
from node.web.routes import SELF_SERVICE_PATHS, add_web_routes
from protocol.errors import ProtocolError

log = logging.getLogger("hashbank.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The one route table: (method, path, handler, open to anyone).
ROUTES: tuple[tuple[str, str, Handler, bool], ...] = (
    # Names members, peers, activity and counters: the operator's only (the open health
    # answers are /healthz and /readyz).
    ("GET", "/v1/status", health.status, False),
    ("POST", "/v1/hashes", bank.submit, False),
    ("GET", "/v1/hashes", platform.active_hashes, False),
    ("POST", "/v1/revocations", bank.revoke, False),
    ("POST", "/v1/feedback", bank.feedback, False),
    ("GET", "/v1/feedback", feedback.feedback_list, False),
    ("GET", "/v1/feedback/entries", feedback.feedback_entries, False),
    ("POST", "/v1/match", bank.match, False),
    ("POST", "/v1/signals/lookup", platform.lookup, False),
    ("GET", "/v1/changes", bank.changes, False),
    ("GET", "/v1/changes/stream", stream.stream, False),
    ("GET", "/v1/entries/{entry_id}", bank.entry, False),
    ("POST", "/v1/entries", bank.import_entries, False),
    ("GET", "/v1/forks", bank.forks, False),
    ("POST", "/v1/forks", bank.import_forks, False),
    ("GET", "/v1/charter", charter.get_charter, False),
    ("POST", "/v1/charter", charter.post_charter, False),
    ("GET", "/v1/charter/versions", charter.charter_versions, False),
    ("GET", "/v1/charter/drafts", charter.get_drafts, False),
    ("POST", "/v1/charter/drafts", charter.post_draft, False),
    ("GET", "/v1/users", users.list_users, False),
    ("POST", "/v1/users", users.add_user, False),
    ("POST", "/v1/users/{name}/disable", users.disable_user, False),
    ("POST", "/v1/users/{name}/enable", users.enable_user, False),
    ("POST", "/v1/users/{name}/reset", users.reset_user, False),
    ("GET", "/v1/audit", users.audit, False),
    ("GET", "/metrics", metrics.scrape, False),
    ("GET", "/healthz", probes.healthz, True),
    ("GET", "/readyz", probes.readyz, True),
)
# The victim self-service endpoints (node.web.routes) take a case number and PIN instead.
OPEN_PATHS = frozenset(path for _, path, _, is_open in ROUTES if is_open) | SELF_SERVICE_PATHS
# Token routes outside the API's rate limit: watching the node never spends its tools' budget.
UNMETERED_PATHS = frozenset({"/v1/status"})
# Routes outside /v1/ that still need the bearer token.
TOKEN_PATHS = frozenset(
    path for _, path, _, is_open in ROUTES if not is_open and not path.startswith("/v1/")
)


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


def _slug(reason: str) -> str:
    return reason.lower().replace(" ", "_").replace("-", "_")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every exception to a JSON error; a bug is a 500 that names nothing internal."""
    try:
        return await handler(request)
    except (ProtocolError, NodeError, MatchingError) as exc:
        response = error_response(exc.status_hint, exc.code, exc.message)
        if isinstance(exc, RateLimitedError):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        if isinstance(exc, UnauthenticatedError):  # RFC 6750 §3: say which scheme to use
            challenge = 'Bearer realm="hashbank"'
            if "Authorization" in request.headers:
                challenge += ', error="invalid_token"'
            response.headers["WWW-Authenticate"] = challenge
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, _slug(exc.reason), exc.text or exc.reason)
        if "Allow" in exc.headers:  # a 405 must say which methods the path serves (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(
            "unhandled error method=%s path=%s", untrusted(request.method), untrusted(request.path)
        )
        return error_response(500, "internal_error", "internal error; see the node's log")


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer-token check for every API route but the open ones (constant-time compare)."""
    # Peer routes authenticate by request signature instead (node.federation.routes).
    if request.path in TOKEN_PATHS or (
        request.path not in OPEN_PATHS
        and request.path.startswith("/v1/")
        and not request.path.startswith("/v1/peer/")
    ):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = request.app[TOKEN]()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise UnauthenticatedError(
                "missing or wrong bearer token (see operator.token in the node's data directory)"
            )
        if request.path not in UNMETERED_PATHS and (
            wait := request.app[API_LIMIT].check("operator")
        ):
            raise RateLimitedError(f"too many requests; retry in {wait:.1f} s", wait)
    return await handler(request)


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One structured line and one count per request (and the slow-client guard's books)."""
    start = time.perf_counter()
    status = 500
    guard = request.app[GUARD]
    guard.request_started(request.transport)
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect raised by a handler
        status = exc.status
        raise
    finally:
        guard.request_finished(request.transport)
        seconds = time.perf_counter() - start
        request.app[METRICS].observe(request, status, seconds)
        log.info(
            "request method=%s path=%s status=%d ms=%.1f peer=%s",
            untrusted(request.method),
            untrusted(request.path),
            status,
            seconds * 1000,
            untrusted(request.remote),
        )


def make_app(node: Node, gossip: Gossip | None, token: str | Callable[[], str]) -> web.Application:
    """The HTTP application for ``node``; the caller starts and stops gossip and upkeep.

    ``token`` is the operator token, or a function giving the current one.
    """
    config = node.config
    app = web.Application(
        middlewares=[request_log, errors, auth, console_middleware],
        client_max_size=config.max_body_bytes,
    )
    app[NODE] = node
    app[TOKEN] = token if callable(token) else lambda: token
    app[API_LIMIT] = RateLimiter(config.api_rate, config.api_burst)
    app[GUARD] = ConnectionGuard(config.request_timeout_s, config.max_connections)
    app[BODY_TIMEOUT] = 3 * config.request_timeout_s
    app[LIFECYCLE] = Lifecycle()
    stream.setup(app)
    for method, path, handler, _ in ROUTES:
        app.router.add_route(method, path, handler)
    limiters = {"api": app[API_LIMIT], "case_pin": node.pins.per_client}
    if gossip is not None:
        app[GOSSIP] = gossip
        app[PEER_LIMIT] = limiters["peer"] = RateLimiter(config.peer_rate, config.peer_burst)
        app.add_subapp("/v1/peer/", make_peer_app(node, gossip, limiters["peer"]))
    console = Console(node.store, node.clock, console_settings(node))
    limiters["console_login"] = console.guard.per_client
    add_web_routes(app, node)
    add_console(app, console, gossip)
    app[METRICS] = Metrics(node, gossip, limiters, app[GUARD], console)
    app.on_cleanup.append(_close_metrics)
    return app


def console_settings(node: Node) -> ConsoleSettings:
    config = node.config
    return ConsoleSettings(
        idle_ms=round(config.console_idle_minutes * 60_000),
        lifetime_ms=round(config.console_session_hours * 3_600_000),
        listener=Listener(config.public_url, config.trusted_proxies),
        caseworkers=config.role == "publisher",
    )


async def _close_metrics(app: web.Application) -> None:
    app[METRICS].close()
