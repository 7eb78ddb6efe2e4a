"""RFC 8941 structured fields: every bare item type, parameters, inner lists, and refusals."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import structured_fields as sf
from protocol.errors import MalformedError


def only(text: str) -> sf.Member:
    (member,) = sf.parse_dictionary(text).values()
    return member


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a=0", 0),
        ("a=-17", -17),
        ("a=999999999999999", sf.MAX_INTEGER),
        ("a=-999999999999999", -sf.MAX_INTEGER),
        ("a=0012", 12),
        ("a=1.5", Decimal("1.5")),
        ("a=-123456789012.123", Decimal("-123456789012.123")),
        ('a="plain"', "plain"),
        ('a="say \\"hi\\" \\\\ bye"', 'say "hi" \\ bye'),
        ('a=""', ""),
        ("a=tok/en:1*", sf.Token("tok/en:1*")),
        ("a=*star", sf.Token("*star")),
        ("a=:aGVsbG8=:", b"hello"),
        ("a=::", b""),
        ("a=?1", True),
        ("a=?0", False),
        ("a", True),
    ],
)
def test_bare_items_parse(text: str, value: object) -> None:
    member = only(text)
    assert isinstance(member, sf.Item)
    assert member.value == value
    assert type(member.value) is type(value)


def test_parameters_keep_their_order_and_bare_keys_are_true() -> None:
    member = only('a=1;z="last";b;c=?0')
    assert member == sf.Item(1, (("z", "last"), ("b", True), ("c", False)))


def test_inner_lists_with_parameters_on_items_and_list() -> None:
    member = only('sig=("@method" "@path";req  tok);created=5;keyid="k"')
    assert member == sf.InnerList(
        (sf.Item("@method"), sf.Item("@path", (("req", True),)), sf.Item(sf.Token("tok"))),
        (("created", 5), ("keyid", "k")),
    )
    assert only("a=()") == sf.InnerList(())


def test_dictionary_keeps_member_order_and_allows_optional_whitespace() -> None:
    members = sf.parse_dictionary("  b=1 ,\ta=2")
    assert list(members) == ["b", "a"]
    assert sf.parse_dictionary("") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a=1, a=2", "duplicate key 'a'"),
        ("a=1;p=1;p=2", "duplicate parameter 'p'"),
        ("a=1,", "trailing comma"),
        ("a=1 b=2", "expected ','"),
        ("A=1", "expected key"),
        ("1a=1", "expected key"),
        ("a=1234567890123456", "number too long"),
        ("a=1234567890123.1", "number too long"),
        ("a=1.1234", "number too long"),
        ("a=1.", "number too long"),
        ("a=-", "expected number"),
        ('a="unterminated', "expected string"),
        ('a="tab\there"', "expected string"),
        ('a="bad \\escape"', "expected string"),
        ("a=:aGVsbG8:", "bad base64"),
        ("a=:aGVsbG9=:", "non-canonical base64"),
        ("a=:a b:", "expected byte sequence"),
        ("a=?2", "expected boolean"),
        ("a=(1 2", "expected space or ')'"),
        ("a=(1,2)", "expected space or ')'"),
        ("a=((1))", "expected bare item"),
        ("a=#", "expected bare item"),
    ],
)
def test_malformed_values_are_refused_with_the_offset(text: str, problem: str) -> None:
    with pytest.raises(MalformedError, match=f"{re.escape(problem)}.* at offset [0-9]+"):
        sf.parse_dictionary(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "?1"),
        (False, "?0"),
        (-5, "-5"),
        (Decimal("1.0"), "1.0"),
        (Decimal("2.50"), "2.5"),
        (Decimal("0.0005"), "0.0"),
        (Decimal("0.0015"), "0.002"),
        ('a"b\\c', '"a\\"b\\\\c"'),
        (sf.Token("t"), "t"),
        (b"\x00\xff", ":AP8=:"),
    ],
)
def test_bare_items_serialise_canonically(value: sf.Bare, text: str) -> None:
    assert sf.serialize_bare(value) == text


@pytest.mark.parametrize("value", [sf.MAX_INTEGER + 1, "é", "line\nbreak"])
def test_values_outside_rfc8941_cannot_be_serialised(value: sf.Bare) -> None:
    with pytest.raises(ValueError, match=r"structured-field range|printable ASCII"):
        sf.serialize_bare(value)


def test_dictionary_serialisation_writes_bare_true_members_as_keys() -> None:
    members: dict[str, sf.Member] = {
        "flag": sf.Item(True, (("p", 1),)),
        "list": sf.InnerList((sf.Item("x"), sf.Item(2)), (("q", True),)),
        "bytes": sf.Item(b"hi"),
    }
    text = sf.serialize_dictionary(members)
    assert text == 'flag;p=1, list=("x" 2);q, bytes=:aGk=:'
    assert sf.parse_dictionary(text) == members


keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,8}", fullmatch=True)
bares = st.one_of(
    st.booleans(),
    st.integers(-sf.MAX_INTEGER, sf.MAX_INTEGER),
    st.decimals(-(10**12) + 1, 10**12 - 1, places=3, allow_nan=False).map(
        lambda d: Decimal(sf.serialize_bare(d))
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    st.from_regex(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]{0,10}", fullmatch=True).map(sf.Token),
    st.binary(max_size=20),
)
params = st.lists(st.tuples(keys, bares), max_size=3, unique_by=lambda kv: kv[0]).map(tuple)
items = st.builds(sf.Item, bares, params)
members = st.one_of(items, st.builds(sf.InnerList, st.lists(items, max_size=4).map(tuple), params))


@given(st.dictionaries(keys, members, max_size=4))
def test_serialise_then_parse_round_trips(value: dict[str, sf.Member]) -> None:
    text = sf.serialize_dictionary(value)
    assert sf.parse_dictionary(text) == value
    assert sf.serialize_dictionary(sf.parse_dictionary(text)) == text
