"""What the replica tells the rest of the node: one event type, one listener type.

Events are emitted after the change they describe is committed; a listener that fails is
logged and never undoes the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from protocol.charter import Charter
from protocol.entry import Entry
from protocol.feed import ForkProof

log = logging.getLogger("hashbank.events")


@dataclass(frozen=True, slots=True)
class EntriesStored:
    """Entries newly stored; ``source`` is the peer's node id, or None (ours, an import)."""

    entries: Sequence[Entry]
    source: str | None


@dataclass(frozen=True, slots=True)
class ForkRecorded:
    """A fork proof newly recorded."""

    proof: ForkProof
    source: str | None


@dataclass(frozen=True, slots=True)
class CharterAdopted:
    """A charter version newly adopted."""

    charter: Charter
    source: str | None


@dataclass(frozen=True, slots=True)
class ItemsChanged:
    """``items`` left (or re-entered) the active set without a new entry (a takedown, purge,
    erasure or expiry); the change feed records them."""

    items: int


Event = EntriesStored | ForkRecorded | CharterAdopted | ItemsChanged
Listener = Callable[[Event], None]


class Events:
    """Subscribers to the replica's events."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event from now on; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def __len__(self) -> int:
        """How many listeners there are."""
        return len(self._listeners)

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a faulty listener must not undo a committed write
                log.exception("listener failed event=%s", type(event).__name__)
