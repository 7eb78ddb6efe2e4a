"""Who is behind whom: the heads every peer announces, compared across peers.

A relay that withholds a member's newer entries (a revocation, say) cannot hide them for
long from a node with more than one peer: the node records the furthest head each peer
announces for every author, and reports authors some peer has seen further ahead than it
holds, and peers that keep announcing heads behind what others (or we) hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_PEERS_TRACKED = 1_000


@dataclass(frozen=True, slots=True)
class Sighting:
    """The furthest seq of an author any peer announced, which peer, and since when."""

    seq: int
    peer: str
    since_ms: int


class HeadWatch:
    """Announced heads by peer, and the best sighting of every author."""

    def __init__(self) -> None:
        self.best: dict[bytes, Sighting] = {}
        self.announced: dict[str, dict[bytes, int]] = {}

    def saw(self, peer: str, heads: Mapping[bytes, int], now_ms: int) -> None:
        """Record the heads ``peer`` announced just now."""
        if peer not in self.announced and len(self.announced) >= MAX_PEERS_TRACKED:
            self.announced.pop(next(iter(self.announced)))
        self.announced[peer] = dict(heads)
        for author, seq in heads.items():
            best = self.best.get(author)
            if best is None or seq > best.seq:
                self.best[author] = Sighting(seq, peer, now_ms)

    def behind(self, ours: Mapping[bytes, int]) -> list[tuple[bytes, int, Sighting]]:
        """Authors a peer has announced further ahead than we hold: (author, ours, sighting)."""
        return [
            (author, ours.get(author, 0), s)
            for author, s in sorted(self.best.items())
            if s.seq > ours.get(author, 0)
        ]

    def lagging(self, peer: str, ours: Mapping[bytes, int]) -> list[bytes]:
        """Authors ``peer`` last announced behind what we hold or another peer announced."""
        announced = self.announced.get(peer, {})
        out = []
        for author, seq in announced.items():
            best = max(ours.get(author, 0), self.best[author].seq if author in self.best else 0)
            if seq < best:
                out.append(author)
        return sorted(out)
