"""Entry kinds and their bodies: ``add``, ``revoke`` and ``feedback``.

A body is a canonical msgpack array whose layout depends on the entry kind. Bodies are
decoded strictly (exact types, sorted unique lists, bounded sizes) so that one logical body
has one encoding and a bad field is named in the error.
"""

from __future__ import annotations

import enum
import itertools
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from protocol import schema
from protocol.errors import InvalidValueError, MalformedError, UnknownKindError
from protocol.signals import SIGNAL_TYPES, signal_type

ENTRY_ID_SIZE = 32
MAX_ITEMS = 10_000
MAX_LABELS = 16
MAX_LABEL_LEN = 64
MAX_CASE_REF = 64
MAX_REVOKE_TARGETS = 1_000

# Labels are short machine-readable tags, not prose: a narrow alphabet keeps look-alike
# characters and control bytes out of every operator's screen.
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")


class Kind(enum.IntEnum):
    """Entry kinds, as written in the header."""

    ADD = 1
    REVOKE = 2
    FEEDBACK = 3


class RevokeReason(enum.IntEnum):
    """Why an author withdrew hashes."""

    UNSPECIFIED = 0
    VICTIM_REQUEST = 1
    SUBMITTED_IN_ERROR = 2
    FALSE_POSITIVE = 3
    COURT_ORDER = 4
    SUPERSEDED = 5


class Verdict(enum.IntEnum):
    """A platform's or helpline's opinion on a hash."""

    TRUE_POSITIVE = 1
    FALSE_POSITIVE = 2
    DISPUTED = 3


class FeedbackNote(enum.IntEnum):
    """What the giver of feedback did about the match."""

    NONE = 0
    ACTIONED = 1
    NOT_ACTIONED = 2
    UNDER_REVIEW = 3


class HashItem(NamedTuple):
    """One hash in an ``add`` entry.

    A NamedTuple rather than a frozen dataclass: bulk entries hold 10,000 of these and a
    dataclass's frozen ``__init__`` costs twice as much per item as a tuple.
    """

    signal_type: str
    value: bytes
    labels: tuple[str, ...] = ()
    case_ref: bytes | None = None
    expires_ms: int | None = None

    def to_wire(self) -> list[Any]:
        return [self.signal_type, self.value, list(self.labels), self.case_ref, self.expires_ms]


@dataclass(frozen=True, slots=True)
class AddBody:
    """Publishes 1 to ``MAX_ITEMS`` hashes under one signature."""

    items: tuple[HashItem, ...]

    kind = Kind.ADD

    def to_wire(self) -> list[Any]:
        return [[item.to_wire() for item in self.items]]


@dataclass(frozen=True, slots=True)
class RevokeTarget:
    """An earlier ``add`` entry of the same author, whole (``items is None``) or in part."""

    entry_id: bytes
    items: tuple[int, ...] | None = None

    def to_wire(self) -> list[Any]:
        return [self.entry_id, None if self.items is None else list(self.items)]


@dataclass(frozen=True, slots=True)
class RevokeBody:
    """Withdraws earlier adds of the same author; with ``erase``, also erases their bodies.

    An erasing revoke is its author's authority to drop the bodies of the ``add`` and
    ``feedback`` entries it names (docs/protocol.md §4.3); it names whole entries only.
    """

    targets: tuple[RevokeTarget, ...]
    reason: RevokeReason = RevokeReason.UNSPECIFIED
    erase: bool = False

    kind = Kind.REVOKE

    def to_wire(self) -> list[Any]:
        fields: list[Any] = [[t.to_wire() for t in self.targets], int(self.reason)]
        # The flag is written only when set, so that a body has one encoding.
        return [*fields, True] if self.erase else fields


@dataclass(frozen=True, slots=True)
class FeedbackBody:
    """A verdict on a hash, optionally naming the entry that matched."""

    signal_type: str
    value: bytes
    verdict: Verdict
    entry_id: bytes | None = None
    note: FeedbackNote = FeedbackNote.NONE

    kind = Kind.FEEDBACK

    def to_wire(self) -> list[Any]:
        return [self.signal_type, self.value, int(self.verdict), self.entry_id, int(self.note)]


Body: TypeAlias = AddBody | RevokeBody | FeedbackBody


def decode_body(kind: Kind, value: Any) -> Body:
    """Turn a decoded msgpack value into the body of an entry of ``kind``."""
    if kind is Kind.ADD:
        return _decode_add(value)
    if kind is Kind.REVOKE:
        return _decode_revoke(value)
    if kind is Kind.FEEDBACK:
        return _decode_feedback(value)
    raise UnknownKindError(f"unknown entry kind {kind}")


def _decode_add(value: Any) -> AddBody:
    (raw_items,) = schema.array(value, 1, "add body")
    raw_items = schema.seq_of(raw_items, "items", min_len=1, max_len=MAX_ITEMS)
    # One flat loop with the common case inlined: this is the bulk-import hot path. Any
    # irregularity falls through to the named checks, which raise with the field's name.
    items = []
    signal_types, checked_labels, new = SIGNAL_TYPES, _CHECKED_LABELS, tuple.__new__
    for index, raw in enumerate(raw_items):
        if type(raw) is not list or len(raw) != 5:
            schema.array(raw, 5, f"items[{index}]")
        sig_name, hash_value, labels, case_ref, expires = raw
        spec = signal_types.get(sig_name) if type(sig_name) is str else None
        if spec is None:
            field = f"items[{index}].signal_type"
            spec = signal_type(schema.of_type(sig_name, str, field), field)
        if type(hash_value) is not bytes or len(hash_value) != spec.size:
            spec.check(hash_value, f"items[{index}].value")
        if labels:
            try:
                shared = checked_labels.get(tuple(labels)) if type(labels) is list else None
            except TypeError:  # an array among the labels is unhashable (and never a label)
                shared = None
            label_key = shared if shared is not None else _decode_labels(index, labels)
        elif type(labels) is list:
            label_key = ()
        else:
            raise MalformedError(f"items[{index}].labels must be an array", field="labels")
        if case_ref is not None and (
            type(case_ref) is not bytes or not 0 < len(case_ref) <= MAX_CASE_REF
        ):
            schema.of_type(case_ref, bytes, f"items[{index}].case_ref")
            raise InvalidValueError(
                f"items[{index}].case_ref must be 1 to {MAX_CASE_REF} bytes", field="case_ref"
            )
        if expires is not None and (type(expires) is not int or expires < 0):
            schema.uint(expires, f"items[{index}].expires_ms")
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (a third of the loop).
        items.append(new(HashItem, (sig_name, hash_value, label_key, case_ref, expires)))
    return AddBody(tuple(items))


# Bulk imports repeat the same few label lists; remembering the ones already checked keeps
# validation of a 10,000-item entry close to the cost of reading it, and sharing one tuple per
# list keeps a replica of millions of hashes from holding millions of identical tuples.
_CHECKED_LABELS: dict[tuple[str, ...], tuple[str, ...]] = {}
_CHECKED_LABELS_LIMIT = 10_000


def _decode_labels(index: int, labels: Any) -> tuple[str, ...]:
    if type(labels) is not list:
        raise MalformedError(f"items[{index}].labels must be an array", field="labels")
    key = tuple(labels)
    field = f"items[{index}].labels"
    schema.seq_of(labels, field, max_len=MAX_LABELS)
    for label in labels:
        schema.of_type(label, str, field)
        if not LABEL_RE.fullmatch(label):
            raise InvalidValueError(
                f"{field}: {str(label)[:80]!r} is not a label (1-{MAX_LABEL_LEN} characters of "
                "A-Z a-z 0-9 _ . : / -, starting with a letter or digit)",
                field="labels",
            )
    if list(key) != sorted(set(key)):
        raise InvalidValueError(f"{field} must be sorted and unique", field="labels")
    if len(_CHECKED_LABELS) < _CHECKED_LABELS_LIMIT:
        return _CHECKED_LABELS.setdefault(key, key)
    return key


def _decode_revoke(value: Any) -> RevokeBody:
    erasing = type(value) is list and len(value) == 3
    if erasing:
        raw_targets, reason, flag = value
    else:
        raw_targets, reason = schema.array(value, 2, "revoke body")
    raw_targets = schema.seq_of(raw_targets, "targets", min_len=1, max_len=MAX_REVOKE_TARGETS)
    targets = []
    seen: set[bytes] = set()
    for i, raw in enumerate(raw_targets):
        entry_id, items = schema.array(raw, 2, f"targets[{i}]")
        schema.fixed_bytes(entry_id, ENTRY_ID_SIZE, f"targets[{i}].entry_id")
        if entry_id in seen:
            raise InvalidValueError(f"targets[{i}] repeats entry {entry_id.hex()}", field="targets")
        seen.add(entry_id)
        targets.append(RevokeTarget(entry_id, _decode_indexes(i, items)))
    code = schema.uint(reason, "reason", maximum=255)
    try:
        revoke_reason = RevokeReason(code)
    except ValueError:
        raise InvalidValueError(f"unknown revoke reason code {code}", field="reason") from None
    erase = erasing and _erase_flag(flag)
    if erase:
        for i, target in enumerate(targets):
            if target.items is not None:
                raise InvalidValueError(
                    f"targets[{i}] lists item indexes: an erasing revoke names whole entries",
                    field="items",
                )
    return RevokeBody(tuple(targets), revoke_reason, erase)


def _erase_flag(flag: Any) -> bool:
    """The third element of a revoke body: present only to say ``true``."""
    if type(flag) is not bool:
        raise MalformedError("revoke body erase flag must be a boolean", field="erase")
    if not flag:
        raise InvalidValueError(
            "revoke body erase flag is false: a revoke that erases nothing has two elements",
            field="erase",
        )
    return True


def _decode_indexes(target: int, items: Any) -> tuple[int, ...] | None:
    if items is None:
        return None
    field = f"targets[{target}].items"
    schema.seq_of(items, field, min_len=1, max_len=MAX_ITEMS)
    for i in items:
        schema.uint(i, field, maximum=MAX_ITEMS - 1)
    if any(a >= b for a, b in itertools.pairwise(items)):
        raise InvalidValueError(f"{field} must be sorted and unique", field="items")
    return tuple(items)


def _decode_feedback(value: Any) -> FeedbackBody:
    sig_name, hash_value, verdict, entry_id, note = schema.array(value, 5, "feedback body")
    spec = signal_type(schema.of_type(sig_name, str, "signal_type"))
    spec.check(hash_value)
    # Field by field in layout order, so a body with several faults reports the first.
    try:
        verdict_ = Verdict(schema.uint(verdict, "verdict"))
    except ValueError:
        raise InvalidValueError(f"unknown verdict {verdict}", field="verdict") from None
    target = schema.opt_fixed_bytes(entry_id, ENTRY_ID_SIZE, "entry_id")
    try:
        note_ = FeedbackNote(schema.uint(note, "note"))
    except ValueError:
        raise InvalidValueError(f"unknown feedback note {note}", field="note") from None
    return FeedbackBody(spec.name, hash_value, verdict_, target, note_)


def parse_kind(code: Any) -> Kind:
    """The ``Kind`` for a header's kind code (any integer that names no kind: unknown_kind)."""
    schema.uint(code, "kind")
    try:
        return Kind(code)
    except ValueError:
        raise UnknownKindError(f"unknown entry kind {code}", field="kind") from None
