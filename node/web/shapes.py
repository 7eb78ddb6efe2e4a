"""The JSON shapes of the self-service endpoints (``/v1/self/…``): parsing and rendering.

A submission holds only hex hashes, one object per file: ``{"md5", "sha256", "pdq": [..]}``
(``pdq`` holds the stored and, for a rotated photo, the upright hash; none for a video or a
file the browser could not decode). Items are published file by file in that order — PDQ
hashes, MD5, SHA-256 — so the status can show them again per file: within one entry a file's
items end with its SHA-256. docs/openapi.yaml describes every shape here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from node.replica.cases import Case, CaseItem
from node.replica.feedback import Feedback, latest_per_giver
from node.web.errors import BadInputError, BodyTooLargeError
from protocol.body import HashItem
from protocol.entry import Entry
from protocol.errors import ProtocolError
from protocol.signals import MD5, PDQ, SHA256

# The label on every self-submitted item: platforms route these to human review.
LABELS: Final = ("ncii", "self-submitted")
MAX_FILES: Final = 200
MAX_PDQ_PER_FILE: Final = 2  # the stored image's and the upright one's
MAX_CASE_LEN: Final = 20
MAX_PIN_LEN: Final = 20
_ITEM_ID: Final = re.compile(r"([0-9a-f]{64}):([0-9]{1,5})")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A case number and PIN, as typed (PinGuard decides whether they open a case)."""

    case: str
    pin: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Who asks, and which items: (entry id, index) pairs, or None for all of them."""

    credentials: Credentials
    items: tuple[tuple[bytes, int], ...] | None


def _object(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BadInputError("the request body must be a JSON object")
    return doc


def parse_files(doc: Any) -> list[HashItem]:
    """``{"files": [{"md5", "sha256", "pdq"?}]}`` → the items to publish, file by file."""
    files = _object(doc).get("files")
    if not isinstance(files, list) or not files:
        raise BadInputError("files must be a non-empty array")
    if len(files) > MAX_FILES:
        raise BodyTooLargeError(f"files has {len(files)} elements; the limit is {MAX_FILES}")
    items: list[HashItem] = []
    for i, raw in enumerate(files):
        items += _file_items(i, raw)
    return items


def _file_items(i: int, raw: Any) -> list[HashItem]:
    if not isinstance(raw, dict):
        raise BadInputError(f"files[{i}] must be an object")
    if unknown := sorted(set(raw) - {"md5", "sha256", "pdq"}):
        raise BadInputError(f"files[{i}].{unknown[0]}: only md5, sha256 and pdq are sent")
    pdqs = raw.get("pdq", [])
    if not isinstance(pdqs, list) or len(pdqs) > MAX_PDQ_PER_FILE:
        raise BadInputError(f"files[{i}].pdq must be an array of at most {MAX_PDQ_PER_FILE}")
    try:
        values = [(PDQ, PDQ.parse(v, f"files[{i}].pdq[{j}]")) for j, v in enumerate(pdqs)]
        values.append((MD5, MD5.parse(raw.get("md5"), f"files[{i}].md5")))
        values.append((SHA256, SHA256.parse(raw.get("sha256"), f"files[{i}].sha256")))
    except ProtocolError as exc:
        raise BadInputError(exc.message) from None
    unique = dict.fromkeys(values)  # the upright hash may equal the stored one
    return [HashItem(spec.name, value, LABELS) for spec, value in unique]


def parse_credentials(doc: Any) -> Credentials:
    """``{"case", "pin"}``, each a short string (whether they match is PinGuard's answer)."""
    body = _object(doc)
    found = {}
    for key, limit in (("case", MAX_CASE_LEN), ("pin", MAX_PIN_LEN)):
        value = body.get(key)
        if not isinstance(value, str) or not 0 < len(value.strip()) <= limit:
            raise BadInputError(f"{key} must be a string of 1 to {limit} characters")
        found[key] = value.strip()
    # Case numbers are read aloud and typed back: any case, with or without the dash.
    case = found["case"].upper().replace(" ", "")
    if len(case) == 8 and "-" not in case:
        case = f"{case[:4]}-{case[4:]}"
    return Credentials(case, found["pin"].replace(" ", ""))


def parse_withdrawal(doc: Any) -> Withdrawal:
    """``{"case", "pin", "items": ["<entry id>:<index>", …]}``, or ``"all": true``."""
    credentials = parse_credentials(doc)
    body = _object(doc)
    if body.get("all") is True and "items" not in body:
        return Withdrawal(credentials, None)
    raw = body.get("items")
    if not isinstance(raw, list) or not raw:
        raise BadInputError('items must be a non-empty array of item ids, or send "all": true')
    if len(raw) > MAX_FILES * 4:
        raise BodyTooLargeError(f"items has {len(raw)} elements; the limit is {MAX_FILES * 4}")
    chosen = []
    for i, item in enumerate(raw):
        found = _ITEM_ID.fullmatch(item) if isinstance(item, str) else None
        if found is None:
            raise BadInputError(f"items[{i}] must be an item id as the status gives it")
        chosen.append((bytes.fromhex(found.group(1)), int(found.group(2))))
    return Withdrawal(credentials, tuple(dict.fromkeys(chosen)))


# --- answers -------------------------------------------------------------------------------


def item_id(item: CaseItem) -> str:
    return f"{item.entry_id.hex()}:{item.index}"


def opened_view(
    case: Case, pin: str | None, files: int, items: Sequence[HashItem]
) -> dict[str, Any]:
    return {"case": case.reference, "pin": pin, "files": files, "items": len(items)}


def added_view(case: Case, files: int, items: Sequence[HashItem]) -> dict[str, Any]:
    return {"case": case.reference, "files": files, "items": len(items)}


def withdrawn_view(case: Case, revokes: Sequence[Entry]) -> dict[str, Any]:
    return {"case": case.reference, "revokes": [entry.id.hex() for entry in revokes]}


def group_files(items: Sequence[CaseItem]) -> list[list[CaseItem]]:
    """The case's items per submitted file: within an entry, a file ends with its SHA-256."""
    groups: list[list[CaseItem]] = []
    current: list[CaseItem] = []
    for item in items:
        if current and current[-1].entry_id != item.entry_id:
            groups.append(current)
            current = []
        current.append(item)
        if item.signal_type == SHA256.name:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def status_view(
    case: Case, items: Sequence[CaseItem], names: Mapping[bytes, str], own_org: bytes
) -> dict[str, Any]:
    """The case for its owner: each file, whether it is active, what platforms reported."""
    files = []
    for number, group in enumerate(group_files(items), start=1):
        active = sum(1 for item in group if item.active)
        files.append(
            {
                "file": number,
                "kind": "image" if any(i.signal_type == PDQ.name for i in group) else "file",
                "published_ms": group[0].published_ms,
                "state": "active"
                if active == len(group)
                else "withdrawn"
                if active == 0
                else "partly_withdrawn",
                "items": [
                    {"id": item_id(i), "signal_type": i.signal_type, "active": i.active}
                    for i in group
                ],
                "reports": _reports(group, names, own_org),
            }
        )
    return {"case": case.reference, "opened_ms": case.created_ms, "files": files}


def latest_reports(group: Sequence[CaseItem], own_org: bytes) -> list[Feedback]:
    """Each other organisation's latest verdict on any of a file's hashes, oldest first."""
    latest: dict[bytes, Feedback] = {}
    for fb in latest_per_giver(fb for item in group for fb in item.feedback):
        giver = fb.stored.author
        if giver != own_org and (
            giver not in latest or fb.stored.cursor > latest[giver].stored.cursor
        ):
            latest[giver] = fb
    return sorted(latest.values(), key=lambda fb: fb.stored.cursor)


def _reports(
    group: Sequence[CaseItem], names: Mapping[bytes, str], own_org: bytes
) -> list[dict[str, Any]]:
    return [
        {
            "platform": names.get(fb.stored.author) or fb.stored.author.hex()[:12],
            "org_id": fb.stored.author.hex(),
            "verdict": fb.body.verdict.name.lower(),
            "note": fb.body.note.name.lower(),
            "reported_ms": fb.stored.timestamp_ms,
        }
        for fb in latest_reports(group, own_org)
    ]
