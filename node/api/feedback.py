"""``GET /v1/feedback``: what platforms said about a helpline's entries and hashes.

Each verdict listed carries its ``feedback_id``: ``GET /v1/entries/<feedback_id>`` gives the
signed bytes, which a helpline can show a victim as verifiable evidence that a platform acted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.api import shapes
from node.api.context import json_response, node_of
from node.api.errors import BadRequestError, NotFoundError
from node.replica.feedback import FeedbackReads
from protocol.identity import parse_hex
from protocol.signals import signal_type


async def feedback_list(request: web.Request) -> web.Response:
    """``?entry_id=`` or ``?signal_type=&value=`` → the feedback about that entry or hash."""
    node, query = node_of(request), request.query
    reads = FeedbackReads(node.store, node.org)
    by_hash = "signal_type" in query or "value" in query
    if "entry_id" in query and by_hash:
        raise BadRequestError("give either entry_id, or signal_type and value, not both")
    if "entry_id" in query:
        entry_id = parse_hex(query["entry_id"], 32, "entry_id")
        if await node.entry(entry_id) is None:
            raise NotFoundError(f"no entry {entry_id.hex()}")
        found = await reads.on_entry(entry_id)
        scope: dict[str, Any] = {"entry_id": entry_id.hex()}
    elif by_hash:
        spec = signal_type(query.get("signal_type"))
        value = spec.parse(query.get("value"))
        found = await reads.on_value(spec.name, value)
        scope = {"signal_type": spec.name, "value": value.hex()}
    else:
        raise BadRequestError("give entry_id, or signal_type and value")
    return json_response(shapes.feedback_list_view(scope, found, node.names()))


async def feedback_entries(request: web.Request) -> web.Response:
    """Our own add entries with the feedback naming them; ``?case=`` narrows to one case.

    Without a case only entries that have feedback are listed; with one, all of its entries.
    """
    node = node_of(request)
    case = request.query.get("case")
    entries = None
    if case is not None:
        if not 0 < len(case) <= shapes.MAX_CASE_LEN:
            raise BadRequestError(f"case must be 1 to {shapes.MAX_CASE_LEN} characters")
        found = await node.cases.get(case)
        entries = [] if found is None else await node.cases.entries(found)
    adds = await FeedbackReads(node.store, node.org).on_our_adds(entries)
    return json_response(shapes.our_feedback_view(node.org, case, adds, node.names()))
