"""The aiohttp application: middlewares (errors, auth, request log) and the serving loop.

Every error becomes a JSON body ``{"error": {"code", "message"}}`` here and only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from node.api import bank as api
from node.api.limits import BODY_TIMEOUT, ConnectionGuard, RateLimiter
from node.datadir import read_secret
from node.errors import NodeError, RateLimitedError, UnauthenticatedError
from node.federation.gossip import Gossip
from node.federation.routes import make_peer_app
from node.replica.node import Node
from node.web.assets import add_web_routes
from protocol.errors import ProtocolError

log = logging.getLogger("hashbank.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_KEY: web.AppKey[str] = web.AppKey("token", str)
API_LIMIT: web.AppKey[RateLimiter] = web.AppKey("api_limit", RateLimiter)
GUARD: web.AppKey[ConnectionGuard] = web.AppKey("guard", ConnectionGuard)
EXPIRY_SWEEP_S = 10.0
# Protocol errors are the client's fault (4xx); these codes have a more precise status.
PROTOCOL_STATUS = {"auth_failed": 401, "unauthorized": 403, "too_large": 413}


def error_response(status: int, code: str, message: str) -> web.Response:
    return api.json_response({"error": {"code": code, "message": message}}, status=status)


def _slug(reason: str) -> str:
    return reason.lower().replace(" ", "_").replace("-", "_")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every exception to a JSON error; a bug is a 500 that names nothing internal."""
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(PROTOCOL_STATUS.get(exc.code, 400), exc.code, exc.message)
    except RateLimitedError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    except NodeError as exc:
        response = error_response(exc.status, exc.code, exc.message)
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
        log.exception("unhandled error method=%s path=%s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the node's log")


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer-token check for every API route but the open ones (constant-time compare)."""
    # Peer routes authenticate by request signature instead (node.peer_api).
    if (
        request.path not in api.OPEN_PATHS
        and request.path.startswith("/v1/")
        and not request.path.startswith("/v1/peer/")
    ):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = request.app[TOKEN_KEY]
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise UnauthenticatedError(
                "missing or wrong bearer token (see operator.token in the node's data directory)"
            )
        if wait := request.app[API_LIMIT].check("operator"):
            raise RateLimitedError(f"too many requests; retry in {wait:.1f} s", wait)
    return await handler(request)


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One structured line per request (and the slow-client guard's bookkeeping)."""
    start = time.perf_counter()
    status = 500
    guard = request.app[GUARD]
    guard.request_started(request.transport)
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        guard.request_finished(request.transport)
        log.info(
            "request method=%s path=%s status=%d ms=%.1f peer=%s",
            request.method,
            request.path,
            status,
            (time.perf_counter() - start) * 1000,
            request.remote,
        )


def make_app(node: Node, token: str) -> web.Application:
    """The application for ``node``, with gossip; the caller runs and cleans it up."""
    app = web.Application(
        middlewares=[request_log, errors, auth], client_max_size=node.config.max_body_bytes
    )
    app[api.NODE_KEY] = node
    app[TOKEN_KEY] = token
    config = node.config
    app[API_LIMIT] = RateLimiter(config.api_rate, config.api_burst)
    app[GUARD] = ConnectionGuard(config.request_timeout_s, config.max_connections)
    app[BODY_TIMEOUT] = 3 * config.request_timeout_s
    # Gossip is created here but started with the app, so peer routes can reach it from the
    # first request on.
    gossip = Gossip(node)
    app[api.GOSSIP_KEY] = gossip
    api.add_routes(app)
    add_web_routes(app)
    app.add_subapp(
        "/v1/peer/",
        make_peer_app(
            node,
            accept=gossip.accepts,
            want_sync=gossip.want_sync,
            limiter=RateLimiter(config.peer_rate, config.peer_burst),
        ),
    )
    app.cleanup_ctx.append(_upkeep)
    return app


async def _upkeep(app: web.Application) -> AsyncIterator[None]:
    """Gossip and the expiry sweep run exactly as long as the application."""
    gossip: Gossip = app[api.GOSSIP_KEY]
    await gossip.start()
    task = asyncio.create_task(_sweep_expired(app[api.NODE_KEY]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await gossip.stop()


async def _sweep_expired(node: Node) -> None:
    while True:
        await asyncio.sleep(EXPIRY_SWEEP_S)
        try:
            if n := await node.expire():
                log.info("expired items=%d", n)
        except Exception:
            log.exception("expiry sweep failed")


async def listen(runner: web.AppRunner, host: str, port: int) -> tuple[asyncio.Server, str]:
    """Accept connections for a set-up runner, through its app's connection guard."""
    app = runner.app
    factory = app[GUARD].wrap(runner.server) if runner.server else None
    if factory is None:
        raise RuntimeError("the runner must be set up before listening")
    server = await asyncio.get_running_loop().create_server(factory, host, port)
    bound = server.sockets[0].getsockname()
    return server, f"http://{bound[0]}:{bound[1]}"


async def serve(node: Node, *, host: str, port: int, ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly."""
    token = read_secret(node.data.token)
    runner = web.AppRunner(
        make_app(node, token), access_log=None, handle_signals=False, keepalive_timeout=15
    )
    await runner.setup()
    server, url = await listen(runner, host, port)
    ready(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        server.close()
        await runner.cleanup()
