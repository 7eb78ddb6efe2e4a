"""The console's pages: their language, their templates, and what every page shows.

Console pages are rendered on the server from ``templates/console/`` in the viewer's
language: the console catalogue (``i18n/console/<code>.json``, every key ``console.…``)
merged with the self-service catalogue's messages for choosing and hashing files, which the
new-case page reuses as they are. The language is ``?lang=`` (the switcher's links, remembered
in a cookie), else the cookie, else ``Accept-Language``, else English.

Times are rendered as ``<time datetime=… data-ms=…>`` in UTC; the page's script rewrites each
as a date in the viewer's language and time zone (``static/console/console.js``). No page
shows epoch milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from markupsafe import Markup

from node.web.accounts import OPERATOR
from node.web.assets import static_url
from node.web.context import node_of
from node.web.language import (
    CATALOGUE_DIR,
    SOURCE,
    Catalogue,
    Catalogues,
    load_complete,
)
from node.web.origin import Listener
from node.web.sessions import Session, current_session

CONSOLE_CATALOGUES: Final = CATALOGUE_DIR / "console"
LANG_COOKIE: Final = "hb_lang"
LANG_COOKIE_PATH: Final = "/console"
# The self-service messages the console's pages reuse (the file chooser and its hasher).
SHARED_PREFIXES: Final = ("file.", "submit.")


@dataclass(frozen=True, slots=True)
class ConsoleSite:
    """The console's catalogues and templates (one per application)."""

    catalogues: Catalogues
    templates: jinja2.Environment
    listener: Listener  # how the console is reached (for Secure cookies)


CONSOLE_SITE: Final = web.AppKey("console_site", ConsoleSite)


def load_console_catalogues(
    shared: Mapping[str, Catalogue], root: Any = CONSOLE_CATALOGUES
) -> Catalogues:
    """Every console catalogue, each complete, with the shared messages of its language."""
    loaded = load_complete(root)
    merged = {}
    for code, catalogue in loaded.items():
        donor = shared.get(code) or shared[SOURCE]
        reused = {k: v for k, v in donor.messages.items() if k.startswith(SHARED_PREFIXES)}
        merged[code] = Catalogue(
            code, catalogue.name, catalogue.direction, {**reused, **catalogue.messages}
        )
    return Catalogues(merged, SOURCE)


def make_console_site(shared: Catalogues, listener: Listener) -> ConsoleSite:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("node.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return ConsoleSite(load_console_catalogues(shared.by_code), environment, listener)


def choose_language(request: web.Request) -> Catalogue:
    catalogues = request.config_dict[CONSOLE_SITE].catalogues
    asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    return catalogues.choose(asked, request.headers.get("Accept-Language", ""))


def iso(ms: int) -> str:
    """UTC, to the second, as ``<time datetime>`` wants it."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(ms: int | None, style: str = "datetime") -> Markup:
    """A time for the page's script to show in the viewer's language and zone (UTC before)."""
    if not ms:
        return Markup('<span class="never">–</span>')
    at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    text = at.strftime("%Y-%m-%d" if style == "date" else "%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-ms="{}" data-style="{}">{}</time>').format(
        iso(ms), int(ms), style, text
    )


def byte_size(n: int) -> Markup:
    """A size in bytes, shown in MB (or GB) in the viewer's language by the page's script."""
    text = f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
    return Markup('<data class="bytes" value="{}">{}</data>').format(int(n), text)


def render(request: web.Request, template: str, *, status: int = 200, **extra: Any) -> web.Response:
    """``console/<template>`` in the viewer's language, with what every console page needs."""
    site = request.config_dict[CONSOLE_SITE]
    catalogue = choose_language(request)
    context = page_context(request, catalogue) | extra
    body = site.templates.get_template(f"console/{template}").render(context)
    response = web.Response(text=body, content_type="text/html", status=status)
    response.headers["Content-Language"] = catalogue.code
    response.headers["Vary"] = "Accept-Language, Cookie"
    asked = request.query.get("lang", "").lower()
    if asked == catalogue.code and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(
            LANG_COOKIE,
            asked,
            path=LANG_COOKIE_PATH,
            max_age=365 * 86400,
            httponly=True,
            samesite="Strict",
            secure=site.listener.tls(request),
        )
    return response


def page_context(request: web.Request, catalogue: Catalogue) -> dict[str, Any]:
    node = node_of(request)
    session = current_session(request)

    def switch(code: str) -> str:
        kept = [(k, v) for k, v in request.query.items() if k != "lang"]
        return f"{request.path}?{urlencode([*kept, ('lang', code)])}"

    return {
        "t": catalogue.text,
        "lang": catalogue.code,
        "dir": catalogue.direction,
        "languages": sorted(
            request.config_dict[CONSOLE_SITE].catalogues.by_code.values(),
            key=lambda c: (c.code != SOURCE, c.code),
        ),
        "switch": switch,
        "static": lambda path: static_url(request.app, path),
        "catalogue_json": catalogue.as_json(),
        "when": when,
        "byte_size": byte_size,
        "node_name": node.config.name,
        "publisher": node.config.role == "publisher",
        "session": session,
        "user": None if session is None else session.user,
        "csrf": "" if session is None else session.csrf,
        "nav": navigation(session, node.config.role == "publisher", request.path),
        "script": None,
    }


def navigation(session: Session | None, publisher: bool, path: str) -> list[tuple[str, str, bool]]:
    """(catalogue key, path, current) of the pages this user may open."""
    if session is None or session.user.must_change:
        return []
    pages = []
    if publisher:
        pages += [
            ("console.nav.cases", "/console/cases"),
            ("console.nav.new", "/console/cases/new"),
        ]
    if session.user.role == OPERATOR:
        pages += [
            ("console.nav.node", "/console/node"),
            ("console.nav.charter", "/console/charter"),
            ("console.nav.audit", "/console/audit"),
        ]
    pages.append(("console.nav.password", "/console/password"))
    current = max(
        (p for _, p in pages if path == p or path.startswith(p + "/")), key=len, default=""
    )
    return [(key, target, target == current) for key, target in pages]
