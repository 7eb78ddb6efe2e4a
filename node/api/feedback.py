"""``GET /v1/feedback``: what platforms said about a helpline's entries and hashes.

Every verdict is a signed feedback entry of the giver's own feed, so each one listed carries
its ``feedback_id``: ``GET /v1/entries/<feedback_id>`` gives the signed bytes, which a
helpline can show a victim as verifiable evidence that a platform acted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.api import bank as api
from node.api import views
from node.errors import BadRequestError, NotFoundError
from node.replica.node import Node
from node.store.store import StoredEntry
from protocol.body import FeedbackBody
from protocol.entry import decode_entry
from protocol.errors import ProtocolError
from protocol.identity import parse_hex
from protocol.signals import signal_type


@dataclass(frozen=True, slots=True)
class Feedback:
    """A stored feedback entry and its decoded body."""

    stored: StoredEntry
    body: FeedbackBody


def decode_feedback(rows: Iterable[StoredEntry]) -> list[Feedback]:
    """The feedback bodies of ``rows``; erased bodies have nothing to show and are skipped."""
    out = []
    for row in rows:
        try:
            body = decode_entry(row.raw).body
        except ProtocolError:  # stored entries were verified on the way in
            continue
        if isinstance(body, FeedbackBody):
            out.append(Feedback(row, body))
    return out


def feedback_view(
    node: Node, fb: Feedback, names: Mapping[bytes, str] | None = None
) -> dict[str, Any]:
    """One verdict as JSON; pass ``api.member_names(node)`` as ``names`` when showing many."""
    if names is None:
        names = api.member_names(node)
    return {
        "feedback_id": fb.stored.id.hex(),
        "cursor": str(fb.stored.cursor),
        "giver": fb.stored.author.hex(),
        "giver_name": names.get(fb.stored.author),
        "verdict": fb.body.verdict.name.lower(),
        "note": fb.body.note.name.lower(),
        "signal_type": fb.body.signal_type,
        "value": fb.body.value.hex(),
        "entry_id": fb.body.entry_id.hex() if fb.body.entry_id else None,
        "timestamp_ms": fb.stored.timestamp_ms,
        "received_ms": fb.stored.received_ms,
    }


async def feedback_list(request: web.Request) -> web.Response:
    """``?entry_id=`` or ``?signal_type=&value=`` → the feedback about that entry or hash."""
    node, query = api.node_of(request), request.query
    by_hash = "signal_type" in query or "value" in query
    if "entry_id" in query and by_hash:
        raise BadRequestError("give either entry_id, or signal_type and value, not both")
    if "entry_id" in query:
        entry_id = parse_hex(query["entry_id"], 32, "entry_id")
        if await node.entry(entry_id) is None:
            raise NotFoundError(f"no entry {entry_id.hex()}")
        rows = await node.store.feedback_on_entry(entry_id)
        scope: dict[str, Any] = {"entry_id": entry_id.hex()}
    elif by_hash:
        spec = signal_type(query.get("signal_type"))
        value = spec.parse(query.get("value"))
        rows = await node.store.feedback_on_values(spec.name, [value])
        scope = {"signal_type": spec.name, "value": value.hex()}
    else:
        raise BadRequestError("give entry_id, or signal_type and value")
    names = api.member_names(node)
    views_ = [feedback_view(node, fb, names) for fb in decode_feedback(rows)]
    return api.json_response({**scope, "feedback": views_})


async def feedback_entries(request: web.Request) -> web.Response:
    """Our own add entries with the feedback naming them; ``?case=`` narrows to one case.

    Without a case only entries that have feedback are listed; with one, all of its entries.
    """
    node = api.node_of(request)
    case = request.query.get("case")
    ref = None
    if case is not None:
        if not 0 < len(case) <= views.MAX_CASE_LEN:
            raise BadRequestError(f"case must be 1 to {views.MAX_CASE_LEN} characters")
        ref = views.case_ref(node.case_secret, case)
    pairs = await node.store.feedback_on_author(node.org, ref)
    by_target: dict[bytes, list[Feedback]] = {}
    for target, stored in pairs:
        for fb in decode_feedback([stored]):
            by_target.setdefault(target, []).append(fb)
    if ref is not None:
        targets = await node.store.adds_of_case(node.org, ref)
    else:
        targets = [e for t in by_target if (e := await node.entry(t)) is not None]
    names = api.member_names(node)
    entries = [await _entry_summary(node, e, by_target.get(e.id, []), names) for e in targets]
    doc = {"org_id": node.org.hex(), "name": node.config.name, "case": case, "entries": entries}
    return api.json_response(doc)


async def _entry_summary(
    node: Node, entry: StoredEntry, fbs: list[Feedback], names: Mapping[bytes, str]
) -> dict[str, Any]:
    items = await node.store.items_of_entry(entry.id)
    return {
        "entry_id": entry.id.hex(),
        "seq": entry.seq,
        "timestamp_ms": entry.timestamp_ms,
        "items": len(items),
        "active_items": sum(i.active for i in items),
        "feedback": [feedback_view(node, fb, names) for fb in fbs],
    }
