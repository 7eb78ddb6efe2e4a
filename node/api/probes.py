"""``GET /healthz`` and ``GET /readyz``: tiny, open answers for orchestrators and load balancers.

``/healthz`` says the process is serving (always 200 while it answers at all). ``/readyz``
says whether it should get traffic: the store answers, the PDQ index is loaded, and the node
is not shutting down; otherwise 503 with the reasons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from node.api.context import json_response, node_of

log = logging.getLogger("hashbank.http")


@dataclass
class Lifecycle:
    """Set by ``Service``: whether the node is on its way down."""

    stopping: bool = False


LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle", Lifecycle)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = node_of(request)
    reasons = []
    if request.app[LIFECYCLE].stopping:
        reasons.append("shutting down")
    if not node.index_origin:
        reasons.append("the PDQ index is not loaded yet")
    try:
        await node.store.ping()
    except Exception as exc:  # any failure to read is "not ready", never a 500
        log.warning("readiness: the store did not answer: %r", exc)
        reasons.append("the store does not answer")
    if reasons:
        return json_response({"ready": False, "reasons": reasons}, status=503)
    return json_response({"ready": True, "reasons": []})
