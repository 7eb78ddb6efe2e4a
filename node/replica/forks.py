"""Fork proofs kept in the store, and the fork seqs they give (docs/protocol.md §6.1).

The rules are ``protocol.feed``'s: which proofs verify, which count, which of two to keep.
This module applies them inside a store transaction: one proof per author (the one
``protocol.feed.preferred`` picks), and the author's fork seq — the seq from which its feed is
suspended — when that proof counts. A retired proof (its key replaced since) proves nothing
and is not kept. A proof's standing depends on the charter, so the stored ones are judged
again whenever a charter version is adopted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from node.store import Transaction
from protocol.errors import ProtocolError
from protocol.feed import ForkProof, KeyPolicy, Standing, decode_fork_proof, preferred

log = logging.getLogger("hashbank.fork")


@dataclass(frozen=True, slots=True)
class Kept:
    """What keeping a proof changed: whether it is the author's proof now, and its fork seq."""

    fresh: bool  # the proof is new here (and worth passing on)
    fork_seq: int | None  # the author's fork seq after it (None: not suspended)
    changed: bool  # the fork seq moved: the author's share of the bank must be re-derived


def fork_seq_of(proof: ForkProof, policy: KeyPolicy) -> int | None:
    """The seq from which ``proof`` suspends its author's feed, if it counts."""
    return proof.seq if proof.standing(policy) is Standing.COUNTS else None


async def keep(
    txn: Transaction, proof: ForkProof, policy: KeyPolicy, current: int | None, now_ms: int
) -> Kept:
    """Keep ``proof`` if it is preferred to the author's stored one; ``current``: the fork
    seq before (``proof`` is verified under ``policy`` already)."""
    if proof.standing(policy) is Standing.RETIRED:
        return Kept(False, current, False)
    stored = await txn.fork_of(proof.author)
    held = _decode(stored.proof, policy) if stored is not None else None
    if held is not None and preferred(held, proof, policy) is held:
        return Kept(False, current, False)
    await txn.put_fork(proof.author, proof.seq, proof.encode(), now_ms)
    seq = fork_seq_of(proof, policy)
    return Kept(True, seq, seq != current)


async def rejudge(
    txn: Transaction, policy: KeyPolicy, current: Mapping[bytes, int]
) -> dict[bytes, int | None]:
    """Judge every stored proof under ``policy`` (a new charter); returns the fork seqs that
    moved. A proof that no longer verifies (a rotation from at or below its seq) or that is
    retired (a rotation above it) is dropped."""
    moved: dict[bytes, int | None] = {}
    for record in await txn.forks():
        proof = _decode(record.proof, policy)
        if proof is None or proof.standing(policy) is Standing.RETIRED:
            log.info("fork proof dropped author=%s seq=%d", record.author.hex(), record.seq)
            await txn.drop_fork(record.author)
            proof = None
        seq = None if proof is None else fork_seq_of(proof, policy)
        if seq != current.get(record.author):
            moved[record.author] = seq
    for author in set(current) - {r.author for r in await txn.forks()}:
        moved.setdefault(author, None)
    return moved


def _decode(data: bytes, policy: KeyPolicy) -> ForkProof | None:
    try:
        return decode_fork_proof(data, policy)
    except ProtocolError:
        return None


def load_fork_seqs(proofs: Mapping[bytes, bytes], policy: KeyPolicy) -> dict[bytes, int]:
    """Fork seqs from stored proofs (author → proof bytes), for a node starting up."""
    out: dict[bytes, int] = {}
    for author, data in proofs.items():
        proof = _decode(data, policy)
        seq = None if proof is None else fork_seq_of(proof, policy)
        if seq is not None:
            out[author] = seq
    return out
