"""Bringing a stored feed in line with a newly adopted charter version, or a fork.

Entries the charter no longer allows (signed by a retired key, after a removal, outside a
role) are purged with everything after them in that feed; entries a takedown covers, and
entries a fork suspends, stay in the chain but count for nothing. Whether a body-less copy is
erased or incomplete is judged again (a takedown is an erasure authority). The author's share
of the bank is then re-derived, inside the transaction that adopts the version or keeps the
proof, and every item that left or re-entered the active set is recorded in the change feed,
so subscribers following it drop (or take back) exactly those.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from node.logs import untrusted
from node.store import ActiveItem, ChangeReason, Transaction
from node.store import plan as planning
from node.store.transaction import digest_without
from protocol.charter import CharterBody
from protocol.entry import Entry, decode_entry
from protocol.errors import UnauthorizedError
from protocol.feed import FeedHead, KeyPolicy
from protocol.membership import CharterPolicy

log = logging.getLogger("hashbank.charter")


@dataclass(frozen=True, slots=True)
class Rederived:
    """One author's feed after re-derivation: its head, and the index changes to apply."""

    author: bytes
    head: FeedHead | None
    pdq_ids: list[int]
    pdq_values: list[bytes]
    removed: list[int]
    moved: int = 0  # items that left or re-entered the active set (in the change feed)


async def rederive(
    txn: Transaction, author: bytes, policy: KeyPolicy, now_ms: int, fork_seq: int | None = None
) -> Rederived:
    """Re-judge ``author``'s stored feed under ``policy`` (and its fork seq, if it has one) and
    rewrite its derived rows."""
    rows = await txn.author_entries(author)
    kept: list[tuple[int, Entry]] = []
    for row in rows:
        entry = decode_entry(row.raw)
        try:
            policy.authorize(entry.header)
        except UnauthorizedError as exc:
            # A member signed this entry: what the refusal quotes of it is theirs, not ours.
            log.warning(
                "purging author=%s from seq=%d: %s", author.hex(), row.seq, untrusted(exc.message)
            )
            break
        kept.append((row.cursor, entry))
    purge_from = rows[len(kept)].seq if len(kept) < len(rows) else None
    entries = [e for _, e in kept]
    covered = {e.id for e in entries if policy.covered(author, e.seq, e.seq)}
    suspended = {e.id for e in entries if fork_seq is not None and e.seq >= fork_seq}
    removed = await txn.active_items_of(author)
    digest = digest_without(txn.counters.digest, removed)
    await txn.clear_author(author, purge_from, covered | suspended, digest)
    c = txn.counters
    ctx = planning.Context(
        c.next_cursor, c.next_item_id, digest, targets=planning.revoke_targets(entries)
    )
    plan = planning.plan_batch(
        entries,
        ctx,
        now_ms,
        cursors=[c for c, _ in kept],
        void=covered | suspended,
        erasable=covered,
    )
    await txn.write_plan(plan, ctx, include_entries=False)
    purged = {r.id for r in rows[len(kept) :]}
    version = policy.chain.latest.number if isinstance(policy, CharterPolicy) else None
    why = ChangeReason.FORK if fork_seq is not None and not covered else ChangeReason.TAKEDOWN
    moved = await record_changes(txn, author, removed, purged, version, now_ms, why)
    head = FeedHead.of(entries[-1]) if entries else None
    return Rederived(
        author, head, plan.pdq_ids, plan.pdq_values, [r.item_id for r in removed], moved
    )


async def record_changes(
    txn: Transaction,
    author: bytes,
    before: list[ActiveItem],
    purged: set[bytes],
    version: int | None,
    now_ms: int,
    why: ChangeReason = ChangeReason.TAKEDOWN,
) -> int:
    """Record what re-derivation moved out of (or back into) ``author``'s active items, by
    charter ``version``; returns how many items moved."""
    after = await txn.active_items_of(author)
    was = {(it.entry_id, it.idx) for it in before}
    now = {(it.entry_id, it.idx) for it in after}
    gone = [it for it in before if (it.entry_id, it.idx) not in now]
    back = [it for it in after if (it.entry_id, it.idx) not in was]
    reasons: dict[ChangeReason, list[ActiveItem]] = {}
    for it in gone:
        reasons.setdefault(_why_gone(it, purged, now_ms, why), []).append(it)
    for reason, items in reasons.items():
        charter = version if reason is not ChangeReason.EXPIRY else None
        await txn.record_withdrawn(items, reason, now_ms, charter)
    await txn.record_restored(back, why, now_ms, version)
    return len(gone) + len(back)


def _why_gone(
    item: ActiveItem, purged: set[bytes], now_ms: int, otherwise: ChangeReason
) -> ChangeReason:
    if item.entry_id in purged:
        return ChangeReason.PURGE
    if item.expires_ms is not None and item.expires_ms <= now_ms:
        return ChangeReason.EXPIRY  # expired since the last sweep; re-deriving noticed first
    return otherwise


def affected(before: CharterBody, after: CharterBody) -> set[bytes]:
    """Organisations whose entries a new version may judge differently."""
    orgs: set[bytes] = {m.org_id for m in before.members} | {m.org_id for m in after.members}
    changed = {o for o in orgs if before.member(o) != after.member(o)}
    takedowns_before = {(t.org_id, t.from_seq, t.until_seq) for t in before.takedowns}
    takedowns_after = {(t.org_id, t.from_seq, t.until_seq) for t in after.takedowns}
    changed |= {t[0] for t in takedowns_before ^ takedowns_after}
    return changed
