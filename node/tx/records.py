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
    """How far the node's change feed has been read, and on which node.

    The cursor never expires (a node keeps every entry and never reuses a cursor), so the
    checkpoint is never stale: threatexchange would otherwise drop the fetched state and
    start over without a word. A checkpoint from another node is refused at fetch time.
    """

    cursor: int
    node_id: str
    progress_time: int = 0  # newest change read so far, unix seconds; 0 before any

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
        # Each publishing organisation vouches for the hash with its labels.
        labels: dict[str, set[str]] = {}
        for item in self.live_items():
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
        agg = self.get_as_aggregate_opinion()
        labels = ",".join(sorted(agg.tags - {"actioned", "not_actioned", "under_review"}))
        authors = sorted({i.author[:12] for i in self.live_items()})
        votes = [
            f"{'+' if v.verdict == 'true_positive' else '-'}{v.giver[:12]}"
            for v in self.feedback
            if v.verdict != "disputed"
        ]
        parts = [agg.category.name, labels or "-", "by " + ",".join(authors)]
        if votes:
            parts.append("feedback " + ",".join(votes))
        return " ".join(parts)
