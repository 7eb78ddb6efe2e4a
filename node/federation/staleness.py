"""Who is behind whom: the heads peers announce, and how far each has shown a feed reaches.

A relay that withholds a member's newer entries (a revocation, say) cannot hide them for
long from a node with more than one peer: the node records, for every author, the furthest
seq some peer has *shown* it — entries that peer served which verified, or an announced head
whose entry id is the one we hold at that seq — and reports authors shown further ahead than
it holds, and peers that keep announcing heads behind what others (or we) hold.

An announced head alone proves nothing: counted as a sighting, a hostile peer could claim
every author ten thousand entries ahead and make every report say "behind". So announcements
are kept only to show which peer lags, and only verified seqs make sightings, for at most
``MAX_AUTHORS_TRACKED`` authors and ``MAX_PEERS_TRACKED`` peers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_PEERS_TRACKED = 1_000
MAX_AUTHORS_TRACKED = 100_000


@dataclass(frozen=True, slots=True)
class Sighting:
    """The furthest seq of an author a peer has shown us, which peer, and since when."""

    seq: int
    peer: str
    since_ms: int


class HeadWatch:
    """Announced heads by peer, and the best verified sighting of every author."""

    def __init__(self) -> None:
        self.best: dict[bytes, Sighting] = {}
        self.announced: dict[str, dict[bytes, int]] = {}

    def saw(self, peer: str, heads: Mapping[bytes, int], now_ms: int) -> None:
        """Record the heads ``peer`` announced just now (claims: they make no sighting)."""
        if peer not in self.announced and len(self.announced) >= MAX_PEERS_TRACKED:
            self.announced.pop(next(iter(self.announced)))
        self.announced[peer] = dict(heads)

    def shown(self, peer: str, seqs: Mapping[bytes, int], now_ms: int) -> None:
        """Record how far ``peer`` has shown each author's feed reaches (verified seqs)."""
        for author, seq in seqs.items():
            best = self.best.get(author)
            if best is None and len(self.best) >= MAX_AUTHORS_TRACKED:
                continue
            if best is None or seq > best.seq:
                self.best[author] = Sighting(seq, peer, now_ms)

    def behind(self, ours: Mapping[bytes, int]) -> list[tuple[bytes, int, Sighting]]:
        """Authors a peer has shown further ahead than we hold: (author, ours, sighting)."""
        return [
            (author, ours.get(author, 0), s)
            for author, s in sorted(self.best.items())
            if s.seq > ours.get(author, 0)
        ]

    def lagging(self, peer: str, ours: Mapping[bytes, int]) -> list[bytes]:
        """Authors ``peer`` last announced behind what we hold or another peer has shown."""
        announced = self.announced.get(peer, {})
        out = []
        for author, seq in announced.items():
            best = max(ours.get(author, 0), self.best[author].seq if author in self.best else 0)
            if seq < best:
                out.append(author)
        return sorted(out)
