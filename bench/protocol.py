"""Protocol core throughput: decode + verify + validate, against the raw Ed25519 verify rate.

Run: ``python bench/protocol.py [--entries 100000] [--json]``

The machine is shared and noisy, so the baseline (PyNaCl's own verify on the same messages)
is measured in the same run, interleaved round by round with the measured path, and the
figures are medians over rounds. Targets: full/raw ratio >= 0.7; hashes/s in 1,000-item
entries >= 50x the single-hash entry rate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.signing

from protocol.body import AddBody, HashItem
from protocol.entry import Entry, decode_entry, sign_entry
from protocol.feed import FeedHead, Placement, SelfCertifying, check_timestamp, place
from protocol.identity import Context, SigningKey, org_id_for

T0 = 1_760_000_000_000


def build_feeds(n_entries: int, items_per_entry: int, authors: int) -> list[Entry]:
    """Feeds of ``authors`` organisations, entries interleaved as gossip would deliver them."""
    keys = [SigningKey(bytes([a % 256, a // 256]) + bytes(30)) for a in range(authors)]
    feeds: list[list[Entry]] = [[] for _ in keys]
    counter = 0
    for i in range(n_entries):
        a = i % authors
        key, feed = keys[a], feeds[a]
        items = []
        for _ in range(items_per_entry):
            counter += 1
            items.append(HashItem("pdq", counter.to_bytes(32, "big"), ("ncii",)))
        feed.append(
            sign_entry(
                key,
                author=org_id_for(key.public_key),
                seq=len(feed) + 1,
                prev=feed[-1].id if feed else None,
                timestamp_ms=T0 + i,
                body=AddBody(tuple(items)),
            )
        )
    return [feeds[i % authors][i // authors] for i in range(n_entries)]


class Validator:
    """The node's ingest decision path: decode, verify, authorise, clock, chain placement."""

    def __init__(self) -> None:
        self.policy = SelfCertifying()
        self.heads: dict[bytes, FeedHead] = {}
        self.now = T0 + 10**9

    def ingest(self, raws: list[bytes]) -> int:
        hashes = 0
        for raw in raws:
            entry = decode_entry(raw)
            self.policy.authorize(entry.header)
            check_timestamp(entry, self.now)
            if place(entry, self.heads.get(entry.author), None) is not Placement.NEXT:
                raise RuntimeError("bench feeds must arrive in order")
            self.heads[entry.author] = FeedHead.of(entry)
            hashes += len(entry.body.items) if isinstance(entry.body, AddBody) else 0
        return hashes


def raw_verify(pairs: list[tuple[nacl.signing.VerifyKey, bytes, bytes]]) -> int:
    for verifier, message, signature in pairs:
        verifier.verify(message, signature)
    return len(pairs)


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def interleaved_rates(entries: list[Entry], rounds: int) -> tuple[float, float]:
    """Median entries/s of the full path and of raw verify, alternating chunk by chunk."""
    verifiers = {e.header.key: nacl.signing.VerifyKey(e.header.key) for e in entries}
    pairs = [
        (verifiers[e.header.key], Context.ENTRY.value + e.header_bytes, e.signature)
        for e in entries
    ]
    raws = [e.raw for e in entries]
    chunk = max(1, len(entries) // rounds)
    validator = Validator()
    full_rates, raw_rates = [], []
    for r in range(rounds):
        part = slice(r * chunk, (r + 1) * chunk)
        seconds, n = timed(lambda p=part: raw_verify(pairs[p]))  # type: ignore[misc]
        raw_rates.append(n / seconds)
        seconds, _ = timed(lambda p=part: validator.ingest(raws[p]))  # type: ignore[misc]
        full_rates.append(n / seconds)
    return statistics.median(full_rates), statistics.median(raw_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--bulk-entries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    singles = build_feeds(args.entries, 1, authors=50)
    full_rate, raw_rate = interleaved_rates(singles, args.rounds)

    bulk = [e.raw for e in build_feeds(args.bulk_entries, 1000, authors=5)]
    chunk = max(1, len(bulk) // args.rounds)
    validator, bulk_rates = Validator(), []
    for r in range(args.rounds):
        part = bulk[r * chunk : (r + 1) * chunk]
        seconds, hashes = timed(lambda p=part: validator.ingest(p))  # type: ignore[misc]
        bulk_rates.append(hashes / seconds)
    bulk_rate = statistics.median(bulk_rates)

    result = {
        "single_entries": args.entries,
        "decode_verify_validate_per_s": round(full_rate),
        "raw_ed25519_verify_per_s": round(raw_rate),
        "ratio_full_to_raw": round(full_rate / raw_rate, 3),
        "ratio_target": 0.7,
        "bulk_hashes_per_s": round(bulk_rate),
        "bulk_to_single_ratio": round(bulk_rate / full_rate, 1),
        "bulk_target": 50,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"single-hash entries            {args.entries:>12,}")
    print(f"decode+verify+validate         {full_rate:>12,.0f} entries/s")
    print(f"raw Ed25519 verify (PyNaCl)    {raw_rate:>12,.0f} verifies/s")
    print(f"ratio full/raw                 {full_rate / raw_rate:>12.3f}   (target >= 0.7)")
    print(f"1,000-item entries             {bulk_rate:>12,.0f} hashes/s")
    print(f"ratio bulk/single              {bulk_rate / full_rate:>12.1f}x  (target >= 50x)")


if __name__ == "__main__":
    main()
