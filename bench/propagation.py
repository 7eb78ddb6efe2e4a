"""Propagation through a federation of node processes on loopback.

Run: ``python bench/propagation.py [--sizes 10,20] [--trials 20] [--json]``

N nodes in a random 3-regular graph. Each trial submits a fresh hash at a random node and
measures the time until *every* node matches it, then the same for its revocation. The
baseline, measured in the same run, is one loopback API round trip and the one-hop
propagation time between two directly peered nodes; the ratio shows how many "hops worth"
of time a whole-network delivery costs. Target: p99 < 1 s at 20 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from node.config import PeerConfig, initialise, load_config, write_config
from node.datadir import read_secret


class Proc:
    """One node process."""

    def __init__(self, root: Path, name: str) -> None:
        self.data, _, key = initialise(root / name, name=name, port=0)
        self.node_id = str(key.public_key)
        self.token = read_secret(self.data.token)
        self.url = ""
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "node.cli",
            "run",
            "--data",
            str(self.data.root),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = (await self.proc.stdout.readline()).decode()
        found = re.search(r"listening on (\S+)", line)
        if not found:
            raise SystemExit(f"node did not start: {line!r}")
        self.url = found.group(1)

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    def set_peers(self, peers: list[Proc]) -> None:
        config = load_config(self.data)
        entries = tuple(PeerConfig(p.url, p.node_id) for p in peers)
        write_config(self.data, replace(config, peers=entries))


def random_regular_graph(n: int, degree: int, rnd: random.Random) -> list[tuple[int, int]]:
    """A connected simple random ``degree``-regular graph by repeated random pairing."""
    while True:
        stubs = [i for i in range(n) for _ in range(degree)]
        rnd.shuffle(stubs)
        edges = {tuple(sorted(stubs[i : i + 2])) for i in range(0, len(stubs), 2)}
        if len(edges) == n * degree // 2 and all(a != b for a, b in edges) and _connected(n, edges):
            return sorted(edges)  # type: ignore[arg-type]


def _connected(n: int, edges: set[tuple[int, ...]]) -> bool:
    seen, todo = {0}, [0]
    while todo:
        a = todo.pop()
        for x, y in edges:
            for u, v in ((x, y), (y, x)):
                if u == a and v not in seen:
                    seen.add(v)
                    todo.append(v)
    return len(seen) == n


class Bench:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def call(self, node: Proc, path: str, doc: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {node.token}"}
        method = "GET" if doc is None else "POST"
        async with self.http.request(method, node.url + path, json=doc, headers=headers) as r:
            return await r.json()

    async def matches(self, node: Proc, value: str) -> bool:
        doc = {"queries": [{"signal_type": "md5", "value": value}]}
        return bool((await self.call(node, "/v1/match", doc))["results"][0]["matches"])

    async def until_all(self, nodes: list[Proc], value: str, present: bool, start: float) -> float:
        """Seconds from ``start`` until every node agrees on ``value`` being present."""

        async def one(node: Proc) -> float:
            while await self.matches(node, value) != present:
                await asyncio.sleep(0.002)
            return time.perf_counter() - start

        return max(await asyncio.wait_for(asyncio.gather(*(one(n) for n in nodes)), 30))

    async def trial(self, nodes: list[Proc], origin: Proc) -> tuple[float, float]:
        """Submit at ``origin`` then revoke: seconds until every node sees each."""
        value = f"{random.getrandbits(128):032x}"
        start = time.perf_counter()
        entry = await self.call(
            origin, "/v1/hashes", {"items": [{"signal_type": "md5", "value": value}]}
        )
        add = await self.until_all(nodes, value, True, start)
        start = time.perf_counter()
        await self.call(origin, "/v1/revocations", {"entry_id": entry["entry_id"]})
        revoke = await self.until_all(nodes, value, False, start)
        return add, revoke


async def federation(root: Path, n: int, rnd: random.Random) -> list[Proc]:
    nodes = [Proc(root, f"n{i}") for i in range(n)]
    await asyncio.gather(*(p.start() for p in nodes))
    peers: dict[int, list[Proc]] = {i: [] for i in range(n)}
    for a, b in random_regular_graph(n, 3, rnd) if n > 3 else [(0, 1)]:
        peers[a].append(nodes[b])
        peers[b].append(nodes[a])
    for i, node in enumerate(nodes):
        node.set_peers(peers[i])
    await asyncio.sleep(2.0)  # config reload and first syncs
    return nodes


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(sizes: list[int], trials: int) -> dict[str, Any]:
    rnd = random.Random(7)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        bench = Bench(http)
        with tempfile.TemporaryDirectory(prefix="hb-prop-") as tmp:
            pair = await federation(Path(tmp) / "pair", 2, rnd)
            try:
                rtt = []
                for _ in range(50):
                    t = time.perf_counter()
                    await bench.call(pair[0], "/v1/status")
                    rtt.append(time.perf_counter() - t)
                hops = [(await bench.trial(pair, pair[0]))[0] for _ in range(trials)]
            finally:
                await asyncio.gather(*(p.stop() for p in pair))
            results["baseline"] = {
                "api_rtt_ms": statistics.median(rtt) * 1000,
                "one_hop_ms": statistics.median(hops) * 1000,
            }
            for n in sizes:
                nodes = await federation(Path(tmp) / f"n{n}", n, rnd)
                try:
                    adds, revokes = [], []
                    for _ in range(trials):
                        add, revoke = await bench.trial(nodes, rnd.choice(nodes))
                        adds.append(add)
                        revokes.append(revoke)
                finally:
                    await asyncio.gather(*(p.stop() for p in nodes))
                results[str(n)] = {
                    "add_median_ms": statistics.median(adds) * 1000,
                    "add_p99_ms": pct(adds, 0.99) * 1000,
                    "revoke_median_ms": statistics.median(revokes) * 1000,
                    "revoke_p99_ms": pct(revokes, 0.99) * 1000,
                }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,20")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run([int(s) for s in args.sizes.split(",")], args.trials))
    if args.json:
        print(json.dumps(results))
        return
    base = results.pop("baseline")
    hop = base["one_hop_ms"]
    print(f"baseline: API round trip {base['api_rtt_ms']:.1f} ms, one hop {hop:.1f} ms")
    print(
        f"{'nodes':>5} {'add p50':>9} {'add p99':>9} {'revoke p50':>11} {'revoke p99':>11}"
        f" {'p99/hop':>8}"
    )
    for n, r in results.items():
        worst = max(r["add_p99_ms"], r["revoke_p99_ms"])
        print(
            f"{n:>5} {r['add_median_ms']:>7.0f}ms {r['add_p99_ms']:>7.0f}ms "
            f"{r['revoke_median_ms']:>9.0f}ms {r['revoke_p99_ms']:>9.0f}ms {worst / hop:>8.1f}"
            f"   (target p99 < 1000 ms)"
        )


if __name__ == "__main__":
    main()
