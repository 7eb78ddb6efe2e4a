"""PdqIndex must return exactly what a brute-force scan returns, whatever the bank looks like.

Small banks would always be scanned under the production tuning, so most tests force the MIH
path (``strategy="mih"``) with tiny segments and several substring counts, including layouts
whose substrings straddle 64-bit words and layouts so narrow that buckets overflow.
"""

from __future__ import annotations

import math
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from numpy.typing import NDArray

from node.matching._mih import Layout, ball, query_keys, volume
from node.matching.pdq_index import MAX_THRESHOLD, PdqIndex, Tuning

Bank = NDArray[np.uint8]
Result = list[tuple[int, int]]

KINDS = ("random", "zeros", "clustered", "near_dups", "shared_half", "skewed")
# m = 20, 24 and 40 give substrings that straddle a 64-bit word; m = 64 gives 4-bit buckets.
SUBSTRINGS = (16, 20, 24, 32, 40, 64)
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def flip_exactly(rng: np.random.Generator, rows: Bank, k: NDArray[np.int64]) -> Bank:
    """Each row with exactly k[i] distinct bits flipped."""
    ranks = np.argsort(rng.random((len(rows), 256)), axis=1).argsort(axis=1)
    return rows ^ np.packbits(ranks < k[:, None], axis=1)


def make_bank(kind: str, n: int, seed: int) -> Bank:
    """Banks that are easy (uniform) or adversarial for substring tables."""
    rng = np.random.default_rng(seed)
    uniform = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    if kind == "random":
        return uniform
    if kind == "zeros":  # most rows identical: one bucket per table holds nearly everything
        uniform[: n - n // 8] = 0
        return uniform
    if kind == "clustered":
        centres = rng.integers(0, 256, (max(1, n // 40), 32), dtype=np.uint8)
        rows = centres[rng.integers(0, len(centres), n)]
        return flip_exactly(rng, rows, rng.integers(0, 40, n))
    if kind == "near_dups":
        originals = rng.integers(0, 256, (max(1, n // 10), 32), dtype=np.uint8)
        rows = originals[rng.integers(0, len(originals), n)]
        return flip_exactly(rng, rows, rng.integers(0, 4, n))
    if kind == "shared_half":  # half of the substrings are equal in every row
        uniform[:, :16] = rng.integers(0, 256, 16, dtype=np.uint8)
        return uniform
    # "skewed": bits set with probability 0.1, so substrings concentrate on few values
    return np.packbits(rng.random((n, 256)) < 0.1, axis=1)


def make_queries(bank: Bank, seed: int) -> Bank:
    """Members, members at every exact distance 0..64, random hashes, all-zero and all-one."""
    rng = np.random.default_rng(seed + 1)
    picks = bank[rng.integers(0, len(bank), 24)] if len(bank) else np.zeros((24, 32), np.uint8)
    shifted = flip_exactly(rng, picks[:16], rng.integers(0, 65, 16))
    extremes = np.stack([np.zeros(32, np.uint8), np.full(32, 255, np.uint8)])
    random = rng.integers(0, 256, (2, 32), dtype=np.uint8)
    return np.concatenate([picks[16:], shifted, extremes, random])


def distances(bank: Bank, query: NDArray[np.uint8]) -> NDArray[np.int64]:
    counts: NDArray[np.int64] = np.unpackbits(bank ^ query, axis=1).sum(axis=1, dtype=np.int64)
    return counts


def reference(ids: NDArray[np.int64], dist: NDArray[np.int64], t: int) -> Result:
    """What a brute-force scan returns: (id, distance) within t, by (distance, id)."""
    hits = [(int(ids[i]), int(dist[i])) for i in np.flatnonzero(dist <= t)]
    return sorted(hits, key=lambda pair: (pair[1], pair[0]))


def build(
    bank: Bank, tuning: Tuning, seed: int, chunk: int = 97
) -> tuple[PdqIndex, NDArray[np.int64]]:
    """An index over the bank, added in chunks (so segments and merges occur), and its ids."""
    ids = np.random.default_rng(seed).permutation(10 * len(bank) + 1)[: len(bank)].astype(np.int64)
    index = PdqIndex(tuning=tuning)
    for start in range(0, len(bank), chunk):
        index.add(ids[start : start + chunk], bank[start : start + chunk])
    return index, ids


def spread(rng: np.random.Generator, row: Bank, layout: Layout, d: int) -> Bank:
    """Row with d bits flipped, spread as evenly as possible over the layout's substrings.

    The hardest case for the pigeonhole radii: no substring is much closer than the others.
    """
    m = len(layout.widths)
    base, extra = divmod(d, m)
    counts = rng.permutation([base + 1] * extra + [base] * (m - extra))
    bits = np.unpackbits(row, bitorder="little")  # bit g of the little-endian 256-bit int
    for start, width, count in zip(layout.starts, layout.widths, counts, strict=True):
        bits[start + rng.choice(width, size=count, replace=False)] ^= 1
    return np.packbits(bits, bitorder="little")


def boundary_queries(bank: Bank, layout: Layout, t: int, seed: int) -> Bank:
    """Members moved to exactly t and t+1 bits away, spread evenly and at random."""
    rng = np.random.default_rng(seed + t)
    if not len(bank):
        return np.zeros((0, 32), np.uint8)
    rows = bank[rng.integers(0, len(bank), 4)]
    even = [spread(rng, row, layout, t + k % 2) for k, row in enumerate(rows)]
    scattered = flip_exactly(rng, rows, np.array([t, t + 1, t, t + 1]))
    return np.concatenate([np.stack(even), scattered])


def assert_exact(
    index: PdqIndex, ids: NDArray[np.int64], bank: Bank, queries: Bank, layout: Layout, seed: int
) -> None:
    """Batch and single results equal brute force at every threshold 0..63."""
    for t in range(MAX_THRESHOLD + 1):
        edge = boundary_queries(bank, layout, t, seed)
        batch = np.concatenate([queries, edge])
        got = index.query_batch(batch, t)
        for qi, query in enumerate(batch):
            assert got[qi] == reference(ids, distances(bank, query), t), f"t={t}, query {qi}"
        for query in edge:
            assert index.query(query.tobytes(), t) == reference(ids, distances(bank, query), t)


@settings(SLOW, max_examples=30)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(0, 400),
    seed=st.integers(0, 2**32 - 1),
    m=st.sampled_from(SUBSTRINGS),
    strategy=st.sampled_from(["mih", "mih", "auto"]),
)
def test_matches_brute_force_at_every_threshold(
    kind: str, n: int, seed: int, m: int, strategy: str
) -> None:
    bank = make_bank(kind, n, seed)
    tuning = Tuning(delta_max=64, min_table_rows=1, growth=2, substrings=m, strategy=strategy)  # type: ignore[arg-type]
    index, ids = build(bank, tuning, seed)
    assert len(index) == n
    assert_exact(index, ids, bank, make_queries(bank, seed), Layout.split(m), seed)


@pytest.mark.parametrize(("m", "kind"), [(12, "random"), (13, "clustered"), (12, "skewed")])
def test_widest_layouts_match_brute_force(m: int, kind: str) -> None:
    """The layouts used at 1M-10M rows (20-22-bit substrings), forced onto a small bank."""
    bank = make_bank(kind, 3000, seed=m)
    tuning = Tuning(delta_max=1000, min_table_rows=1, substrings=m, strategy="mih")
    index, ids = build(bank, tuning, seed=m, chunk=1500)
    assert all(size for size in index.segment_sizes[:-1])
    assert_exact(index, ids, bank, make_queries(bank, seed=m)[::3], Layout.split(m), seed=m)


def test_default_tuning_matches_brute_force() -> None:
    """Production settings: a bank big enough to get tables, with its cost model choosing."""
    bank = make_bank("clustered", 30_000, seed=7)
    index, ids = build(bank, Tuning(), seed=7, chunk=10_000)
    assert len(index.segment_sizes) >= 2
    queries = make_queries(bank, seed=7)
    dists = [distances(bank, q) for q in queries]
    for t in (0, 1, 8, 15, 16, 31, 32, 47, 48, 62, 63):
        got = index.query_batch(queries, t)
        assert got == [reference(ids, d, t) for d in dists]


@settings(SLOW, max_examples=20)
@given(
    kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**32 - 1),
    m=st.sampled_from(SUBSTRINGS),
    t=st.integers(0, MAX_THRESHOLD),
)
def test_batch_equals_single_queries(kind: str, seed: int, m: int, t: int) -> None:
    bank = make_bank(kind, 300, seed)
    tuning = Tuning(delta_max=50, min_table_rows=1, substrings=m, strategy="mih")
    index, _ = build(bank, tuning, seed)
    queries = make_queries(bank, seed)
    assert index.query_batch(queries, t) == [index.query(q.tobytes(), t) for q in queries]


class IndexMachine(RuleBasedStateMachine):
    """Adds, replacements, removals, saves and loads against a dict model of the bank."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = np.random.default_rng(0)
        self.tuning = Tuning(delta_max=16, min_table_rows=4, growth=2, substrings=32)
        self.index = PdqIndex(tuning=self.tuning)
        self.model: dict[int, bytes] = {}
        self.folder: Path | None = None

    def hashes(self, n: int) -> Bank:
        if self.model and self.rng.random() < 0.5:  # near-duplicates of live rows
            pool = np.frombuffer(b"".join(self.model.values()), np.uint8).reshape(-1, 32)
            rows = pool[self.rng.integers(0, len(pool), n)]
            return flip_exactly(self.rng, rows, self.rng.integers(0, 40, n))
        return self.rng.integers(0, 256, (n, 32), dtype=np.uint8)

    @rule(ids=st.lists(st.integers(0, 120), unique=True, max_size=40))
    def add(self, ids: list[int]) -> None:
        rows = self.hashes(len(ids))
        self.index.add(np.array(ids, dtype=np.int64), rows)
        self.model.update({i: row.tobytes() for i, row in zip(ids, rows, strict=True)})

    @rule(ids=st.lists(st.integers(0, 130), max_size=30))
    def remove(self, ids: list[int]) -> None:
        self.index.remove(iter(ids))  # any iterable; unknown ids ignored
        for i in ids:
            self.model.pop(i, None)

    @rule()
    def save_and_load(self) -> None:
        if self.folder is None:
            import tempfile

            self.folder = Path(tempfile.mkdtemp(prefix="pdq-index-test-"))
        self.index.save(self.folder)
        self.index = PdqIndex.load(
            self.folder, mmap=bool(self.rng.random() < 0.5), tuning=self.tuning
        )

    @precondition(lambda self: bool(self.model))
    @rule(t=st.integers(0, MAX_THRESHOLD), near=st.integers(0, 64))
    def query(self, t: int, near: int) -> None:
        ids = np.array(list(self.model), dtype=np.int64)
        bank = np.frombuffer(b"".join(self.model.values()), np.uint8).reshape(-1, 32)
        query = flip_exactly(self.rng, bank[:1], np.array([near]))[0]
        assert self.index.query(query.tobytes(), t) == reference(ids, distances(bank, query), t)

    @invariant()
    def same_size(self) -> None:
        assert len(self.index) == len(self.model)

    def teardown(self) -> None:
        if self.folder is not None:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)


TestIndexMachine = IndexMachine.TestCase
TestIndexMachine.settings = settings(SLOW, max_examples=25, stateful_step_count=30)


def test_replacing_an_id_keeps_one_row() -> None:
    index = PdqIndex(tuning=Tuning(delta_max=2, min_table_rows=1, substrings=16))
    old, new = np.zeros((1, 32), np.uint8), np.full((1, 32), 255, np.uint8)
    index.add(np.array([5, 6, 7]), np.concatenate([old, old, old]))
    index.add(np.array([5]), new)
    assert len(index) == 3
    assert index.query(new.tobytes(), 0) == [(5, 0)]
    assert index.query(old.tobytes(), 0) == [(6, 0), (7, 0)]


def test_save_load_round_trip(tmp_path: Path) -> None:
    bank = make_bank("near_dups", 5000, seed=3)
    index, ids = build(bank, Tuning(delta_max=700, min_table_rows=1, growth=2), seed=3, chunk=900)
    index.remove(ids[:100])
    folder = tmp_path / "index"
    index.save(folder)
    index.save(folder)  # a second save replaces the first and removes its folder
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 1
    for mmap in (False, True):
        loaded = PdqIndex.load(folder, mmap=mmap)
        assert len(loaded) == len(index) == 4900
        assert loaded.segment_sizes == index.segment_sizes
        queries = make_queries(bank, seed=3)
        for t in (0, 10, 31, 63):
            assert loaded.query_batch(queries, t) == index.query_batch(queries, t)
    loaded.add(ids[:1], bank[:1])  # a mapped, read-only index still accepts writes
    assert len(loaded) == 4901


def test_load_rejects_missing_or_foreign_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no saved index"):
        PdqIndex.load(tmp_path)
    (tmp_path / "CURRENT").write_text("../../etc\n")
    with pytest.raises(ValueError, match="damaged"):
        PdqIndex.load(tmp_path)


@pytest.mark.parametrize("threshold", [-1, 64, 256, 10**9, True, 3.0, "31", None])
def test_threshold_outside_range_is_rejected(threshold: object) -> None:
    index = PdqIndex()
    with pytest.raises(ValueError, match="threshold"):
        index.query(bytes(32), threshold)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        index.query_batch(np.zeros((1, 32), np.uint8), threshold)  # type: ignore[arg-type]


def test_bad_rows_are_rejected() -> None:
    index = PdqIndex()
    with pytest.raises(ValueError, match="32"):
        index.query(bytes(31), 31)
    with pytest.raises(ValueError, match="shape"):
        index.add(np.array([1]), np.zeros((1, 31), np.uint8))
    with pytest.raises(ValueError, match="ids for"):
        index.add(np.array([1, 2]), np.zeros((1, 32), np.uint8))
    with pytest.raises(ValueError, match="unique"):
        index.add(np.array([2, 1, 2]), np.zeros((3, 32), np.uint8))
    assert index.query_batch(np.zeros((0, 32), np.uint8), 31) == []
    index.remove([])
    index.remove(np.array([42]))
    assert len(index) == 0
    assert index.query(bytes(32), 63) == []


def test_queries_see_consistent_snapshots_during_writes() -> None:
    """A reader never sees a replaced id twice or not at all, nor a stable id vanish."""
    tuning = Tuning(delta_max=8, min_table_rows=1, growth=2, substrings=32)
    index = PdqIndex(tuning=tuning)
    stable = np.full((1, 32), 0x0F, np.uint8)
    churn = np.full((1, 32), 0xF0, np.uint8)
    index.add(np.array([0, 1]), np.concatenate([stable, churn]))
    stop, errors, reads = threading.Event(), [], [0]

    def reader() -> None:
        while not stop.is_set():
            if index.query(stable.tobytes(), 0) != [(0, 0)]:
                errors.append("stable id missing")
            if index.query(churn.tobytes(), 0) != [(1, 0)]:
                errors.append("replaced id seen twice or not at all")
            reads[0] += 1

    # Switch threads every few microseconds so reads land inside writes, not only between them.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        rng = np.random.default_rng(1)
        for step in range(100):
            index.add(np.array([1]), churn)  # replace with itself
            others = np.arange(2 + 5 * step, 7 + 5 * step)
            index.add(others, rng.integers(0, 256, (5, 32), dtype=np.uint8))
            index.remove(others[:3])
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert not errors
    assert reads[0] > 20


@pytest.mark.parametrize("width", [4, 13, 21])
def test_ball_lists_each_mask_once(width: int) -> None:
    for radius in range(4):
        masks = ball(width, radius)
        assert len(masks) == len(set(masks.tolist())) == volume(width, radius)
        counts = np.bitwise_count(masks)
        assert counts.max(initial=0) <= radius
        assert bool(np.all(np.diff(counts) >= 0))


@pytest.mark.parametrize("m", [12, 13, 20, 40])
def test_single_and_batch_query_keys_agree_with_bit_extraction(m: int) -> None:
    layout = Layout.split(m)
    rows = make_bank("random", 50, seed=m)
    words = rows.view("<u8")
    bits = np.unpackbits(rows, axis=1, bitorder="little")
    weights = [1 << k for k in range(22)]
    expected = np.stack(
        [
            bits[:, start : start + width] @ np.array(weights[:width]) + base
            for start, width, base in zip(layout.starts, layout.widths, layout.bases, strict=True)
        ],
        axis=1,
    )
    assert np.array_equal(query_keys(layout, words), expected)
    for row, keys in zip(words, expected, strict=True):
        assert np.array_equal(query_keys(layout, row[None, :]), keys[None, :])


@pytest.mark.parametrize("m", [12, 13, 16, 20, 24, 40, 64])
def test_layouts_cover_256_bits_with_aligned_tables(m: int) -> None:
    layout = Layout.split(m)
    assert sum(layout.widths) == 256
    assert len(layout.widths) == m
    assert max(layout.widths) - min(layout.widths) <= 1
    assert all(base % (1 << w) == 0 for base, w in zip(layout.bases, layout.widths, strict=True))


def test_layout_for_size_targets_one_row_per_bucket() -> None:
    assert Layout.for_size(10_000_000).widths == (22,) * 4 + (21,) * 8
    assert len(Layout.for_size(1_000_000).widths) == 13
    assert len(Layout.for_size(100_000).widths) == 16
    assert math.isclose(sum(Layout.for_size(5).widths), 256)
