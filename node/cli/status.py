"""``hashbank status``: the node's ``/v1/status`` for a person, with dates and next steps.

``--json`` prints the API document unchanged, for scripts.
"""

from __future__ import annotations

from typing import Any, TextIO

from node.cli.when import date, duration

# What to do about a peer's refusal, by the HTTP status our request got.
NEXT_STEPS = {
    401: (
        "the other node does not accept this node: its operator has not added you as a peer "
        "(hashbank peers add URL {node_id}), or, in a network with a charter, it does not "
        "list your organisation"
    ),
    403: "the other node refuses this request; ask its operator what its log says",
    429: "the other node is rate-limiting this node; it retries by itself",
}


def print_status(doc: dict[str, Any], out: TextIO) -> None:
    """The status document as lines: who, what the bank holds, what needs attention, peers."""
    uptime = duration(doc.get("uptime_s", 0))
    out.write(f"{doc['name']} ({doc['role']}), hashbank {doc.get('version', '?')}, up {uptime}\n")
    out.write(f"  node id   {doc['node_id']}\n  org id    {doc['org_id']}\n")
    hashes = ", ".join(f"{k} {v:,}" for k, v in sorted(doc.get("active_hashes", {}).items()))
    out.write(
        f"  bank      {doc['entries']:,} entries from {doc['authors']:,} organisations; "
        f"active hashes: {hashes or 'none'} (PDQ indexed: {doc.get('pdq_indexed', 0):,})\n"
    )
    out.write(f"  digest    {doc['bank_digest']}\n")
    charter = doc.get("charter")
    if charter:
        roles = ", ".join(charter["roles"]) or "not a member"
        out.write(
            f"  charter   {charter['network']!r} version {charter['version']}, "
            f"{charter['members']} members; this organisation: {roles}\n"
        )
    else:
        out.write("  charter   none: a private bank (see the operator guide, section 4)\n")
    _attention(doc, out)
    _peers(doc, out)


def _attention(doc: dict[str, Any], out: TextIO) -> None:
    if doc.get("held"):
        out.write(f"  held      {doc['held']} entries waiting for earlier entries of their feed\n")
    for fork in doc.get("forks", []):
        out.write(
            f"  FORK      organisation {fork['author']} signed two entries at seq {fork['seq']}; "
            "its later entries are refused (GET /v1/forks has the proof)\n"
        )
    rejected = doc.get("rejected", {})
    if rejected:
        listed = ", ".join(f"{code} {n}" for code, n in sorted(rejected.items()))
        out.write(f"  rejected  {listed}\n")
    for feed in doc.get("behind", []):
        who = feed.get("name") or feed["author"]
        out.write(
            f"  behind    {who}: this node has seq {feed['seq']}, {feed['seen_at']} announced "
            f"seq {feed['seen_seq']} (since {date(feed.get('since_ms'))})\n"
        )


def _peers(doc: dict[str, Any], out: TextIO) -> None:
    peers = doc.get("peers")
    if peers is None:
        return
    if not peers:
        out.write("peers: none (hashbank peers add URL NODE_ID)\n")
        return
    out.write("peers:\n")
    for peer in peers:
        failing = peer.get("failures", 0)
        state = f"failing ({failing} in a row)" if failing else "ok"
        if not failing and not peer.get("last_ok_ms"):
            state = "not reached yet"
        out.write(
            f"  {peer['url']}  node {peer['node_id'][:16]}…  {state}; last sync "
            f"{date(peer.get('last_ok_ms'))}; queue {peer.get('queue', 0)}\n"
        )
        if failing and peer.get("last_error"):
            out.write(f"    last error: {peer['last_error']}\n")
            step = next_step(peer["last_error"], doc["node_id"])
            if step:
                out.write(f"    next step: {step}\n")


def next_step(error: str, node_id: str) -> str | None:
    """What the operator can do about a peer error (``… HTTP 401 …``), if we know."""
    for status, step in NEXT_STEPS.items():
        if f"HTTP {status}" in error:
            return step.format(node_id=node_id)
    if "cannot connect" in error or "timed out" in error:
        return "check the peer's URL (hashbank peers list) and that the other node is running"
    return None
