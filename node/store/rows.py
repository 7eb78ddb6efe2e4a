"""What the store hands out: typed rows, never tuples or dicts of columns."""

from __future__ import annotations

import collections
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from protocol.bank import BankDigest
from protocol.body import Kind


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its arrival cursor, indexed fields and exact bytes."""

    cursor: int
    id: bytes
    author: bytes
    seq: int
    kind: Kind
    timestamp_ms: int
    received_ms: int
    raw: bytes
    erased: bool  # held without its body
    void: bool = False  # a takedown covers it, or a fork suspends its feed
    incomplete: bool = False  # without its body, and no authority dropped it: still wanted


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item of the bank with what a match result reports about it."""

    item_id: int
    signal_type: str
    value: bytes
    labels: tuple[str, ...]
    entry_id: bytes
    author: bytes
    idx: int
    active: bool


@dataclass(frozen=True, slots=True)
class ActiveItem:
    """An active item as much as withdrawing it needs: its id and its bank-digest term."""

    item_id: int
    signal_type: str
    value: bytes
    author: bytes
    entry_id: bytes
    idx: int
    expires_ms: int | None = None


class ItemChangeKind(enum.StrEnum):
    """How a change without an entry of the author moved items: out of the bank, or back."""

    WITHDRAWN = "withdrawn"
    RESTORED = "restored"


class ChangeReason(enum.StrEnum):
    """Why items left (or re-entered) the active set without an entry of their author."""

    TAKEDOWN = "takedown"  # a charter version's takedown voids (or stops voiding) entries
    PURGE = "purge"  # a charter version no longer authorises the entries: they are purged
    ERASURE = "erasure"  # the entries' bodies were erased
    EXPIRY = "expiry"  # the items' expiry time passed
    FORK = "fork"  # a fork proof suspends the author's feed from the fork seq on


@dataclass(frozen=True, slots=True)
class ChangedItem:
    """One item a withdrawal or restoration names (as a subscriber's index knows it)."""

    entry_id: bytes
    idx: int
    author: bytes
    signal_type: str
    value: bytes


@dataclass(frozen=True, slots=True)
class ItemChange:
    """A change to the active set that no new entry made, at its place in the change feed."""

    cursor: int
    kind: ItemChangeKind
    reason: ChangeReason
    charter_version: int | None  # the version that made it (takedown, purge); else None
    recorded_ms: int
    items: tuple[ChangedItem, ...]


@dataclass(frozen=True, slots=True)
class ChangeKinds:
    """Which elements of the change feed a reader wants: entries of these kinds, item changes."""

    entries: tuple[Kind, ...] = tuple(Kind)
    items: tuple[ItemChangeKind, ...] = tuple(ItemChangeKind)


@dataclass(frozen=True, slots=True)
class ForkRecord:
    """A stored fork proof of one author."""

    author: bytes
    seq: int
    proof: bytes
    detected_ms: int


@dataclass(frozen=True, slots=True)
class CharterForkRecord:
    """A stored proof of two charter versions with one number."""

    number: int
    proof: bytes
    detected_ms: int


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One of this helpline's cases, as stored (local only, never published)."""

    case_id: int
    reference: str
    origin: str
    created_ms: int
    pin_hash: bytes | None
    pin_salt: bytes | None
    failed_attempts: int
    locked_until_ms: int


@dataclass(frozen=True, slots=True)
class CaseSearch:
    """What a search of the cases asks for; every part optional."""

    text: str | None = None  # a part of the case number
    created_from_ms: int | None = None  # inclusive
    created_until_ms: int | None = None  # exclusive
    state: str | None = None  # one of CASE_STATES
    before_id: int | None = None  # continues a previous page (newest first)


# A case's state from its items: all active, some withdrawn, all withdrawn, none published.
CASE_STATES = ("active", "partly_withdrawn", "withdrawn", "empty")


@dataclass(frozen=True, slots=True)
class CaseSummaryRow:
    """A case with the counts the case list shows."""

    case: CaseRow
    items: int
    active_items: int
    reporters: int  # other organisations that sent feedback on the case's entries
    last_published_ms: int | None

    @property
    def state(self) -> str:
        if self.items == 0:
            return "empty"
        if self.active_items == self.items:
            return "active"
        return "withdrawn" if self.active_items == 0 else "partly_withdrawn"


@dataclass(frozen=True, slots=True)
class RevocationRow:
    """A revoke entry's withdrawal of some (or all) items of an add entry."""

    target_id: bytes
    items: tuple[int, ...] | None  # None: the whole entry
    revoke_id: bytes
    revoked_ms: int  # the revoke entry's own timestamp


@dataclass(frozen=True, slots=True)
class UserRow:
    """A console account, as stored (``password`` is the KDF record, never a password)."""

    user_id: int
    name: str
    role: str
    password: str
    must_change: bool
    disabled: bool
    created_ms: int
    failed_logins: int
    locked_until_ms: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A console session with its user, as one read returns them."""

    token_hash: bytes
    csrf: str
    created_ms: int
    last_seen_ms: int
    expires_ms: int
    user: UserRow


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One line of the audit log; ``detail`` is a JSON object's text."""

    audit_id: int
    at_ms: int
    actor: str
    action: str
    subject: str
    detail: str


@dataclass(frozen=True, slots=True)
class FeedbackOnAdd:
    """A feedback entry naming one of an author's adds."""

    target_id: bytes
    feedback: StoredEntry


@dataclass(frozen=True, slots=True)
class Counts:
    """Entries, authors and active items per signal type (kept current, never scanned)."""

    entries: int
    authors: int
    active_hashes: Mapping[str, int]


def kind_name(code: object) -> str:
    """An entry kind's name as the counters (and the JSON API) spell it."""
    try:
        return Kind(code).name.lower() if isinstance(code, int) else str(code)
    except ValueError:
        return str(code)


@dataclass
class Counters:
    """The store's running totals, copied into a transaction and adopted after its commit."""

    next_cursor: int = 1
    next_item_id: int = 1
    digest: BankDigest = field(default_factory=BankDigest)
    entry_count: int = 0
    active_counts: collections.Counter[str] = field(default_factory=collections.Counter)
    # Stored entries by kind name ("add", "revoke", "feedback"), for the metrics.
    kind_counts: collections.Counter[str] = field(default_factory=collections.Counter)

    def copy(self) -> Counters:
        return Counters(
            self.next_cursor,
            self.next_item_id,
            BankDigest(self.digest.count, self.digest.total),
            self.entry_count,
            collections.Counter(self.active_counts),
            collections.Counter(self.kind_counts),
        )
