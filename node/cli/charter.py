"""``hashbank charter …``: make, sign, apply and show charter versions; ``hashbank key …``.

``init`` works offline on draft files; ``sign`` shows what a draft changes against the version
it follows as this node holds it (from the running node, or its store when the node is
stopped) and asks first; ``propose``, ``apply`` and ``show`` talk to the operator's own node.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from dataclasses import replace
from pathlib import Path

from node.api.shapes import charter_summary
from node.cli.charter_diff import describe_change
from node.cli.charter_files import (
    checked_draft,
    find_member,
    genesis_from_file,
    member_from,
    parse_time,
    read_draft,
    takedown,
    write_draft,
)
from node.cli.client import Client
from node.cli.errors import DeclinedError, UsageError
from node.cli.keys import charter_versions, cmd_key
from node.cli.parsing import Commands, add_data
from node.cli.when import date, with_dates
from node.clock import now_ms
from node.datadir import DataDir, load_key
from node.errors import ConfigError
from protocol.charter import (
    MAX_EFFECTIVE_LEAD_MS,
    Charter,
    CharterBody,
    Member,
    MemberKey,
    decode_charter,
)
from protocol.identity import PublicKey


def cmd_charter(args: argparse.Namespace) -> int:
    handlers = {
        "init": _init,
        "propose": _propose,
        "sign": _sign,
        "apply": _apply,
        "show": _show,
        "share": _share,
    }
    return handlers[args.charter_command](args)


THRESHOLD_ONE = (
    "warning: threshold 1: one steward's key alone can change the membership, so whoever "
    "holds one steward key (a thief included) controls the network; 2 or more is recommended"
)


def _init(args: argparse.Namespace) -> int:
    charter = genesis_from_file(Path(args.members), now_ms())
    _check_lead(charter.body)
    write_draft(Path(args.out), charter)
    _warn_threshold(charter.body)
    print(
        f"wrote charter version 1 draft to {args.out} (unsigned; stewards: hashbank charter "
        f"sign --data DIR {args.out})"
    )
    return 0


def _sign(args: argparse.Namespace) -> int:
    """Show what the draft changes against the version it follows, ask, then sign."""
    data, path = DataDir(Path(args.data)), Path(args.file)
    charter = read_draft(path)
    key = load_key(data)
    previous = _previous(data, args.url, charter)
    allowed = (previous or charter).body.steward_keys()
    if key.public_key.raw not in allowed:
        whose = f"version {previous.number}'s" if previous else "the draft's own"
        raise ConfigError(
            f"this node's key {key.public_key} is not one of {whose} steward keys: its "
            f"signature could not count, and nodes refuse a version that carries one; "
            f"only those stewards sign version {charter.number}"
        )
    print("\n".join(describe_change(previous.body if previous else None, charter.body)))
    _warn_threshold(charter.body)
    if not args.yes:
        _confirm(f"sign charter version {charter.number} with this node's key {key.public_key}?")
    signed = charter.signed_by(key)
    write_draft(path, signed)
    needed = (previous or charter).body.threshold
    print(
        f"signed version {signed.number}; {len(signed.signatures)} signature(s) on it, "
        f"{needed} needed"
    )
    return 0


def _previous(data: DataDir, url: str | None, charter: Charter) -> Charter | None:
    """The version ``charter`` follows, as this node holds it (None for a version 1)."""
    if charter.number == 1:
        return None
    versions = [decode_charter(raw) for raw in charter_versions(data, url)]
    held = next((v for v in versions if v.number == charter.number - 1), None)
    if held is None:
        latest = versions[-1].number if versions else 0
        raise ConfigError(
            f"this node holds charter versions up to {latest}; the draft is version "
            f"{charter.number}, so what it changes cannot be shown: let the node catch up "
            "with its peers first"
        )
    if held.id != charter.body.prev:
        raise ConfigError(
            f"the draft follows another version {held.number} than the one this node holds "
            f"(id {held.id.hex()}): it was drafted against a different charter; do not sign it"
        )
    return held


def _confirm(question: str) -> None:
    """Ask on the terminal; anything but yes is a refusal (``--yes`` for scripts)."""
    print(f"{question} [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print()
        raise UsageError(
            "not signed: no answer on standard input (to sign without being asked, as a "
            "script does, pass --yes)"
        )
    if answer.strip().lower() not in ("y", "yes"):
        raise DeclinedError("not signed")


def _warn_threshold(body: CharterBody) -> None:
    if body.threshold == 1:
        print(THRESHOLD_ONE, file=sys.stderr)


def _check_lead(body: CharterBody) -> None:
    """Refuse a date nodes would refuse (``protocol.charter.MAX_EFFECTIVE_LEAD_MS``)."""
    lead = body.effective_ms - now_ms()
    if lead > MAX_EFFECTIVE_LEAD_MS:
        raise ConfigError(
            f"--effective {date(body.effective_ms)} is {lead // 86_400_000} days ahead; nodes "
            f"accept a version at most {MAX_EFFECTIVE_LEAD_MS // 86_400_000} days ahead, since "
            "no later version can take effect before it"
        )


def _apply(args: argparse.Namespace) -> int:
    charter = read_draft(Path(args.file))
    client = Client.for_data(DataDir(Path(args.data)), args.url)
    result = client.post("/v1/charter", {"charter": base64.b64encode(charter.encode()).decode()})
    print(json.dumps(result))
    return 0


def _share(args: argparse.Namespace) -> int:
    """Hand a draft to the node, so that its console lists it with who has signed."""
    charter = read_draft(Path(args.file))
    client = Client.for_data(DataDir(Path(args.data)), args.url)
    result = client.post(
        "/v1/charter/drafts", {"charter": base64.b64encode(charter.encode()).decode()}
    )
    signed = ", ".join(result["signed_by"]) or "nobody yet"
    print(
        f"the node lists version {result['version']} as a pending draft; signed by {signed} "
        f"({len(result['signed_by'])} of {result['signatures_needed']} needed)"
    )
    if result.get("problem"):
        print(f"note: it cannot be adopted as it stands: {result['problem']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.file:
        print(json.dumps(with_dates(charter_summary(read_draft(Path(args.file)))), indent=2))
        return 0
    client = Client.for_data(DataDir(Path(args.data)), args.url)
    print(json.dumps(with_dates(client.get("/v1/charter")), indent=2))
    return 0


def _propose(args: argparse.Namespace) -> int:
    client = Client.for_data(DataDir(Path(args.data)), args.url)
    current = client.get("/v1/charter")
    if not current.get("raw"):
        raise ConfigError("this node has no charter yet; start with: hashbank charter init")
    latest = decode_charter(base64.b64decode(current["raw"]))
    heads = {bytes.fromhex(m["org_id"]): m.get("head_seq", 0) for m in current["members"]}
    body = _edited(latest.body, args, heads)
    body = replace(
        body,
        number=latest.number + 1,
        prev=latest.id,
        effective_ms=parse_time(args.effective, now_ms()),
    )
    _check_lead(body)
    write_draft(Path(args.out), checked_draft(body))
    print(
        f"wrote version {body.number} draft to {args.out} (takes effect "
        f"{date(body.effective_ms)}); it needs {latest.body.threshold} signature(s) from "
        f"version {latest.number}'s stewards"
    )
    _warn_threshold(body)
    return 0


def _edited(body: CharterBody, args: argparse.Namespace, heads: dict[bytes, int]) -> CharterBody:
    members = {m.org_id: m for m in body.members}
    takedowns = list(body.takedowns)
    for name, node_id, roles in args.add or []:
        new = member_from(name, node_id, roles.split(","))
        members[new.org_id] = new
    for ref, roles in args.set_roles or []:
        m = find_member(body, ref)
        members[m.org_id] = replace(
            m, roles=member_from(m.name, m.keys[0].key.hex(), roles.split(",")).roles
        )
    for ref, new_key, *rest in args.rotate or []:
        m = find_member(body, ref)
        first = int(rest[0]) if rest else heads.get(m.org_id, 0) + 1
        members[m.org_id] = _rotated(m, new_key, first)
    for ref in args.remove or []:
        m = find_member(body, ref)
        members.pop(m.org_id, None)
        # Close the feed at the seq we know: later entries, however they are dated, are void.
        takedowns.append(takedown(m.org_id, heads.get(m.org_id, 0) + 1, None))
    for ref, first, *until in args.takedown or []:
        m = find_member(body, ref)
        takedowns.append(takedown(m.org_id, int(first), int(until[0]) if until else None))
    return replace(
        body,
        members=tuple(sorted(members.values(), key=lambda m: m.org_id)),
        takedowns=tuple(sorted(set(takedowns), key=lambda t: (t.org_id, t.from_seq))),
        threshold=body.threshold if args.threshold is None else args.threshold,
    )


def _rotated(member: Member, new_key: str, first: int) -> Member:
    """``member`` with ``new_key`` signing from seq ``first`` on.

    ``first`` equal to the current key's ``from_seq`` replaces that key before it signed
    anything (protocol §8.1): how a member that never published replaces its first key. The
    org id stays the one derived from the first key.
    """
    key = PublicKey.from_text(new_key)
    latest = member.keys[-1].from_seq
    if first < latest:
        raise ConfigError(f"the new key must start at seq {latest} or later, not {first}")
    if any(k.key == key.raw for k in member.keys):
        raise ConfigError(f"{new_key} is already one of {member.name!r}'s keys")
    return replace(member, keys=(*member.keys, MemberKey(key.raw, first)))


def _threshold(text: str) -> int:
    """``--threshold``: a whole number of signatures, at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{value} would let a change pass with no steward's signature; give 1 or more"
        )
    return value


def add_parsers(commands: Commands) -> None:
    """Register ``charter …`` and ``key rotate``."""
    actions = commands.group(
        "charter",
        "the network charter: init, propose, sign, share, apply, show",
        "charter_command",
    )

    def action(name: str, help: str, data: bool = True) -> argparse.ArgumentParser:
        a: argparse.ArgumentParser = actions.add_parser(name, help=help, description=help)
        a.set_defaults(fn=cmd_charter)
        if data:
            add_data(a)
            a.add_argument("--url", help="node URL (default: from the data directory)")
        return a

    a = action("init", "draft version 1 from a members file", data=False)
    a.add_argument("--members", required=True, help="members file (TOML)")
    a.add_argument("--out", required=True, help="draft file to write")
    a = action("propose", "draft the next version from this node's current one")
    a.add_argument("--out", required=True, help="draft file to write")
    a.add_argument("--add", nargs=3, action="append", metavar=("NAME", "NODE_ID", "ROLES"))
    a.add_argument("--remove", action="append", metavar="MEMBER")
    a.add_argument("--set-roles", nargs=2, action="append", metavar=("MEMBER", "ROLES"))
    a.add_argument(
        "--rotate", nargs="+", action="append", metavar="ARG", help="MEMBER NEW_KEY [FROM_SEQ]"
    )
    a.add_argument(
        "--takedown", nargs="+", action="append", metavar="ARG", help="MEMBER FROM_SEQ [UNTIL_SEQ]"
    )
    a.add_argument(
        "--threshold",
        type=_threshold,
        help="steward signatures the next change needs (at least 1)",
    )
    a.add_argument("--effective", help="when the version takes effect (ISO 8601; default now)")
    a = action(
        "sign",
        "show what a draft changes against the version it follows, ask, and add this node's "
        "signature",
    )
    a.add_argument("file")
    a.add_argument(
        "--yes", action="store_true", help="sign without asking (scripts; read the change first)"
    )
    a = action("apply", "publish a draft with enough signatures through this node")
    a.add_argument("file")
    a = action("show", "the node's charter and history, or a draft file's content")
    a.add_argument("file", nargs="?")
    a = action("share", "hand a draft to the node: its console lists it with who has signed")
    a.add_argument("file")
    _add_key_parser(commands)


def _add_key_parser(commands: Commands) -> None:
    p = commands.add(
        "key",
        cmd_key,
        "start a key rotation (writes identity.next.key), or cancel a pending one",
        client=True,
    )
    p.add_argument("key_command", choices=["rotate", "cancel"])
    p.add_argument(
        "--cancel", action="store_true", help="with rotate: the same as `hashbank key cancel`"
    )
