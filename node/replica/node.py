"""The node: its own feed, ingest of others' entries, matching and the views the API serves.

All validity decisions are the protocol's (``protocol.entry``, ``protocol.feed``); this class
sequences them against the store. One lock serialises writes, so the in-memory heads always
equal the store's.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from node import __version__
from node.clock import now_ms
from node.config import Config, load_config
from node.datadir import DataDir, load_case_secret, load_key
from node.errors import ConflictError, UnavailableError
from node.federation.staleness import HeadWatch
from node.matching.matcher import Match, Matcher, Query
from node.replica import keys
from node.replica.charters import CharterKeeper
from node.replica.decoder import Checked, Decoder
from node.store import plan as batch
from node.store.store import Store, StoredEntry
from protocol.bank import BankDigest, item_digest
from protocol.body import Body, Kind
from protocol.entry import Entry, decode_entry, sign_entry
from protocol.errors import ForkError, ProtocolError, UnauthorizedError
from protocol.feed import (
    FeedHead,
    ForkProof,
    KeyPolicy,
    Placement,
    SelfCertifying,
    place,
)
from protocol.identity import OrgId, SigningKey, org_id_for
from protocol.sync import HoldBack, Range

log = logging.getLogger("hashbank.node")
# Entries verified (and then written) per step of a pipelined ingest: small enough for the
# two stages to overlap, large enough that a commit's fsync is shared by many entries.
CHUNK_ENTRIES = 500
CHUNK_BYTES = 1024 * 1024
OWN_HEAD_WAIT_S = 10.0
# Chunks being checked (by the decode worker) while the one before them is written.
DECODE_AHEAD = 2


def rederive_prelude(
    author: bytes, purge_from: int | None, void: set[bytes]
) -> list[tuple[str, Sequence[object]]]:
    """Statements that clear an author's derived rows (and purged entries) before re-deriving."""
    statements: list[tuple[str, Sequence[object]]] = [
        (
            "DELETE FROM items WHERE entry_cursor IN (SELECT cursor FROM entries WHERE author = ?)",
            (author,),
        ),
        ("DELETE FROM revocations WHERE author = ?", (author,)),
        ("DELETE FROM feedback WHERE giver = ?", (author,)),
        ("DELETE FROM heads WHERE author = ?", (author,)),
        ("UPDATE entries SET void = 0 WHERE author = ?", (author,)),
    ]
    if purge_from is not None:
        statements.append(
            ("DELETE FROM entries WHERE author = ? AND seq >= ?", (author, purge_from))
        )
    statements += [("UPDATE entries SET void = 1 WHERE id = ?", (i,)) for i in sorted(void)]
    return statements


def _chunks(raws: Sequence[bytes]) -> list[Sequence[bytes]]:
    chunks: list[Sequence[bytes]] = []
    start, size = 0, 0
    for i, raw in enumerate(raws):
        if i > start and (i - start >= CHUNK_ENTRIES or size + len(raw) > CHUNK_BYTES):
            chunks.append(raws[start:i])
            start, size = i, 0
        size += len(raw)
    if start < len(raws):
        chunks.append(raws[start:])
    return chunks


@dataclass
class IngestReport:
    """What became of a batch of incoming entries."""

    stored: list[Entry] = field(default_factory=list)
    duplicates: int = 0
    held: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    forks: list[ForkProof] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def reject(self, exc: ProtocolError) -> None:
        """Count a rejected entry, keeping the first few messages."""
        self.rejected[exc.code] += 1
        if len(self.errors) < 10:
            self.errors.append(exc.message)


Listener = Callable[[Sequence[Entry], str | None], None]
ForkListener = Callable[[ForkProof, str | None], None]


class Node:
    """One hashbank node, bound to its data directory and store."""

    def __init__(
        self, data: DataDir, config: Config, key: SigningKey, store: Store, org: OrgId
    ) -> None:
        self.data = data
        self.config = config
        self.key = key
        self.case_secret = b""
        self.store = store
        self.org = org
        self.charters = CharterKeeper(self)
        self.matcher = Matcher()
        self.decoder = Decoder(config.decode_workers)
        self.heads: dict[bytes, FeedHead] = {}
        self.forked: dict[bytes, int] = {}
        self.holdback = HoldBack()
        self.watch = HeadWatch()
        self.rejections: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()
        self._write_lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._fork_listeners: list[ForkListener] = []
        self._self_certifying = SelfCertifying()
        # Set once a peer has shown us our own feed's head (or there are no peers): a node
        # restored from a backup must not sign a second entry at a seq it already used.
        self.own_head_confirmed = asyncio.Event()
        if not config.peers or not config.confirm_own_head:
            self.own_head_confirmed.set()

    @property
    def policy(self) -> KeyPolicy:
        """The charter's rules once one is adopted; self-certifying keys before."""
        return self.charters.policy or self._self_certifying

    @classmethod
    async def open(cls, data: DataDir, *, check: bool = True) -> Node:
        """Open the node in ``data``: configuration, key, store, and in-memory state."""
        data.require()
        config = load_config(data)
        key = load_key(data)
        store = await Store.open(data.store, create=True, check=check)
        org = OrgId(bytes.fromhex(config.org_id)) if config.org_id else org_id_for(key.public_key)
        node = cls(data, config, key, store, org)
        node.case_secret = load_case_secret(data)
        try:
            await node._load()
        except BaseException:
            await store.close()
            raise
        return node

    async def _load(self) -> None:
        await self.charters.load()
        self.heads = await self.store.heads()
        self.forked = {a: seq for a, (seq, _, _) in (await self.store.forks()).items()}
        await self.store.expire(now_ms())
        started = time.monotonic()
        how = await self.matcher.load(self.store, self.data.root / "pdq-index")
        log.info(
            "pdq index %s items=%d s=%.2f", how, len(self.matcher.pdq), time.monotonic() - started
        )

    async def close(self) -> None:
        """Save the PDQ index (so the next start loads instead of rebuilding), close the store."""
        try:
            await self.matcher.save(self.store, self.data.root / "pdq-index")
        except OSError as exc:
            log.warning("could not save the PDQ index: %s", exc)
        await self.decoder.close()
        await self.store.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(entries, source)`` for every batch newly stored; returns unsubscribe.

        ``source`` is the peer's node id the entries came from, or None (ours, an import).
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def subscribe_forks(self, listener: ForkListener) -> Callable[[], None]:
        """Call ``listener(proof, source)`` for every newly recorded fork proof."""
        self._fork_listeners.append(listener)
        return lambda: self._fork_listeners.remove(listener)

    # --- our own feed ----------------------------------------------------------------------

    async def publish(self, body: Body) -> Entry:
        """Sign ``body`` as our next entry and store it; returns once it is durable."""
        entry, _ = await self.publish_once(body, None)
        return entry

    async def publish_once(self, body: Body, idempotency_key: str | None) -> tuple[Entry, bool]:
        """Publish ``body`` unless ``idempotency_key`` was used before; (entry, newly published).

        A key already used returns the entry first published under it, so retries and resumed
        imports never publish twice; reusing a key for different content is a conflict.
        """
        if self.config.role == "subscriber" and body.kind is not Kind.FEEDBACK:
            raise UnauthorizedError(
                "this node is configured as a subscriber: it may publish feedback only"
            )
        await self._confirm_own_head()
        async with self._write_lock:
            if idempotency_key is not None:
                earlier = await self.store.idempotent_entry(idempotency_key)
                if earlier is not None:
                    entry = decode_entry(earlier.raw)
                    if entry.body != body:
                        raise ConflictError(
                            f"idempotency_key {idempotency_key!r} was used for different content"
                        )
                    return entry, False
            head = self.heads.get(self.org)
            seq = head.seq + 1 if head else 1
            entry = sign_entry(
                self._signing_key(seq),
                author=self.org,
                seq=seq,
                prev=head.entry_id if head else None,
                timestamp_ms=max(now_ms(), head.timestamp_ms if head else 0),
                body=body,
            )
            # Our own entries obey the same rules as everyone's: refuse rather than publish
            # something every other node would reject.
            self.policy.authorize(entry.header)
            policy = self.charters.policy
            if policy is not None and policy.is_void(entry.header):
                raise UnauthorizedError(f"a takedown covers this organisation's seq {seq}")
            extra = []
            if idempotency_key is not None:
                extra.append(
                    (
                        "INSERT INTO idempotency VALUES (?, ?, ?)",
                        (idempotency_key, entry.id, now_ms()),
                    )
                )
            await self._commit([entry], prelude=extra)
        self._notify([entry], None)
        return entry, True

    async def _confirm_own_head(self) -> None:
        try:
            await asyncio.wait_for(self.own_head_confirmed.wait(), OWN_HEAD_WAIT_S)
        except TimeoutError:
            raise UnavailableError(
                "no peer has confirmed this organisation's latest entry yet; refusing to "
                "publish so a node restored from a backup cannot fork its own feed"
            ) from None

    def _signing_key(self, seq: int) -> SigningKey:
        """Our key for ``seq``: the charter decides; a pending rotation blocks publishing."""
        chain = self.charters.chain
        if keys.pending_key(self.data) is not None:
            raise ConflictError(
                "a key rotation is pending: publishing resumes once a charter version "
                "listing the new key is adopted"
            )
        if chain is None:
            return self.key
        member = chain.last_listing(self.org)
        expected = member.key_at(seq) if member else None
        if expected != self.key.public_key.raw:
            raise UnauthorizedError(
                f"the charter does not list this node's key for this organisation at seq {seq}"
            )
        return self.key

    def adopt_rotated_key(self) -> bool:
        """Switch to the pending key once the charter lists it as our current key."""
        chain = self.charters.chain
        member = chain.last_listing(self.org) if chain else None
        pending = keys.pending_key(self.data)
        if member is None or pending is None or member.current_key != pending.public_key.raw:
            return False
        self.key = keys.promote(self.data)
        log.info("key rotated node_id=%s", self.key.public_key)
        return True

    # --- entries from elsewhere ------------------------------------------------------------

    async def ingest(
        self, raws: Sequence[bytes], *, source: str, wait_index: bool = True
    ) -> IngestReport:
        """Validate and store entries from a peer or an import; never raises for bad entries.

        Large batches are pipelined in chunks: while one chunk is written, the next ones are
        checked by ``node.decoder`` (in a worker process when one is configured). With
        ``wait_index`` False (gossip), stored entries become matchable a moment after this
        returns, as the index catches up on its own thread.
        """
        report = IngestReport()
        chunks = _chunks(raws)
        accepted: list[Entry] = []
        pending = collections.deque(self._check_soon(c, report) for c in chunks[:DECODE_AHEAD])
        try:
            for k in range(len(chunks)):
                decoded, sums = await pending.popleft()
                if k + DECODE_AHEAD < len(chunks):
                    pending.append(self._check_soon(chunks[k + DECODE_AHEAD], report))
                async with self._write_lock:
                    placed = await self._place_all(decoded, report)
                    if placed:
                        await self._commit(placed, wait_index=wait_index, digest_sums=sums)
                        accepted += placed
        finally:
            for check in pending:  # this ingest was cancelled or failed: stop checking ahead
                check.cancel()
        report.stored = accepted
        for code, n in report.rejected.items():
            self.rejections[code] += n
        if report.rejected:
            log.warning("rejected entries source=%s %s", source, dict(report.rejected))
        if accepted:
            self._notify(accepted, source)
        return report

    def _check_soon(
        self, raws: Sequence[bytes], report: IngestReport
    ) -> asyncio.Future[tuple[list[Entry], dict[bytes, int]]]:
        async def work() -> tuple[list[Entry], dict[bytes, int]]:
            entries: list[Entry] = []
            sums: dict[bytes, int] = {}
            for outcome in await self.decoder.check(raws, now_ms()):
                if not isinstance(outcome, Checked):
                    report.reject(outcome)
                    continue
                try:
                    self.policy.authorize(outcome.entry.header)
                except ProtocolError as exc:
                    report.reject(exc)
                    continue
                entries.append(outcome.entry)
                if outcome.digest_sum is not None:
                    sums[outcome.entry.id] = outcome.digest_sum
            return entries, sums

        return asyncio.ensure_future(work())

    async def _place_all(self, entries: list[Entry], report: IngestReport) -> list[Entry]:
        accepted: list[Entry] = []
        heads = dict(self.heads)
        # Entries placed in this batch are not in the store yet; a later entry of the batch at
        # the same author and seq (a repeat, or a fork) is judged against them.
        batch: dict[tuple[bytes, int], Entry] = {}
        for entry in sorted(entries, key=lambda e: (e.author, e.seq)):
            for ready in await self._place_one(entry, heads, report, batch):
                accepted.append(ready)
        return accepted

    async def _place_one(
        self,
        entry: Entry,
        heads: dict[bytes, FeedHead],
        report: IngestReport,
        batch: dict[tuple[bytes, int], Entry],
    ) -> list[Entry]:
        """Place one entry; returns it and any held successors it releases."""
        if entry.author in self.forked:
            report.rejected["forked_author"] += 1
            return []
        try:
            placement = await self._placement(entry, heads.get(entry.author), batch)
        except ForkError as exc:
            if isinstance(exc.proof, ForkProof):
                await self.record_fork(exc.proof)
                report.forks.append(exc.proof)
            return []
        except ProtocolError as exc:
            report.rejected[exc.code] += 1
            return []
        if placement is Placement.DUPLICATE:
            report.duplicates += 1
            return []
        if placement is Placement.AHEAD:
            report.held += int(self.holdback.hold(entry))
            return []
        heads[entry.author] = FeedHead.of(entry)
        batch[(entry.author, entry.seq)] = entry
        out = [entry]
        for successor in self.holdback.release(entry.author, entry.seq + 1):
            out += await self._place_one(successor, heads, report, batch)
        return out

    async def _placement(
        self, entry: Entry, head: FeedHead | None, batch: dict[tuple[bytes, int], Entry]
    ) -> Placement:
        stored = None
        if head is not None and entry.seq <= head.seq:
            row = await self.store.entry_at(entry.author, entry.seq)
            if row is not None and row.id == entry.id:
                return Placement.DUPLICATE
            stored = (
                decode_entry(row.raw) if row is not None else batch.get((entry.author, entry.seq))
            )
        return place(entry, head, stored)

    async def record_fork(self, proof: ForkProof, source: str | None = None) -> bool:
        """Store a (verified) fork proof and stop accepting the author; True if it is new."""
        self.forked.setdefault(proof.author, proof.seq)
        if not await self.store.add_fork(proof.author, proof.seq, proof.encode(), now_ms()):
            return False
        log.error("fork author=%s seq=%d source=%s", proof.author.hex(), proof.seq, source)
        for listener in list(self._fork_listeners):
            try:
                listener(proof, source)
            except Exception:
                log.exception("fork listener failed")
        return True

    async def _commit(
        self,
        entries: list[Entry],
        prelude: Sequence[tuple[str, Sequence[object]]] = (),
        *,
        wait_index: bool = True,
        digest_sums: Mapping[bytes, int] | None = None,
    ) -> None:
        ctx = await self.store.context_for(entries)
        policy = self.charters.policy
        void = {e.id for e in entries if policy and policy.is_void(e.header)}
        plan = batch.plan_batch(entries, ctx, now_ms(), void=void, digest_sums=digest_sums)
        await self.store.write(plan, ctx, prelude=prelude)
        for entry in entries:
            self.heads[entry.author] = FeedHead.of(entry)
        applied = self.matcher.apply_soon(
            plan.pdq_ids, plan.pdq_values, plan.deactivate, urgent=wait_index
        )
        # Entries from peers become matchable a moment after they are durable (the index
        # catches up on its own thread); our own publications are matchable on return.
        if wait_index:
            await applied

    def _notify(self, entries: Sequence[Entry], source: str | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(entries, source)
            except Exception:  # a faulty listener must not undo a committed write
                log.exception("listener failed")

    # --- charter conformance ---------------------------------------------------------------

    async def conform(self, authors: Iterable[bytes]) -> None:
        """Bring the stored feeds of ``authors`` in line with the charter just adopted.

        Entries the charter no longer allows (signed by a retired key, after a removal, outside
        a role) are purged with everything after them in that feed; entries a takedown covers
        stay in the chain but count for nothing. The author's share of the bank is then
        re-derived in one transaction.
        """
        self.adopt_rotated_key()
        async with self._write_lock:
            for author in sorted(set(authors) & set(self.heads)):
                await self._rederive(author)

    async def _rederive(self, author: bytes) -> None:
        rows = await self.store.author_entries(author)
        kept: list[tuple[int, Entry]] = []
        for row in rows:
            entry = decode_entry(row.raw)
            try:
                self.policy.authorize(entry.header)
            except UnauthorizedError as exc:
                log.warning("purging author=%s from seq=%d: %s", author.hex(), row.seq, exc)
                break
            kept.append((row.cursor, entry))
        purge_from = rows[len(kept)].seq if len(kept) < len(rows) else None
        policy = self.charters.policy
        void = {e.id for _, e in kept if policy and policy.is_void(e.header)}
        removed = await self.store.active_items_of(author)
        digest = BankDigest(self.store.digest.count, self.store.digest.total)
        for _, sig, value, entry_id, idx in removed:
            digest.remove(item_digest(sig, value, author, entry_id, idx))
        next_cursor, next_item = self.store.next_ids()
        entries = [e for _, e in kept]
        ctx = batch.Context(next_cursor, next_item, digest, targets=batch.revoke_targets(entries))
        plan = batch.plan_batch(entries, ctx, now_ms(), cursors=[c for c, _ in kept], void=void)
        prelude = rederive_prelude(author, purge_from, void)
        await self.store.write(plan, ctx, include_entries=False, prelude=prelude)
        if kept:
            self.heads[author] = FeedHead.of(kept[-1][1])
        else:
            self.heads.pop(author, None)
        await self.matcher.apply_soon(plan.pdq_ids, plan.pdq_values, [r[0] for r in removed])

    # --- upkeep ----------------------------------------------------------------------------

    async def expire(self) -> int:
        """Deactivate expired items; returns how many."""
        async with self._write_lock:
            gone = await self.store.expire(now_ms())
            await self.matcher.apply_soon([], [], gone)
        return len(gone)

    def gaps(self) -> list[Range]:
        """Ranges to fetch so that held entries can be placed."""
        return self.holdback.gaps({a: h.seq for a, h in self.heads.items()})

    def _charter_status(self) -> dict[str, object] | None:
        latest = self.charters.latest
        if latest is None:
            return None
        me = latest.body.member(self.org)
        return {
            "network": latest.body.network,
            "version": latest.number,
            "members": len(latest.body.members),
            "roles": list(me.roles) if me else [],
        }

    # --- reading ---------------------------------------------------------------------------

    async def match(self, queries: Sequence[Query], threshold: int) -> list[list[Match]]:
        return await self.matcher.match(self.store, queries, threshold)

    async def entry(self, entry_id: bytes) -> StoredEntry | None:
        return await self.store.entry_by_id(entry_id)

    async def status(self) -> dict[str, object]:
        counts = await self.store.counts()
        return {
            "node_id": str(self.key.public_key),
            "org_id": self.org.hex(),
            "name": self.config.name,
            "role": self.config.role,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "bank_digest": self.store.digest.value().hex(),
            **counts,
            "pdq_indexed": len(self.matcher.pdq),
            "forks": [{"author": a.hex(), "seq": s} for a, s in sorted(self.forked.items())],
            "rejected": dict(self.rejections),
            "charter": self._charter_status(),
            "held": len(self.holdback),
            **await self._feeds_status(),
        }

    async def _feeds_status(self) -> dict[str, object]:
        """Every author's head and when it last advanced here; authors seen further ahead."""
        advanced = await self.store.head_times()
        names = self._member_names()
        ours = {a: h.seq for a, h in self.heads.items()}
        best = self.watch.best
        return {
            "feeds": [
                {
                    "author": a.hex(),
                    "name": names.get(a),
                    "seq": h.seq,
                    "advanced_ms": advanced.get(a),
                    "seen_seq": best[a].seq if a in best else None,
                }
                for a, h in sorted(self.heads.items())
            ],
            "behind": [
                {
                    "author": a.hex(),
                    "name": names.get(a),
                    "seq": seq,
                    "seen_seq": s.seq,
                    "seen_at": s.peer,
                    "since_ms": s.since_ms,
                }
                for a, seq, s in self.watch.behind(ours)
            ],
        }

    def _member_names(self) -> dict[bytes, str]:
        chain = self.charters.chain
        if chain is None:
            return {self.org: self.config.name}
        return {m.org_id: m.name for c in chain.versions for m in c.body.members}
