"""Charter drafts waiting for signatures, as the operator's console lists them.

Drafts travel between stewards as files (``hashbank charter propose/sign``); a node learns of
one only when its operator hands it over (``hashbank charter share``, ``POST
/v1/charter/drafts`` or the console's upload). It keeps each in the data directory
(``charter-drafts/``), never publishes it, merges the signatures of copies of the same
draft, and drops it once the node has adopted that version number (or a later one). Each
listed draft says which stewards have signed it and how many signatures it still needs,
judged as adoption would judge it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from node.clock import Clock
from node.replica.errors import BadRequestError, ConflictError
from protocol.charter import Charter, CharterBody, decode_charter
from protocol.errors import ProtocolError
from protocol.membership import CharterChain

MAX_DRAFTS = 20


@dataclass(frozen=True, slots=True)
class DraftStatus:
    """One pending draft: what it is, who signed, what it still needs."""

    charter: Charter
    signed: tuple[str, ...]  # names of the stewards whose signatures count
    missing: tuple[str, ...]  # stewards whose signatures would count but are not there
    needed: int  # signatures the version needs
    received_ms: int
    problem: str | None  # why it cannot be adopted as it stands, besides signatures

    @property
    def ready(self) -> bool:
        return self.problem is None and len(self.signed) >= self.needed


def _stewards(body: CharterBody) -> dict[bytes, str]:
    return {m.current_key: m.name for m in body.members if "steward" in m.roles}


def judge(draft: Charter, chain: CharterChain | None, received_ms: int) -> DraftStatus:
    """Who has signed ``draft`` among the stewards whose signatures count for it."""
    previous = chain.latest if chain else None
    # Version 1 is signed by its own stewards; every later one by its predecessor's.
    rules = draft.body if previous is None else previous.body
    stewards = _stewards(rules)
    signers = draft.valid_signers(frozenset(stewards))
    problem = None
    if previous is not None and draft.body.prev != previous.id:
        problem = f"drafted from another version {draft.number - 1} than this node's"
    elif previous is not None and draft.body.network != previous.body.network:
        problem = "it names another network"
    elif previous is None and draft.number != 1:
        problem = "this node has no charter yet: it needs version 1 first"
    return DraftStatus(
        draft,
        tuple(sorted(stewards[k] for k in signers)),
        tuple(sorted(name for k, name in stewards.items() if k not in signers)),
        rules.threshold,
        received_ms,
        problem,
    )


class CharterDrafts:
    """The drafts kept in one data directory."""

    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock

    def add(self, raw: bytes, chain: CharterChain | None) -> DraftStatus:
        """Keep a draft (merging its signatures into a copy already kept); its status."""
        try:
            draft = decode_charter(raw)
        except ProtocolError as exc:
            raise BadRequestError(f"not a charter draft: {exc.message}") from None
        latest = chain.latest.number if chain else 0
        if draft.number <= latest:
            raise ConflictError(
                f"version {draft.number} is adopted already (this node has {latest})"
            )
        if draft.number != latest + 1:
            raise BadRequestError(
                f"version {draft.number} cannot follow this node's version {latest}: "
                f"it needs version {latest + 1} first"
            )
        path = self._path(draft)
        kept = self._read(path)
        if kept is not None:
            merged = {k: s for k, s in (*kept.signatures, *draft.signatures)}
            draft = replace(draft, signatures=tuple(sorted(merged.items())))
        elif len(list(self._files())) >= MAX_DRAFTS:
            raise ConflictError(f"{MAX_DRAFTS} drafts are waiting already; adopt or remove some")
        self._write(path, draft)
        return judge(draft, chain, self._mtime(path))

    def pending(self, chain: CharterChain | None) -> list[DraftStatus]:
        """Every kept draft still ahead of the chain; superseded ones are deleted."""
        latest = chain.latest.number if chain else 0
        out = []
        for path in self._files():
            draft = self._read(path)
            if draft is None or draft.number <= latest:
                path.unlink(missing_ok=True)
                continue
            out.append(judge(draft, chain, self._mtime(path)))
        return sorted(out, key=lambda d: (d.charter.number, d.received_ms))

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("*.charter"))

    def _path(self, draft: Charter) -> Path:
        return self.root / f"{draft.number:06d}-{draft.id.hex()[:32]}.charter"

    @staticmethod
    def _read(path: Path) -> Charter | None:
        try:
            return decode_charter(path.read_bytes())
        except (OSError, ProtocolError):
            return None

    def _write(self, path: Path, draft: Charter) -> None:
        self.root.mkdir(mode=0o700, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(draft.encode())
        os.replace(temporary, path)  # a reader sees the old file or the new, never half

    def _mtime(self, path: Path) -> int:
        try:
            return path.stat().st_mtime_ns // 1_000_000
        except OSError:
            return self.clock.now_ms()


@dataclass(frozen=True, slots=True)
class Change:
    """One thing a draft changes, for a person to check before signing."""

    kind: str  # member_added, member_removed, roles_changed, key_added, threshold, takedown
    name: str  # the member concerned ("" for the threshold)
    detail: str  # roles, "old → new", or a seq range; in the protocol's own terms


def changes(previous: CharterBody | None, draft: CharterBody) -> list[Change]:
    """What ``draft`` changes against ``previous`` (everything, for a version 1)."""
    before = {m.org_id: m for m in previous.members} if previous else {}
    out = []
    for m in draft.members:
        old = before.get(m.org_id)
        if old is None:
            out.append(Change("member_added", m.name, ", ".join(m.roles)))
            continue
        if old.roles != m.roles:
            out.append(
                Change("roles_changed", m.name, f"{', '.join(old.roles)} → {', '.join(m.roles)}")
            )
        for key in m.keys[len(old.keys) :]:
            out.append(Change("key_added", m.name, f"from seq {key.from_seq}"))
    kept = {m.org_id for m in draft.members}
    out += [Change("member_removed", m.name, "") for o, m in before.items() if o not in kept]
    if previous is not None and previous.threshold != draft.threshold:
        out.append(Change("threshold", "", f"{previous.threshold} → {draft.threshold}"))
    names = {**{o: m.name for o, m in before.items()}, **{m.org_id: m.name for m in draft.members}}
    old_takedowns = set(previous.takedowns) if previous else set()
    for t in draft.takedowns:
        if t not in old_takedowns:
            until = "" if t.until_seq is None else f"–{t.until_seq}"
            out.append(
                Change(
                    "takedown", names.get(t.org_id, t.org_id.hex()[:12]), f"seq {t.from_seq}{until}"
                )
            )
    return out
