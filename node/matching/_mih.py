"""Multi-index hashing (MIH) segments over 256-bit PDQ hashes: the sublinear core of ``PdqIndex``.

The idea (Norouzi, Punjani & Fleet, "Fast Exact Search in Hamming Space with Multi-Index
Hashing", 2012): cut the 256 bits into m disjoint substrings and keep, for each substring, a table
from its value to the rows holding that value. If two hashes differ in at most t bits, the m
substring distances add up to at most t, so at least one of them is at most ⌊t/m⌋: probing every
table at that radius finds every true match. Each candidate is then checked exactly with a
popcount over the full 256 bits, so results equal brute force whatever the data looks like;
clustered data can only cost time (more candidates), never a lost match.

The tighter form used here: write t = s·m + a with 0 ≤ a < m. If a+1 chosen tables all differed
in ≥ s+1 bits and the other m-a-1 in ≥ s bits, the total would be ≥ (a+1)(s+1) + (m-a-1)s = t+1.
So a+1 tables are probed at radius s and the rest at s-1 (not at all when s = 0). Which a+1 get
the larger radius is free; ``probe_plan`` picks the cheapest by the cost model below.

Parameters, and why:

* Substring width w ≈ log2(n), i.e. m = ⌈256 / log2 n⌉, so an average bucket holds about one
  row (the paper's recommendation: wider substrings make the radius balls explode, narrower ones
  make buckets hold too many rows). The width is capped at 22 bits (m ≥ 12) because each table
  has a dense offset array of 2^w entries: at n = 10M, m = 11 (23/24-bit substrings) would cost
  ~450 MB of offsets against ~130 MB for m = 12, and the node must stay under 1.5 GB.
* Substrings never need to be aligned or contiguous in the hash for the pigeonhole argument, only
  disjoint, so they are taken from the little-endian uint64 view of the hash bytes (no byte swap
  on load) and may straddle a word boundary.
* n = 10M, m = 12 (4 × 22 bits + 8 × 21 bits), uniform hashes:
  t = 31: s = 2, a = 7 → 8 tables at radius 2, 4 at radius 1 → ~2,000 bucket probes and ~7,300
  expected candidates (0.07 % of the bank) instead of 10M comparisons.
  t = 63: s = 5, a = 3 → 4 tables at radius 5, 8 at radius 4 → ~200k probes and ~630k candidates
  (6 % of the bank). That is ~25 ms at 10M: ~800k random memory reads cost about half a numpy
  scan (~50 ms) but more than a compiled sequential popcount scan (faiss IndexBinaryFlat, ~12 ms).
  For small segments or heavy buckets the cost model scans instead: both paths are exact, only
  the cost differs.
* Uniform random hashes are the easy case (buckets evenly filled). Real PDQ banks are clustered
  (near-duplicates, correlated bits), so some buckets hold many rows; the per-query candidate
  count is checked after probing and a chunk falls back to a scan when verifying would cost more.

Layout in memory (n rows, m tables): ``offsets`` is one flat int32 array holding every table's
2^w bucket starts back to back (plus one sentinel), ``members`` one flat int32 array of m·n row
positions grouped by table then bucket (CSR). Table blocks are ordered widest first so each
table's base in ``offsets`` is a multiple of its 2^w, which lets ``key ^ flip + base`` be
computed as ``(key + base) ^ flip`` with the base folded into the query keys once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

HASH_BYTES: Final = 32
WORDS: Final = 4
MAX_THRESHOLD: Final = 63
MIN_SUBSTRINGS: Final = 12  # widest substring 22 bits: see the module docstring
MAX_SUBSTRINGS: Final = 64  # 4-bit substrings: below that a scan is always cheaper

# Costs in nanoseconds, measured on the reference 2-core machine (numpy 2.x, 10M rows). They only
# steer the choice between equally exact paths, so rough values are fine.
PROBE_NS: Final = 25.0  # one bucket probe: two random reads of the offset array
CANDIDATE_NS: Final = 30.0  # one candidate: members read, random row gather, popcount
ROW_NS: Final = 5.0  # one row of a sequential scan
MIH_FIXED_NS: Final = 60_000.0  # numpy call overhead of one probing pass
SCAN_FIXED_NS: Final = 15_000.0

# Work per numpy call: big enough to amortise call overhead, small enough that temporaries stay
# in cache and are recycled by the allocator. Verifying 625k candidates in one go took twice as
# long as in 64k slices, mostly page faults on fresh 20 MB temporaries.
PROBE_CHUNK: Final = 1 << 16
KEY_CHUNK: Final = 1 << 20
CANDIDATE_CHUNK: Final = 1 << 16
SCAN_BLOCK_ROWS: Final = 1 << 16

Strategy = Literal["auto", "mih", "scan"]
IntArray = NDArray[np.int64]
WordArray = NDArray[np.uint64]
Hits = tuple[IntArray, IntArray, IntArray]  # (query index, row position, distance)


@dataclass(frozen=True)
class Layout:
    """How the 256 bits are cut: substring widths, widest first, summing to 256."""

    widths: tuple[int, ...]

    @staticmethod
    def split(m: int) -> Layout:
        """Cut 256 bits into m substrings as equal as possible, widest first."""
        if not MIN_SUBSTRINGS <= m <= MAX_SUBSTRINGS:
            raise ValueError(f"substrings must be {MIN_SUBSTRINGS}..{MAX_SUBSTRINGS}, got {m}")
        base, extra = divmod(WORDS * 64, m)
        return Layout((base + 1,) * extra + (base,) * (m - extra))

    @staticmethod
    def for_size(n: int) -> Layout:
        """The layout whose buckets hold about one row each at n rows (capped, see above)."""
        bits = math.log2(max(n, 2))
        m = math.ceil(WORDS * 64 / bits)
        return Layout.split(min(max(m, MIN_SUBSTRINGS), MAX_SUBSTRINGS))

    @property
    def starts(self) -> tuple[int, ...]:
        """Bit offset of each substring in the 256-bit little-endian integer."""
        return tuple(sum(self.widths[:i]) for i in range(len(self.widths)))

    @property
    def bases(self) -> tuple[int, ...]:
        """Start of each table's bucket block in the flat offsets array."""
        return tuple(sum(1 << w for w in self.widths[:i]) for i in range(len(self.widths)))


def substring_keys(words: WordArray, start: int, width: int) -> IntArray:
    """The value of bits [start, start+width) of each row, reading a row as a little-endian int."""
    word, shift = divmod(start, 64)
    keys = words[:, word] >> np.uint64(shift)
    low_bits = 64 - shift
    if width > low_bits:  # the substring continues in the next word
        high = words[:, word + 1] & np.uint64((1 << (width - low_bits)) - 1)
        keys |= high << np.uint64(low_bits)
    keys &= np.uint64((1 << width) - 1)
    return keys.astype(np.int64)


def query_keys(layout: Layout, qwords: WordArray) -> IntArray:
    """Each query's substring keys plus the table bases, shape (q, m)."""
    if len(qwords) == 1:  # one query: Python ints beat a dozen tiny numpy calls
        value = int.from_bytes(qwords.tobytes(), "little")
        row = [
            ((value >> start) & ((1 << width) - 1)) + base
            for start, width, base in zip(layout.starts, layout.widths, layout.bases, strict=True)
        ]
        return np.array([row], dtype=np.int64)
    columns = [
        substring_keys(qwords, start, width) + base
        for start, width, base in zip(layout.starts, layout.widths, layout.bases, strict=True)
    ]
    return np.stack(columns, axis=1)


@lru_cache(maxsize=64)
def ball(width: int, radius: int) -> IntArray:
    """Every width-bit mask with at most radius bits set, ordered by popcount."""
    levels = [np.zeros(1, dtype=np.int64)]
    top = np.full(1, -1, dtype=np.int64)  # highest set bit of each mask of the last level
    bits = np.arange(width, dtype=np.int64)
    for _ in range(radius):
        # Extending each mask only above its highest bit generates every combination once.
        rows, cols = np.nonzero(bits[None, :] > top[:, None])
        levels.append(levels[-1][rows] | (np.int64(1) << bits[cols]))
        top = bits[cols]
    masks = np.concatenate(levels)
    masks.setflags(write=False)
    return masks


def volume(width: int, radius: int) -> int:
    """Number of width-bit values within the given radius of a point."""
    return sum(math.comb(width, k) for k in range(radius + 1)) if radius >= 0 else 0


@dataclass(frozen=True)
class ProbePlan:
    """The buckets to probe for one layout and threshold, relative to the query's keys."""

    table: NDArray[np.intp]  # which table each probe reads
    flips: IntArray  # XOR mask applied to that table's query key
    density: float  # expected candidates per row under uniform hashes

    @property
    def probes(self) -> int:
        """Buckets probed per query."""
        return len(self.flips)


@lru_cache(maxsize=512)
def probe_plan(widths: tuple[int, ...], size_bits: int, threshold: int) -> ProbePlan:
    """Radii per table by the refined pigeonhole, giving the larger radius where it is cheapest."""
    m = len(widths)
    s, a = divmod(threshold, m)
    rows = float(1 << size_bits)

    def cost(width: int, radius: int) -> float:
        return volume(width, radius) * (PROBE_NS + CANDIDATE_NS * rows / (1 << width))

    extra = [cost(w, s) - cost(w, s - 1) for w in widths]
    wide = set(sorted(range(m), key=lambda i: (extra[i], i))[: a + 1])
    radii = [s if i in wide else s - 1 for i in range(m)]
    balls = [ball(w, r) for w, r in zip(widths, radii, strict=True) if r >= 0]
    probed = [i for i, r in enumerate(radii) if r >= 0]
    table = np.repeat(np.array(probed, dtype=np.intp), [len(b) for b in balls])
    flips = np.concatenate(balls)
    table.setflags(write=False)  # cached and shared between threads
    flips.setflags(write=False)
    density = sum(volume(w, r) / (1 << w) for w, r in zip(widths, radii, strict=True))
    return ProbePlan(table=table, flips=flips, density=density)


@dataclass(frozen=True)
class Tables:
    """The m bucket tables of one segment in CSR form (see the module docstring)."""

    layout: Layout
    offsets: NDArray[Any]  # int32, or int64 once m·n reaches 2^31
    members: NDArray[np.int32]

    @property
    def nbytes(self) -> int:
        """Memory held by the tables."""
        return int(self.offsets.nbytes + self.members.nbytes)


def build_tables(words: WordArray, layout: Layout) -> Tables:
    """Bucket every row under each of its substrings; O(n) per table apart from a radix sort."""
    n, m = len(words), len(layout.widths)
    index_type = np.int32 if m * n < 2**31 else np.int64
    offsets = np.empty(sum(1 << w for w in layout.widths) + 1, dtype=index_type)
    members = np.empty(m * n, dtype=np.int32)
    offsets[-1] = m * n
    for i, (start, width, base) in enumerate(
        zip(layout.starts, layout.widths, layout.bases, strict=True)
    ):
        keys, counts = _table_keys(words, start, width)
        block = offsets[base : base + (1 << width)]
        block[0] = i * n
        np.cumsum(counts[:-1], out=block[1:])
        np.add(block[1:], i * n, out=block[1:])
        _radix_argsort(keys, width, out=members[i * n : (i + 1) * n])
    return Tables(layout=layout, offsets=offsets, members=members)


def _table_keys(
    words: WordArray, start: int, width: int
) -> tuple[NDArray[np.uint32], NDArray[np.intp]]:
    """Every row's key for one table, and how many rows each key has.

    Worked out in chunks of rows: at 10M rows whole-array temporaries of int64 keys would add
    hundreds of megabytes to the build's peak memory.
    """
    keys = np.empty(len(words), dtype=np.uint32)
    counts = np.zeros(1 << width, dtype=np.intp)
    for lo in range(0, len(words), KEY_CHUNK):
        chunk = substring_keys(words[lo : lo + KEY_CHUNK], start, width)
        keys[lo : lo + KEY_CHUNK] = chunk
        counts += np.bincount(chunk, minlength=1 << width)
    return keys, counts


def _radix_argsort(keys: NDArray[np.uint32], width: int, out: NDArray[np.int32]) -> None:
    """Stable argsort of keys below 2^width (≤ 32) into out, in two 16-bit radix passes.

    numpy sorts 16-bit integers with a radix sort, several times faster here than its
    comparison sorts on wider types (1.9 s vs 0.6 s for 10M keys on the reference machine).
    """
    order = np.argsort(keys.astype(np.uint16), kind="stable").astype(np.int32)  # low 16 bits
    if width <= 16:
        out[:] = order
        return
    high = (keys >> 16).astype(np.uint16)
    np.take(order, np.argsort(high[order], kind="stable"), out=out)


def verify(words: WordArray, pos: IntArray, qwords: WordArray, qidx: IntArray, t: int) -> Hits:
    """Exact distances for (query, row) pairs, keeping those within t."""
    rows = np.take(words, pos, axis=0)
    np.bitwise_xor(rows, np.take(qwords, qidx, axis=0), out=rows)
    # Four per-word counts (≤ 64 each) packed in one uint32; summing the bytes by hand beats
    # numpy's reduction over a length-4 axis by ~10x.
    packed = np.bitwise_count(rows).view(np.uint32).reshape(-1)
    dist = (packed & 0xFF) + ((packed >> 8) & 0xFF) + ((packed >> 16) & 0xFF) + (packed >> 24)
    keep = np.flatnonzero(dist <= t)
    return qidx[keep], pos[keep], dist[keep].astype(np.int64)


def scan(words: WordArray, qwords: WordArray, t: int) -> Hits:
    """Brute-force search of every row, in blocks that keep temporaries in cache."""
    n, q = len(words), len(qwords)
    block = min(max(n, 1), SCAN_BLOCK_ROWS)
    qstep = max(1, (4 * SCAN_BLOCK_ROWS) // block)
    prefix = 2 if t < 48 else 3
    found: list[Hits] = []
    for q0 in range(0, q, qstep):
        qw = qwords[q0 : q0 + qstep]
        for r0 in range(0, n, block):
            rw = words[r0 : r0 + block]
            # A prefix of the words already rejects nearly every unrelated row, so the rest are
            # read only for survivors: over 128 bits a random row is within 31 with p ≈ 1e-9
            # but within 63 with p ≈ 0.47; over 192 bits within 63 with p ≈ 1e-6. The partial
            # sum (≤ 192) fits uint8.
            near = np.bitwise_count(rw[:, 0][None, :] ^ qw[:, 0][:, None])
            for j in range(1, prefix):
                near += np.bitwise_count(rw[:, j][None, :] ^ qw[:, j][:, None])
            qi, ri = np.nonzero(near <= t)
            if len(qi):
                found.append(verify(words, ri + r0, qwords, qi + q0, t))
    return _concat(found)


def _concat(parts: list[Hits]) -> Hits:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    if len(parts) == 1:
        return parts[0]
    qidx, pos, dist = zip(*parts, strict=True)
    return np.concatenate(qidx), np.concatenate(pos), np.concatenate(dist)


@dataclass(frozen=True)
class Segment:
    """An immutable run of rows sorted by id, with optional MIH tables and a tombstone mask.

    Immutable so that a query holding a reference keeps a consistent view while writers build
    replacements; removal copies only the (1 byte/row) live mask.
    """

    ids: IntArray  # sorted ascending, unique within the segment
    words: WordArray  # (n, 4) hash bytes as little-endian uint64 words
    live: NDArray[np.bool_] | None  # None when every row is live
    n_live: int
    tables: Tables | None  # None: small enough to scan

    @staticmethod
    def build(ids: IntArray, words: WordArray, layout: Layout | None) -> Segment:
        """A segment over these rows (ids unique); tables only when a layout is given."""
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            ids, words = ids[order], words[order]
        tables = build_tables(words, layout) if layout is not None and len(ids) else None
        return Segment(ids=ids, words=words, live=None, n_live=len(ids), tables=tables)

    def __len__(self) -> int:
        return len(self.ids)

    def indexed(self, layout: Layout | None) -> Segment:
        """This segment with tables in the given layout (as it is when None or already so)."""
        if layout is None or (self.tables is not None and self.tables.layout == layout):
            return self
        tables = build_tables(self.words, layout) if len(self.ids) else None
        return Segment(self.ids, self.words, self.live, self.n_live, tables)

    @property
    def nbytes(self) -> int:
        """Memory held by the segment's arrays."""
        extra = (self.live.nbytes if self.live is not None else 0) + (
            self.tables.nbytes if self.tables is not None else 0
        )
        return int(self.ids.nbytes + self.words.nbytes + extra)

    def locate(self, ids: IntArray) -> IntArray:
        """Positions of the live rows carrying any of these ids."""
        if not len(self.ids) or not len(ids):
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        inside = pos < len(self.ids)
        pos = pos[inside]
        pos = pos[self.ids[pos] == ids[inside]]
        if self.live is not None:
            pos = pos[self.live[pos]]
        return np.unique(pos).astype(np.int64)

    def kill(self, pos: IntArray) -> Segment:
        """A copy with these (live) rows tombstoned."""
        if not len(pos):
            return self
        live = np.ones(len(self.ids), dtype=np.bool_) if self.live is None else self.live.copy()
        live[pos] = False
        return Segment(self.ids, self.words, live, self.n_live - len(pos), self.tables)

    def live_rows(self) -> tuple[IntArray, WordArray]:
        """Ids and words of the rows not tombstoned."""
        if self.live is None:
            return self.ids, self.words
        return self.ids[self.live], self.words[self.live]

    def search(self, qwords: WordArray, t: int, strategy: Strategy) -> Hits:
        """(query index, id, distance) of every live row within t of each query."""
        if not len(self.ids) or not self.n_live:
            return _concat([])
        qidx, pos, dist = self._find(qwords, t, strategy)
        if self.live is not None and len(pos):
            keep = np.flatnonzero(self.live[pos])
            qidx, pos, dist = qidx[keep], pos[keep], dist[keep]
        return qidx, self.ids[pos], dist

    def _find(self, qwords: WordArray, t: int, strategy: Strategy) -> Hits:
        tables = self.tables
        if tables is None or strategy == "scan":
            return scan(self.words, qwords, t)
        n = len(self.ids)
        plan = probe_plan(tables.layout.widths, n.bit_length(), t)
        if strategy == "auto" and not self._probing_pays(plan.probes, plan.density * n):
            return scan(self.words, qwords, t)
        keys = query_keys(tables.layout, qwords)
        step = max(1, PROBE_CHUNK // plan.probes)
        parts = [
            self._probe(tables, keys[q0 : q0 + step], qwords, q0, plan, t, strategy)
            for q0 in range(0, len(qwords), step)
        ]
        return _concat(parts)

    def _probing_pays(self, probes: float, candidates: float) -> bool:
        mih = MIH_FIXED_NS + probes * PROBE_NS + candidates * CANDIDATE_NS
        return mih < SCAN_FIXED_NS + len(self.ids) * ROW_NS

    def _probe(
        self,
        tables: Tables,
        keys: IntArray,
        qwords: WordArray,
        q0: int,
        plan: ProbePlan,
        t: int,
        strategy: Strategy,
    ) -> Hits:
        """Probe the planned buckets for queries q0.. and verify every candidate."""
        probes = keys[:, plan.table] ^ plan.flips
        starts = tables.offsets[probes].reshape(-1)
        lengths = tables.offsets[probes + 1].reshape(-1) - starts
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        if not total:
            return _concat([])
        if strategy == "auto" and not self._probing_pays(0, total / len(keys)):
            # Skewed buckets (clustered banks) made these queries dearer than a scan.
            return _shift(scan(self.words, qwords[q0 : q0 + len(keys)], t), q0)
        # Verify in slices of about CANDIDATE_CHUNK candidates, cut at probe boundaries.
        cuts = np.searchsorted(ends, np.arange(CANDIDATE_CHUNK, total, CANDIDATE_CHUNK))
        parts = []
        for lo, hi in itertools.pairwise([0, *np.unique(cuts).tolist(), len(lengths)]):
            if hi > lo:
                pos, probe = _bucket_rows(tables.members, starts, lengths, ends, lo, hi)
                parts.append(verify(self.words, pos, qwords, probe // plan.probes + q0, t))
        return _unique_pairs(_concat(parts), len(self.ids))


def _bucket_rows(
    members: NDArray[np.int32],
    starts: NDArray[Any],
    lengths: NDArray[Any],
    ends: IntArray,
    lo: int,
    hi: int,
) -> tuple[IntArray, IntArray]:
    """Rows in the buckets of probes lo..hi, and the probe that found each."""
    count = lengths[lo:hi]
    first = int(ends[lo - 1]) if lo else 0
    # Concatenate the variable-length bucket ranges without a Python loop.
    index = np.repeat(starts[lo:hi] - (ends[lo:hi] - count), count)
    index += np.arange(first, int(ends[hi - 1]), dtype=index.dtype)
    probe = np.repeat(np.arange(lo, hi, dtype=np.int64), count)
    return members[index].astype(np.int64), probe


def _shift(hits: Hits, q0: int) -> Hits:
    qidx, pos, dist = hits
    return qidx + q0, pos, dist


def _unique_pairs(hits: Hits, n: int) -> Hits:
    """Drop the repeats of a (query, row) pair found through several tables."""
    qidx, pos, dist = hits
    if len(qidx) < 2:
        return hits
    _, first = np.unique(qidx * n + pos, return_index=True)
    return qidx[first], pos[first], dist[first]


def merge(older: Segment, newer: Segment) -> Segment:
    """The live rows of both in one segment, extending older's tables rather than rebuilding.

    A rebuild spends its time sorting every row by every substring; here the older rows stay in
    their buckets and each table is merged in O(n) by inserting the newer rows' entries at the
    end of their buckets. Newer rows are bucketed afresh only if their tables differ in layout.
    """
    if older.tables is None:
        raise ValueError("merge extends the older segment's tables; it has none")
    layout = older.tables.layout
    ids_a, words_a = older.live_rows()
    ids_b, words_b = newer.live_rows()
    n_a, n_b = len(ids_a), len(ids_b)
    moved: IntArray | None = None  # new position of each live older row, None if unmoved
    if not n_a or not n_b or ids_b[0] > ids_a[-1]:  # the usual case: ids grow over time
        at_b = np.arange(n_a, n_a + n_b, dtype=np.int64)
        ids, words = np.concatenate([ids_a, ids_b]), np.concatenate([words_a, words_b])
    else:
        moved = np.arange(n_a, dtype=np.int64) + np.searchsorted(ids_b, ids_a)
        at_b = np.arange(n_b, dtype=np.int64) + np.searchsorted(ids_a, ids_b)
        ids = np.empty(n_a + n_b, dtype=np.int64)
        words = np.empty((n_a + n_b, WORDS), dtype=np.uint64)
        ids[moved], ids[at_b], words[moved], words[at_b] = ids_a, ids_b, words_a, words_b
    remap = None  # older row position → merged position, -1 when dead
    if older.live is not None or moved is not None:
        remap = np.full(len(older), -1, dtype=np.int32)
        live = np.arange(len(older)) if older.live is None else np.flatnonzero(older.live)
        remap[live] = np.arange(n_a) if moved is None else moved
    dead = older.words[~older.live] if older.live is not None else None
    same = newer.tables is not None and newer.tables.layout == layout and newer.live is None
    tables_b = newer.tables if same and newer.tables else build_tables(words_b, layout)
    tables = _merge_tables(older.tables, len(older), remap, dead, tables_b, at_b)
    return Segment(ids=ids, words=words, live=None, n_live=len(ids), tables=tables)


def _merge_tables(
    a: Tables,
    rows_a: int,
    remap: NDArray[np.int32] | None,
    dead: WordArray | None,
    b: Tables,
    at_b: IntArray,
) -> Tables:
    """Tables over a's live rows (remapped) and b's rows (placed at at_b), bucket by bucket."""
    layout, rows_b = a.layout, len(at_b)
    m = len(layout.widths)
    n = rows_b + (rows_a if dead is None else rows_a - len(dead))
    offsets = np.empty(len(a.offsets), dtype=np.int32 if m * n < 2**31 else np.int64)
    members = np.empty(m * n, dtype=np.int32)
    offsets[-1] = m * n
    for i, (start, width, base) in enumerate(
        zip(layout.starts, layout.widths, layout.bases, strict=True)
    ):
        # Bucket starts local to the table, with the table's end as the last entry.
        starts_a = a.offsets[base : base + (1 << width) + 1].astype(np.int64) - i * rows_a
        members_a = a.members[i * rows_a : (i + 1) * rows_a]
        if remap is not None:
            members_a = remap[members_a]
        if dead is not None and len(dead):
            gone = np.bincount(substring_keys(dead, start, width), minlength=1 << width)
            starts_a[1:] -= np.cumsum(gone)
            members_a = members_a[members_a >= 0]
        starts_b = b.offsets[base : base + (1 << width) + 1].astype(np.int64) - i * rows_b
        members_b = at_b[b.members[i * rows_b : (i + 1) * rows_b]]
        np.add(starts_a[:-1] + starts_b[:-1], i * n, out=offsets[base : base + (1 << width)])
        # Each newer entry goes right after the older entries of its bucket.
        at = np.repeat(starts_a[1:], np.diff(starts_b))
        members[i * n : (i + 1) * n] = np.insert(members_a, at, members_b)
    return Tables(layout=layout, offsets=offsets, members=members)
