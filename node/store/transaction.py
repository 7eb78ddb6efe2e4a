"""Writes: what one transaction may do, inside the store's one door (``Store.transaction``).

A ``Transaction`` reads through the writer's connection, so a batch is planned against exactly
the rows it changes, and keeps its own copy of the store's counters (and of the feed digests it
touches); the store adopts them only after the commit succeeds. No code outside
``node.store`` ever sees a SQL statement.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import aiosqlite

from node.store import plan as planning
from node.store.reads import ENTRY_COLUMNS, MAX_STORED_SEQ, Reader
from node.store.rows import ActiveItem, ChangeReason, Counters, ItemChangeKind, kind_name
from node.store.schema import DERIVED_TABLES
from protocol import wire
from protocol.bank import BankDigest, item_digest
from protocol.body import Kind
from protocol.entry import Entry
from protocol.hazmat import decode_unchecked

ERASABLE_KINDS = (int(Kind.ADD), int(Kind.FEEDBACK))

# Items per recorded change: a takedown of a large feed becomes many events of this size, each
# no larger than one add entry's items, so a page of the change feed stays bounded.
ITEMS_PER_CHANGE = 1_000


def digest_without(digest: BankDigest, items: Sequence[ActiveItem]) -> BankDigest:
    """``digest`` with ``items`` taken out."""
    out = BankDigest(digest.count, digest.total)
    for it in items:
        out.remove(item_digest(it.signal_type, it.value, it.author, it.entry_id, it.idx))
    return out


class Transaction(Reader):
    """One open write transaction: typed writes, counters committed with it."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        counters: Counters,
        feeds: Mapping[bytes, BankDigest] | None = None,
    ) -> None:
        super().__init__(db)
        self.counters = counters
        # Set by writes that rewrite rows wholesale: the store recounts after the commit.
        self.recount = False
        self.after_commit: list[Callable[[], None]] = []
        self._feeds: Mapping[bytes, BankDigest] = feeds if feeds is not None else {}
        # The feed digests this transaction changed (absolute values), adopted on commit.
        self.feed_changes: dict[bytes, BankDigest] = {}
        self.feeds_cleared = False

    def feed_digest(self, author: bytes) -> BankDigest:
        """``author``'s feed digest as this transaction sees it (a copy it may change)."""
        current = self.feed_changes.get(author)
        if current is None:
            committed = None if self.feeds_cleared else self._feeds.get(author)
            current = BankDigest(committed.count, committed.total) if committed else BankDigest()
            self.feed_changes[author] = current
        return current

    async def flush(self) -> None:
        """Write the changed feed digests (the store calls this just before COMMIT)."""
        await self._db.executemany(
            "INSERT OR REPLACE INTO feed_digests VALUES (?, ?, ?)",
            [(a, d.count, d.total.to_bytes(32, "big")) for a, d in self.feed_changes.items()],
        )

    def on_commit(self, change: Callable[[], None]) -> None:
        """Run ``change`` (an in-memory state change) once this transaction has committed.

        Changes run in order, still inside the door, so the next writer sees them.
        """
        self.after_commit.append(change)

    # --- planning --------------------------------------------------------------------------

    async def context_for(self, entries: Sequence[Entry]) -> planning.Context:
        """Read what ``node.store.plan`` needs to plan ``entries``."""
        c = self.counters
        ctx = planning.Context(
            c.next_cursor, c.next_item_id, BankDigest(c.digest.count, c.digest.total)
        )
        ctx.targets = planning.revoke_targets(entries)
        rows = await self._in(
            f"SELECT cursor, id, author FROM entries WHERE kind = {int(Kind.ADD)} AND id IN ({{}})",
            sorted(ctx.targets),
        )
        by_cursor: dict[int, list[planning.ItemRef]] = {int(r[0]): [] for r in rows}
        for item_id, cursor, idx, sig, value, active in await self._in(
            "SELECT item_id, entry_cursor, idx, signal_type, value, active FROM items "
            "WHERE active != 0 AND entry_cursor IN ({})",
            list(by_cursor),
        ):
            by_cursor[cursor].append(
                planning.ItemRef(item_id, cursor, idx, sig, value, active == planning.ACTIVE)
            )
        for cursor, entry_id, author in rows:
            ctx.stored_adds[entry_id] = planning.StoredAdd(
                cursor, entry_id, author, tuple(by_cursor[cursor])
            )
        # Revocations already stored that aim at the batch's adds, and erasing ones that aim at
        # its adds or feedback entries (whose bodies are then not kept).
        aimed = [e.id for e in entries if e.kind is not Kind.REVOKE]
        for target, author, items, erase in await self._in(
            "SELECT target_id, author, items, erase FROM revocations WHERE target_id IN ({})",
            aimed,
        ):
            parsed = None if items is None else tuple(int(i) for i in str(items).split(","))
            ctx.revocations.setdefault(target, []).append((author, parsed))
            if erase:
                ctx.erase_targets.add((author, target))
        return ctx

    # --- writes ----------------------------------------------------------------------------

    async def write_plan(
        self, plan: planning.Plan, ctx: planning.Context, *, include_entries: bool = True
    ) -> None:
        """Write a planned batch; ``include_entries=False`` writes only its derived rows."""
        db = self._db
        if include_entries:
            await db.executemany(
                f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                plan.entries,
            )
        else:  # stored already: only whether a body-less one is still wanted may change
            await db.executemany(
                "UPDATE entries SET incomplete = ? WHERE id = ? AND erased = 1", plan.bodiless
            )
        await db.executemany(
            "INSERT INTO heads VALUES (?,?,?,?,?) ON CONFLICT (author) DO UPDATE SET "
            "seq = excluded.seq, entry_id = excluded.entry_id, "
            "timestamp_ms = excluded.timestamp_ms, advanced_ms = excluded.advanced_ms "
            "WHERE excluded.seq > heads.seq",
            plan.heads,
        )
        await db.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?)", plan.items)
        await db.executemany("INSERT INTO revocations VALUES (?,?,?,?,?,?)", plan.revocations)
        await db.executemany("INSERT INTO feedback VALUES (?,?,?,?,?,?,?)", plan.feedback)
        await self._deactivate([*plan.deactivate, *plan.withdraw_expired])
        await self._erase(plan.erase)
        await self._write_digest(ctx.digest)
        for author, delta in ctx.feeds.items():
            self.feed_digest(author).add_many(delta.count, delta.total)
        c = self.counters
        c.next_cursor, c.next_item_id, c.digest = ctx.next_cursor, ctx.next_item_id, ctx.digest
        if include_entries:
            c.entry_count += len(plan.entries)
            for code, n in collections.Counter(row[4] for row in plan.entries).items():
                c.kind_counts[kind_name(code)] += n
        c.active_counts.update(plan.activated_types)
        c.active_counts.subtract(plan.deactivated_types)
        c.active_counts += collections.Counter()  # drop zero counts

    async def _erase(self, targets: Sequence[tuple[bytes, bytes]]) -> None:
        """Drop the stored bodies (and what was derived from them) an erasing revoke names.

        Their items are withdrawn already (an erasing revoke names whole entries); the rows
        go too, so that the hash values leave the store with the body.
        """
        db = self._db
        for author, entry_id in targets:
            rows = await self._all(
                f"SELECT cursor, raw FROM entries WHERE id = ? AND author = ? AND erased = 0 "
                f"AND kind IN {ERASABLE_KINDS}",
                (entry_id, author),
            )
            for cursor, raw in rows:
                header, signature, _ = decode_unchecked(raw)  # checked when it was stored
                bodiless = wire.encode([header, signature, None])
                await db.execute(
                    "UPDATE entries SET raw = ?, erased = 1, incomplete = 0 WHERE cursor = ?",
                    (bodiless, cursor),
                )
                await db.execute("DELETE FROM items WHERE entry_cursor = ?", (cursor,))
                await db.execute("DELETE FROM feedback WHERE entry_cursor = ?", (cursor,))
            await db.execute(
                "UPDATE entries SET incomplete = 0 WHERE id = ? AND author = ? AND incomplete = 1",
                (entry_id, author),
            )

    async def drop_incomplete(self, entry_id: bytes) -> bool:
        """Remove an incomplete copy (a copy with its body replaces it); True if one was."""
        async with self._db.execute(
            "DELETE FROM entries WHERE id = ? AND incomplete = 1", (entry_id,)
        ) as cur:
            dropped = cur.rowcount == 1
        self.counters.entry_count -= int(dropped)
        return dropped

    async def forget_rederive(self) -> None:
        await self._db.execute("DELETE FROM meta WHERE key = 'rederive'")

    async def remember_idempotency(self, key: str, entry_id: bytes, now_ms: int) -> None:
        await self._db.execute("INSERT INTO idempotency VALUES (?, ?, ?)", (key, entry_id, now_ms))

    async def expire(self, now_ms: int) -> list[ActiveItem]:
        """Deactivate items whose expiry has passed, recording their withdrawal; returns them."""
        gone = await self.expired_items(now_ms)
        if gone:
            # Expired, not withdrawn: still standing, so the feed digests do not change.
            await self._db.executemany(
                f"UPDATE items SET active = {planning.EXPIRED} WHERE item_id = ?",
                [(it.item_id,) for it in gone],
            )
            self.counters.digest = digest_without(self.counters.digest, gone)
            await self._write_digest(self.counters.digest)
            self.counters.active_counts.subtract(it.signal_type for it in gone)
            self.counters.active_counts += collections.Counter()
            await self.record_withdrawn(gone, ChangeReason.EXPIRY, now_ms)
        return gone

    async def record_withdrawn(
        self,
        items: Sequence[ActiveItem],
        reason: ChangeReason,
        now_ms: int,
        charter_version: int | None = None,
    ) -> list[int]:
        """Put in the change feed that ``items`` left the active set without a new entry.

        Only records: the caller has already deactivated the items (and adjusted the digest)
        in this transaction. Returns the cursors taken (none for no items).
        """
        return await self._record(ItemChangeKind.WITHDRAWN, items, reason, now_ms, charter_version)

    async def record_restored(
        self,
        items: Sequence[ActiveItem],
        reason: ChangeReason,
        now_ms: int,
        charter_version: int | None = None,
    ) -> list[int]:
        """Put in the change feed that ``items`` became active again without a new entry."""
        return await self._record(ItemChangeKind.RESTORED, items, reason, now_ms, charter_version)

    async def _record(
        self,
        kind: ItemChangeKind,
        items: Sequence[ActiveItem],
        reason: ChangeReason,
        now_ms: int,
        charter_version: int | None,
    ) -> list[int]:
        ordered = sorted(items, key=lambda it: it.item_id)
        rows, cursors = [], []
        for start in range(0, len(ordered), ITEMS_PER_CHANGE):
            part = ordered[start : start + ITEMS_PER_CHANGE]
            # Cursors come from the entries' sequence, so the feed interleaves both in order.
            cursor = self.counters.next_cursor
            self.counters.next_cursor += 1
            packed = wire.encode(
                [[it.entry_id, it.idx, it.author, it.signal_type, it.value] for it in part]
            )
            rows.append((cursor, str(kind), str(reason), charter_version, now_ms, packed))
            cursors.append(cursor)
        await self._db.executemany("INSERT INTO item_changes VALUES (?,?,?,?,?,?)", rows)
        return cursors

    async def clear_author(
        self, author: bytes, purge_from: int | None, void: AbstractSet[bytes], removed: BankDigest
    ) -> None:
        """Drop an author's derived rows (and entries from ``purge_from`` on) before re-deriving.

        ``removed`` is the bank digest without the author's active items; entries whose id is
        in ``void`` are marked void (a takedown covers them).
        """
        db = self._db
        await db.execute(
            "DELETE FROM items WHERE entry_cursor IN (SELECT cursor FROM entries WHERE author = ?)",
            (author,),
        )
        for table, column in (
            ("revocations", "author"),
            ("feedback", "giver"),
            ("heads", "author"),
        ):
            await db.execute(f"DELETE FROM {table} WHERE {column} = ?", (author,))
        await db.execute("UPDATE entries SET void = 0 WHERE author = ?", (author,))
        if purge_from is not None:
            await db.execute(
                "DELETE FROM entries WHERE author = ? AND seq >= ?",
                (author, min(purge_from, MAX_STORED_SEQ)),
            )
        await db.executemany(
            "UPDATE entries SET void = 1 WHERE id = ?", [(i,) for i in sorted(void)]
        )
        self.counters.digest = removed
        self.feed_changes[author] = BankDigest()
        self.recount = True

    async def create_case(
        self,
        reference: str,
        origin: str,
        now_ms: int,
        pin: tuple[bytes, bytes] | None = None,
    ) -> int:
        """A new case; ``pin`` is (hash, salt). Returns its id (the reference must be new)."""
        pin_hash, pin_salt = pin if pin else (None, None)
        async with self._db.execute(
            "INSERT INTO cases (reference, origin, created_ms, pin_hash, pin_salt) "
            "VALUES (?, ?, ?, ?, ?)",
            (reference, origin, now_ms, pin_hash, pin_salt),
        ) as cur:
            assert cur.lastrowid is not None
            return int(cur.lastrowid)

    async def link_case(self, case_id: int, entry_id: bytes, now_ms: int) -> None:
        """Record that ``entry_id`` belongs to the case."""
        await self._db.execute(
            "INSERT OR IGNORE INTO case_entries VALUES (?, ?, ?)", (case_id, entry_id, now_ms)
        )

    async def set_pin_failures(self, case_id: int, failed: int, locked_until_ms: int) -> None:
        await self._db.execute(
            "UPDATE cases SET failed_attempts = ?, locked_until_ms = ? WHERE case_id = ?",
            (failed, locked_until_ms, case_id),
        )

    # --- console accounts, sessions, audit ------------------------------------------------

    async def add_user(
        self, name: str, role: str, password: str, must_change: bool, now_ms: int
    ) -> int:
        """A new account (the name must be new); returns its id."""
        async with self._db.execute(
            "INSERT INTO users (name, role, password, must_change, created_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, role, password, int(must_change), now_ms),
        ) as cur:
            assert cur.lastrowid is not None
            return int(cur.lastrowid)

    async def set_password(self, user_id: int, password: str, must_change: bool) -> None:
        """Replace an account's password record; clears its failed logins."""
        await self._db.execute(
            "UPDATE users SET password = ?, must_change = ?, failed_logins = 0, "
            "locked_until_ms = 0 WHERE user_id = ?",
            (password, int(must_change), user_id),
        )

    async def set_disabled(self, user_id: int, disabled: bool) -> None:
        await self._db.execute(
            "UPDATE users SET disabled = ? WHERE user_id = ?", (int(disabled), user_id)
        )

    async def set_login_failures(self, user_id: int, failed: int, locked_until_ms: int) -> None:
        await self._db.execute(
            "UPDATE users SET failed_logins = ?, locked_until_ms = ? WHERE user_id = ?",
            (failed, locked_until_ms, user_id),
        )

    async def add_session(
        self, token_hash: bytes, user_id: int, csrf: str, now_ms: int, expires_ms: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash, user_id, csrf, now_ms, now_ms, expires_ms),
        )

    async def touch_session(self, token_hash: bytes, now_ms: int) -> None:
        await self._db.execute(
            "UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ?", (now_ms, token_hash)
        )

    async def end_session(self, token_hash: bytes) -> None:
        await self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    async def end_sessions_of(self, user_id: int, keep: bytes | None = None) -> int:
        """Delete every session of an account (but ``keep``); returns how many went."""
        async with self._db.execute(
            "DELETE FROM sessions WHERE user_id = ? AND token_hash IS NOT ?", (user_id, keep)
        ) as cur:
            return int(cur.rowcount)

    async def end_stale_sessions(self, idle_before_ms: int, now_ms: int) -> int:
        """Delete sessions idle since before ``idle_before_ms`` or past their end."""
        async with self._db.execute(
            "DELETE FROM sessions WHERE last_seen_ms < ? OR expires_ms <= ?",
            (idle_before_ms, now_ms),
        ) as cur:
            return int(cur.rowcount)

    async def add_audit(
        self, at_ms: int, actor: str, action: str, subject: str, detail: str
    ) -> int:
        async with self._db.execute(
            "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
            (at_ms, actor, action, subject, detail),
        ) as cur:
            assert cur.lastrowid is not None
            return int(cur.lastrowid)

    async def put_fork(self, author: bytes, seq: int, proof: bytes, now_ms: int) -> None:
        """Keep ``proof`` as the author's fork proof, replacing the one kept before."""
        # A proof may be at any seq; one beyond what SQLite holds is kept at its limit (the
        # proof itself, stored whole, still names the exact seq).
        await self._db.execute(
            "INSERT OR REPLACE INTO forks VALUES (?, ?, ?, ?)",
            (author, min(seq, MAX_STORED_SEQ), proof, now_ms),
        )

    async def drop_fork(self, author: bytes) -> None:
        await self._db.execute("DELETE FROM forks WHERE author = ?", (author,))

    async def add_charter(self, number: int, charter_id: bytes, raw: bytes, now_ms: int) -> None:
        await self._db.execute(
            "INSERT INTO charters VALUES (?, ?, ?, ?)", (number, charter_id, raw, now_ms)
        )

    async def add_charter_fork(self, number: int, proof: bytes, now_ms: int) -> bool:
        async with self._db.execute(
            "INSERT OR IGNORE INTO charter_forks VALUES (?, ?, ?)", (number, proof, now_ms)
        ) as cur:
            return cur.rowcount == 1

    async def clear_derived(self) -> None:
        """Drop every derived row (``hashbank rebuild`` re-derives them from the entries)."""
        for table in DERIVED_TABLES:
            await self._db.execute(f"DELETE FROM {table}")
        await self._db.execute("DELETE FROM meta WHERE key LIKE 'digest_%'")
        self.feed_changes.clear()
        self.feeds_cleared = True
        self.counters.next_item_id = 1
        self.counters.digest = BankDigest()
        self.counters.active_counts = collections.Counter()

    # --- helpers ---------------------------------------------------------------------------

    async def _deactivate(self, item_ids: Sequence[int]) -> None:
        await self._db.executemany(
            "UPDATE items SET active = 0 WHERE item_id = ?", [(i,) for i in item_ids]
        )

    async def _write_digest(self, digest: BankDigest) -> None:
        await self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("digest_count", digest.count), ("digest_total", digest.total.to_bytes(32, "big"))],
        )
