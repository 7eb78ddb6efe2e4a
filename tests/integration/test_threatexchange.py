"""A platform on the network through the real ``threatexchange`` CLI and the ``node.tx`` extension.

Helpline node A publishes; the platform runs node B (role subscriber), peered with A. The
platform's threatexchange talks only to B: fetch, match a real photo, see revocations arrive as
deletes, and report an opinion that B signs and gossips back to A.
"""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.hashing.pdq import hash_file
from node.tx.records import HashbankCheckpoint
from protocol.body import HashItem
from protocol.entry import Entry
from tests.builders import Author, pdq_value
from tests.nodes import ROOT, NodeProcess, connect, make_data, wait_until

PHOTO = ROOT / "tests" / "data" / "pdq" / "original.jpg"
COLLAB = "hashbank-network"

pytestmark = pytest.mark.slow


@dataclass
class Platform:
    """The threatexchange CLI with its state in a test directory, talking to node B."""

    state: Path
    node: NodeProcess

    def tx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HOME": str(self.state.parent),
            "TX_STATEDIR": str(self.state),
            "TX_HASHBANK_TOKEN": self.node.token,
        }
        result = subprocess.run(
            [sys.executable, "-m", "threatexchange.cli.main", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    def match_photo(self) -> list[str]:
        return self.tx("match", "photo", str(PHOTO)).stdout.splitlines()

    def checkpoint(self) -> HashbankCheckpoint:
        with (self.state / "fetched" / "hashbank" / f"{COLLAB}.state.pickle").open("rb") as f:
            checkpoint = pickle.load(f).checkpoint
        assert isinstance(checkpoint, HashbankCheckpoint)
        return checkpoint


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[tuple[NodeProcess, NodeProcess]]:
    helpline = await NodeProcess.start(make_data(tmp_path / "a", name="Helpline A"))
    platform = await NodeProcess.start(
        make_data(tmp_path / "b", name="Platform B", role="subscriber")
    )
    connect([helpline, platform], [(0, 1)])
    yield helpline, platform
    helpline.terminate()
    platform.terminate()


async def has_entries(node: NodeProcess, count: int) -> bool:
    return bool((await node.status())["entries"] == count)


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

    # The platform confirms the match; node B signs the verdict and gossips it to A.
    hash_file_path = tmp_path / "pdq.txt"
    hash_file_path.write_text(tx_pdq)
    platform.tx("label", "-H", "pdq", "-l", "actioned", COLLAB, "photo", str(hash_file_path))

    async def verdict_at_helpline() -> bool:
        doc = (await helpline.call("GET", f"/v1/feedback?entry_id={entry_a}")).body
        return any(f["giver"] == node_b.org for f in doc["feedback"])

    await wait_until(verdict_at_helpline, what="the platform's feedback at the helpline")
    feedback = (await helpline.call("GET", f"/v1/feedback?entry_id={entry_a}")).body["feedback"]
    assert [(f["verdict"], f["note"]) for f in feedback] == [("true_positive", "actioned")]

    # A revokes: the PDQ stays (the other helpline still publishes it), the digests go.
    await helpline.call("POST", "/v1/revocations", {"entry_id": entry_a})
    await wait_until(lambda: has_entries(node_b, 6), what="the revocation at B")
    platform.tx("fetch")
    [still] = platform.match_photo()
    assert helpline.org[:12] not in still.split(" by ")[1].split()[0]
    assert f"feedback +{node_b.org[:12]}" in still
    assert platform.tx("match", "-H", "-S", "video_md5", "video", "--", ours.md5.hex()).stdout == ""

    # The last publisher revokes: the hash is deleted from the platform's index.
    await ingest(helpline, other.revoke(add_other))
    await wait_until(lambda: has_entries(node_b, 7), what="the second revocation at B")
    platform.tx("fetch")
    assert platform.match_photo() == []
    assert platform.checkpoint().cursor == 7


async def test_a_checkpoint_from_another_node_fails_loudly(
    tmp_path: Path, network: tuple[NodeProcess, NodeProcess]
) -> None:
    helpline, node_b = network
    platform = Platform(tmp_path / "tx" / ".threatexchange", node_b)
    platform.tx("config", "extensions", "add", "node.tx")
    platform.tx(
        "config", "collab", "edit", "hashbank", COLLAB, "--create", "--node-url", node_b.url
    )
    platform.tx("fetch")
    platform.tx("config", "collab", "edit", "hashbank", COLLAB, "--node-url", helpline.url)
    moved = platform.tx("-v", "fetch", check=False)  # -v: the reason is logged
    assert moved.returncode != 0
    assert "failed to fetch" in moved.stderr
    assert "fetch --clear" in moved.stderr
    assert platform.checkpoint().node_id == node_b.node_id  # kept, not silently replaced


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
