"""The durable store: SQLite through aiosqlite, WAL mode, synchronous=FULL.

Entries are kept as their exact signed bytes with indexed columns; the bank (items, heads,
revocations, feedback) is derived from them by ``node.store.plan`` and can be rebuilt. Every
write goes through ``Store.transaction``, the one door: it serialises writers, commits, and
only then adopts the transaction's counters, so memory never runs ahead of the disk. A write
returns only after its transaction is committed and synced, so an acknowledged entry survives
``kill -9`` and power loss alike. Reads use a second connection and see committed data only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from node.store.errors import StoreError
from node.store.reads import Reader
from node.store.rows import Counters, Counts, kind_name
from node.store.schema import MIGRATIONS, SCHEMA_VERSION, statements
from node.store.transaction import Transaction
from protocol.bank import BankDigest

T = TypeVar("T")
Work = Callable[[Transaction], Awaitable[T]]


async def _connect(path: Path) -> aiosqlite.Connection:
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from None
    await db.execute("PRAGMA busy_timeout = 10000")
    return db


class Store(Reader):
    """One node's SQLite store: reads on one connection, the transaction door on another."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: Path):
        super().__init__(reader)
        self._writer = writer
        self.path = path
        self.counters = Counters()
        # Each author's feed digest (docs/protocol.md §7), as committed.
        self.feeds: dict[bytes, BankDigest] = {}
        self._door = asyncio.Lock()

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, *, create: bool = False, check: bool = True) -> Store:
        """Open (or with ``create``, make) the store; refuse a damaged or newer one."""
        if not create and not path.exists():
            raise StoreError(f"no store at {path}")
        writer = await _connect(path)
        try:
            await _prepare(writer, path, check)
            reader = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        store = cls(writer, reader, path)
        try:
            await reader.execute("PRAGMA query_only = 1")
            await store._load_counters()
            await store._rederive_if_asked()
        except BaseException:
            await store.close()
            raise
        return store

    async def _load_counters(self) -> None:
        # Entries and item changes take cursors from one sequence (the change feed's order).
        last_entry = await self._scalar("SELECT seq FROM sqlite_sequence WHERE name = 'entries'")
        last = max(int(last_entry or 0), await self.last_item_change_cursor())
        item = await self._scalar("SELECT COALESCE(MAX(item_id), 0) FROM items")
        count = await self._scalar("SELECT value FROM meta WHERE key = 'digest_count'")
        total = await self._scalar("SELECT value FROM meta WHERE key = 'digest_total'")
        self.counters = Counters(
            last + 1,
            int(item) + 1,
            BankDigest(int(count or 0), int.from_bytes(total or b"", "big")),
        )
        self.feeds = {
            author: BankDigest(int(n), int.from_bytes(sum_, "big"))
            for author, n, sum_ in await self._all("SELECT author, count, total FROM feed_digests")
        }
        await self._recount()

    async def _rederive_if_asked(self) -> None:
        """Re-derive the derived tables once when a migration asked for it."""
        if await self._scalar("SELECT value FROM meta WHERE key = 'rederive'") is None:
            return
        from node.store.rederive import rederive_all  # it builds on this module's door

        async def work(txn: Transaction) -> None:
            await rederive_all(txn)
            await txn.forget_rederive()

        await self.transaction(work)

    async def _recount(self) -> None:
        kinds = await self._all("SELECT kind, COUNT(*) FROM entries GROUP BY kind")
        self.counters.kind_counts = collections.Counter(
            {kind_name(int(k)): int(n) for k, n in kinds}
        )
        self.counters.entry_count = sum(self.counters.kind_counts.values())
        rows = await self._all(
            "SELECT signal_type, COUNT(*) FROM items WHERE active = 1 GROUP BY signal_type"
        )
        self.counters.active_counts = collections.Counter({str(t): int(n) for t, n in rows})

    async def close(self) -> None:
        await self._writer.close()
        await self._db.close()

    # --- the door --------------------------------------------------------------------------

    async def transaction(self, work: Work[T]) -> T:
        """Run ``work`` in the one write transaction; return its result once committed.

        Writers queue here, so no caller can open a second transaction. The transaction runs
        to its end even if the caller is cancelled: a commit is never half-noticed.
        """
        return await asyncio.shield(asyncio.ensure_future(self._run(work)))

    async def _run(self, work: Work[T]) -> T:
        async with self._door:
            txn = Transaction(self._writer, self.counters.copy(), self.feeds)
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                result = await work(txn)
                await txn.flush()
                await self._writer.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself
                    await self._writer.execute("ROLLBACK")
                raise
            self.counters = txn.counters
            if txn.feeds_cleared:
                self.feeds = {}
            self.feeds.update(txn.feed_changes)
            if txn.recount:  # the transaction rewrote rows wholesale
                await self._recount()
            for change in txn.after_commit:
                change()
            return result

    # --- running totals --------------------------------------------------------------------

    @property
    def digest(self) -> BankDigest:
        return self.counters.digest

    def feed_digest(self, author: bytes) -> bytes:
        """``author``'s feed digest (its standing items, whatever the time), as committed."""
        feed = self.feeds.get(author)
        return (feed or BankDigest()).value()

    @property
    def last_cursor(self) -> int:
        """The cursor of the last committed change, entry or item change (0 for none)."""
        return self.counters.next_cursor - 1

    @property
    def next_item_id(self) -> int:
        return self.counters.next_item_id

    async def counts(self) -> Counts:
        c = self.counters
        return Counts(
            c.entry_count, await self.author_count(), dict(sorted(c.active_counts.items()))
        )


async def _prepare(db: aiosqlite.Connection, path: Path, check: bool) -> None:
    try:
        mode = await _scalar(db, "PRAGMA journal_mode = WAL")
        if str(mode).lower() != "wal":
            raise StoreError(f"store {path} cannot use WAL mode (got {mode})")
        await db.execute("PRAGMA synchronous = FULL")
        if check:
            result = await _scalar(db, "PRAGMA quick_check")
            if result != "ok":
                raise StoreError(f"store {path} is damaged: {result}")
        await _migrate(db, path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path} is not a usable SQLite database: {exc}") from None


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    version = int(await _scalar(db, "PRAGMA user_version"))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {version}, newer than this hashbank "
            f"understands ({SCHEMA_VERSION}); upgrade hashbank to open it"
        )
    for number in range(version, SCHEMA_VERSION):
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements(MIGRATIONS[number]):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number + 1}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise


async def _scalar(db: aiosqlite.Connection, sql: str) -> Any:
    async with db.execute(sql) as cur:
        row = await cur.fetchone()
    return None if row is None else row[0]
