"""The replica's state as one typed value, for the status endpoint and the operator's view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.store import Counts
from protocol.membership import CharterChain


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One author's feed as this replica holds it."""

    author: bytes
    name: str | None
    seq: int
    advanced_ms: int | None


# Incomplete entries listed by name in the status (the count is always complete).
MAX_LISTED = 100


@dataclass(frozen=True, slots=True)
class ForkStatus:
    """An author whose feed a fork suspends, and from which seq."""

    author: bytes
    seq: int


@dataclass(frozen=True, slots=True)
class IncompleteStatus:
    """An entry held without the body it should have (docs/protocol.md §4.3)."""

    author: bytes
    seq: int
    entry_id: bytes


@dataclass(frozen=True, slots=True)
class CharterStatus:
    """The charter this node enforces, and our roles in it."""

    network: str
    version: int
    members: int
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """What the replica holds and how it is doing."""

    node_id: str
    org_id: bytes
    name: str
    role: str
    version: str
    uptime_s: float
    bank_digest: bytes
    counts: Counts
    pdq_indexed: int
    forks: tuple[ForkStatus, ...]
    rejected: Mapping[str, int]
    charter: CharterStatus | None
    held: int
    feeds: tuple[FeedStatus, ...]
    names: Mapping[bytes, str]
    held_bytes: int = 0
    incomplete: int = 0
    incomplete_entries: tuple[IncompleteStatus, ...] = ()


def member_names(chain: CharterChain | None, org: bytes, own_name: str) -> dict[bytes, str]:
    """Display names by org id: ours is the configured name; another's is its name in the
    latest charter version listing it; an organisation in no charter version has none."""
    names: dict[bytes, str] = {}
    for version in chain.versions if chain else ():
        names.update((m.org_id, m.name) for m in version.body.members)
    names[org] = own_name
    return names


def charter_status(chain: CharterChain | None, org: bytes) -> CharterStatus | None:
    if chain is None:
        return None
    latest = chain.latest
    me = latest.body.member(org)
    return CharterStatus(
        latest.body.network, latest.number, len(latest.body.members), me.roles if me else ()
    )
