"""What the web app's handlers reach through the application: the node, and JSON answers.

The web app imports nothing of ``node.api`` (which mounts it): ``add_web_routes`` is handed
the node and keeps it under its own key.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from node.replica.node import Node

WEB_NODE: Final = web.AppKey("web_node", Node)


def node_of(request: web.Request) -> Node:
    return request.config_dict[WEB_NODE]


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(
        doc, status=status, dumps=lambda d: json.dumps(d, separators=(",", ":"))
    )
