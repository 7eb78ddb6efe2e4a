"""The caseworkers' pages: the case list and search, a case, a new case, withdrawing, the report.

Cases exist on publisher nodes only. A new case is hashed in the caseworker's browser with
the victim's own file chooser and hasher (``static/app/chooser.js``); the page posts only
hex hashes, as JSON with the session's CSRF token, to ``POST /console/api/cases``. Every
change a caseworker makes commits with its audit line (``Cases.publish``/``withdraw`` take
an ``also``), and opening the report is audited too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from node.replica.cases import Case, check_reference
from node.replica.errors import ReplicaError
from node.store import CASE_STATES, CaseSearch, Transaction
from node.web import case_views
from node.web.accounts import CASEWORKER
from node.web.audit import Action, AuditLog, Detail
from node.web.console import CONSOLE
from node.web.console_site import render
from node.web.context import json_response, node_of
from node.web.csrf import read_form
from node.web.errors import BadInputError
from node.web.protect import read_small_json
from node.web.selfservice import refuse_junk
from node.web.sessions import logged_in, require_login
from node.web.shapes import group_files, parse_files
from protocol.body import RevokeReason
from protocol.entry import Entry

PAGE: Final = 50
# Items a caseworker publishes: verified by the helpline, so not marked self-submitted.
LABELS: Final = ("ncii",)
REASONS: Final = tuple(r.name.lower() for r in RevokeReason)
_OFFSET: Final = re.compile(r"-?[0-9]{1,4}")  # minutes east of UTC, from the page's script
NOT_OURS: Final = "the form named an item that is not part of this case"


def _publisher(request: web.Request) -> None:
    if node_of(request).config.role != "publisher":
        raise web.HTTPNotFound(text="this node is a subscriber: it has no cases")


def audit_of(request: web.Request) -> AuditLog:
    return request.app[CONSOLE].audit


async def _case(request: web.Request) -> Case:
    _publisher(request)
    text = request.match_info["case_id"]
    case = (
        await node_of(request).cases.by_id(int(text)) if text.isdigit() and len(text) < 12 else None
    )
    if case is None:
        raise web.HTTPNotFound(text="there is no such case on this node")
    return case


# --- the list ---------------------------------------------------------------------------------


def _day_ms(text: str, tz_minutes: int, what: str) -> int | None:
    """Midnight starting day ``text`` (YYYY-MM-DD) in the viewer's zone, as epoch ms."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{what} must be a date (YYYY-MM-DD)") from None
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(midnight.timestamp() * 1000) - tz_minutes * 60_000


def parse_search(request: web.Request) -> tuple[CaseSearch, dict[str, str]]:
    """The search form's fields; the viewer's zone offset comes from the page's script."""
    q = request.query
    shown = {k: q.get(k, "").strip()[:200] for k in ("q", "from", "until", "state", "tz")}
    tz = shown["tz"]
    offset = int(tz) if _OFFSET.fullmatch(tz) and abs(int(tz)) <= 14 * 60 else 0
    if shown["state"] and shown["state"] not in CASE_STATES:
        raise BadInputError(f"state must be one of {', '.join(CASE_STATES)}")
    until = _day_ms(shown["until"], offset, "until")
    before = q.get("before", "")
    search = CaseSearch(
        text=shown["q"] or None,
        created_from_ms=_day_ms(shown["from"], offset, "from"),
        created_until_ms=None if until is None else until + 86_400_000,
        state=shown["state"] or None,
        before_id=int(before) if before.isdigit() and len(before) < 12 else None,
    )
    return search, shown


@require_login(CASEWORKER)
async def cases_list(request: web.Request) -> web.StreamResponse:
    _publisher(request)
    query = {"text": "", "date_from": "", "date_until": "", "state": "", "tz": ""}
    try:
        search, shown = parse_search(request)
    except BadInputError as exc:
        return render(request, "cases.html", status=400, cases=[], more=None, query=query,
                      states=CASE_STATES, problem=exc.message, created=False)  # fmt: skip
    rows = await node_of(request).cases.summaries(search, PAGE + 1)
    more = None
    if len(rows) > PAGE:
        kept = {k: v for k, v in shown.items() if v}
        more = f"/console/cases?{urlencode({**kept, 'before': rows[PAGE - 1].case.case_id})}"
    query = {"text": shown["q"], "date_from": shown["from"], "date_until": shown["until"],
             "state": shown["state"], "tz": shown["tz"]}  # fmt: skip
    return render(request, "cases.html", cases=rows[:PAGE], more=more, query=query,
                  states=CASE_STATES, problem=None, created=False)  # fmt: skip


# --- a new case -------------------------------------------------------------------------------


@require_login(CASEWORKER)
async def case_new(request: web.Request) -> web.StreamResponse:
    _publisher(request)
    return render(request, "case_new.html", script="newcase.js")


def _parse_new_case(doc: Any) -> tuple[str | None, bool]:
    if not isinstance(doc, dict):
        raise BadInputError("the request body must be a JSON object")
    reference, pin = doc.get("reference"), doc.get("pin", False)
    if reference is not None and not isinstance(reference, str):
        raise BadInputError("reference must be a string")
    if not isinstance(pin, bool):
        raise BadInputError("pin must be true or false")
    try:
        text = check_reference(reference) if reference and reference.strip() else None
    except ReplicaError as exc:
        raise BadInputError(exc.message) from None
    return text, pin


@require_login(CASEWORKER)
async def api_create_case(request: web.Request) -> web.StreamResponse:
    """``{"files": [...], "reference"?, "pin"?}``: a case, one signed add entry of its hashes."""
    _publisher(request)
    node, session = node_of(request), logged_in(request)
    doc = await read_small_json(request)
    items = [item._replace(labels=LABELS) for item in parse_files(doc)]
    reference, with_pin = _parse_new_case(doc)
    refuse_junk(node, items)  # before the case is opened: nothing refused is written
    opened = await node.cases.open("caseworker", reference=reference, with_pin=with_pin)
    case = opened.case
    audit = audit_of(request)

    async def line(txn: Transaction, entry: Entry) -> None:
        detail: Detail = {"entry": entry.id.hex(), "items": len(items), "pin": with_pin}
        await audit.write(txn, session.user.name, Action.CASE_CREATED, case.reference, detail)

    await node.cases.publish([(item, case) for item in items], also=line)
    answer = {"case_id": case.case_id, "case": case.reference, "pin": opened.pin,
              "files": len(doc["files"]), "items": len(items)}  # fmt: skip
    return json_response(answer, status=201)


# --- a case, withdrawing ------------------------------------------------------------------------


@require_login(CASEWORKER)
async def case_page(request: web.Request) -> web.StreamResponse:
    case = await _case(request)
    node = node_of(request)
    items = await node.cases.items(case)
    files = case_views.file_views(items, node.names(), node.org)
    row = await node.store.case_by_id(case.case_id)
    notice = None
    if request.query.get("done") == "withdrawn":
        notice = "console.case.withdrawn_notice"
    elif request.query.get("done") == "created":
        notice = "console.case.created_notice"
    return render(request, "case.html", case=case, files=files, notice_key=notice,
                  state=case_views.case_state(items), total=len(items),
                  active=sum(1 for i in items if i.active),
                  pin_locked=bool(row and row.locked_until_ms > node.clock.now_ms()),
                  case_url=_self_service_url(request))  # fmt: skip


def _self_service_url(request: web.Request) -> str:
    public = node_of(request).config.public_url
    base = public.rstrip("/") if public else f"{request.scheme}://{request.host}"
    return f"{base}/case"


def _chosen(values: list[str]) -> list[tuple[bytes, int]]:
    chosen = []
    for value in values:
        for part in value.split(","):
            entry, _, index = part.partition(":")
            if len(entry) != 64 or not index.isdigit() or len(index) > 5:
                raise BadInputError(NOT_OURS)
            try:
                chosen.append((bytes.fromhex(entry), int(index)))
            except ValueError:
                raise BadInputError(
                    "the form named an item that is not part of this case"
                ) from None
    return chosen


@require_login(CASEWORKER)
async def withdraw(request: web.Request) -> web.StreamResponse:
    """First a confirmation page; with ``confirm=yes``, signed revokes and an audit line each."""
    case = await _case(request)
    form = await read_form(request)
    scope = form.get("scope")
    values = [v for v in form.getall("file", []) if isinstance(v, str)]
    chosen = None if scope == "all" else _chosen(values)
    if chosen == []:
        raise BadInputError("choose at least one file to withdraw")
    if form.get("confirm") != "yes":
        return await _confirm(request, case, chosen, values, str(scope))
    reason_name = form.get("reason", "victim_request")
    if reason_name not in REASONS:
        raise BadInputError(f"reason must be one of {', '.join(REASONS)}")
    reason = RevokeReason[str(reason_name).upper()]
    session, audit = logged_in(request), audit_of(request)

    async def line(txn: Transaction, entry: Entry) -> None:
        detail: Detail = {"revoke": entry.id.hex(), "reason": reason.name.lower()}
        await audit.write(txn, session.user.name, Action.ITEMS_WITHDRAWN, case.reference, detail)

    await node_of(request).cases.withdraw(case, chosen, reason, also=line)
    return web.Response(
        status=303, headers={"Location": f"/console/cases/{case.case_id}?done=withdrawn"}
    )


async def _confirm(
    request: web.Request,
    case: Case,
    chosen: list[tuple[bytes, int]] | None,
    values: list[str],
    scope: str,
) -> web.StreamResponse:
    items = await node_of(request).cases.items(case)
    wanted = None if chosen is None else set(chosen)
    groups = [
        [i for i in group if i.active and (wanted is None or (i.entry_id, i.index) in wanted)]
        for group in group_files(items)
    ]
    picked = [group for group in groups if group]
    return render(request, "withdraw.html", case=case, files=len(picked),
                  hashes=sum(len(g) for g in picked), chosen=values if chosen else [],
                  scope=scope, reasons=REASONS)  # fmt: skip


# --- the report -------------------------------------------------------------------------------


@require_login(CASEWORKER)
async def report(request: web.Request) -> web.StreamResponse:
    """A printable page: what was published, when, what became of it, signed evidence."""
    case = await _case(request)
    node, session = node_of(request), logged_in(request)
    items = await node.cases.items(case)
    revocations = await node.store.revocations_of(sorted({i.entry_id for i in items}))
    await audit_of(request).audit(session.user.name, Action.REPORT_EXPORTED, case.reference)
    return render(request, "report.html", case=case, org_id=node.org.hex(),
                  state=case_views.case_state(items), generated_ms=node.clock.now_ms(),
                  generated_by=session.user.name,
                  entries=case_views.report_entries(items, revocations),
                  evidence=case_views.evidence(items, node.names(), node.org))  # fmt: skip
