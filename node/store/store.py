"""The durable store: SQLite through aiosqlite, WAL mode, synchronous=FULL.

Entries are kept as their exact signed bytes with indexed columns; the bank (items, heads,
revocations, feedback) is derived from them by ``node.batch`` and can be rebuilt. A write
returns only after its transaction is committed and synced, so an acknowledged entry survives
``kill -9`` and power loss alike.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from node.errors import StoreError
from node.store import plan as batch
from node.store.schema import DERIVED_TABLES, MIGRATIONS, SCHEMA_VERSION, statements
from protocol.bank import BankDigest, item_digest
from protocol.entry import Entry
from protocol.feed import FeedHead
from protocol.signals import SignalType

# SQLite allows 32766 bound parameters; stay well below for IN (...) lists.
CHUNK = 900
# SQLite integers are signed 64-bit. The protocol allows seqs up to 2**64 - 1, but no feed can
# reach 2**63 (every entry before it would have to exist), so no stored entry lies beyond.
MAX_STORED_SEQ = 2**63 - 1


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its arrival cursor, indexed fields and exact bytes."""

    cursor: int
    id: bytes
    author: bytes
    seq: int
    kind: int
    timestamp_ms: int
    received_ms: int
    raw: bytes
    erased: bool
    void: bool = False


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item of the bank with what a match result reports about it."""

    item_id: int
    signal_type: str
    value: bytes
    labels: tuple[str, ...]
    entry_id: bytes
    author: bytes
    idx: int
    active: bool


ENTRY_COLUMNS = "cursor, id, author, seq, kind, timestamp_ms, received_ms, raw, erased, void"
ITEM_QUERY = """
    SELECT i.item_id, i.signal_type, i.value, i.labels, e.id, e.author, i.idx, i.active
    FROM items i JOIN entries e ON e.cursor = i.entry_cursor
"""


def _entry(row: tuple[Any, ...]) -> StoredEntry:
    c, i, a, s, k, t, r, raw, erased, void = row
    return StoredEntry(c, i, a, s, k, t, r, raw, bool(erased), bool(void))


def _item(row: tuple[Any, ...]) -> ItemRow:
    item_id, sig, value, labels, entry_id, author, idx, active = row
    labels_tuple = tuple(labels.split(",")) if labels else ()
    return ItemRow(item_id, sig, value, labels_tuple, entry_id, author, idx, bool(active))


class Store:
    """One node's SQLite store. A single writer (the node) serialises writes."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._next_cursor = 1
        self._next_item_id = 1
        self.digest = BankDigest()
        # Kept in step with every write, so /v1/status never scans millions of rows.
        self.entry_count = 0
        self.active_counts: collections.Counter[str] = collections.Counter()

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, *, create: bool = False, check: bool = True) -> Store:
        """Open (or with ``create``, make) the store; refuse a damaged or newer one."""
        if not create and not path.exists():
            raise StoreError(f"no store at {path}")
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from None
        store = cls(db, path)
        try:
            await store._prepare(check)
        except BaseException:
            await db.close()
            raise
        return store

    async def _prepare(self, check: bool) -> None:
        try:
            await self._db.execute("PRAGMA busy_timeout = 10000")
            mode = await self._scalar("PRAGMA journal_mode = WAL")
            if str(mode).lower() != "wal":
                raise StoreError(f"store {self.path} cannot use WAL mode (got {mode})")
            await self._db.execute("PRAGMA synchronous = FULL")
            if check:
                result = await self._scalar("PRAGMA quick_check")
                if result != "ok":
                    raise StoreError(f"store {self.path} is damaged: {result}")
            await self._migrate()
            await self._load_counters()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store {self.path} is not a usable SQLite database: {exc}") from None

    async def _migrate(self) -> None:
        version = int(await self._scalar("PRAGMA user_version"))
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this hashbank "
                f"understands ({SCHEMA_VERSION}); upgrade hashbank to open it"
            )
        for number in range(version, SCHEMA_VERSION):
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements(MIGRATIONS[number]):
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {number + 1}")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    async def _load_counters(self) -> None:
        self._next_cursor = (
            int(
                await self._scalar(
                    "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'entries'"
                )
                or 0
            )
            + 1
        )
        self._next_item_id = (
            int(await self._scalar("SELECT COALESCE(MAX(item_id), 0) FROM items")) + 1
        )
        await self._recount()
        count = await self._scalar("SELECT value FROM meta WHERE key = 'digest_count'")
        total = await self._scalar("SELECT value FROM meta WHERE key = 'digest_total'")
        self.digest = BankDigest(int(count or 0), int.from_bytes(total or b"", "big"))

    async def _recount(self) -> None:
        self.entry_count = int(await self._scalar("SELECT COUNT(*) FROM entries"))
        rows = await self._all(
            "SELECT signal_type, COUNT(*) FROM items WHERE active = 1 GROUP BY signal_type"
        )
        self.active_counts = collections.Counter({str(t): int(n) for t, n in rows})

    async def close(self) -> None:
        await self._db.close()

    # --- small helpers ---------------------------------------------------------------------

    async def _scalar(self, sql: str, params: Sequence[object] = ()) -> Any:
        async with self._db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return None if row is None else row[0]

    async def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async with self._db.execute(sql, params) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def _in(
        self, sql: str, keys: Sequence[object], params: Sequence[object] = ()
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``params``, then one ``{}`` for placeholders) over ``keys`` in chunks."""
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), CHUNK):
            part = keys[start : start + CHUNK]
            out += await self._all(sql.format(",".join("?" * len(part))), (*params, *part))
        return out

    # --- writing ---------------------------------------------------------------------------

    async def context_for(self, entries: Sequence[Entry]) -> batch.Context:
        """Read what ``node.batch`` needs to plan ``entries``."""
        ctx = batch.Context(
            self._next_cursor, self._next_item_id, BankDigest(self.digest.count, self.digest.total)
        )
        targets = sorted(batch.revoke_targets(entries))
        ctx.targets = set(targets)
        rows = await self._in(
            "SELECT cursor, id, author FROM entries WHERE kind = 1 AND id IN ({})", targets
        )
        by_cursor: dict[int, list[batch.ItemRef]] = {int(r[0]): [] for r in rows}
        for item_id, cursor, idx, sig, value in await self._in(
            "SELECT item_id, entry_cursor, idx, signal_type, value FROM items "
            "WHERE active = 1 AND entry_cursor IN ({})",
            list(by_cursor),
        ):
            by_cursor[cursor].append(batch.ItemRef(item_id, cursor, idx, sig, value))
        for cursor, entry_id, author in rows:
            ctx.stored_adds[entry_id] = batch.StoredAdd(
                cursor,
                entry_id,
                author,
                tuple(by_cursor[cursor]),
            )
        adds = [e.id for e in entries if e.kind == 1]
        for target, author, items in await self._in(
            "SELECT target_id, author, items FROM revocations WHERE target_id IN ({})", adds
        ):
            parsed = None if items is None else tuple(int(i) for i in str(items).split(","))
            ctx.revocations.setdefault(target, []).append((author, parsed))
        return ctx

    async def write(
        self,
        plan: batch.Plan,
        ctx: batch.Context,
        *,
        include_entries: bool = True,
        prelude: Sequence[tuple[str, Sequence[object]]] = (),
    ) -> None:
        """Write a planned batch in one transaction; return once it is durable.

        ``include_entries=False`` writes only the derived rows (``hashbank rebuild``);
        ``prelude`` statements run first in the same transaction (re-deriving an author).
        """
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in prelude:
                await db.execute(sql, params)
            if include_entries:
                await db.executemany(
                    f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    plan.entries,
                )
            await db.executemany(
                "INSERT INTO heads VALUES (?,?,?,?,?) ON CONFLICT (author) DO UPDATE SET "
                "seq = excluded.seq, entry_id = excluded.entry_id, "
                "timestamp_ms = excluded.timestamp_ms, advanced_ms = excluded.advanced_ms "
                "WHERE excluded.seq > heads.seq",
                plan.heads,
            )
            await db.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?)", plan.items)
            await db.executemany("INSERT INTO revocations VALUES (?,?,?,?,?)", plan.revocations)
            await db.executemany("INSERT INTO feedback VALUES (?,?,?,?,?,?,?)", plan.feedback)
            await db.executemany(
                "UPDATE items SET active = 0 WHERE item_id = ?", [(i,) for i in plan.deactivate]
            )
            await self._write_digest(ctx.digest)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        self._next_cursor, self._next_item_id = ctx.next_cursor, ctx.next_item_id
        self.digest = ctx.digest
        if prelude:  # re-deriving an author rewrote rows wholesale: count them again
            await self._recount()
            return
        self.entry_count += len(plan.entries) if include_entries else 0
        self.active_counts.update(plan.activated_types)
        self.active_counts.subtract(plan.deactivated_types)
        self.active_counts += collections.Counter()  # drop zero counts

    async def _write_digest(self, digest: BankDigest) -> None:
        await self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("digest_count", digest.count), ("digest_total", digest.total.to_bytes(32, "big"))],
        )

    async def expire(self, now_ms: int) -> list[int]:
        """Deactivate items whose expiry has passed; return their ids."""
        rows = await self._all(
            "SELECT i.item_id, i.signal_type, i.value, e.author, e.id, i.idx FROM items i "
            "JOIN entries e ON e.cursor = i.entry_cursor "
            "WHERE i.active = 1 AND i.expires_ms IS NOT NULL AND i.expires_ms <= ?",
            (now_ms,),
        )
        if not rows:
            return []
        digest = BankDigest(self.digest.count, self.digest.total)
        for _, sig, value, author, entry_id, idx in rows:
            digest.remove(item_digest(sig, value, author, entry_id, idx))
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._db.executemany(
                "UPDATE items SET active = 0 WHERE item_id = ?", [(r[0],) for r in rows]
            )
            await self._write_digest(digest)
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        self.digest = digest
        self.active_counts.subtract(r[1] for r in rows)
        self.active_counts += collections.Counter()
        return [int(r[0]) for r in rows]

    async def add_fork(self, author: bytes, seq: int, proof: bytes, now_ms: int) -> bool:
        """Record a fork proof; False if this author's fork was already known."""
        # A proof may be at any seq; one beyond what SQLite holds is kept at its limit (the
        # proof itself, stored whole, still names the exact seq).
        async with self._db.execute(
            "INSERT OR IGNORE INTO forks VALUES (?, ?, ?, ?)",
            (author, min(seq, MAX_STORED_SEQ), proof, now_ms),
        ) as cur:
            return cur.rowcount == 1

    # --- reading ---------------------------------------------------------------------------

    async def heads(self) -> dict[bytes, FeedHead]:
        rows = await self._all("SELECT author, seq, entry_id, timestamp_ms FROM heads")
        return {r[0]: FeedHead(*r) for r in rows}

    async def head_times(self) -> dict[bytes, int]:
        """When each author's feed last advanced here (ms)."""
        rows = await self._all("SELECT author, advanced_ms FROM heads")
        return {r[0]: int(r[1]) for r in rows}

    async def forks(self) -> dict[bytes, tuple[int, bytes, int]]:
        rows = await self._all("SELECT author, seq, proof, detected_ms FROM forks")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    async def entry_by_id(self, entry_id: bytes) -> StoredEntry | None:
        rows = await self._all(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?", (entry_id,))
        return _entry(rows[0]) if rows else None

    async def entry_at(self, author: bytes, seq: int) -> StoredEntry | None:
        rows = await self._all(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE author = ? AND seq = ?", (author, seq)
        )
        return _entry(rows[0]) if rows else None

    async def entry_range(self, author: bytes, first: int, last: int) -> list[bytes]:
        if first > MAX_STORED_SEQ:  # a peer may ask for any uint64 seq; none is stored there
            return []
        rows = await self._all(
            "SELECT raw FROM entries WHERE author = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (author, first, min(last, MAX_STORED_SEQ)),
        )
        return [r[0] for r in rows]

    async def changes(
        self, after: int, limit: int, kinds: Iterable[int] = (1, 2, 3)
    ) -> list[StoredEntry]:
        kinds = tuple(kinds)
        rows = await self._all(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE cursor > ? AND kind IN "
            f"({','.join('?' * len(kinds))}) ORDER BY cursor LIMIT ?",
            (after, *kinds, limit),
        )
        return [_entry(r) for r in rows]

    async def last_cursor(self) -> int:
        return self._next_cursor - 1

    async def items_by_ids(self, ids: Sequence[int]) -> dict[int, ItemRow]:
        rows = await self._in(ITEM_QUERY + " WHERE i.item_id IN ({})", list(ids))
        return {r.item_id: r for r in map(_item, rows)}

    async def items_of_entry(self, entry_id: bytes) -> list[ItemRow]:
        rows = await self._all(ITEM_QUERY + " WHERE e.id = ? ORDER BY i.idx", (entry_id,))
        return [_item(r) for r in rows]

    async def exact(self, signal_type: str, values: Sequence[bytes]) -> list[ItemRow]:
        """Active items of ``signal_type`` whose value is one of ``values``."""
        rows = await self._in(
            ITEM_QUERY
            + " WHERE i.active = 1 AND i.signal_type = '"
            + signal_type.replace("'", "")
            + "' AND i.value IN ({})",
            list(values),
        )
        return [_item(r) for r in rows]

    async def active_values(self, signal: SignalType) -> tuple[np.ndarray, np.ndarray]:
        """Ids and values of every active item of a signal type, for building an index."""
        ids: list[int] = []
        values: list[bytes] = []
        async with self._db.execute(
            "SELECT item_id, value FROM items WHERE active = 1 AND signal_type = ?",
            (signal.name,),
        ) as cur:
            while rows := await cur.fetchmany(100_000):
                for item_id, value in rows:
                    ids.append(item_id)
                    values.append(value)
        id_array = np.fromiter(ids, dtype=np.int64, count=len(ids))
        value_array = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, signal.size)
        return id_array, value_array

    async def counts(self) -> dict[str, object]:
        """Entries, authors and active items per signal type (kept current, never scanned)."""
        return {
            "entries": self.entry_count,
            "authors": await self._scalar("SELECT COUNT(*) FROM heads"),
            "active_hashes": dict(sorted(self.active_counts.items())),
        }

    async def author_entries(self, author: bytes) -> list[StoredEntry]:
        rows = await self._all(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE author = ? ORDER BY seq", (author,)
        )
        return [_entry(r) for r in rows]

    async def active_items_of(self, author: bytes) -> list[tuple[int, str, bytes, bytes, int]]:
        """(item id, signal type, value, entry id, index) of an author's active items."""
        return await self._all(
            "SELECT i.item_id, i.signal_type, i.value, e.id, i.idx FROM items i "
            "JOIN entries e ON e.cursor = i.entry_cursor WHERE e.author = ? AND i.active = 1",
            (author,),
        )

    def next_ids(self) -> tuple[int, int]:
        """The next entry cursor and item id a batch would use."""
        return self._next_cursor, self._next_item_id

    async def idempotent_entry(self, key: str) -> StoredEntry | None:
        """The entry published under an idempotency key, if any."""
        rows = await self._all(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = "
            "(SELECT entry_id FROM idempotency WHERE key = ?)",
            (key,),
        )
        return _entry(rows[0]) if rows else None

    async def charters(self) -> list[bytes]:
        rows = await self._all("SELECT raw FROM charters ORDER BY number")
        return [r[0] for r in rows]

    async def add_charter(self, number: int, charter_id: bytes, raw: bytes, now_ms: int) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._db.execute(
                "INSERT INTO charters VALUES (?, ?, ?, ?)", (number, charter_id, raw, now_ms)
            )
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise

    async def add_charter_fork(self, number: int, proof: bytes, now_ms: int) -> bool:
        async with self._db.execute(
            "INSERT OR IGNORE INTO charter_forks VALUES (?, ?, ?)", (number, proof, now_ms)
        ) as cur:
            return cur.rowcount == 1

    async def charter_forks(self) -> list[tuple[int, bytes, int]]:
        return await self._all("SELECT number, proof, detected_ms FROM charter_forks")

    async def clear_derived(self) -> None:
        """Drop every derived row (``hashbank rebuild`` re-derives them from the entries)."""
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            for table in DERIVED_TABLES:
                await self._db.execute(f"DELETE FROM {table}")
            await self._db.execute("DELETE FROM meta WHERE key LIKE 'digest_%'")
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        self._next_item_id = 1
        self.digest = BankDigest()
        self.active_counts = collections.Counter()

    # --- reading for platforms (live changes, feedback, lookups) -------------------------------

    # The feedback entry's own columns, for queries that join the feedback table.
    _FEEDBACK_ENTRY_COLUMNS = ", ".join(f"fe.{c.strip()}" for c in ENTRY_COLUMNS.split(","))

    async def changes_upto(
        self, after: int, upto: int, limit: int, kinds: Iterable[int] = (1, 2, 3)
    ) -> list[StoredEntry]:
        """Like ``changes``, but never past cursor ``upto`` (the last committed one)."""
        kinds = tuple(kinds)
        rows = await self._all(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE cursor > ? AND cursor <= ? AND kind IN "
            f"({','.join('?' * len(kinds))}) ORDER BY cursor LIMIT ?",
            (after, upto, *kinds, limit),
        )
        return [_entry(r) for r in rows]

    async def feedback_on_entry(self, entry_id: bytes) -> list[StoredEntry]:
        """Feedback entries naming ``entry_id``, or naming none but a hash of its items."""
        rows = await self._all(
            f"SELECT {self._FEEDBACK_ENTRY_COLUMNS} FROM feedback f "
            "JOIN entries fe ON fe.cursor = f.entry_cursor WHERE f.target_id = ? "
            "OR (f.target_id IS NULL AND (f.signal_type, f.value) IN ("
            "  SELECT i.signal_type, i.value FROM items i "
            "  JOIN entries t ON t.cursor = i.entry_cursor WHERE t.id = ?)) "
            "ORDER BY fe.cursor",
            (entry_id, entry_id),
        )
        return [_entry(r) for r in rows]

    async def feedback_on_values(
        self, signal_type: str, values: Sequence[bytes]
    ) -> list[StoredEntry]:
        """Feedback entries about any of ``values`` of ``signal_type``, in arrival order."""
        rows = await self._in(
            f"SELECT {self._FEEDBACK_ENTRY_COLUMNS} FROM feedback f "
            "JOIN entries fe ON fe.cursor = f.entry_cursor "
            "WHERE f.signal_type = ? AND f.value IN ({}) ORDER BY fe.cursor",
            list(values),
            (signal_type,),
        )
        return [_entry(r) for r in rows]

    async def feedback_on_author(
        self, author: bytes, case_ref: bytes | None = None
    ) -> list[tuple[bytes, StoredEntry]]:
        """(target id, feedback entry) for feedback naming an add of ``author``.

        With ``case_ref``, only adds with an item of that case.
        """
        case_sql, params = "", list[object]([author])
        if case_ref is not None:
            case_sql = " AND t.cursor IN (SELECT entry_cursor FROM items WHERE case_ref = ?)"
            params.append(case_ref)
        rows = await self._all(
            f"SELECT f.target_id, {self._FEEDBACK_ENTRY_COLUMNS} FROM feedback f "
            "JOIN entries fe ON fe.cursor = f.entry_cursor "
            "JOIN entries t ON t.id = f.target_id "
            f"WHERE t.author = ? AND t.kind = 1{case_sql} ORDER BY fe.cursor",
            params,
        )
        return [(r[0], _entry(r[1:])) for r in rows]

    async def adds_of_case(self, author: bytes, case_ref: bytes) -> list[StoredEntry]:
        """``author``'s add entries with an item of case ``case_ref``."""
        rows = await self._all(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE author = ? AND kind = 1 AND cursor IN "
            "(SELECT entry_cursor FROM items WHERE case_ref = ?) ORDER BY cursor",
            (author, case_ref),
        )
        return [_entry(r) for r in rows]

    async def active_items_page(
        self, after_item: int, limit: int, signal_type: str | None = None
    ) -> list[ItemRow]:
        """Active items with an id above ``after_item``, by id; optionally of one type."""
        type_sql, params = "", list[object]([after_item])
        if signal_type is not None:
            type_sql = " AND i.signal_type = ?"
            params.append(signal_type)
        rows = await self._all(
            ITEM_QUERY + f" WHERE i.active = 1 AND i.item_id > ?{type_sql} "
            "ORDER BY i.item_id LIMIT ?",
            (*params, limit),
        )
        return [_item(r) for r in rows]

    async def item_expiry(self, item_ids: Sequence[int]) -> dict[int, int | None]:
        """Each item's expiry time (ms), or None when it does not expire."""
        rows = await self._in(
            "SELECT item_id, expires_ms FROM items WHERE item_id IN ({})", list(item_ids)
        )
        return {int(r[0]): None if r[1] is None else int(r[1]) for r in rows}
