"""docs/openapi.yaml against a live node: schemathesis fuzzing, seeded requests, route drift.

One node (in-process, 127.0.0.1 port 0, a real SQLite store) is served from a background
thread for the whole module, seeded with a charter, entries of every kind, feedback from
another organisation and a fork, so reads find something to describe. Then:

- ``test_every_route_is_documented``: the aiohttp routes and the spec's operations are the
  same set, so neither can drift from the other silently.
- ``test_seeded_requests_conform``: hand-written requests naming the seeded ids and hashes,
  so the success and error shapes of every route are checked with real content.
- ``test_api_conforms`` and ``test_change_stream_conforms``: schemathesis generates requests
  for every JSON operation (examples, coverage and fuzzing phases; valid and invalid data)
  and sends each with the operator token, without a token and with a wrong one. Every
  response must be documented: no 5xx, a documented status code, content type, headers and
  body schema (each event's, for the event stream); without the token, 401.
- ``test_peer_routes_refuse_unsigned``: the node-to-node routes cannot be signed here, so
  every generated request to them must be refused with 401 and the JSON error body.

Generation is derandomized with a fixed seed, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import base64
import random
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from aiohttp import web

from node.api import stream as sse
from node.api.app import OPEN_PATHS, ROUTES
from node.config import PeerConfig, load_config, write_config
from node.datadir import load_key
from node.federation import backoff, peer_link
from protocol.body import Verdict
from protocol.charter import CharterBody, Member, MemberKey, Takedown, draft
from protocol.feed import ForkProof
from protocol.identity import OrgId
from tests.builders import Author, pdq_item
from tests.nodes import ROOT, RunningNode, make_data
from tests.web.network import generous

SPEC = ROOT / "docs" / "openapi.yaml"
Case = schemathesis.Case[Any]
T = TypeVar("T")

# The hashes the spec's request examples use, so the examples phase finds real matches.
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_NEAR = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b2d"
MD5 = "4a8043f0a48f715c417ff06d5dd435c5"
SHA256 = "5dc6e9de4dbfe57fefd8f0ada02b20ec46f32ba2d84f95fa59dc4f3454af0ad3"
CASE = "HL-2026-17"
# The seeding submission; replayed later with its idempotency key, it must answer "duplicate".
SEED_SUBMIT = {
    "items": [
        {
            "signal_type": "pdq",
            "value": PDQ,
            "labels": ["ncii", "hb:test/1"],
            "case": CASE,
            "expires_ms": 4_102_444_800_000,
        },
        {"signal_type": "md5", "value": MD5},
        {"signal_type": "sha256", "value": SHA256.upper()},
    ],
    "idempotency_key": "seed-1",
}

# A victim's files as the self-service page sends them: a photo (PDQ) and a video.
SELF_FILES = {
    "files": [
        {"md5": "12" * 16, "sha256": "34" * 32, "pdq": [PDQ]},
        {"md5": "56" * 16, "sha256": "78" * 32},
    ]
}

# Budget: about 20 JSON operations and 8 peer ones; each generated case costs three requests
# (valid, missing and wrong token). This keeps the module near a minute on two cores.
FUZZ_EXAMPLES = 25
PEER_EXAMPLES = 10
# An event stream never ends: schemathesis reads what arrives within its `timeout` after the
# answer's headers (so each answer costs it), and a stream cut short is no failure. The wait
# for the headers is PatientSession's, so a loaded machine slows the test and fails nothing
# (it once failed, with this window as the wait for headers too, at 0.5 s).
STREAM = "/v1/changes/stream"
STREAM_EXAMPLES = 10
STREAM_WINDOW_S = 1.0
ANSWER_TIMEOUT_S = 60.0


class PatientSession(requests.Session):
    """A session that waits for a slow answer instead of failing the case on a timeout."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = ANSWER_TIMEOUT_S
        return super().request(method, url, *args, **kwargs)


def load(max_examples: int) -> schemathesis.BaseSchema:
    """The spec with the settings of this module (each load has its own configuration)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": 20260301,
            "generation": {
                "deterministic": True,
                "max-examples": max_examples,
                # Authorization is added by the test itself: valid, missing and wrong.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # A schema-valid request can still be refused with 400 for what no schema
                # says: bytes that do not decode to a charter or an entry, an item index past
                # the end of the entry, either `entry_id` or `signal_type` and `value`, an
                # integer written as 1.0. The seeded requests below check the success paths.
                "positive_data_acceptance": {"enabled": False},
                # 413 is how this API refuses over-limit arrays and `limit` parameters.
                # The self-service routes also refuse with 403 (credentials), 415 and 429.
                "negative_data_rejection": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "409",
                        "413",
                        "415",
                        "429",
                    ]
                },
            },
            "suppress-health-check": ["all"],
        }
    )
    return schemathesis.openapi.from_path(SPEC, config=config)


schema = load(FUZZ_EXAMPLES)
json_api = schema.exclude(path_regex="^/v1/peer/").exclude(path=STREAM)
stream_api = load(STREAM_EXAMPLES).include(path=STREAM)
peer_api = load(PEER_EXAMPLES).include(path_regex="^/v1/peer/")

# Peer bodies are msgpack, sent as the raw bytes generated for them.
schemathesis.serializer.alias("application/x-msgpack", "application/octet-stream")


@dataclass
class Seeded:
    """What the live node holds, by name."""

    url: str
    token: str
    add: str  # our add: pdq PDQ (case CASE), md5 MD5, sha256 SHA256 (item 2 revoked)
    add_near: str  # our add: pdq PDQ_NEAR (case CASE)
    revoke: str
    feedback: str  # our feedback on `add` (md5)
    platform_feedback: str  # another organisation's feedback on `add` (pdq)
    forked: str  # an entry of an organisation that signed two entries at seq 1
    fork_proof: str  # hex of that fork's proof
    charter: str  # base64 of the charter version the node enforces
    raw_entries: list[str]  # base64 of entries the node holds
    self_case: str  # a self-service case (two files) and its PIN
    self_pin: str
    self_item: str  # the id of the case's first item

    def headers(self, token: str | None = "valid") -> dict[str, str]:
        if token is None:
            return {}
        return {"Authorization": f"Bearer {self.token if token == 'valid' else token}"}


class BackgroundLoop:
    """An event loop in a thread: the node serves there while the test thread sends."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, Seeded]]:
    background = BackgroundLoop()
    data = make_data(tmp_path_factory.mktemp("openapi") / "node", name="OpenAPI helpline")
    # A peer that never answers (nothing listens on port 9 here), so `peers` in the status has
    # an entry with an error; publishing need not wait for it to confirm our feed.
    peer = PeerConfig("http://127.0.0.1:9", str(Author(103).key.public_key))
    write_config(data, replace(load_config(data), peers=(peer,), confirm_own_head=False))
    with pytest.MonkeyPatch.context() as patch:
        # Retrying that peer draws jitter from the global `random` in the node's thread, while
        # Hypothesis draws examples in this one (and warns that a strategy used `random`).
        jitter = random.Random(0)
        patch.setattr(backoff, "random", jitter)
        patch.setattr(peer_link, "random", jitter)
        running = background.run(RunningNode.start(data))
        # Streams notice a client that left at their next write: keep that soon.
        running.app[sse.SETTINGS_KEY].heartbeat_s = 1.0
        # The self-service budgets would answer most generated requests with 429.
        generous(running)
        try:
            yield running, background.run(seed(running))
        finally:
            background.run(running.stop())
            background.close()


async def seed(hb: RunningNode) -> Seeded:
    """A charter, entries of every kind, another organisation's feedback and a fork."""
    key = load_key(hb.data)
    platform, forker, gone = Author(101), Author(102), Author(104)
    rows = sorted(  # members are listed by org id
        [
            (hb.node.org, "OpenAPI helpline", ("publisher", "steward"), key.public_key.raw),
            (platform.org, "A platform", ("subscriber",), platform.key.public_key.raw),
            (forker.org, "A forking publisher", ("publisher",), forker.key.public_key.raw),
            (gone.org, "A taken-down publisher", ("publisher",), gone.key.public_key.raw),
        ]
    )
    body = CharterBody(
        network="openapi-test",
        number=1,
        effective_ms=int(time.time() * 1000) - 10**9,
        threshold=1,
        members=tuple(Member(OrgId(o), n, r, (MemberKey(k, 1),)) for o, n, r, k in rows),
        takedowns=(Takedown(forker.org, 50, 60),),
    )
    first = draft(body).signed_by(key)
    charter = base64.b64encode(first.encode()).decode()
    await expect(hb, "POST", "/v1/charter", {"charter": charter}, 200)
    # Version 2 takes a publisher's add down: a `withdrawn` change in the feed.
    taken = base64.b64encode(gone.add(pdq_item(9), pdq_item(10)).raw).decode()
    await expect(hb, "POST", "/v1/entries", {"entries": [taken]}, 200)
    takedowns = (Takedown(forker.org, 50, 60), Takedown(gone.org, 1, None))
    second = replace(body, number=2, takedowns=takedowns, prev=first.id)
    v2 = base64.b64encode(draft(second).signed_by(key).encode()).decode()
    await expect(hb, "POST", "/v1/charter", {"charter": v2}, 200)

    add = await expect(
        hb,
        "POST",
        "/v1/hashes",
        SEED_SUBMIT,
        201,
    )
    near = await expect(
        hb,
        "POST",
        "/v1/hashes",
        {"items": [{"signal_type": "pdq", "value": PDQ_NEAR, "case": CASE}]},
        201,
    )
    revoke = await expect(
        hb,
        "POST",
        "/v1/revocations",
        {"entry_id": add["entry_id"], "items": [2], "reason": "victim_request"},
        201,
    )
    feedback = await expect(
        hb,
        "POST",
        "/v1/feedback",
        {
            "signal_type": "md5",
            "value": MD5,
            "verdict": "true_positive",
            "entry_id": add["entry_id"],
            "note": "actioned",
        },
        201,
    )
    platform_feedback = platform.feedback(
        bytes.fromhex(PDQ), Verdict.TRUE_POSITIVE, bytes.fromhex(add["entry_id"])
    )
    forked = forker.add(pdq_item(7))
    conflicting = Author(102).add(pdq_item(8))  # the same organisation's seq 1, again
    raws = [base64.b64encode(e.raw).decode() for e in (platform_feedback, forked, conflicting)]
    report = await expect(hb, "POST", "/v1/entries", {"entries": raws}, 200)
    assert (report["stored"], report["forks"]) == (2, 1), report
    opened = await expect(hb, "POST", "/v1/self/cases", SELF_FILES, 201)
    credentials = {"case": opened["case"], "pin": opened["pin"]}
    status = await expect(hb, "POST", "/v1/self/status", credentials, 200)
    return Seeded(
        url=hb.url,
        token=hb.token,
        add=add["entry_id"],
        add_near=near["entry_id"],
        revoke=revoke["entry_id"],
        feedback=feedback["entry_id"],
        platform_feedback=platform_feedback.id.hex(),
        forked=forked.id.hex(),
        fork_proof=ForkProof.of(forked, conflicting).encode().hex(),
        charter=charter,
        raw_entries=raws[:2],
        self_case=opened["case"],
        self_pin=opened["pin"],
        self_item=status["files"][0]["items"][0]["id"],
    )


async def expect(hb: RunningNode, method: str, path: str, doc: Any, status: int) -> Any:
    response = await hb.call(method, path, doc)
    assert response.status == status, (method, path, response.body)
    return response.body


# --- the routes ----------------------------------------------------------------------------


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route, sub-applications included; HEAD only where it
    does not mirror a GET (aiohttp adds HEAD to every GET route)."""
    out: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            sub = resource.get_info()["app"]
            assert isinstance(sub, web.Application)
            out |= served_routes(sub)
            continue
        methods = {route.method for route in resource}
        for method in methods - ({"HEAD"} if "GET" in methods else set()):
            out.add((method, resource.canonical))
    return out


def documented_operations() -> dict[tuple[str, str], dict[str, Any]]:
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    paths: dict[str, dict[str, Any]] = schema.raw_schema["paths"]
    return {
        (m.upper(), path): op
        for path, item in paths.items()
        for m, op in item.items()
        if m in methods
    }


def test_every_route_is_documented(live: tuple[RunningNode, Seeded]) -> None:
    running, _ = live
    # The web app's pages and static files (node/web) are not the JSON API; tests/web has them.
    # /metrics, /healthz and /readyz are API routes outside /v1/ (the route table has them).
    api_paths = {path for _, path, _, _ in ROUTES}
    served = {
        route
        for route in served_routes(running.app)
        if route[1].startswith("/v1/") or route[1] in api_paths
    }
    documented = documented_operations()
    assert served - set(documented) == set(), "served but not in docs/openapi.yaml"
    assert set(documented) - served == set(), "in docs/openapi.yaml but not served"
    # Security as the middlewares apply it: bearer token but on the open paths, signatures
    # on the peer routes.
    security = {key: op.get("security") for key, op in documented.items()}
    assert {path for (_, path), s in security.items() if s == []} == OPEN_PATHS
    signed = {path for (_, path), s in security.items() if s == [{"peerSignature": []}]}
    assert signed == {path for _, path in documented if path.startswith("/v1/peer/")}
    assert schema.raw_schema["security"] == [{"bearerAuth": []}]


# --- requests naming what the node holds ----------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request built by hand, and the status it must get (with the operator token)."""

    method: str
    path: str  # as in the spec
    status: int
    path_parameters: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    body: Any = None

    def case(self) -> Case:
        operation = schema[self.path][self.method]
        parts: dict[str, Any] = {
            "path_parameters": self.path_parameters,
            "query": self.query,
            "headers": self.headers,
        }
        if self.body is not None:
            parts["body"] = self.body
            parts["media_type"] = "application/json"
        return operation.Case(**parts)


def probes(s: Seeded) -> list[Probe]:
    """Every route's success and error shapes, with real ids, hashes and cases."""
    zero = "00" * 32
    signals = [
        {"signal_type": "pdq", "value": PDQ_NEAR},
        {"signal_type": "md5", "value": MD5},
        {"signal_type": "sha256", "value": SHA256},  # revoked: matches nothing
        {"signal_type": "pdq", "value": PDQ.upper()},
    ]
    entry_ids = [s.add, s.add_near, s.revoke, s.feedback, s.platform_feedback, s.forked]
    far_future = {"signal_type": "sha256", "value": "cd" * 32, "expires_ms": 2**64 - 1}
    repeated = {"signal_type": "md5", "value": "ab" * 16}
    return [
        Probe("GET", "/v1/status", 200),
        *(Probe("GET", "/v1/entries/{entry_id}", 200, {"entry_id": i}) for i in entry_ids),
        Probe("GET", "/v1/entries/{entry_id}", 200, {"entry_id": s.add.upper()}),
        Probe("GET", "/v1/entries/{entry_id}", 404, {"entry_id": zero}),
        Probe("GET", "/v1/entries/{entry_id}", 400, {"entry_id": "not-hex"}),
        Probe("GET", "/v1/changes", 200),
        Probe("GET", "/v1/changes", 200, query={"limit": 2}),
        Probe("GET", "/v1/changes", 200, query={"after": 3, "kinds": ["revoke", "feedback"]}),
        Probe("GET", "/v1/changes", 200, query={"kinds": ["withdrawn", "restored"]}),
        Probe("GET", "/v1/changes", 200, query={"kinds": ["add", "withdrawn"], "limit": 3}),
        Probe("GET", "/v1/changes", 413, query={"limit": 1001}),
        Probe("GET", "/v1/changes", 400, query={"kinds": "add,nope"}),
        Probe("GET", "/v1/changes", 400, query={"after": "-1"}),
        Probe("GET", "/v1/changes", 400, query={"after": "\u00b2"}),  # a digit int() refuses
        Probe("GET", "/v1/changes/stream", 200),
        Probe("GET", "/v1/changes/stream", 200, headers={"Last-Event-ID": "2"}),
        Probe("GET", "/v1/changes/stream", 200, query={"kinds": ["feedback"]}),
        Probe("GET", "/v1/changes/stream", 200, query={"kinds": ["withdrawn"]}),
        Probe("GET", "/v1/changes/stream", 400, headers={"Last-Event-ID": "x"}),
        Probe("GET", "/v1/hashes", 200),
        Probe("GET", "/v1/hashes", 200, query={"limit": 1, "signal_type": "pdq"}),
        Probe("GET", "/v1/hashes", 413, query={"limit": 10001}),
        Probe("GET", "/v1/hashes", 400, query={"signal_type": "vpdq"}),
        Probe("GET", "/v1/feedback", 200, query={"entry_id": s.add}),
        Probe("GET", "/v1/feedback", 200, query={"signal_type": "pdq", "value": PDQ}),
        Probe("GET", "/v1/feedback", 200, query={"signal_type": "md5", "value": MD5}),
        Probe("GET", "/v1/feedback", 404, query={"entry_id": zero}),
        Probe("GET", "/v1/feedback", 400),
        Probe("GET", "/v1/feedback", 400, query={"entry_id": s.add, "signal_type": "md5"}),
        Probe("GET", "/v1/feedback/entries", 200),
        Probe("GET", "/v1/feedback/entries", 200, query={"case": CASE}),
        Probe("GET", "/v1/feedback/entries", 200, query={"case": "HL-unknown"}),
        Probe("GET", "/v1/feedback/entries", 400, query={"case": ""}),
        Probe("GET", "/v1/forks", 200),
        Probe("POST", "/v1/forks", 200, body={"proofs": [s.fork_proof, s.fork_proof.upper()]}),
        Probe("POST", "/v1/forks", 200, body={"proofs": ["00"]}),  # listed under invalid
        Probe("POST", "/v1/forks", 400, body={"proofs": ["not hex"]}),
        Probe("POST", "/v1/forks", 400, body={"proofs": []}),
        Probe("POST", "/v1/forks", 413, body={"proofs": ["00"] * 101}),
        Probe("GET", "/v1/charter", 200),
        Probe("GET", "/v1/charter/versions", 200),
        Probe("GET", "/v1/charter/versions", 200, query={"after": 1}),
        Probe("GET", "/v1/charter/versions", 200, query={"after": 99}),
        Probe("GET", "/v1/charter/versions", 400, query={"after": "-1"}),
        Probe("POST", "/v1/match", 200, body={"queries": signals, "threshold": 10}),
        Probe("POST", "/v1/match", 400, body={"queries": signals, "threshold": 64}),
        Probe("POST", "/v1/match", 400, body={"queries": signals, "threshold": None}),
        Probe("POST", "/v1/match", 413, body={"queries": signals[:1] * 1001}),
        Probe("POST", "/v1/signals/lookup", 200, body={"signals": signals}),
        Probe("POST", "/v1/signals/lookup", 200, body={"signals": []}),
        Probe("POST", "/v1/signals/lookup", 413, body={"signals": signals[:1] * 1001}),
        Probe("POST", "/v1/hashes", 200, body=SEED_SUBMIT),
        Probe("POST", "/v1/hashes", 409, body={**SEED_SUBMIT, "items": SEED_SUBMIT["items"][:1]}),
        Probe("POST", "/v1/hashes", 400, body={"items": []}),
        # The largest expiry the protocol allows (SQLite stores at most 2**63 - 1).
        Probe("POST", "/v1/hashes", 201, body={"items": [far_future]}),
        Probe("POST", "/v1/signals/lookup", 200, body={"signals": [far_future]}),
        # One value published 101 times: asked about 1,000 times, 101,000 matches in all.
        Probe("POST", "/v1/hashes", 201, body={"items": [repeated] * 101}),
        Probe("POST", "/v1/match", 200, body={"queries": [repeated] * 10}),
        Probe("POST", "/v1/match", 413, body={"queries": [repeated] * 1000}),
        Probe("POST", "/v1/signals/lookup", 413, body={"signals": [repeated] * 1000}),
        Probe("POST", "/v1/hashes", 413, body={"items": [{"signal_type": "md5"}] * 10_001}),
        Probe(
            "POST",
            "/v1/hashes",
            413,
            body={"items": [{"signal_type": "md5", "value": MD5, "case": "x" * (9 << 20)}]},
        ),
        Probe(
            "POST",
            "/v1/feedback",
            201,
            body={
                "signal_type": "pdq",
                "value": PDQ_NEAR,
                "verdict": "false_positive",
                "entry_id": s.add_near,
                "note": "under_review",
            },
        ),
        Probe(
            "POST",
            "/v1/feedback",
            404,
            body={"signal_type": "md5", "value": MD5, "verdict": "disputed", "entry_id": zero},
        ),
        Probe("POST", "/v1/revocations", 409, body={"entry_id": s.add, "items": [2]}),
        Probe("POST", "/v1/revocations", 400, body={"entry_id": s.add_near, "items": [5]}),
        Probe("POST", "/v1/revocations", 400, body={"entry_id": s.revoke}),
        Probe("POST", "/v1/revocations", 403, body={"entry_id": s.forked}),
        Probe("POST", "/v1/revocations", 404, body={"entry_id": zero}),
        Probe(
            "POST",
            "/v1/revocations",
            201,
            body={"entry_id": s.add_near, "reason": "submitted_in_error"},
        ),
        Probe("POST", "/v1/entries", 200, body={"entries": s.raw_entries}),
        Probe("POST", "/v1/entries", 200, body={"entries": s.raw_entries[:1] * 2}),
        Probe("POST", "/v1/entries", 400, body={"entries": ["not base64!"]}),
        Probe("POST", "/v1/entries", 413, body={"entries": s.raw_entries[:1] * 1001}),
        Probe("POST", "/v1/charter", 200, body={"charter": s.charter}),
        Probe("POST", "/v1/charter", 400, body={"charter": "AAAA"}),
        Probe("POST", "/v1/charter", 400, body={"charter": 5}),
        *self_service_probes(s),
    ]


def self_service_probes(s: Seeded) -> list[Probe]:
    """The victim's endpoints: success, bad input, wrong credentials, another site."""
    mine = {"case": s.self_case, "pin": s.self_pin}
    wrong = {"case": s.self_case, "pin": "00000000"}
    video = {"files": [{"md5": "9a" * 16, "sha256": "bc" * 32}]}
    cross = {"Sec-Fetch-Site": "cross-site"}
    return [
        Probe("POST", "/v1/self/cases", 201, body=video),
        Probe("POST", "/v1/self/cases", 400, body={"files": []}),
        Probe("POST", "/v1/self/cases", 400, body={"files": [{"md5": MD5}]}),
        Probe("POST", "/v1/self/cases", 413, body={"files": video["files"] * 201}),
        Probe("POST", "/v1/self/cases", 403, headers=cross, body=video),
        Probe("POST", "/v1/self/status", 200, body=mine),
        Probe("POST", "/v1/self/status", 200, body={**mine, "case": s.self_case.lower()}),
        Probe("POST", "/v1/self/status", 403, body=wrong),
        Probe("POST", "/v1/self/status", 403, body={"case": "ZZZZ-ZZZZ", "pin": "1"}),
        Probe("POST", "/v1/self/status", 400, body={"case": s.self_case}),
        Probe("POST", "/v1/self/items", 201, body={**mine, **video}),
        Probe("POST", "/v1/self/items", 403, body={**wrong, **video}),
        Probe("POST", "/v1/self/withdraw", 201, body={**mine, "items": [s.self_item]}),
        Probe("POST", "/v1/self/withdraw", 409, body={**mine, "items": [s.self_item]}),
        Probe("POST", "/v1/self/withdraw", 404, body={**mine, "items": ["00" * 32 + ":0"]}),
        Probe("POST", "/v1/self/withdraw", 400, body={**mine, "items": ["nope"]}),
        Probe("POST", "/v1/self/withdraw", 201, body={**mine, "all": True}),
        Probe("POST", "/v1/self/withdraw", 409, body={**mine, "all": True}),
    ]


def test_seeded_requests_conform(live: tuple[RunningNode, Seeded]) -> None:
    _, seeded = live
    for probe in probes(seeded):
        case = probe.case()
        response = send(case, seeded, "valid")
        assert response.status_code == probe.status, (probe.method, probe.path, response.text)
        send(case, seeded, None)


# --- schemathesis ------------------------------------------------------------------------


def send(case: Case, seeded: Seeded, token: str | None) -> schemathesis.Response:
    """Send ``case`` (with ``token``: "valid", a wrong one, or None) and check the response."""
    kwargs: dict[str, Any] = {"timeout": STREAM_WINDOW_S} if case.operation.path == STREAM else {}
    with PatientSession() as session:
        response = case.call_and_validate(
            base_url=seeded.url, session=session, headers=seeded.headers(token), **kwargs
        )
    secured = case.operation.path not in OPEN_PATHS
    if secured and token != "valid":
        assert response.status_code == 401, response.text
    return response


@json_api.parametrize()
def test_api_conforms(case: Case, live: tuple[RunningNode, Seeded]) -> None:
    _, seeded = live
    for token in ("valid", None, "not-the-token"):
        send(case, seeded, token)


@stream_api.parametrize()
def test_change_stream_conforms(case: Case, live: tuple[RunningNode, Seeded]) -> None:
    _, seeded = live
    for token in ("valid", None, "not-the-token"):
        send(case, seeded, token)


@peer_api.parametrize()
def test_peer_routes_refuse_unsigned(case: Case, live: tuple[RunningNode, Seeded]) -> None:
    _, seeded = live
    response = case.call_and_validate(base_url=seeded.url)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "auth_failed"
