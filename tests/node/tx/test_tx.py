"""The threatexchange extension's pieces that need no node: records, opinions, the index repair."""

from __future__ import annotations

import io

import pytest
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
from node.tx import TX_MANIFEST, HashbankSignalExchangeAPI
from node.tx.records import (
    HashbankCheckpoint,
    HashbankCollabConfig,
    HashbankSignalMetadata,
    PlatformVerdict,
    PublishedItem,
)

PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
NEAR = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"  # 6 bits away


def record(*verdicts: str, expires_ms: int | None = None) -> HashbankSignalMetadata:
    return HashbankSignalMetadata(
        items=[
            PublishedItem("e1" * 32, 0, "a1" * 32, ["ncii"], expires_ms),
            PublishedItem("e2" * 32, 3, "b2" * 32, ["ncii", "video-still"]),
        ],
        feedback=[
            PlatformVerdict(f"f{n}" * 32, f"{n}c" * 32, v, "actioned", None, 1)
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
    assert "by a1a1a1a1a1a1,b2b2b2b2b2b2" in str(meta)
    assert "feedback +0c0c0c0c0c0c,-1c1c1c1c1c1c" in str(meta)


def test_records_and_checkpoints_survive_json_storage() -> None:
    # HMA and threatexchange's DBM store keep these as JSON through dacite.
    for obj in (record("disputed"), HashbankCheckpoint(42, "ab" * 32, 1_700_000_000)):
        text = dataclass_json.dataclass_dumps(obj)
        assert dataclass_json.dataclass_loads(text, type(obj)) == obj
    checkpoint = HashbankCheckpoint(42, "ab" * 32)
    assert not checkpoint.is_stale()
    assert checkpoint.get_progress_timestamp() is None


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
    with pytest.raises(ValueError, match="actioned"):
        api.report_opinion(PdqSignal, PDQ, tagged)


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
