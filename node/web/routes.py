"""The web app's one route table: the victim's pages and the self-service JSON endpoints.

``add_web_routes`` mounts them (with the static files) on the node's application. The
``/v1/self/…`` endpoints take no operator token (``SELF_SERVICE_PATHS`` are open in
``node.api.app``'s auth middleware); ``node.web.protect`` guards them instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from node.replica.node import Node
from node.web import pages, selfservice
from node.web.assets import add_static_routes
from node.web.context import WEB_NODE
from node.web.protect import BUDGETS, Budgets

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# (method, path, handler)
ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/", pages.start),
    ("GET", "/under-18", pages.under_18),
    ("GET", "/submit", pages.submit),
    ("GET", "/case", pages.case),
    ("POST", "/v1/self/cases", selfservice.open_case),
    ("POST", "/v1/self/status", selfservice.case_status),
    ("POST", "/v1/self/items", selfservice.add_items),
    ("POST", "/v1/self/withdraw", selfservice.withdraw),
)
SELF_SERVICE_PREFIX: Final = "/v1/self/"
SELF_SERVICE_PATHS: Final = frozenset(
    path for _, path, _ in ROUTES if path.startswith(SELF_SERVICE_PREFIX)
)


def add_web_routes(app: web.Application, node: Node) -> None:
    """The pages, the self-service endpoints and the static files of ``node``, on ``app``."""
    app[WEB_NODE] = node
    config = node.config
    app[pages.SITE] = pages.make_site(config.web, config.name)
    app[BUDGETS] = Budgets()
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)  # HEAD too, as link checkers and probes send
        else:
            app.router.add_route(method, path, handler)
    add_static_routes(app)
    app.on_response_prepare.append(_never_cache_self_service)


async def _never_cache_self_service(request: web.Request, response: web.StreamResponse) -> None:
    # Answers (and errors) of the self-service endpoints name cases and PINs.
    if request.path.startswith(SELF_SERVICE_PREFIX):
        response.headers["Cache-Control"] = "no-store"
