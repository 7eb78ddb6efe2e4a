"""Queries: every read of the store, on whichever connection the caller holds.

``Reader`` runs on the store's read connection (committed data only, never blocked by the
writer in WAL mode) and, through ``Transaction``, on the writer's connection inside the one
transaction door, where a write's planning must see the rows it is about to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
import numpy as np

from node.store.rows import (
    ActiveItem,
    AuditRow,
    CaseRow,
    CaseSearch,
    CaseSummaryRow,
    ChangedItem,
    ChangeKinds,
    ChangeReason,
    CharterForkRecord,
    FeedbackOnAdd,
    ForkRecord,
    ItemChange,
    ItemChangeKind,
    ItemRow,
    RevocationRow,
    SessionRow,
    StoredEntry,
    UserRow,
)
from protocol import wire
from protocol.body import Kind
from protocol.feed import FeedHead
from protocol.signals import SignalType
from protocol.sync import EntryState, FeedRow

# SQLite allows 32766 bound parameters; stay well below for IN (...) lists.
CHUNK = 900
# SQLite integers are signed 64-bit. The protocol allows seqs up to 2**64 - 1, but no feed can
# reach 2**63 (every entry before it would have to exist), so no stored entry lies beyond.
MAX_STORED_SEQ = 2**63 - 1
ALL_KINDS = tuple(Kind)
ADD = int(Kind.ADD)
ALL_CHANGES = ChangeKinds()
# A recorded item change holds at most a thousand items of about a hundred bytes each.
MAX_ITEM_CHANGE_BYTES = 16 * 1024 * 1024
ITEM_CHANGE_COLUMNS = "cursor, kind, reason, charter_version, recorded_ms, items"
ACTIVE_ITEM_QUERY = (
    "SELECT i.item_id, i.signal_type, i.value, e.author, e.id, i.idx, i.expires_ms FROM items i "
    "JOIN entries e ON e.cursor = i.entry_cursor"
)

CASE_COLUMNS = (
    "case_id, reference, origin, created_ms, pin_hash, pin_salt, failed_attempts, locked_until_ms"
)
USER_COLUMNS = (
    "user_id, name, role, password, must_change, disabled, created_ms, failed_logins, "
    "locked_until_ms"
)
_SESSION_USER_COLUMNS = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
_CASE_C_COLUMNS = ", ".join(f"c.{c.strip()}" for c in CASE_COLUMNS.split(","))
# Other organisations with feedback naming one of the case's entries, or naming none but
# one of their hashes (as feedback_on_entry finds it).
_CASE_REPORTERS = (
    "SELECT COUNT(DISTINCT f.giver) FROM feedback f WHERE f.giver NOT IN ("
    " SELECT t.author FROM entries t JOIN case_entries x ON x.entry_id = t.id"
    " WHERE x.case_id = c.case_id) AND ("
    " f.target_id IN (SELECT entry_id FROM case_entries WHERE case_id = c.case_id)"
    " OR (f.target_id IS NULL AND (f.signal_type, f.value) IN ("
    "  SELECT i2.signal_type, i2.value FROM items i2 JOIN entries t2 ON t2.cursor = i2.entry_cursor"
    "  JOIN case_entries x2 ON x2.entry_id = t2.id WHERE x2.case_id = c.case_id)))"
)
_CASE_STATE_SQL = {
    "active": "COUNT(i.item_id) > 0 AND SUM(i.active = 1) = COUNT(i.item_id)",
    "partly_withdrawn": "SUM(i.active = 1) > 0 AND SUM(i.active = 1) < COUNT(i.item_id)",
    "withdrawn": "COUNT(i.item_id) > 0 AND SUM(i.active = 1) = 0",
    "empty": "COUNT(i.item_id) = 0",
}
AUDIT_COLUMNS = "audit_id, at_ms, actor, action, subject, detail"
ENTRY_COLUMNS = (
    "cursor, id, author, seq, kind, timestamp_ms, received_ms, raw, erased, void, incomplete"
)
_FEEDBACK_ENTRY_COLUMNS = ", ".join(f"fe.{c.strip()}" for c in ENTRY_COLUMNS.split(","))
ITEM_QUERY = """
    SELECT i.item_id, i.signal_type, i.value, i.labels, e.id, e.author, i.idx, i.active
    FROM items i JOIN entries e ON e.cursor = i.entry_cursor
"""
# The partial index items_exact covers only these rows; SQLite uses a partial index only when
# the query repeats its WHERE terms, so every exact lookup says them again.
EXACT_ROWS = "i.active = 1 AND i.signal_type != 'pdq'"


def entry_row(row: Sequence[Any]) -> StoredEntry:
    c, i, a, s, k, t, r, raw, erased, void, incomplete = row
    return StoredEntry(c, i, a, s, Kind(k), t, r, raw, bool(erased), bool(void), bool(incomplete))


def item_row(row: Sequence[Any]) -> ItemRow:
    item_id, sig, value, labels, entry_id, author, idx, active = row
    labels_tuple = tuple(labels.split(",")) if labels else ()
    return ItemRow(item_id, sig, value, labels_tuple, entry_id, author, idx, active == 1)


def user_row(row: Sequence[Any]) -> UserRow:
    user_id, name, role, password, must_change, disabled, created, failed, locked = row
    return UserRow(
        user_id, name, role, password, bool(must_change), bool(disabled), created, failed, locked
    )


def item_change_row(row: Sequence[Any]) -> ItemChange:
    cursor, kind, reason, version, recorded, packed = row
    items = wire.decode(packed, max_size=MAX_ITEM_CHANGE_BYTES, what="recorded item change")
    return ItemChange(
        int(cursor),
        ItemChangeKind(kind),
        ChangeReason(reason),
        None if version is None else int(version),
        int(recorded),
        tuple(ChangedItem(e, int(i), a, str(t), v) for e, i, a, t, v in items),
    )


def _marks(n: int) -> str:
    return ",".join("?" * n)


class Reader:
    """Read queries over one connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    # --- primitives ------------------------------------------------------------------------

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
            out += await self._all(sql.format(_marks(len(part))), (*params, *part))
        return out

    async def _entries(self, where: str, params: Sequence[object]) -> list[StoredEntry]:
        rows = await self._all(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}", params)
        return [entry_row(r) for r in rows]

    async def ping(self) -> None:
        """One trivial read: raises if the connection cannot answer (closed, broken)."""
        await self._scalar("SELECT 1")

    # --- entries ---------------------------------------------------------------------------

    async def heads(self) -> dict[bytes, FeedHead]:
        rows = await self._all("SELECT author, seq, entry_id, timestamp_ms FROM heads")
        return {r[0]: FeedHead(*r) for r in rows}

    async def head_times(self) -> dict[bytes, int]:
        """When each author's feed last advanced here (ms)."""
        rows = await self._all("SELECT author, advanced_ms FROM heads")
        return {r[0]: int(r[1]) for r in rows}

    async def author_count(self) -> int:
        return int(await self._scalar("SELECT COUNT(*) FROM heads"))

    async def entry_by_id(self, entry_id: bytes) -> StoredEntry | None:
        found = await self._entries("id = ?", (entry_id,))
        return found[0] if found else None

    async def entry_at(self, author: bytes, seq: int) -> StoredEntry | None:
        if seq > MAX_STORED_SEQ:
            return None
        found = await self._entries("author = ? AND seq = ?", (author, seq))
        return found[0] if found else None

    async def entry_range(self, author: bytes, first: int, last: int) -> list[bytes]:
        if first > MAX_STORED_SEQ:  # a peer may ask for any uint64 seq; none is stored there
            return []
        rows = await self._all(
            "SELECT raw FROM entries WHERE author = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (author, first, min(last, MAX_STORED_SEQ)),
        )
        return [r[0] for r in rows]

    async def author_entries(self, author: bytes) -> list[StoredEntry]:
        return await self._entries("author = ? ORDER BY seq", (author,))

    async def changes(
        self,
        after: int,
        limit: int,
        kinds: Iterable[Kind] = ALL_KINDS,
        upto: int | None = None,
    ) -> list[StoredEntry]:
        """Entries stored after cursor ``after`` (and at most ``upto``), in arrival order."""
        codes = [int(k) for k in kinds]
        bound = "" if upto is None else " AND cursor <= ?"
        params = (after, *([] if upto is None else [upto]), *codes, limit)
        return await self._entries(
            f"cursor > ?{bound} AND kind IN ({_marks(len(codes))}) ORDER BY cursor LIMIT ?",
            params,
        )

    async def item_changes(
        self,
        after: int,
        limit: int,
        kinds: Iterable[ItemChangeKind] = tuple(ItemChangeKind),
        upto: int | None = None,
    ) -> list[ItemChange]:
        """Recorded withdrawals and restorations after cursor ``after`` (at most ``upto``)."""
        names = [str(k) for k in kinds]
        bound = "" if upto is None else " AND cursor <= ?"
        params = (after, *([] if upto is None else [upto]), *names, limit)
        rows = await self._all(
            f"SELECT {ITEM_CHANGE_COLUMNS} FROM item_changes WHERE cursor > ?{bound} "
            f"AND kind IN ({_marks(len(names))}) ORDER BY cursor LIMIT ?",
            params,
        )
        return [item_change_row(r) for r in rows]

    async def change_feed(
        self, after: int, limit: int, kinds: ChangeKinds = ALL_CHANGES, upto: int | None = None
    ) -> list[StoredEntry | ItemChange]:
        """The change feed after ``after``: entries and item changes, interleaved by cursor."""
        found: list[StoredEntry | ItemChange] = []
        if kinds.entries:
            found += await self.changes(after, limit, kinds.entries, upto)
        if kinds.items:
            found += await self.item_changes(after, limit, kinds.items, upto)
        found.sort(key=lambda change: change.cursor)
        return found[:limit]

    async def last_item_change_cursor(self) -> int:
        return int(await self._scalar("SELECT COALESCE(MAX(cursor), 0) FROM item_changes"))

    async def incomplete_entries(self, limit: int) -> list[StoredEntry]:
        """Entries held without a body that is still wanted (docs/protocol.md §4.3)."""
        return await self._entries("incomplete = 1 ORDER BY author, seq LIMIT ?", (limit,))

    async def incomplete_count(self) -> int:
        return int(await self._scalar("SELECT COUNT(*) FROM entries WHERE incomplete = 1"))

    async def feed_rows(self, author: bytes, first: int, last: int) -> list[FeedRow]:
        """How this replica holds ``author``'s entries ``first``…``last``, seq by seq."""
        if first > MAX_STORED_SEQ:
            return []
        rows = await self._all(
            "SELECT e.seq, e.id, e.erased, e.incomplete, (SELECT COUNT(*) FROM items i "
            "WHERE i.entry_cursor = e.cursor AND i.active != 0) FROM entries e "
            "WHERE e.author = ? AND e.seq BETWEEN ? AND ? ORDER BY e.seq",
            (author, first, min(last, MAX_STORED_SEQ)),
        )
        return [
            FeedRow(
                int(seq),
                entry_id,
                EntryState.INCOMPLETE
                if incomplete
                else EntryState.ERASED
                if erased
                else EntryState.HELD,
                int(standing),
            )
            for seq, entry_id, erased, incomplete, standing in rows
        ]

    async def idempotent_entry(self, key: str) -> StoredEntry | None:
        """The entry published under an idempotency key, if any."""
        found = await self._entries("id = (SELECT entry_id FROM idempotency WHERE key = ?)", (key,))
        return found[0] if found else None

    # --- items -----------------------------------------------------------------------------

    async def items_by_ids(self, ids: Sequence[int]) -> dict[int, ItemRow]:
        rows = await self._in(ITEM_QUERY + " WHERE i.item_id IN ({})", list(ids))
        return {r.item_id: r for r in map(item_row, rows)}

    async def items_of_entry(self, entry_id: bytes) -> list[ItemRow]:
        rows = await self._all(ITEM_QUERY + " WHERE e.id = ? ORDER BY i.idx", (entry_id,))
        return [item_row(r) for r in rows]

    async def exact(self, signal_type: str, values: Sequence[bytes]) -> list[ItemRow]:
        """Active items of an exact signal type (md5, sha256) whose value is one of ``values``."""
        rows = await self._in(
            ITEM_QUERY + f" WHERE {EXACT_ROWS} AND i.signal_type = ? AND i.value IN ({{}})",
            list(values),
            (signal_type,),
        )
        return [item_row(r) for r in rows]

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

    async def active_items_of(self, author: bytes) -> list[ActiveItem]:
        rows = await self._all(
            ACTIVE_ITEM_QUERY + " WHERE e.author = ? AND i.active = 1", (author,)
        )
        return [ActiveItem(*r) for r in rows]

    async def expired_items(self, now_ms: int) -> list[ActiveItem]:
        rows = await self._all(
            ACTIVE_ITEM_QUERY
            + " WHERE i.active = 1 AND i.expires_ms IS NOT NULL AND i.expires_ms <= ?",
            (now_ms,),
        )
        return [ActiveItem(*r) for r in rows]

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
        return [item_row(r) for r in rows]

    async def item_expiry(self, item_ids: Sequence[int]) -> dict[int, int | None]:
        """Each item's expiry time (ms), or None when it does not expire."""
        rows = await self._in(
            "SELECT item_id, expires_ms FROM items WHERE item_id IN ({})", list(item_ids)
        )
        return {int(r[0]): None if r[1] is None else int(r[1]) for r in rows}

    async def adds_of_case(self, author: bytes, case_ref: bytes) -> list[StoredEntry]:
        """``author``'s add entries with an item of case ``case_ref``."""
        return await self._entries(
            f"author = ? AND kind = {ADD} AND cursor IN "
            "(SELECT entry_cursor FROM items WHERE case_ref = ?) ORDER BY cursor",
            (author, case_ref),
        )

    # --- cases -----------------------------------------------------------------------------

    async def case_by_reference(self, reference: str) -> CaseRow | None:
        rows = await self._all(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE reference = ?", (reference,)
        )
        return CaseRow(*rows[0]) if rows else None

    async def case_by_id(self, case_id: int) -> CaseRow | None:
        rows = await self._all(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ?", (case_id,))
        return CaseRow(*rows[0]) if rows else None

    async def cases_page(
        self, *, search: str | None, before_id: int | None, limit: int
    ) -> list[CaseRow]:
        """Cases, newest first; ``search`` matches a part of the case number."""
        found = await self.case_summaries(CaseSearch(text=search, before_id=before_id), limit)
        return [row.case for row in found]

    async def case_summaries(self, search: CaseSearch, limit: int) -> list[CaseSummaryRow]:
        """Cases matching ``search``, newest first, with their item and report counts."""
        where, params = _case_filter(search)
        having = _CASE_STATE_SQL.get(search.state or "", "1 = 1")
        # Items reach a case through case_entries (entries before sealing are not counted).
        rows = await self._all(
            f"SELECT {_CASE_C_COLUMNS}, COUNT(i.item_id), COALESCE(SUM(i.active = 1), 0), "
            f"({_CASE_REPORTERS}), "
            "MAX(e.timestamp_ms) "
            "FROM cases c LEFT JOIN case_entries ce ON ce.case_id = c.case_id "
            "LEFT JOIN entries e ON e.id = ce.entry_id "
            "LEFT JOIN items i ON i.entry_cursor = e.cursor "
            f"WHERE {' AND '.join(where)} GROUP BY c.case_id HAVING {having} "
            "ORDER BY c.case_id DESC LIMIT ?",
            (*params, limit),
        )
        return [
            CaseSummaryRow(CaseRow(*r[:8]), int(r[8]), int(r[9]), int(r[10]), r[11]) for r in rows
        ]

    async def revocations_of(self, entry_ids: Sequence[bytes]) -> list[RevocationRow]:
        """The revokes withdrawing items of ``entry_ids``, oldest first."""
        rows = await self._in(
            "SELECT r.target_id, r.items, e.id, e.timestamp_ms FROM revocations r "
            "JOIN entries e ON e.cursor = r.revoke_cursor WHERE r.target_id IN ({}) "
            "ORDER BY r.revoke_cursor",
            list(entry_ids),
        )
        return [
            RevocationRow(
                r[0],
                None if r[1] is None else tuple(int(x) for x in str(r[1]).split(",") if x),
                r[2],
                int(r[3]),
            )
            for r in rows
        ]

    async def entries_of_case(self, case_id: int) -> list[StoredEntry]:
        """The entries of a case, in feed order."""
        return await self._entries(
            "id IN (SELECT entry_id FROM case_entries WHERE case_id = ?) ORDER BY cursor",
            (case_id,),
        )

    async def cases_of_entries(self, entry_ids: Sequence[bytes]) -> dict[bytes, list[int]]:
        rows = await self._in(
            "SELECT entry_id, case_id FROM case_entries WHERE entry_id IN ({})", list(entry_ids)
        )
        out: dict[bytes, list[int]] = {}
        for entry_id, case_id in rows:
            out.setdefault(entry_id, []).append(int(case_id))
        return out

    # --- console accounts, sessions, audit -------------------------------------------------

    async def user_by_name(self, name: str) -> UserRow | None:
        rows = await self._all(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,))
        return user_row(rows[0]) if rows else None

    async def users(self) -> list[UserRow]:
        rows = await self._all(f"SELECT {USER_COLUMNS} FROM users ORDER BY name")
        return [user_row(r) for r in rows]

    async def session_by_hash(self, token_hash: bytes) -> SessionRow | None:
        """The session whose token hashes to ``token_hash``, with its user."""
        rows = await self._all(
            "SELECT s.token_hash, s.csrf, s.created_ms, s.last_seen_ms, s.expires_ms, "
            f"{_SESSION_USER_COLUMNS} FROM sessions s JOIN users u ON u.user_id = s.user_id "
            "WHERE s.token_hash = ?",
            (token_hash,),
        )
        if not rows:
            return None
        r = rows[0]
        return SessionRow(r[0], r[1], r[2], r[3], r[4], user_row(r[5:]))

    async def session_count(self, user_id: int) -> int:
        return int(
            await self._scalar("SELECT COUNT(*) FROM sessions WHERE user_id = ?", (user_id,))
        )

    async def audit_page(
        self, *, before_id: int | None, limit: int, actor: str | None, action: str | None
    ) -> list[AuditRow]:
        """Audit lines, newest first, optionally of one actor and/or one action."""
        where, params = ["1 = 1"], list[object]()
        for column, value in (("actor", actor), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            where.append("audit_id < ?")
            params.append(before_id)
        rows = await self._all(
            f"SELECT {AUDIT_COLUMNS} FROM audit WHERE {' AND '.join(where)} "
            "ORDER BY audit_id DESC LIMIT ?",
            (*params, limit),
        )
        return [AuditRow(*r) for r in rows]

    # --- feedback --------------------------------------------------------------------------

    async def feedback_on_entry(self, entry_id: bytes) -> list[StoredEntry]:
        """Feedback entries naming ``entry_id``, or naming none but a hash of its items."""
        rows = await self._all(
            f"SELECT {_FEEDBACK_ENTRY_COLUMNS} FROM feedback f "
            "JOIN entries fe ON fe.cursor = f.entry_cursor WHERE f.target_id = ? "
            "OR (f.target_id IS NULL AND (f.signal_type, f.value) IN ("
            "  SELECT i.signal_type, i.value FROM items i "
            "  JOIN entries t ON t.cursor = i.entry_cursor WHERE t.id = ?)) "
            "ORDER BY fe.cursor",
            (entry_id, entry_id),
        )
        return [entry_row(r) for r in rows]

    async def feedback_on_values(
        self, signal_type: str, values: Sequence[bytes]
    ) -> list[StoredEntry]:
        """Feedback entries about any of ``values`` of ``signal_type``, in arrival order."""
        rows = await self._in(
            f"SELECT {_FEEDBACK_ENTRY_COLUMNS} FROM feedback f "
            "JOIN entries fe ON fe.cursor = f.entry_cursor "
            "WHERE f.signal_type = ? AND f.value IN ({}) ORDER BY fe.cursor",
            list(values),
            (signal_type,),
        )
        return [entry_row(r) for r in rows]

    async def feedback_on_author(
        self, author: bytes, case_ref: bytes | None = None
    ) -> list[FeedbackOnAdd]:
        """Feedback naming an add of ``author`` (with ``case_ref``, of that case only)."""
        case_sql, params = "", list[object]([author])
        if case_ref is not None:
            case_sql = " AND t.cursor IN (SELECT entry_cursor FROM items WHERE case_ref = ?)"
            params.append(case_ref)
        rows = await self._all(
            f"SELECT f.target_id, {_FEEDBACK_ENTRY_COLUMNS} FROM feedback f "
            "JOIN entries fe ON fe.cursor = f.entry_cursor "
            "JOIN entries t ON t.id = f.target_id "
            f"WHERE t.author = ? AND t.kind = {ADD}{case_sql} ORDER BY fe.cursor",
            params,
        )
        return [FeedbackOnAdd(r[0], entry_row(r[1:])) for r in rows]

    # --- signed evidence -------------------------------------------------------------------

    async def forks(self) -> list[ForkRecord]:
        rows = await self._all("SELECT author, seq, proof, detected_ms FROM forks ORDER BY author")
        return [ForkRecord(*r) for r in rows]

    async def fork_of(self, author: bytes) -> ForkRecord | None:
        rows = await self._all(
            "SELECT author, seq, proof, detected_ms FROM forks WHERE author = ?", (author,)
        )
        return ForkRecord(*rows[0]) if rows else None

    async def charters(self) -> list[bytes]:
        rows = await self._all("SELECT raw FROM charters ORDER BY number")
        return [r[0] for r in rows]

    async def charter_forks(self) -> list[CharterForkRecord]:
        rows = await self._all(
            "SELECT number, proof, detected_ms FROM charter_forks ORDER BY number"
        )
        return [CharterForkRecord(*r) for r in rows]


def _case_filter(search: CaseSearch) -> tuple[list[str], list[object]]:
    """The WHERE terms (on ``cases c``) and their parameters for a case search."""
    where, params = ["1 = 1"], list[object]()
    if search.text:
        where.append("instr(lower(c.reference), lower(?)) > 0")
        params.append(search.text)
    for term, value in (
        ("c.created_ms >= ?", search.created_from_ms),
        ("c.created_ms < ?", search.created_until_ms),
        ("c.case_id < ?", search.before_id),
    ):
        if value is not None:
            where.append(term)
            params.append(value)
    return where, params
