"""A console user's browser, as far as HTTP goes: a cookie jar, the Origin header, form posts."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.nodes import RunningNode

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class FakeClock:
    """Wall-clock milliseconds that move only when a test says so."""

    def __init__(self) -> None:
        self.ms = time.time_ns() // 1_000_000
        self.mono = 1000.0

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.mono

    def advance(self, *, minutes: float = 0, hours: float = 0, seconds: float = 0) -> None:
        step = seconds + 60 * minutes + 3600 * hours
        self.ms += round(step * 1000)
        self.mono += step


@dataclass
class Answer:
    status: int
    text: str
    headers: Any
    cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def location(self) -> str | None:
        value = self.headers.get("Location")
        return None if value is None else str(value)


class ConsoleBrowser:
    """One browser profile against one node's console (``form`` values may repeat a name)."""

    def __init__(self, node: RunningNode, origin: str | None = None) -> None:
        self.node = node
        self.origin = node.url if origin is None else origin
        # unsafe=True: keep cookies for an IP-address host (127.0.0.1), as browsers do.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        origin: bool = True,
    ) -> Answer:
        hdrs = dict(headers or {})
        if origin and method != "GET" and self.origin:
            hdrs.setdefault("Origin", self.origin)
        async with self.http.request(
            method, self.node.url + path, data=form, headers=hdrs, allow_redirects=False
        ) as resp:
            text = await resp.text()
            return Answer(resp.status, text, resp.headers, resp.headers.getall("Set-Cookie", []))

    async def get(self, path: str, **kw: Any) -> Answer:
        return await self.request("GET", path, **kw)

    async def post(
        self, path: str, form: dict[str, str] | list[tuple[str, str]], **kw: Any
    ) -> Answer:
        return await self.request("POST", path, form=form, **kw)

    async def post_json(
        self, path: str, doc: Any, *, token: str | None = None, origin: bool = True
    ) -> Answer:
        """A script's POST: JSON with the session's CSRF token in ``X-CSRF-Token``."""
        headers = {"Content-Type": "application/json"}
        if token is None:
            token = await self.csrf()
        if token:
            headers["X-CSRF-Token"] = token
        async with self.http.post(
            self.node.url + path,
            data=json.dumps(doc),
            headers={**headers, **({"Origin": self.origin} if origin else {})},
            allow_redirects=False,
        ) as resp:
            return Answer(resp.status, await resp.text(), resp.headers)

    async def form_token(self, path: str = "/console/login") -> str:
        page = await self.get(path)
        found = TOKEN_FIELD.search(page.text)
        assert found, page.text
        return found.group(1)

    async def login(self, name: str, password: str, **kw: Any) -> Answer:
        token = await self.form_token()
        form = {"csrf_token": token, "name": name, "password": password}
        return await self.post("/console/login", form, **kw)

    async def me(self) -> Answer:
        return await self.get("/console/api/me")

    async def csrf(self) -> str:
        answer = await self.me()
        assert answer.status == 200, answer.text
        return str(answer.json()["csrf_token"])

    async def change_password(self, current: str, new: str) -> Answer:
        form = {"csrf_token": await self.csrf(), "current": current, "new": new}
        return await self.post("/console/password", form)

    async def logout(self) -> Answer:
        return await self.post("/console/logout", {"csrf_token": await self.csrf()})


async def add_user(node: RunningNode, name: str, role: str = "caseworker") -> str:
    """Add an account through the operator API; returns its one-time password."""
    answer = await node.post("/v1/users", {"name": name, "role": role})
    assert answer.status == 201, answer.body
    return str(answer.body["password"])


async def ready_user(
    node: RunningNode, name: str, role: str = "caseworker", password: str = "a long passphrase"
) -> ConsoleBrowser:
    """An account whose user has logged in and chosen ``password``; their browser, logged in."""
    browser = ConsoleBrowser(node)
    first = await add_user(node, name, role)
    answer = await browser.login(name, first)
    assert answer.status == 303, answer.text
    changed = await browser.change_password(first, password)
    assert changed.status == 303, changed.text
    return browser


async def audit(node: RunningNode, **query: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    answer = await node.get(f"/v1/audit?{params}")
    assert answer.status == 200, answer.body
    return list(answer.body["entries"])
