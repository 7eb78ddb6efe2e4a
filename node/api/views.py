"""JSON in and out: request documents to protocol objects, stored objects to response shapes.

The core shapes are a contract with outside tools (extend them, never rename fields). Every
parse error names the JSON path of the bad value, e.g. ``items[3].value``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from node.errors import BadRequestError, PayloadTooLargeError
from node.matching.matcher import Match, Query
from node.store.store import StoredEntry
from protocol.body import (
    MAX_ITEMS,
    AddBody,
    Body,
    FeedbackBody,
    FeedbackNote,
    HashItem,
    Kind,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
    Verdict,
)
from protocol.entry import decode_entry
from protocol.errors import ProtocolError
from protocol.identity import parse_hex
from protocol.signals import PDQ, signal_type

MAX_QUERIES = 1_000
MAX_CASE_LEN = 200


def _object(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BadRequestError(f"{where} must be a JSON object")
    return doc


def _list(doc: dict[str, Any], key: str, where: str, *, max_len: int) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list) or not value:
        raise BadRequestError(f"{where}{key} must be a non-empty array")
    if len(value) > max_len:
        raise PayloadTooLargeError(
            f"{where}{key} has {len(value)} elements; the limit is {max_len}"
        )
    return value


def _str(doc: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{where}{key} must be a string")
    return value


def _int(doc: dict[str, Any], key: str, where: str, default: int | None = None) -> int | None:
    value = doc.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequestError(f"{where}{key} must be an integer")
    return value


def _enum_name(value: Any, enum: type[Any], where: str) -> Any:
    names = {m.name.lower(): m for m in enum}
    if not isinstance(value, str) or value not in names:
        raise BadRequestError(f"{where} must be one of: {', '.join(names)}")
    return names[value]


def case_ref(secret: bytes, case: str) -> bytes:
    """The opaque id published for a helpline's case reference (HMAC under a local secret)."""
    return hmac.new(secret, case.encode(), hashlib.sha256).digest()[:16]


def parse_idempotency_key(doc: Any) -> str | None:
    """The optional ``idempotency_key`` of a submission (1 to 200 printable characters)."""
    key = doc.get("idempotency_key") if isinstance(doc, dict) else None
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= 200 or not key.isprintable():
        raise BadRequestError("idempotency_key must be 1 to 200 printable characters")
    return key


def parse_submit(doc: Any, case_secret: bytes) -> AddBody:
    """``{"items": [{"signal_type", "value", "labels", "case", "expires_ms"}]}`` → add body."""
    items = _list(_object(doc, "request body"), "items", "", max_len=MAX_ITEMS)
    return AddBody(tuple(_parse_item(i, raw, case_secret) for i, raw in enumerate(items)))


def _parse_item(i: int, raw: Any, case_secret: bytes) -> HashItem:
    where = f"items[{i}]."
    item = _object(raw, f"items[{i}]")
    spec = signal_type(item.get("signal_type"), f"{where}signal_type")
    value = spec.parse(item.get("value"), f"{where}value")
    labels = item.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise BadRequestError(f"{where}labels must be an array of strings")
    case = _str(item, "case", where, required=False)
    if case is not None and not 0 < len(case) <= MAX_CASE_LEN:
        raise BadRequestError(f"{where}case must be 1 to {MAX_CASE_LEN} characters")
    expires = _int(item, "expires_ms", where)
    # Labels are a set: sort and de-duplicate for the caller, the wire wants one form.
    return HashItem(
        spec.name,
        value,
        tuple(sorted(set(labels))),
        case_ref(case_secret, case) if case else None,
        expires,
    )


def parse_revoke(doc: Any) -> tuple[bytes, tuple[int, ...] | None, RevokeReason]:
    """``{"entry_id", "items"?, "reason"?}`` → (entry id, item indexes or None, reason)."""
    body = _object(doc, "request body")
    entry_id = parse_hex(body.get("entry_id"), 32, "entry_id")
    items = body.get("items")
    if items is not None:
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in items)
        ):
            raise BadRequestError("items must be a non-empty array of item indexes (integers)")
        items = tuple(sorted(set(items)))
    reason = body.get("reason", "unspecified")
    return entry_id, items, _enum_name(reason, RevokeReason, "reason")


def revoke_body(entry_id: bytes, items: tuple[int, ...] | None, reason: RevokeReason) -> Body:
    return RevokeBody((RevokeTarget(entry_id, items),), reason)


def parse_feedback(doc: Any) -> FeedbackBody:
    """``{"signal_type", "value", "verdict", "entry_id"?, "note"?}`` → feedback body."""
    body = _object(doc, "request body")
    spec = signal_type(body.get("signal_type"))
    value = spec.parse(body.get("value"))
    verdict = _enum_name(body.get("verdict"), Verdict, "verdict")
    entry_id = body.get("entry_id")
    target = None if entry_id is None else parse_hex(entry_id, 32, "entry_id")
    note = _enum_name(body.get("note", "none"), FeedbackNote, "note")
    return FeedbackBody(spec.name, value, verdict, target, note)


def parse_match(doc: Any) -> tuple[list[Query], int]:
    """``{"queries": [{"signal_type", "value"}], "threshold"?}`` → queries and threshold."""
    body = _object(doc, "request body")
    raw_queries = _list(body, "queries", "", max_len=MAX_QUERIES)
    queries = []
    for i, raw in enumerate(raw_queries):
        q = _object(raw, f"queries[{i}]")
        spec = signal_type(q.get("signal_type"), f"queries[{i}].signal_type")
        queries.append(Query(spec, spec.parse(q.get("value"), f"queries[{i}].value")))
    threshold = _int(body, "threshold", "", PDQ.default_threshold)
    if threshold is None:  # an explicit null
        raise BadRequestError("threshold must be an integer")
    if not 0 <= threshold <= PDQ.max_threshold:
        raise BadRequestError(
            f"threshold must be between 0 and {PDQ.max_threshold}, got {threshold}"
        )
    return queries, threshold


def match_results(results: Sequence[Sequence[Match]], names: Mapping[bytes, str]) -> dict[str, Any]:
    """Matches as JSON; ``names`` gives each author's display name (see ``member_names``)."""
    return {
        "results": [
            {
                "matches": [
                    {
                        "signal_type": m.item.signal_type,
                        "value": m.item.value.hex(),
                        "distance": m.distance,
                        "entry_id": m.item.entry_id.hex(),
                        "author": m.item.author.hex(),
                        "author_name": names.get(m.item.author),
                        "item": m.item.idx,
                        "labels": list(m.item.labels),
                    }
                    for m in matches
                ]
            }
            for matches in results
        ]
    }


def entry_view(stored: StoredEntry, *, detail: bool = False) -> dict[str, Any]:
    """An entry as JSON: indexed fields, the exact signed bytes (base64) and the body."""
    view: dict[str, Any] = {
        "cursor": str(stored.cursor),
        "entry_id": stored.id.hex(),
        "author": stored.author.hex(),
        "seq": stored.seq,
        "kind": Kind(stored.kind).name.lower(),
        "timestamp_ms": stored.timestamp_ms,
        "received_ms": stored.received_ms,
        "erased": stored.erased,
        "entry": base64.b64encode(stored.raw).decode(),
    }
    try:
        entry = decode_entry(stored.raw)
    except ProtocolError:  # cannot happen for stored entries; never hide an entry over it
        return view
    view["body"] = None if entry.body is None else body_view(entry.body)
    if detail:
        view["key"] = entry.header.key.hex()
        view["prev"] = entry.header.prev.hex() if entry.header.prev else None
        view["signature"] = entry.signature.hex()
        view["body_digest"] = entry.header.body_digest.hex()
    return view


def body_view(body: Body) -> dict[str, Any]:
    if isinstance(body, AddBody):
        return {
            "items": [
                {
                    "index": i,
                    "signal_type": it.signal_type,
                    "value": it.value.hex(),
                    "labels": list(it.labels),
                    "case_ref": it.case_ref.hex() if it.case_ref else None,
                    "expires_ms": it.expires_ms,
                }
                for i, it in enumerate(body.items)
            ]
        }
    if isinstance(body, RevokeBody):
        return {
            "targets": [
                {"entry_id": t.entry_id.hex(), "items": None if t.items is None else list(t.items)}
                for t in body.targets
            ],
            "reason": body.reason.name.lower(),
        }
    return {
        "signal_type": body.signal_type,
        "value": body.value.hex(),
        "verdict": body.verdict.name.lower(),
        "entry_id": body.entry_id.hex() if body.entry_id else None,
        "note": body.note.name.lower(),
    }


def parse_import(doc: Any) -> list[bytes]:
    """``{"entries": ["<base64>", …]}`` → raw entries."""
    raws = _list(_object(doc, "request body"), "entries", "", max_len=1_000)
    out = []
    for i, text in enumerate(raws):
        if not isinstance(text, str):
            raise BadRequestError(f"entries[{i}] must be a base64 string")
        try:
            out.append(base64.b64decode(text, validate=True))
        except ValueError:
            raise BadRequestError(f"entries[{i}] is not valid base64") from None
    return out
