"""``hashbank user …`` run as real child processes against a running node."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.nodes import RunningNode, make_data, run_cli
from tests.web.console_client import ConsoleBrowser


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "hl"))
    try:
        yield running
    finally:
        await running.stop()


async def hb(node: RunningNode, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread, so this process's event loop keeps serving the node."""
    where = ("--data", str(node.data.root), "--url", node.url)
    return await asyncio.to_thread(run_cli, "user", *args[:1], *where, *args[1:], stdin="")


async def test_add_list_disable_enable_reset_audit(node: RunningNode) -> None:
    added = await hb(node, "add", "Alice", "--role", "caseworker")
    assert added.returncode == 0, added.stderr
    assert "added caseworker alice" in added.stdout
    password = added.stdout.split("one-time password: ")[1].split()[0]
    browser = ConsoleBrowser(node)
    try:
        assert (await browser.login("alice", password)).status == 303
        listed = await hb(node, "list")
        assert "alice" in listed.stdout
        assert "password not yet changed" in listed.stdout
        as_json = json.loads((await hb(node, "list", "--json")).stdout)
        assert as_json[0]["name"] == "alice"
        disabled = await hb(node, "disable", "alice")
        assert disabled.returncode == 0
        assert "sessions ended: 1" in disabled.stdout
        assert (await browser.me()).status == 401
        assert "disabled" in (await hb(node, "list")).stdout
        assert (await hb(node, "enable", "alice")).returncode == 0
        reset = await hb(node, "reset", "alice")
        assert reset.returncode == 0
        fresh = reset.stdout.split("one-time password: ")[1].split()[0]
        assert fresh != password
        assert (await browser.login("alice", fresh)).status == 303
    finally:
        await browser.close()
    log = await hb(node, "audit", "--limit", "3")
    assert log.returncode == 0
    lines = log.stdout.splitlines()
    assert "login" in lines[0]
    assert "alice" in lines[0]
    assert "user_reset" in lines[1]
    assert "--before" in lines[-1]
    doc = json.loads((await hb(node, "audit", "--json", "--action", "user_added")).stdout)
    assert [e["subject"] for e in doc["entries"]] == ["alice"]


async def test_errors_are_clear_messages(node: RunningNode) -> None:
    assert (await hb(node, "add", "bob", "--role", "operator")).returncode == 0
    again = await hb(node, "add", "BOB", "--role", "operator")
    assert again.returncode == 1
    assert "there is already a user 'bob'" in again.stderr
    assert "Traceback" not in again.stderr
    unknown = await hb(node, "disable", "nobody")
    assert unknown.returncode == 1
    assert "there is no user 'nobody'" in unknown.stderr
    bad = await hb(node, "add", "two words", "--role", "operator")
    assert bad.returncode == 1
    assert "a user name is 1 to 64 characters" in bad.stderr
    ask = await hb(node, "add", "carol", "--role", "operator", "--ask")
    assert ask.returncode == 2
    assert "--ask needs a terminal" in ask.stderr
    assert (await hb(node, "list")).stdout.count("\n") == 1  # nothing else was added


def test_a_stopped_node_is_named(tmp_path: Path) -> None:
    data = make_data(tmp_path / "hl")
    out = run_cli("user", "list", "--data", str(data.root), "--url", "http://127.0.0.1:9", stdin="")
    assert out.returncode == 1
    assert "cannot reach the node at http://127.0.0.1:9" in out.stderr


def _on_a_terminal(args: list[str], answers: list[str]) -> str:
    """Run the CLI with a pseudo-terminal as stdin/stdout, typing ``answers`` at its prompts."""
    import os
    import sys

    from tests.nodes import ROOT

    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", *args],
        cwd=ROOT,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    try:
        for answer in answers:
            while b"password" not in seen.split(b"\n")[-1]:
                seen += os.read(leader, 4096)
            os.write(leader, answer.encode() + b"\n")
            seen += b"\n"
        proc.wait(timeout=120)
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the follower side closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    return seen.decode(errors="replace")


async def test_on_a_terminal_add_asks_for_the_password(node: RunningNode) -> None:
    where = ["--data", str(node.data.root), "--url", node.url]
    typed = "typed by the operator"
    out = await asyncio.to_thread(
        _on_a_terminal, ["user", "add", "dora", "--role", "operator", *where], [typed, typed]
    )
    assert "added operator dora" in out
    assert "one-time password:" not in out
    assert typed not in out  # not echoed
    browser = ConsoleBrowser(node)
    try:
        assert (await browser.login("dora", typed)).status == 303
    finally:
        await browser.close()
    # Enter at the prompt: the node makes a one-time password after all.
    out = await asyncio.to_thread(_on_a_terminal, ["user", "reset", "dora", *where], [""])
    assert "one-time password: " in out
