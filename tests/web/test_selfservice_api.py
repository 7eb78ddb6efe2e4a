"""The self-service endpoints (/v1/self/…) against a real node: shapes, refusals, guessing.

Bad input gets a 4xx JSON error naming the problem; another site's requests are refused;
a wrong PIN and an unknown case number get the same answer; lockouts and budgets hold; a
node that does not offer self-service says so. No browser here (see test_selfservice_flow).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from node.config import WebConfig, load_config, write_config
from node.web.assets import CONTENT_SECURITY_POLICY
from node.web.protect import MAX_BODY
from node.web.shapes import LABELS, MAX_FILES
from tests.nodes import Response, RunningNode, make_data

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
UPRIGHT = "0707f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
FILE = {"md5": "ab" * 16, "sha256": "cd" * 32, "pdq": [PDQ, UPRIGHT]}
VIDEO = {"md5": "ef" * 16, "sha256": "01" * 32}


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "node"))
    try:
        yield running
    finally:
        await running.stop()


async def self_post(
    node: RunningNode, path: str, doc: Any = None, *, raw: bytes | None = None, **headers: str
) -> Response:
    """A POST as the page sends it: no token; JSON unless ``raw``."""
    sent = {"Content-Type": "application/json", **headers}
    body = raw if raw is not None else json.dumps(doc).encode()
    return await node.call("POST", "/v1/self/" + path, raw=body, token=None, headers=sent)


def assert_error(response: Response, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert isinstance(response.body, dict), response.body
    assert response.body["error"]["code"] == code, response.body
    assert response.body["error"]["message"]


async def open_case(node: RunningNode, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    response = await self_post(node, "cases", {"files": files or [FILE, VIDEO]})
    assert response.status == 201, response.body
    return dict(response.body)


async def test_opening_a_case_publishes_one_labelled_entry(node: RunningNode) -> None:
    opened = await open_case(node)
    assert set(opened) == {"case", "pin", "files", "items"}
    assert (opened["files"], opened["items"]) == (2, 6)
    assert len(opened["pin"]) == 8
    assert opened["pin"].isdigit()
    case = await node.node.cases.get(opened["case"])
    assert case is not None
    assert case.origin == "self_service"
    items = await node.node.cases.items(case)
    assert len({item.entry_id for item in items}) == 1  # ONE signed add entry
    assert [item.signal_type for item in items] == ["pdq", "pdq", "md5", "sha256", "md5", "sha256"]
    assert all(item.labels == LABELS for item in items)
    assert LABELS == ("ncii", "self-submitted")


async def test_status_groups_items_per_file_and_withdraws_some(node: RunningNode) -> None:
    opened = await open_case(node)
    credentials = {"case": opened["case"].lower().replace("-", ""), "pin": opened["pin"]}
    status = await self_post(node, "status", credentials)
    assert status.status == 200, status.body
    assert status.headers["Cache-Control"] == "no-store"
    files = status.body["files"]
    assert [(f["file"], f["kind"], f["state"], len(f["items"])) for f in files] == [
        (1, "image", "active", 4),
        (2, "file", "active", 2),
    ]
    assert all(f["reports"] == [] for f in files)
    chosen = [item["id"] for item in files[1]["items"]]
    withdrawn = await self_post(node, "withdraw", {**credentials, "items": chosen})
    assert withdrawn.status == 201, withdrawn.body
    assert len(withdrawn.body["revokes"]) == 1
    again = await self_post(node, "status", credentials)
    assert [f["state"] for f in again.body["files"]] == ["active", "withdrawn"]
    assert_error(
        await self_post(node, "withdraw", {**credentials, "items": chosen}), 409, "conflict"
    )
    everything = await self_post(node, "withdraw", {**credentials, "all": True})
    assert everything.status == 201, everything.body
    final = await self_post(node, "status", credentials)
    assert [f["state"] for f in final.body["files"]] == ["withdrawn", "withdrawn"]


async def test_more_files_join_the_case_as_a_new_entry(node: RunningNode) -> None:
    opened = await open_case(node, [VIDEO])
    credentials = {"case": opened["case"], "pin": opened["pin"]}
    added = await self_post(node, "items", {**credentials, "files": [FILE]})
    assert added.status == 201, added.body
    assert added.body == {"case": opened["case"], "files": 1, "items": 4}
    status = await self_post(node, "status", credentials)
    assert [f["kind"] for f in status.body["files"]] == ["file", "image"]


async def test_someone_elses_items_cannot_be_withdrawn(node: RunningNode) -> None:
    mine, theirs = await open_case(node, [VIDEO]), await open_case(node, [FILE])
    their_status = await self_post(node, "status", {"case": theirs["case"], "pin": theirs["pin"]})
    their_item = their_status.body["files"][0]["items"][0]["id"]
    asked = {"case": mine["case"], "pin": mine["pin"], "items": [their_item]}
    assert_error(await self_post(node, "withdraw", asked), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "doc", "status", "code"),
    [
        ("cases", {}, 400, "bad_request"),
        ("cases", {"files": []}, 400, "bad_request"),
        ("cases", {"files": "abc"}, 400, "bad_request"),
        ("cases", [FILE], 400, "bad_request"),
        ("cases", {"files": [FILE] * (MAX_FILES + 1)}, 413, "payload_too_large"),
        ("cases", {"files": [{"md5": "ab" * 16}]}, 400, "bad_request"),
        ("cases", {"files": [{**VIDEO, "md5": "xyz"}]}, 400, "bad_request"),
        ("cases", {"files": [{**VIDEO, "md5": "ab" * 15}]}, 400, "bad_request"),
        ("cases", {"files": [{**VIDEO, "name": "me.jpg"}]}, 400, "bad_request"),
        ("cases", {"files": [{**VIDEO, "pdq": [PDQ] * 3}]}, 400, "bad_request"),
        ("cases", {"files": [{**VIDEO, "pdq": PDQ}]}, 400, "bad_request"),
        ("cases", {"files": ["ab" * 16]}, 400, "bad_request"),
        ("status", {"case": "K7P2-9QXD"}, 400, "bad_request"),
        ("status", {"case": "K7P2-9QXD", "pin": 12345678}, 400, "bad_request"),
        ("status", {"case": "", "pin": "12345678"}, 400, "bad_request"),
        ("status", {"case": "x" * 21, "pin": "12345678"}, 400, "bad_request"),
        ("withdraw", {"case": "K7P2-9QXD", "pin": "12345678"}, 400, "bad_request"),
        ("withdraw", {"case": "K7P2-9QXD", "pin": "1", "items": ["nope"]}, 400, "bad_request"),
        ("withdraw", {"case": "K7P2-9QXD", "pin": "1", "items": []}, 400, "bad_request"),
        ("items", {"case": "K7P2-9QXD", "pin": "12345678"}, 400, "bad_request"),
    ],
)
async def test_bad_input_is_a_4xx_json_error(
    node: RunningNode, path: str, doc: Any, status: int, code: str
) -> None:
    assert_error(await self_post(node, path, doc), status, code)


@pytest.mark.parametrize("path", ["cases", "status", "items", "withdraw"])
async def test_bodies_that_are_not_json_or_too_large_are_refused(
    node: RunningNode, path: str
) -> None:
    assert_error(await self_post(node, path, raw=b""), 400, "bad_request")
    assert_error(await self_post(node, path, raw=b"{not json"), 400, "bad_request")
    assert_error(await self_post(node, path, raw=b"[" * 100_000), 400, "bad_request")
    assert_error(await self_post(node, path, raw=b" " * (MAX_BODY + 1)), 413, "payload_too_large")
    form = await node.call(
        "POST",
        "/v1/self/" + path,
        raw=b"files=1",
        token=None,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(form, 415, "unsupported_media_type")
    assert_error(await node.get("/v1/self/" + path, token=None), 405, "method_not_allowed")


async def test_requests_from_another_site_are_refused(node: RunningNode) -> None:
    doc = {"files": [VIDEO]}
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:1"},
    ):
        assert_error(await self_post(node, "cases", doc, **headers), 403, "cross_origin")
    same = {"Sec-Fetch-Site": "same-origin", "Origin": node.url}
    assert (await self_post(node, "cases", doc, **same)).status == 201


async def test_a_wrong_pin_and_an_unknown_case_answer_alike_then_lock(node: RunningNode) -> None:
    opened = await open_case(node)
    wrong = await self_post(node, "status", {"case": opened["case"], "pin": "00000000"})
    unknown = await self_post(node, "status", {"case": "ZZZZ-ZZZZ", "pin": "00000000"})
    assert_error(wrong, 403, "case_access")
    assert (wrong.status, wrong.body) == (unknown.status, unknown.body)
    for case in (opened["case"], "ZZZZ-ZZZZ"):
        for _ in range(4):  # five failures in all lock the case number, real or not
            await self_post(node, "status", {"case": case, "pin": "00000001"})
    real = await self_post(node, "status", {"case": opened["case"], "pin": opened["pin"]})
    invented = await self_post(node, "status", {"case": "ZZZZ-ZZZZ", "pin": "00000000"})
    assert_error(real, 403, "case_locked")
    assert_error(invented, 403, "case_locked")
    assert real.body["error"]["code"] == invented.body["error"]["code"]
    # Locked out of reading means locked out of withdrawing and adding, too.
    asked = {"case": opened["case"], "pin": opened["pin"], "all": True}
    assert_error(await self_post(node, "withdraw", asked), 403, "case_locked")


async def test_one_client_cannot_try_many_case_numbers(node: RunningNode) -> None:
    answers = []
    for i in range(25):  # distinct numbers, so no number's own lockout is reached
        asked = {"case": f"AAAA-{i:04d}", "pin": "00000000"}
        answers.append(await self_post(node, "status", asked))
    assert {a.status for a in answers[:20]} == {403}
    assert_error(answers[-1], 429, "rate_limited")
    assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_one_client_cannot_open_cases_without_end(node: RunningNode) -> None:
    answers = [await self_post(node, "cases", {"files": [VIDEO]}) for _ in range(6)]
    assert [a.status for a in answers[:5]] == [201] * 5
    assert_error(answers[5], 429, "rate_limited")
    assert "Retry-After" in answers[5].headers


async def test_no_cookies_and_no_caching(node: RunningNode) -> None:
    for path in ("/", "/case", "/under-18", "/submit?adult=yes&consent=yes"):
        page = await node.get(path, token=None)
        assert page.status == 200, path
        assert "Set-Cookie" not in page.headers
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    answer = await self_post(node, "status", {"case": "ZZZZ-ZZZZ", "pin": "1"})
    assert "Set-Cookie" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"


async def test_pages_need_no_inline_script_or_style(node: RunningNode) -> None:
    for path in ("/", "/case", "/under-18", "/submit?adult=yes&consent=yes", "/?lang=ar"):
        html = (await node.get(path, token=None)).body
        for tag in re.findall(r"<script\b[^>]*>", html):
            # The catalogue travels as a JSON data block, which is never run.
            assert 'src="/static/' in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"<[^>]+\sstyle=", html), path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path
        assert not re.search(r"(src|href)=\"(//|https?://(?!127\.0\.0\.1))[^\"]*\.(js|css)", html)


async def test_the_language_switcher_keeps_the_page_and_its_confirmations(
    node: RunningNode,
) -> None:
    html = (await node.get("/submit?adult=yes&consent=yes&lang=de&x=1", token=None)).body
    assert 'href="/submit?lang=ar&amp;adult=yes&amp;consent=yes"' in html
    assert '<html lang="de" dir="ltr">' in html
    start = (
        await node.get("/?confirm=missing", token=None, headers={"Accept-Language": "ar"})
    ).body
    assert '<html lang="ar" dir="rtl">' in start
    assert 'href="/?lang=fr"' in start


async def test_submit_without_the_confirmations_goes_back_to_the_start(node: RunningNode) -> None:
    async with node.session.get(
        node.url + "/submit?lang=ar&adult=yes", allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/?confirm=missing&lang=ar#consent"


async def test_with_a_public_url_only_its_origin_is_accepted(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    write_config(data, replace(load_config(data), public_url="https://help.example:8443"))
    running = await RunningNode.start(data)
    try:
        doc = {"files": [VIDEO]}
        for origin in (running.url, "https://help.example"):
            assert_error(await self_post(running, "cases", doc, Origin=origin), 403, "cross_origin")
        opened = await self_post(running, "cases", doc, Origin="https://help.example:8443")
        assert opened.status == 201, opened.body
    finally:
        await running.stop()


@pytest.mark.parametrize("how", ["subscriber", "turned off"])
async def test_a_node_without_self_service_says_so(tmp_path: Path, how: str) -> None:
    if how == "subscriber":
        data = make_data(tmp_path / "n", role="subscriber")
    else:
        data = make_data(tmp_path / "n")
        config = load_config(data)
        write_config(data, replace(config, web=WebConfig(self_service=False)))
    running = await RunningNode.start(data)
    try:
        assert_error(await self_post(running, "cases", {"files": [VIDEO]}), 404, "self_service_off")
        assert_error(
            await self_post(running, "status", {"case": "A", "pin": "1"}), 404, "self_service_off"
        )
        start = await running.get("/", token=None)
        assert start.status == 200
        assert "does not offer self-service" in start.body
        for path in ("/submit?adult=yes&consent=yes", "/case"):
            page = await running.get(path, token=None)
            assert page.status == 404
            assert "does not offer self-service" in page.body
    finally:
        await running.stop()


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(tmp_path: Path) -> None:
    # Behind a reverse proxy every request comes from the proxy's address: without believing
    # its X-Forwarded-For, one guesser would spend every victim's budget.
    data = make_data(tmp_path / "n")
    write_config(data, replace(load_config(data), trusted_proxies=("127.0.0.1",)))
    running = await RunningNode.start(data)
    try:

        async def guess(client: str, i: int) -> Response:
            asked = {"case": f"AAAA-{i:04d}", "pin": "00000000"}
            return await self_post(running, "status", asked, **{"X-Forwarded-For": client})

        answers = [await guess("203.0.113.7", i) for i in range(21)]
        assert {a.status for a in answers[:20]} == {403}
        assert_error(answers[20], 429, "rate_limited")
        assert_error(await guess("198.51.100.9", 21), 403, "case_access")  # another victim
        # The proxy says the browser used HTTPS: that origin is this node's.
        https = {"Origin": "https://" + running.url.removeprefix("http://")}
        proxied = {**https, "X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"}
        assert (await self_post(running, "cases", {"files": [VIDEO]}, **proxied)).status == 201
    finally:
        await running.stop()


async def test_without_a_trusted_proxy_forwarded_headers_change_nothing(
    node: RunningNode,
) -> None:
    answers = []
    for i in range(21):  # a guesser naming a new client each time is still one client
        asked = {"case": f"AAAA-{i:04d}", "pin": "00000000"}
        answers.append(await self_post(node, "status", asked, **{"X-Forwarded-For": f"10.0.0.{i}"}))
    assert_error(answers[20], 429, "rate_limited")
    https = {"Origin": "https://" + node.url.removeprefix("http://"), "X-Forwarded-Proto": "https"}
    assert_error(await self_post(node, "cases", {"files": [VIDEO]}, **https), 403, "cross_origin")


async def test_pages_answer_head_as_get(node: RunningNode) -> None:
    for path in ("/", "/case", "/under-18"):
        async with node.session.head(node.url + path) as response:
            assert response.status == 200, path
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


async def test_junk_hashes_are_refused_and_no_case_is_opened(node: RunningNode) -> None:
    empty = {"md5": "d41d8cd98f00b204e9800998ecf8427e", "sha256": "cd" * 32}
    flat = {**FILE, "pdq": ["00" * 32]}
    for junk in (empty, flat):
        response = await self_post(node, "cases", {"files": [FILE, junk]})
        assert_error(response, 400, "bad_request")
        assert "nothing was published" in response.body["error"]["message"]
    assert await node.node.store.cases_page(search=None, before_id=None, limit=10) == []
    assert (await node.get("/v1/status")).body["entries"] == 0
    opened = await open_case(node)  # and real files still open a case
    added = await self_post(
        node, "items", {"case": opened["case"], "pin": opened["pin"], "files": [empty]}
    )
    assert_error(added, 400, "bad_request")
    assert (await node.get("/v1/status")).body["entries"] == 1
