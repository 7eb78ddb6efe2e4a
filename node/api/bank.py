"""The JSON HTTP API for helplines and platforms (``/v1/…``).

Handlers parse with ``node.views``, act through ``node.service.Node`` and return JSON. They
raise errors; ``node.server`` turns every error into a 4xx JSON body in one place.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from node.api import views
from node.api.limits import read_body
from node.cli.charter_files import summary
from node.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
)
from node.matching.matcher import Match, Query
from node.replica.node import Node
from protocol.body import Kind
from protocol.errors import CharterError
from protocol.identity import parse_hex

NODE_KEY: web.AppKey[Node] = web.AppKey("node", Node)
GOSSIP_KEY: web.AppKey[Any] = web.AppKey("gossip")
MAX_CHANGES = 1_000
# One answer's matches in all: 1,000 queries of a value published 10,000 times would
# otherwise build ten million of them (gigabytes) in memory.
MAX_MATCHES = 100_000


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


def node_of(request: web.Request) -> Node:
    return request.app[NODE_KEY]


def member_names(node: Node) -> dict[bytes, str]:
    """Display names by organisation id, for responses that name authors and givers.

    Ours is the configured name; another's is its name in the latest charter version listing
    it; an organisation in no charter version has none.
    """
    chain = node.charters.chain
    names: dict[bytes, str] = {}
    if chain is not None:
        names.update((m.org_id, m.name) for c in chain.versions for m in c.body.members)
    names[node.org] = node.config.name
    return names


async def status(request: web.Request) -> web.Response:
    doc = await node_of(request).status()
    if GOSSIP_KEY in request.app:
        doc["peers"] = request.app[GOSSIP_KEY].status()
    return json_response(doc)


async def submit(request: web.Request) -> web.Response:
    node = node_of(request)
    doc = await read_json(request)
    body = views.parse_submit(doc, node.case_secret)
    key = views.parse_idempotency_key(doc)
    entry, fresh = await node.publish_once(body, key)
    # An earlier submission under the same key answers 200 with what it published.
    return json_response(
        {"entry_id": entry.id.hex(), "seq": entry.seq, "duplicate": not fresh},
        status=201 if fresh else 200,
    )


async def revoke(request: web.Request) -> web.Response:
    node = node_of(request)
    entry_id, items, reason = views.parse_revoke(await read_json(request))
    stored = await node.entry(entry_id)
    if stored is None:
        raise NotFoundError(f"no entry {entry_id.hex()}")
    if stored.author != node.org:
        raise ForbiddenError(f"entry {entry_id.hex()} was published by another organisation")
    if stored.kind != Kind.ADD:
        raise BadRequestError(
            f"entry {entry_id.hex()} is a {Kind(stored.kind).name.lower()}, not an add"
        )
    rows = await node.store.items_of_entry(entry_id)
    if items is not None and items[-1] >= len(rows):
        raise BadRequestError(
            f"entry {entry_id.hex()} has {len(rows)} items; there is no item {items[-1]}"
        )
    chosen = rows if items is None else [rows[i] for i in items]
    if not any(r.active for r in chosen):
        raise ConflictError(f"entry {entry_id.hex()}: those items are already withdrawn")
    entry = await node.publish(views.revoke_body(entry_id, items, reason))
    return json_response({"entry_id": entry.id.hex(), "seq": entry.seq}, status=201)


async def feedback(request: web.Request) -> web.Response:
    node = node_of(request)
    body = views.parse_feedback(await read_json(request))
    if body.entry_id is not None and await node.entry(body.entry_id) is None:
        raise NotFoundError(f"no entry {body.entry_id.hex()}")
    entry = await node.publish(body)
    return json_response({"entry_id": entry.id.hex(), "seq": entry.seq}, status=201)


async def match(request: web.Request) -> web.Response:
    queries, threshold = views.parse_match(await read_json(request))
    node = node_of(request)
    results = await bounded_match(node, queries, threshold)
    return json_response(views.match_results(results, member_names(node)))


async def bounded_match(node: Node, queries: list[Query], threshold: int) -> list[list[Match]]:
    """``node.match``, each distinct query once; 413 if the answer is over ``MAX_MATCHES``."""
    distinct = list(dict.fromkeys(queries))
    found = dict(zip(distinct, await node.match(distinct, threshold), strict=True))
    total = sum(len(found[q]) for q in queries)
    if total > MAX_MATCHES:
        raise PayloadTooLargeError(
            f"the answer would hold {total} matches, over the limit of {MAX_MATCHES}; "
            "ask about fewer hashes at a time"
        )
    return [found[q] for q in queries]


async def changes(request: web.Request) -> web.Response:
    after = _query_int(request, "after", 0, minimum=0)
    limit = _query_int(request, "limit", 100, minimum=1)
    if limit > MAX_CHANGES:
        raise PayloadTooLargeError(f"limit must be at most {MAX_CHANGES}, got {limit}")
    kinds = _kinds(request.query.get("kinds"))
    node = node_of(request)
    rows = await node.store.changes(after, limit + 1, kinds)
    page = rows[:limit]
    return json_response(
        {
            "changes": [views.entry_view(r) for r in page],
            "cursor": str(page[-1].cursor if page else max(after, 0)),
            "more": len(rows) > limit,
        }
    )


def _query_int(request: web.Request, name: str, default: int, *, minimum: int) -> int:
    text = request.query.get(name)
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


def _kinds(text: str | None) -> tuple[int, ...]:
    if not text:
        return tuple(int(k) for k in Kind)
    names = {k.name.lower(): int(k) for k in Kind}
    out = []
    for name in text.split(","):
        if name not in names:
            raise BadRequestError(f"unknown kind {name!r} in kinds; known: {', '.join(names)}")
        out.append(names[name])
    return tuple(out)


async def entry(request: web.Request) -> web.Response:
    entry_id = parse_hex(request.match_info["entry_id"], 32, "entry_id")
    stored = await node_of(request).entry(entry_id)
    if stored is None:
        raise NotFoundError(f"no entry {entry_id.hex()}")
    return json_response(views.entry_view(stored, detail=True))


async def import_entries(request: web.Request) -> web.Response:
    raws = views.parse_import(await read_json(request))
    report = await node_of(request).ingest(raws, source="import")
    return json_response(
        {
            "stored": len(report.stored),
            "duplicates": report.duplicates,
            "held": report.held,
            "rejected": dict(report.rejected),
            "errors": report.errors,
            "forks": len(report.forks),
        }
    )


async def forks(request: web.Request) -> web.Response:
    rows = await node_of(request).store.forks()
    return json_response(
        {
            "forks": [
                {"author": a.hex(), "seq": seq, "proof": proof.hex(), "detected_ms": when}
                for a, (seq, proof, when) in sorted(rows.items())
            ]
        }
    )


async def get_charter(request: web.Request) -> web.Response:
    node = node_of(request)
    latest = node.charters.latest
    if latest is None:
        return json_response({"charter": None, "raw": None, "members": [], "history": []})
    heads = {a: h.seq for a, h in node.heads.items()}
    chain = node.charters.chain
    assert chain is not None
    doc = summary(latest, heads)
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
        {"version": n, "proof": proof.hex(), "detected_ms": when}
        for n, proof, when in await node.store.charter_forks()
    ]
    return json_response(doc)


async def post_charter(request: web.Request) -> web.Response:
    doc = await read_json(request)
    text = doc.get("charter") if isinstance(doc, dict) else None
    if not isinstance(text, str):
        raise BadRequestError('expected {"charter": "<base64 of a charter>"}')
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise BadRequestError("charter is not valid base64") from None
    report = await node_of(request).charters.adopt(raw)
    if not report.appended and not report.known:
        raise CharterError("; ".join(report.errors) or f"charter refused: {dict(report.rejected)}")
    return json_response({"adopted": report.appended, "known": report.known, "forks": report.forks})


def add_routes(app: web.Application) -> None:
    """Register the API routes; ``/v1/status`` is open, the rest need the bearer token."""
    app.router.add_get("/v1/status", status)
    app.router.add_post("/v1/hashes", submit)
    app.router.add_post("/v1/revocations", revoke)
    app.router.add_post("/v1/feedback", feedback)
    app.router.add_post("/v1/match", match)
    app.router.add_get("/v1/changes", changes)
    app.router.add_get("/v1/entries/{entry_id}", entry)
    app.router.add_post("/v1/entries", import_entries)
    app.router.add_get("/v1/forks", forks)
    # Platforms as subscribing peers (issue 7). Imported here: those modules import this one.
    from node.api import feedback as feedback_api
    from node.api import platform as platform_api
    from node.api import stream as sse

    sse.setup(app)
    app.router.add_get("/v1/changes/stream", sse.stream)
    app.router.add_get("/v1/feedback", feedback_api.feedback_list)
    app.router.add_get("/v1/feedback/entries", feedback_api.feedback_entries)
    app.router.add_post("/v1/signals/lookup", platform_api.lookup)
    app.router.add_get("/v1/hashes", platform_api.active_hashes)
    app.router.add_get("/v1/charter", get_charter)
    app.router.add_post("/v1/charter", post_charter)


OPEN_PATHS = frozenset({"/v1/status"})
