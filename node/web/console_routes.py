"""The console's one route table, under ``/console``, and ``add_console`` that mounts it.

``console_middleware`` (``node.web.console``) must be among the application's middlewares:
it finds the session and checks origin and CSRF token of every state-changing request
before any handler here runs. ``add_console`` needs the web app's catalogues, so it runs
after ``add_web_routes``.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from node.federation.gossip import Gossip
from node.web import console, console_audit, console_cases, console_charter, console_node
from node.web.console import CONSOLE, Console
from node.web.console_node import NETWORK, Network
from node.web.console_site import CONSOLE_SITE, make_console_site
from node.web.pages import SITE
from node.web.sessions import Handler

# (method, path, handler)
ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", console.LOGIN_PATH, console.login_get),
    ("POST", console.LOGIN_PATH, console.login_post),
    ("POST", "/console/logout", console.logout),
    ("GET", console.HOME_PATH, console.home),
    ("GET", "/console/password", console.password_get),
    ("POST", "/console/password", console.password_post),
    ("GET", "/console/cases", console_cases.cases_list),
    ("GET", "/console/cases/new", console_cases.case_new),
    ("GET", "/console/cases/{case_id}", console_cases.case_page),
    ("POST", "/console/cases/{case_id}/withdraw", console_cases.withdraw),
    ("GET", "/console/cases/{case_id}/report", console_cases.report),
    ("GET", "/console/node", console_node.node_page),
    ("GET", "/console/charter", console_charter.charter_page),
    ("POST", "/console/charter/drafts", console_charter.add_draft),
    ("GET", "/console/audit", console_audit.audit_page),
    ("GET", "/console/api/me", console.api_me),
    ("GET", "/console/api/audit", console.api_audit),
    ("POST", "/console/api/cases", console_cases.api_create_case),
)


def add_console(app: web.Application, console_: Console, gossip: Gossip | None) -> None:
    """The console's routes and what its pages need; after ``add_web_routes``."""
    app[CONSOLE] = console_
    app[NETWORK] = Network(gossip)
    app[CONSOLE_SITE] = make_console_site(app[SITE].catalogues, console_.listener)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
