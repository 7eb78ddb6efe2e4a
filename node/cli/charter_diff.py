"""What a charter version changes, line by line, for the steward about to sign it.

A draft's own summary is whatever its author wrote; what a signature approves is the body. So
``hashbank charter sign`` shows the body against the version it follows: members added and
removed, renames, roles, keys, takedowns, the threshold, the network and the date.
"""

from __future__ import annotations

from node.cli.when import date
from protocol.charter import CharterBody, Member, Takedown


def describe_change(previous: CharterBody | None, new: CharterBody) -> list[str]:
    """Lines saying everything ``new`` changes against ``previous`` (None: a version 1)."""
    lines = [f"charter version {new.number} of network {new.network!r}, takes effect "
             f"{date(new.effective_ms)}"]  # fmt: skip
    if previous is None:
        lines.append(f"a new network: threshold {new.threshold}, {len(new.members)} member(s)")
        lines += [f"  + {_member(m)}" for m in new.members]
        lines += [f"  + takedown {_takedown(t, new)}" for t in new.takedowns]
        return lines
    if new.network != previous.network:
        lines.append(f"  ~ network renamed from {previous.network!r}")
    if new.threshold != previous.threshold:
        lines.append(f"  ~ threshold {previous.threshold} -> {new.threshold}")
    before = {m.org_id: m for m in previous.members}
    after = {m.org_id: m for m in new.members}
    for org in sorted(after.keys() - before.keys()):
        lines.append(f"  + {_member(after[org])}")
    for org in sorted(before.keys() - after.keys()):
        lines.append(f"  - {_member(before[org])}")
    for org in sorted(before.keys() & after.keys()):
        lines += _member_changes(before[org], after[org])
    for t in sorted(set(new.takedowns) - set(previous.takedowns), key=_order):
        lines.append(f"  + takedown {_takedown(t, new)}")
    for t in sorted(set(previous.takedowns) - set(new.takedowns), key=_order):
        lines.append(f"  - takedown {_takedown(t, previous)}")
    if len(lines) == 1:
        lines.append("  no change to members, roles, keys, takedowns or threshold")
    return lines


def _member(m: Member) -> str:
    keys = ", ".join(f"{k.key.hex()} from seq {k.from_seq}" for k in m.keys)
    return f"member {m.name!r} (org {m.org_id.hex()}), roles {', '.join(m.roles)}; keys {keys}"


def _member_changes(old: Member, new: Member) -> list[str]:
    name = f"{new.name!r} (org {new.org_id.hex()[:16]}…)"
    lines = []
    if old.name != new.name:
        lines.append(f"  ~ {name}: renamed from {old.name!r}")
    if old.roles != new.roles:
        lines.append(f"  ~ {name}: roles {', '.join(old.roles)} -> {', '.join(new.roles)}")
    for k in new.keys:
        if k not in old.keys:
            lines.append(f"  ~ {name}: + key {k.key.hex()} from seq {k.from_seq}")
    for k in old.keys:
        if k not in new.keys:
            lines.append(f"  ~ {name}: - key {k.key.hex()} from seq {k.from_seq}")
    return lines


def _takedown(t: Takedown, body: CharterBody) -> str:
    member = body.member(t.org_id)
    who = repr(member.name) if member else "a non-member"
    seqs = f"seqs {t.from_seq}-{t.until_seq}" if t.until_seq else f"seq {t.from_seq} on"
    return f"of {who} (org {t.org_id.hex()}), {seqs}"


def _order(t: Takedown) -> tuple[bytes, int]:
    return t.org_id, t.from_seq
