"""Where a console or self-service request came from: its client, whether it arrived over
TLS, its origin.

Behind a reverse proxy the node sees the proxy's address and plain HTTP. It believes the
proxy's ``X-Forwarded-For`` (the last address, the one the proxy itself appended) and
``X-Forwarded-Proto`` only from the addresses in ``listen.trusted_proxies``; from anyone else
these headers are ignored, since any client can send them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from node.web.errors import CsrfError


@dataclass(frozen=True, slots=True)
class Listener:
    """What the console knows about how it is reached (from ``[listen]``)."""

    public_url: str = ""
    trusted_proxies: Sequence[str] = ()

    def trusts(self, remote: str | None) -> bool:
        if not remote or not self.trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    def client(self, request: web.Request) -> str:
        """The client's address (as the trusted proxy reports it, if there is one)."""
        remote = request.remote or "unknown"
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded and self.trusts(request.remote):
            return forwarded.split(",")[-1].strip()[:64] or remote
        return remote

    def tls(self, request: web.Request) -> bool:
        """Whether the browser reached the console over HTTPS (so cookies get ``Secure``)."""
        if request.secure or self.public_url.lower().startswith("https://"):
            return True
        proto = request.headers.get("X-Forwarded-Proto", "")
        return proto.strip().lower() == "https" and self.trusts(request.remote)

    def origins(self, request: web.Request) -> set[str]:
        """The origins a console form may be posted from: the public URL's, and the host's."""
        scheme = "https" if self.tls(request) else "http"
        allowed = {f"{scheme}://{request.host}".lower()}
        if self.public_url:
            allowed.add(_origin(self.public_url))
        return allowed


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: web.Request, listener: Listener) -> None:
    """Refuse a state-changing request a browser sent from another site.

    Browsers send ``Origin`` on every form post and fetch that changes state; a request
    without it (or with only a ``Referer`` from elsewhere) is refused too.
    """
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise CsrfError("refused: this request came from another site")
    sent = request.headers.get("Origin")
    if sent is None and (referer := request.headers.get("Referer")):
        sent = _origin(referer)
    if sent is None:
        raise CsrfError("refused: the request did not say which page sent it (no Origin)")
    if sent.lower() not in listener.origins(request):
        raise CsrfError("refused: this request came from another site")
