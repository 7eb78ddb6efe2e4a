"""The node's charter chain: adopting versions, and bringing stored feeds in line with them.

The rules are ``protocol.charter`` / ``protocol.membership``; this module keeps the chain in
the store. A version is adopted in one transaction with the re-derivation of every feed it
judges differently (``node.replica.conform``) — its fork proofs judged again too
(``node.replica.forks``): a takedown resolves a fork, a rotation retires or invalidates its
proof — and the chain in memory moves only when that transaction commits, so a version can
never be "known" here yet missing on disk.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.clock import Clock
from node.matching.matcher import Matcher
from node.replica import forks
from node.replica.conform import Rederived, affected, rederive
from node.replica.events import CharterAdopted, Events, ItemsChanged
from node.replica.feeds import Feeds
from node.replica.keys import KeyRing
from node.store import Store, Transaction
from protocol.charter import Charter, decode_charter
from protocol.errors import CharterError, CharterForkError, ProtocolError
from protocol.feed import KeyPolicy, SelfCertifying
from protocol.identity import OrgId
from protocol.membership import CharterChain, CharterPolicy, Offer

log = logging.getLogger("hashbank.charter")


@dataclass
class CharterReport:
    """What became of offered charter versions."""

    appended: list[int] = field(default_factory=list)
    known: int = 0
    forks: list[int] = field(default_factory=list)
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)

    def reject(self, exc: ProtocolError) -> None:
        self.rejected[exc.code] += 1
        if len(self.errors) < 10:
            self.errors.append(exc.message)


class CharterKeeper:
    """The chain this node enforces (None until its operator adopts a genesis)."""

    def __init__(
        self,
        *,
        org: OrgId,
        store: Store,
        feeds: Feeds,
        matcher: Matcher,
        keys: KeyRing,
        events: Events,
        clock: Clock,
    ) -> None:
        self.org = org
        self.store = store
        self.feeds = feeds
        self.matcher = matcher
        self.keys = keys
        self.events = events
        self.clock = clock
        self.chain: CharterChain | None = None
        self._self_certifying = SelfCertifying()

    async def load(self) -> None:
        raws = await self.store.charters()
        if raws:
            self.chain = CharterChain.load([decode_charter(r) for r in raws])
            # A version listing our pending key may have been adopted without the key being
            # promoted (a stop in between, or a cancellation put back): promote it now.
            member = self.chain.last_listing(self.org)
            if self.keys.adopt_if_listed(member.current_key if member else None):
                log.info("key rotated node_id=%s", self.keys.current.public_key)

    @property
    def charter_policy(self) -> CharterPolicy | None:
        return CharterPolicy(self.chain) if self.chain else None

    @property
    def policy(self) -> KeyPolicy:
        """The charter's rules once one is adopted; self-certifying keys before."""
        return self.charter_policy or self._self_certifying

    @property
    def latest(self) -> Charter | None:
        return self.chain.latest if self.chain else None

    def since(self, number: int) -> list[bytes]:
        """Encoded versions after ``number``, oldest first."""
        if self.chain is None:
            return []
        return [c.encode() for c in self.chain.versions if c.number > number]

    async def adopt(self, raw: bytes) -> CharterReport:
        """The operator's trust root (version 1) or a next version, from a file."""
        if self.chain is not None:
            return await self.offer([raw], source=None)
        charter = decode_charter(raw)
        # Raises unless a valid version 1, taking effect within the lead allowed on our clock.
        chain = CharterChain.start(charter, now_ms=self.clock.now_ms())
        orgs = {m.org_id for m in charter.body.members} | set(self.feeds.heads)
        if not await self._append(charter, chain, orgs):  # another adopt won the race
            return await self.offer([raw], source=None)
        self.events.emit(CharterAdopted(charter, None))
        return CharterReport(appended=[1])

    async def offer(self, raws: Sequence[bytes], source: str | None) -> CharterReport:
        """Versions from a peer (or the operator): append what follows, report the rest."""
        report = CharterReport()
        if self.chain is None:  # the trust root is the operator's choice, never a peer's
            report.rejected["no_charter"] += len(raws)
            return report
        charters = []
        for raw in raws:
            try:
                charters.append(decode_charter(raw))
            except ProtocolError as exc:
                report.reject(exc)
        for charter in sorted(charters, key=lambda c: c.number):
            await self._offer_one(charter, source, report)
        return report

    async def _offer_one(self, charter: Charter, source: str | None, report: CharterReport) -> None:
        current = self.chain
        assert current is not None
        candidate = CharterChain(list(current.versions))  # the chain moves only on commit
        try:
            outcome = candidate.offer(charter, now_ms=self.clock.now_ms())
        except CharterForkError as exc:
            await self._record_fork(charter.number, exc.proof.encode(), source)
            report.forks.append(charter.number)
            return
        except CharterError as exc:
            report.reject(exc)
            return
        if outcome is Offer.KNOWN:
            report.known += 1
            return
        if not await self._append(charter, candidate, affected(current.latest.body, charter.body)):
            report.known += 1  # another offer adopted it while this one queued
            return
        report.appended.append(charter.number)
        log.info("charter version=%d adopted source=%s", charter.number, source)
        self.events.emit(CharterAdopted(charter, source))

    async def _append(self, charter: Charter, chain: CharterChain, orgs: set[bytes]) -> bool:
        """Store ``charter`` and re-derive ``orgs`` under ``chain`` in one transaction."""

        async def work(txn: Transaction) -> list[Rederived] | None:
            if (self.chain.latest.number if self.chain else 0) >= charter.number:
                return None
            now = self.clock.now_ms()
            await txn.add_charter(charter.number, charter.id, charter.encode(), now)
            policy = CharterPolicy(chain)
            forked = dict(self.feeds.forked)
            moved = await forks.rejudge(txn, policy, forked)
            for author, seq in moved.items():
                if seq is None:
                    forked.pop(author, None)
                else:
                    forked[author] = seq
            authors = sorted((orgs | set(moved)) & set(self.feeds.heads))
            done = [
                await rederive(txn, author, policy, now, forked.get(author)) for author in authors
            ]
            txn.on_commit(lambda: self._adopted(chain, done, moved))
            return done

        done = await self.store.transaction(work)
        if done is None:
            return False
        for result in done:
            await self.matcher.apply_soon(result.pdq_ids, result.pdq_values, result.removed)
        if moved := sum(result.moved for result in done):
            self.events.emit(ItemsChanged(moved))
        return True

    def _adopted(
        self, chain: CharterChain, done: list[Rederived], moved: dict[bytes, int | None]
    ) -> None:
        self.chain = chain
        for author, seq in moved.items():
            self.feeds.set_fork(author, seq)
            log.info("fork seq author=%s now=%s", author.hex(), seq)
        for result in done:
            if result.head is None:
                self.feeds.heads.pop(result.author, None)
            else:
                self.feeds.heads[result.author] = result.head
        member = chain.last_listing(self.org)
        if self.keys.adopt_if_listed(member.current_key if member else None):
            log.info("key rotated node_id=%s", self.keys.current.public_key)

    async def _record_fork(self, number: int, proof: bytes, source: str | None) -> None:
        async def work(txn: Transaction) -> bool:
            return await txn.add_charter_fork(number, proof, self.clock.now_ms())

        if await self.store.transaction(work):
            log.error("charter fork version=%d source=%s", number, source)
