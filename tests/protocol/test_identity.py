from __future__ import annotations

import pytest

from protocol.errors import BadSignatureError, InvalidValueError
from protocol.identity import Context, PublicKey, SigningKey, org_id_for, parse_hex


def test_signature_verifies_only_in_its_own_context() -> None:
    key = SigningKey.generate()
    message = b"the same bytes"
    signature = key.sign(Context.ENTRY, message)
    key.public_key.verify(Context.ENTRY, message, signature)
    for other in (Context.CHARTER, Context.REQUEST):
        with pytest.raises(BadSignatureError, match=other.name.lower()):
            key.public_key.verify(other, message, signature)


def test_signature_by_another_key_is_rejected() -> None:
    signature = SigningKey.generate().sign(Context.ENTRY, b"m")
    with pytest.raises(BadSignatureError, match="does not verify"):
        SigningKey.generate().public_key.verify(Context.ENTRY, b"m", signature)


def test_seed_round_trip_gives_the_same_key() -> None:
    key = SigningKey.generate()
    assert SigningKey(key.seed).public_key == key.public_key


def test_org_id_is_derived_from_the_first_key_and_is_not_the_key() -> None:
    key = SigningKey(bytes(32))
    org = org_id_for(key.public_key)
    assert len(org) == 32
    assert org != key.public_key.raw
    assert org == org_id_for(SigningKey(bytes(32)).public_key)


def test_printable_key_form_round_trips() -> None:
    key = SigningKey.generate().public_key
    assert PublicKey.from_text(str(key)) == key
    assert PublicKey.from_text(str(key).upper()) == key


@pytest.mark.parametrize(
    ("text", "problem"),
    [("ab", "64 hex characters"), ("zz" * 32, "not hex"), ("0 " * 32, "not hex")],
)
def test_bad_printable_forms_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidValueError, match=problem):
        parse_hex(text, 32, "key")


def test_malformed_keys_and_signatures_are_rejected() -> None:
    with pytest.raises(InvalidValueError):
        PublicKey(b"short")
    key = SigningKey.generate()
    with pytest.raises(BadSignatureError, match="64 bytes"):
        key.public_key.verify(Context.ENTRY, b"m", b"\x00" * 10)


ORDER = 2**252 + 27742317777372353535851937790883648493


def test_non_canonical_signatures_and_small_order_keys_are_refused() -> None:
    # docs/protocol.md §3.1: libsodium's strict rules, not ZIP-215's.
    key = SigningKey(bytes(range(32)))
    signature = key.sign(Context.ENTRY, b"message")
    assert key.public_key.verify(Context.ENTRY, b"message", signature) is None
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + ORDER).to_bytes(32, "little")
    with pytest.raises(BadSignatureError):
        key.public_key.verify(Context.ENTRY, b"message", malleated)
    identity = PublicKey(bytes([1]) + bytes(31))  # the neutral point: order 1
    with pytest.raises(BadSignatureError):
        identity.verify(Context.ENTRY, b"message", bytes([1]) + bytes(63))


def test_signal_values_parse_through_the_one_hex_parser() -> None:
    from protocol.signals import MD5

    assert MD5.parse("AB" * 16) == bytes([0xAB]) * 16
    with pytest.raises(InvalidValueError, match="value for md5 must be 32 hex characters"):
        MD5.parse("ab")
    with pytest.raises(InvalidValueError, match="value is not hex"):
        MD5.parse("0 " * 16)
