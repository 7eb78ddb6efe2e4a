"""Reads a platform's tooling needs beyond ``/v1/changes``: hash state and the active bank.

``POST /v1/signals/lookup`` answers, for each hash, which active items carry it now (every
author and entry) and the latest verdict of each feedback giver. A subscriber that mirrors
the bank keyed by hash (the threatexchange extension, ``node.tx``) replaces its record with
this answer whenever a change touches the hash, so a revocation by one of two publishers
leaves the hash in place and the last one removes it.

``GET /v1/hashes`` pages through the active items, for exports.
"""

from __future__ import annotations

from aiohttp import web

from node.api import shapes
from node.api.bank import bounded_match
from node.api.context import json_response, node_of, read_json
from node.api.errors import PayloadTooLargeError
from node.replica.feedback import FeedbackReads
from protocol.signals import SIGNAL_TYPES, signal_type

MAX_LOOKUP = 1_000
MAX_HASHES_PAGE = 10_000


async def lookup(request: web.Request) -> web.Response:
    """The current state of each hash asked about, in request order."""
    node = node_of(request)
    queries = shapes.parse_lookup(await read_json(request), MAX_LOOKUP)
    found = await bounded_match(node.lookup, queries, 0)  # distance 0: the very hash, PDQ too
    expiry = await node.store.item_expiry([m.item.item_id for ms in found for m in ms])
    latest = await FeedbackReads(node.store, node.org).latest_on(queries)
    names = node.names()
    return json_response(shapes.lookup_view(queries, found, expiry, latest, names))


async def active_hashes(request: web.Request) -> web.Response:
    """``?after=&limit=&signal_type=`` → a page of active items, by item id."""
    after = shapes.query_int(request.query, "after", 0, minimum=0)
    limit = shapes.query_int(request.query, "limit", 1000, minimum=1)
    if limit > MAX_HASHES_PAGE:
        raise PayloadTooLargeError(f"limit must be at most {MAX_HASHES_PAGE}, got {limit}")
    name = request.query.get("signal_type")
    if name is not None and name not in SIGNAL_TYPES:
        signal_type(name)  # raises, naming the known types
    rows = await node_of(request).store.active_items_page(after, limit + 1, name)
    return json_response(shapes.hashes_page_view(rows[:limit], after, len(rows) > limit))
