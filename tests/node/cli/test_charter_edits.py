"""``charter propose --rotate``: where a new key may start."""

from __future__ import annotations

import pytest

from node.cli.charter import _rotated
from node.errors import ConfigError
from protocol.charter import Member, MemberKey
from protocol.identity import org_id_for
from tests.builders import Author


def member(*from_seqs: int) -> Member:
    keys = tuple(MemberKey(Author(n).key.public_key.raw, s) for n, s in enumerate(from_seqs))
    return Member(org_id_for(Author(0).key.public_key), "Helpline", ("publisher",), keys)


def test_a_new_key_may_replace_the_latest_from_its_own_seq() -> None:
    new = str(Author(9).key.public_key)
    replaced = _rotated(member(1), new, 1)  # nothing published yet: replace the first key
    assert [k.from_seq for k in replaced.keys] == [1, 1]
    assert replaced.org_id == member(1).org_id
    assert [k.from_seq for k in _rotated(member(1, 6), new, 6).keys] == [1, 6, 6]
    assert [k.from_seq for k in _rotated(member(1, 6), new, 9).keys] == [1, 6, 9]


def test_a_new_key_never_starts_before_the_latest_or_repeats_one() -> None:
    with pytest.raises(ConfigError, match="must start at seq 6 or later, not 5"):
        _rotated(member(1, 6), str(Author(9).key.public_key), 5)
    with pytest.raises(ConfigError, match="already one of 'Helpline'"):
        _rotated(member(1, 6), str(Author(1).key.public_key), 7)
