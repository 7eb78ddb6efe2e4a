"""A platform on the network through the real ``threatexchange`` CLI and the ``node.tx`` extension.

Helpline node A publishes; the platform runs node B (role subscriber), peered with A. The
platform's threatexchange talks only to B: fetch, match a real photo, see revocations arrive as
deletes, and report an opinion that B signs and gossips back to A.
"""

from __future__ import annotations

import asyncio
import base64
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.config import PeerConfig, load_config, write_config
from node.hashing.pdq import hash_file
from node.tx.records import HashbankCheckpoint
from protocol.body import HashItem
from protocol.entry import Entry
from tests.builders import Author, pdq_value
from tests.integration.test_change_stream import StreamClient
from tests.integration.test_charter import hashbank, members_file, stewards_decide
from tests.nodes import (
    ROOT,
    NodeProcess,
    RunningNode,
    ShiftedClock,
    connect,
    helpline_and_platform,
    make_data,
    run_cli,
    wait_until,
)

PHOTO = ROOT / "tests" / "data" / "pdq" / "original.jpg"
COLLAB = "hashbank-network"

pytestmark = pytest.mark.slow


@dataclass
class Platform:
    """The threatexchange CLI with its state in a test directory, talking to node B."""

    state: Path
    node: NodeProcess | RunningNode

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.state.parent),
            "TX_STATEDIR": str(self.state),
            "TX_HASHBANK_TOKEN": self.node.token,
        }

    def tx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "threatexchange.cli.main", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """The CLI in the background, for commands this test's event loop must serve."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "threatexchange.cli.main",
            *args,
            cwd=ROOT,
            env=self.env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def atx(self, *args: str) -> str:
        """``tx`` that leaves the event loop running; returns stdout, asserting success."""
        proc = await self.start(*args)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, f"{args}: {out.decode()}\n{err.decode()}"
        return out.decode()

    def setup(self, node_url: str) -> None:
        """The extension and the collaboration, reading from ``node_url``."""
        self.tx("config", "extensions", "add", "node.tx")
        self.tx("config", "collab", "edit", "hashbank", COLLAB, "--create", "--node-url", node_url)

    def match_photo(self) -> list[str]:
        return self.tx("match", "photo", str(PHOTO)).stdout.splitlines()

    def checkpoint(self) -> HashbankCheckpoint:
        with (self.state / "fetched" / "hashbank" / f"{COLLAB}.state.pickle").open("rb") as f:
            checkpoint = pickle.load(f).checkpoint
        assert isinstance(checkpoint, HashbankCheckpoint)
        return checkpoint


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[tuple[NodeProcess, NodeProcess]]:
    helpline, platform = await helpline_and_platform(tmp_path)
    yield helpline, platform
    helpline.terminate()
    platform.terminate()


async def has_entries(node: NodeProcess, count: int) -> bool:
    return bool((await node.status())["entries"] == count)


async def matches(node: NodeProcess, signal_type: str, value: str) -> list[dict[str, Any]]:
    doc = {"queries": [{"signal_type": signal_type, "value": value}]}
    return list((await node.call("POST", "/v1/match", doc)).body["results"][0]["matches"])


async def has_match(node: NodeProcess, signal_type: str, value: str) -> bool:
    return bool(await matches(node, signal_type, value))


async def ingest(node: NodeProcess, *entries: Entry) -> None:
    doc = {"entries": [base64.b64encode(e.raw).decode() for e in entries]}
    assert (await node.call("POST", "/v1/entries", doc)).body["stored"] == len(entries)


async def test_fetch_match_revoke_and_feedback_through_threatexchange(
    tmp_path: Path, network: tuple[NodeProcess, NodeProcess]
) -> None:
    helpline, node_b = network
    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    ours = hash_file(PHOTO)
    assert ours.pdq is not None

    # threatexchange hashes with the pdqhash package, which skips the reference hasher's
    # resize to 512x512; on this 1600x1004 photo the two differ in a few bits.
    tx_pdq = platform.tx("hash", "photo", str(PHOTO)).stdout.split()[-1]
    distance = bin(int(tx_pdq, 16) ^ int.from_bytes(ours.pdq, "big")).count("1")
    assert distance <= 8

    items = [
        {"signal_type": "pdq", "value": ours.pdq.hex(), "labels": ["ncii"], "case": "C-1"},
        {"signal_type": "md5", "value": ours.md5.hex(), "labels": ["ncii"]},
        {"signal_type": "sha256", "value": ours.sha256.hex(), "labels": ["ncii"]},
    ]
    published = await helpline.call("POST", "/v1/hashes", {"items": items})
    entry_a = published.body["entry_id"]
    # Unrelated hashes stay in the bank throughout: threatexchange 1.2's CLI never deletes
    # an index file once a signal type has no hashes left, so it would keep matching.
    background = [
        {"signal_type": "pdq", "value": pdq_value(7).hex()},
        {"signal_type": "md5", "value": "00" * 16},
    ]
    await helpline.call("POST", "/v1/hashes", {"items": background})
    # A second helpline published the same photo's PDQ (its entry reaches A by import).
    other = Author(41)
    add_other = other.add(HashItem("pdq", ours.pdq, ("ncii", "other-source")))
    await ingest(helpline, add_other)
    await wait_until(lambda: has_entries(node_b, 3), what="the adds at the platform's node")

    added = platform.tx("config", "extensions", "add", "node.tx")
    assert "hashbank - HashbankSignalExchangeAPI" in added.stdout
    platform.tx(
        "config", "collab", "edit", "hashbank", COLLAB, "--create", "--node-url", node_b.url
    )
    platform.tx("fetch")
    [photo_match] = platform.match_photo()
    assert photo_match.startswith(f"pdq {distance} ({COLLAB}) POSITIVE_CLASS")
    assert helpline.org[:12] in photo_match  # both publishers of the hash
    assert other.org.hex()[:12] in photo_match
    md5 = platform.tx("match", "-H", "-S", "video_md5", "video", "--", ours.md5.hex())
    assert md5.stdout.startswith(f"video_md5 - ({COLLAB}) POSITIVE_CLASS ncii by")
    assert platform.checkpoint().cursor == 3

    # The platform confirms the match twice (a reviewer repeats it); node B signs the
    # verdicts and gossips them to A. The hash file ends in a newline, as `echo` writes it.
    hash_file_path = tmp_path / "pdq.txt"
    hash_file_path.write_text(tx_pdq + "\n")
    for _ in range(2):
        platform.tx("label", "-H", "pdq", "-l", "actioned", COLLAB, "photo", str(hash_file_path))

    async def verdicts_at_helpline() -> bool:
        doc = (await helpline.call("GET", f"/v1/feedback?entry_id={entry_a}")).body
        return len([f for f in doc["feedback"] if f["giver"] == node_b.org]) == 2

    await wait_until(verdicts_at_helpline, what="the platform's feedback at the helpline")
    feedback = (await helpline.call("GET", f"/v1/feedback?entry_id={entry_a}")).body["feedback"]
    # Without a charter, A knows no name for B's organisation.
    assert [(f["verdict"], f["note"], f["giver_name"]) for f in feedback] == [
        ("true_positive", "actioned", None)
    ] * 2
    # Every verdict is listed (each is signed evidence), but B's latest is the one that counts.
    summary = run_cli(
        "status", "--data", str(helpline.data.root), "--url", helpline.url, "--feedback"
    )
    assert summary.returncode == 0, summary.stderr
    assert "1 entries; 1 givers; verdicts: 1 true_positive" in summary.stdout
    assert summary.stdout.count("(superseded by a later verdict)") == 1
    assert f"by {node_b.org}" in summary.stdout

    # What cannot be sent is a one-line error from threatexchange, never a traceback.
    wrong_label = platform.tx(
        "label", "-H", "pdq", "-l", "blue", COLLAB, "photo", str(hash_file_path), check=False
    )
    assert wrong_label.returncode == 2
    assert "Traceback" not in wrong_label.stderr
    assert "one of: actioned, not_actioned, under_review; got 'blue'" in wrong_label.stderr
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("0f" * 32 + "\n")  # nowhere near any hash in the bank
    unmatched = platform.tx("label", "-H", "pdq", COLLAB, "photo", str(unknown), check=False)
    assert unmatched.returncode == 2
    assert "Traceback" not in unmatched.stderr
    assert f"pdq {'0f' * 32} matches no active hash on {node_b.url}" in unmatched.stderr

    # A revokes: the PDQ stays (the other helpline still publishes it), the digests go.
    await helpline.call("POST", "/v1/revocations", {"entry_id": entry_a})
    await wait_until(lambda: has_entries(node_b, 8), what="the revocation at B")
    platform.tx("fetch")
    [still] = platform.match_photo()
    assert helpline.org[:12] not in still.split(" feedback ")[0]
    assert still.endswith(f"feedback +Platform B ({node_b.org[:12]})")  # its own name
    assert platform.tx("match", "-H", "-S", "video_md5", "video", "--", ours.md5.hex()).stdout == ""

    # The last publisher revokes: the hash is deleted from the platform's index.
    await ingest(helpline, other.revoke(add_other))
    await wait_until(lambda: has_entries(node_b, 9), what="the second revocation at B")
    platform.tx("fetch")
    assert platform.match_photo() == []
    assert platform.checkpoint().cursor == 9


async def test_a_checkpoint_from_another_bank_is_refused_with_the_reason(
    tmp_path: Path, network: tuple[NodeProcess, NodeProcess]
) -> None:
    helpline, node_b = network
    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    platform.setup(node_b.url)
    platform.tx("fetch")
    platform.tx("config", "collab", "edit", "hashbank", COLLAB, "--node-url", helpline.url)
    platform.node = helpline  # with that node's token (/v1/status is the operator's)
    moved = platform.tx("fetch", check=False)
    assert moved.returncode != 0
    assert "failed to fetch" in moved.stderr
    # The reason is shown without -v, naming both banks and the way out.
    assert f"is of organisation {node_b.org}, but {helpline.url} serves" in moved.stderr
    assert f"organisation {helpline.org}" in moved.stderr
    assert f"fetch --clear --only-collab '{COLLAB}'" in moved.stderr
    assert "Traceback" not in moved.stderr
    assert platform.checkpoint().org_id == node_b.org  # kept, not silently replaced


async def test_a_refused_token_is_named_without_v(
    tmp_path: Path, network: tuple[NodeProcess, NodeProcess]
) -> None:
    _, node_b = network
    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    platform.setup(node_b.url)
    stale = subprocess.run(
        [sys.executable, "-m", "threatexchange.cli.main", "fetch"],
        cwd=ROOT,
        env={**platform.env(), "TX_HASHBANK_TOKEN": "an-old-token"},  # rotated since
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stale.returncode != 0
    assert f"{node_b.url} refused the token: missing or wrong bearer token" in stale.stderr
    assert "operator.token (TX_HASHBANK_TOKEN or ~/.tx_hashbank_token)" in stale.stderr
    assert "Traceback" not in stale.stderr
    platform.tx("fetch")  # with the right one


class HoldingProxy:
    """A pass-through to a real node that can hold one lookup until the test releases it.

    It also records where each ``/v1/changes`` read started, to show a fetch resuming.
    """

    def __init__(self, target: str, hold_lookup: int) -> None:
        self.target = target
        self.hold_lookup = hold_lookup  # the n-th /v1/signals/lookup is held
        self.lookups = 0
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.changes_after: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def forward(self, request: web.Request) -> web.Response:
        if request.path == "/v1/changes":
            self.changes_after.append(request.query.get("after", ""))
        if request.path == "/v1/signals/lookup":
            self.lookups += 1
            if self.lookups == self.hold_lookup:
                self.holding.set()
                await self.release.wait()
        headers = {k: v for k, v in request.headers.items() if k in ("Authorization",)}
        body = await request.read()
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                self.target + request.path_qs,
                data=body or None,
                headers={**headers, "Content-Type": "application/json"},
            ) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )


async def test_an_interrupted_first_fetch_resumes_from_its_checkpoint(
    tmp_path: Path, network: tuple[NodeProcess, NodeProcess]
) -> None:
    helpline, node_b = network
    # Six entries of 1,000 digests: in one page of the change feed, six deltas.
    for n in range(6):
        items = [
            {"signal_type": "md5", "value": f"{n:04x}{i:028x}", "labels": ["ncii"]}
            for i in range(1_000)
        ]
        await helpline.call("POST", "/v1/hashes", {"items": items})
    await wait_until(lambda: has_entries(node_b, 6), what="the adds at the platform's node")
    proxy = HoldingProxy(node_b.url, hold_lookup=3)
    await proxy.start()
    try:
        platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
        platform.setup(proxy.url)
        fetch = await platform.start("fetch")
        await asyncio.wait_for(proxy.holding.wait(), 120)  # two deltas are in
        fetch.send_signal(signal.SIGINT)  # Ctrl-C while the third is on its way
        _, err = await asyncio.wait_for(fetch.communicate(), 120)
        assert fetch.returncode == 130, err.decode()
        assert "Interrupted, writing a checkpoint" in err.decode()
        assert platform.checkpoint().cursor == 2  # both deltas kept, with their checkpoint
        proxy.release.set()

        proxy.changes_after.clear()
        await platform.atx("fetch")
        assert proxy.changes_after[0] == "2"  # resumed, not started over
    finally:
        await proxy.stop()
    assert platform.checkpoint().cursor == 6
    assert (await platform.atx("dataset")).split() == ["video_md5:", "6000"]


async def test_fetch_survives_a_key_rotation_and_shows_charter_names(tmp_path: Path) -> None:
    helpline = await NodeProcess.start(make_data(tmp_path / "a", name="Helpline A"))
    node_b = await NodeProcess.start(
        make_data(tmp_path / "b", name="Platform B", role="subscriber")
    )
    try:
        await _charter_rotation_and_names(tmp_path, helpline, node_b)
    finally:
        helpline.terminate()
        node_b.terminate()


async def _charter_rotation_and_names(
    tmp_path: Path, helpline: NodeProcess, node_b: NodeProcess
) -> None:
    # One steward (the helpline); the charter names the platform "Beta Platform".
    members = {
        "Alpha Helpline": (helpline, "publisher,steward"),
        "Beta Platform": (node_b, "subscriber"),
    }
    charter_file = members_file(tmp_path / "m.toml", members).read_text()
    (tmp_path / "m.toml").write_text(charter_file.replace("threshold = 2", "threshold = 1"))
    draft = tmp_path / "v1.json"
    hashbank("charter", "init", "--members", str(tmp_path / "m.toml"), "--out", str(draft))
    hashbank("charter", "sign", "--yes", "--data", str(helpline.data.root), str(draft))
    for node in (helpline, node_b):
        hashbank("charter", "apply", "--data", str(node.data.root), "--url", node.url, str(draft))
    connect([helpline, node_b], [(0, 1)])
    ours = hash_file(PHOTO)
    assert ours.pdq is not None
    items = [{"signal_type": "pdq", "value": ours.pdq.hex(), "labels": ["ncii"]}]
    entry_a = (await helpline.call("POST", "/v1/hashes", {"items": items})).body["entry_id"]
    await wait_until(lambda: has_match(node_b, "pdq", ours.pdq.hex()), what="the add at B")

    # The node's API names members as its charter does, and itself as configured.
    [match] = await matches(node_b, "pdq", ours.pdq.hex())
    assert (match["author"], match["author_name"]) == (helpline.org, "Alpha Helpline")

    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    platform.setup(node_b.url)
    platform.tx("fetch")
    [line] = platform.match_photo()
    assert f"by Alpha Helpline ({helpline.org[:12]})" in line
    tx_pdq = tmp_path / "pdq.txt"
    tx_pdq.write_text(platform.tx("hash", "photo", str(PHOTO)).stdout.split()[-1] + "\n")
    platform.tx("label", "-H", "pdq", "-l", "actioned", COLLAB, "photo", str(tx_pdq))

    async def verdict_at_helpline() -> bool:
        return bool(
            (await helpline.call("GET", f"/v1/feedback?entry_id={entry_a}")).body["feedback"]
        )

    await wait_until(verdict_at_helpline, what="the platform's verdict at the helpline")
    [verdict] = (await helpline.call("GET", f"/v1/feedback?entry_id={entry_a}")).body["feedback"]
    assert verdict["giver_name"] == "Beta Platform"
    summary = run_cli(
        "status", "--data", str(helpline.data.root), "--url", helpline.url, "--feedback"
    )
    assert f"by Beta Platform ({node_b.org[:12]})" in summary.stdout

    # The platform rotates its node's key: a new node id, the same organisation and bank.
    old_node_id = node_b.node_id
    new_key = hashbank("key", "rotate", "--data", str(node_b.data.root)).stdout.split()[2]
    stewards_decide(
        tmp_path / "v2.json", helpline, (helpline,), helpline, "--rotate", "Beta Platform", new_key
    )

    async def rotated() -> bool:
        return bool((await node_b.status())["node_id"] == new_key)

    await wait_until(rotated, what="the platform's node to take its new key")
    assert new_key != old_node_id
    more = [{"signal_type": "md5", "value": ours.md5.hex(), "labels": ["ncii"]}]
    await helpline.call("POST", "/v1/hashes", {"items": more})

    await wait_until(lambda: has_match(node_b, "md5", ours.md5.hex()), what="the next add at B")
    platform.tx("fetch")
    checkpoint = platform.checkpoint()
    assert (checkpoint.org_id, checkpoint.network) == (node_b.org, "test-network")
    assert checkpoint.node_id == new_key
    md5 = platform.tx("match", "-H", "-S", "video_md5", "video", "--", ours.md5.hex()).stdout
    assert md5.startswith(f"video_md5 - ({COLLAB}) POSITIVE_CLASS ncii by Alpha Helpline (")
    [line] = platform.match_photo()
    assert line.endswith(f"feedback +Platform B ({node_b.org[:12]})")


async def test_a_hash_that_expires_after_a_fetch_still_matches_cleanly(
    tmp_path: Path, network: tuple[NodeProcess, NodeProcess]
) -> None:
    helpline, node_b = network
    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    platform.setup(node_b.url)
    # A digest that stays, so the index of the type is rebuilt rather than left behind.
    await helpline.call(
        "POST", "/v1/hashes", {"items": [{"signal_type": "md5", "value": "00" * 16}]}
    )
    published = 1
    # The hash must still be live when `fetch` indexes it; on a slow machine, try longer.
    for attempt, lifetime_s in enumerate((20, 60, 180)):
        value = f"{attempt + 1:02x}" * 16
        expires_ms = int(time.time() * 1000) + lifetime_s * 1000
        item = {"signal_type": "md5", "value": value, "labels": ["ncii"], "expires_ms": expires_ms}
        await helpline.call("POST", "/v1/hashes", {"items": [item]})
        published += 1
        await wait_until(
            lambda n=published: has_entries(node_b, n), what="the add at the platform's node"
        )
        platform.tx("fetch")
        await asyncio.sleep(max(0.0, expires_ms / 1000 - time.time()) + 1)
        matched = platform.tx("match", "-H", "-S", "video_md5", "video", "--", value)
        if matched.stdout:
            break
    else:
        raise AssertionError("no fetch indexed the expiring hash while it was live")
    # The index still holds it until the next fetch: it prints as expired, no crash.
    assert (
        matched.stdout
        == f"video_md5 - ({COLLAB}) EXPIRED by {helpline.org[:12]} (the next fetch drops it)\n"
    )
    platform.tx("fetch")
    assert platform.tx("match", "-H", "-S", "video_md5", "video", "--", value).stdout == ""


def test_node_imports_without_threatexchange() -> None:
    blocker = "import sys; sys.modules['threatexchange'] = None\n"
    code = blocker + "import node.cli, node.api.app, node.api.stream, node.cli.platform\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    broken = subprocess.run(
        [sys.executable, "-c", blocker + "import node.tx"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "threatexchange" in broken.stderr


HOUR_MS = 3_600_000
Key = tuple[str, str]


async def ahashbank(*args: str) -> str:
    """``hashbank`` in a child process without blocking the loop an in-process node runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"{args}: {err.decode()}"
    return out.decode()


def active_set(changes: list[dict[str, Any]]) -> set[Key]:
    """What a platform following only ``/v1/changes`` holds, as docs/platforms.md §5 says."""
    held: dict[tuple[str, int], Key] = {}
    for change in changes:
        if change.get("void"):
            continue
        if change["kind"] in ("add", "restored"):
            items = change["body"]["items"] if change["kind"] == "add" else change["items"]
            for item in items:
                key = (change.get("entry_id") or item["entry_id"], item["index"])
                held[key] = (item["signal_type"], item["value"])
        elif change["kind"] == "revoke":
            for target in change["body"]["targets"]:
                for key in [k for k in held if k[0] == target["entry_id"]]:
                    if target["items"] is None or key[1] in target["items"]:
                        del held[key]
        elif change["kind"] == "withdrawn":
            for item in change["items"]:
                held.pop((item["entry_id"], item["index"]), None)
    return set(held.values())


async def test_takedowns_and_expiries_reach_threatexchange_in_one_fetch(tmp_path: Path) -> None:
    helpline = await NodeProcess.start(make_data(tmp_path / "a", name="Helpline A"))
    clock = ShiftedClock()  # the platform's node: its clock moves on to pass an expiry
    node_b = await RunningNode.start(
        make_data(tmp_path / "b", name="Platform B", role="subscriber"), clock=clock
    )
    try:
        await _takedown_and_expiry(tmp_path, helpline, node_b, clock)
    finally:
        helpline.terminate()
        await node_b.stop()


async def _takedown_and_expiry(
    tmp_path: Path, helpline: NodeProcess, node_b: RunningNode, clock: ShiftedClock
) -> None:
    members = {
        "Alpha Helpline": (helpline, "publisher,steward"),
        "Beta Platform": (node_b, "subscriber"),
    }
    text = members_file(tmp_path / "m.toml", members).read_text()  # type: ignore[arg-type]
    (tmp_path / "m.toml").write_text(text.replace("threshold = 2", "threshold = 1"))
    draft = tmp_path / "v1.json"
    await ahashbank("charter", "init", "--members", str(tmp_path / "m.toml"), "--out", str(draft))
    await ahashbank("charter", "sign", "--yes", "--data", str(helpline.data.root), str(draft))
    for node in (helpline, node_b):
        await ahashbank(
            "charter", "apply", "--data", str(node.data.root), "--url", node.url, str(draft)
        )
    for data, peer in ((helpline.data, node_b), (node_b.data, helpline)):
        config = load_config(data)
        write_config(data, replace(config, peers=(PeerConfig(peer.url, peer.node_id),)))

    ours = hash_file(PHOTO)
    assert ours.pdq is not None
    # seq 1 stays: the photo's PDQ and an unrelated digest. seq 2 (the only SHA-256 in the
    # bank, so its type's index empties) is taken down; the digest in seq 3 expires.
    taken_down, expiring = "5d" * 32, "e7" * 16
    stays = [
        {"signal_type": "pdq", "value": ours.pdq.hex(), "labels": ["ncii"]},
        {"signal_type": "md5", "value": "00" * 16},
    ]
    expires_ms = clock.now_ms() + HOUR_MS
    for items in (
        stays,
        [{"signal_type": "sha256", "value": taken_down, "labels": ["ncii"]}],
        [{"signal_type": "md5", "value": expiring, "labels": ["ncii"], "expires_ms": expires_ms}],
    ):
        assert (await helpline.call("POST", "/v1/hashes", {"items": items})).status == 201
    await wait_until(lambda: _entries_at(node_b, 3), what="the adds at the platform's node")

    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    platform.setup(node_b.url)
    await platform.atx("fetch")
    sha256 = ("match", "-H", "-S", "video_sha256", "video", "--", taken_down)
    md5 = ("match", "-H", "-S", "video_md5", "video", "--", expiring)
    assert platform.tx(*sha256).stdout.startswith(f"video_sha256 - ({COLLAB}) POSITIVE_CLASS")
    assert platform.tx(*md5).stdout.startswith(f"video_md5 - ({COLLAB}) POSITIVE_CLASS")

    stream = StreamClient(
        await node_b.session.get(
            f"{node_b.url}/v1/changes/stream?after=3",
            headers={"Authorization": f"Bearer {node_b.token}"},
        )
    )
    # The stewards take down the helpline's seq 2; the version reaches B by gossip.
    await ahashbank(
        "charter", "propose", "--data", str(helpline.data.root), "--url", helpline.url,
        "--takedown", "Alpha Helpline", "2", "2", "--out", str(tmp_path / "v2.json"),
    )  # fmt: skip
    await ahashbank(
        "charter", "sign", "--yes", "--data", str(helpline.data.root), str(tmp_path / "v2.json")
    )
    await ahashbank(
        "charter", "apply", "--data", str(helpline.data.root), "--url", helpline.url,
        str(tmp_path / "v2.json"),
    )  # fmt: skip
    takedown = await stream.next_event(timeout=60)
    assert (takedown.kind, takedown.data["reason"], takedown.data["charter_version"]) == (
        "withdrawn",
        "takedown",
        2,
    )
    assert [i["value"] for i in takedown.data["items"]] == [taken_down]
    # The expiry passes at B; its sweep withdraws the digest.
    clock.ahead_ms = 2 * HOUR_MS
    assert await node_b.node.expire() == 1
    expiry = await stream.next_event()
    assert (expiry.kind, expiry.data["reason"]) == ("withdrawn", "expiry")
    assert [i["value"] for i in expiry.data["items"]] == [expiring]
    stream.response.close()

    # A platform that follows /v1/changes drops both.
    changes = (await node_b.get("/v1/changes?limit=1000")).body["changes"]
    assert active_set(changes) == {("pdq", ours.pdq.hex()), ("md5", "00" * 16)}
    assert [c["void"] for c in changes if c["kind"] == "add"] == [False, True, False]

    # So does threatexchange, in one fetch without --clear; the rest still matches.
    await platform.atx("fetch")
    assert platform.tx(*sha256).stdout == ""
    assert platform.tx(*md5).stdout == ""
    [photo] = platform.match_photo()
    assert f"({COLLAB}) POSITIVE_CLASS ncii by Alpha Helpline" in photo
    background = platform.tx("match", "-H", "-S", "video_md5", "video", "--", "00" * 16)
    assert background.stdout.startswith(f"video_md5 - ({COLLAB})")
    assert not (platform.state / "index" / "video_sha256.index").exists()
    assert platform.checkpoint().cursor == expiry.id


async def _entries_at(node: RunningNode, count: int) -> bool:
    return bool((await node.get("/v1/status")).body["entries"] == count)
