"""``HashbankSignalExchangeAPI``: a hashbank node as a threatexchange signal exchange.

Records are keyed by hash, ``(signal type, value)``, as ``SignalExchangeAPIWithSimpleUpdates``
wants, and each record is the hash's whole current state, read from the node: every active
item carrying it (several helplines may publish the same hash) and each giver's latest
verdict. Whenever a change in the feed touches a hash (an add or feedback naming it, a
revocation of an entry holding it, or a withdrawal or restoration the node recorded without
an entry: a takedown, purge, erasure or expiry), the record is replaced by the node's answer,
or deleted when no active item remains. Replacement is all that threatexchange's stores do (the CLI
merges by key, HMA overwrites rows), so the result is right in both, and refetching any
stretch of the feed again is harmless.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t
from collections.abc import Iterator, Mapping, Sequence

from threatexchange.cli.exceptions import CommandError, ReturnCode
from threatexchange.exchanges import auth
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPIWithSimpleUpdates
from threatexchange.signal_type.signal_base import SignalType

from node.cli.client import Client
from node.cli.errors import ClientError
from node.cli.platform import TX_SIGNAL_NAMES
from node.errors import NodeError
from node.tx.records import (
    HashbankCheckpoint,
    HashbankCollabConfig,
    HashbankCredentials,
    HashbankSignalMetadata,
    PlatformVerdict,
    PublishedItem,
)

log = logging.getLogger("hashbank.tx")
# Entries per /v1/changes request: an add holds up to 10,000 hashes, so a page of 50 can
# still be megabytes. Deltas are smaller than pages (see fetch_iter).
PAGE = 50
LOOKUP_CHUNK = 1_000  # hashes per /v1/signals/lookup request, and per delta where entries allow
HASHBANK_TYPES = {tx: hb for hb, tx in TX_SIGNAL_NAMES.items()}
VERDICTS = {
    state.SignalOpinionCategory.POSITIVE_CLASS: "true_positive",
    state.SignalOpinionCategory.NEGATIVE_CLASS: "false_positive",
}
NOTES = ("actioned", "not_actioned", "under_review")

Key = tuple[str, str]  # (threatexchange signal type name, lowercase hex value)
Delta = state.FetchDelta[Key, HashbankSignalMetadata, HashbankCheckpoint]


class ExchangeError(NodeError):
    """Base of the extension's own errors."""

    code = "exchange_error"


class CheckpointMismatchError(ExchangeError):
    """The stored checkpoint counts changes of another bank than the configured node's."""

    code = "checkpoint_mismatch"
    status = 409


class LabelError(ExchangeError, CommandError, ValueError):
    """An opinion hashbank cannot send; threatexchange's CLI prints it without a traceback."""

    code = "label_refused"

    def __init__(self, message: str, returncode: int = ReturnCode.USER_ERROR) -> None:
        super().__init__(message)
        self.returncode = int(returncode)  # what threatexchange's CLI exits with


class HashbankSignalExchangeAPI(
    auth.SignalExchangeWithAuth[HashbankCollabConfig, HashbankCredentials],
    SignalExchangeAPIWithSimpleUpdates[
        HashbankCollabConfig, HashbankCheckpoint, HashbankSignalMetadata
    ],
):
    """Fetches a hashbank node's change feed; reports opinions as signed feedback."""

    def __init__(self, collab: HashbankCollabConfig, client: Client) -> None:
        self.collab = collab
        self.client = client

    @classmethod
    def get_name(cls) -> str:
        return "hashbank"

    @staticmethod
    def get_config_cls() -> type[HashbankCollabConfig]:
        return HashbankCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[HashbankCheckpoint]:
        return HashbankCheckpoint

    @staticmethod
    def get_record_cls() -> type[HashbankSignalMetadata]:
        return HashbankSignalMetadata

    @staticmethod
    def get_credential_cls() -> type[HashbankCredentials]:
        return HashbankCredentials

    @classmethod
    def for_collab(
        cls, collab: HashbankCollabConfig, credentials: HashbankCredentials | None = None
    ) -> HashbankSignalExchangeAPI:
        """An API for ``collab``; the token comes from ``TX_HASHBANK_TOKEN`` or a file."""
        creds = credentials or HashbankCredentials.get(cls)
        return cls(collab, Client(collab.node_url, creds.token))

    # --- fetching ----------------------------------------------------------------------------

    def fetch_iter(
        self,
        supported_signal_types: Sequence[type[SignalType]],
        checkpoint: HashbankCheckpoint | None,
    ) -> Iterator[Delta]:
        """Deltas of about ``LOOKUP_CHUNK`` hashes (or one entry), each with its cursor.

        threatexchange stores each delta with its checkpoint as it arrives, so an
        interrupted fetch resumes after the last delta rather than from the start.
        """
        try:
            yield from self._fetch(supported_signal_types, checkpoint)
        except (ClientError, CheckpointMismatchError) as exc:
            # threatexchange's CLI logs why a fetch failed only with -v; this needs the
            # operator either way.
            log.critical("[hashbank] %s: %s", self.collab.name, exc)
            raise
        except auth.SignalExchangeAPIInvalidAuthException as exc:
            log.critical(
                "[hashbank] %s: %s refused the token: %s; give it the node's current "
                "operator.token (TX_HASHBANK_TOKEN or %s)",
                self.collab.name,
                self.collab.node_url,
                exc.message,
                HashbankCredentials.FILE_NAME,
            )
            raise

    def _fetch(
        self,
        supported_signal_types: Sequence[type[SignalType]],
        checkpoint: HashbankCheckpoint | None,
    ) -> Iterator[Delta]:
        status = self._call(self.client.get, "/v1/status")
        here = _bank_checkpoint(status, checkpoint)
        if checkpoint is not None and (
            refusal := checkpoint_refusal(checkpoint, here, self.collab)
        ):
            raise CheckpointMismatchError(refusal)
        wanted = {st.get_name() for st in supported_signal_types} & set(HASHBANK_TYPES)
        written = checkpoint
        while True:
            page = self._call(
                self.client.get, "/v1/changes", {"after": str(here.cursor), "limit": str(PAGE)}
            )
            for batch, keys in self._batches(page["changes"], wanted):
                updates = self._current_state(list(keys), here.org_id)
                here = written = _advanced(here, batch)
                yield Delta(dict(updates), here)
            if not page["more"] or not page["changes"]:
                break
        if written != here:  # nothing new, but the checkpoint names the bank afresh
            yield Delta({}, here)

    def _batches(
        self, changes: Sequence[Mapping[str, t.Any]], wanted: set[str]
    ) -> Iterator[tuple[Sequence[Mapping[str, t.Any]], dict[Key, None]]]:
        """Runs of whole changes touching about ``LOOKUP_CHUNK`` hashes, with those hashes."""
        start, keys = 0, dict[Key, None]()
        for n, change in enumerate(changes):
            keys.update((k, None) for k in self._touched(change) if k[0] in wanted)
            if len(keys) >= LOOKUP_CHUNK or n == len(changes) - 1:
                yield changes[start : n + 1], keys
                start, keys = n + 1, {}

    def _touched(self, change: Mapping[str, t.Any]) -> list[Key]:
        """The hashes whose state one change may have changed, in the change's order."""
        if change["kind"] in ("withdrawn", "restored"):  # no entry; the change names its items
            return [_key(i["signal_type"], i["value"]) for i in change["items"]]
        return self._touched_by_entry(change)

    def _touched_by_entry(self, change: Mapping[str, t.Any]) -> list[Key]:
        body = change.get("body")
        if body is None:  # an erased body changes nothing it could name
            return []
        if change["kind"] == "add":
            return [_key(i["signal_type"], i["value"]) for i in body["items"]]
        if change["kind"] == "feedback":
            return [_key(body["signal_type"], body["value"])]
        if change["kind"] == "revoke":
            return [k for target in body["targets"] for k in self._revoked(target)]
        return []

    def _revoked(self, target: Mapping[str, t.Any]) -> list[Key]:
        try:
            entry = self._call(self.client.get, f"/v1/entries/{target['entry_id']}")
        except ClientError as exc:
            if exc.status == 404:  # a revocation of an entry this node never held
                return []
            raise
        items = (entry.get("body") or {}).get("items", [])
        chosen = target.get("items")
        return [
            _key(item["signal_type"], item["value"])
            for item in items
            if chosen is None or item["index"] in chosen
        ]

    def _current_state(
        self, keys: Sequence[Key], own_org: str
    ) -> dict[Key, HashbankSignalMetadata | None]:
        """Each hash's record now, or None (delete) when no active item carries it."""
        out: dict[Key, HashbankSignalMetadata | None] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            doc = {"signals": [{"signal_type": HASHBANK_TYPES[k], "value": v} for k, v in chunk]}
            answer = self._call(self.client.post, "/v1/signals/lookup", doc)
            for key, sig in zip(chunk, answer["signals"], strict=True):
                out[key] = _record(sig, own_org) if sig["items"] else None
        return out

    @classmethod
    def naive_convert_to_signal_type(
        cls,
        signal_types: Sequence[type[SignalType]],
        collab: HashbankCollabConfig,
        fetched: Mapping[Key, HashbankSignalMetadata | None],
    ) -> dict[type[SignalType], dict[str, HashbankSignalMetadata]]:
        """Index only hashes with an item not yet expired (expiry makes no new entry)."""
        live = {k: v for k, v in fetched.items() if v is not None and v.live_items()}
        return super().naive_convert_to_signal_type(signal_types, collab, live)

    # --- opinions ----------------------------------------------------------------------------

    def report_opinion(
        self, s_type: type[SignalType], signal: str, opinion: state.SignalOpinion
    ) -> None:
        """Publish a signed verdict from the platform's node about each matching entry.

        Tags may carry one note: actioned, not_actioned or under_review. What cannot be
        sent raises ``LabelError``, which threatexchange's CLI prints as a one-line error.
        """
        hb_type = HASHBANK_TYPES.get(s_type.get_name())
        if hb_type is None:
            known = ", ".join(sorted(HASHBANK_TYPES))
            raise LabelError(f"hashbank has no {s_type.get_name()} hashes; it has {known}")
        verdict = VERDICTS.get(opinion.category)
        if verdict is None:
            raise NotImplementedError(
                "hashbank feedback is a verdict: report a positive or a negative opinion"
            )
        note = _note(opinion.tags)
        # Hash files written by `echo` end in a newline, which threatexchange's PDQ check
        # lets through; the node wants the bare lowercase hex.
        try:
            value = s_type.validate_signal_str(signal.strip().lower())
        except ValueError as exc:
            raise LabelError(
                f"{signal.strip()!r} is not a {s_type.get_name()} hash: {exc}"
            ) from None
        try:
            self._send_verdict(hb_type, value, verdict, note)
        except ClientError as exc:
            unavailable = exc.status == 0 or exc.status >= 500
            raise LabelError(
                f"feedback not sent to {self.collab.node_url}: {exc.message}",
                ReturnCode.EXTERNAL_DEPENDENCY_ERROR if unavailable else ReturnCode.USER_ERROR,
            ) from None

    def _send_verdict(self, hb_type: str, value: str, verdict: str, note: str) -> None:
        query = {"queries": [{"signal_type": hb_type, "value": value}]}
        matches = self._call(self.client.post, "/v1/match", query)["results"][0]["matches"]
        if not matches:  # never publish a platform's own content hashes to the network
            raise LabelError(
                f"{hb_type} {value} matches no active hash on {self.collab.node_url}; "
                "feedback is only sent about hashes in the bank"
            )
        for entry_id, matched in dict.fromkeys((m["entry_id"], m["value"]) for m in matches):
            doc = {"signal_type": hb_type, "value": matched, "verdict": verdict, "note": note}
            self._call(self.client.post, "/v1/feedback", {**doc, "entry_id": entry_id})

    def _call(self, method: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
        """Call the node, turning a refused token into threatexchange's auth error."""
        try:
            return method(*args)
        except ClientError as exc:
            if exc.status == 401:
                raise auth.SignalExchangeAPIInvalidAuthException(type(self), exc.message) from None
            raise


def _key(signal_type: str, value: str) -> Key:
    return TX_SIGNAL_NAMES[signal_type], value.lower()


def _note(tags: t.Iterable[str]) -> str:
    notes = set(tags)
    if not notes <= set(NOTES) or len(notes) > 1:
        given = ", ".join(repr(n) for n in sorted(notes))
        raise LabelError(
            f"hashbank feedback takes at most one label, one of: {', '.join(NOTES)}; got {given}"
        )
    return notes.pop() if notes else "none"


def _record(sig: Mapping[str, t.Any], own_org: str) -> HashbankSignalMetadata:
    # Names are read with .get(): older nodes send ids only.
    return HashbankSignalMetadata(
        items=[
            PublishedItem(
                i["entry_id"],
                i["item"],
                i["author"],
                list(i["labels"]),
                i["expires_ms"],
                i.get("author_name"),
            )
            for i in sig["items"]
        ],
        feedback=[
            PlatformVerdict(
                f["feedback_id"],
                f["giver"],
                f["verdict"],
                f["note"],
                f["entry_id"],
                f["timestamp_ms"],
                f.get("giver_name"),
            )
            for f in sig["feedback"]
        ],
        own_org=own_org,
    )


def _bank_checkpoint(
    status: Mapping[str, t.Any], stored: HashbankCheckpoint | None
) -> HashbankCheckpoint:
    """Where this fetch starts: the stored position, naming the bank the node serves now."""
    charter = status.get("charter") or {}
    return HashbankCheckpoint(
        cursor=stored.cursor if stored else 0,
        node_id=str(status["node_id"]),
        progress_time=stored.progress_time if stored else 0,
        org_id=str(status["org_id"]),
        network=str(charter.get("network") or ""),
    )


def checkpoint_refusal(
    stored: HashbankCheckpoint, here: HashbankCheckpoint, collab: HashbankCollabConfig
) -> str | None:
    """Why the stored state cannot be continued from this node (another bank), or None."""
    if stored.org_id:
        # A key rotation changes the node id, and a charter adopted since adds a network.
        same = stored.org_id == here.org_id and stored.network in ("", here.network)
    else:  # written before checkpoints named the organisation
        same = stored.node_id == here.node_id
    if same:
        return None
    return (
        f"the fetched state is of {_bank(stored)}, but {collab.node_url} "
        f"serves {_bank(here)}; if that node is now your source, start over with "
        f"`threatexchange fetch --clear --only-collab '{collab.name}'`"
    )


def _bank(checkpoint: HashbankCheckpoint) -> str:
    who = f"organisation {checkpoint.org_id}" if checkpoint.org_id else f"node {checkpoint.node_id}"
    return f"{who} on network {checkpoint.network!r}" if checkpoint.network else who


def _advanced(here: HashbankCheckpoint, batch: Sequence[Mapping[str, t.Any]]) -> HashbankCheckpoint:
    """The checkpoint once ``batch`` (changes in feed order) is stored."""
    newest = max(int(c["received_ms"]) // 1000 for c in batch)
    return dataclasses.replace(
        here, cursor=int(batch[-1]["cursor"]), progress_time=max(here.progress_time, newest)
    )
