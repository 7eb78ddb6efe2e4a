"""Feedback, hash lookups and the active-hash listing, on one real node."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.body import Verdict
from protocol.entry import Entry, decode_entry
from tests.builders import Author, pdq_item, pdq_value
from tests.nodes import RunningNode, make_data

PDQ = pdq_value(1)


@pytest.fixture
async def hb(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "node", name="Helpline One"))
    yield running
    await running.stop()


async def publish(hb: RunningNode, value: bytes = PDQ, case: str = "C-1") -> str:
    doc = {
        "items": [{"signal_type": "pdq", "value": value.hex(), "labels": ["ncii"], "case": case}]
    }
    response = await hb.post("/v1/hashes", doc)
    assert response.status == 201, response.body
    return str(response.body["entry_id"])


async def ingest(hb: RunningNode, *entries: Entry) -> None:
    doc = {"entries": [base64.b64encode(e.raw).decode() for e in entries]}
    response = await hb.post("/v1/entries", doc)
    assert response.body["stored"] == len(entries), response.body


async def test_feedback_on_an_entry_names_givers_verdicts_and_signed_evidence(
    hb: RunningNode,
) -> None:
    ours = await publish(hb)
    other_publisher = Author(20)
    theirs = other_publisher.add(pdq_item(1))
    platform_a, platform_b = Author(21), Author(22)
    await ingest(
        hb,
        theirs,
        platform_a.feedback(PDQ, Verdict.TRUE_POSITIVE, bytes.fromhex(ours)),
        platform_b.feedback(PDQ, Verdict.FALSE_POSITIVE, bytes.fromhex(ours)),
        platform_b.feedback(PDQ, Verdict.DISPUTED),  # about the hash, naming no entry
        platform_a.feedback(PDQ, Verdict.TRUE_POSITIVE, theirs.id),  # about the other entry
    )
    own = await hb.post(
        "/v1/feedback",
        {"signal_type": "pdq", "value": PDQ.hex(), "verdict": "true_positive", "entry_id": ours},
    )

    doc = (await hb.get(f"/v1/feedback?entry_id={ours}")).body
    assert doc["entry_id"] == ours
    rows = doc["feedback"]
    assert [(r["giver"], r["verdict"], r["entry_id"]) for r in rows] == [
        (platform_a.org.hex(), "true_positive", ours),
        (platform_b.org.hex(), "false_positive", ours),
        (platform_b.org.hex(), "disputed", None),
        (hb.node.org.hex(), "true_positive", ours),
    ]
    assert rows[0]["note"] == "actioned"
    assert rows[0]["giver_name"] is None  # in no charter this node holds
    assert rows[-1]["giver_name"] == "Helpline One"
    assert rows[-1]["feedback_id"] == own.body["entry_id"]
    # Each verdict is a signed entry anyone can verify.
    evidence = (await hb.get(f"/v1/entries/{rows[0]['feedback_id']}")).body
    assert decode_entry(base64.b64decode(evidence["entry"])).author == platform_a.org

    by_hash = (await hb.get(f"/v1/feedback?signal_type=pdq&value={PDQ.hex()}")).body
    assert len(by_hash["feedback"]) == 5
    assert by_hash["value"] == PDQ.hex()


async def test_feedback_summary_of_own_entries_and_of_one_case(hb: RunningNode) -> None:
    first = await publish(hb, pdq_value(1), case="C-1")
    second = await publish(hb, pdq_value(2), case="C-1")
    other_case = await publish(hb, pdq_value(3), case="C-2")
    platform = Author(23)
    await ingest(
        hb,
        platform.feedback(pdq_value(1), Verdict.TRUE_POSITIVE, bytes.fromhex(first)),
        platform.feedback(pdq_value(3), Verdict.FALSE_POSITIVE, bytes.fromhex(other_case)),
    )
    everything = (await hb.get("/v1/feedback/entries")).body
    assert everything["name"] == "Helpline One"
    assert [e["entry_id"] for e in everything["entries"]] == [first, other_case]

    case = (await hb.get("/v1/feedback/entries?case=C-1")).body
    assert [e["entry_id"] for e in case["entries"]] == [first, second]
    assert [len(e["feedback"]) for e in case["entries"]] == [1, 0]
    assert case["entries"][0]["feedback"][0]["verdict"] == "true_positive"
    assert case["entries"][0]["active_items"] == 1
    assert (await hb.get("/v1/feedback/entries?case=nope")).body["entries"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        (f"?entry_id={'ab' * 32}&signal_type=pdq&value={PDQ.hex()}", 400),
        (f"?entry_id={'ab' * 32}", 404),
        ("?entry_id=xyz", 400),
        ("?signal_type=pdq&value=00", 400),
        ("?signal_type=vpdq&value=00", 400),
    ],
)
async def test_bad_feedback_queries_get_json_errors(
    hb: RunningNode, query: str, status: int
) -> None:
    response = await hb.get(f"/v1/feedback{query}")
    assert response.status == status, response.body
    assert response.body["error"]["message"]


async def test_lookup_tracks_every_publisher_of_a_hash_and_latest_verdicts(
    hb: RunningNode,
) -> None:
    ours = await publish(hb)
    other = Author(24)
    theirs = other.add(pdq_item(1, labels=("ncii", "video-still")))
    platform = Author(25)
    await ingest(
        hb,
        theirs,
        platform.feedback(PDQ, Verdict.TRUE_POSITIVE, theirs.id),
        platform.feedback(PDQ, Verdict.FALSE_POSITIVE, theirs.id),
    )
    query = {"signals": [{"signal_type": "pdq", "value": PDQ.hex()}]}

    async def state() -> dict[str, Any]:
        response = await hb.post("/v1/signals/lookup", query)
        assert response.status == 200, response.body
        return dict(response.body["signals"][0])

    both = await state()
    assert {(i["author"], i["entry_id"]) for i in both["items"]} == {
        (hb.node.org.hex(), ours),
        (other.org.hex(), theirs.id.hex()),
    }
    assert [f["verdict"] for f in both["feedback"]] == ["false_positive"]

    await hb.post("/v1/revocations", {"entry_id": ours})
    one = await state()
    assert [i["entry_id"] for i in one["items"]] == [theirs.id.hex()]
    await ingest(hb, other.revoke(theirs))
    assert (await state())["items"] == []


async def test_active_hashes_page_through_the_bank(hb: RunningNode) -> None:
    ids = [await publish(hb, pdq_value(n)) for n in range(5)]
    await hb.post("/v1/revocations", {"entry_id": ids[1]})
    first = (await hb.get("/v1/hashes?limit=2")).body
    assert first["more"] is True
    rest = (await hb.get(f"/v1/hashes?after={first['cursor']}&limit=10")).body
    listed = [h["entry_id"] for h in first["hashes"] + rest["hashes"]]
    assert listed == [ids[0], *ids[2:]]
    assert rest["more"] is False
    assert first["hashes"][0]["labels"] == ["ncii"]
    assert (await hb.get("/v1/hashes?signal_type=md5")).body["hashes"] == []
    assert (await hb.get("/v1/hashes?signal_type=vpdq")).status == 400
    assert (await hb.get("/v1/hashes?limit=10001")).status == 413


async def test_feedback_on_a_hash_in_no_entry_is_refused_and_nothing_signed(
    hb: RunningNode,
) -> None:
    ours = await publish(hb)
    before = (await hb.get("/v1/status")).body["entries"]
    own_upload = {"signal_type": "pdq", "value": pdq_value(77).hex(), "verdict": "true_positive"}
    refused = {
        "no entry named": own_upload,
        "another hash than the entry's": {**own_upload, "entry_id": ours},
        "an md5 in no entry": {**own_upload, "signal_type": "md5", "value": "ab" * 16},
    }
    for what, doc in refused.items():
        response = await hb.post("/v1/feedback", doc)
        assert response.status == 404, (what, response.body)
        assert response.body["error"]["code"] == "not_in_bank", what
        assert (
            "bank" in response.body["error"]["message"]
            or "holds no" in response.body["error"]["message"]
        )
    assert (await hb.get("/v1/status")).body["entries"] == before  # nothing signed
    # The bank's own value is accepted, with or without the entry it came from.
    for doc in ({"entry_id": ours}, {}):
        body = {"signal_type": "pdq", "value": PDQ.hex(), "verdict": "true_positive", **doc}
        assert (await hb.post("/v1/feedback", body)).status == 201
