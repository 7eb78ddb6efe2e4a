"""``/metrics`` parsed as Prometheus text, ``/healthz`` and ``/readyz``, JSON log lines.

Real nodes in this process (two of them peered, for the federation metrics) and a
``hashbank run --log-format json`` child process for the logs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import yarl
from prometheus_client.parser import text_string_to_metric_families

from node.api.metrics import METRICS
from node.api.probes import LIFECYCLE
from node.config import PeerConfig, load_config, write_config
from node.datadir import load_key
from protocol.sync import Head
from tests.builders import Author
from tests.integration.test_staleness import LIAR, FakeRelay
from tests.nodes import ROOT, RunningNode, make_data, wait_until

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(node: RunningNode) -> Samples:
    answer = await node.get("/metrics")
    assert answer.status == 200, answer.body
    return parse(answer.body)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[RunningNode, RunningNode]]:
    a = await RunningNode.start(make_data(tmp_path / "a", name="Helpline A"))
    b = await RunningNode.start(make_data(tmp_path / "b", name="Helpline B"))
    for one, other in ((a, b), (b, a)):
        peer = PeerConfig(other.url, str(load_key(other.data).public_key))
        write_config(one.data, replace(load_config(one.data), peers=(peer,)))
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def test_counters_move_when_entries_arrive_from_a_peer_and_matches_run(
    pair: tuple[RunningNode, RunningNode],
) -> None:
    a, b = pair

    async def linked() -> bool:  # each has pulled from the other once: both accept the other
        sa, sb = await scrape(a), await scrape(b)
        return (
            value(sa, "hashbank_peer_sync_duration_seconds_count", peer=b.url) >= 1
            and value(sb, "hashbank_peer_sync_duration_seconds_count", peer=a.url) >= 1
        )

    await wait_until(linked, what="the two nodes to sync")
    before = await scrape(b)
    assert value(before, "hashbank_entries_stored_total", origin="peer") == 0
    assert value(before, "hashbank_peer_lag_entries", peer=a.url) == 0
    assert value(before, "hashbank_peer_sync_duration_seconds_bucket", peer=a.url, le="+Inf") >= 1
    items = [{"signal_type": "pdq", "value": PDQ}, {"signal_type": "md5", "value": "0" * 32}]
    submitted = await a.post("/v1/hashes", {"items": items})
    assert submitted.status == 201, submitted.body

    async def arrived() -> bool:
        pushed = value(await scrape(a), "hashbank_peer_pushed_entries_total", peer=b.url)
        stored = value(await scrape(b), "hashbank_entries_stored_total", origin="peer")
        return (pushed, stored) == (1, 1)

    await wait_until(arrived, what="the entry to be pushed to b")
    theirs = await scrape(b)
    assert value(theirs, "hashbank_entries", kind="add") == 1
    assert value(theirs, "hashbank_items_active", signal_type="pdq") == 1
    assert value(theirs, "hashbank_items_active", signal_type="md5") == 1
    assert value(theirs, "hashbank_authors") == 1
    ours = await scrape(a)
    assert value(ours, "hashbank_entries_stored_total", origin="own") == 1
    assert value(ours, "hashbank_peer_queue_entries", peer=b.url) == 0

    async def indexed() -> bool:  # entries from peers reach the PDQ index a moment later
        return value(await scrape(b), "hashbank_pdq_index_items") == 1

    await wait_until(indexed, what="b's index to take the hash")

    # Matches: the histogram counts each part, the counters each query and result.
    matched = await b.post("/v1/match", {"queries": [{"signal_type": "pdq", "value": PDQ}]})
    assert matched.status == 200
    assert (
        await b.post("/v1/match", {"queries": [{"signal_type": "md5", "value": "0" * 32}]})
    ).status == 200
    after = await scrape(b)
    assert value(after, "hashbank_match_duration_seconds_count", part="total") == 2
    assert value(after, "hashbank_match_duration_seconds_count", part="pdq") == 1
    assert value(after, "hashbank_match_duration_seconds_count", part="exact") == 1
    assert value(after, "hashbank_match_queries_total", signal_type="pdq") == 1
    assert value(after, "hashbank_match_results_total") == 2
    # HTTP requests by the route's canonical path: peer routes too, unknown paths as one.
    entry_id = submitted.body["entry_id"]
    assert (await b.get(f"/v1/entries/{entry_id}")).status == 200
    assert (await b.get("/v1/no/such/path/" + "x" * 40)).status == 404
    after = await scrape(b)
    route = "/v1/entries/{entry_id}"
    assert (
        value(after, "hashbank_http_requests_total", route=route, method="GET", status="200") == 1
    )
    assert (
        value(after, "hashbank_http_requests_total", route="unmatched", method="GET", status="404")
        == 1
    )
    assert (
        value(
            after,
            "hashbank_http_requests_total",
            route="/v1/peer/push",
            method="POST",
            status="200",
        )
        >= 1
    )
    assert value(after, "hashbank_http_request_duration_seconds_count", route="/v1/match") == 2
    names = {name for name, _ in after}
    assert not any(entry_id in str(labels) for _, labels in after)  # no raw paths, ever
    assert {
        "hashbank_pdq_index_segments",
        "hashbank_rate_limited_total",
        "hashbank_node_info",
    } <= names


async def test_lag_behind_a_peer_that_announces_more(tmp_path: Path) -> None:
    relay = FakeRelay()
    runner = await relay.start()
    data = make_data(tmp_path / "n")
    write_config(
        data, replace(load_config(data), peers=(PeerConfig(relay.url, str(LIAR.public_key)),))
    )
    author = Author(77)
    relay.heads = [Head(author.org, 7, b"\x00" * 32)]
    node = await RunningNode.start(data)
    try:

        async def lagging() -> bool:
            return value(await scrape(node), "hashbank_peer_lag_entries", peer=relay.url) == 7

        await wait_until(lagging, what="the lag to show")
    finally:
        await node.stop()
        await runner.cleanup()


async def test_metrics_need_the_token_or_the_separate_listener(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    write_config(data, replace(load_config(data), metrics_listen="127.0.0.1:0"))
    node = await RunningNode.start(data)
    try:
        refused = await node.get("/metrics", token=None)
        assert refused.status == 401
        assert refused.body["error"]["code"] == "unauthenticated"
        url = node.service.metrics_url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", url)
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            samples = parse(await resp.text())
        assert value(samples, "hashbank_entries", kind="add") == 0
    finally:
        await node.stop()


async def test_metrics_are_per_node(pair: tuple[RunningNode, RunningNode]) -> None:
    a, b = pair
    await a.get("/healthz", token=None)
    await a.get("/healthz", token=None)
    route = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(await scrape(a), "hashbank_http_requests_total", **route) == 2
    assert value(await scrape(b), "hashbank_http_requests_total", **route) == 0


async def test_refusals_are_counted_by_reason_and_by_limiter(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    write_config(data, replace(load_config(data), api_rate=0.01, api_burst=30))
    node = await RunningNode.start(data)
    try:
        entry = bytearray(Author(78).add().raw)
        entry[-40] ^= 1  # the entry no longer matches what its author signed
        answer = await node.post("/v1/entries", {"entries": [base64.b64encode(entry).decode()]})
        (reason, count), *_ = answer.body["rejected"].items()
        assert count == 1, answer.body
        after = await scrape(node)
        assert value(after, "hashbank_ingest_rejected_total", reason=reason) == 1
        assert value(after, "hashbank_entries_stored_total", origin="import") == 0
        assert value(after, "hashbank_rate_limited_total", limiter="api") == 0
        statuses = [(await node.get("/v1/feedback")).status for _ in range(40)]
        assert 429 in statuses
        # The token's own scrapes are over the budget now too: read the registry directly.
        samples = parse(node.app[METRICS].render().decode())
        assert value(samples, "hashbank_rate_limited_total", limiter="api") >= statuses.count(429)
    finally:
        await node.stop()


async def test_health_and_readiness(tmp_path: Path) -> None:
    node = await RunningNode.start(make_data(tmp_path / "n"))
    try:
        health = await node.get("/healthz", token=None)
        assert (health.status, health.body) == (200, {"status": "ok"})
        ready = await node.get("/readyz", token=None)
        assert (ready.status, ready.body) == (200, {"ready": True, "reasons": []})
        node.node.index_origin = ""  # as before the index has loaded
        node.app[LIFECYCLE].stopping = True  # as once SIGTERM has arrived
        unready = await node.get("/readyz", token=None)
        assert unready.status == 503
        assert unready.body == {
            "ready": False,
            "reasons": ["shutting down", "the PDQ index is not loaded yet"],
        }
        assert (await node.get("/healthz", token=None)).status == 200
    finally:
        await node.stop()


# A client's attempts at a line of its own in the node's log (issue 14): decoded newlines in
# the path of an API route, of a peer route (logged twice: refused, then the request) and of
# a page, and Unicode line breaks.
FORGERIES = (
    "/v1/status%0aERROR%20hashbank.node%20fork%20author=00%20seq=1",
    "/v1/status%0d%0a2026-01-01T00:00:00.000Z%20ERROR%20hashbank.node%20forged",
    "/v1/peer/heads%0aERROR%20hashbank.peer%20forged",
    "/case%0aWARNING%20hashbank.http%20forged",
    "/v1/x%E2%80%A8LSEP%C2%85NEL%0bVT%0cFF",
)
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ .*"
)


async def _run_and_log(data_root: Path, *flags: str, forge: bool = False) -> list[str]:
    """Start ``hashbank run``, make two requests (more with ``forge``), stop it; its stderr
    lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", "--data", str(data_root), *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        url = re.search(r"listening on (http://\S+)", line)
        assert url, line
        async with aiohttp.ClientSession() as http:
            async with http.get(url.group(1) + "/healthz"):
                pass
            forged = yarl.URL(url.group(1) + "/v1/x%22%0A%7B%22forged%22%3A1%7D", encoded=True)
            async with http.get(forged):
                pass
            for path in FORGERIES if forge else ():
                async with http.get(yarl.URL(url.group(1) + path, encoded=True)):
                    pass
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    return err.splitlines()


async def test_json_log_lines(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    lines = await _run_and_log(data.root, "--log-format", "json")
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= d.keys() for d in docs)
    requests = [d for d in docs if d["logger"] == "hashbank.http" and d["message"] == "request"]
    assert [(d["method"], d["status"]) for d in requests] == [("GET", 200), ("GET", 401)]
    assert requests[0]["path"] == "/healthz"
    assert isinstance(requests[0]["ms"], float)
    assert requests[1]["path"] == '/v1/x"\n{"forged":1}'  # JSON-escaped, one line
    assert not any("forged" in d and d.get("forged") == 1 for d in docs)


async def test_log_format_from_the_config_and_text_by_default(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    text = await _run_and_log(data.root)
    request = next(line for line in text if " request " in line and "/healthz" in line)
    assert re.fullmatch(
        r"\S+Z INFO hashbank\.http request method='GET' path='/healthz' status=200 ms=\S+ "
        r"peer='127\.0\.0\.1'",
        request,
    )
    assert not any(line.startswith('{"forged"') for line in text)
    write_config(data, replace(load_config(data), log_format="json"))
    assert all(json.loads(line) for line in await _run_and_log(data.root))


async def test_no_client_can_write_a_log_line_of_its_own(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    lines = await _run_and_log(data.root, forge=True)
    forged = [line for line in lines if not LOG_LINE.fullmatch(line)]
    assert forged == []
    requests = [line for line in lines if " hashbank.http request " in line]
    assert len(requests) == 2 + len(FORGERIES)
    assert any("path='/v1/status\\nERROR hashbank.node fork" in line for line in requests)
    assert any("refused peer request path='/v1/peer/heads\\nERROR" in line for line in lines)
    # JSON lines, one object each, keep the text as it came.
    write_config(data, replace(load_config(data), log_format="json"))
    docs = [json.loads(line) for line in await _run_and_log(data.root, forge=True)]
    paths = {d.get("path") for d in docs if d["message"] == "request"}
    assert "/v1/status\nERROR hashbank.node fork author=00 seq=1" in paths
