"""The node's charter chain: adopting versions, and bringing stored feeds in line with them.

The rules are ``protocol.charter`` / ``protocol.membership``; this module keeps the chain in
the store, tells the node which authors a new version affects, and records charter forks.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from node.clock import now_ms
from protocol.charter import Charter, CharterBody, decode_charter
from protocol.errors import CharterError, CharterForkError, ProtocolError
from protocol.membership import CharterChain, CharterPolicy, Offer

if TYPE_CHECKING:
    from node.replica.node import Node

log = logging.getLogger("hashbank.charter")
CharterListener = Callable[[Charter, str | None], None]


@dataclass
class CharterReport:
    """What became of offered charter versions."""

    appended: list[int] = field(default_factory=list)
    known: int = 0
    forks: list[int] = field(default_factory=list)
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)


class CharterKeeper:
    """The chain this node enforces (None until its operator adopts a genesis)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.chain: CharterChain | None = None
        self.listeners: list[CharterListener] = []

    async def load(self) -> None:
        raws = await self.node.store.charters()
        if raws:
            self.chain = CharterChain.load([decode_charter(r) for r in raws])

    @property
    def policy(self) -> CharterPolicy | None:
        return CharterPolicy(self.chain) if self.chain else None

    @property
    def latest(self) -> Charter | None:
        return self.chain.latest if self.chain else None

    async def adopt(self, raw: bytes) -> CharterReport:
        """The operator's trust root (version 1) or a next version, from a file."""
        if self.chain is None:
            charter = decode_charter(raw)
            chain = CharterChain.start(charter)  # raises unless a valid version 1
            await self._store(charter)
            self.chain = chain
            await self.node.conform({m.org_id for m in charter.body.members} | set(self.node.heads))
            self._notify(charter, None)
            return CharterReport(appended=[1])
        return await self.offer([raw], source=None)

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
                self._reject(report, exc)
        for charter in sorted(charters, key=lambda c: c.number):
            await self._offer_one(charter, source, report)
        return report

    async def _offer_one(self, charter: Charter, source: str | None, report: CharterReport) -> None:
        assert self.chain is not None
        before = self.chain.latest.body
        try:
            outcome = self.chain.offer(charter)
        except CharterForkError as exc:
            if await self.node.store.add_charter_fork(charter.number, exc.proof.encode(), now_ms()):
                log.error("charter fork version=%d source=%s", charter.number, source)
            report.forks.append(charter.number)
            return
        except CharterError as exc:
            self._reject(report, exc)
            return
        if outcome is Offer.KNOWN:
            report.known += 1
            return
        await self._store(charter)
        report.appended.append(charter.number)
        log.info("charter version=%d adopted source=%s", charter.number, source)
        await self.node.conform(affected(before, charter.body))
        self._notify(charter, source)

    async def _store(self, charter: Charter) -> None:
        await self.node.store.add_charter(charter.number, charter.id, charter.encode(), now_ms())

    def _reject(self, report: CharterReport, exc: ProtocolError) -> None:
        report.rejected[exc.code] += 1
        if len(report.errors) < 10:
            report.errors.append(exc.message)

    def _notify(self, charter: Charter, source: str | None) -> None:
        for listener in list(self.listeners):
            try:
                listener(charter, source)
            except Exception:
                log.exception("charter listener failed")

    def since(self, number: int) -> list[bytes]:
        """Encoded versions after ``number``, oldest first."""
        if self.chain is None:
            return []
        return [c.encode() for c in self.chain.versions if c.number > number]


def affected(before: CharterBody, after: CharterBody) -> set[bytes]:
    """Organisations whose entries a new version may judge differently."""
    orgs: set[bytes] = {m.org_id for m in before.members} | {m.org_id for m in after.members}
    changed = {o for o in orgs if before.member(o) != after.member(o)}
    takedowns_before = {(t.org_id, t.from_seq, t.until_seq) for t in before.takedowns}
    takedowns_after = {(t.org_id, t.from_seq, t.until_seq) for t in after.takedowns}
    changed |= {t[0] for t in takedowns_before ^ takedowns_after}
    return changed
