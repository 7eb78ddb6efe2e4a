"""What the console's case pages show, built from a case's items (no I/O here).

A case page lists the case's files as the victim's status page does (``shapes.group_files``:
within an entry a file's items end with its SHA-256), each with its hashes and what other
organisations reported. The report lists every published entry with each item's fate, and
each feedback entry as signed evidence: the giver, the verdict, the entry id, the key and
signature, and the signed bytes themselves, so anyone can check them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from node.replica.cases import CaseItem
from node.replica.feedback import Feedback
from node.store import RevocationRow
from node.web.shapes import group_files, item_id, latest_reports
from protocol.entry import decode_entry
from protocol.errors import ProtocolError
from protocol.signals import PDQ


def case_state(items: Sequence[CaseItem]) -> str:
    active = sum(1 for i in items if i.active)
    if not items:
        return "empty"
    if active == len(items):
        return "active"
    return "withdrawn" if active == 0 else "partly_withdrawn"


def verdict_key(fb: Feedback) -> str:
    """The catalogue key wording a feedback's verdict (and, for a match, what was done)."""
    verdict = fb.body.verdict.name.lower()
    if verdict == "true_positive":
        return f"console.verdict.true_positive.{fb.body.note.name.lower()}"
    return f"console.verdict.{verdict}"


def giver_name(giver: bytes, names: Mapping[bytes, str]) -> str:
    return names.get(giver) or giver.hex()[:12]


def file_views(
    items: Sequence[CaseItem], names: Mapping[bytes, str], own_org: bytes
) -> list[dict[str, Any]]:
    """The case's files: kind, state, hashes, and each other organisation's latest verdict."""
    files = []
    for number, group in enumerate(group_files(items), start=1):
        active = [i for i in group if i.active]
        files.append(
            {
                "number": number,
                "kind": "image" if any(i.signal_type == PDQ.name for i in group) else "file",
                "published_ms": group[0].published_ms,
                "state": case_state(group),
                "active": bool(active),
                "ids": ",".join(item_id(i) for i in active),
                "hashes": [
                    {"signal_type": i.signal_type, "value": i.value.hex(), "active": i.active}
                    for i in group
                ],
                "reports": _reports(group, names, own_org),
            }
        )
    return files


def _reports(
    group: Sequence[CaseItem], names: Mapping[bytes, str], own_org: bytes
) -> list[dict[str, Any]]:
    return [
        {
            "platform": giver_name(fb.stored.author, names),
            "key": verdict_key(fb),
            "at_ms": fb.stored.timestamp_ms,
            "entry_short": fb.stored.id.hex()[:16],
        }
        for fb in latest_reports(group, own_org)
    ]


def report_entries(
    items: Sequence[CaseItem], revocations: Sequence[RevocationRow]
) -> list[dict[str, Any]]:
    """Each published entry of the case with its items, and when each was withdrawn."""
    withdrawn: dict[tuple[bytes, int], RevocationRow] = {}
    for r in revocations:  # oldest first: the first revoke to name an item withdrew it
        for item in items:
            key = (item.entry_id, item.index)
            if item.entry_id == r.target_id and (r.items is None or item.index in r.items):
                withdrawn.setdefault(key, r)
    entries: dict[bytes, dict[str, Any]] = {}
    for item in items:
        entry = entries.setdefault(
            item.entry_id,
            {
                "entry_id": item.entry_id.hex(),
                "seq": item.seq,
                "published_ms": item.published_ms,
                "rows": [],
            },
        )
        revoke = None if item.active else withdrawn.get((item.entry_id, item.index))
        entry["rows"].append(
            {
                "index": item.index,
                "signal_type": item.signal_type,
                "value": item.value.hex(),
                "active": item.active,
                "withdrawn_ms": revoke.revoked_ms if revoke else None,
                "revoke_short": revoke.revoke_id.hex()[:16] if revoke else "",
            }
        )
    return list(entries.values())


def evidence(
    items: Sequence[CaseItem], names: Mapping[bytes, str], own_org: bytes
) -> list[dict[str, Any]]:
    """Every other organisation's feedback on the case's hashes, with its signed bytes."""
    seen: dict[bytes, Feedback] = {}
    for item in items:
        for fb in item.feedback:
            if fb.stored.author != own_org:
                seen.setdefault(fb.stored.id, fb)
    out = []
    for fb in sorted(seen.values(), key=lambda f: f.stored.cursor):
        try:
            entry = decode_entry(fb.stored.raw)
        except ProtocolError:  # stored entries were verified on arrival
            continue
        out.append(
            {
                "platform": giver_name(fb.stored.author, names),
                "org_id": fb.stored.author.hex(),
                "key": verdict_key(fb),
                "at_ms": fb.stored.timestamp_ms,
                "signal_type": fb.body.signal_type,
                "value": fb.body.value.hex(),
                "entry_id": fb.stored.id.hex(),
                "seq": fb.stored.seq,
                "key_hex": entry.header.key.hex(),
                "signature": entry.signature.hex(),
                "raw": base64.b64encode(fb.stored.raw).decode(),
            }
        )
    return out
