"""The operator's console-account commands (``hashbank user …``) and the audit log read.

These run in the node itself, through its one transaction door, so disabling an account ends
its sessions the moment the command returns. Each writes its audit line, with the operator's
API token as the actor.
"""

from __future__ import annotations

from aiohttp import web

from node.api import shapes
from node.api.context import json_response, node_of, read_json
from node.web import views
from node.web.audit import API_OPERATOR
from node.web.console import CONSOLE, Console, audit_page, audit_query


def _console(request: web.Request) -> Console:
    return request.config_dict[CONSOLE]


def _now(request: web.Request) -> int:
    return node_of(request).clock.now_ms()


async def list_users(request: web.Request) -> web.Response:
    users = await _console(request).accounts.list()
    now = _now(request)
    return json_response({"users": [views.user_view(u, now) for u in users]})


async def add_user(request: web.Request) -> web.Response:
    wanted = shapes.parse_user_add(await read_json(request))
    issued = await _console(request).accounts.add(
        wanted.name, wanted.role, wanted.password, API_OPERATOR
    )
    return json_response(views.issued_view(issued, _now(request)), status=201)


async def reset_user(request: web.Request) -> web.Response:
    # The body is optional; when there is one, it is an object.
    password = shapes.parse_password(await read_json(request)) if request.can_read_body else None
    issued = await _console(request).accounts.reset(
        request.match_info["name"], password, API_OPERATOR
    )
    return json_response(views.issued_view(issued, _now(request)))


async def disable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, True)


async def enable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, False)


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    user, ended = await _console(request).accounts.set_disabled(
        request.match_info["name"], disabled, API_OPERATOR
    )
    return json_response({"user": views.user_view(user, _now(request)), "sessions_ended": ended})


async def audit(request: web.Request) -> web.Response:
    """``?before=&limit=&actor=&action=``: the audit log, newest first."""
    return json_response(await audit_page(_console(request), audit_query(request)))
