"""The unchecked fast paths give exactly what the checked paths give, on inputs they accepted."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from protocol import hazmat, wire
from protocol.bank import item_digest
from protocol.body import AddBody, Body
from protocol.entry import decode_entry, sign_entry
from protocol.identity import SigningKey, org_id_for
from tests.builders import BASE_TS, pdq_item
from tests.protocol.strategies import bodies

KEY = SigningKey(hashlib.sha256(b"hazmat tests").digest())
ORG = org_id_for(KEY.public_key)
ROOT = Path(__file__).resolve().parents[2]


def make(body: Body, seq: int = 1) -> bytes:
    prev = None if seq == 1 else b"\x01" * 32
    return sign_entry(KEY, author=ORG, seq=seq, prev=prev, timestamp_ms=BASE_TS, body=body).raw


@given(bodies, st.integers(1, 2**40))
def test_unchecked_rebuild_equals_the_checked_decode(body: Body, seq: int) -> None:
    raw = make(body, seq)
    assert hazmat.unchecked_entry(raw) == decode_entry(raw)


def test_unchecked_rebuild_of_an_erased_entry_has_no_body() -> None:
    erased = decode_entry(make(AddBody((pdq_item(1),)))).without_body()
    assert hazmat.unchecked_entry(erased.raw) == erased
    assert hazmat.unchecked_entry(erased.raw).erased


scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary() | st.text()
values = st.recursive(scalars, lambda children: st.lists(children, max_size=5), max_leaves=20)


@given(values)
def test_encode_known_and_decode_unchecked_agree_with_wire_on_valid_values(value: Any) -> None:
    data = wire.encode(value)
    assert hazmat.encode_known(value) == data
    assert hazmat.decode_unchecked(data) == wire.decode(data, max_size=len(data))


@given(bodies)
def test_digest_sum_is_the_sum_of_item_digests(body: Body) -> None:
    entry = decode_entry(make(body))
    expected = 0
    if isinstance(entry.body, AddBody):
        expected = sum(
            item_digest(item.signal_type, item.value, entry.author, entry.id, index)
            for index, item in enumerate(entry.body.items)
        )
    assert hazmat.digest_sum(entry) == expected % 2**256


def test_the_fast_paths_live_only_in_hazmat() -> None:
    # pyca's rule: what skips a check says so in its module name, and nowhere else.
    names = ("unchecked_entry", "decode_unchecked", "encode_known", "add_body_unchecked")
    pattern = re.compile(rf"^def ({'|'.join(names)}|digest_sum)\b", re.MULTILINE)
    defined = {
        path.name for path in (ROOT / "protocol").rglob("*.py") if pattern.search(path.read_text())
    }
    assert defined == {"hazmat.py"}
