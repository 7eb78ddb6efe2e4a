"""The self-service endpoints the victim's pages call: open a case, read it, add, withdraw.

Handlers are thin: ``node.web.protect.guarded`` has checked the request, ``node.web.shapes``
parses and renders, ``node.cases`` and ``node.pins`` do the work. No operator token: a case
number and PIN open a case, and PinGuard stops guessing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.replica.cases import Case, CaseAccessError, TooManyAttemptsError
from node.replica.errors import NeverPublishError
from node.replica.junk import Candidate
from node.replica.node import Node
from node.web import shapes
from node.web.context import json_response, node_of
from node.web.errors import BadInputError, CaseLockedError, SelfRateLimitedError
from node.web.protect import BUDGETS, client_of, guarded, spend
from protocol.body import HashItem


async def _unlock(request: web.Request, credentials: shapes.Credentials) -> Case:
    """The case these credentials open; wrong PIN and unknown case answer alike."""
    node = node_of(request)
    try:
        return await node.pins.unlock(credentials.case, credentials.pin, client_of(request))
    except TooManyAttemptsError as exc:
        raise SelfRateLimitedError(exc.message, exc.retry_after) from None
    except CaseAccessError as exc:
        if exc.locked_until_ms:
            wait = max(1.0, (exc.locked_until_ms - node.clock.now_ms()) / 1000)
            raise CaseLockedError(wait) from None
        raise


def refuse_junk(node: Node, items: list[HashItem]) -> None:
    """Hashes the node never publishes (an empty file's, say), refused before a case opens.

    The pages never send them (they leave such files out); a hand-made request is refused
    whole, and nothing of it is written.
    """
    try:
        node.never_publish.check(Candidate("a file", i.signal_type, i.value) for i in items)
    except NeverPublishError as exc:
        raise BadInputError(exc.message) from None


@guarded
async def open_case(request: web.Request, doc: Any) -> web.Response:
    """A new case with a PIN, and one signed add entry of the hashes sent."""
    node = node_of(request)
    items = shapes.parse_files(doc)
    refuse_junk(node, items)
    budgets = request.config_dict[BUDGETS]
    spend(budgets.cases, client_of(request))
    spend(budgets.node_cases, "node")
    opened = await node.cases.open("self_service", with_pin=True)
    await node.cases.publish([(item, opened.case) for item in items])
    files = len(doc["files"])
    return json_response(shapes.opened_view(opened.case, opened.pin, files, items), status=201)


@guarded
async def case_status(request: web.Request, doc: Any) -> web.Response:
    """The case's files, whether each is active, and what platforms reported on them."""
    node = node_of(request)
    case = await _unlock(request, shapes.parse_credentials(doc))
    items = await node.cases.items(case)
    return json_response(shapes.status_view(case, items, node.names(), node.org))


@guarded
async def add_items(request: web.Request, doc: Any) -> web.Response:
    """More hashes for an existing case: one more signed add entry."""
    node = node_of(request)
    credentials = shapes.parse_credentials(doc)
    items = shapes.parse_files(doc)
    refuse_junk(node, items)
    case = await _unlock(request, credentials)
    await node.cases.publish([(item, case) for item in items])
    return json_response(shapes.added_view(case, len(doc["files"]), items), status=201)


@guarded
async def withdraw(request: web.Request, doc: Any) -> web.Response:
    """Signed revokes of the chosen items of the case (or all of them)."""
    node = node_of(request)
    asked = shapes.parse_withdrawal(doc)
    case = await _unlock(request, asked.credentials)
    revokes = await node.cases.withdraw(case, asked.items)
    return json_response(shapes.withdrawn_view(case, revokes), status=201)
