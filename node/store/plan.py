"""Turn a batch of validated entries into the rows one store transaction writes.

The merge rules are ``protocol.bank``'s; this module applies them to the store's tables, with
everything it needs read up front, so a batch of a thousand entries is a handful of
``executemany`` calls rather than thousands of round trips to the database thread.

An item row's ``active`` is 1 (in the bank), 2 (expired: out of the bank but still standing,
so still in its author's feed digest) or 0 (withdrawn or void). Body-less entries are planned
as erased (an erasing revoke or a takedown is the authority) or incomplete (docs/protocol.md
§4.3); an entry an erasing revoke names is stored without its body whichever came first.
"""

from __future__ import annotations

import collections
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

from protocol.bank import BankDigest, is_live, item_digest, withdrawn
from protocol.body import AddBody, FeedbackBody, HashItem, Kind, RevokeBody
from protocol.entry import Entry
from protocol.signals import PDQ

# SQLite integers are signed 64-bit; a later expiry (the protocol allows any uint64, and this is
# some 292 million years away) is stored as this, which means the same: never in practice.
MAX_STORED_EXPIRY_MS = 2**63 - 1
PDQ_NAME = PDQ.name
ERASABLE = frozenset({Kind.ADD, Kind.FEEDBACK})


ACTIVE, EXPIRED, WITHDRAWN = 1, 2, 0


@dataclass(frozen=True, slots=True)
class ItemRef:
    """An item row the batch may withdraw (active, or expired but standing)."""

    item_id: int
    entry_cursor: int
    idx: int
    signal_type: str
    value: bytes
    active: bool = True


@dataclass(frozen=True, slots=True)
class StoredAdd:
    """An add entry already in the store, as a revoke in this batch may target it."""

    cursor: int
    entry_id: bytes
    author: bytes
    items: tuple[ItemRef, ...]  # its standing items (active or expired)


@dataclass
class Context:
    """What the store holds that the batch's rules depend on (read before planning)."""

    next_cursor: int
    next_item_id: int
    digest: BankDigest
    # Entry ids that revokes in this batch aim at: only those adds need item references.
    targets: set[bytes] = field(default_factory=set)
    stored_adds: dict[bytes, StoredAdd] = field(default_factory=dict)
    # target entry id -> [(revoking author, items or None)] already in the store
    revocations: dict[bytes, list[tuple[bytes, tuple[int, ...] | None]]] = field(
        default_factory=dict
    )
    # (author, entry id) that erasing revokes (not void) name: their bodies are not kept.
    erase_targets: set[tuple[bytes, bytes]] = field(default_factory=set)
    # Changes to authors' feed digests (counts may go below zero: these are deltas).
    feeds: dict[bytes, BankDigest] = field(default_factory=dict)

    def feed(self, author: bytes) -> BankDigest:
        delta = self.feeds.get(author)
        if delta is None:
            delta = self.feeds[author] = BankDigest()
        return delta


@dataclass
class Plan:
    """Rows to write and the effects to apply to in-memory state after commit."""

    entries: list[tuple[object, ...]] = field(default_factory=list)
    heads: list[tuple[object, ...]] = field(default_factory=list)
    items: list[tuple[object, ...]] = field(default_factory=list)
    revocations: list[tuple[object, ...]] = field(default_factory=list)
    feedback: list[tuple[object, ...]] = field(default_factory=list)
    deactivate: list[int] = field(default_factory=list)
    # Expired items now withdrawn too (already out of the bank and of the PDQ index).
    withdraw_expired: list[int] = field(default_factory=list)
    # (author, entry id) whose stored bodies an erasing revoke of this batch erases.
    erase: list[tuple[bytes, bytes]] = field(default_factory=list)
    # (incomplete, entry id) of the batch's body-less entries (for rows already stored).
    bodiless: list[tuple[int, bytes]] = field(default_factory=list)
    deactivated_types: collections.Counter[str] = field(default_factory=collections.Counter)
    activated_types: collections.Counter[str] = field(default_factory=collections.Counter)
    # PDQ items that became active, for the matching index (flat, so a bulk sync's million
    # rows reach numpy without a tuple each).
    pdq_ids: list[int] = field(default_factory=list)
    pdq_values: list[bytes] = field(default_factory=list)


def revoke_targets(entries: Iterable[Entry]) -> set[bytes]:
    """Entry ids the batch's revokes aim at (to read their stored items first)."""
    return {t.entry_id for e in entries if isinstance(e.body, RevokeBody) for t in e.body.targets}


def erasing(entries: Iterable[Entry], void: Container[bytes]) -> set[tuple[bytes, bytes]]:
    """(author, entry id) that the batch's erasing revokes, not void, name."""
    return {
        (e.author, t.entry_id)
        for e in entries
        if isinstance(e.body, RevokeBody) and e.body.erase and e.id not in void
        for t in e.body.targets
    }


def plan_batch(
    entries: Sequence[Entry],
    ctx: Context,
    now_ms: int,
    cursors: Sequence[int] | None = None,
    void: Container[bytes] = (),
    digest_sums: Mapping[bytes, int] | None = None,
    erasable: Container[bytes] = (),
) -> Plan:
    """Plan the rows for ``entries`` (already validated and placed, in feed order).

    ``cursors`` gives stored entries their existing cursors (``hashbank rebuild``); entries
    whose id is in ``void`` (a takedown covers them, or a fork suspends their feed) are kept
    in the chain with no effect. ``digest_sums`` holds ``protocol.hazmat.digest_sum`` of adds,
    where already computed. ``erasable`` names the entries a takedown covers: their bodies
    may be missing (erased, not incomplete).
    """
    sums = digest_sums or {}
    plan = Plan()
    ctx.erase_targets |= erasing(entries, void)
    # Only each author's furthest entry moves its head: one row per author, not per entry.
    heads: dict[bytes, tuple[int, Entry]] = {}
    for n, given in enumerate(entries):
        cursor = ctx.next_cursor if cursors is None else cursors[n]
        ctx.next_cursor = max(ctx.next_cursor, cursor + 1)
        entry = _row(given, cursor, ctx, plan, now_ms, void, erasable, stored=cursors is not None)
        author, body = entry.author, entry.body
        if entry.seq > heads.get(author, (0, entry))[0]:
            heads[author] = (entry.seq, entry)
        if entry.id in void:
            continue
        if isinstance(body, AddBody):
            _plan_add(entry, body, cursor, ctx, plan, now_ms, sums.get(entry.id))
        elif isinstance(body, RevokeBody):
            _plan_revoke(entry, body, cursor, ctx, plan)
        elif isinstance(body, FeedbackBody):
            plan.feedback.append(_feedback_row(cursor, author, body))
    plan.heads = [
        (author, seq, e.id, e.header.timestamp_ms, now_ms) for author, (seq, e) in heads.items()
    ]
    return plan


def _row(
    given: Entry,
    cursor: int,
    ctx: Context,
    plan: Plan,
    now_ms: int,
    void: Container[bytes],
    erasable: Container[bytes],
    *,
    stored: bool,
) -> Entry:
    """Plan ``given``'s entries row; returns the entry as kept (without its body if erased)."""
    authorised = (given.author, given.id) in ctx.erase_targets
    # An entry an erasing revoke names is kept without its body, whichever came first.
    entry = given.without_body() if authorised and given.kind in ERASABLE else given
    header, body = entry.header, entry.body
    incomplete = body is None and not (authorised or entry.id in erasable)
    if body is None:
        plan.bodiless.append((int(incomplete), entry.id))
    elif authorised and stored:
        plan.erase.append((entry.author, entry.id))  # stored with its body: erase it now
    plan.entries.append(
        (
            cursor,
            entry.id,
            entry.author,
            header.seq,
            int(header.kind),
            header.timestamp_ms,
            now_ms,
            entry.raw,
            int(body is None),
            int(entry.id in void),
            int(incomplete),
        )
    )
    return entry


def _feedback_row(cursor: int, giver: bytes, body: FeedbackBody) -> tuple[object, ...]:
    return (
        cursor,
        giver,
        body.signal_type,
        body.value,
        int(body.verdict),
        body.entry_id,
        int(body.note),
    )


def _plan_add(
    entry: Entry,
    body: AddBody,
    cursor: int,
    ctx: Context,
    plan: Plan,
    now_ms: int,
    digest_sum: int | None,
) -> None:
    gone = withdrawn(entry.author, ctx.revocations.get(entry.id, ()))
    first_id, items = ctx.next_item_id, body.items
    ctx.next_item_id += len(items)
    columns = tuple(zip(*items, strict=True))  # signal types, values, labels, case refs, expiries
    if gone is not None and not gone and columns[4].count(None) == len(items):
        _plan_add_all_active(entry, columns, cursor, first_id, ctx, plan, digest_sum)
    else:
        _plan_add_some_active(entry, items, gone, cursor, first_id, ctx, plan, now_ms)
    if entry.id in ctx.targets:  # a revoke later in this batch will look for these items
        ctx.stored_adds[entry.id] = StoredAdd(
            cursor,
            entry.id,
            entry.author,
            tuple(
                ItemRef(first_id + i, cursor, i, it.signal_type, it.value, is_live(it, now_ms))
                for i, it in enumerate(items)
                if gone is not None and i not in gone
            ),
        )


def _plan_add_all_active(
    entry: Entry,
    columns: tuple[tuple[Any, ...], ...],
    cursor: int,
    first_id: int,
    ctx: Context,
    plan: Plan,
    digest_sum: int | None,
) -> None:
    # The hot path of a bulk sync. Every row is built by zip and map in C: a Python-level
    # loop here cost more than SQLite's insert of the same rows.
    sigs, values, labels, case_refs, _ = columns
    n = len(sigs)
    ids = range(first_id, first_id + n)
    plan.items.extend(
        zip(
            ids,
            repeat(cursor),
            range(n),
            sigs,
            values,
            map(",".join, labels),
            case_refs,
            repeat(None),
            repeat(ACTIVE),
        )
    )
    pdq = sigs.count(PDQ_NAME)
    if pdq == n:
        plan.pdq_ids.extend(ids)
        plan.pdq_values.extend(values)
    elif pdq:
        keep = list(map(PDQ_NAME.__eq__, sigs))
        plan.pdq_ids.extend(compress(ids, keep))
        plan.pdq_values.extend(compress(values, keep))
    if sigs.count(sigs[0]) == n:
        plan.activated_types[sigs[0]] += n
    else:
        plan.activated_types.update(sigs)
    if digest_sum is None:
        author, entry_id = repeat(entry.author), repeat(entry.id)
        digest_sum = sum(map(item_digest, sigs, values, author, entry_id, range(n)))
    ctx.digest.add_many(n, digest_sum)
    ctx.feed(entry.author).add_many(n, digest_sum)  # none withdrawn, none expired


def _plan_add_some_active(
    entry: Entry,
    items: Sequence[HashItem],
    gone: set[int] | None,
    cursor: int,
    first_id: int,
    ctx: Context,
    plan: Plan,
    now_ms: int,
) -> None:
    author, entry_id = entry.author, entry.id
    total, count, standing_total, standing = 0, 0, 0, 0
    for idx, item in enumerate(items):
        item_id = first_id + idx
        kept = gone is not None and idx not in gone
        active = kept and is_live(item, now_ms)
        expires = item.expires_ms
        plan.items.append(
            (
                item_id,
                cursor,
                idx,
                item.signal_type,
                item.value,
                ",".join(item.labels),
                item.case_ref,
                min(expires, MAX_STORED_EXPIRY_MS) if expires else expires,
                ACTIVE if active else EXPIRED if kept else WITHDRAWN,
            )
        )
        if not kept:
            continue
        term = item_digest(item.signal_type, item.value, author, entry_id, idx)
        standing_total += term
        standing += 1
        if active:
            total += term
            count += 1
            plan.activated_types[item.signal_type] += 1
            if item.signal_type == PDQ_NAME:
                plan.pdq_ids.append(item_id)
                plan.pdq_values.append(item.value)
    ctx.digest.add_many(count, total)
    ctx.feed(author).add_many(standing, standing_total)


def _plan_revoke(entry: Entry, body: RevokeBody, cursor: int, ctx: Context, plan: Plan) -> None:
    for target in body.targets:
        items_text = None if target.items is None else ",".join(map(str, target.items))
        plan.revocations.append(
            (target.entry_id, cursor, entry.author, items_text, int(body.reason), int(body.erase))
        )
        ctx.revocations.setdefault(target.entry_id, []).append((entry.author, target.items))
        if body.erase:
            plan.erase.append((entry.author, target.entry_id))
        add = ctx.stored_adds.get(target.entry_id)
        if add is None or add.author != entry.author:
            continue
        chosen = set(target.items) if target.items is not None else None
        keep = []
        feed = ctx.feed(add.author)
        for ref in add.items:
            if chosen is None or ref.idx in chosen:
                term = item_digest(ref.signal_type, ref.value, add.author, add.entry_id, ref.idx)
                feed.remove(term)
                if ref.active:
                    ctx.digest.remove(term)
                    plan.deactivate.append(ref.item_id)
                    plan.deactivated_types[ref.signal_type] += 1
                else:
                    plan.withdraw_expired.append(ref.item_id)
            else:
                keep.append(ref)
        ctx.stored_adds[target.entry_id] = StoredAdd(
            add.cursor, add.entry_id, add.author, tuple(keep)
        )
