"""Reads a platform's tooling needs beyond ``/v1/changes``: hash state and the active bank.

``POST /v1/signals/lookup`` answers, for each hash, which active items carry it now (every
author and entry) and the latest verdict of each feedback giver. A subscriber that mirrors
the bank keyed by hash (the threatexchange extension, ``node.tx``) replaces its record with
this answer whenever a change touches the hash, so a revocation by one of two publishers
leaves the hash in place and the last one removes it.

``GET /v1/hashes`` pages through the active items, for exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from node.api import bank as api
from node.api.feedback import Feedback, decode_feedback, feedback_view
from node.errors import BadRequestError, PayloadTooLargeError
from node.matching.matcher import Match, Query
from node.replica.node import Node
from protocol.signals import SIGNAL_TYPES, signal_type

MAX_LOOKUP = 1_000
MAX_HASHES_PAGE = 10_000


def parse_lookup(doc: Any) -> list[Query]:
    """``{"signals": [{"signal_type", "value"}]}`` → queries."""
    if not isinstance(doc, dict) or not isinstance(doc.get("signals"), list):
        raise BadRequestError("request body must be an object with a signals array")
    raw = doc["signals"]
    if len(raw) > MAX_LOOKUP:
        raise PayloadTooLargeError(f"signals has {len(raw)} elements; the limit is {MAX_LOOKUP}")
    queries = []
    for i, sig in enumerate(raw):
        if not isinstance(sig, dict):
            raise BadRequestError(f"signals[{i}] must be a JSON object")
        spec = signal_type(sig.get("signal_type"), f"signals[{i}].signal_type")
        queries.append(Query(spec, spec.parse(sig.get("value"), f"signals[{i}].value")))
    return queries


async def lookup(request: web.Request) -> web.Response:
    """The current state of each hash asked about, in request order."""
    node = api.node_of(request)
    queries = parse_lookup(await api.read_json(request))
    found = await api.bounded_match(node, queries, 0)  # distance 0: the very hash, PDQ included
    expiry = await node.store.item_expiry([m.item.item_id for ms in found for m in ms])
    latest = await _latest_feedback(node, queries)
    names = api.member_names(node)
    signals = []
    for query, matches in zip(queries, found, strict=True):
        key = (query.signal.name, query.value)
        signals.append(
            {
                "signal_type": query.signal.name,
                "value": query.value.hex(),
                "items": [_item_view(m, expiry.get(m.item.item_id), names) for m in matches],
                "feedback": [feedback_view(node, fb, names) for fb in latest.get(key, [])],
            }
        )
    return api.json_response({"signals": signals})


def _item_view(match: Match, expires_ms: int | None, names: Mapping[bytes, str]) -> dict[str, Any]:
    item = match.item
    return {
        "entry_id": item.entry_id.hex(),
        "item": item.idx,
        "author": item.author.hex(),
        "author_name": names.get(item.author),
        "labels": list(item.labels),
        "expires_ms": expires_ms,
    }


async def _latest_feedback(
    node: Node, queries: list[Query]
) -> dict[tuple[str, bytes], list[Feedback]]:
    """Per hash, each giver's latest feedback (a later verdict replaces an earlier one)."""
    by_type: dict[str, set[bytes]] = {}
    for q in queries:
        by_type.setdefault(q.signal.name, set()).add(q.value)
    latest: dict[tuple[str, bytes], dict[bytes, Feedback]] = {}
    for name, values in by_type.items():
        rows = await node.store.feedback_on_values(name, sorted(values))
        for fb in decode_feedback(rows):  # arrival order: later rows overwrite
            latest.setdefault((name, fb.body.value), {})[fb.stored.author] = fb
    return {key: list(givers.values()) for key, givers in latest.items()}


async def active_hashes(request: web.Request) -> web.Response:
    """``?after=&limit=&signal_type=`` → a page of active items, by item id."""
    node = api.node_of(request)
    after = api._query_int(request, "after", 0, minimum=0)
    limit = api._query_int(request, "limit", 1000, minimum=1)
    if limit > MAX_HASHES_PAGE:
        raise PayloadTooLargeError(f"limit must be at most {MAX_HASHES_PAGE}, got {limit}")
    name = request.query.get("signal_type")
    if name is not None and name not in SIGNAL_TYPES:
        signal_type(name)  # raises, naming the known types
    rows = await node.store.active_items_page(after, limit + 1, name)
    page = rows[:limit]
    return api.json_response(
        {
            "hashes": [
                {
                    "item_id": r.item_id,
                    "signal_type": r.signal_type,
                    "value": r.value.hex(),
                    "labels": list(r.labels),
                    "entry_id": r.entry_id.hex(),
                    "item": r.idx,
                    "author": r.author.hex(),
                }
                for r in page
            ],
            "cursor": str(page[-1].item_id if page else after),
            "more": len(rows) > limit,
        }
    )
