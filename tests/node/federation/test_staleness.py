"""HeadWatch: announced heads are claims; only what a peer has shown makes a sighting."""

from __future__ import annotations

import pytest

from node.federation import staleness
from node.federation.staleness import HeadWatch

A, B = b"a" * 32, b"b" * 32


def test_an_announced_head_alone_reports_nobody_behind() -> None:
    watch = HeadWatch()
    watch.saw("liar", {A: 10_000, B: 10_000}, now_ms=1)
    assert watch.behind({A: 3}) == []
    assert watch.best == {}


def test_shown_seqs_report_authors_behind_and_peers_lagging() -> None:
    watch = HeadWatch()
    watch.saw("relay", {A: 2}, now_ms=1)
    watch.saw("honest", {A: 5}, now_ms=1)
    watch.shown("honest", {A: 5}, now_ms=2)
    [(author, ours, seen)] = watch.behind({A: 3})
    assert (author, ours, seen.seq, seen.peer, seen.since_ms) == (A, 3, 5, "honest", 2)
    assert watch.lagging("relay", {A: 3}) == [A]
    assert watch.lagging("honest", {A: 3}) == []
    # A liar's inflated claim neither raises the sighting nor makes the honest peer lag.
    watch.saw("liar", {A: 9_999}, now_ms=3)
    assert watch.best[A].seq == 5
    assert watch.lagging("honest", {A: 3}) == []


def test_sightings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staleness, "MAX_AUTHORS_TRACKED", 2)
    watch = HeadWatch()
    watch.shown("p", {bytes([n]) * 32: 1 for n in range(5)}, now_ms=1)
    assert len(watch.best) == 2
