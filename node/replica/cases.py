"""This helpline's cases: which of its entries belong to which case, kept here only.

A case is what a victim (self-service) or a caseworker acts on: its entries, withdrawing some
or all of them, what platforms said about them. The mapping lives in the node's own store and
is never published. Each published item carries a *sealed* case value instead — the case's
local id encrypted under the node's case secret with a fresh random nonce — so no two items,
even of one case, carry equal or comparable values: another member who recognises one image
learns nothing about which other hashes belong to the same victim, while this node can still
recover its mapping from its own feed (``recover``) after a restore.

Self-service cases are opened with a case number and a PIN. The PIN is shown once and stored
only as a slow salted hash (scrypt); ``PinGuard`` stops guessing with a lockout per case
number (kept for unknown numbers too, so a lockout reveals nothing) and a budget per client.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.secret

from node.clock import Clock
from node.limits import RateLimiter
from node.replica.errors import ConflictError, ReplicaError, UnknownEntryError
from node.replica.feedback import Feedback, FeedbackReads
from node.replica.publish import Also, Published, Publisher
from node.store import CaseRow, CaseSearch, CaseSummaryRow, Store, StoredEntry, Transaction
from protocol.body import AddBody, Body, HashItem, RevokeReason
from protocol.entry import Entry, decode_entry

ORIGINS = ("self_service", "caseworker", "operator")
MAX_REFERENCE = 200
# Crockford's base32 without the look-alikes (I, L, O, U): case numbers are read aloud.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PIN_DIGITS = 8
# scrypt at n = 2**14, r = 8 (in _pin_hash): 16 MiB and some tens of ms per check, on a thread.
FREE_ATTEMPTS = 5
MAX_LOCK_MS = 24 * 3600 * 1000
_SEAL_CONTEXT = b"hashbank/case-seal\x00"


class CaseAccessError(ReplicaError):
    """A case number and PIN that do not open a case (the same answer whichever was wrong)."""

    code = "case_access"
    status_hint = 403

    def __init__(self, locked_until_ms: int = 0) -> None:
        super().__init__(
            "that case number and PIN do not match"
            if not locked_until_ms
            else "too many attempts for this case number; try again later"
        )
        self.locked_until_ms = locked_until_ms


class TooManyAttemptsError(ReplicaError):
    """A client that tried too many case numbers or PINs."""

    code = "rate_limited"
    status_hint = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many attempts from here; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Case:
    """One case of this helpline."""

    case_id: int
    reference: str
    origin: str
    created_ms: int
    has_pin: bool

    @classmethod
    def of(cls, row: CaseRow) -> Case:
        return cls(row.case_id, row.reference, row.origin, row.created_ms, row.pin_hash is not None)


@dataclass(frozen=True, slots=True)
class OpenedCase:
    """A case just opened, with its PIN — the only time the PIN exists in clear."""

    case: Case
    pin: str | None


@dataclass(frozen=True, slots=True)
class CaseItem:
    """One published hash of a case, and what has become of it."""

    entry_id: bytes
    seq: int
    index: int
    signal_type: str
    value: bytes
    labels: tuple[str, ...]
    published_ms: int
    active: bool
    feedback: tuple[Feedback, ...]


class CaseSeal:
    """The sealed case values published on items: unlinkable to anyone without the secret."""

    def __init__(self, secret: bytes) -> None:
        self._box = nacl.secret.SecretBox(hashlib.sha256(_SEAL_CONTEXT + secret).digest())
        self._legacy_secret = secret

    def seal(self, case_id: int) -> bytes:
        """48 bytes: a fresh nonce and the case id, encrypted and authenticated."""
        return bytes(self._box.encrypt(case_id.to_bytes(8, "big")))

    def open(self, value: bytes) -> int | None:
        """The case id sealed in ``value``, or None (not sealed by this node)."""
        try:
            return int.from_bytes(self._box.decrypt(value), "big")
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            return None

    def legacy(self, reference: str) -> bytes:
        """The case value nodes published before sealing: one HMAC per case (linkable)."""
        return hmac.new(self._legacy_secret, reference.encode(), hashlib.sha256).digest()[:16]


def new_reference() -> str:
    """A fresh case number: two groups of four base32 characters (40 bits)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def new_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def _pin_hash(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, maxmem=64 * 2**20, dklen=32)


def check_reference(reference: str) -> str:
    text = reference.strip()
    if not 0 < len(text) <= MAX_REFERENCE or not text.isprintable():
        raise ReplicaError(f"a case reference is 1 to {MAX_REFERENCE} printable characters")
    return text


class Cases:
    """Opening cases, publishing into them, reading and withdrawing them."""

    def __init__(
        self,
        *,
        store: Store,
        publisher: Publisher,
        seal: CaseSeal,
        clock: Clock,
        org: bytes,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.seal = seal
        self.clock = clock
        self.org = org
        self.feedback = FeedbackReads(store, org)

    # --- opening ---------------------------------------------------------------------------

    async def open(
        self, origin: str, *, reference: str | None = None, with_pin: bool = False
    ) -> OpenedCase:
        """A new case; without ``reference`` a fresh case number is drawn."""
        if origin not in ORIGINS:
            raise ReplicaError(f"case origin must be one of {', '.join(ORIGINS)}")
        pin = new_pin() if with_pin else None
        secret = None
        if pin is not None:
            salt = secrets.token_bytes(16)
            secret = (await asyncio.to_thread(_pin_hash, pin, salt), salt)
        wanted = check_reference(reference) if reference is not None else None

        async def work(txn: Transaction) -> CaseRow:
            ref = wanted
            while ref is None or await txn.case_by_reference(ref) is not None:
                if wanted is not None:
                    raise ConflictError(f"there is already a case {wanted!r}")
                ref = new_reference()
            case_id = await txn.create_case(ref, origin, self.clock.now_ms(), secret)
            row = await txn.case_by_id(case_id)
            assert row is not None
            return row

        return OpenedCase(Case.of(await self.store.transaction(work)), pin)

    async def get(self, reference: str) -> Case | None:
        row = await self.store.case_by_reference(reference.strip())
        return Case.of(row) if row else None

    async def get_or_open(self, reference: str, origin: str) -> Case:
        found = await self.get(reference)
        if found is not None:
            return found
        try:
            return (await self.open(origin, reference=reference)).case
        except ConflictError:  # opened meanwhile by another request
            again = await self.get(reference)
            assert again is not None
            return again

    async def page(self, search: str | None, before_id: int | None, limit: int) -> list[Case]:
        rows = await self.store.cases_page(search=search, before_id=before_id, limit=limit)
        return [Case.of(r) for r in rows]

    async def summaries(self, search: CaseSearch, limit: int) -> list[CaseSummaryRow]:
        """Cases matching ``search``, newest first, with their counts (the console's list)."""
        return await self.store.case_summaries(search, limit)

    async def by_id(self, case_id: int) -> Case | None:
        row = await self.store.case_by_id(case_id)
        return Case.of(row) if row else None

    # --- publishing ------------------------------------------------------------------------

    async def publish(
        self,
        items: Sequence[tuple[HashItem, Case | None]],
        idempotency_key: str | None = None,
        *,
        also: Also | None = None,
    ) -> Published:
        """Publish one add entry; each item of a case carries a fresh sealed case value.

        The entry and its case links (and what ``also`` writes, e.g. an audit line) are
        written in one transaction.
        """
        body = AddBody(
            tuple(
                item._replace(case_ref=self.seal.seal(case.case_id) if case else None)
                for item, case in items
            )
        )
        cases = sorted({case.case_id for _, case in items if case is not None})

        async def link(txn: Transaction, entry: Entry) -> None:
            for case_id in cases:
                await txn.link_case(case_id, entry.id, self.clock.now_ms())
            if also is not None:
                await also(txn, entry)

        return await self.publisher.publish(
            body, idempotency_key, also=link if cases or also else None, same=self._same_items
        )

    def _same_items(self, earlier: Body, new: Body) -> bool:
        """Equal items, with case values equal when they seal the same case (fresh nonces)."""
        if not isinstance(earlier, AddBody) or not isinstance(new, AddBody):
            return earlier == new
        if len(earlier.items) != len(new.items):
            return False
        return all(
            a._replace(case_ref=None) == b._replace(case_ref=None)
            and self._case_of(a) == self._case_of(b)
            for a, b in zip(earlier.items, new.items, strict=True)
        )

    def _case_of(self, item: HashItem) -> int | bytes | None:
        if item.case_ref is None:
            return None
        opened = self.seal.open(item.case_ref)
        return item.case_ref if opened is None else opened

    async def entries(self, case: Case) -> list[StoredEntry]:
        """The case's add entries, in feed order (including ones published before sealing)."""
        linked = await self.store.entries_of_case(case.case_id)
        legacy = await self.store.adds_of_case(self.org, self.seal.legacy(case.reference))
        seen = {e.id for e in linked}
        return sorted([*linked, *(e for e in legacy if e.id not in seen)], key=lambda e: e.cursor)

    async def items(self, case: Case) -> list[CaseItem]:
        """Every hash of the case, active or withdrawn, with the feedback naming its entry."""
        out: list[CaseItem] = []
        for entry in await self.entries(case):
            rows = await self.store.items_of_entry(entry.id)
            feedback = await self.feedback.on_entry(entry.id)
            for row in rows:
                said = tuple(
                    fb
                    for fb in feedback
                    if (fb.body.signal_type, fb.body.value) == (row.signal_type, row.value)
                )
                out.append(
                    CaseItem(
                        entry.id,
                        entry.seq,
                        row.idx,
                        row.signal_type,
                        row.value,
                        row.labels,
                        entry.timestamp_ms,
                        row.active,
                        said,
                    )
                )
        return out

    async def withdraw(
        self,
        case: Case,
        chosen: Sequence[tuple[bytes, int]] | None,
        reason: RevokeReason = RevokeReason.VICTIM_REQUEST,
        *,
        also: Also | None = None,
    ) -> list[Entry]:
        """Withdraw the case's items ``chosen`` as (entry id, item index), or all of them.

        ``also`` is written in each revoke's transaction (an audit line per revoke)."""
        items = await self.items(case)
        by_entry: dict[bytes, list[int]] = {}
        wanted = None if chosen is None else set(chosen)
        known = {(i.entry_id, i.index) for i in items}
        if wanted is not None and not wanted <= known:
            raise UnknownEntryError("some of those items are not part of this case")
        for item in items:
            if item.active and (wanted is None or (item.entry_id, item.index) in wanted):
                by_entry.setdefault(item.entry_id, []).append(item.index)
        if not by_entry:
            raise ConflictError("those items are already withdrawn")
        revokes = []
        for entry_id, indexes in by_entry.items():
            whole = len(indexes) == sum(1 for i in items if i.entry_id == entry_id)
            revokes.append(
                await self.publisher.revoke(
                    entry_id, None if whole else tuple(indexes), reason, also=also
                )
            )
        return revokes

    async def recover(self) -> int:
        """Re-link our entries whose items carry a case value sealed here; returns links made."""
        made = 0
        for entry in await self.store.author_entries(self.org):
            made += await self._relink(entry)
        return made

    async def _relink(self, entry: StoredEntry) -> int:
        body = decode_entry(entry.raw).body
        if not isinstance(body, AddBody):
            return 0
        ids = {self.seal.open(it.case_ref) for it in body.items if it.case_ref}
        ids.discard(None)

        async def work(txn: Transaction) -> int:
            for case_id in ids:
                assert case_id is not None
                if await txn.case_by_id(case_id) is not None:
                    await txn.link_case(case_id, entry.id, self.clock.now_ms())
            return len(ids)

        if not ids:
            return 0
        return int(await self.store.transaction(work))


class PinGuard:
    """Checks self-service case numbers and PINs, and stops guessing."""

    def __init__(self, store: Store, clock: Clock, per_client: RateLimiter) -> None:
        self.store = store
        self.clock = clock
        self.per_client = per_client
        # Failures against case numbers that do not exist, so they lock exactly like real ones.
        self._phantoms: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._dummy_salt = secrets.token_bytes(16)
        # Attempts on one case number run one at a time: each reads the failure count, spends
        # scrypt's time, then writes the count back, so attempts sent all at once would each
        # see the count before any of them, and the lockout would never come. Per number, not
        # one lock for all, so a flood on one number does not slow every other case.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    async def unlock(self, reference: str, pin: str, client: str) -> Case:
        """The case ``reference`` if ``pin`` opens it; else ``CaseAccessError``, identically."""
        if wait := self.per_client.check(client):
            raise TooManyAttemptsError(wait)
        reference = reference.strip()
        lock, waiting = self._turns.get(reference, (asyncio.Lock(), 0))
        self._turns[reference] = (lock, waiting + 1)
        try:
            async with lock:
                return await self._attempt(reference, pin)
        finally:
            lock, waiting = self._turns[reference]
            if waiting == 1:
                del self._turns[reference]
            else:
                self._turns[reference] = (lock, waiting - 1)

    async def _attempt(self, reference: str, pin: str) -> Case:
        """One attempt on ``reference``, with its turn (see ``unlock``)."""
        row = await self.store.case_by_reference(reference)
        now = self.clock.now_ms()
        failed, locked = self._state(row, reference)
        if locked > now:
            raise CaseAccessError(locked)
        salt = row.pin_salt if row and row.pin_salt else self._dummy_salt
        digest = await asyncio.to_thread(_pin_hash, pin.strip(), salt)
        if row is not None and row.pin_hash and hmac.compare_digest(digest, row.pin_hash):
            if failed:
                await self._record(row, reference, 0, 0)
            return Case.of(row)
        failed += 1
        lock = 0 if failed < FREE_ATTEMPTS else now + _lock_ms(failed)
        await self._record(row, reference, failed, lock)
        raise CaseAccessError(lock)

    def _state(self, row: CaseRow | None, reference: str) -> tuple[int, int]:
        if row is not None and row.pin_hash is not None:
            return row.failed_attempts, row.locked_until_ms
        return self._phantoms.get(reference, (0, 0))

    async def _record(self, row: CaseRow | None, reference: str, failed: int, lock: int) -> None:
        if row is None or row.pin_hash is None:
            self._phantoms[reference] = (failed, lock)
            self._phantoms.move_to_end(reference)
            while len(self._phantoms) > 10_000:
                self._phantoms.popitem(last=False)
            return
        case_id = row.case_id

        async def work(txn: Transaction) -> None:
            await txn.set_pin_failures(case_id, failed, lock)

        await self.store.transaction(work)


def _lock_ms(failed: int) -> int:
    """One minute after the free attempts, doubling with each further failure, up to a day."""
    return min(MAX_LOCK_MS, 60_000 << min(20, max(0, failed - FREE_ATTEMPTS)))
