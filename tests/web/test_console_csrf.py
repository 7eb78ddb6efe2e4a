"""Forged console form posts are refused; cookies are Secure over TLS (directly or via a proxy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.config import load_config, write_config
from tests.nodes import RunningNode, make_data
from tests.web.console_client import TOKEN_FIELD, ConsoleBrowser, add_user, ready_user


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "hl"))
    try:
        yield running
    finally:
        await running.stop()


async def still_logged_in(browser: ConsoleBrowser) -> bool:
    return (await browser.me()).status == 200


async def test_forged_posts_are_refused(node: RunningNode) -> None:
    browser = await ready_user(node, "alice")
    try:
        token = await browser.csrf()
        forged = {
            "no token": await browser.post("/console/logout", {}),
            "wrong token": await browser.post("/console/logout", {"csrf_token": "x" * 43}),
            "another site": await browser.post(
                "/console/logout",
                {"csrf_token": token},
                headers={"Origin": "https://evil.example"},
            ),
            "no origin": await browser.post("/console/logout", {"csrf_token": token}, origin=False),
            "opaque origin": await browser.post(
                "/console/logout", {"csrf_token": token}, headers={"Origin": "null"}
            ),
            "cross-site fetch": await browser.post(
                "/console/logout", {"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            "foreign referer": await browser.post(
                "/console/logout",
                {"csrf_token": token},
                origin=False,
                headers={"Referer": "https://evil.example/page"},
            ),
        }
        for what, answer in forged.items():
            assert answer.status == 403, what
            assert "<!doctype html>" in answer.text, what  # a page saying what to do
            assert await still_logged_in(browser), what
        header = await browser.request("POST", "/console/logout", headers={"X-CSRF-Token": token})
        assert header.status == 303  # scripts send the token as a header
        assert not await still_logged_in(browser)
    finally:
        await browser.close()


async def test_same_origin_referer_is_enough_without_origin(node: RunningNode) -> None:
    browser = await ready_user(node, "bob")
    try:
        answer = await browser.post(
            "/console/logout",
            {"csrf_token": await browser.csrf()},
            origin=False,
            headers={"Referer": node.url + "/console/"},
        )
        assert answer.status == 303
    finally:
        await browser.close()


async def test_the_login_form_needs_its_token_and_cookie(node: RunningNode) -> None:
    password = await add_user(node, "carol")
    browser = ConsoleBrowser(node)
    stranger = ConsoleBrowser(node)
    try:
        token = await browser.form_token()
        form = {"name": "carol", "password": password}
        # A form from another page load (no login cookie here) or no token at all: refused.
        assert (await stranger.post("/console/login", {**form, "csrf_token": token})).status == 403
        assert (await browser.post("/console/login", form)).status == 403
        cross = await browser.post(
            "/console/login", {**form, "csrf_token": token}, headers={"Origin": "http://x.test"}
        )
        assert cross.status == 403
        assert (await browser.post("/console/login", {**form, "csrf_token": token})).status == 303
        # Any other state-changing request without a session is simply not logged in.
        anonymous = await stranger.post("/console/password", {"csrf_token": "t"})
        assert anonymous.status == 401
    finally:
        await browser.close()
        await stranger.close()


async def _session_cookie(node: RunningNode, name: str, headers: dict[str, str]) -> str:
    """Log a new account in with ``headers`` (its ``Origin`` too); its session cookie."""
    password = await add_user(node, name)
    browser = ConsoleBrowser(node, origin=headers.pop("Origin"))
    try:
        token = await browser.form_token()
        form = {"csrf_token": token, "name": name, "password": password}
        login = await browser.post("/console/login", form, headers=headers)
        assert login.status == 303, login.text
        return next(c for c in login.cookies if c.startswith("hb_session="))
    finally:
        await browser.close()


async def test_secure_cookies_behind_a_trusted_proxy(tmp_path: Path) -> None:
    data = make_data(tmp_path / "hl")
    write_config(data, replace(load_config(data), trusted_proxies=("127.0.0.1/32",)))
    node = await RunningNode.start(data)
    try:
        host = node.url.removeprefix("http://")
        tls = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
            "Origin": f"https://{host}",
        }
        assert "Secure" in await _session_cookie(node, "a", tls)
        assert "Secure" not in await _session_cookie(node, "b", {"Origin": node.url})
        # The client is the address the proxy appended (the last one), not the first.
        logins = (await node.get("/v1/audit?action=login")).body["entries"]
        assert [e["detail"]["client"] for e in logins] == ["127.0.0.1", "203.0.113.9"]
        # Behind TLS, a form posted from the plain-HTTP origin is another origin.
        browser = ConsoleBrowser(node)
        token = await browser.form_token()
        answer = await browser.post(
            "/console/login",
            {"csrf_token": token, "name": "x", "password": "y"},
            headers={"X-Forwarded-Proto": "https"},
        )
        await browser.close()
        assert answer.status == 403
    finally:
        await node.stop()


async def test_forwarded_headers_from_untrusted_clients_are_ignored(node: RunningNode) -> None:
    flags = await _session_cookie(node, "a", {"X-Forwarded-Proto": "https", "Origin": node.url})
    assert "Secure" not in flags
    browser = ConsoleBrowser(node)
    try:
        await browser.login("nobody", "wrong wrong wrong", headers={"X-Forwarded-For": "6.6.6.6"})
    finally:
        await browser.close()
    failed = (await node.get("/v1/audit?action=login_failed")).body["entries"]
    assert {e["detail"]["client"] for e in failed} == {"127.0.0.1"}


async def test_an_https_public_url_makes_cookies_secure(tmp_path: Path) -> None:
    data = make_data(tmp_path / "hl")
    write_config(data, replace(load_config(data), public_url="https://hashbank.example.org"))
    node = await RunningNode.start(data)
    try:
        password = await add_user(node, "a")
        browser = ConsoleBrowser(node, origin="https://hashbank.example.org")
        page = await browser.get("/console/login")
        login_cookie = next(c for c in page.cookies if c.startswith("hb_login="))
        assert "Secure" in login_cookie
        # A browser sends Secure cookies over HTTPS only; this test speaks plain HTTP.
        value = login_cookie.split(";")[0].split("=", 1)[1]
        found = TOKEN_FIELD.search(page.text)
        assert found
        form = {"csrf_token": found.group(1), "name": "a", "password": password}
        # The public URL's origin is accepted for posts, as is the host's own.
        login = await browser.post("/console/login", form, headers={"Cookie": f"hb_login={value}"})
        await browser.close()
        assert login.status == 303
        assert "Secure" in next(c for c in login.cookies if c.startswith("hb_session="))
    finally:
        await node.stop()
