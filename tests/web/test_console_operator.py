"""The operator's pages through real HTTP: the node's health, peers, members, refusals and
imports; the charter with its pending drafts; the audit log. Real nodes, real signatures.

Also: every console page in English and German, and no page shows a time as epoch
milliseconds (times are ``<time>`` elements the page's script shows in the viewer's zone).
The browser checks the same pages with axe-core in test_console_browser.py.
"""

from __future__ import annotations

import base64
import html
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from node.config import PeerConfig, load_config, write_config
from node.datadir import load_key
from protocol.charter import Charter
from tests.builders import Author, pdq_item
from tests.charters import genesis, member, successor
from tests.nodes import RunningNode, make_data, wait_until
from tests.web.console_client import Answer, ConsoleBrowser, ready_user

NAME = "Harbour Helpline"
OTHER = Author(7)
EPOCH_MS = re.compile(r"\b1[5-9]\d{11}\b")
TAGS = re.compile(r"<[^>]*>")
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    data = make_data(tmp_path / "hl", name=NAME, sync_interval=1.0)
    nowhere = PeerConfig(f"http://127.0.0.1:{closed_port()}", str(OTHER.key.public_key))
    write_config(data, replace(load_config(data), peers=(nowhere,), confirm_own_head=False))
    running = await RunningNode.start(data)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def olga(node: RunningNode) -> AsyncIterator[ConsoleBrowser]:
    browser = await ready_user(node, "olga", role="operator")
    try:
        yield browser
    finally:
        await browser.close()


def visible(page: str) -> str:
    return html.unescape(TAGS.sub(" ", page))


def b64(charter: Charter) -> str:
    return base64.b64encode(charter.encode()).decode()


async def test_health_peers_refusals_and_imports(node: RunningNode, olga: ConsoleBrowser) -> None:
    async def failing() -> bool:
        return "Unreachable" in (await olga.get("/console/node")).text

    await wait_until(failing, what="the dead peer to show as unreachable")
    page = await olga.get("/console/node")
    text = visible(page.text)
    assert page.status == 200
    assert "hashbank 0." in text
    assert NAME in text
    assert node.node.store.digest.value().hex() in text
    assert "cannot connect" in text  # the last error, in our words
    assert "Check the peer's URL" in text  # and what to do about it
    assert "Failures in a row:" in text
    assert "No entry has been refused" in text
    assert "No import" in text
    # A refused entry (a forged signature) and an import in progress show up.
    entry = OTHER.add()
    forged = bytearray(entry.raw)
    forged[-40] ^= 1
    answer = await node.post("/v1/entries", {"entries": [base64.b64encode(forged).decode()]})
    assert answer.body["rejected"], answer.body
    step = {"id": "run-1", "name": "hashes.csv", "done": 1, "total": 3}
    items = [{"signal_type": "pdq", "value": PDQ}]
    assert (await node.post("/v1/hashes", {"items": items, "import": step})).status == 201
    text = visible((await olga.get("/console/node")).text)
    reason = next(iter(answer.body["rejected"]))
    assert reason in text
    assert "Latest refusals" in text
    assert "hashes.csv" in text
    assert "1 of 3 hashes" in text
    assert "Running" in text
    assert "pdq" in text
    assert "Signed entries: 1. Organisations: 1." in text
    bad = await node.post("/v1/hashes", {"items": items, "import": {"id": "x", "done": 5}})
    assert bad.status == 400
    assert "import." in bad.body["error"]["message"]


async def test_what_needs_attention_says_what_to_do(
    node: RunningNode, olga: ConsoleBrowser
) -> None:
    assert "Nothing needs attention" in visible((await olga.get("/console/node")).text)
    one, rival = Author(9), Author(9)  # one key, two histories: a fork at seq 1
    first, second = one.add(), rival.add(pdq_item(99))
    ahead = Author(10)
    ahead.add()
    gap = ahead.add()  # seq 2 without seq 1: held until the gap fills
    raws = [base64.b64encode(e.raw).decode() for e in (first, second, gap)]
    answer = await node.post("/v1/entries", {"entries": raws})
    assert answer.status == 200, answer.body
    text = visible((await olga.get("/console/node")).text)
    assert f"{one.org.hex()[:16]} signed two different entries at seq 1." in text
    assert "The stewards heal it" in text  # what to do
    assert "Entries that arrived ahead of a gap and are waiting: 1." in text
    assert "dropped after 10 minutes" in text


async def test_members_charter_and_drafts(node: RunningNode, olga: ConsoleBrowser) -> None:
    ours = load_key(node.data)
    members = [
        member(ours, NAME, "publisher", "steward"),
        member(OTHER.key, "Other Helpline", "publisher", "steward"),
    ]
    v1 = genesis(members, ours, OTHER.key, threshold=2)
    assert (await node.post("/v1/charter", {"charter": b64(v1)})).status == 200
    page = visible((await olga.get("/console/node")).text)
    assert "Other Helpline" in page
    assert "(this node)" in page
    assert "steward" in page
    charter = visible((await olga.get("/console/charter")).text)
    assert "test-network" in charter
    assert "Signatures needed: 2 (stewards: 2)" in charter
    assert "No draft is waiting" in charter

    newcomer = Author(8)
    v2 = successor(v1, ours, members=[*members, member(newcomer.key, "New Platform", "subscriber")])
    shared = await node.post("/v1/charter/drafts", {"charter": b64(v2)})
    assert shared.status == 201, shared.body
    assert shared.body["signed_by"] == [NAME]
    assert shared.body["not_signed_by"] == ["Other Helpline"]
    assert (shared.body["signatures_needed"], shared.body["ready"]) == (2, False)
    assert shared.body["changes"] == [
        {"kind": "member_added", "member": "New Platform", "detail": "subscriber"}
    ]
    charter = visible((await olga.get("/console/charter")).text)
    assert "Draft of version 2" in charter
    assert "adds New Platform as subscriber" in charter
    assert "Signatures still missing: 1" in charter

    # The other steward's copy, uploaded as the file `hashbank charter sign` writes.
    theirs = successor(v1, OTHER.key, members=v2.body.members)
    file = json.dumps({"charter": b64(theirs), "summary": {}}).encode()
    form = {"csrf_token": await olga.csrf()}
    answer = await _upload(olga, form, file)
    assert answer.status == 303, answer.text
    charter = visible((await olga.get("/console/charter")).text)
    assert "It has enough signatures" in charter
    drafts = (await node.get("/v1/charter/drafts")).body["drafts"]
    assert [d["ready"] for d in drafts] == [True]
    forged = await _upload(olga, {}, file)  # no token: refused before the handler
    assert forged.status == 403
    bad = await _upload(olga, {"csrf_token": await olga.csrf()}, b"not a draft")
    assert bad.status == 400
    assert "not a charter draft file" in bad.text
    stale = await node.post("/v1/charter/drafts", {"charter": b64(v1)})
    assert stale.status == 409, stale.body
    # Adopting version 2 retires its drafts.
    assert (await node.post("/v1/charter", {"charter": drafts[0]["raw"]})).status == 200
    assert (await node.get("/v1/charter/drafts")).body["drafts"] == []
    assert "New Platform" in visible((await olga.get("/console/charter")).text)
    lines = (await olga.get("/console/audit?action=charter_draft_added")).text
    assert "charter version 2" in lines


async def _upload(browser: ConsoleBrowser, fields: dict[str, str], data: bytes) -> Answer:
    form = aiohttp.FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("draft", data, filename="v2.json", content_type="application/json")
    async with browser.http.post(
        browser.node.url + "/console/charter/drafts",
        data=form,
        headers={"Origin": browser.origin},
        allow_redirects=False,
    ) as resp:
        return Answer(resp.status, await resp.text(), resp.headers)


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_every_page_in_two_languages_and_no_epoch_ms(
    node: RunningNode, olga: ConsoleBrowser, lang: str
) -> None:
    made = await olga.post_json(
        "/console/api/cases", {"files": [{"md5": "ab" * 16, "sha256": "cd" * 32}]}
    )
    case_id = made.json()["case_id"]
    pages = [
        "/console/cases",
        "/console/cases/new",
        f"/console/cases/{case_id}",
        f"/console/cases/{case_id}/report",
        "/console/node",
        "/console/charter",
        "/console/audit",
        "/console/password",
        "/console/cases/999",
    ]
    for path in pages:
        answer = await olga.get(f"{path}?lang={lang}")
        assert answer.status in (200, 404), (path, answer.text)
        assert f'<html lang="{lang}"' in answer.text, path
        assert answer.headers["Content-Language"] == lang
        # Same-origin: under no-referrer browsers send "Origin: null" with our own forms.
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert answer.headers["Cache-Control"] == "no-store"
        found = EPOCH_MS.findall(visible(answer.text))
        assert not found, (path, found)
        # Every form that changes something carries the session's CSRF token.
        for form in re.findall(r'<form[^>]*method="post".*?</form>', answer.text, re.S):
            assert f'name="csrf_token" value="{await olga.csrf()}"' in form, (path, form)
    # The choice is remembered (a cookie of the console's own) until changed.
    again = await olga.get("/console/node")
    assert f'<html lang="{lang}"' in again.text
    assert ("Dieser Knoten" in again.text) == (lang == "de")


async def test_bad_queries_get_a_page_that_says_what_is_wrong(olga: ConsoleBrowser) -> None:
    for path, status, words in (
        ("/console/audit?action=bogus", 400, "action must be one of"),
        ("/console/audit?limit=0", 400, "limit must be a whole number"),
        ("/console/audit?limit=5000", 413, "limit must be at most"),
        ("/console/audit?before=x", 400, "before must be a whole number"),
        ("/console/cases?state=bogus", 400, "state must be one of"),
        ("/console/cases?until=2026-13-01", 400, "until must be a date"),
        ("/console/nowhere", 404, "no such page"),
    ):
        answer = await olga.get(path)
        assert answer.status == status, (path, answer.text)
        assert "<!doctype html>" in answer.text
        assert words in html.unescape(answer.text), (path, answer.text)
        assert "Traceback" not in answer.text
