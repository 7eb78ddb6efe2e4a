"""Turn a batch of validated entries into the rows one store transaction writes.

The merge rules are ``protocol.bank``'s; this module applies them to the store's tables, with
everything it needs read up front, so a batch of a thousand entries is a handful of
``executemany`` calls rather than thousands of round trips to the database thread.
"""

from __future__ import annotations

import collections
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

from protocol.bank import BankDigest, is_live, item_digest, withdrawn
from protocol.body import AddBody, FeedbackBody, HashItem, RevokeBody
from protocol.entry import Entry
from protocol.signals import PDQ

# SQLite integers are signed 64-bit; a later expiry (the protocol allows any uint64, and this is
# some 292 million years away) is stored as this, which means the same: never in practice.
MAX_STORED_EXPIRY_MS = 2**63 - 1
PDQ_NAME = PDQ.name


@dataclass(frozen=True, slots=True)
class ItemRef:
    """An item row the batch may deactivate."""

    item_id: int
    entry_cursor: int
    idx: int
    signal_type: str
    value: bytes


@dataclass(frozen=True, slots=True)
class StoredAdd:
    """An add entry already in the store, as a revoke in this batch may target it."""

    cursor: int
    entry_id: bytes
    author: bytes
    items: tuple[ItemRef, ...]  # its currently active items


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


@dataclass
class Plan:
    """Rows to write and the effects to apply to in-memory state after commit."""

    entries: list[tuple[object, ...]] = field(default_factory=list)
    heads: list[tuple[object, ...]] = field(default_factory=list)
    items: list[tuple[object, ...]] = field(default_factory=list)
    revocations: list[tuple[object, ...]] = field(default_factory=list)
    feedback: list[tuple[object, ...]] = field(default_factory=list)
    deactivate: list[int] = field(default_factory=list)
    deactivated_types: collections.Counter[str] = field(default_factory=collections.Counter)
    activated_types: collections.Counter[str] = field(default_factory=collections.Counter)
    # PDQ items that became active, for the matching index (flat, so a bulk sync's million
    # rows reach numpy without a tuple each).
    pdq_ids: list[int] = field(default_factory=list)
    pdq_values: list[bytes] = field(default_factory=list)


def revoke_targets(entries: Iterable[Entry]) -> set[bytes]:
    """Entry ids the batch's revokes aim at (to read their stored items first)."""
    return {t.entry_id for e in entries if isinstance(e.body, RevokeBody) for t in e.body.targets}


def plan_batch(
    entries: Sequence[Entry],
    ctx: Context,
    now_ms: int,
    cursors: Sequence[int] | None = None,
    void: Container[bytes] = (),
    digest_sums: Mapping[bytes, int] | None = None,
) -> Plan:
    """Plan the rows for ``entries`` (already validated and placed, in feed order).

    ``cursors`` gives stored entries their existing cursors (``hashbank rebuild``); entries
    whose id is in ``void`` (a takedown covers them) are kept in the chain with no effect.
    ``digest_sums`` holds ``protocol.hazmat.digest_sum`` of adds, where already computed.
    """
    sums = digest_sums or {}
    plan = Plan()
    # Only each author's furthest entry moves its head: one row per author, not per entry.
    heads: dict[bytes, tuple[int, Entry]] = {}
    for n, entry in enumerate(entries):
        cursor = ctx.next_cursor if cursors is None else cursors[n]
        ctx.next_cursor = max(ctx.next_cursor, cursor + 1)
        header, author, body = entry.header, entry.header.author, entry.body
        voided = entry.id in void
        plan.entries.append(_entry_row(entry, cursor, now_ms, voided))
        if header.seq > heads.get(author, (0, entry))[0]:
            heads[author] = (header.seq, entry)
        if voided:
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


def _entry_row(entry: Entry, cursor: int, now_ms: int, voided: bool) -> tuple[object, ...]:
    """The ``entries`` row of ``entry`` (an erased entry has no body)."""
    header = entry.header
    return (
        cursor,
        entry.id,
        header.author,
        header.seq,
        int(header.kind),
        header.timestamp_ms,
        now_ms,
        entry.raw,
        int(entry.body is None),
        int(voided),
    )


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
                ItemRef(first_id + i, cursor, i, it.signal_type, it.value)
                for i, it in enumerate(items)
                if gone is not None and i not in gone and is_live(it, now_ms)
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
            repeat(1),
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
    total, count = 0, 0
    for idx, item in enumerate(items):
        item_id = first_id + idx
        active = gone is not None and idx not in gone and is_live(item, now_ms)
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
                int(active),
            )
        )
        if active:
            total += item_digest(item.signal_type, item.value, author, entry_id, idx)
            count += 1
            plan.activated_types[item.signal_type] += 1
            if item.signal_type == PDQ_NAME:
                plan.pdq_ids.append(item_id)
                plan.pdq_values.append(item.value)
    ctx.digest.add_many(count, total)


def _plan_revoke(entry: Entry, body: RevokeBody, cursor: int, ctx: Context, plan: Plan) -> None:
    for target in body.targets:
        items_text = None if target.items is None else ",".join(map(str, target.items))
        plan.revocations.append(
            (target.entry_id, cursor, entry.author, items_text, int(body.reason))
        )
        ctx.revocations.setdefault(target.entry_id, []).append((entry.author, target.items))
        add = ctx.stored_adds.get(target.entry_id)
        if add is None or add.author != entry.author:
            continue
        chosen = set(target.items) if target.items is not None else None
        keep = []
        for ref in add.items:
            if chosen is None or ref.idx in chosen:
                ctx.digest.remove(
                    item_digest(ref.signal_type, ref.value, add.author, add.entry_id, ref.idx)
                )
                plan.deactivate.append(ref.item_id)
                plan.deactivated_types[ref.signal_type] += 1
            else:
                keep.append(ref)
        ctx.stored_adds[target.entry_id] = StoredAdd(
            add.cursor, add.entry_id, add.author, tuple(keep)
        )
