"""The threatexchange extension's pieces that need no node: records, opinions, the index repair."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from threatexchange.cli.cli_state import CliIndexStore
from threatexchange.cli.exceptions import CommandError
from threatexchange.exchanges.fetch_state import (
    AggregateSignalOpinionCategory,
    SignalOpinion,
    SignalOpinionCategory,
)
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.pdq_index import PDQIndex
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.utils import dataclass_json

from node.cli.client import Client
from node.tx import TX_MANIFEST, HashbankSignalExchangeAPI, index_store_fix
from node.tx.exchange import LabelError, checkpoint_refusal
from node.tx.records import (
    HashbankCheckpoint,
    HashbankCollabConfig,
    HashbankSignalMetadata,
    PlatformVerdict,
    PublishedItem,
)

PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
NEAR = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"  # 6 bits away


def record(
    *verdicts: str, expires_ms: int | None = None, second_expires_ms: int | None = None
) -> HashbankSignalMetadata:
    return HashbankSignalMetadata(
        items=[
            PublishedItem("e1" * 32, 0, "a1" * 32, ["ncii"], expires_ms, "Helpline A"),
            PublishedItem("e2" * 32, 3, "b2" * 32, ["ncii", "video-still"], second_expires_ms),
        ],
        feedback=[
            PlatformVerdict(
                f"f{n}" * 32, f"{n}c" * 32, v, "actioned", None, 1, "Us" if n == 0 else None
            )
            for n, v in enumerate(verdicts)
        ],
        own_org="0c" * 32,
    )


def test_publishers_and_verdicts_become_opinions() -> None:
    meta = record("true_positive", "false_positive")
    opinions = meta.get_as_opinions()
    assert [o.category for o in opinions] == [
        SignalOpinionCategory.POSITIVE_CLASS,
        SignalOpinionCategory.POSITIVE_CLASS,
        SignalOpinionCategory.POSITIVE_CLASS,
        SignalOpinionCategory.NEGATIVE_CLASS,
    ]
    assert opinions[1].tags == {"ncii", "video-still"}
    assert [o.is_mine for o in opinions] == [False, False, True, False]  # giver 0c is us
    assert meta.get_as_aggregate_opinion().category is AggregateSignalOpinionCategory.DISPUTED
    # Organisations by name where the node's charter names them, always with the id.
    assert "by Helpline A (a1a1a1a1a1a1), b2b2b2b2b2b2 " in str(meta)
    assert str(meta).endswith("feedback +Us (0c0c0c0c0c0c), -1c1c1c1c1c1c")


def test_a_hash_whose_items_all_expired_prints_and_aggregates() -> None:
    # The index keeps an expired hash until the next fetch; `match` must still print it.
    meta = record("true_positive", expires_ms=1, second_expires_ms=2)
    assert meta.get_as_aggregate_opinion().category is (
        AggregateSignalOpinionCategory.INVESTIGATION_SEED
    )
    assert str(meta) == (
        "EXPIRED by Helpline A (a1a1a1a1a1a1), b2b2b2b2b2b2 (the next fetch drops it)"
    )
    bare = HashbankSignalMetadata([PublishedItem("e3" * 32, 0, "a1" * 32, [], 1)])
    assert bare.get_as_opinions()[0].tags == {"expired"}


def test_records_and_checkpoints_survive_json_storage() -> None:
    # HMA and threatexchange's DBM store keep these as JSON through dacite.
    checkpoints = (
        HashbankCheckpoint(42, "ab" * 32, 1_700_000_000),
        HashbankCheckpoint(42, "ab" * 32, 1_700_000_000, "cd" * 32, "test-network"),
    )
    for obj in (record("disputed"), *checkpoints):
        text = dataclass_json.dataclass_dumps(obj)
        assert dataclass_json.dataclass_loads(text, type(obj)) == obj
    checkpoint = HashbankCheckpoint(42, "ab" * 32)
    assert not checkpoint.is_stale()
    assert checkpoint.get_progress_timestamp() is None
    # One stored before checkpoints named the organisation still loads (HMA keeps JSON).
    old = '{"cursor": 7, "node_id": "%s", "progress_time": 0}' % ("ab" * 32)
    assert dataclass_json.dataclass_loads(old, HashbankCheckpoint).org_id == ""
    old_item = '{"entry_id": "e1", "item": 0, "author": "a1", "labels": [], "expires_ms": null}'
    assert dataclass_json.dataclass_loads(old_item, PublishedItem).author_name is None


def test_expired_items_are_not_indexed() -> None:
    fetched = {
        ("pdq", PDQ): record(expires_ms=1),
        ("pdq", NEAR): HashbankSignalMetadata([PublishedItem("e3" * 32, 0, "a1" * 32, [], 1)]),
        ("video_md5", "00" * 16): None,
    }
    collab = HashbankCollabConfig("c", "hashbank")
    converted = HashbankSignalExchangeAPI.naive_convert_to_signal_type(
        [PdqSignal, VideoMD5Signal], collab, fetched
    )
    assert list(converted) == [PdqSignal]
    [(value, meta)] = converted[PdqSignal].items()
    assert value == PDQ
    assert [i.entry_id for i in meta.live_items()] == ["e2" * 32]


def test_only_verdicts_with_at_most_one_note_can_be_reported() -> None:
    api = HashbankSignalExchangeAPI(
        HashbankCollabConfig("c", "hashbank"), Client("http://127.0.0.1:9", "token")
    )
    seed = SignalOpinion(True, SignalOpinionCategory.INVESTIGATION_SEED, set())
    with pytest.raises(NotImplementedError):
        api.report_opinion(PdqSignal, PDQ, seed)
    tagged = SignalOpinion(True, SignalOpinionCategory.POSITIVE_CLASS, {"blue"})
    with pytest.raises(LabelError, match=r"actioned.*got 'blue'") as refused:
        api.report_opinion(PdqSignal, PDQ, tagged)
    # A CommandError, so the threatexchange CLI prints it without a traceback (exit 2), and
    # still a ValueError for Python callers.
    assert isinstance(refused.value, CommandError)
    assert isinstance(refused.value, ValueError)
    assert refused.value.returncode == 2
    positive = SignalOpinion(True, SignalOpinionCategory.POSITIVE_CLASS, set())
    with pytest.raises(LabelError, match="not a pdq hash"):
        api.report_opinion(PdqSignal, "not a hash", positive)
    # The node at port 9 cannot be reached: a clean error naming it, exit 3.
    with pytest.raises(LabelError, match=r"127\.0\.0\.1:9") as unreachable:
        api.report_opinion(PdqSignal, f"  {PDQ.upper()}\n", positive)
    assert unreachable.value.returncode == 3


def test_the_manifest_offers_the_exchange() -> None:
    assert TX_MANIFEST.apis == (HashbankSignalExchangeAPI,)
    assert HashbankSignalExchangeAPI.get_name() == "hashbank"


def test_a_saved_pdq_index_still_matches_when_loaded() -> None:
    # node.tx repairs faiss multi-hash indexes that lose their tables when saved.
    index = PDQIndex.build([(PDQ, "ours"), ("00" * 32, "other")])
    saved = io.BytesIO()
    index.serialize(saved)
    saved.seek(0)
    loaded = PDQIndex.deserialize(saved)
    found = {(m.metadata, m.similarity_info.distance) for m in loaded.query(NEAR)}
    assert found == {("ours", 6)}


def test_a_checkpoint_continues_across_key_rotation_but_not_across_banks() -> None:
    collab = HashbankCollabConfig("c", "hashbank")
    stored = HashbankCheckpoint(5, "k1" * 32, 0, "0a" * 32, "")

    def at(node_id: str, org: str, network: str = "") -> str | None:
        return checkpoint_refusal(stored, HashbankCheckpoint(5, node_id, 0, org, network), collab)

    assert at("k2" * 32, "0a" * 32) is None  # the organisation rotated its node's key
    assert at("k1" * 32, "0a" * 32, "net") is None  # the node adopted a charter since
    other_bank = at("k1" * 32, "0b" * 32)
    assert other_bank is not None
    assert f"organisation {'0a' * 32}, but" in other_bank
    assert "fetch --clear --only-collab 'c'" in other_bank
    on_network = dataclasses.replace(stored, network="net")
    moved = checkpoint_refusal(
        on_network, HashbankCheckpoint(5, "k1" * 32, 0, "0a" * 32, "other"), collab
    )
    assert moved is not None
    assert "network 'net'" in moved
    # A checkpoint from before org ids were recorded is matched by node id.
    legacy = HashbankCheckpoint(5, "k1" * 32)
    assert (
        checkpoint_refusal(legacy, HashbankCheckpoint(5, "k1" * 32, 0, "0a" * 32), collab) is None
    )
    assert (
        checkpoint_refusal(legacy, HashbankCheckpoint(5, "k2" * 32, 0, "0a" * 32), collab)
        is not None
    )


def test_an_emptied_signal_type_loses_its_index_file(tmp_path: Path) -> None:
    # node.tx is loaded (imported above), so the repair is active if this threatexchange needs it.
    assert index_store_fix.clear_works()
    store = CliIndexStore(tmp_path)
    store.store(VideoMD5Signal, VideoMD5Signal.get_index_cls().build([("ab" * 16, "meta")]))
    store.store(PdqSignal, PDQIndex.build([("cd" * 32, "meta")]))
    assert sorted(store.list()) == ["pdq", "video_md5"]
    store.clear([VideoMD5Signal])
    assert store.list() == ["pdq"]
    assert store.load(VideoMD5Signal) is None
    store.clear()
    assert store.list() == []


def test_withdrawn_and_restored_changes_name_their_hashes() -> None:
    api = HashbankSignalExchangeAPI(HashbankCollabConfig("c", "hashbank"), Client("http://x", "t"))
    item = {"entry_id": "ee" * 32, "index": 0, "author": "aa" * 32}
    change = {
        "cursor": "9",
        "kind": "withdrawn",
        "reason": "takedown",
        "charter_version": 2,
        "received_ms": 1,
        "items": [
            {**item, "signal_type": "md5", "value": "AB" * 16},
            {**item, "index": 1, "signal_type": "pdq", "value": "cd" * 32},
        ],
    }
    assert api._touched(change) == [("video_md5", "ab" * 16), ("pdq", "cd" * 32)]
    assert api._touched({**change, "kind": "restored"}) == api._touched(change)
    assert api._touched({"kind": "a kind from a later node", "cursor": "10"}) == []
