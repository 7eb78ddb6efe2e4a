"""What stands in front of every self-service endpoint: no operator token, so other guards.

- the node must offer self-service (a publisher with ``web.self_service``), else 404;
- same origin only (CSRF): a browser's ``Sec-Fetch-Site`` must say ``same-origin`` and its
  ``Origin`` must be this node's; a body must be ``application/json``, which another site's
  form cannot send and its scripts cannot send here without a CORS preflight this node never
  grants. A request with neither header is not from a browser and so cannot be forged by one;
- a small body limit (hashes only), read with the slow-client timeout;
- a request budget per client address (behind a proxy in ``listen.trusted_proxies``, the
  address it reports), and for opening cases also one for the whole node (each case is a
  signed entry in the helpline's feed).

PinGuard (``node.replica.cases``) adds its own lockouts on case numbers and PINs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from node.errors import RequestTimeoutError
from node.limits import BODY_TIMEOUT, RateLimiter
from node.web.context import node_of
from node.web.errors import (
    BadInputError,
    BodyTooLargeError,
    CrossOriginError,
    MediaTypeError,
    SelfRateLimitedError,
    SelfServiceOffError,
)
from node.web.origin import Listener

MAX_BODY: Final = 256 * 1024  # 200 files of hashes are ~60 KB of JSON
# Requests of any kind per client, and new cases per client and per node.
REQUESTS_PER_MINUTE: Final = 30.0
CASES_PER_CLIENT_PER_HOUR: Final = 10.0
CASES_PER_CLIENT_BURST: Final = 5.0
CASES_PER_NODE_PER_HOUR: Final = 300.0
CASES_PER_NODE_BURST: Final = 60.0


@dataclass
class Budgets:
    """The self-service request budgets (one set per application)."""

    requests: RateLimiter = field(
        default_factory=lambda: RateLimiter(REQUESTS_PER_MINUTE / 60, REQUESTS_PER_MINUTE)
    )
    cases: RateLimiter = field(
        default_factory=lambda: RateLimiter(
            CASES_PER_CLIENT_PER_HOUR / 3600, CASES_PER_CLIENT_BURST
        )
    )
    node_cases: RateLimiter = field(
        default_factory=lambda: RateLimiter(CASES_PER_NODE_PER_HOUR / 3600, CASES_PER_NODE_BURST)
    )


BUDGETS: Final = web.AppKey("self_service_budgets", Budgets)
JsonHandler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


def listener_of(request: web.Request) -> Listener:
    config = node_of(request).config
    return Listener(config.public_url, config.trusted_proxies)


def client_of(request: web.Request) -> str:
    """Whom the budgets and PinGuard count: the connecting address, or behind a proxy listed
    in ``listen.trusted_proxies`` the address it reports (else every victim would share the
    proxy's budget, and one guesser would lock them all out)."""
    return listener_of(request).client(request)


def check_enabled(request: web.Request) -> None:
    if not node_of(request).config.self_service:
        raise SelfServiceOffError()


def check_same_origin(request: web.Request) -> None:
    """Refuse what another site's page sends (see the module docstring)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        raise CrossOriginError(f"requests from another site are refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("Origin")
    if origin is not None and origin not in own_origins(request):
        raise CrossOriginError("requests from another site are refused (Origin does not match)")
    if request.content_type != "application/json":
        raise MediaTypeError("the request body must be application/json")


def own_origins(request: web.Request) -> set[str]:
    """This node's origin as browsers see it: the public URL's, else the Host they asked.

    With ``listen.public_url`` set only that origin is accepted, so a page served under
    another name for the node's address (DNS rebinding) is refused too. Without it, HTTPS is
    believed from a trusted proxy's ``X-Forwarded-Proto``.
    """
    public = node_of(request).config.public_url
    if public:
        parts = urlsplit(public)
        return {f"{parts.scheme}://{parts.netloc}"}
    scheme = "https" if listener_of(request).tls(request) else request.scheme
    return {f"{scheme}://{request.host}"}


def spend(limiter: RateLimiter, caller: str) -> None:
    if wait := limiter.check(caller):
        raise SelfRateLimitedError(f"too many requests from here; try again in {wait:.0f} s", wait)


async def read_small_json(request: web.Request) -> Any:
    """The body as JSON, at most ``MAX_BODY`` bytes, within the slow-client timeout."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BodyTooLargeError(f"the request body is over {MAX_BODY} bytes")
    seconds = request.config_dict.get(BODY_TIMEOUT, 30.0)
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(seconds):
        while chunk := await request.content.read(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY:
                raise BodyTooLargeError(f"the request body is over {MAX_BODY} bytes")
            chunks.append(chunk)
    if not size:
        raise BadInputError("the request body is empty; expected JSON")
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadInputError("the request body nests too deeply") from None


def guarded(handler: JsonHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``handler(request, doc)`` behind every check above; its answers are never cached."""

    async def guarded_handler(request: web.Request) -> web.StreamResponse:
        check_enabled(request)
        check_same_origin(request)
        spend(request.config_dict[BUDGETS].requests, client_of(request))
        try:
            doc = await read_small_json(request)
        except TimeoutError:
            raise RequestTimeoutError("the request body did not arrive in time") from None
        return await handler(request, doc)

    guarded_handler.__name__ = handler.__name__
    guarded_handler.__doc__ = handler.__doc__
    return guarded_handler
