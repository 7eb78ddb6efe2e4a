"""``GET /metrics``: the node in Prometheus's text format, read from live state at scrape time.

Each node has its own ``CollectorRegistry`` (several nodes share one test process; the
library's global registry is never used). ``NodeCollector`` reads the counters the node keeps
anyway — the store's running totals, the ingester's rejections, each peer link's queue,
timings and counters, the rate limiters' refusals, the PDQ index's segments — so a scrape
costs no table scan. Only what nothing else counts is counted here: HTTP requests (by the
route's canonical path, never the raw path) and entries stored, by origin.

Served on the API port to the operator's bearer token, and, when ``[metrics] listen`` is
set, without a token on that separate (local) address.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from node import __version__
from node.federation.gossip import Gossip
from node.federation.peer_link import PeerLink
from node.limits import ConnectionGuard, RateLimiter
from node.replica.events import EntriesStored, Event
from node.replica.node import Node
from node.stats import FAST_BUCKETS, Timings
from node.web.console import Console

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


def add_timings(family: HistogramMetricFamily, labels: list[str], timings: Timings) -> None:
    buckets = [(_le(bound), float(n)) for bound, n in timings.cumulative()]
    family.add_metric(labels, buckets, timings.total)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything the collector reads, as the application holds it."""

    node: Node
    gossip: Gossip | None
    limiters: Mapping[str, RateLimiter]
    guard: ConnectionGuard
    console: Console | None
    stored: Mapping[str, int]


class NodeCollector(Collector):
    """The node's live state as metric families, built afresh at every scrape."""

    def __init__(self, sources: Sources) -> None:
        self.s = sources

    def collect(self) -> Iterable[Metric]:
        yield from self._bank()
        yield from self._index_and_matching()
        yield from self._peers()
        yield from self._limits()

    def _bank(self) -> Iterable[Metric]:
        node = self.s.node
        counters = node.store.counters
        entries = GaugeMetricFamily("hashbank_entries", "Entries stored, by kind", labels=["kind"])
        for kind in ("add", "revoke", "feedback"):
            entries.add_metric([kind], counters.kind_counts.get(kind, 0))
        yield entries
        items = GaugeMetricFamily(
            "hashbank_items_active",
            "Active items in the bank, by signal type",
            labels=["signal_type"],
        )
        for signal_type, n in sorted(counters.active_counts.items()):
            items.add_metric([signal_type], n)
        yield items
        yield _gauge("hashbank_authors", "Feeds (authors) with entries here", len(node.feeds.heads))
        yield _gauge(
            "hashbank_forked_authors", "Authors with a recorded fork", len(node.feeds.forked)
        )
        yield _gauge(
            "hashbank_held_entries", "Entries held back for a gap", len(node.feeds.holdback)
        )
        yield _gauge(
            "hashbank_charter_version",
            "Adopted charter version (0: none)",
            node.charter_number or 0,
        )
        stored = CounterMetricFamily(
            "hashbank_entries_stored", "Entries stored since start, by origin", labels=["origin"]
        )
        for origin in ("own", "peer", "import"):
            stored.add_metric([origin], self.s.stored.get(origin, 0))
        yield stored
        rejected = CounterMetricFamily(
            "hashbank_ingest_rejected", "Entries refused since start, by reason", labels=["reason"]
        )
        for reason, n in sorted(node.ingester.rejections.items()):
            rejected.add_metric([reason], n)
        yield rejected
        info = GaugeMetricFamily("hashbank_node_info", "This node", labels=["version", "role"])
        info.add_metric([__version__, node.config.role], 1)
        yield info

    def _index_and_matching(self) -> Iterable[Metric]:
        node = self.s.node
        index = node.matcher.pdq
        sizes = index.segment_sizes
        yield _gauge("hashbank_pdq_index_items", "Live items in the PDQ index", len(index))
        yield _gauge(
            "hashbank_pdq_index_segments", "Sealed segments of the PDQ index", len(sizes) - 1
        )
        yield _gauge(
            "hashbank_pdq_index_unsealed_rows", "Rows in the index's unsealed delta", sizes[-1]
        )
        lookup = node.lookup
        durations = histogram(
            "hashbank_match_duration_seconds", "Time to answer match queries, by part", ["part"]
        )
        for part, timings in lookup.timings.items():
            add_timings(durations, [part], timings)
        yield durations
        queries = CounterMetricFamily(
            "hashbank_match_queries", "Hashes looked up, by signal type", labels=["signal_type"]
        )
        for signal_type, n in sorted(lookup.queries.items()):
            queries.add_metric([signal_type], n)
        yield queries
        found = CounterMetricFamily("hashbank_match_results", "Matching items reported")
        found.add_metric([], lookup.found)
        yield found

    def _peers(self) -> Iterable[Metric]:
        links = list(self.s.gossip.links.values()) if self.s.gossip else []
        peer = ["peer"]
        families: dict[str, Metric] = {
            "sync": histogram(
                "hashbank_peer_sync_duration_seconds", "Completed pulls from a peer", peer
            ),
            "lag": GaugeMetricFamily(
                "hashbank_peer_lag_entries", "Entries a peer announced that we lack", labels=peer
            ),
            "behind": GaugeMetricFamily(
                "hashbank_peer_behind_entries",
                "Entries we hold that a peer's last announcement lacked",
                labels=peer,
            ),
            "queue": GaugeMetricFamily(
                "hashbank_peer_queue_entries", "Entries queued to push to a peer", labels=peer
            ),
            "failures": GaugeMetricFamily(
                "hashbank_peer_failures", "Failed attempts in a row (backoff)", labels=peer
            ),
            "last_ok": GaugeMetricFamily(
                "hashbank_peer_last_ok_timestamp_seconds", "Last success with a peer", labels=peer
            ),
            "pushed": CounterMetricFamily(
                "hashbank_peer_pushed_entries", "Entries pushed to a peer", labels=peer
            ),
            "errors": CounterMetricFamily(
                "hashbank_peer_errors", "Failed pushes and pulls", labels=["peer", "op"]
            ),
        }
        for link in links:
            self._peer(link, families)
        yield from families.values()

    def _peer(self, link: PeerLink, f: Mapping[str, Metric]) -> None:
        url = [link.url]
        lag, behind = link.lag()
        add_timings(_as_histogram(f["sync"]), url, link.sync_timings)
        _as_gauge(f["lag"]).add_metric(url, lag)
        _as_gauge(f["behind"]).add_metric(url, behind)
        _as_gauge(f["queue"]).add_metric(url, len(link.queue))
        _as_gauge(f["failures"]).add_metric(url, link.backoff.failures)
        if link.last_ok_ms:
            _as_gauge(f["last_ok"]).add_metric(url, link.last_ok_ms / 1000)
        _as_counter(f["pushed"]).add_metric(url, link.stats.get("pushed", 0))
        for op in ("push", "sync"):
            _as_counter(f["errors"]).add_metric([link.url, op], link.stats.get(f"{op}_failures", 0))

    def _limits(self) -> Iterable[Metric]:
        refused = CounterMetricFamily(
            "hashbank_rate_limited", "Requests refused by a rate limit", labels=["limiter"]
        )
        for name, limiter in sorted(self.s.limiters.items()):
            refused.add_metric([name], limiter.refused)
        yield refused
        guard = self.s.guard
        yield _gauge("hashbank_http_connections", "Open HTTP connections", guard.connections)
        closed = CounterMetricFamily(
            "hashbank_http_connections_closed", "Connections closed by the guard", labels=["reason"]
        )
        closed.add_metric(["slow"], guard.closed_slow)
        closed.add_metric(["over_limit"], guard.refused)
        yield closed
        if self.s.console is not None:
            logins = CounterMetricFamily(
                "hashbank_console_logins", "Console login attempts, by outcome", labels=["outcome"]
            )
            for outcome in ("ok", "bad_credentials", "locked", "throttled"):
                logins.add_metric([outcome], self.s.console.logins.get(outcome, 0))
            yield logins


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _as_gauge(m: Metric) -> GaugeMetricFamily:
    assert isinstance(m, GaugeMetricFamily)
    return m


def _as_counter(m: Metric) -> CounterMetricFamily:
    assert isinstance(m, CounterMetricFamily)
    return m


def _as_histogram(m: Metric) -> HistogramMetricFamily:
    assert isinstance(m, HistogramMetricFamily)
    return m


class Metrics:
    """One node's registry: the live collector, HTTP counters, entries stored by origin."""

    def __init__(
        self,
        node: Node,
        gossip: Gossip | None,
        limiters: Mapping[str, RateLimiter],
        guard: ConnectionGuard,
        console: Console | None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.stored: collections.Counter[str] = collections.Counter()
        self.registry.register(
            NodeCollector(Sources(node, gossip, limiters, guard, console, self.stored))
        )
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "hashbank_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "hashbank_http_request_duration_seconds",
            "Time to answer HTTP requests, by route",
            ["route"],
            buckets=FAST_BUCKETS,
            registry=self.registry,
        )
        self._unsubscribe: Callable[[], None] = node.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, EntriesStored):
            origin = {None: "own", "import": "import"}.get(event.source, "peer")
            self.stored[origin] += len(event.entries)

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        """Count one answered request under its route's canonical path."""
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.durations.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def close(self) -> None:
        self._unsubscribe()


def route_of(request: web.Request) -> str:
    """The matched route's canonical path (``/v1/entries/{entry_id}``), never the raw one."""
    info = request.match_info
    resource = getattr(getattr(info, "route", None), "resource", None)
    if resource is None or getattr(info, "http_exception", None) is not None:
        return UNMATCHED
    return str(resource.canonical)


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def scrape(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app(metrics: Metrics) -> web.Application:
    """The separate listener's application: ``/metrics`` only, no token (bind it locally)."""
    app = web.Application()
    app[METRICS] = metrics
    app.router.add_get("/metrics", scrape)
    return app
