"""Our own feed: signing and storing this organisation's entries.

Our entries obey the same rules as everyone's: the node refuses to publish what every other
node would reject (a role the charter does not give us, a key it does not list, a seq a
takedown covers, a feed a fork suspends), and refuses to sign at all until a peer has shown it
its own feed's head, so a node restored from a backup never forks its own feed. After a
takedown that ends, our next entry goes to the first seq after it (docs/protocol.md §8.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from node.clock import Clock
from node.matching.matcher import Matcher, Query
from node.replica.charters import CharterKeeper
from node.replica.errors import (
    BadRequestError,
    ConflictError,
    NotInBankError,
    NotOursError,
    UnavailableError,
    UnknownEntryError,
)
from node.replica.events import EntriesStored, Events
from node.replica.feeds import Feeds
from node.replica.junk import Candidate, NeverPublish
from node.replica.keys import KeyRing
from node.replica.lookup import Lookup
from node.store import Store, Transaction
from protocol.body import (
    AddBody,
    Body,
    FeedbackBody,
    Kind,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
)
from protocol.entry import Entry, decode_entry, sign_entry
from protocol.errors import UnauthorizedError
from protocol.identity import OrgId, SigningKey
from protocol.membership import CharterPolicy, utc
from protocol.signals import signal_type

OWN_HEAD_WAIT_S = 10.0
# Writes that must land in the same transaction as a newly signed entry (a case link, say).
Also = Callable[[Transaction, Entry], Awaitable[None]]
Same = Callable[[Body, Body], bool]


@dataclass(frozen=True, slots=True)
class Published:
    """An entry of ours, and whether this call published it (False: an earlier call did)."""

    entry: Entry
    fresh: bool


class Publisher:
    """Signs, stores and announces this organisation's entries."""

    def __init__(
        self,
        *,
        org: OrgId,
        subscriber: bool,
        keys: KeyRing,
        store: Store,
        feeds: Feeds,
        charters: CharterKeeper,
        matcher: Matcher,
        events: Events,
        clock: Clock,
        own_head_confirmed: asyncio.Event,
        never_publish: NeverPublish,
    ) -> None:
        self.org = org
        self.subscriber = subscriber
        self.keys = keys
        self.store = store
        self.feeds = feeds
        self.charters = charters
        self.matcher = matcher
        self.events = events
        self.clock = clock
        self.own_head_confirmed = own_head_confirmed
        self.never_publish = never_publish

    async def publish(
        self,
        body: Body,
        idempotency_key: str | None = None,
        *,
        also: Also | None = None,
        same: Same | None = None,
    ) -> Published:
        """Sign ``body`` as our next entry and store it; returns once durable and matchable.

        A key already used returns the entry first published under it, so retries and resumed
        imports never publish twice; reusing a key for different content is a conflict.
        ``also`` writes, in the same transaction, what belongs with the new entry; ``same``
        decides whether an earlier body is "the same content" (default: equal bodies).
        """
        if self.subscriber and body.kind is not Kind.FEEDBACK:
            raise UnauthorizedError(
                "this node is configured as a subscriber: it may publish feedback only"
            )
        if isinstance(body, AddBody):  # the last gate, whichever way the hashes came
            self.never_publish.check(
                Candidate(f"items[{i}]", item.signal_type, item.value)
                for i, item in enumerate(body.items)
            )
        await self._confirm_own_head()

        async def work(txn: Transaction) -> Published:
            if idempotency_key is not None:
                earlier = await txn.idempotent_entry(idempotency_key)
                if earlier is not None:
                    return _repeat(decode_entry(earlier.raw), body, idempotency_key, same)
            entry = self._sign_next(body)
            plan = await self.feeds.write(txn, [entry], self.clock.now_ms())
            if idempotency_key is not None:
                await txn.remember_idempotency(idempotency_key, entry.id, self.clock.now_ms())
            if also is not None:
                await also(txn, entry)
            txn.on_commit(lambda: self.feeds.committed([entry]))
            txn.on_commit(
                lambda: indexed.append(
                    self.matcher.apply_soon(plan.pdq_ids, plan.pdq_values, plan.deactivate)
                )
            )
            return Published(entry, True)

        indexed: list[asyncio.Future[None]] = []
        published = await self.store.transaction(work)
        if published.fresh:
            await indexed[0]  # our own publications are matchable on return
            self.events.emit(EntriesStored([published.entry], None))
        return published

    async def revoke(
        self,
        entry_id: bytes,
        items: tuple[int, ...] | None,
        reason: RevokeReason,
        *,
        erase: bool = False,
        also: Also | None = None,
    ) -> Entry:
        """Withdraw one of our add entries, whole or some of its items; with ``erase``, also
        have every node drop its body (an add or a feedback entry, whole)."""
        stored = await self.store.entry_by_id(entry_id)
        if stored is None:
            raise UnknownEntryError(f"no entry {entry_id.hex()}")
        if stored.author != self.org:
            raise NotOursError(f"entry {entry_id.hex()} was published by another organisation")
        if erase:
            return await self._erase(entry_id, stored.kind, stored.erased, items, reason)
        if stored.kind is not Kind.ADD:
            raise BadRequestError(
                f"entry {entry_id.hex()} is a {stored.kind.name.lower()}, not an add"
            )
        rows = await self.store.items_of_entry(entry_id)
        if items is not None and items[-1] >= len(rows):
            raise BadRequestError(
                f"entry {entry_id.hex()} has {len(rows)} items; there is no item {items[-1]}"
            )
        chosen = rows if items is None else [rows[i] for i in items]
        if not any(r.active for r in chosen):
            raise ConflictError(f"entry {entry_id.hex()}: those items are already withdrawn")
        body = RevokeBody((RevokeTarget(entry_id, items),), reason)
        return (await self.publish(body, also=also)).entry

    async def _erase(
        self,
        entry_id: bytes,
        kind: Kind,
        erased: bool,
        items: tuple[int, ...] | None,
        reason: RevokeReason,
    ) -> Entry:
        if items is not None:
            raise BadRequestError("an erasing revoke names whole entries: leave out items")
        if kind is Kind.REVOKE:
            raise BadRequestError(f"entry {entry_id.hex()} is a revoke: its body is never erased")
        if erased:
            raise ConflictError(f"entry {entry_id.hex()}: its body is erased already")
        body = RevokeBody((RevokeTarget(entry_id, None),), reason, erase=True)
        return (await self.publish(body)).entry

    async def feedback(self, body: FeedbackBody) -> Entry:
        """Publish a verdict on a hash of the bank (of the entry it names, if it names one).

        A hash in no entry is refused: a verdict is gossiped to every member, so a platform's
        own upload's hash, sent by mistake, would otherwise reach the whole network.
        """
        await self._check_in_bank(body)
        return (await self.publish(body)).entry

    async def _check_in_bank(self, body: FeedbackBody) -> None:
        shown = f"{body.signal_type} {body.value.hex()}"
        if body.entry_id is not None:
            if await self.store.entry_by_id(body.entry_id) is None:
                raise UnknownEntryError(f"no entry {body.entry_id.hex()}")
            items = await self.store.items_of_entry(body.entry_id)
            if not any((i.signal_type, i.value) == (body.signal_type, body.value) for i in items):
                raise NotInBankError(
                    f"entry {body.entry_id.hex()} holds no {shown}: feedback is about a hash "
                    "of the entry it names (the value the match showed, not your own file's)"
                )
            return
        query = Query(signal_type(body.signal_type), body.value)
        [matches] = await Lookup(self.store, self.matcher).match([query], 0)
        if not matches:
            raise NotInBankError(
                f"{shown} is in no active entry of the bank: feedback is only sent about "
                "hashes in the bank (the value a match showed, with its entry_id)"
            )

    # --- signing ---------------------------------------------------------------------------

    def _sign_next(self, body: Body) -> Entry:
        head = self.feeds.heads.get(self.org)
        seq = self._next_seq(head.seq if head else 0)
        entry = sign_entry(
            self._signing_key(seq),
            author=self.org,
            seq=seq,
            # After taken-down seqs prev is not checked; with no head it still has to be bytes.
            prev=head.entry_id if head else (None if seq == 1 else bytes(32)),
            timestamp_ms=max(self.clock.now_ms(), head.timestamp_ms if head else 0),
            body=body,
        )
        self.charters.policy.authorize(entry.header)
        return entry

    def _next_seq(self, head_seq: int) -> int:
        """The seq of our next entry: after our head, and after any takedown that covers it."""
        fork = self.feeds.forked.get(self.org)
        if fork is not None:
            raise ConflictError(
                f"this organisation's feed is forked at seq {fork}: every node refuses its "
                "entries from there on until the stewards take down the forked seqs (and "
                "rotate its key, if it may be in other hands); see the operator guide"
            )
        policy = self.charters.charter_policy
        seq = head_seq + 1
        if policy is None:
            return seq
        open_seq = policy.next_open_seq(self.org, seq)
        if open_seq is None:
            raise UnauthorizedError(_feed_closed(policy, self.org, seq))
        return open_seq

    def _signing_key(self, seq: int) -> SigningKey:
        """Our key for ``seq``: the charter decides; a pending rotation blocks publishing."""
        if self.keys.pending() is not None:
            raise ConflictError(
                "a key rotation is pending: publishing resumes once a charter version "
                "listing the new key is adopted"
            )
        chain = self.charters.chain
        if chain is None:
            return self.keys.current
        member = chain.last_listing(self.org)
        expected = member.key_at(seq) if member else None
        if expected != self.keys.current.public_key.raw:
            raise UnauthorizedError(
                f"the charter does not list this node's key for this organisation at seq {seq}"
            )
        return self.keys.current

    async def _confirm_own_head(self) -> None:
        try:
            await asyncio.wait_for(self.own_head_confirmed.wait(), OWN_HEAD_WAIT_S)
        except TimeoutError:
            raise UnavailableError(
                "no peer has confirmed this organisation's latest entry yet; refusing to "
                "publish so a node restored from a backup cannot fork its own feed"
            ) from None


def _repeat(entry: Entry, body: Body, key: str, same: Same | None) -> Published:
    if entry.body is None or not (same(entry.body, body) if same else entry.body == body):
        raise ConflictError(f"idempotency_key {key!r} was used for different content")
    return Published(entry, False)


def _feed_closed(policy: CharterPolicy, org: bytes, seq: int) -> str:
    """Why every node refuses our entries from ``seq`` on, for the operator who publishes."""
    removal = policy.removal(org)
    if removal is None:
        return f"a takedown covers this organisation's seq {seq} on"
    # Removing a member closes its feed with a takedown; the removal is what the operator
    # needs to hear, with the version and its date to take up with the stewards.
    return (
        f"this organisation is no longer a member: charter version {removal.number}, in effect "
        f"from {utc(removal.body.effective_ms)}, removed it, so every node refuses its entries "
        f"from seq {seq} on"
    )
