"""Exact, sublinear PDQ near-neighbour search: every id within a Hamming distance of a query.

``PdqIndex`` answers "which ids have a hash within distance ≤ t of this one" for t in 0..63 with
results identical to brute force, using multi-index hashing (see ``node._mih`` for the method and
why its parameters are what they are). At 10M hashes a query at t = 31 probes ~2,000 buckets and
checks ~7,000 candidates instead of reading 320 MB.

Structure (a small log-structured merge tree):

* Segments: immutable runs of rows sorted by id, each with its own MIH tables sized for its row
  count. Removal tombstones rows in a per-segment live mask (copied, never edited in place).
* A delta: the newest rows (fewer than ``Tuning.delta_max``), unindexed and scanned by brute
  force; an add only copies the delta, so it costs ~0.1 ms per 1,000 rows.
* When the delta fills up it becomes a segment, absorbing the newest segments while the next
  older one is at most ``growth`` times larger than what has been gathered, so a query visits a
  handful of segments at 10M. All segments due are merged in one step: the largest keeps its
  tables and, when its layout still fits, is extended in O(n) (``node._mih.merge``) instead of
  re-sorted; the smaller ones are bucketed once. Segments more than half dead are rebuilt on
  removal.

Measured at 10M rows on the reference 2-core machine (``bench/match.py``): an add of 1,000
takes ~0.1 ms typically and ~1.5 ms amortised over 200 consecutive adds; the adds that trigger
a merge of the smaller segments take 20-60 ms, and the rare merge into the largest segment
(after ~1.25M further adds) takes a few seconds with the old and the new segment both in memory
(~2 GB). Building from 10M raw hashes takes ~10 s (peak ~1.2 GB above the raw input); loading
a saved index ~0.2 s from the page cache, ~2 s from disk, instantly with ``mmap=True``.

Concurrency: writers (``add``, ``remove``) are serialised by an internal lock and publish a new
immutable state with one attribute assignment, so queries need no lock, may run concurrently
with each other and with a writer, and always see one consistent snapshot (a replaced id is seen
either before or after its replacement, never both or neither). Queries are never blocked by a
merge, but the writer that triggers one is: call ``add`` from a worker thread, not the event
loop, if a multi-second stall there matters.

Memory at 10M rows (m = 12): 320 MB hashes + 80 MB ids + 480 MB members + 134 MB offsets,
about 1.0 GB, plus a 1-byte-per-row mask once anything is removed. Rows are kept sorted by id
inside a segment so id lookups need no separate id→position map.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
from numpy.typing import NDArray

from node.matching._mih import (
    HASH_BYTES,
    MAX_THRESHOLD,
    WORDS,
    IntArray,
    Layout,
    Segment,
    Strategy,
    Tables,
    WordArray,
    merge,
)

__all__ = ["MAX_THRESHOLD", "PdqIndex", "Tuning"]

FORMAT: Final = "hashbank-pdq-index"
FORMAT_VERSION: Final = 1
VERSION_RE: Final = re.compile(r"v-[0-9a-f]{16}")


@dataclass(frozen=True)
class Tuning:
    """Knobs with production defaults; tests shrink them to reach every code path on small data."""

    # Rows kept unindexed. Scanning 4,096 rows costs ~20 µs a query, and freezing them into a
    # segment costs a few milliseconds, paid once per 4,096 adds.
    delta_max: int = 4096
    # Below this a segment is scanned rather than given tables: a probing pass costs ~60 µs in
    # numpy call overhead, a scan of 8,192 rows ~50 µs (measured crossover: 12-16k rows).
    min_table_rows: int = 8192
    # Merge the newest segment into its predecessor while that is at most this many times larger.
    growth: int = 8
    # Force the number of substrings m (12..64) instead of sizing it from each segment.
    substrings: int | None = None
    # "auto" lets the cost model pick per segment; "mih"/"scan" force one path (tests, benches).
    strategy: Strategy = "auto"


@dataclass(frozen=True)
class _State:
    segments: tuple[Segment, ...]  # oldest (largest) first
    delta: Segment  # never has tables


def _empty_segment() -> Segment:
    return Segment.build(np.zeros(0, np.int64), np.zeros((0, WORDS), np.uint64), None)


class PdqIndex:
    """All ids whose PDQ hash is within Hamming distance t of a query, exactly and sublinearly."""

    def __init__(self, *, tuning: Tuning | None = None) -> None:
        self._tuning = tuning or Tuning()
        self._write_lock = threading.Lock()
        self._state = _State((), _empty_segment())

    def __len__(self) -> int:
        state = self._state
        return sum(seg.n_live for seg in state.segments) + state.delta.n_live

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (excluding interpreter overhead)."""
        state = self._state
        return sum(seg.nbytes for seg in (*state.segments, state.delta))

    @property
    def segment_sizes(self) -> tuple[int, ...]:
        """Rows (live or not) in each segment, oldest first, then in the unindexed delta."""
        state = self._state
        return (*(len(seg) for seg in state.segments), len(state.delta))

    def add(self, ids: NDArray[Any], hashes: NDArray[Any]) -> None:
        """Insert rows; an id already present is replaced by its new hash."""
        new_ids, new_words = _check_rows(ids, hashes)
        if not len(new_ids):
            return
        with self._write_lock:
            state = self._state
            segments = tuple(seg.kill(seg.locate(new_ids)) for seg in state.segments)
            delta = _without(state.delta, new_ids)
            if len(new_ids) >= self._tuning.delta_max:  # bulk: a segment of its own, no copy
                segments = self._push(segments, new_ids, new_words)
            elif len(delta) + len(new_ids) < self._tuning.delta_max:
                delta = Segment.build(*_append(delta, new_ids, new_words), None)
            else:
                segments = self._push(segments, *_append(delta, new_ids, new_words))
                delta = _empty_segment()
            self._state = _State(segments, delta)

    def remove(self, ids: Iterable[int] | NDArray[Any]) -> None:
        """Drop these ids; unknown ids are ignored."""
        gone = _check_ids(ids)
        if not len(gone):
            return
        with self._write_lock:
            state = self._state
            segments = tuple(seg.kill(seg.locate(gone)) for seg in state.segments)
            delta = _without(state.delta, gone)
            self._state = _State(self._compact(segments), delta)

    def query(self, value: bytes, threshold: int) -> list[tuple[int, int]]:
        """[(id, distance)] of every hash within threshold of value, by (distance, id)."""
        t = _check_threshold(threshold)
        if not isinstance(value, bytes | bytearray | memoryview) or len(value) != HASH_BYTES:
            raise ValueError(f"a PDQ hash is {HASH_BYTES} bytes")
        qwords = np.frombuffer(bytes(value), dtype="<u8").astype(np.uint64).reshape(1, WORDS)
        return self._search(qwords, t)[0]

    def query_batch(self, values: NDArray[Any], threshold: int) -> list[list[tuple[int, int]]]:
        """``query`` for each row of a (q, 32) uint8 array, vectorised across the batch."""
        t = _check_threshold(threshold)
        qwords = _to_words(values, "values")
        return self._search(qwords, t) if len(qwords) else []

    def save(self, path: str | os.PathLike[str]) -> None:
        """Persist to a directory of .npy files, atomically (see ``_commit_version``)."""
        state = self._state
        arrays: dict[str, NDArray[Any]] = {}
        segments = [
            _export_segment(f"s{i}", seg, arrays)
            for i, seg in enumerate((*state.segments, state.delta))
        ]
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "segments": segments}
        _commit_version(Path(path), arrays, json.dumps(meta).encode())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = False, tuning: Tuning | None = None
    ) -> PdqIndex:
        """Read an index written by ``save`` without rebuilding any table.

        With ``mmap`` the arrays are mapped read-only instead of read: start-up is near instant
        and pages load on first use (RSS then grows as queries touch them).
        """
        folder = _current_version(Path(path))
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: not a {FORMAT} of version {FORMAT_VERSION}")

        def read(name: str) -> NDArray[Any] | None:
            file = folder / f"{name}.npy"
            if not file.exists():
                return None
            array: NDArray[Any] = np.load(file, mmap_mode="r" if mmap else None)
            return array

        segments = [_import_segment(f"s{i}", info, read) for i, info in enumerate(meta["segments"])]
        if not segments or segments[-1].tables is not None:
            raise ValueError(f"{path}: damaged index (no delta segment)")
        index = cls(tuning=tuning)
        index._state = _State(tuple(segments[:-1]), segments[-1])
        return index

    def _search(self, qwords: WordArray, t: int) -> list[list[tuple[int, int]]]:
        state = self._state  # one read: the snapshot every segment below comes from
        strategy = self._tuning.strategy
        parts = [seg.search(qwords, t, strategy) for seg in (*state.segments, state.delta)]
        qidx = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        order = np.lexsort((ids, dist, qidx))
        bounds = np.searchsorted(qidx[order], np.arange(len(qwords) + 1)).tolist()
        pairs = list(zip(ids[order].tolist(), dist[order].tolist(), strict=True))
        return [pairs[lo:hi] for lo, hi in itertools.pairwise(bounds)]

    def _segment(self, ids: IntArray, words: WordArray) -> Segment:
        return Segment.build(ids, words, self._layout(len(ids)))

    def _layout(self, rows: int) -> Layout | None:
        """The table layout for a segment of this many rows; None: scan it instead."""
        if rows < self._tuning.min_table_rows:
            return None
        m = self._tuning.substrings
        return Layout.split(m) if m is not None else Layout.for_size(rows)

    def _push(
        self, segments: tuple[Segment, ...], ids: IntArray, words: WordArray
    ) -> tuple[Segment, ...]:
        """Add rows as the newest segment, first absorbing the segments the size policy says to.

        All segments due for merging are merged in one step: the largest keeps its tables and
        is extended in O(n) when its layout still fits; the smaller ones are bucketed once, in
        the final layout, instead of being rebuilt at every step of the cascade.
        """
        tail = list(self._compact(segments))
        taken = [Segment.build(ids, words, None)]
        rows = len(ids)
        while tail and tail[-1].n_live <= self._tuning.growth * rows:
            taken.append(tail.pop())
            rows += taken[-1].n_live
        layout = self._layout(rows)
        base = max(taken, key=lambda seg: (seg.tables is not None, seg.n_live))
        others = [seg for seg in taken if seg is not base]
        if not others:
            return (*tail, base.indexed(layout))
        rest = _combine(others)
        if base.tables is not None and base.tables.layout == layout:
            return (*tail, merge(base, rest))
        return (*tail, _combine([base, rest]).indexed(layout))

    def _compact(self, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
        """Drop empty segments and rebuild those more than half dead."""
        kept = []
        for seg in segments:
            if not seg.n_live:
                continue
            kept.append(self._segment(*seg.live_rows()) if 2 * seg.n_live < len(seg) else seg)
        return tuple(kept)


def _check_threshold(threshold: int) -> int:
    try:
        t = operator.index(threshold)
    except TypeError:
        raise ValueError(f"threshold must be an integer, got {threshold!r}") from None
    if isinstance(threshold, bool) or not 0 <= t <= MAX_THRESHOLD:
        raise ValueError(f"threshold must be between 0 and {MAX_THRESHOLD}, got {threshold!r}")
    return t


def _to_words(hashes: NDArray[Any], name: str) -> WordArray:
    """Copy (n, 32) uint8 hash bytes into (n, 4) little-endian uint64 words."""
    array = np.asarray(hashes)
    if array.dtype != np.uint8 or array.ndim != 2 or array.shape[1] != HASH_BYTES:
        raise ValueError(f"{name} must be a uint8 array of shape (n, {HASH_BYTES})")
    raw = np.array(array, dtype=np.uint8, order="C", copy=True)
    return raw.view("<u8").astype(np.uint64, copy=False)


def _check_ids(ids: Iterable[int] | NDArray[Any]) -> IntArray:
    array = np.asarray(ids) if isinstance(ids, np.ndarray) else np.fromiter(ids, dtype=np.int64)
    if array.ndim != 1 or (len(array) and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError("ids must be a 1-D integer array")
    return array.astype(np.int64, copy=True)


def _check_rows(ids: NDArray[Any], hashes: NDArray[Any]) -> tuple[IntArray, WordArray]:
    new_ids, words = _check_ids(ids), _to_words(hashes, "hashes")
    if len(new_ids) != len(words):
        raise ValueError(f"{len(new_ids)} ids for {len(words)} hashes")
    increasing = len(new_ids) < 2 or bool(np.all(new_ids[1:] > new_ids[:-1]))
    if not increasing and len(np.unique(new_ids)) != len(new_ids):
        raise ValueError("ids must be unique within one add")
    return new_ids, words


def _without(delta: Segment, gone: IntArray) -> Segment:
    """The delta minus any rows with these ids (dropped outright: it is rebuilt on every add)."""
    if not len(delta):
        return delta
    keep = ~np.isin(delta.ids, gone)
    return delta if keep.all() else Segment.build(delta.ids[keep], delta.words[keep], None)


def _combine(segments: list[Segment]) -> Segment:
    """The live rows of these segments in one segment (without tables unless it is just one)."""
    if len(segments) == 1 and segments[0].live is None:
        return segments[0]
    rows = [seg.live_rows() for seg in segments]
    ids = np.concatenate([r[0] for r in rows])
    return Segment.build(ids, np.concatenate([r[1] for r in rows]), None)


def _append(delta: Segment, ids: IntArray, words: WordArray) -> tuple[IntArray, WordArray]:
    return np.concatenate([delta.ids, ids]), np.concatenate([delta.words, words])


def _export_segment(key: str, seg: Segment, arrays: dict[str, NDArray[Any]]) -> dict[str, Any]:
    arrays[f"{key}.ids"], arrays[f"{key}.words"] = seg.ids, seg.words
    if seg.live is not None:
        arrays[f"{key}.live"] = seg.live
    if seg.tables is not None:
        arrays[f"{key}.offsets"] = seg.tables.offsets
        arrays[f"{key}.members"] = seg.tables.members
    widths = list(seg.tables.layout.widths) if seg.tables is not None else None
    return {"rows": len(seg), "live": seg.n_live, "widths": widths}


def _import_segment(
    key: str, info: dict[str, Any], read: Callable[[str], NDArray[Any] | None]
) -> Segment:
    rows = int(info["rows"])
    ids, words, live = read(f"{key}.ids"), read(f"{key}.words"), read(f"{key}.live")
    if ids is None or ids.shape != (rows,) or ids.dtype != np.int64:
        raise ValueError(f"damaged index: ids of {key} do not match")
    if words is None or words.shape != (rows, WORDS) or words.dtype != np.uint64:
        raise ValueError(f"damaged index: hashes of {key} do not match")
    if live is not None and live.shape != (rows,):
        raise ValueError(f"damaged index: live mask of {key} does not match")
    tables = None
    if info["widths"] is not None:
        layout = Layout(tuple(int(w) for w in info["widths"]))
        offsets, members = read(f"{key}.offsets"), read(f"{key}.members")
        size = sum(1 << w for w in layout.widths) + 1
        if offsets is None or members is None or offsets.shape != (size,):
            raise ValueError(f"damaged index: tables of {key} do not match its layout")
        if members.shape != (len(layout.widths) * rows,):
            raise ValueError(f"damaged index: tables of {key} do not match its rows")
        tables = Tables(layout=layout, offsets=offsets, members=members)
    n_live = rows if live is None else int(np.count_nonzero(live))
    return Segment(ids=ids, words=words, live=live, n_live=n_live, tables=tables)


def _commit_version(root: Path, arrays: dict[str, NDArray[Any]], meta: bytes) -> None:
    """Write a new version folder, then switch CURRENT to it with one atomic rename.

    A crash at any point leaves CURRENT naming a complete version; folders of older or
    abandoned versions are deleted once the switch is durable. One writer at a time.
    """
    root.mkdir(parents=True, exist_ok=True)
    version = f"v-{secrets.token_hex(8)}"
    folder = root / version
    folder.mkdir()
    try:
        for name, array in arrays.items():
            with open(folder / f"{name}.npy", "wb") as f:
                np.save(f, array, allow_pickle=False)
                _flush(f)
        with open(folder / "meta.json", "wb") as f:
            f.write(meta)
            _flush(f)
        _fsync_dir(folder)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".CURRENT.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(version.encode() + b"\n")
            _flush(f)
        os.replace(tmp, root / "CURRENT")
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    for child in root.iterdir():
        if child.is_dir() and VERSION_RE.fullmatch(child.name) and child.name != version:
            shutil.rmtree(child, ignore_errors=True)


def _current_version(root: Path) -> Path:
    try:
        version = (root / "CURRENT").read_text().strip()
    except FileNotFoundError:
        raise ValueError(f"{root}: no saved index (CURRENT missing)") from None
    if not VERSION_RE.fullmatch(version):
        raise ValueError(f"{root}: damaged index (CURRENT names {version!r})")
    return root / version


def _flush(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
