"""The victim's pages, rendered on the server in her language (Jinja2, autoescaped).

Every page carries the quick-exit button, the language switcher (links that keep ``?lang=``)
and, as a JSON data block its scripts read, the same catalogue the server rendered it with.
A node that does not offer self-service (a subscriber, or ``web.self_service = false``)
answers every page with one that says so. Pages are never cached and set no cookies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from node.config import WebConfig
from node.web.assets import static_url
from node.web.context import node_of
from node.web.language import Catalogue, Catalogues, load_catalogues

TEMPLATES: Final = jinja2.PackageLoader("node.web", "templates")
NO_STORE: Final = "no-store"


@dataclass(frozen=True, slots=True)
class Site:
    """What every page needs: the catalogues, the templates, the helpline's settings."""

    catalogues: Catalogues
    templates: jinja2.Environment
    web: WebConfig
    helpline: str


SITE: Final = web.AppKey("web_site", Site)


def make_site(web_config: WebConfig, node_name: str) -> Site:
    environment = jinja2.Environment(
        loader=TEMPLATES,
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the page's test
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Site(
        load_catalogues(web_config.default_language),
        environment,
        web_config,
        web_config.helpline_name or node_name,
    )


def render(request: web.Request, template: str, *, status: int = 200, **extra: Any) -> web.Response:
    """``template`` in the language the request asks for, with the shared page context."""
    site = request.config_dict[SITE]
    catalogue = site.catalogues.choose(
        request.query.get("lang"), request.headers.get("Accept-Language", "")
    )
    offered = node_of(request).config.self_service
    if not offered:
        template, status = "off.html", 200 if request.path == "/" else 404
    context = _context(request, site, catalogue) | extra
    body = site.templates.get_template(template).render(context)
    response = web.Response(text=body, content_type="text/html", status=status)
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Content-Language"] = catalogue.code
    response.headers["Vary"] = "Accept-Language"
    return response


def _context(request: web.Request, site: Site, catalogue: Catalogue) -> dict[str, Any]:
    def link(path: str, **query: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in {"lang": catalogue.code, **query}.items())
        return f"{path}?{params}"

    def switch(code: str) -> str:
        # The same page in another language: the start's confirmations are kept, so
        # switching on the submit page does not send her back to the start.
        kept = [(k, v) for k, v in request.query.items() if k in ("adult", "consent")]
        return f"{request.path}?{urlencode([('lang', code), *kept])}"

    referral = site.web.referral(catalogue.code)
    return {
        "switch": switch,
        "t": catalogue.text,
        "lang": catalogue.code,
        "dir": catalogue.direction,
        "languages": sorted(
            site.catalogues.by_code.values(), key=lambda c: (c.code != "en", c.code)
        ),
        "link": link,
        "static": lambda path: static_url(request.app, path),
        "catalogue_json": catalogue.as_json(),
        "helpline": site.helpline,
        "contact": site.web.contact,
        "website": site.web.website,
        "exit_url": site.web.quick_exit_url,
        "referral_text": referral.text or catalogue.text("under18.default", helpline=site.helpline),
        "referral_url": referral.url or site.web.website,
    }


async def start(request: web.Request) -> web.Response:
    """What happens to her images, who runs this node, the 18+ and consent confirmation."""
    return render(request, "start.html", missing=request.query.get("confirm") == "missing")


async def under_18(request: web.Request) -> web.Response:
    return render(request, "under18.html")


async def submit(request: web.Request) -> web.Response:
    """Choose, hash and send: only after both confirmations on the start page."""
    if request.query.get("adult") != "yes" or request.query.get("consent") != "yes":
        lang = request.query.get("lang", "")
        target = f"/?confirm=missing&lang={lang}" if lang.isalpha() else "/?confirm=missing"
        if node_of(request).config.self_service:
            raise web.HTTPSeeOther(target + "#consent")
    return render(request, "submit.html")


async def case(request: web.Request) -> web.Response:
    """Check a case with its number and PIN; withdraw; add more."""
    return render(request, "case.html")
