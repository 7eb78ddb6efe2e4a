"""Console accounts and sessions through real HTTP: a real node, real SQLite, real scrypt.

Login, logout, one-time passwords, the same answer for a wrong password and an unknown name,
lockouts and the per-client budget, idle and absolute timeouts (on an injected clock), roles,
and disabling or resetting an account ending its sessions at once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.config import load_config, write_config
from node.store import Transaction
from node.web import passwords
from node.web.throttle import CLIENT_TRIES, FREE_FAILURES
from tests.nodes import RunningNode, make_data
from tests.web.console_client import (
    ConsoleBrowser,
    FakeClock,
    add_user,
    audit,
    ready_user,
)


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "hl"), clock=clock)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def browser(node: RunningNode) -> AsyncIterator[ConsoleBrowser]:
    b = ConsoleBrowser(node)
    try:
        yield b
    finally:
        await b.close()


def _cookie(answer_cookies: list[str], name: str) -> str:
    found = [c for c in answer_cookies if c.startswith(f"{name}=")]
    assert found, answer_cookies
    return found[0]


async def test_login_one_time_password_and_logout(
    node: RunningNode, browser: ConsoleBrowser
) -> None:
    first = await add_user(node, "Alice")
    assert re.fullmatch(r"([0-9A-Z]{5}-){3}[0-9A-Z]{5}", first)
    answer = await browser.login("alice", first)
    assert answer.status == 303
    assert answer.location == "/console/"
    cookie = _cookie(answer.cookies, "hb_session")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP on 127.0.0.1, no proxy
    me = (await browser.me()).json()
    assert me["user"]["name"] == "alice"
    assert me["user"]["must_change_password"] is True
    # Until the one-time password is replaced, only changing it (and me, logout) answers.
    home = await browser.get("/console/")
    assert home.status == 303
    assert home.location == "/console/password"
    weak = await browser.change_password(first, "short")
    assert weak.status == 400
    assert "at least 12" in weak.text
    assert (await browser.change_password(first, "correct horse battery")).status == 303
    assert (await browser.me()).json()["user"]["must_change_password"] is False
    home = await browser.get("/console/")
    assert home.location == "/console/cases"  # a caseworker starts at the cases
    page = await browser.get("/console/cases")
    assert page.status == 200, page.text
    assert "Logged in as alice (caseworker)" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    out = await browser.logout()
    assert out.status == 303
    assert out.location == "/console/login"
    assert (await browser.me()).status == 401
    # The session record is gone: replaying the old cookie does not help.
    assert (await browser.get("/console/")).location == "/console/login?next=%2Fconsole%2F"
    actions = [e["action"] for e in await audit(node, actor="alice")]
    assert actions == ["logout", "password_changed", "login"]
    added = await audit(node, action="user_added")
    assert added[0]["subject"] == "alice"
    assert added[0]["actor"] == "operator (API)"
    # The one-time password is spent.
    assert (await browser.login("alice", first)).status == 401


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    node: RunningNode, browser: ConsoleBrowser
) -> None:
    await add_user(node, "bob")
    wrong = await browser.login("bob", "not the password at all")
    unknown = await browser.login("nobody", "not the password at all")

    def scrub(text: str) -> str:
        return re.sub(r'value="[^"]*"', 'value=""', text)

    assert wrong.status == unknown.status == 401
    assert scrub(wrong.text) == scrub(unknown.text)
    assert "that name and password do not match" in wrong.text
    failed = await audit(node, action="login_failed")
    assert [(e["actor"], e["detail"]["reason"]) for e in failed] == [
        ("(unknown user)", "bad_credentials"),
        ("bob", "bad_credentials"),
    ]
    assert all(e["detail"]["client"] == "127.0.0.1" for e in failed)
    # The typed name of an unknown account is never written down (it may be a password).
    assert "nobody" not in str(failed)


async def test_lockout_per_name_looks_the_same_for_unknown_names(
    node: RunningNode, browser: ConsoleBrowser, clock: FakeClock
) -> None:
    password = await add_user(node, "carol")
    for _ in range(FREE_FAILURES):
        assert (await browser.login("carol", "wrong wrong wrong")).status == 401
        assert (await browser.login("ghost", "wrong wrong wrong")).status == 401
    real = await browser.login("carol", password)  # even the right password, while locked
    phantom = await browser.login("ghost", password)
    assert real.status == phantom.status == 401
    assert "too many failed logins" in real.text
    assert "too many failed logins" in phantom.text
    clock.advance(minutes=2)  # the first lock lasts a minute
    assert (await browser.login("carol", password)).status == 303
    # The fifth failure already locks the names: 2 of those, 2 attempts while locked.
    metrics = (await node.get("/metrics")).body
    assert 'hashbank_console_logins_total{outcome="locked"} 4.0' in metrics


async def test_per_client_budget(tmp_path: Path) -> None:
    node = await RunningNode.start(make_data(tmp_path / "hl"))
    browser = ConsoleBrowser(node)
    try:
        for i in range(CLIENT_TRIES):
            assert (await browser.login(f"user{i}", "wrong wrong wrong")).status == 401
        refused = await browser.login("someone", "wrong wrong wrong")
        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "too many login attempts from here" in refused.text
        metrics = (await node.get("/metrics")).body
        assert 'hashbank_rate_limited_total{limiter="console_login"} 1.0' in metrics
    finally:
        await browser.close()
        await node.stop()


async def test_idle_timeout_and_absolute_lifetime(node: RunningNode, clock: FakeClock) -> None:
    browser = await ready_user(node, "dana")
    try:
        for _ in range(3):  # active every 25 minutes: the 30-minute idle timeout never bites
            clock.advance(minutes=25)
            assert (await browser.me()).status == 200
        clock.advance(minutes=31)
        idle = await browser.me()
        assert idle.status == 401
        assert idle.json()["error"]["code"] == "not_logged_in"
        assert (await browser.login("dana", "a long passphrase")).status == 303
        for _ in range(28):  # busy all day: the session still ends after 12 hours
            clock.advance(minutes=25)
            assert (await browser.me()).status == 200
        clock.advance(minutes=25)
        assert (await browser.me()).status == 401
    finally:
        await browser.close()


async def test_idle_timeout_is_configurable(tmp_path: Path) -> None:
    data = make_data(tmp_path / "hl")
    config = load_config(data)
    write_config(data, replace(config, console_idle_minutes=5, console_session_hours=1))
    clock = FakeClock()
    node = await RunningNode.start(data, clock=clock)
    browser = await ready_user(node, "erin")
    try:
        me = (await browser.me()).json()
        assert me["session"]["idle_timeout_s"] == 300
        assert me["session"]["expires_ms"] - me["session"]["created_ms"] == 3_600_000
        clock.advance(minutes=6)
        assert (await browser.me()).status == 401
    finally:
        await browser.close()
        await node.stop()


async def test_roles(node: RunningNode) -> None:
    worker = await ready_user(node, "frank", "caseworker")
    operator = await ready_user(node, "grace", "operator")
    try:
        refused = await worker.get("/console/api/audit")
        assert refused.status == 403
        assert refused.json()["error"]["code"] == "forbidden"
        log = await operator.get("/console/api/audit?limit=2")
        assert log.status == 200
        page = log.json()
        assert len(page["entries"]) == 2
        assert page["before"] is not None
        older = await operator.get(f"/console/api/audit?before={page['before']}&limit=1000")
        actions = {e["action"] for e in older.json()["entries"] + page["entries"]}
        assert {"user_added", "login", "password_changed"} <= actions
        bad = await operator.get("/console/api/audit?limit=0")
        assert bad.status == 400
        assert "limit" in bad.json()["error"]["message"]
        assert (await worker.get("/console/api/me")).json()["user"]["role"] == "caseworker"
    finally:
        await worker.close()
        await operator.close()


async def test_disable_and_reset_end_sessions_at_once(node: RunningNode) -> None:
    browser = await ready_user(node, "heidi")
    second = ConsoleBrowser(node)
    try:
        assert (await second.login("heidi", "a long passphrase")).status == 303
        gone = await node.post("/v1/users/heidi/disable")
        assert gone.status == 200
        assert gone.body["sessions_ended"] == 2
        assert (await browser.me()).status == 401
        assert (await second.me()).status == 401
        refused = await browser.login("heidi", "a long passphrase")
        assert refused.status == 401
        assert "do not match" in refused.text
        assert (await node.post("/v1/users/heidi/enable")).status == 200
        assert (await browser.login("heidi", "a long passphrase")).status == 303
        reset = await node.post("/v1/users/heidi/reset")
        assert reset.status == 200
        assert reset.body["user"]["must_change_password"] is True
        assert (await browser.me()).status == 401
        assert (await browser.login("heidi", "a long passphrase")).status == 401
        assert (await browser.login("heidi", reset.body["password"])).status == 303
        actions = [e["action"] for e in await audit(node, actor="operator (API)")]
        assert actions[:3] == ["user_reset", "user_enabled", "user_disabled"]
    finally:
        await browser.close()
        await second.close()


async def test_changing_the_password_ends_the_other_sessions(node: RunningNode) -> None:
    browser = await ready_user(node, "ivan")
    other = ConsoleBrowser(node)
    try:
        assert (await other.login("ivan", "a long passphrase")).status == 303
        assert (
            await browser.change_password("a long passphrase", "another long one")
        ).status == 303
        assert (await browser.me()).status == 200
        assert (await other.me()).status == 401
        wrong = await browser.change_password("not it at all!", "a third long one")
        assert wrong.status == 400
        assert "current password is not right" in wrong.text
    finally:
        await browser.close()
        await other.close()


async def test_an_outdated_password_record_is_upgraded_at_login(node: RunningNode) -> None:
    await add_user(node, "judy")
    old = passwords.hash_password("an old passphrase", passwords.Params(ln=14, r=8, p=1))
    row = await node.node.store.user_by_name("judy")
    assert row is not None

    async def work(txn: Transaction) -> None:
        await txn.set_password(row.user_id, old, False)

    await node.node.store.transaction(work)
    browser = ConsoleBrowser(node)
    try:
        assert (await browser.login("judy", "an old passphrase")).status == 303
        again = await node.node.store.user_by_name("judy")
        assert again is not None
        assert not passwords.needs_rehash(again.password)
        assert passwords.verify_password("an old passphrase", again.password)
    finally:
        await browser.close()


async def test_pages_redirect_to_login_and_logged_in_users_skip_it(node: RunningNode) -> None:
    browser = await ready_user(node, "kim")
    anonymous = ConsoleBrowser(node)
    try:
        page = await anonymous.get("/console/password")
        assert page.status == 303
        assert page.location == "/console/login?next=%2Fconsole%2Fpassword"
        assert (await anonymous.get("/console/api/me")).status == 401
        assert (await browser.get("/console/login")).location == "/console/"
        # ``next`` never leads off the console.
        for target in ("https://evil.example/", "//evil.example/", "/v1/status", "/console/x"):
            fresh = ConsoleBrowser(node)
            token = await fresh.form_token()
            form = {"csrf_token": token, "name": "kim", "password": "a long passphrase"}
            answer = await fresh.post("/console/login", {**form, "next": target})
            await fresh.close()
            assert answer.location == ("/console/x" if target == "/console/x" else "/console/")
        missing = await anonymous.get("/console/nothing-here")
        assert missing.status == 404
        assert "<!doctype html>" in missing.text
    finally:
        await browser.close()
        await anonymous.close()


async def test_operator_api_errors(node: RunningNode) -> None:
    await add_user(node, "lee")
    again = await node.post("/v1/users", {"name": "LEE", "role": "operator"})
    assert again.status == 409
    assert again.body["error"]["code"] == "user_exists"
    bad = await node.post("/v1/users", {"name": "no spaces please", "role": "caseworker"})
    assert bad.status == 400
    assert "user name" in bad.body["error"]["message"]
    role = await node.post("/v1/users", {"name": "mo", "role": "admin"})
    assert role.status == 400
    assert "role must be one of" in role.body["error"]["message"]
    weak = await node.post("/v1/users", {"name": "mo", "role": "operator", "password": "short"})
    assert weak.status == 400
    assert weak.body["error"]["code"] == "weak_password"
    chosen = await node.post(
        "/v1/users", {"name": "mo", "role": "operator", "password": "chosen by the operator"}
    )
    assert chosen.status == 201
    assert "password" not in chosen.body
    unknown = await node.post("/v1/users/nobody/disable")
    assert unknown.status == 404
    assert unknown.body["error"]["code"] == "unknown_user"
    assert (await node.get("/v1/users", token=None)).status == 401
    listed = (await node.get("/v1/users")).body["users"]
    assert [u["name"] for u in listed] == ["lee", "mo"]


async def test_subscriber_nodes_have_operators_only(tmp_path: Path) -> None:
    node = await RunningNode.start(make_data(tmp_path / "pl", role="subscriber"))
    try:
        refused = await node.post("/v1/users", {"name": "cw", "role": "caseworker"})
        assert refused.status == 400
        assert "subscriber" in refused.body["error"]["message"]
        assert (await node.post("/v1/users", {"name": "op", "role": "operator"})).status == 201
    finally:
        await node.stop()
