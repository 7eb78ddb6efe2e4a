"""Replica integrity on real nodes: nobody makes another's hashes vanish, forks heal, replicas
agree (docs/threat-model.md, "Replica integrity"; docs/protocol.md §4.3, §6.1, §9.2, §9.6).

Every test runs real ``hashbank run`` processes on loopback that gossip by signed requests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import aiohttp

from node.config import PeerConfig, load_config, write_config
from node.datadir import DataDir, load_key
from protocol import wire
from protocol.body import AddBody, HashItem, Kind, RevokeBody, RevokeReason, RevokeTarget
from protocol.entry import Entry, SignedHeader, decode_entry, sign_entry
from protocol.httpsig import sign_request
from protocol.identity import Context, PublicKey, SigningKey, org_id_for
from protocol.sync import encode_entries
from tests.builders import Author, pdq_item, pdq_value
from tests.integration.test_charter import hashbank, members_file, stewards_decide
from tests.integration.test_threatexchange import active_set
from tests.nodes import NodeProcess, connect, make_data, start_nodes, wait_until

HOSTILE = SigningKey(b"\x51" * 32)


async def status(node: NodeProcess) -> dict[str, object]:
    return await node.status()


async def matches(node: NodeProcess, value: bytes) -> int:
    doc = {"queries": [{"signal_type": "pdq", "value": value.hex()}]}
    response = await node.call("POST", "/v1/match", doc)
    assert response.status == 200, response.body
    return len(response.body["results"][0]["matches"])


async def one_digest(nodes: Sequence[NodeProcess]) -> bool:
    return len({(await n.status())["bank_digest"] for n in nodes}) == 1


async def everyone(nodes: Sequence[NodeProcess], value: bytes, count: int) -> bool:
    return all([await matches(n, value) == count for n in nodes])


async def import_entries(node: NodeProcess, *raws: bytes) -> dict[str, object]:
    doc = {"entries": [base64.b64encode(r).decode() for r in raws]}
    response = await node.call("POST", "/v1/entries", doc)
    assert response.status == 200, response.body
    return dict(response.body)


async def peer_push(node: NodeProcess, key: SigningKey, *raws: bytes) -> int:
    """Push entries to ``node`` as the configured peer whose key is ``key``."""
    body = encode_entries(list(raws))
    headers = sign_request(
        key,
        recipient=PublicKey.from_text(node.node_id),
        method="POST",
        path="/v1/peer/push",
        body=body,
        now=int(time.time()),
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.url + "/v1/peer/push", data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


def add_peer(node: NodeProcess, key: SigningKey) -> None:
    """Also accept ``key`` as a peer (at a dead address: it only ever pushes)."""
    config = load_config(node.data)
    dead = PeerConfig("http://127.0.0.1:9", str(key.public_key))
    write_config(node.data, replace(config, peers=(*config.peers, dead)))


async def accepts_peer(node: NodeProcess, key: SigningKey) -> bool:
    peers = (await node.status())["peers"]
    return any(p["node_id"] == str(key.public_key) for p in peers)  # type: ignore[index]


async def followers_agree(nodes: Sequence[NodeProcess]) -> bool:
    """Whether a platform following each node's ``/v1/changes`` from the start holds exactly
    that node's active hashes (a fork's suspension and healing reach it as events)."""
    for node in nodes:
        changes = (await node.call("GET", "/v1/changes?limit=1000")).body["changes"]
        hashes = (await node.call("GET", "/v1/hashes?limit=10000")).body["hashes"]
        if active_set(changes) != {(h["signal_type"], h["value"]) for h in hashes}:
            return False
    return True


def stop(nodes: Sequence[NodeProcess]) -> None:
    for node in nodes:
        node.terminate()


# --- 1. body stripping ----------------------------------------------------------------------


async def test_a_stripped_copy_first_then_the_real_one_is_matchable_everywhere(
    tmp_path: Path,
) -> None:
    nodes = await start_nodes(tmp_path, 3)
    a, b, c = nodes
    try:
        connect(nodes, [(0, 1), (1, 2)])
        add_peer(a, HOSTILE)
        await wait_until(lambda: accepts_peer(a, HOSTILE), what="the hostile member's peering")
        victim = Author(31)
        add = victim.add(pdq_item(1))
        # A member relays the victim's add without its body, first, to A.
        assert await peer_push(a, HOSTILE, add.without_body().raw) == 200

        async def stripped_everywhere() -> bool:
            return all([(await n.status())["incomplete"] == 1 for n in nodes])

        await wait_until(stripped_everywhere, what="the stripped copy at every node")
        assert not await everyone(nodes, pdq_value(1), 1)
        incomplete = (await b.status())["incomplete_entries"]
        assert incomplete == [{"author": victim.org.hex(), "seq": 1, "entry_id": add.id.hex()}]
        # The real copy, wherever it comes in, completes every node's copy.
        await import_entries(c, add.raw)
        await wait_until(lambda: everyone(nodes, pdq_value(1), 1), what="the hashes everywhere")
        await wait_until(lambda: one_digest(nodes), what="one bank digest")
        assert all([(await n.status())["incomplete"] == 0 for n in nodes])
        view = (await a.call("GET", f"/v1/entries/{add.id.hex()}")).body
        assert view["erased"] is False
        assert view["incomplete"] is False
    finally:
        stop(nodes)


# --- 2 and 3. forks: proven by headers, one bank everywhere -----------------------------------


def fork_of_revokes(author: Author) -> tuple[Entry, Entry, Entry]:
    """An add at seq 1, then two rival revokes of it at seq 2."""
    add = author.add(pdq_item(2))
    base = list(author.entries)
    honest = author.revoke(add, reason=RevokeReason.VICTIM_REQUEST)
    author.entries = list(base)
    rival = author.revoke(add, (0,), RevokeReason.SUBMITTED_IN_ERROR)
    return add, honest, rival


async def test_a_fork_of_two_revokes_is_proven_to_every_node(tmp_path: Path) -> None:
    nodes = await start_nodes(tmp_path, 3)
    a, b, c = nodes
    try:
        connect(nodes, [(0, 1), (1, 2)])
        author = Author(32)
        add, honest, rival = fork_of_revokes(author)
        await import_entries(a, add.raw, honest.raw)
        await import_entries(c, add.raw, rival.raw)

        async def proven_everywhere() -> bool:
            return all([len((await n.status())["forks"]) == 1 for n in nodes])

        await wait_until(proven_everywhere, what="the revoke fork's proof at every node")
        for node in nodes:
            forks = (await node.call("GET", "/v1/forks")).body["forks"]
            assert [(f["author"], f["seq"]) for f in forks] == [(author.org.hex(), 2)]
        # Neither revoke counts: the add is matchable everywhere, and the bank is one.
        await wait_until(lambda: everyone(nodes, pdq_value(2), 1), what="the add everywhere")
        await wait_until(lambda: one_digest(nodes), what="one bank digest")
        assert await followers_agree(nodes)  # the revoked add came back as `restored`
        later = author.add(pdq_item(3))
        assert (await import_entries(b, later.raw))["rejected"] == {"forked_author": 1}
    finally:
        stop(nodes)


async def test_three_nodes_after_a_fork_keep_one_digest(tmp_path: Path) -> None:
    nodes = await start_nodes(tmp_path, 3)
    a, b, c = nodes
    try:
        author = Author(33)
        first = author.add(pdq_item(4))
        base = list(author.entries)
        honest = [author.add(pdq_item(5)), author.add(pdq_item(6))]
        author.entries = list(base)
        rival = [author.add(pdq_item(7)), author.add(pdq_item(8))]
        # Each node holds a different story before they ever talk.
        await import_entries(a, first.raw, *(e.raw for e in honest))
        await import_entries(c, first.raw, *(e.raw for e in rival))
        await import_entries(b, first.raw)
        assert not await one_digest(nodes)
        connect(nodes, [(0, 1), (1, 2)])
        await wait_until(lambda: one_digest(nodes), what="one bank digest after the fork")
        for node in nodes:
            assert (await node.status())["forks"] == [{"author": author.org.hex(), "seq": 2}]
            assert await matches(node, pdq_value(4)) == 1  # below the fork: still counts
            for n in (5, 6, 7, 8):
                assert await matches(node, pdq_value(n)) == 0
    finally:
        stop(nodes)


async def test_histories_that_part_below_the_fork_found_still_reach_one_digest(
    tmp_path: Path,
) -> None:
    nodes = await start_nodes(tmp_path, 2)
    a, c = nodes
    try:
        author = Author(36)
        first = author.add(pdq_item(70))
        base = list(author.entries)
        honest = [author.add(pdq_item(71)), author.add(pdq_item(72))]
        author.entries = list(base)
        rival = [author.add(pdq_item(73)), author.add(pdq_item(74))]
        await import_entries(a, first.raw, *(e.raw for e in honest))
        await import_entries(c, first.raw, *(e.raw for e in rival))
        # Their heads (seq 3) differ: the proof found first is at seq 3, though the two
        # histories part at seq 2. Comparing feed digests below the fork finds seq 2 too.
        connect(nodes, [(0, 1)])

        async def forked_at_2() -> bool:
            return all(
                [
                    (await n.status())["forks"] == [{"author": author.org.hex(), "seq": 2}]
                    for n in nodes
                ]
            )

        await wait_until(forked_at_2, what="the fork found at seq 2")
        await wait_until(lambda: one_digest(nodes), what="one bank digest")
        assert await everyone(nodes, pdq_value(70), 1)
        for n in (71, 72, 73, 74):
            assert await everyone(nodes, pdq_value(n), 0)
    finally:
        stop(nodes)


# --- 4 and 5. forks heal under a charter; a retired key makes no fork -----------------------


async def charter_network(tmp_path: Path) -> list[NodeProcess]:
    """Stewards A and B and helpline H, in a line A - B - H, under one charter version."""
    nodes = await start_nodes(tmp_path, 3)
    a, b, h = nodes
    members = {"A": (a, "publisher,steward"), "B": (b, "publisher,steward"), "H": (h, "publisher")}
    draft = tmp_path / "v1.json"
    hashbank(
        "charter", "init", "--members", str(members_file(tmp_path / "m.toml", members)),
        "--out", str(draft),
    )  # fmt: skip
    for steward in (a, b):
        hashbank("charter", "sign", "--yes", "--data", str(steward.data.root), str(draft))
    for node in nodes:
        hashbank("charter", "apply", "--data", str(node.data.root), "--url", node.url, str(draft))
    connect(nodes, [(0, 1), (1, 2)])
    return nodes


async def publish(node: NodeProcess, n: int) -> tuple[int, dict[str, object]]:
    doc = {"items": [{"signal_type": "pdq", "value": pdq_value(n).hex()}]}
    response = await node.call("POST", "/v1/hashes", doc)
    return response.status, response.body


def signed_as(key: SigningKey, author: bytes, seq: int, prev: bytes, body: object) -> Entry:
    """An entry of ``author``'s feed signed with ``key`` outside its node (a thief's)."""
    return sign_entry(
        key,
        author=author,  # type: ignore[arg-type]
        seq=seq,
        prev=prev,
        timestamp_ms=int(time.time() * 1000),
        body=body,  # type: ignore[arg-type]
    )


async def versions(nodes: Sequence[NodeProcess], version: int) -> bool:
    for node in nodes:
        charter = (await node.status())["charter"]
        if not charter or charter["version"] != version:  # type: ignore[index]
            return False
    return True


async def test_a_fork_heals_by_rotation_and_takedown_on_every_node(tmp_path: Path) -> None:
    nodes = await charter_network(tmp_path)
    a, b, h = nodes
    try:
        assert (await publish(h, 11))[0] == 201
        status, second = await publish(h, 12)
        assert status == 201
        await wait_until(lambda: everyone(nodes, pdq_value(12), 1), what="H's hashes everywhere")
        first_id = bytes.fromhex(
            (await h.call("GET", "/v1/changes")).body["changes"][0]["entry_id"]
        )
        # A thief with H's key signs a rival seq 2: a revoke of H's first add.
        stolen = load_key(h.data)
        org = bytes.fromhex(h.org)
        rival = signed_as(stolen, org, 2, first_id, RevokeBody((RevokeTarget(first_id),)))
        await import_entries(a, rival.raw)

        async def suspended_everywhere() -> bool:
            return all(
                [(await n.status())["forks"] == [{"author": h.org, "seq": 2}] for n in nodes]
            )

        await wait_until(suspended_everywhere, what="H's feed suspended everywhere")
        await wait_until(lambda: everyone(nodes, pdq_value(11), 1), what="the thief's revoke void")
        assert await followers_agree(nodes)  # H's own seq 2 went as `withdrawn` (fork)
        status, body = await publish(h, 13)
        assert status == 409, body
        # The stewards take down the forked seq and rotate H's key from the next one.
        new_key = hashbank("key", "rotate", "--data", str(h.data.root)).stdout.split()[2]
        stewards_decide(
            tmp_path / "v2.json", a, (a, b), b,
            "--takedown", "H", "2", "2", "--rotate", "H", new_key, "3",
        )  # fmt: skip
        await wait_until(lambda: versions(nodes, 2), what="version 2 everywhere")

        async def healed() -> bool:
            return all([(await n.status())["forks"] == [] for n in nodes])

        await wait_until(healed, what="the fork resolved everywhere")
        status, body = await publish(h, 13)
        assert status == 201, body
        assert body["seq"] == 3
        await wait_until(lambda: everyone(nodes, pdq_value(13), 1), what="H publishing again")
        # The victim-requested revocation of H's first add goes through everywhere.
        doc = {"entry_id": first_id.hex(), "reason": "victim_request"}
        assert (await h.call("POST", "/v1/revocations", doc)).status == 201
        await wait_until(lambda: everyone(nodes, pdq_value(11), 0), what="H's revocation")
        await wait_until(lambda: one_digest(nodes), what="one bank digest")
        assert await matches(a, pdq_value(12)) == 0  # H's own seq 2 is taken down too
        assert await followers_agree(nodes)
        assert second["seq"] == 2
    finally:
        stop(nodes)


async def test_a_retired_key_makes_no_fork_after_a_rotation(tmp_path: Path) -> None:
    nodes = await charter_network(tmp_path)
    a, b, h = nodes
    try:
        assert (await publish(h, 21))[0] == 201
        old_key = load_key(h.data)
        new_key = hashbank("key", "rotate", "--data", str(h.data.root)).stdout.split()[2]
        stewards_decide(tmp_path / "v2.json", a, (a, b), b, "--rotate", "H", new_key)
        await wait_until(lambda: versions(nodes, 2), what="the rotation everywhere")
        status, body = await publish(h, 22)
        assert status == 201, body
        await wait_until(lambda: everyone(nodes, pdq_value(22), 1), what="H after the rotation")
        # The retired key, kept on disk or stolen, signs a rival seq 1 and a seq 3.
        org = bytes.fromhex(h.org)
        rival = sign_entry(
            old_key, author=org, seq=1, prev=None, timestamp_ms=int(time.time() * 1000),
            body=AddBody((pdq_item(23),)),
        )  # fmt: skip
        later_id = bytes.fromhex(
            (await h.call("GET", "/v1/changes")).body["changes"][-1]["entry_id"]
        )
        third = signed_as(old_key, org, 3, later_id, AddBody((pdq_item(24),)))
        result = await import_entries(a, rival.raw, third.raw)
        assert result["rejected"] == {"retired_fork": 1, "unauthorized": 1}
        # A proof made of two of its headers is no proof either, from any peer.
        proof = wire.encode(
            sorted(
                [rival.signed_header().envelope(), _first_of(await h.call("GET", "/v1/changes"))],
                key=lambda env: hashlib.sha256(wire.decode(env, max_size=10**6)[0]).digest(),
            )
        )
        assert await _post_forks(a, load_key(b.data), proof) == 0
        # Nor is a proof at or past the rotation point with the retired key's signature on
        # one half (beside the new key's real seq 2) or on both.
        changes = (await h.call("GET", "/v1/changes")).body["changes"]
        real_2 = base64.b64decode(changes[-1]["entry"])
        first_id = bytes.fromhex(changes[0]["entry_id"])
        old_2 = [signed_as(old_key, org, 2, first_id, AddBody((pdq_item(n),))) for n in (26, 27)]
        twice = [decode_entry(real_2)] * 2  # and one header twice proves nothing at all
        for pair in ([decode_entry(real_2), old_2[0]], old_2, twice):
            made = wire.encode(
                [s.envelope() for s in sorted((e.signed_header() for e in pair), key=_id)]
            )
            assert await _post_forks(a, load_key(b.data), made) == 0
        await asyncio.sleep(1)  # a wrong proof would be relayed within a sync or two
        for node in nodes:
            assert (await node.status())["forks"] == []
        assert (await publish(h, 25))[0] == 201
        await wait_until(lambda: everyone(nodes, pdq_value(25), 1), what="H still publishing")
        await wait_until(lambda: one_digest(nodes), what="one bank digest")
        assert await matches(b, pdq_value(23)) == 0
    finally:
        stop(nodes)


def _id(half: SignedHeader) -> bytes:
    return half.id


def _first_of(changes: object) -> bytes:
    """The body-less envelope of the first entry in a ``/v1/changes`` answer."""
    raw = base64.b64decode(changes.body["changes"][0]["entry"])  # type: ignore[attr-defined]
    header, signature, _ = wire.decode(raw, max_size=len(raw))
    return wire.encode([header, signature, None])


async def _post_forks(node: NodeProcess, key: SigningKey, proof: bytes) -> int:
    body = wire.encode([proof])
    headers = sign_request(
        key,
        recipient=PublicKey.from_text(node.node_id),
        method="POST",
        path="/v1/peer/forks",
        body=body,
        now=int(time.time()),
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.url + "/v1/peer/forks", data=body, headers=headers) as response,
    ):
        assert response.status == 200
        value = wire.decode(await response.read(), max_size=100)
        assert isinstance(value, int)
        return value


# --- 6. an accidental fork without a charter -------------------------------------------------


async def test_after_an_accidental_fork_without_a_charter_the_operator_starts_afresh(
    tmp_path: Path,
) -> None:
    h1, peer = await start_nodes(tmp_path, 2)
    nodes = [h1, peer]
    try:
        connect(nodes, [(0, 1)])
        assert (await publish(h1, 41))[0] == 201
        await wait_until(lambda: everyone(nodes, pdq_value(41), 1), what="seq 1 at the peer")
        # The operator copies the node to a second machine, which runs without peers.
        h1.terminate()
        shutil.copytree(h1.data.root, tmp_path / "h2")
        h2_data = DataDir(tmp_path / "h2")
        write_config(h2_data, replace(load_config(h2_data), peers=()))
        h1 = await NodeProcess.start(h1.data)
        nodes = [h1, peer]
        connect(nodes, [(0, 1)])
        assert (await publish(h1, 42))[0] == 201
        await wait_until(lambda: everyone(nodes, pdq_value(42), 1), what="seq 2 at the peer")
        h2 = await NodeProcess.start(h2_data)
        nodes = [h1, peer, h2]
        assert (await publish(h2, 43))[0] == 201  # seq 2 again, signed with the same key
        # The copy takes the original's place (it has its node id) and meets the peer.
        h1.terminate()
        nodes = [peer, h2]
        connect(nodes, [(0, 1)])

        async def suspended() -> bool:
            return all([len((await n.status())["forks"]) == 1 for n in nodes])

        await wait_until(suspended, what="the fork at both nodes")
        await wait_until(lambda: one_digest(nodes), what="one bank digest")
        assert await everyone(nodes, pdq_value(41), 1)  # before the fork: still counts
        assert await everyone(nodes, pdq_value(42), 0)
        assert await everyone(nodes, pdq_value(43), 0)
        assert (await publish(h2, 44))[0] == 409
        # The remedy without a charter (docs/operator-guide.md §6): a new identity, which
        # publishes again what the suspended seqs held.
        h2.terminate()
        fresh = await NodeProcess.start(make_data(tmp_path / "fresh", name="Helpline, anew"))
        nodes = [fresh, peer]
        connect(nodes, [(0, 1)])
        for n in (42, 43):
            assert (await publish(fresh, n))[0] == 201
        await wait_until(lambda: everyone(nodes, pdq_value(43), 1), what="the new identity")
        assert await everyone(nodes, pdq_value(41), 1)
    finally:
        stop(nodes)


# --- 7. a flood of held entries -------------------------------------------------------------


def rss_kib(node: NodeProcess) -> int:
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc status")


def big_body() -> bytes:
    """An add body just under 4 MiB: 10,000 items with long labels."""
    labels = [f"{c}{'x' * 62}" for c in "abcde"]
    items = [
        HashItem("pdq", hashlib.sha256(b"flood%d" % i).digest(), tuple(labels)).to_wire()
        for i in range(10_000)
    ]
    return wire.encode([items])


def flood_entry(key: SigningKey, seq: int, body: bytes) -> bytes:
    """An add of ``key``'s own feed at ``seq`` (ahead of a gap: seq 1 never comes)."""
    header = wire.encode(
        [1, org_id_for(key.public_key), key.public_key.raw, seq, b"\x00" * 32,
         int(time.time() * 1000), int(Kind.ADD), hashlib.sha256(body).digest()]
    )  # fmt: skip
    return wire.encode([header, key.sign(Context.ENTRY, header), body])


async def test_a_flood_of_held_entries_keeps_memory_bounded_and_honest_ones_held(
    tmp_path: Path,
) -> None:
    data = make_data(tmp_path / "target")
    config = load_config(data)
    peer = PeerConfig("http://127.0.0.1:9", str(HOSTILE.public_key))
    write_config(data, replace(config, peers=(peer,)))
    target = await NodeProcess.start(data)
    try:
        honest = Author(34)
        early = [honest.add(pdq_item(50 + i)) for i in range(4)]
        assert await peer_push(target, HOSTILE, early[2].raw, early[3].raw) == 200
        assert (await target.status())["held"] == 2
        before = rss_kib(target)
        body = big_body()
        assert 3_500_000 < len(body) < 4_100_000
        pushed = 0
        for n in range(40):  # 200 entries of 4 MiB, 5 per flooding author
            flooder = SigningKey(hashlib.sha256(b"flooder%d" % n).digest())
            for seq in range(2, 7):
                while (
                    status := await peer_push(target, HOSTILE, flood_entry(flooder, seq, body))
                ) == 429:
                    await asyncio.sleep(0.5)
                assert status == 200
                pushed += 1
        assert pushed == 200
        doc = await target.status()
        grown_mib = (rss_kib(target) - before) / 1024
        # Before the bounds, these 200 held entries took 967 MB until a restart.
        assert doc["held_bytes"] <= 64 * 1024 * 1024, doc["held_bytes"]
        assert grown_mib < 400, f"the node grew by {grown_mib:.0f} MiB"
        # The honest author's held entries survived the flood: the gap fills, all four land.
        assert await peer_push(target, HOSTILE, early[0].raw, early[1].raw) == 200
        assert (await target.status())["entries"] == 4
        for i in range(4):  # pushed entries become matchable a moment after they are stored
            await wait_until(lambda i=i: everyone([target], pdq_value(50 + i), 1), what="matches")
        print(f"RSS grew by {grown_mib:.0f} MiB; held {doc['held']} entries, {doc['held_bytes']} B")
    finally:
        target.terminate()


# --- 8. divergence that no fetch repairs is reported ----------------------------------------


async def divergences(node: NodeProcess) -> list[dict[str, object]]:
    peers = (await node.status())["peers"]
    return [d for p in peers for d in p["divergences"]]  # type: ignore[union-attr]


async def test_replicas_that_hold_a_feed_differently_report_it_until_repaired(
    tmp_path: Path,
) -> None:
    a, b = await start_nodes(tmp_path, 2)
    nodes = [a, b]
    try:
        author = Author(35)
        entries = [author.add(pdq_item(60 + i)) for i in range(3)]
        await import_entries(a, *(e.raw for e in entries))
        connect(nodes, [(0, 1)])
        await wait_until(lambda: one_digest(nodes), what="both nodes to hold the feed")
        # B's derived state is damaged while it is stopped: heads agree, the feed does not.
        b.terminate()
        with sqlite3.connect(b.data.store) as db:
            db.execute("UPDATE feed_digests SET count = count + 1 WHERE author = ?", (author.org,))
        b = await NodeProcess.start(b.data)
        nodes = [a, b]
        connect(nodes, [(0, 1)])

        async def reported() -> bool:
            return all([len(await divergences(n)) == 1 for n in nodes])

        await wait_until(reported, what="the divergence reported on both sides")
        seen = (await divergences(a))[0]
        assert seen["author"] == author.org.hex()
        assert (seen["first_seq"], seen["last_seq"]) == (1, 3)
        # Re-deriving B from its signed entries repairs it, and A withdraws its report (B
        # comes back at the same address, so A's link to it, and its report, live on).
        port = int(b.url.rsplit(":", 1)[1])
        b.terminate()
        hashbank("rebuild", "--data", str(b.data.root))
        b = await NodeProcess.start(b.data, port=port)
        nodes = [a, b]

        async def withdrawn() -> bool:
            return await divergences(a) == []

        await wait_until(withdrawn, what="the divergence withdrawn")
        assert await divergences(b) == []
    finally:
        stop(nodes)
