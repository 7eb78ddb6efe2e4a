"""The operator's view of the node: health, what needs attention, peers, members, refusals,
imports. Every node has it (subscribers too), for operators only.

It reads what the node keeps in memory anyway (feed heads, peer links, the ingester's
counts) and two cheap store reads (counts and feed head times); nothing here writes. Each
thing that needs attention comes with what to do about it, in the catalogue's words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from node import __version__
from node.federation.gossip import Gossip
from node.federation.peer_link import PeerLink
from node.replica.node import Node
from node.web.accounts import OPERATOR
from node.web.console_site import choose_language, render
from node.web.context import node_of
from node.web.sessions import require_login

RECENT_SHOWN: Final = 30
# Rejection codes the catalogue explains (console.rejection.<code>); others show the code.
EXPLAINED: Final = frozenset(
    {
        "malformed", "non_canonical", "too_large", "unsupported_version", "unknown_kind",
        "invalid_value", "bad_signature", "body_mismatch", "bad_timestamp", "broken_chain",
        "fork", "unauthorized", "charter_invalid", "charter_fork", "forked_author",
        "retired_fork",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Network:
    """The node's gossip, when it has one (a node served without federation has none)."""

    gossip: Gossip | None


NETWORK: Final = web.AppKey("console_network", Network)


def store_bytes(node: Node) -> int:
    """The store file with its write-ahead log, as it takes up disk."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(f"{node.store.path}{suffix}").st_size
        except OSError:
            continue
    return total


async def health(node: Node) -> dict[str, Any]:
    counts = await node.store.counts()
    charter = node.charters.latest
    not_ready = [] if node.index_origin else ["index"]
    sizes = node.matcher.pdq.segment_sizes
    return {
        "role": node.config.role,
        "version": __version__,
        "started_ms": node.clock.now_ms() - round((node.clock.monotonic() - node.started) * 1000),
        "store_bytes": store_bytes(node),
        "entries": counts.entries,
        "authors": counts.authors,
        "bank": sorted(counts.active_hashes.items()),
        "digest": node.store.digest.value().hex(),
        "node_id": str(node.key.public_key),
        "pdq_indexed": len(node.matcher.pdq),
        "segments": len(sizes) - 1,
        "ready": not not_ready,
        "not_ready": ", ".join(not_ready),
        "charter": None
        if charter is None
        else {"network": charter.body.network, "version": charter.number},
    }


def _name_of_key(node: Node, key: bytes) -> str | None:
    policy = node.charters.charter_policy
    member = None if policy is None else policy.member_of_key(key)
    return None if member is None else member.name


def peer_state(link: PeerLink) -> str:
    if link.backoff.failures:
        return "unreachable"
    return "reachable" if link.last_ok_ms else "not_reached"


def next_step(error: str) -> str | None:
    """The catalogue key of what to do about a peer's error, where we know."""
    for status in (401, 403, 429):
        if f"HTTP {status}" in error:
            return f"console.peer.step.{status}"
    if "cannot connect" in error or "timed out" in error:
        return "console.peer.step.connect"
    return None


def peers(node: Node, gossip: Gossip | None) -> list[dict[str, Any]]:
    out = []
    for link in gossip.links.values() if gossip else ():
        lag, ahead = link.lag()
        failing = bool(link.backoff.failures)
        out.append(
            {
                "url": link.url,
                "name": _name_of_key(node, link.node_id.raw),
                "state": peer_state(link),
                "last_ok_ms": link.last_ok_ms or None,
                "lag": lag,
                "ahead": ahead,
                "queue": len(link.queue),
                "failures": link.backoff.failures,
                "retry_ms": link.retry_at_ms or None,
                "error": link.last_error if failing else None,
                "step": next_step(link.last_error) if failing else None,
            }
        )
    return out


async def members(node: Node) -> list[dict[str, Any]]:
    charter = node.charters.latest
    if charter is None:
        return []
    active = await node.store.head_times()
    heads = node.feeds.heads
    return [
        {
            "name": m.name,
            "org_id": m.org_id.hex(),
            "roles": m.roles,
            "own": m.org_id == node.org,
            "seq": heads[m.org_id].seq if m.org_id in heads else 0,
            "active_ms": active.get(m.org_id),
        }
        for m in charter.body.members
    ]


async def attention(node: Node, gossip: Gossip | None) -> list[dict[str, Any]]:
    """Forks, divergences, incomplete and held entries, feeds behind: each with what to do."""
    names = node.names()

    def who(author: bytes) -> str:
        return names.get(author) or author.hex()[:16]

    found: list[dict[str, Any]] = []
    for author, seq in sorted(node.feeds.forked.items()):
        found.append(_item("fork", name=who(author), seq=seq))
    for link in gossip.links.values() if gossip else ():
        for d in link.agreement.divergent.values():
            found.append(_item("divergence", name=who(d.author), first=d.first_seq,
                               last=d.last_seq, peer=link.url))  # fmt: skip
    incomplete = await node.store.incomplete_count()
    if incomplete:
        found.append(_item("incomplete", count=incomplete))
    if held := len(node.feeds.holdback):
        found.append(_item("held", count=held))
    if gossip is not None:
        ours = {a: h.seq for a, h in node.feeds.heads.items()}
        for author, seq, sighting in gossip.watch.behind(ours):
            found.append(_item("behind", name=who(author), ours=seq, theirs=sighting.seq))
    return found


def _item(kind: str, **params: Any) -> dict[str, Any]:
    return {
        "key": f"console.attention.{kind}",
        "advice": f"console.attention.{kind}_advice",
        "params": params,
    }


def rejections(node: Node, gossip: Gossip | None, t: Any) -> dict[str, Any]:
    """Refused entries: the totals since start by reason, and the latest refusals."""
    urls = {link.key: link.url for link in gossip.links.values()} if gossip else {}

    def reason(code: str) -> dict[str, str]:
        known = code in EXPLAINED
        return {"code": code, "text": t(f"console.rejection.{code if known else 'other'}")}

    totals = [
        (reason(code), n)
        for code, n in sorted(node.ingester.rejections.items(), key=lambda kv: -kv[1])
    ]
    recent = [
        {"at_ms": r.at_ms, "reason": r.reason, "count": r.count, "example": r.example,
         "source": urls.get(r.source, r.source[:16])}
        for r in reversed(node.ingester.recent)
    ][:RECENT_SHOWN]  # fmt: skip
    return {"totals": totals, "recent": recent}


def imports(node: Node) -> list[dict[str, Any]]:
    now = node.clock.now_ms()
    return [
        {
            "name": p.name,
            "unit": p.unit,
            "done": p.done,
            "total": p.total,
            "started_ms": p.started_ms,
            "updated_ms": p.updated_ms,
            "state": "finished" if p.finished else "stalled" if p.stalled(now) else "running",
        }
        for p in node.imports.recent()
    ]


@require_login(OPERATOR)
async def node_page(request: web.Request) -> web.StreamResponse:
    node = node_of(request)
    gossip = request.app[NETWORK].gossip
    t = choose_language(request).text
    return render(request, "node.html", now_ms=node.clock.now_ms(), health=await health(node),
                  attention=await attention(node, gossip), peers=peers(node, gossip),
                  members=await members(node), rejections=rejections(node, gossip, t),
                  imports=imports(node))  # fmt: skip
