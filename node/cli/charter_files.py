"""Charter drafts as files, members files, and the JSON summary of a charter.

A draft file is JSON: ``{"charter": "<base64 of the encoded charter>", "summary": {...}}``.
Only ``charter`` is read back; the summary is there for the humans who sign it. Drafts move
between stewards by any means (mail, USB stick): signing needs only the steward's key file.
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import json
import tomllib
from pathlib import Path

from node.api.shapes import charter_summary
from node.config import Where
from node.errors import ConfigError
from protocol.charter import (
    ROLES,
    Charter,
    CharterBody,
    Member,
    MemberKey,
    Takedown,
    decode_charter,
    draft,
)
from protocol.errors import ProtocolError
from protocol.identity import OrgId, PublicKey, org_id_for


def read_draft(path: Path) -> Charter:
    """The charter in a draft file."""
    try:
        doc = json.loads(path.read_text())
        return decode_charter(base64.b64decode(doc["charter"], validate=True))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not a charter draft file") from None
    except ProtocolError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None


def write_draft(path: Path, charter: Charter) -> None:
    doc = {
        "charter": base64.b64encode(charter.encode()).decode(),
        "summary": charter_summary(charter),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def parse_time(text: str | None, default_ms: int) -> int:
    """``--effective`` as ISO 8601 (UTC if no zone), or the default."""
    if not text:
        return default_ms
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not an ISO 8601 time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


MEMBER_KEYS = ("name", "node_id", "roles")


def member_from(name: str, node_id: str, roles: list[str]) -> Member:
    """A new member whose first key is ``node_id`` (its org id is derived from that key)."""
    try:
        key = PublicKey.from_text(node_id)
    except ProtocolError as exc:
        raise ConfigError(f"member {name!r}: {exc.message}") from None
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise ConfigError(f"member {name!r}: roles must be from {', '.join(ROLES)}, got {roles}")
    return Member(org_id_for(key), name, tuple(sorted(set(roles))), (MemberKey(key.raw, 1),))


def genesis_from_file(path: Path, now_ms: int) -> Charter:
    """Version 1 from a members file (TOML: network, threshold, [[member]] name/node_id/roles)."""
    try:
        text = path.read_text()
        doc = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    _refuse_unknown(doc, Where(str(path), text))
    members = []
    for i, m in enumerate(doc.get("member", [])):
        if not isinstance(m, dict) or not all(k in m for k in MEMBER_KEYS):
            raise ConfigError(f"{path}: member {i + 1} needs name, node_id and roles")
        members.append(member_from(str(m["name"]), str(m["node_id"]), list(m["roles"])))
    if not members:
        raise ConfigError(f"{path}: no [[member]] entries")
    network, threshold = doc.get("network"), doc.get("threshold")
    if not isinstance(network, str) or not isinstance(threshold, int):
        raise ConfigError(f"{path}: needs network (a name) and threshold (an integer)")
    effective = parse_time(doc.get("effective"), now_ms)
    body = CharterBody(
        network, 1, effective, threshold, tuple(sorted(members, key=lambda m: m.org_id))
    )
    return checked_draft(body)


MEMBERS_FILE = {
    "": ("network", "threshold", "effective", "member"),
    "member": MEMBER_KEYS,
}
MEMBERS_FILE_TAKES = {
    "": "a members file takes network, threshold, effective and [[member]] tables",
    "member": "a [[member]] takes name, node_id and roles",
}


def _refuse_unknown(doc: dict[str, object], at: Where) -> None:
    """A misspelt setting is a mistake: ``effectiv`` would silently make the charter start now."""
    found: list[tuple[str, int | None, str]] = [("", None, key) for key in doc]
    tables = doc.get("member")
    if isinstance(tables, list):
        found += [("member", i, k) for i, m in enumerate(tables) if isinstance(m, dict) for k in m]
    for table, index, key in found:
        if key not in MEMBERS_FILE[table]:
            close = difflib.get_close_matches(key, MEMBERS_FILE[table], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"{at.at(table, key, index)}: unknown setting {key}{hint}; "
                f"{MEMBERS_FILE_TAKES[table]}"
            )


def checked_draft(body: CharterBody) -> Charter:
    try:
        return draft(body)
    except ProtocolError as exc:
        raise ConfigError(f"the charter would be invalid: {exc.message}") from None


def find_member(body: CharterBody, ref: str) -> Member:
    """A member by org id (hex), node id (hex) or exact name."""
    for m in body.members:
        if ref in (m.org_id.hex(), m.name) or ref in (k.key.hex() for k in m.keys):
            return m
    raise ConfigError(f"no member {ref!r} in charter version {body.number}")


def takedown(org: OrgId, first: int, until: int | None) -> Takedown:
    if first < 1 or (until is not None and until < first):
        raise ConfigError("a takedown needs 1 <= FROM <= UNTIL")
    return Takedown(org, first, until)
