"""Charter drafts kept for the console, and imports in progress: plain values, real signatures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from node.replica.drafts import MAX_DRAFTS, CharterDrafts, changes, judge
from node.replica.errors import BadRequestError, ConflictError
from node.replica.imports import STALLED_MS, Imports, ImportStep
from protocol.charter import Takedown, draft
from protocol.membership import CharterChain
from tests.builders import Author
from tests.charters import genesis, member, successor
from tests.node.federation.fakes import FakeClock

NOW_MS = 1_800_000_000_000

A, B, C = Author(1), Author(2), Author(3)
MEMBERS = [member(A.key, "A", "publisher", "steward"), member(B.key, "B", "steward")]


def test_a_draft_is_judged_by_the_stewards_whose_signatures_count() -> None:
    v1 = genesis(MEMBERS, A.key, B.key, threshold=2)
    chain = CharterChain.start(v1)
    v2 = successor(v1, A.key, C.key)  # C is no steward of version 1: its signature is no use
    status = judge(v2, chain, 5)
    assert (status.signed, status.missing, status.needed) == (("A",), ("B",), 2)
    assert not status.ready
    assert judge(successor(v1, A.key, B.key), chain, 5).ready
    # Version 1 is signed by its own stewards.
    alone = judge(genesis(MEMBERS, A.key, threshold=2), None, 5)
    assert (alone.signed, alone.missing, alone.problem) == (("A",), ("B",), None)
    wrong = judge(replace(v2, body=replace(v2.body, prev=b"\x00" * 32)), chain, 5)
    assert wrong.problem is not None
    assert not wrong.ready


def test_copies_merge_superseded_drafts_go_and_the_count_is_bounded(tmp_path: Path) -> None:
    v1 = genesis(MEMBERS, A.key, B.key, threshold=2)
    chain = CharterChain.start(v1)
    drafts = CharterDrafts(tmp_path / "drafts", FakeClock(NOW_MS))
    assert drafts.pending(chain) == []
    drafts.add(successor(v1, A.key).encode(), chain)
    merged = drafts.add(successor(v1, B.key).encode(), chain)
    assert (merged.signed, merged.ready) == (("A", "B"), True)
    assert len(drafts.pending(chain)) == 1
    with pytest.raises(ConflictError, match="adopted already"):
        drafts.add(v1.encode(), chain)
    v3 = draft(replace(successor(v1).body, number=3))
    with pytest.raises(BadRequestError, match="needs version 2 first"):
        drafts.add(v3.encode(), chain)
    with pytest.raises(BadRequestError, match="not a charter draft"):
        drafts.add(b"\x93junk", chain)
    for n in range(MAX_DRAFTS - 1):
        drafts.add(successor(v1, effective_ms=v1.body.effective_ms + n + 1).encode(), chain)
    with pytest.raises(ConflictError, match="waiting already"):
        drafts.add(successor(v1, effective_ms=v1.body.effective_ms + 999).encode(), chain)
    # Once version 2 is adopted, every draft of it is gone (from the disk too).
    chain = CharterChain.load([v1, merged.charter])
    assert drafts.pending(chain) == []
    assert list((tmp_path / "drafts").iterdir()) == []


def test_what_a_draft_changes() -> None:
    v1 = genesis(MEMBERS, A.key, B.key, threshold=2)
    body = replace(
        v1.body,
        number=2,
        prev=v1.id,
        threshold=1,
        members=(MEMBERS[0], member(C.key, "C", "subscriber")),
        takedowns=(Takedown(B.org, 3, None),),
    )
    found = {(c.kind, c.name, c.detail) for c in changes(v1.body, body)}
    assert found == {
        ("member_added", "C", "subscriber"),
        ("member_removed", "B", ""),
        ("threshold", "", "2 → 1"),
        ("takedown", "B", "seq 3"),
    }
    assert [c.kind for c in changes(None, v1.body)] == ["member_added", "member_added"]


def test_imports_are_remembered_and_a_silent_one_is_stalled() -> None:
    clock = FakeClock(NOW_MS)
    imports = Imports(clock)
    imports.record(ImportStep("x", "a.csv", "hashes", 10, 30), 1)
    clock.ms += 1000
    progress = imports.record(ImportStep("x", "a.csv", "hashes", 20, 30), 1)
    assert (progress.done, progress.published, progress.finished) == (20, 2, False)
    assert not progress.stalled(clock.ms)
    assert progress.stalled(clock.ms + STALLED_MS + 1)
    imports.record(ImportStep("y", "b.jsonl", "entries", 5, 5), 5)
    assert [p.import_id for p in imports.recent()] == ["y", "x"]
    assert imports.recent()[0].finished
