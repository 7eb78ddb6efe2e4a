"""What handlers reach through the application: the replica's parts, by application key.

``make_app`` fills these from the node; a handler asks for exactly the part it uses.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from node.api.errors import BadRequestError
from node.federation.gossip import Gossip
from node.limits import ConnectionGuard, LimitsStatus, RateLimiter, read_body
from node.replica.node import Node

NODE: web.AppKey[Node] = web.AppKey("node", Node)
GOSSIP: web.AppKey[Gossip] = web.AppKey("gossip", Gossip)
TOKEN: web.AppKey[str] = web.AppKey("token", str)
API_LIMIT: web.AppKey[RateLimiter] = web.AppKey("api_limit", RateLimiter)
PEER_LIMIT: web.AppKey[RateLimiter] = web.AppKey("api_peer_limit", RateLimiter)
GUARD: web.AppKey[ConnectionGuard] = web.AppKey("guard", ConnectionGuard)


def node_of(request: web.Request) -> Node:
    return request.config_dict[NODE]


def gossip_of(request: web.Request) -> Gossip | None:
    return request.config_dict.get(GOSSIP)


def limits_of(request: web.Request) -> LimitsStatus:
    """What the application's rate limiters and connection guard have refused so far."""
    app = request.config_dict
    return LimitsStatus.of(app[API_LIMIT], app.get(PEER_LIMIT), app[GUARD])


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(
        doc, status=status, dumps=lambda d: json.dumps(d, separators=(",", ":"))
    )


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 naming what is wrong with it."""
    data = await read_body(request)
    if not data:
        raise BadRequestError("request body is empty; expected JSON")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("request body nests too deeply") from None
