"""Charter drafts as files, members files, and the JSON summary of a charter.

A draft file is JSON: ``{"charter": "<base64 of the encoded charter>", "summary": {...}}``.
Only ``charter`` is read back; the summary is there for the humans who sign it. Drafts move
between stewards by any means (mail, USB stick): signing needs only the steward's key file.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

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
    doc = {"charter": base64.b64encode(charter.encode()).decode(), "summary": summary(charter)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def summary(charter: Charter, heads: dict[bytes, int] | None = None) -> dict[str, Any]:
    """A charter version as JSON for people and tools."""
    body = charter.body
    return {
        "network": body.network,
        "version": body.number,
        "id": charter.id.hex(),
        "effective_ms": body.effective_ms,
        "effective": _iso(body.effective_ms),
        "threshold": body.threshold,
        "members": [_member(m, heads) for m in body.members],
        "takedowns": [
            {"org_id": t.org_id.hex(), "from_seq": t.from_seq, "until_seq": t.until_seq}
            for t in body.takedowns
        ],
        "signatures": [k.hex() for k, _ in charter.signatures],
    }


def _member(m: Member, heads: dict[bytes, int] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "org_id": m.org_id.hex(),
        "name": m.name,
        "roles": list(m.roles),
        "keys": [{"key": k.key.hex(), "from_seq": k.from_seq} for k in m.keys],
    }
    if heads is not None:
        doc["head_seq"] = heads.get(m.org_id, 0)
    return doc


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


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
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    members = []
    for i, m in enumerate(doc.get("member", [])):
        if not isinstance(m, dict) or not all(k in m for k in ("name", "node_id", "roles")):
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
