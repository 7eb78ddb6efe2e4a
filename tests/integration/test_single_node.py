"""One real node on loopback with a real SQLite store: the helpline and platform flows."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.entry import decode_entry
from tests.builders import Author
from tests.nodes import RunningNode, make_data

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_NEAR = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b2d"  # 4 bits off
MD5 = "4a8043f0a48f715c417ff06d5dd435c5"


@pytest.fixture
async def hb(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "node"))
    yield running
    await running.stop()


async def submit(hb: RunningNode, *items: dict[str, Any]) -> str:
    response = await hb.post("/v1/hashes", {"items": list(items)})
    assert response.status == 201, response.body
    return str(response.body["entry_id"])


async def match(hb: RunningNode, signal_type: str, value: str, **extra: Any) -> list[Any]:
    doc = {"queries": [{"signal_type": signal_type, "value": value}], **extra}
    response = await hb.post("/v1/match", doc)
    assert response.status == 200, response.body
    return list(response.body["results"][0]["matches"])


async def test_submit_match_revoke_then_no_match(hb: RunningNode) -> None:
    entry_id = await submit(
        hb,
        {"signal_type": "pdq", "value": PDQ, "labels": ["ncii"], "case": "HL-2026-17"},
        {"signal_type": "md5", "value": MD5},
    )
    [near] = await match(hb, "pdq", PDQ_NEAR)
    assert near["distance"] == 4
    assert near["entry_id"] == entry_id
    assert near["author"] == hb.node.org.hex()
    assert near["labels"] == ["ncii"]
    assert await match(hb, "pdq", PDQ_NEAR, threshold=3) == []
    [exact] = await match(hb, "md5", MD5.upper())
    assert exact["distance"] == 0

    revoked = await hb.post("/v1/revocations", {"entry_id": entry_id, "items": [0]})
    assert revoked.status == 201, revoked.body
    assert await match(hb, "pdq", PDQ) == []
    assert len(await match(hb, "md5", MD5)) == 1
    await hb.post("/v1/revocations", {"entry_id": entry_id, "reason": "court_order"})
    assert await match(hb, "md5", MD5) == []


async def test_match_answers_one_result_per_query_in_order(hb: RunningNode) -> None:
    await submit(hb, {"signal_type": "md5", "value": MD5})
    queries = [{"signal_type": "sha256", "value": "00" * 32}, {"signal_type": "md5", "value": MD5}]
    response = await hb.post("/v1/match", {"queries": queries * 500})
    results = response.body["results"]
    assert len(results) == 1000
    assert [bool(r["matches"]) for r in results[:4]] == [False, True, False, True]


async def test_items_of_one_case_carry_no_common_published_value(hb: RunningNode) -> None:
    """Another member who recognises one image must not learn the case's other hashes.

    Before, every item of a case carried the same HMAC of the case reference.
    """
    first = await submit(hb, {"signal_type": "pdq", "value": PDQ, "case": "HL-2026-17"})
    second = await submit(hb, {"signal_type": "md5", "value": "ab" * 16, "case": "HL-2026-17"})
    refs = []
    for entry_id in (first, second):
        view = (await hb.get(f"/v1/entries/{entry_id}")).body
        assert b"HL-2026-17" not in base64.b64decode(view["entry"])
        refs.append(bytes.fromhex(view["body"]["items"][0]["case_ref"]))
    both = await submit(
        hb,
        {"signal_type": "md5", "value": "cd" * 16, "case": "HL-2026-17"},
        {"signal_type": "md5", "value": "ef" * 16, "case": "HL-2026-17"},
    )
    items = (await hb.get(f"/v1/entries/{both}")).body["body"]["items"]
    refs += [bytes.fromhex(item["case_ref"]) for item in items]
    assert len(set(refs)) == 4  # across entries and within one: nothing in common
    assert all(len(r) == 48 for r in refs)
    # The helpline itself still finds both entries of the case, from its local mapping.
    case = await hb.node.cases.get("HL-2026-17")
    assert case is not None
    assert [e.id.hex() for e in await hb.node.cases.entries(case)] == [first, second, both]


async def test_entry_view_gives_raw_and_decoded_forms(hb: RunningNode) -> None:
    entry_id = await submit(hb, {"signal_type": "pdq", "value": PDQ, "labels": ["b", "a", "a"]})
    view = (await hb.get(f"/v1/entries/{entry_id}")).body
    entry = decode_entry(base64.b64decode(view["entry"]))
    assert entry.id.hex() == entry_id
    assert view["kind"] == "add"
    assert view["body"]["items"][0]["labels"] == ["a", "b"]
    assert view["signature"] == entry.signature.hex()


async def test_changes_feed_pages_with_cursors_that_survive_a_restart(hb: RunningNode) -> None:
    ids = [await submit(hb, {"signal_type": "md5", "value": f"{n:032x}"}) for n in range(5)]
    page = (await hb.get("/v1/changes?after=0&limit=2")).body
    assert [c["entry_id"] for c in page["changes"]] == ids[:2]
    assert page["more"] is True
    cursor = page["cursor"]

    hb = await hb.restart()
    try:
        rest = (await hb.get(f"/v1/changes?after={cursor}&limit=10")).body
        assert [c["entry_id"] for c in rest["changes"]] == ids[2:]
        assert rest["more"] is False
        revoke = await hb.post("/v1/revocations", {"entry_id": ids[0]})
        tail = (await hb.get(f"/v1/changes?after={rest['cursor']}")).body
        assert [c["entry_id"] for c in tail["changes"]] == [revoke.body["entry_id"]]
        assert tail["changes"][0]["kind"] == "revoke"
        only_adds = (await hb.get("/v1/changes?kinds=add&limit=1000")).body
        assert len(only_adds["changes"]) == 5
    finally:
        await hb.stop()


async def test_status_reports_counts_and_digest(hb: RunningNode) -> None:
    await submit(hb, {"signal_type": "pdq", "value": PDQ}, {"signal_type": "md5", "value": MD5})
    status = (await hb.get("/v1/status")).body
    assert status["entries"] == 1
    assert status["authors"] == 1
    assert status["active_hashes"] == {"pdq": 1, "md5": 1}
    assert status["name"] == "Test helpline"
    assert len(status["bank_digest"]) == 64


async def test_only_a_minimal_health_answer_is_open(hb: RunningNode) -> None:
    # The status names members, their activity, peers' URLs and node ids: operator only.
    await submit(hb, {"signal_type": "pdq", "value": PDQ})
    for token in (None, "not-the-token"):
        refused = await hb.get("/v1/status", token=token)
        assert refused.status == 401, refused.body
        assert set(refused.body) == {"error"}
        assert hb.node_id not in json.dumps(refused.body)
    for path in ("/healthz", "/readyz"):
        answer = await hb.get(path, token=None)
        assert answer.status == 200
        assert set(answer.body) <= {"status", "ready", "reasons"}, answer.body
    # The operator's own view is not spent from the API's rate budget.
    assert (await hb.get("/v1/status")).status == 200


async def test_feedback_is_recorded_as_a_signed_entry(hb: RunningNode) -> None:
    entry_id = await submit(hb, {"signal_type": "pdq", "value": PDQ})
    response = await hb.post(
        "/v1/feedback",
        {
            "signal_type": "pdq",
            "value": PDQ,
            "verdict": "true_positive",
            "entry_id": entry_id,
            "note": "actioned",
        },
    )
    assert response.status == 201
    view = (await hb.get(f"/v1/entries/{response.body['entry_id']}")).body
    assert view["body"]["verdict"] == "true_positive"


async def test_imported_entries_of_another_author_are_verified_and_stored(hb: RunningNode) -> None:
    other = Author(7)
    entries = [other.add(), other.add()]
    doc = {"entries": [base64.b64encode(e.raw).decode() for e in reversed(entries)]}
    result = (await hb.post("/v1/entries", doc)).body
    assert result["stored"] == 2
    again = (await hb.post("/v1/entries", doc)).body
    assert again["duplicates"] == 2
    status = (await hb.get("/v1/status")).body
    assert status["authors"] == 1


async def test_revoking_another_organisations_entry_is_forbidden(hb: RunningNode) -> None:
    other = Author(8)
    add = other.add()
    await hb.post("/v1/entries", {"entries": [base64.b64encode(add.raw).decode()]})
    response = await hb.post("/v1/revocations", {"entry_id": add.id.hex()})
    assert response.status == 403
    assert response.body["error"]["code"] == "forbidden"


BAD_REQUESTS = [
    ("POST", "/v1/hashes", b"{not json", 400, "bad_request"),
    ("POST", "/v1/hashes", b"", 400, "bad_request"),
    ("POST", "/v1/hashes", b"[]", 400, "bad_request"),
    ("POST", "/v1/hashes", b'{"items": []}', 400, "bad_request"),
    (
        "POST",
        "/v1/hashes",
        b'{"items": [{"signal_type": "vpdq", "value": "00"}]}',
        400,
        "invalid_value",
    ),
    (
        "POST",
        "/v1/hashes",
        b'{"items": [{"signal_type": "pdq", "value": "abc"}]}',
        400,
        "invalid_value",
    ),
    (
        "POST",
        "/v1/hashes",
        b'{"items": [{"signal_type": "md5", "value": "' + b"zz" * 16 + b'"}]}',
        400,
        "invalid_value",
    ),
    (
        "POST",
        "/v1/hashes",
        b'{"items": [{"signal_type": "md5", "value": "'
        + b"00" * 16
        + b'", "labels": ["no spaces"]}]}',
        400,
        "invalid_value",
    ),
    (
        "POST",
        "/v1/hashes",
        b'{"items": ['
        + b",".join([b'{"signal_type": "md5", "value": "' + b"00" * 16 + b'"}'] * 10001)
        + b"]}",
        413,
        "payload_too_large",
    ),
    (
        "POST",
        "/v1/hashes",
        b'{"items": "' + b"x" * (9 * 1024 * 1024) + b'"}',
        413,
        "request_entity_too_large",
    ),
    ("POST", "/v1/revocations", b'{"entry_id": "' + b"ab" * 32 + b'"}', 404, "not_found"),
    ("POST", "/v1/revocations", b'{"entry_id": "xyz"}', 400, "invalid_value"),
    (
        "POST",
        "/v1/revocations",
        b'{"entry_id": "' + b"ab" * 32 + b'", "reason": "bored"}',
        400,
        "bad_request",
    ),
    (
        "POST",
        "/v1/feedback",
        b'{"signal_type": "pdq", "value": "' + b"00" * 32 + b'", "verdict": "maybe"}',
        400,
        "bad_request",
    ),
    (
        "POST",
        "/v1/match",
        b'{"queries": [{"signal_type": "pdq", "value": "' + b"00" * 32 + b'"}], "threshold": 64}',
        400,
        "bad_request",
    ),
    (
        "POST",
        "/v1/match",
        b'{"queries": [{"signal_type": "pdq", "value": "' + b"00" * 32 + b'"}], "threshold": "31"}',
        400,
        "bad_request",
    ),
    ("GET", "/v1/changes?after=-1", None, 400, "bad_request"),
    ("GET", "/v1/changes?limit=5000", None, 413, "payload_too_large"),
    ("GET", "/v1/changes?kinds=adds", None, 400, "bad_request"),
    ("GET", "/v1/entries/nothex", None, 400, "invalid_value"),
    ("GET", "/v1/entries/" + "ab" * 32, None, 404, "not_found"),
    ("GET", "/v1/nothing", None, 404, "not_found"),
    ("DELETE", "/v1/hashes", None, 405, "method_not_allowed"),
    ("POST", "/v1/entries", b'{"entries": ["!!"]}', 400, "bad_request"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_REQUESTS)
async def test_bad_input_gets_a_json_4xx_and_writes_nothing(
    hb: RunningNode, method: str, path: str, body: bytes | None, status: int, code: str
) -> None:
    before = (await hb.get("/v1/status")).body
    response = await hb.call(method, path, raw=body)
    assert response.status == status, response.body
    assert response.body["error"]["code"] == code
    assert response.body["error"]["message"]
    after = (await hb.get("/v1/status")).body
    assert after["entries"] == before["entries"]
    assert after["bank_digest"] == before["bank_digest"]


@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_calls_without_the_operator_token_are_refused(
    hb: RunningNode, token: str | None
) -> None:
    response = await hb.post(
        "/v1/hashes", {"items": [{"signal_type": "md5", "value": MD5}]}, token=token
    )
    assert response.status == 401
    assert response.body["error"]["code"] == "unauthenticated"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="hashbank"')
    assert ("invalid_token" in challenge) == (token is not None)
    assert (await hb.get("/v1/status")).body["entries"] == 0


async def test_revoking_twice_is_a_conflict(hb: RunningNode) -> None:
    entry_id = await submit(hb, {"signal_type": "md5", "value": MD5})
    assert (await hb.post("/v1/revocations", {"entry_id": entry_id})).status == 201
    again = await hb.post("/v1/revocations", {"entry_id": entry_id})
    assert again.status == 409
    beyond = await hb.post("/v1/revocations", {"entry_id": entry_id, "items": [5]})
    assert beyond.status == 400


JUNK = {
    "empty file md5": (
        {"signal_type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"},
        "empty",
    ),
    "empty file sha256": (
        {
            "signal_type": "sha256",
            "value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        },
        "empty",
    ),
    "low quality": ({"signal_type": "pdq", "value": PDQ, "quality": 12}, "quality 12"),
    "all zero": ({"signal_type": "pdq", "value": "00" * 32}, "every bit equal"),
    "uniform grey": (
        {
            "signal_type": "pdq",
            "value": "0000000000000000000011341134554b2c4b2c4b11342c4b2c4b11341134cc53",
        },
        "uniform image",
    ),
}


@pytest.mark.parametrize("kind", JUNK)
async def test_junk_is_refused_whole_and_nothing_is_written(hb: RunningNode, kind: str) -> None:
    junk, reason = JUNK[kind]
    response = await hb.post(
        "/v1/hashes", {"items": [{"signal_type": "md5", "value": MD5, "case": "HL-9"}, junk]}
    )
    assert response.status == 400, response.body
    assert response.body["error"]["code"] == "never_publish"
    message = response.body["error"]["message"]
    assert "items[1]: " in message
    assert reason in message
    assert "items[0]" not in message
    assert (await hb.get("/v1/status")).body["entries"] == 0
    assert await hb.node.store.case_by_reference("HL-9") is None  # no case opened either


async def test_the_operators_never_publish_list_is_applied_as_it_changes(hb: RunningNode) -> None:
    listed = hb.data.never_publish
    listed.write_text(f"pdq:{PDQ}  the helpline's own logo\n")
    refused = await hb.post("/v1/hashes", {"items": [{"signal_type": "pdq", "value": PDQ}]})
    assert refused.status == 400
    assert "never-publish list" in refused.body["error"]["message"]
    assert "own logo" in refused.body["error"]["message"]
    listed.write_text("# nothing listed\n")
    await submit(hb, {"signal_type": "pdq", "value": PDQ, "quality": 50})
