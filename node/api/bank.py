"""The bank's endpoints for helplines and platforms: publish, revoke, match, read.

Handlers parse with ``node.api.shapes``, act through the replica and answer JSON. They raise
errors; ``node.api.app`` turns every error into a JSON body in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from node.api import shapes
from node.api.context import json_response, node_of, read_json
from node.api.errors import NotFoundError, PayloadTooLargeError
from node.matching.matcher import Query
from node.replica.cases import Case
from node.replica.junk import Candidate
from node.replica.lookup import Lookup, Match
from protocol.errors import ProtocolError
from protocol.feed import decode_fork_proof
from protocol.identity import parse_hex

MAX_CHANGES = 1_000
# One answer's matches in all: 1,000 queries of a value published 10,000 times would
# otherwise build ten million of them (gigabytes) in memory.
MAX_MATCHES = 100_000


async def submit(request: web.Request) -> web.Response:
    node = node_of(request)
    doc = await read_json(request)
    submitted = shapes.parse_submit(doc)
    key = shapes.parse_idempotency_key(doc)
    # Before anything is written (a case opened for it, say).
    node.never_publish.check(
        Candidate(f"items[{i}]", s.item.signal_type, s.item.value, s.quality)
        for i, s in enumerate(submitted)
    )
    cases: dict[str, Case] = {}
    for ref in sorted({s.case for s in submitted if s.case is not None}):
        cases[ref] = await node.cases.get_or_open(ref, "operator")
    items = [(s.item, cases[s.case] if s.case else None) for s in submitted]
    step = shapes.parse_import_step(doc, "hashes")
    published = await node.cases.publish(items, key)
    if step is not None:
        node.imports.record(step, 1 if published.fresh else 0)
    # An earlier submission under the same key answers 200 with what it published.
    return json_response(
        shapes.published_view(published.entry, duplicate=not published.fresh),
        status=201 if published.fresh else 200,
    )


async def revoke(request: web.Request) -> web.Response:
    asked = shapes.parse_revoke(await read_json(request))
    node = node_of(request)
    if asked.case is not None:
        case = await node.cases.get(asked.case)
        if case is None:
            raise NotFoundError(f"no case {asked.case!r}")
        revokes = await node.cases.withdraw(case, None, asked.reason)
        return json_response(shapes.case_revoked_view(case.reference, revokes), status=201)
    assert asked.entry_id is not None
    entry = await node.publisher.revoke(
        asked.entry_id, asked.items, asked.reason, erase=asked.erase
    )
    return json_response(shapes.published_view(entry), status=201)


async def feedback(request: web.Request) -> web.Response:
    body = shapes.parse_feedback(await read_json(request))
    entry = await node_of(request).publisher.feedback(body)
    return json_response(shapes.published_view(entry), status=201)


async def match(request: web.Request) -> web.Response:
    queries, threshold = shapes.parse_match(await read_json(request))
    results = await bounded_match(node_of(request).lookup, queries, threshold)
    return json_response(shapes.match_results(results, node_of(request).names()))


async def bounded_match(
    lookup: Lookup, queries: Sequence[Query], threshold: int
) -> list[list[Match]]:
    """``lookup.match``, each distinct query once; 413 if the answer is over ``MAX_MATCHES``."""
    distinct = list(dict.fromkeys(queries))
    found = dict(zip(distinct, await lookup.match(distinct, threshold), strict=True))
    total = sum(len(found[q]) for q in queries)
    if total > MAX_MATCHES:
        raise PayloadTooLargeError(
            f"the answer would hold {total} matches, over the limit of {MAX_MATCHES}; "
            "ask about fewer hashes at a time"
        )
    return [found[q] for q in queries]


async def changes(request: web.Request) -> web.Response:
    after = shapes.query_int(request.query, "after", 0, minimum=0)
    limit = shapes.query_int(request.query, "limit", 100, minimum=1)
    if limit > MAX_CHANGES:
        raise PayloadTooLargeError(f"limit must be at most {MAX_CHANGES}, got {limit}")
    kinds = shapes.query_kinds(request.query.get("kinds"))
    rows = await node_of(request).store.change_feed(after, limit + 1, kinds)
    return json_response(shapes.changes_view(rows[:limit], after, len(rows) > limit))


async def entry(request: web.Request) -> web.Response:
    entry_id = parse_hex(request.match_info["entry_id"], 32, "entry_id")
    stored = await node_of(request).entry(entry_id)
    if stored is None:
        raise NotFoundError(f"no entry {entry_id.hex()}")
    return json_response(shapes.entry_view(stored, detail=True))


async def import_entries(request: web.Request) -> web.Response:
    doc = await read_json(request)
    raws = shapes.parse_import(doc)
    step = shapes.parse_import_step(doc, "entries")
    report = await node_of(request).ingest(raws, source="import")
    if step is not None:
        node_of(request).imports.record(step, len(report.stored))
    return json_response(shapes.import_view(report))


async def import_forks(request: web.Request) -> web.Response:
    """Keep fork proofs from a file (an export): each verified like a peer's, bad ones listed."""
    proofs = shapes.parse_fork_import(await read_json(request))
    node = node_of(request)
    fresh, invalid = 0, list[tuple[int, ProtocolError]]()
    for i, data in enumerate(proofs):
        try:
            proof = decode_fork_proof(data, node.policy)
        except ProtocolError as exc:
            invalid.append((i, exc))
            continue
        fresh += await node.record_fork(proof, source="import")
    return json_response(shapes.fork_import_view(fresh, invalid))


async def forks(request: web.Request) -> web.Response:
    return json_response(shapes.forks_view(await node_of(request).forks()))
