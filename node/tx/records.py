"""What the hashbank exchange stores in threatexchange: config, credentials, checkpoint, records.

threatexchange persists these dataclasses itself (the CLI pickles them, HMA and the DBM store
turn them into JSON through dacite), so their fields stay plain types. This module
deliberately has no ``from __future__ import annotations``: the threatexchange CLI builds
``config collab edit`` options from the collab config's field types, which must be real types.
"""

import time
import typing as t
from dataclasses import dataclass, field

from threatexchange.exchanges import auth
from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
from threatexchange.exchanges.fetch_state import (
    FetchCheckpointBase,
    FetchedSignalMetadata,
    SignalOpinion,
    SignalOpinionCategory,
)

DEFAULT_NODE_URL = "http://127.0.0.1:8750"
# A feedback verdict as the opinion it is in threatexchange's terms.
VERDICT_CATEGORY = {
    "true_positive": SignalOpinionCategory.POSITIVE_CLASS,
    "false_positive": SignalOpinionCategory.NEGATIVE_CLASS,
    "disputed": SignalOpinionCategory.INVESTIGATION_SEED,
}
NOTES = frozenset({"actioned", "not_actioned", "under_review"})  # feedback notes, not labels


@dataclass
class HashbankCollabConfig(CollaborationConfigWithDefaults):
    """A collaboration reading the bank through one hashbank node: the platform's own."""

    node_url: str = field(
        default=DEFAULT_NODE_URL,
        metadata={"help": "URL of your hashbank node (its operator token is the credential)"},
    )


@dataclass
class HashbankCredentials(auth.CredentialHelper):
    """The node's operator token (``operator.token`` in its data directory)."""

    ENV_VARIABLE: t.ClassVar[str] = "TX_HASHBANK_TOKEN"
    FILE_NAME: t.ClassVar[str] = "~/.tx_hashbank_token"

    token: str = field(metadata={"help": "the node's operator token"})

    @classmethod
    def _from_str(cls, s: str) -> "HashbankCredentials":
        return cls(token=s.strip())

    def _are_valid(self) -> bool:
        return bool(self.token)


@dataclass
class HashbankCheckpoint(FetchCheckpointBase):
    """How far the node's change feed has been read, and of which bank.

    The cursor never expires (a node keeps every entry and never reuses a cursor), so the
    checkpoint is never stale: threatexchange would otherwise drop the fetched state and
    start over without a word. The bank is the node's organisation (one node per
    organisation; its id survives key rotation) and, once it adopted a charter, the
    network; a checkpoint of another bank is refused at fetch time. Checkpoints written
    before ``org_id`` existed carry only ``node_id`` and are matched by it once.
    """

    cursor: int
    node_id: str  # the node key last read from (informational once org_id is set)
    progress_time: int = 0  # newest change read so far, unix seconds; 0 before any
    org_id: str = ""
    network: str = ""  # the charter's network name; "" while the node has no charter

    def is_stale(self) -> bool:
        return False

    def get_progress_timestamp(self) -> int | None:
        return self.progress_time or None


@dataclass
class PublishedItem:
    """One active item of the bank carrying the hash: who published it, in which entry."""

    entry_id: str
    item: int
    author: str
    labels: list[str]
    expires_ms: int | None = None
    author_name: str | None = None  # the author's name in the node's charter, if known

    def live(self, now_ms: int) -> bool:
        return self.expires_ms is None or self.expires_ms > now_ms


@dataclass
class PlatformVerdict:
    """A feedback giver's latest verdict on the hash (a signed entry on the network)."""

    feedback_id: str
    giver: str
    verdict: str
    note: str
    entry_id: str | None
    timestamp_ms: int
    giver_name: str | None = None  # the giver's name in the node's charter, if known


@dataclass
class HashbankSignalMetadata(FetchedSignalMetadata):
    """Everything the network says about one hash now: its publishers and the verdicts."""

    items: list[PublishedItem]
    feedback: list[PlatformVerdict] = field(default_factory=list)
    own_org: str = ""  # the platform's own organisation, to tell its own verdicts apart

    def live_items(self, now_ms: int | None = None) -> list[PublishedItem]:
        """Items not past their expiry (the node expires them without a new entry)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return [i for i in self.items if i.live(now)]

    def get_as_opinions(self) -> t.Sequence[SignalOpinion]:
        live = self.live_items()
        if not live:
            # Every item expired since the last fetch (the index still holds the hash until
            # the next one): no organisation vouches for it any more, and threatexchange
            # needs at least one opinion to aggregate.
            return [SignalOpinion(False, SignalOpinionCategory.INVESTIGATION_SEED, {"expired"})]
        # Each publishing organisation vouches for the hash with its labels.
        labels: dict[str, set[str]] = {}
        for item in live:
            labels.setdefault(item.author, set()).update(item.labels)
        opinions = [
            SignalOpinion(org == self.own_org, SignalOpinionCategory.POSITIVE_CLASS, tags)
            for org, tags in labels.items()
        ]
        opinions += [
            SignalOpinion(
                v.giver == self.own_org,
                VERDICT_CATEGORY[v.verdict],
                {v.note} if v.note != "none" else set(),
            )
            for v in self.feedback
            if v.verdict in VERDICT_CATEGORY
        ]
        return opinions

    def __str__(self) -> str:
        """One line for ``threatexchange match``: category, labels, publishers, verdicts."""
        live = self.live_items()
        if not live:
            names = _names((i.author, i.author_name) for i in self.items)
            return f"EXPIRED by {names} (the next fetch drops it)"
        agg = self.get_as_aggregate_opinion()
        labels = ",".join(sorted(agg.tags - NOTES))
        parts = [
            agg.category.name,
            labels or "-",
            "by " + _names((i.author, i.author_name) for i in live),
        ]
        votes = [
            f"{'+' if v.verdict == 'true_positive' else '-'}{_name(v.giver, v.giver_name)}"
            for v in self.feedback
            if v.verdict != "disputed"
        ]
        if votes:
            parts.append("feedback " + ", ".join(votes))
        return " ".join(parts)


def _name(org: str, name: str | None) -> str:
    """``Name (org id prefix)``, or the prefix alone for an organisation without a name."""
    return f"{name} ({org[:12]})" if name else org[:12]


def _names(orgs: t.Iterable[tuple[str, str | None]]) -> str:
    """Each organisation once, by id, as ``_name`` shows it."""
    named: dict[str, str | None] = {}
    for org, name in orgs:
        named[org] = named.get(org) or name
    return ", ".join(_name(org, named[org]) for org in sorted(named))
