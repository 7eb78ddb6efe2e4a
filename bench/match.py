"""Benchmark PDQ matching: PdqIndex against faiss IndexBinaryFlat, plus md5 exact lookups.

    python bench/match.py [--sizes 1000000,10000000] [--quick] [--json] [--no-clustered]
                          [--no-pdq] [--no-md5] [--no-store]

For each bank size N, in one run (so a noisy shared machine affects both sides alike):
uniform random PDQ hashes with planted near-duplicates at distances 0-31; single-query latency,
batch throughput, build / persisted-load / rebuild times, RSS, recall and precision against
brute force, the same queries through faiss IndexBinaryFlat (range_search, radius 32, one
thread), incremental adds, and md5 exact-match lookups. Then the same on a clustered bank.

The md5 lookup the node really does is measured too, at every size: ``Reader.exact("md5",
[value])`` through a real ``Store`` on a real SQLite file holding N md5 items (built for the
bench straight through the store's schema, in big transactions: that is setup, not measured),
single-value lookups, half of them misses. Beside it, in the same run and on the same file:
the same indexed SELECT through plain sqlite3 (no thread hop, no row objects) and a Python set
of the values, with the ratios. Target: store p50 <= 1 ms.

Uniform hashes are the easy case for multi-index hashing (every bucket equally full). Real PDQ
banks are clustered (near-duplicate images, correlated bits), which fills some buckets more than
others; the clustered variant (16 rows per cluster, 8-32 bits from its centre) shows the effect.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.matching.pdq_index import PdqIndex  # noqa: E402
from node.store import Store  # noqa: E402
from node.store.reads import EXACT_ROWS  # noqa: E402

faiss: Any
try:
    import faiss
except ImportError:  # the comparison is skipped; ground truth falls back to numpy
    faiss = None

THRESHOLD = 31
QUERIES = 1000
TRUTH_QUERIES = 200
HIGH_T_QUERIES = 20
ADD_ROUNDS = 200
CHUNK = 1 << 20
STORE_PROBES = 10_000
ITEMS_PER_ENTRY = 10
BUILD_ROWS = 500_000  # rows per build transaction
Bank = NDArray[np.uint8]
Row = dict[str, Any]


def rss_mb() -> float:
    """Resident set size of this process now."""
    return _status("VmRSS")


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def timer(out: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    out[key] = time.perf_counter() - start


def flip_exactly(rng: np.random.Generator, rows: Bank, k: NDArray[np.int64]) -> Bank:
    """Each row with exactly k[i] distinct bits flipped."""
    ranks = np.argsort(rng.random((len(rows), 256)), axis=1).argsort(axis=1)
    return rows ^ np.packbits(ranks < k[:, None], axis=1)


def uniform_bank(n: int, rng: np.random.Generator) -> Bank:
    """n uniform random hashes, generated in chunks to keep temporaries small."""
    bank = np.empty((n, 32), np.uint8)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        bank[start:stop] = rng.integers(0, 256, (stop - start, 32), dtype=np.uint8)
    return bank


def clustered_bank(n: int, rng: np.random.Generator) -> Bank:
    """n/16 random centres with 16 members each, 8-32 bits (binomial) from their centre."""
    centres = uniform_bank(max(1, n // 16), rng)
    bank = np.empty((n, 32), np.uint8)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        rows = centres[rng.integers(0, len(centres), stop - start)]
        # AND of L random bytes sets each bit with p = 2^-L: ~32, ~16 or ~8 flipped bits.
        level = rng.integers(3, 6, stop - start)[:, None]
        mask = rng.integers(0, 256, rows.shape, dtype=np.uint8)
        for extra in (3, 4, 5):
            more = mask & rng.integers(0, 256, rows.shape, dtype=np.uint8)
            mask = np.where(level >= extra, more, mask) if extra > 3 else more
        bank[start:stop] = rows ^ mask
    return bank


def plant(bank: Bank, rng: np.random.Generator) -> Bank:
    """Plant groups of near-duplicates (0-31 bits) into the bank; return queries near them."""
    groups = max(10, min(2000, len(bank) // 500))
    originals = bank[rng.integers(0, len(bank), groups)].copy()
    for _ in range(4):
        rows = rng.integers(0, len(bank), groups)
        bank[rows] = flip_exactly(rng, originals, rng.integers(0, THRESHOLD + 1, groups))
    picks = originals[rng.integers(0, groups, QUERIES * 4 // 5)]
    near = flip_exactly(rng, picks, rng.integers(0, THRESHOLD + 1, len(picks)))
    unrelated = rng.integers(0, 256, (QUERIES - len(near), 32), dtype=np.uint8)
    return rng.permutation(np.concatenate([near, unrelated]))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def time_single(run: Callable[[Bank], object], queries: Bank) -> list[float]:
    samples = []
    for row in queries:
        start = time.perf_counter()
        run(row)
        samples.append(time.perf_counter() - start)
    return samples


class Flat:
    """faiss IndexBinaryFlat on one thread, or a numpy scan when faiss is missing."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self.index: Any = None
        if faiss is not None:
            faiss.omp_set_num_threads(1)
            self.index = faiss.IndexBinaryFlat(256)
            self.index.add(bank)

    @property
    def name(self) -> str:
        return "faiss flat" if self.index is not None else "numpy scan"

    def range(self, queries: Bank, t: int) -> list[set[tuple[int, int]]]:
        """(row, distance) within t for each query."""
        if self.index is None:
            return [self._scan(q, t) for q in queries]
        lims, dist, rows = self.index.range_search(queries, t + 1)  # keeps distance < radius
        return [
            set(
                zip(
                    rows[lims[i] : lims[i + 1]].tolist(),
                    dist[lims[i] : lims[i + 1]].tolist(),
                    strict=True,
                )
            )
            for i in range(len(queries))
        ]

    def _scan(self, query: Bank, t: int) -> set[tuple[int, int]]:
        words, q = self.bank.view("<u8"), query.view("<u8")
        found: set[tuple[int, int]] = set()
        for start in range(0, len(words), CHUNK):
            d = np.bitwise_count(words[start : start + CHUNK] ^ q).sum(axis=1)
            hit = np.flatnonzero(d <= t)
            found.update(zip((hit + start).tolist(), d[hit].tolist(), strict=True))
        return found


def accuracy(ours: list[list[tuple[int, int]]], truth: list[set[tuple[int, int]]]) -> Row:
    """Recall and precision of (id, distance) pairs against brute force."""
    got = [set(r) for r in ours]
    hits = sum(len(g & t) for g, t in zip(got, truth, strict=True))
    expected, returned = sum(map(len, truth)), sum(map(len, got))
    return {
        "recall": hits / expected if expected else 1.0,
        "precision": hits / returned if returned else 1.0,
        "true_matches": expected,
    }


def measure_load(folder: Path) -> Row:
    """Load the saved index in a fresh process: time and resident memory, read and mmapped."""
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from node.matching.pdq_index import PdqIndex\n"
        "mmap = sys.argv[2] == 'mmap'\n"
        "t = time.perf_counter(); index = PdqIndex.load(sys.argv[1], mmap=mmap)\n"
        "t = time.perf_counter() - t\n"
        "st = {l.split(':')[0]: int(l.split()[1]) / 1024\n"
        "      for l in Path('/proc/self/status').read_text().splitlines() if ':' in l\n"
        "      and l.split(':')[0] in ('VmRSS', 'VmHWM')}\n"
        "print(json.dumps({'load_s': t, 'rss_mb': st['VmRSS'], 'peak_mb': st['VmHWM']}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out: Row = {}
    # The first read may come from disk (this machine's page cache is small), the second from
    # the page cache; mmap maps the files and defers reading to first use.
    for key, mode in (("read", "read"), ("read_again", "read"), ("mmap", "mmap")):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(folder), mode],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        out[key] = json.loads(proc.stdout)
    return out


def measure_rebuild(ids: NDArray[np.int64], bank: Bank, scratch: Path) -> Row:
    """Build from raw ids and hashes in a fresh process, as a node without a saved index would."""
    np.save(scratch / "raw-ids.npy", ids)
    np.save(scratch / "raw-hashes.npy", bank)
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "import numpy as np\n"
        "from node.matching.pdq_index import PdqIndex\n"
        "ids = np.load(sys.argv[1] + '/raw-ids.npy')\n"
        "hashes = np.load(sys.argv[1] + '/raw-hashes.npy')\n"
        "t = time.perf_counter(); index = PdqIndex(); index.add(ids, hashes)\n"
        "t = time.perf_counter() - t\n"
        "del hashes, ids\n"
        "st = {l.split(':')[0]: int(l.split()[1]) / 1024\n"
        "      for l in Path('/proc/self/status').read_text().splitlines() if ':' in l\n"
        "      and l.split(':')[0] in ('VmRSS', 'VmHWM')}\n"
        "print(json.dumps({'build_s': t, 'rss_mb': st['VmRSS'], 'peak_mb': st['VmHWM']}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(scratch)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    (scratch / "raw-ids.npy").unlink()
    (scratch / "raw-hashes.npy").unlink()
    result: Row = json.loads(proc.stdout)
    return result


def incremental_adds(index: PdqIndex, first_id: int, rng: np.random.Generator) -> Row:
    """Sustained adds of 1,000 new hashes, then one bulk add that merges into the main segment.

    Most adds only copy the small unindexed delta; every ~4th freezes it into a segment and
    sometimes merges segments, so the mean (amortised cost) is reported next to the median.
    """
    samples = []
    next_id = first_id
    for _ in range(ADD_ROUNDS):
        ids = np.arange(next_id, next_id + 1000, dtype=np.int64)
        rows = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
        start = time.perf_counter()
        index.add(ids, rows)
        samples.append(time.perf_counter() - start)
        next_id += 1000
    ms = np.array(samples) * 1e3
    out: Row = {
        "rounds": ADD_ROUNDS,
        "p50_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
        "segments_after": list(index.segment_sizes),
    }
    bulk = max(1000, len(index) // 8)  # enough to trigger the merge into the largest segment
    ids = np.arange(next_id, next_id + bulk, dtype=np.int64)
    rows = uniform_bank(bulk, rng)
    with timer(out, "bulk_merge_s"):
        index.add(ids, rows)
    out["bulk_rows"] = bulk
    out["segments_after_bulk"] = list(index.segment_sizes)
    return out


def md5_lookups(n: int, rng: np.random.Generator) -> Row:
    """Exact-match lookups on n md5 values: a Python set versus a sorted numpy array."""
    values = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    probes = values[rng.integers(0, n, 100_000)].copy()
    probes[::2] = rng.integers(0, 256, (len(probes[::2]), 16), dtype=np.uint8)  # half misses
    probe_bytes = [p.tobytes() for p in probes]
    out: Row = {}
    before = rss_mb()
    with timer(out, "set_build_s"):
        members = {v.tobytes() for v in values}
    out["set_mb"] = rss_mb() - before
    start = time.perf_counter()
    set_hits = sum(1 for p in probe_bytes if p in members)
    out["set_single_per_s"] = len(probes) / (time.perf_counter() - start)
    del members
    gc.collect()
    with timer(out, "sorted_build_s"):
        keys = np.sort(values.view("V16").reshape(-1))  # bytewise order, 16 bytes a row
    out["sorted_mb"] = keys.nbytes / 2**20
    wanted = probes.view("V16").reshape(-1)
    start = time.perf_counter()
    for row in wanted[:10_000]:
        pos = int(np.searchsorted(keys, row))
        _ = pos < len(keys) and keys[pos] == row
    out["sorted_single_per_s"] = 10_000 / (time.perf_counter() - start)
    start = time.perf_counter()
    found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    sorted_hits = int(np.count_nonzero(keys[found] == wanted))
    out["sorted_batch_per_s"] = len(wanted) / (time.perf_counter() - start)
    assert set_hits == sorted_hits, "md5 lookups disagree"
    return out


def run_bank(kind: str, n: int, seed: int, scratch: Path) -> Row:
    """Everything measured on one bank."""
    rng = np.random.default_rng(seed)
    bank = uniform_bank(n, rng) if kind == "uniform" else clustered_bank(n, rng)
    queries = plant(bank, rng)
    ids = np.arange(n, dtype=np.int64) * 3 + 1  # not row numbers, to catch mix-ups
    row: Row = {"kind": kind, "n": n, "threshold": THRESHOLD, "queries": len(queries)}
    base_rss = rss_mb()
    index = PdqIndex()
    with timer(row, "build_s"):
        index.add(ids, bank)
    row["index_mb"] = index.nbytes / 2**20
    row["process_rss_delta_mb"] = rss_mb() - base_rss
    run_queries(index, queries, row)
    folder = scratch / f"{kind}-{n}"
    with timer(row, "save_s"):
        index.save(folder)
    row["load"] = measure_load(folder)
    row["rebuild"] = measure_rebuild(ids, bank, scratch)
    compare_flat(index, bank, ids, queries, row)
    if kind == "uniform":
        before = index.query_batch(queries[:TRUTH_QUERIES], THRESHOLD)
        row["incremental_add_1000"] = incremental_adds(index, 3 * n + 1, rng)
        after = index.query_batch(queries[:TRUTH_QUERIES], THRESHOLD)
        row["unchanged_after_merges"] = after == before  # new rows are random: ~1e-39 to match
    return row


def run_queries(index: PdqIndex, queries: Bank, row: Row) -> None:
    index.query(queries[0].tobytes(), THRESHOLD)  # warm-up: plan caches
    single = time_single(lambda q: index.query(q.tobytes(), THRESHOLD), queries)
    row["single_p50_ms"], row["single_p99_ms"] = percentiles(single)
    row["single_qps"] = len(single) / sum(single)
    with timer(row, "batch_s"):
        index.query_batch(queries, THRESHOLD)
    row["batch_qps"] = len(queries) / row["batch_s"]
    high = queries[:HIGH_T_QUERIES]
    row["t63_p50_ms"] = percentiles(time_single(lambda q: index.query(q.tobytes(), 63), high))[0]


def compare_flat(
    index: PdqIndex, bank: Bank, ids: NDArray[np.int64], queries: Bank, row: Row
) -> None:
    """Ground truth and timings from the brute-force baseline on the same data."""
    flat = Flat(bank)
    subset = queries[:TRUTH_QUERIES]
    truth_rows = flat.range(subset, THRESHOLD)
    truth = [{(int(ids[r]), d) for r, d in found} for found in truth_rows]
    row.update(accuracy(index.query_batch(subset, THRESHOLD), truth))
    row["baseline"] = flat.name
    single = time_single(lambda q: flat.range(q[None, :], THRESHOLD), subset)
    row["flat_p50_ms"], row["flat_p99_ms"] = percentiles(single)
    row["flat_single_qps"] = len(single) / sum(single)
    with timer(row, "flat_batch_s"):
        flat.range(subset, THRESHOLD)
    row["flat_batch_qps"] = len(subset) / row["flat_batch_s"]
    high = queries[:HIGH_T_QUERIES]
    row["flat_t63_p50_ms"] = percentiles(time_single(lambda q: flat.range(q[None, :], 63), high))[0]


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def line(label: str, ours: str, flat: str = "", ratio: str = "", note: str = "") -> str:
    return f"{label:<38}{ours:>14}{flat:>14}{ratio:>11}{note}"


def report(row: Row) -> str:
    """A compact table for one bank."""
    load, add = row["load"], row.get("incremental_add_1000")

    def pair(ours: str, flat: str, digits: int, ratio: bool = True) -> tuple[str, str, str]:
        share = fmt(row[ours] / row[flat], 3) if ratio else ""
        return fmt(row[ours], digits), fmt(row[flat], digits), share

    lines = [
        f"\n{row['kind']} bank, N = {row['n']:,}, t = {row['threshold']}, {row['queries']:,} "
        f"queries (80% near planted duplicates), baseline {row['baseline']} (1 thread)",
        line("metric", "PdqIndex", row["baseline"], "ours/flat"),
        line("single query p50 (ms)", *pair("single_p50_ms", "flat_p50_ms", 3)),
        line("single query p99 (ms)", *pair("single_p99_ms", "flat_p99_ms", 3)),
        line("single queries/s", *pair("single_qps", "flat_single_qps", 0, ratio=False)),
        line(
            "batch queries/s (1,000 / 200 queries)", *pair("batch_qps", "flat_batch_qps", 0, False)
        ),
        line("t = 63 single p50 (ms, 20 queries)", *pair("t63_p50_ms", "flat_t63_p50_ms", 2)),
        line(
            "recall / precision (200 queries)",
            f"{row['recall']:.4f}/{row['precision']:.4f}",
            note=f"   vs brute force, {row['true_matches']} true matches",
        ),
        line("build from raw hashes (s)", fmt(row["build_s"])),
        line(
            "rebuild from raw, fresh process (s)",
            fmt(row["rebuild"]["build_s"]),
            note=f"   RSS after {fmt(row['rebuild']['rss_mb'], 0)} MB,"
            f" peak {fmt(row['rebuild']['peak_mb'], 0)} MB (incl. the raw input)",
        ),
        line("save (s)", fmt(row["save_s"])),
        line(
            "load persisted, fresh process (s)",
            fmt(load["read"]["load_s"], 3),
            note=f"   again (page cache): {fmt(load['read_again']['load_s'], 3)} s;"
            f" with mmap: {fmt(load['mmap']['load_s'], 3)} s",
        ),
        line(
            "RSS after load, fresh process (MB)",
            fmt(load["read"]["rss_mb"], 0),
            note=f"   peak {fmt(load['read']['peak_mb'], 0)}; arrays {fmt(row['index_mb'], 0)}",
        ),
        line("bench process RSS growth, build (MB)", fmt(row["process_rss_delta_mb"], 0)),
    ]
    if add is not None:
        note = f"   p99 {fmt(add['p99_ms'])}, mean {fmt(add['mean_ms'])}, max {fmt(add['max_ms'])}"
        lines.append(line("incremental add of 1,000 (ms, p50)", fmt(add["p50_ms"]), note=note))
        lines.append(
            line(
                f"bulk add of {add['bulk_rows']:,} + merge (s)",
                fmt(add["bulk_merge_s"]),
                note=f"   segments after: {add['segments_after_bulk']}; results unchanged: "
                f"{row['unchanged_after_merges']}",
            )
        )
    return "\n".join(lines)


def targets(row: Row) -> str:
    """The issue's targets (set for 10M rows on a 2-core machine), checked on this bank."""
    add = row.get("incremental_add_1000")
    checks = [
        ("single-query p50 <= 2 ms", row["single_p50_ms"] <= 2.0),
        ("single-query p50 >= 5x faster than flat", row["flat_p50_ms"] >= 5 * row["single_p50_ms"]),
        ("batch >= 1,000 queries/s", row["batch_qps"] >= 1000),
        ("index RSS after load <= 1.5 GB", row["load"]["read"]["rss_mb"] <= 1536),
        ("recall = precision = 1.0", row["recall"] == 1.0 and row["precision"] == 1.0),
    ]
    if add is not None:
        checks.append(("incremental add of 1,000 <= 20 ms (p50)", add["p50_ms"] <= 20))
    marks = ", ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks)
    return f"targets ({row['kind']}, N = {row['n']:,}): {marks}"


def report_md5(n: int, md5: Row) -> str:
    faster = "set" if md5["set_single_per_s"] > md5["sorted_single_per_s"] else "sorted array"
    return (
        f"\nmd5 exact match, N = {n:,} (half the probes miss)\n"
        f"  Python set of 16-byte values: {fmt(md5['set_single_per_s'], 0)} lookups/s one at a time"
        f" (build {fmt(md5['set_build_s'])} s, ~{fmt(md5['set_mb'], 0)} MB)\n"
        f"  sorted numpy array + searchsorted: {fmt(md5['sorted_single_per_s'], 0)} lookups/s one"
        f" at a time, {fmt(md5['sorted_batch_per_s'], 0)} lookups/s batched"
        f" (build {fmt(md5['sorted_build_s'])} s, {fmt(md5['sorted_mb'], 0)} MB)\n"
        f"  faster for single lookups: {faster}"
    )


# --- md5 through the node's store ------------------------------------------------------------


def build_store_file(path: Path, values: Bank) -> Row:
    """A store holding ``values`` as md5 items, ``ITEMS_PER_ENTRY`` to an entry (setup).

    The schema is the store's own (``Store.open`` creates it); the rows go in through plain
    sqlite3 with executemany, and the exact-match index is rebuilt once at the end rather than
    grown row by row. Entries carry placeholder bytes: an exact lookup never decodes them.
    """
    out: Row = {}
    start = time.perf_counter()
    asyncio.run(_create_store(path))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    index_sql = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'items_exact'"
    ).fetchone()[0]
    db.execute("DROP INDEX items_exact")
    entries = (len(values) + ITEMS_PER_ENTRY - 1) // ITEMS_PER_ENTRY
    author = b"\x01" * 32
    for first in range(0, entries, BUILD_ROWS // ITEMS_PER_ENTRY):
        last = min(entries, first + BUILD_ROWS // ITEMS_PER_ENTRY)
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO entries (cursor, id, author, seq, kind, timestamp_ms, received_ms, raw)"
            " VALUES (?, ?, ?, ?, 1, 0, 0, x'00')",
            ((c + 1, c.to_bytes(32, "big"), author, c + 1) for c in range(first, last)),
        )
        db.executemany(
            "INSERT INTO items (item_id, entry_cursor, idx, signal_type, value, labels, active)"
            " VALUES (?, ?, ?, 'md5', ?, 'ncii', 1)",
            (
                (i + 1, i // ITEMS_PER_ENTRY + 1, i % ITEMS_PER_ENTRY, values[i].tobytes())
                for i in range(first * ITEMS_PER_ENTRY, min(len(values), last * ITEMS_PER_ENTRY))
            ),
        )
        db.execute("COMMIT")
    db.execute(index_sql)
    db.execute("ANALYZE")
    db.close()
    out["build_s"] = time.perf_counter() - start
    out["file_mb"] = path.stat().st_size / 2**20
    return out


async def _create_store(path: Path) -> None:
    store = await Store.open(path, create=True)
    await store.close()


def md5_probes(values: Bank, rng: np.random.Generator) -> list[bytes]:
    """``STORE_PROBES`` md5 values, half of them in ``values``, in random order."""
    probes = values[rng.integers(0, len(values), STORE_PROBES)].copy()
    probes[::2] = rng.integers(0, 256, (len(probes[::2]), 16), dtype=np.uint8)
    return [p.tobytes() for p in probes]


async def _time_store(path: Path, probes: list[bytes]) -> tuple[list[float], int]:
    # check=False: quick_check of a multi-GB file is setup time, and the file was just built.
    store = await Store.open(path, check=False)
    try:
        for value in probes[:100]:  # warm-up: the page cache and SQLite's statement cache
            await store.exact("md5", [value])
        samples, hits = [], 0
        for value in probes:
            start = time.perf_counter()
            found = await store.exact("md5", [value])
            samples.append(time.perf_counter() - start)
            hits += len(found)
        return samples, hits
    finally:
        await store.close()


def _time_sqlite(path: Path, probes: list[bytes]) -> tuple[list[float], int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sql = f"SELECT i.item_id FROM items i WHERE {EXACT_ROWS} AND i.signal_type = ? AND i.value = ?"
    plan = " ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, ("md5", b"")))
    assert "items_exact" in plan, plan
    for value in probes[:100]:
        db.execute(sql, ("md5", value)).fetchall()
    samples, hits = [], 0
    for value in probes:
        start = time.perf_counter()
        found = db.execute(sql, ("md5", value)).fetchall()
        samples.append(time.perf_counter() - start)
        hits += len(found)
    db.close()
    return samples, hits


def _time_set(members: set[bytes], probes: list[bytes]) -> tuple[list[float], int]:
    samples, hits = [], 0
    for value in probes:
        start = time.perf_counter()
        found = value in members
        samples.append(time.perf_counter() - start)
        hits += found
    return samples, hits


def store_md5(n: int, scratch: Path, rng: np.random.Generator) -> Row:
    """The node's md5 lookup through its store, against plain sqlite3 and a Python set."""
    values = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    path = scratch / f"store-{n}.sqlite"
    row: Row = {"kind": "store_md5", "n": n, "probes": STORE_PROBES}
    row["build"] = build_store_file(path, values)
    probes = md5_probes(values, rng)
    members = {v.tobytes() for v in values}
    del values
    store_samples, store_hits = asyncio.run(_time_store(path, probes))
    sqlite_samples, sqlite_hits = _time_sqlite(path, probes)
    set_samples, set_hits = _time_set(members, probes)
    assert store_hits == sqlite_hits == set_hits, (store_hits, sqlite_hits, set_hits)
    row["hits"] = store_hits
    row["store_p50_ms"], row["store_p99_ms"] = percentiles(store_samples)
    row["sqlite_p50_ms"], row["sqlite_p99_ms"] = percentiles(sqlite_samples)
    row["set_p50_ms"], row["set_p99_ms"] = percentiles(set_samples)
    path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return row


def report_store_md5(row: Row) -> str:
    def ratio(a: str, b: str) -> str:
        return fmt(row[a] / row[b], 1) + "x" if row[b] else "-"

    build = row["build"]
    lines = [
        f"\nmd5 through the store, N = {row['n']:,} items, {row['probes']:,} single-value"
        f" lookups (half miss); file {fmt(build['file_mb'], 0)} MB built in"
        f" {fmt(build['build_s'], 1)} s (setup)",
        line("metric (ms)", "Store.exact", "sqlite3", "store/sql", "   Python set, store/set"),
    ]
    for q in ("p50", "p99"):
        set_note = f"   {fmt(row[f'set_{q}_ms'], 5)}, {ratio(f'store_{q}_ms', f'set_{q}_ms')}"
        lines.append(
            line(
                f"single lookup {q}",
                fmt(row[f"store_{q}_ms"], 3),
                fmt(row[f"sqlite_{q}_ms"], 3),
                ratio(f"store_{q}_ms", f"sqlite_{q}_ms"),
                set_note,
            )
        )
    met = "met" if row["store_p50_ms"] <= 1.0 else "NOT met"
    lines.append(f"target (N = {row['n']:,}): store p50 <= 1 ms: {met}")
    return "\n".join(lines)


def parse_sizes(text: str) -> list[int]:
    units = {"k": 1_000, "m": 1_000_000}
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = units.get(part[-1], 1)
        sizes.append(int(float(part.rstrip("km")) * scale))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated bank sizes")
    parser.add_argument("--quick", action="store_true", help="N = 100,000 only, a smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--no-clustered", action="store_true", help="skip the clustered banks")
    parser.add_argument("--no-pdq", action="store_true", help="skip the PDQ banks")
    parser.add_argument("--no-md5", action="store_true", help="skip the in-memory md5 lookups")
    parser.add_argument("--no-store", action="store_true", help="skip md5 through the store")
    args = parser.parse_args()
    sizes = [100_000] if args.quick else parse_sizes(args.sizes)
    kinds = [] if args.no_pdq else ["uniform"] if args.no_clustered else ["uniform", "clustered"]
    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pdq-bench-") as scratch:
        for n in sizes:
            for row in bank_rows(n, kinds, not args.no_md5 and n == max(sizes), Path(scratch)):
                results.append(row)
                if not args.json:
                    print(row.pop("_text"), flush=True)
                row.pop("_text", None)
                gc.collect()
            if not args.no_store:
                row = store_md5(n, Path(scratch), np.random.default_rng(n % 7919))
                results.append(row)
                if not args.json:
                    print(report_store_md5(row), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


def bank_rows(n: int, kinds: list[str], md5: bool, scratch: Path) -> Iterator[Row]:
    """The PDQ banks of size ``n`` and the in-memory md5 lookups, each with its report."""
    for kind in kinds:
        row = run_bank(kind, n, seed=n % 9973, scratch=scratch)
        yield {**row, "_text": report(row) + "\n" + targets(row)}
    if md5:
        found = md5_lookups(n, np.random.default_rng(5))
        yield {"kind": "md5", "n": n, **found, "_text": report_md5(n, found)}


if __name__ == "__main__":
    main()
