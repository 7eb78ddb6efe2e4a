"""``GET /v1/status``: how the node is doing, for its operator (the token opens it)."""

from __future__ import annotations

from aiohttp import web

from node.api import shapes
from node.api.context import gossip_of, json_response, limits_of, node_of


async def status(request: web.Request) -> web.Response:
    gossip = gossip_of(request)
    replica = await node_of(request).status()
    federation = gossip.status() if gossip else None
    return json_response(shapes.status_view(replica, federation, limits_of(request)))
