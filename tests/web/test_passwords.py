"""Console password records: scrypt with its parameters recorded, constant-time checks."""

from __future__ import annotations

import pytest

from node.web import passwords
from node.web.errors import PasswordPolicyError
from node.web.passwords import CURRENT, Params, PasswordRecord


def test_a_record_names_its_kdf_and_parameters() -> None:
    record = passwords.hash_password("a long passphrase")
    kdf, params, _salt, _digest = record.split("$")
    assert (kdf, params) == ("scrypt", CURRENT.text())
    assert PasswordRecord.parse(record).params == CURRENT
    assert len(PasswordRecord.parse(record).salt) == passwords.SALT_BYTES
    # A fresh salt every time: the same password never gives the same record.
    assert passwords.hash_password("a long passphrase") != record


def test_verify() -> None:
    record = passwords.hash_password("a long passphrase")
    assert passwords.verify_password("a long passphrase", record)
    assert not passwords.verify_password("a long passphrasE", record)
    assert not passwords.verify_password("", record)


def test_weaker_records_still_verify_and_ask_for_a_rehash() -> None:
    old = passwords.hash_password("a long passphrase", Params(ln=12, r=8, p=1))
    assert passwords.verify_password("a long passphrase", old)
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.hash_password("a long passphrase"))


@pytest.mark.parametrize(
    "damaged",
    ["", "scrypt", "bcrypt$ln=15,r=8,p=1$AAAA$AAAA", "scrypt$ln=40,r=8,p=1$AAAA$AAAA", "x$y$z$w"],
)
def test_damaged_records_never_verify(damaged: str) -> None:
    assert not passwords.verify_password("anything at all", damaged)
    assert passwords.needs_rehash(damaged)


def test_policy() -> None:
    assert passwords.check_policy("twelve chars") == "twelve chars"
    for bad, why in (("short", "at least"), ("x" * 1025, "at most"), ("tab\there long", "control")):
        with pytest.raises(PasswordPolicyError, match=why):
            passwords.check_policy(bad)


def test_one_time_passwords_are_readable_and_fresh() -> None:
    made = {passwords.one_time_password() for _ in range(50)}
    assert len(made) == 50
    for p in made:
        groups = p.split("-")
        assert [len(g) for g in groups] == [5, 5, 5, 5]
        assert not set("".join(groups)) & set("ILOU")
        passwords.check_policy(p)
