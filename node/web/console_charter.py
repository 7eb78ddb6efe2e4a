"""The charter as the operator sees it: the version in force, its members and thresholds, its
history, and the drafts waiting for signatures (with who has signed and who has not).

Drafts reach the node from ``hashbank charter share``, ``POST /v1/charter/drafts``, or the
upload form here (the JSON file ``hashbank charter propose/sign`` write). The node keeps them
in ``node.replica.drafts`` and never publishes them.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from aiohttp import web

from node.replica.drafts import DraftStatus, changes
from node.replica.errors import ReplicaError
from node.replica.node import Node
from node.web.accounts import OPERATOR
from node.web.audit import Action
from node.web.console import CONSOLE
from node.web.console_site import render
from node.web.context import node_of
from node.web.csrf import read_form
from node.web.errors import BadInputError
from node.web.sessions import logged_in, require_login
from protocol.charter import CharterBody

MAX_DRAFT_FILE: Final = 2 * 1024 * 1024  # a charter is at most 1 MiB, base64 in JSON


def charter_view(node: Node) -> dict[str, Any] | None:
    chain = node.charters.chain
    if chain is None:
        return None
    latest = chain.latest
    body = latest.body
    names = {m.org_id: m.name for v in chain.versions for m in v.body.members}
    return {
        "network": body.network,
        "version": latest.number,
        "id": latest.id.hex(),
        "effective_ms": body.effective_ms,
        "threshold": body.threshold,
        "stewards": len(body.steward_keys()),
        "members": [
            {
                "name": m.name,
                "org_id": m.org_id.hex(),
                "roles": m.roles,
                "key_list": [{"key": k.key.hex(), "from_seq": k.from_seq} for k in m.keys],
            }
            for m in body.members
        ],
        "takedowns": [
            {
                "name": names.get(t.org_id, t.org_id.hex()[:12]),
                "from_seq": t.from_seq,
                "until": "…" if t.until_seq is None else t.until_seq,
            }
            for t in body.takedowns
        ],
        "history": [
            {
                "version": v.number,
                "effective_ms": v.body.effective_ms,
                "signatures": len(v.signatures),
            }
            for v in reversed(chain.versions)
        ],
    }


def draft_view(status: DraftStatus, previous: CharterBody | None) -> dict[str, Any]:
    body = status.charter.body
    return {
        "version": body.number,
        "effective_ms": body.effective_ms,
        "received_ms": status.received_ms,
        "signed": status.signed,
        "missing": status.missing,
        "needed": status.needed,
        "ready": status.ready,
        "problem": status.problem,
        "changes": changes(previous, body),
    }


def _page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    node = node_of(request)
    chain = node.charters.chain
    previous = chain.latest.body if chain else None
    drafts = [draft_view(d, previous) for d in node.drafts.pending(chain)]
    context = {"notice": None, "problem": None} | extra
    return render(request, "charter.html", status=status, charter=charter_view(node),
                  drafts=drafts, **context)  # fmt: skip


@require_login(OPERATOR)
async def charter_page(request: web.Request) -> web.StreamResponse:
    return _page(request)


def _draft_bytes(field: Any) -> bytes:
    """The charter in an uploaded draft file (``{"charter": "<base64>", …}``)."""
    if not isinstance(field, web.FileField):
        raise BadInputError("choose a draft file to add")
    data = field.file.read(MAX_DRAFT_FILE + 1)
    if len(data) > MAX_DRAFT_FILE:
        raise BadInputError("that file is too large to be a charter draft")
    try:
        doc = json.loads(data)
        return base64.b64decode(doc["charter"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadInputError(
            "that is not a charter draft file (hashbank charter propose writes them)"
        ) from None


@require_login(OPERATOR)
async def add_draft(request: web.Request) -> web.StreamResponse:
    node, session = node_of(request), logged_in(request)
    form = await read_form(request)
    try:
        status = node.drafts.add(_draft_bytes(form.get("draft")), node.charters.chain)
    except (BadInputError, ReplicaError) as exc:
        return _page(request, status=400, problem=exc.message)
    detail = {"version": status.charter.number, "signatures": len(status.signed)}
    await request.app[CONSOLE].audit.audit(
        session.user.name, Action.DRAFT_ADDED, f"charter version {status.charter.number}", detail
    )
    return web.Response(status=303, headers={"Location": "/console/charter"})
