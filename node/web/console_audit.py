"""The audit log as a page for operators: who did what, when, filtered by person or action."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from node.web.accounts import OPERATOR
from node.web.audit import Action
from node.web.console import CONSOLE, audit_query
from node.web.console_site import render
from node.web.sessions import require_login


@require_login(OPERATOR)
async def audit_page(request: web.Request) -> web.StreamResponse:
    query = audit_query(request)
    console = request.app[CONSOLE]
    entries = await console.audit.page(
        before_id=query.before, limit=query.limit + 1, actor=query.actor, action=query.action
    )
    more = None
    if len(entries) > query.limit:
        kept = {k: v for k, v in (("actor", query.actor), ("action", query.action)) if v}
        more = f"/console/audit?{urlencode({**kept, 'before': entries[query.limit - 1].audit_id})}"
    return render(request, "audit.html", entries=entries[: query.limit], more=more,
                  actor=query.actor or "", action=query.action or "",
                  actions=[a.value for a in Action])  # fmt: skip
