"""``/v1/charter``: the charter this node enforces, its signed versions, and adopting one."""

from __future__ import annotations

from aiohttp import web

from node.api import shapes
from node.api.context import json_response, node_of, read_json
from protocol.errors import CharterError

# Versions per page of ``/v1/charter/versions``: one may be up to a megabyte.
VERSIONS_PAGE = 16


async def get_charter(request: web.Request) -> web.Response:
    node = node_of(request)
    heads = {a: h.seq for a, h in node.feeds.heads.items()}
    forks = await node.store.charter_forks()
    return json_response(shapes.charter_view(node.charters.chain, heads, forks))


async def post_charter(request: web.Request) -> web.Response:
    raw = shapes.parse_charter_post(await read_json(request))
    report = await node_of(request).charters.adopt(raw)
    if not report.appended and not report.known:
        raise CharterError("; ".join(report.errors) or f"charter refused: {dict(report.rejected)}")
    return json_response(shapes.charter_report_view(report))


async def charter_versions(request: web.Request) -> web.Response:
    """Every adopted version's exact signed bytes after ``after``, oldest first (a backup)."""
    after = shapes.query_int(request.query, "after", 0, minimum=0)
    raws = node_of(request).charters.since(after)
    return json_response(shapes.charter_versions_view(raws[:VERSIONS_PAGE], after, len(raws)))


async def get_drafts(request: web.Request) -> web.Response:
    """Charter drafts handed to this node, still waiting to be adopted."""
    node = node_of(request)
    chain = node.charters.chain
    previous = chain.latest.body if chain else None
    pending = node.drafts.pending(chain)
    return json_response({"drafts": [shapes.draft_view(d, previous) for d in pending]})


async def post_draft(request: web.Request) -> web.Response:
    """Keep a draft (its signatures merged into a copy already kept) for the console to list."""
    raw = shapes.parse_charter_post(await read_json(request))
    node = node_of(request)
    chain = node.charters.chain
    status = node.drafts.add(raw, chain)
    return json_response(shapes.draft_view(status, chain.latest.body if chain else None), 201)
