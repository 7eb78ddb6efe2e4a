"""Bringing a stored feed in line with a newly adopted charter version, or a fork.

Entries the charter no longer allows (signed by a retired key, after a removal, outside a
role) are purged with everything after them in that feed; entries a takedown covers, and
entries a fork suspends, stay in the chain but count for nothing. Whether a body-less copy is
erased or incomplete is judged again (a takedown is an erasure authority). The author's share
of the bank is then re-derived, inside the transaction that adopts the version or keeps the
proof.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from node.store import Transaction
from node.store import plan as planning
from node.store.transaction import digest_without
from protocol.charter import CharterBody
from protocol.entry import Entry, decode_entry
from protocol.errors import UnauthorizedError
from protocol.feed import FeedHead, KeyPolicy

log = logging.getLogger("hashbank.charter")


@dataclass(frozen=True, slots=True)
class Rederived:
    """One author's feed after re-derivation: its head, and the index changes to apply."""

    author: bytes
    head: FeedHead | None
    pdq_ids: list[int]
    pdq_values: list[bytes]
    removed: list[int]


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
            log.warning("purging author=%s from seq=%d: %s", author.hex(), row.seq, exc)
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
    head = FeedHead.of(entries[-1]) if entries else None
    return Rederived(author, head, plan.pdq_ids, plan.pdq_values, [r.item_id for r in removed])


def affected(before: CharterBody, after: CharterBody) -> set[bytes]:
    """Organisations whose entries a new version may judge differently."""
    orgs: set[bytes] = {m.org_id for m in before.members} | {m.org_id for m in after.members}
    changed = {o for o in orgs if before.member(o) != after.member(o)}
    takedowns_before = {(t.org_id, t.from_seq, t.until_seq) for t in before.takedowns}
    takedowns_after = {(t.org_id, t.from_seq, t.until_seq) for t in after.takedowns}
    changed |= {t[0] for t in takedowns_before ^ takedowns_after}
    return changed
