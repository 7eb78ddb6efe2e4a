"""The JSON shapes of the API, in one place: requests to typed values, typed values to JSON.

The shapes are a contract with outside tools (extend them, never rename fields) and
docs/openapi.yaml describes each one. Every parse error names the JSON path of the bad value,
e.g. ``items[3].value``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from node.api.errors import BadRequestError, PayloadTooLargeError
from node.federation.gossip import FederationStatus
from node.federation.peer_link import PeerStatus
from node.federation.staleness import Sighting
from node.limits import LimitsStatus
from node.matching.matcher import Query
from node.replica.charters import CharterReport
from node.replica.drafts import DraftStatus, changes
from node.replica.feedback import AddFeedback, Feedback
from node.replica.imports import ImportStep
from node.replica.ingest import IngestReport
from node.replica.lookup import Match
from node.replica.status import CharterStatus, FeedStatus, ReplicaStatus
from node.store import (
    ChangeKinds,
    CharterForkRecord,
    ForkRecord,
    ItemChange,
    ItemChangeKind,
    ItemRow,
    StoredEntry,
)
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
    Verdict,
)
from protocol.charter import Charter, CharterBody, Member
from protocol.entry import Entry, decode_entry
from protocol.errors import ProtocolError
from protocol.identity import parse_hex
from protocol.membership import CharterChain
from protocol.signals import PDQ, signal_type

MAX_QUERIES = 1_000
MAX_CASE_LEN = 200


# Fork proofs per ``POST /v1/forks``, as per ``POST /v1/peer/forks`` (docs/protocol.md §9.1).
MAX_FORK_IMPORT = 100
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


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


def parse_idempotency_key(doc: Any) -> str | None:
    """The optional ``idempotency_key`` of a submission (1 to 200 printable characters)."""
    key = doc.get("idempotency_key") if isinstance(doc, dict) else None
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= 200 or not key.isprintable():
        raise BadRequestError("idempotency_key must be 1 to 200 printable characters")
    return key


@dataclass(frozen=True, slots=True)
class SubmittedItem:
    """One item of a submission, and the case reference it names (if any)."""

    item: HashItem
    case: str | None
    quality: int | None = None  # a PDQ hash's quality, when the submitter knows it


def parse_submit(doc: Any) -> list[SubmittedItem]:
    """``{"items": [{"signal_type", "value", "labels", "case", "expires_ms", "quality"}]}``
    → items."""
    items = _list(_object(doc, "request body"), "items", "", max_len=MAX_ITEMS)
    return [_parse_item(i, raw) for i, raw in enumerate(items)]


def _parse_item(i: int, raw: Any) -> SubmittedItem:
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
    quality = _int(item, "quality", where)
    if quality is not None and (spec.name != "pdq" or not 0 <= quality <= 100):
        raise BadRequestError(f"{where}quality is a PDQ hash's quality, 0 to 100")
    # Labels are a set: sort and de-duplicate for the caller, the wire wants one form.
    parsed = HashItem(spec.name, value, tuple(sorted(set(labels))), None, expires)
    return SubmittedItem(parsed, case, quality)


@dataclass(frozen=True, slots=True)
class RevokeRequest:
    """What to withdraw: an entry (whole, or some items), or every item of a case; with
    ``erase``, an entry whose body every node is also to drop."""

    entry_id: bytes | None
    case: str | None
    items: tuple[int, ...] | None
    reason: RevokeReason
    erase: bool = False


def parse_revoke(doc: Any) -> RevokeRequest:
    """``{"entry_id" | "case", "items"?, "reason"?, "erase"?}`` → what to withdraw."""
    body = _object(doc, "request body")
    reason = _enum_name(body.get("reason", "unspecified"), RevokeReason, "reason")
    if "case" in body and "entry_id" not in body:
        case = _str(body, "case", "")
        assert case is not None
        if not 0 < len(case) <= MAX_CASE_LEN:
            raise BadRequestError(f"case must be 1 to {MAX_CASE_LEN} characters")
        if body.get("items") is not None:
            raise BadRequestError("items cannot be given with case: a case is withdrawn whole")
        if body.get("erase", False) is not False:
            raise BadRequestError("erase names one entry: give entry_id, not case")
        return RevokeRequest(None, case, None, reason)
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
    erase = body.get("erase", False)
    if not isinstance(erase, bool):
        raise BadRequestError("erase must be true or false")
    if erase and items is not None:
        raise BadRequestError("an erasing revoke names whole entries: leave out items")
    return RevokeRequest(entry_id, None, items, reason, erase)


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
    """Matches as JSON; ``names`` gives each author's display name (None when unnamed)."""
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
        "kind": stored.kind.name.lower(),
        "timestamp_ms": stored.timestamp_ms,
        "received_ms": stored.received_ms,
        "erased": stored.erased,
        # A takedown of the latest charter covers it: it is in the feed but has no effect.
        "void": stored.void,
        "incomplete": stored.incomplete,
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
            "erase": body.erase,
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


def parse_import_step(doc: Any, unit: str) -> ImportStep | None:
    """The optional ``import`` member: which import a chunk belongs to and how far it is.

    ``{"id": "<1-64 chars>", "name": "<file name>", "done": n, "total": n}``; ``hashbank
    import`` sends it so the operator's console can show imports in progress.
    """
    raw = doc.get("import") if isinstance(doc, dict) else None
    if raw is None:
        return None
    where = "import."
    step = _object(raw, "import")
    import_id, name = _str(step, "id", where) or "", _str(step, "name", where) or ""
    done, total = _int(step, "done", where), _int(step, "total", where)
    if not 0 < len(import_id) <= 64 or not import_id.isprintable():
        raise BadRequestError("import.id must be 1 to 64 printable characters")
    if done is None or total is None or not 0 <= done <= total:
        raise BadRequestError("import.done and import.total must be whole numbers, done <= total")
    return ImportStep(import_id, name[:200], unit, done, total)


def parse_fork_import(doc: Any) -> list[bytes]:
    """``{"proofs": ["<hex>", …]}`` → fork proofs' bytes (as ``GET /v1/forks`` shows them)."""
    texts = _list(_object(doc, "request body"), "proofs", "", max_len=MAX_FORK_IMPORT)
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not _HEX.fullmatch(text):
            raise BadRequestError(f"proofs[{i}] must be a non-empty hex string")
        out.append(bytes.fromhex(text))
    return out


def fork_import_view(fresh: int, invalid: Sequence[tuple[int, ProtocolError]]) -> dict[str, Any]:
    """What became of imported fork proofs: how many are new here, and which did not verify."""
    return {
        "new": fresh,
        "invalid": [{"index": i, "code": exc.code, "message": exc.message} for i, exc in invalid],
    }


# --- console accounts (the operator's commands) -------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRequest:
    """``POST /v1/users``: a new console account; no ``password``: the node makes one."""

    name: str
    role: str
    password: str | None


def parse_user_add(doc: Any) -> UserRequest:
    obj = _object(doc, "the request")
    name, role = _str(obj, "name", ""), _str(obj, "role", "")
    return UserRequest(str(name), str(role), parse_password(obj))


def parse_password(doc: Any) -> str | None:
    """The optional ``password`` of an account request object."""
    obj = _object(doc, "the request")
    return _str(obj, "password", "") if "password" in obj else None


# --- query parameters ----------------------------------------------------------------------


def query_int(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """A non-negative integer query parameter (at most 18 digits)."""
    text = query.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadRequestError(
            f"query parameter {name} must be a non-negative integer, got {text!r}"
        )
    value = int(text)
    if value < minimum:
        raise BadRequestError(f"query parameter {name} must be at least {minimum}")
    return value


def query_kinds(text: str | None) -> ChangeKinds:
    """``kinds=add,revoke,withdrawn`` → those elements of the change feed (all when absent)."""
    if not text:
        return ChangeKinds()
    entry_kinds = {k.name.lower(): k for k in Kind}
    item_kinds = {str(k): k for k in ItemChangeKind}
    entries, items = [], []
    for name in text.split(","):
        if name in entry_kinds:
            entries.append(entry_kinds[name])
        elif name in item_kinds:
            items.append(item_kinds[name])
        else:
            known = ", ".join([*entry_kinds, *item_kinds])
            raise BadRequestError(f"unknown kind {name!r} in kinds; known: {known}")
    return ChangeKinds(tuple(entries), tuple(items))


def parse_lookup(doc: Any, max_signals: int) -> list[Query]:
    """``{"signals": [{"signal_type", "value"}]}`` → queries."""
    if not isinstance(doc, dict) or not isinstance(doc.get("signals"), list):
        raise BadRequestError("request body must be an object with a signals array")
    raw = doc["signals"]
    if len(raw) > max_signals:
        raise PayloadTooLargeError(f"signals has {len(raw)} elements; the limit is {max_signals}")
    queries = []
    for i, sig in enumerate(raw):
        if not isinstance(sig, dict):
            raise BadRequestError(f"signals[{i}] must be a JSON object")
        spec = signal_type(sig.get("signal_type"), f"signals[{i}].signal_type")
        queries.append(Query(spec, spec.parse(sig.get("value"), f"signals[{i}].value")))
    return queries


def parse_charter_post(doc: Any) -> bytes:
    """``{"charter": "<base64>"}`` → the charter's bytes."""
    text = doc.get("charter") if isinstance(doc, dict) else None
    if not isinstance(text, str):
        raise BadRequestError('expected {"charter": "<base64 of a charter>"}')
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise BadRequestError("charter is not valid base64") from None


# --- responses -----------------------------------------------------------------------------


def case_revoked_view(case: str, entries: Sequence[Entry]) -> dict[str, Any]:
    """The revokes that withdrew a case: ``{"case", "revocations": [{"entry_id", "seq"}]}``."""
    return {"case": case, "revocations": [published_view(e) for e in entries]}


def published_view(entry: Entry, *, duplicate: bool | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"entry_id": entry.id.hex(), "seq": entry.seq}
    if duplicate is not None:
        view["duplicate"] = duplicate
    return view


def change_view(change: StoredEntry | ItemChange) -> dict[str, Any]:
    """One element of the change feed: an entry, or items withdrawn or restored without one."""
    if isinstance(change, StoredEntry):
        return entry_view(change)
    return {
        "cursor": str(change.cursor),
        "kind": str(change.kind),
        "reason": str(change.reason),
        "charter_version": change.charter_version,
        # Named as entries' field, so a reader of the feed's times needs no second case.
        "received_ms": change.recorded_ms,
        "items": [
            {
                "entry_id": it.entry_id.hex(),
                "index": it.idx,
                "author": it.author.hex(),
                "signal_type": it.signal_type,
                "value": it.value.hex(),
            }
            for it in change.items
        ],
    }


def change_kind(change: StoredEntry | ItemChange) -> str:
    """The change's ``kind`` (the SSE event name): add, revoke, feedback, withdrawn, restored."""
    return change.kind.name.lower() if isinstance(change, StoredEntry) else str(change.kind)


def changes_view(
    page: Sequence[StoredEntry | ItemChange], after: int, more: bool
) -> dict[str, Any]:
    return {
        "changes": [change_view(r) for r in page],
        "cursor": str(page[-1].cursor if page else max(after, 0)),
        "more": more,
    }


def import_view(report: IngestReport) -> dict[str, Any]:
    return {
        "stored": len(report.stored),
        "duplicates": report.duplicates,
        "held": report.held,
        "rejected": dict(report.rejected),
        "errors": list(report.errors),
        "forks": len(report.forks),
    }


def forks_view(forks: Sequence[ForkRecord]) -> dict[str, Any]:
    return {
        "forks": [
            {
                "author": f.author.hex(),
                "seq": f.seq,
                "proof": f.proof.hex(),
                "detected_ms": f.detected_ms,
            }
            for f in forks
        ]
    }


def status_view(
    replica: ReplicaStatus, federation: FederationStatus | None, limits: LimitsStatus
) -> dict[str, Any]:
    """``GET /v1/status``."""
    sightings = federation.sightings if federation else {}
    counts = replica.counts
    doc: dict[str, Any] = {
        "node_id": replica.node_id,
        "org_id": replica.org_id.hex(),
        "name": replica.name,
        "role": replica.role,
        "version": replica.version,
        "uptime_s": replica.uptime_s,
        "bank_digest": replica.bank_digest.hex(),
        "entries": counts.entries,
        "authors": counts.authors,
        "active_hashes": dict(counts.active_hashes),
        "pdq_indexed": replica.pdq_indexed,
        "forks": [{"author": f.author.hex(), "seq": f.seq} for f in replica.forks],
        "rejected": dict(replica.rejected),
        "charter": _charter_status(replica.charter),
        "held": replica.held,
        "held_bytes": replica.held_bytes,
        "incomplete": replica.incomplete,
        "incomplete_entries": [
            {"author": i.author.hex(), "seq": i.seq, "entry_id": i.entry_id.hex()}
            for i in replica.incomplete_entries
        ],
        "feeds": [_feed_status(f, sightings.get(f.author)) for f in replica.feeds],
        "behind": _behind(replica, sightings),
        "limits": _limits_status(limits),
    }
    if federation is not None:
        doc["peers"] = [_peer_status(p) for p in federation.peers]
    return doc


def _limits_status(limits: LimitsStatus) -> dict[str, Any]:
    peer = None if limits.peer_refused is None else {"refused": limits.peer_refused}
    return {
        "api": {"refused": limits.api_refused},
        "peer": peer,
        "connections": {
            "open": limits.connections,
            "max": limits.max_connections,
            "closed_slow": limits.closed_slow,
            "refused": limits.connections_refused,
        },
    }


def _charter_status(charter: CharterStatus | None) -> dict[str, Any] | None:
    if charter is None:
        return None
    return {
        "network": charter.network,
        "version": charter.version,
        "members": charter.members,
        "roles": list(charter.roles),
    }


def _feed_status(feed: FeedStatus, seen: Sighting | None) -> dict[str, Any]:
    return {
        "author": feed.author.hex(),
        "name": feed.name,
        "seq": feed.seq,
        "advanced_ms": feed.advanced_ms,
        "seen_seq": seen.seq if seen else None,
    }


def _behind(replica: ReplicaStatus, sightings: Mapping[bytes, Sighting]) -> list[dict[str, Any]]:
    ours = {f.author: f.seq for f in replica.feeds}
    return [
        {
            "author": author.hex(),
            "name": replica.names.get(author),
            "seq": ours.get(author, 0),
            "seen_seq": s.seq,
            "seen_at": s.peer,
            "since_ms": s.since_ms,
        }
        for author, s in sorted(sightings.items())
        if s.seq > ours.get(author, 0)
    ]


def _peer_status(peer: PeerStatus) -> dict[str, Any]:
    return {
        "url": peer.url,
        "node_id": peer.node_id,
        "behind_on": [a.hex() for a in peer.behind_on],
        "queue": peer.queue,
        "failures": peer.failures,
        "last_ok_ms": peer.last_ok_ms,
        "last_error": peer.last_error,
        "stats": dict(peer.stats),
        "divergences": [
            {
                "author": d.author.hex(),
                "first_seq": d.first_seq,
                "last_seq": d.last_seq,
                "reason": d.reason,
                "detected_ms": d.detected_ms,
            }
            for d in peer.divergences
        ],
    }


# --- the charter ---------------------------------------------------------------------------


def charter_summary(charter: Charter, heads: dict[bytes, int] | None = None) -> dict[str, Any]:
    """A charter version as JSON for people and tools."""
    body = charter.body
    return {
        "network": body.network,
        "version": body.number,
        "id": charter.id.hex(),
        "effective_ms": body.effective_ms,
        "effective": _iso(body.effective_ms),
        "threshold": body.threshold,
        "members": [_member(m, heads) for m in body.members],
        "takedowns": [
            {"org_id": t.org_id.hex(), "from_seq": t.from_seq, "until_seq": t.until_seq}
            for t in body.takedowns
        ],
        "signatures": [k.hex() for k, _ in charter.signatures],
    }


def _member(m: Member, heads: dict[bytes, int] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "org_id": m.org_id.hex(),
        "name": m.name,
        "roles": list(m.roles),
        "keys": [{"key": k.key.hex(), "from_seq": k.from_seq} for k in m.keys],
    }
    if heads is not None:
        doc["head_seq"] = heads.get(m.org_id, 0)
    return doc


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def charter_view(
    chain: CharterChain | None, heads: Mapping[bytes, int], forks: Sequence[CharterForkRecord]
) -> dict[str, Any]:
    """``GET /v1/charter``: the latest version, its history and any charter forks."""
    if chain is None:
        return {"charter": None, "raw": None, "members": [], "history": []}
    latest = chain.latest
    doc = charter_summary(latest, dict(heads))
    doc["raw"] = base64.b64encode(latest.encode()).decode()
    doc["history"] = [
        {
            "version": c.number,
            "id": c.id.hex(),
            "effective_ms": c.body.effective_ms,
            "signatures": len(c.signatures),
        }
        for c in chain.versions
    ]
    doc["forks"] = [
        {"version": f.number, "proof": f.proof.hex(), "detected_ms": f.detected_ms} for f in forks
    ]
    return doc


def draft_view(status: DraftStatus, previous: CharterBody | None) -> dict[str, Any]:
    """A pending charter draft: what it changes, who signed, what it still needs."""
    doc = charter_summary(status.charter)
    doc.update(
        {
            "signed_by": list(status.signed),
            "not_signed_by": list(status.missing),
            "signatures_needed": status.needed,
            "ready": status.ready,
            "problem": status.problem,
            "received_ms": status.received_ms,
            "changes": [
                {"kind": c.kind, "member": c.name, "detail": c.detail}
                for c in changes(previous, status.charter.body)
            ],
            "raw": base64.b64encode(status.charter.encode()).decode(),
        }
    )
    return doc


def charter_versions_view(raws: Sequence[bytes], after: int, available: int) -> dict[str, Any]:
    """A page of signed charter versions: ``{"versions": [{"version", "charter"}], "more"}``."""
    return {
        "versions": [
            {"version": after + 1 + n, "charter": base64.b64encode(raw).decode()}
            for n, raw in enumerate(raws)
        ],
        "more": available > len(raws),
    }


def charter_report_view(report: CharterReport) -> dict[str, Any]:
    return {"adopted": report.appended, "known": report.known, "forks": report.forks}


# --- feedback and platform reads -----------------------------------------------------------


def feedback_view(fb: Feedback, names: Mapping[bytes, str]) -> dict[str, Any]:
    """One verdict as JSON."""
    giver = fb.stored.author
    return {
        "feedback_id": fb.stored.id.hex(),
        "cursor": str(fb.stored.cursor),
        "giver": giver.hex(),
        "giver_name": names.get(giver),
        "verdict": fb.body.verdict.name.lower(),
        "note": fb.body.note.name.lower(),
        "signal_type": fb.body.signal_type,
        "value": fb.body.value.hex(),
        "entry_id": fb.body.entry_id.hex() if fb.body.entry_id else None,
        "timestamp_ms": fb.stored.timestamp_ms,
        "received_ms": fb.stored.received_ms,
    }


def feedback_list_view(
    scope: dict[str, Any], feedback: Sequence[Feedback], names: Mapping[bytes, str]
) -> dict[str, Any]:
    return {**scope, "feedback": [feedback_view(fb, names) for fb in feedback]}


def our_feedback_view(
    org: bytes, case: str | None, adds: Sequence[AddFeedback], names: Mapping[bytes, str]
) -> dict[str, Any]:
    """``GET /v1/feedback/entries``: our adds and the feedback naming them."""
    return {
        "org_id": org.hex(),
        "name": names.get(org),
        "case": case,
        "entries": [
            {
                "entry_id": a.entry.id.hex(),
                "seq": a.entry.seq,
                "timestamp_ms": a.entry.timestamp_ms,
                "items": a.items,
                "active_items": a.active_items,
                "feedback": [feedback_view(fb, names) for fb in a.feedback],
            }
            for a in adds
        ],
    }


def lookup_view(
    queries: Sequence[Query],
    found: Sequence[Sequence[Match]],
    expiry: Mapping[int, int | None],
    latest: Mapping[tuple[str, bytes], Sequence[Feedback]],
    names: Mapping[bytes, str],
) -> dict[str, Any]:
    """``POST /v1/signals/lookup``: each hash's active items and latest feedback."""
    signals = []
    for query, matches in zip(queries, found, strict=True):
        key = (query.signal.name, query.value)
        signals.append(
            {
                "signal_type": query.signal.name,
                "value": query.value.hex(),
                "items": [
                    {
                        "entry_id": m.item.entry_id.hex(),
                        "item": m.item.idx,
                        "author": m.item.author.hex(),
                        "author_name": names.get(m.item.author),
                        "labels": list(m.item.labels),
                        "expires_ms": expiry.get(m.item.item_id),
                    }
                    for m in matches
                ],
                "feedback": [feedback_view(fb, names) for fb in latest.get(key, [])],
            }
        )
    return {"signals": signals}


def hashes_page_view(page: Sequence[ItemRow], after: int, more: bool) -> dict[str, Any]:
    """``GET /v1/hashes``: a page of active items."""
    return {
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
        "more": more,
    }
