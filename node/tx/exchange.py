"""``HashbankSignalExchangeAPI``: a hashbank node as a threatexchange signal exchange.

Records are keyed by hash, ``(signal type, value)``, as ``SignalExchangeAPIWithSimpleUpdates``
wants, and each record is the hash's whole current state, read from the node: every active
item carrying it (several helplines may publish the same hash) and each giver's latest
verdict. Whenever a change in the feed touches a hash (an add or feedback naming it, a
revocation of an entry holding it), the record is replaced by the node's answer, or deleted
when no active item remains. Replacement is all that threatexchange's stores do (the CLI
merges by key, HMA overwrites rows), so the result is right in both, and refetching any
stretch of the feed again is harmless.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Iterator, Mapping, Sequence

from threatexchange.exchanges import auth
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPIWithSimpleUpdates
from threatexchange.signal_type.signal_base import SignalType

from node.cli.client import Client, ClientError
from node.cli.platform import TX_SIGNAL_NAMES
from node.tx.records import (
    HashbankCheckpoint,
    HashbankCollabConfig,
    HashbankCredentials,
    HashbankSignalMetadata,
    PlatformVerdict,
    PublishedItem,
)

log = logging.getLogger("hashbank.tx")
PAGE = 200  # entries per /v1/changes request; bulk adds hold up to 10,000 hashes each
LOOKUP_CHUNK = 1_000
HASHBANK_TYPES = {tx: hb for hb, tx in TX_SIGNAL_NAMES.items()}
VERDICTS = {
    state.SignalOpinionCategory.POSITIVE_CLASS: "true_positive",
    state.SignalOpinionCategory.NEGATIVE_CLASS: "false_positive",
}
NOTES = ("actioned", "not_actioned", "under_review")

Key = tuple[str, str]  # (threatexchange signal type name, lowercase hex value)
Delta = state.FetchDelta[Key, HashbankSignalMetadata, HashbankCheckpoint]


class CheckpointMismatchError(Exception):
    """The stored checkpoint counts changes of another node than the one configured."""


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
        """One delta per page of the change feed, each with the cursor it reached."""
        status = self._call(self.client.get, "/v1/status")
        node_id, own_org = str(status["node_id"]), str(status["org_id"])
        if checkpoint is not None and checkpoint.node_id != node_id:
            raise CheckpointMismatchError(
                f"the fetched state came from node {checkpoint.node_id}, but "
                f"{self.collab.node_url} is node {node_id}; clear it with "
                f"`threatexchange fetch --clear --only-collab '{self.collab.name}'`"
            )
        wanted = {st.get_name() for st in supported_signal_types} & set(HASHBANK_TYPES)
        cursor = checkpoint.cursor if checkpoint else 0
        progress = checkpoint.progress_time if checkpoint else 0
        while True:
            page = self._call(
                self.client.get, "/v1/changes", {"after": str(cursor), "limit": str(PAGE)}
            )
            touched = [k for k in self._touched(page["changes"]) if k[0] in wanted]
            updates = self._current_state(touched, own_org)
            cursor = int(page["cursor"])
            for change in page["changes"]:
                progress = max(progress, int(change["received_ms"]) // 1000)
            yield Delta(dict(updates), HashbankCheckpoint(cursor, node_id, progress))
            if not page["more"]:
                return

    def _touched(self, changes: Sequence[Mapping[str, t.Any]]) -> dict[Key, None]:
        """The hashes whose state a page of changes may have changed, in feed order."""
        keys: dict[Key, None] = {}
        for change in changes:
            body = change.get("body")
            if body is None:  # an erased body changes nothing it could name
                continue
            if change["kind"] == "add":
                keys.update((_key(i["signal_type"], i["value"]), None) for i in body["items"])
            elif change["kind"] == "feedback":
                keys[_key(body["signal_type"], body["value"])] = None
            elif change["kind"] == "revoke":
                for target in body["targets"]:
                    keys.update(dict.fromkeys(self._revoked(target)))
        return keys

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

        Tags may carry one note: actioned, not_actioned or under_review.
        """
        hb_type = HASHBANK_TYPES.get(s_type.get_name())
        if hb_type is None:
            raise ValueError(f"hashbank has no {s_type.get_name()} hashes")
        verdict = VERDICTS.get(opinion.category)
        if verdict is None:
            raise NotImplementedError(
                "hashbank feedback is a verdict: report a positive or a negative opinion"
            )
        note = _note(opinion.tags)
        value = s_type.validate_signal_str(signal)
        query = {"queries": [{"signal_type": hb_type, "value": value}]}
        matches = self._call(self.client.post, "/v1/match", query)["results"][0]["matches"]
        if not matches:  # never publish a platform's own content hashes to the network
            raise ValueError(f"{hb_type} {value} matches no active hash on {self.collab.node_url}")
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
        raise ValueError(f"hashbank feedback takes at most one label, one of: {', '.join(NOTES)}")
    return notes.pop() if notes else "none"


def _record(sig: Mapping[str, t.Any], own_org: str) -> HashbankSignalMetadata:
    return HashbankSignalMetadata(
        items=[
            PublishedItem(i["entry_id"], i["item"], i["author"], list(i["labels"]), i["expires_ms"])
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
            )
            for f in sig["feedback"]
        ],
        own_org=own_org,
    )
