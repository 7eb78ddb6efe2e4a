"""Imports in progress, as the node sees them, for the operator's view.

``hashbank import`` sends its hashes (or exported entries) in chunks, each request saying
which import it belongs to and how far it has got (the ``Hashbank-Import`` header, parsed in
``node.api``). Nothing here is stored: an import is a client's loop, and the node only keeps
the last word of each, so the operator sees what is loading, how far along, and which import
stopped answering (to be resumed by running the same command again).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from node.clock import Clock

# Imports remembered at once, and how long a finished or silent one stays listed.
MAX_IMPORTS = 50
KEEP_MS = 24 * 3_600_000
# An unfinished import that has sent nothing for this long has probably been interrupted.
STALLED_MS = 10 * 60_000
UNITS = ("hashes", "entries")


@dataclass(frozen=True, slots=True)
class ImportStep:
    """What one request of an import says about it."""

    import_id: str
    name: str  # the file's name, as the client gave it
    unit: str  # hashes or entries
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """One import as last heard of."""

    import_id: str
    name: str
    unit: str
    done: int
    total: int
    started_ms: int
    updated_ms: int
    published: int  # entries this node stored for it (new ones, not already there)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def stalled(self, now_ms: int) -> bool:
        return not self.finished and now_ms - self.updated_ms > STALLED_MS


class Imports:
    """The imports this node has heard of lately, newest last."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._by_id: OrderedDict[str, ImportProgress] = OrderedDict()

    def record(self, step: ImportStep, published: int) -> ImportProgress:
        """Note a chunk of ``step``'s import as stored (``published``: new entries in it)."""
        now = self.clock.now_ms()
        known = self._by_id.pop(step.import_id, None)
        if known is None:
            progress = ImportProgress(
                step.import_id, step.name, step.unit, step.done, step.total, now, now, published
            )
        else:
            progress = replace(
                known,
                done=max(known.done, step.done),
                total=step.total,
                updated_ms=now,
                published=known.published + published,
            )
        self._by_id[step.import_id] = progress
        while len(self._by_id) > MAX_IMPORTS:
            self._by_id.popitem(last=False)
        return progress

    def recent(self) -> list[ImportProgress]:
        """Imports heard of in the last day, the most recently active first."""
        now = self.clock.now_ms()
        return [p for p in reversed(self._by_id.values()) if now - p.updated_ms < KEEP_MS]
