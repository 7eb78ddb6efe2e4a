"""What a node never publishes: the built-in junk rules and the operator's list."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from node.errors import ConfigError
from node.replica.errors import NeverPublishError
from node.replica.junk import Candidate, NeverPublish, builtin_refusal
from node.replica.uniform_pdq import UNIFORM_GREY_PDQ

EMPTY_MD5 = hashlib.md5(b"").digest()
EMPTY_SHA256 = hashlib.sha256(b"").digest()
PDQ = hashlib.sha256(b"a real-looking pdq").digest()


@pytest.mark.parametrize(
    ("signal_type", "value", "quality", "reason"),
    [
        ("md5", EMPTY_MD5, None, "MD5 of an empty file"),
        ("sha256", EMPTY_SHA256, None, "SHA256 of an empty file"),
        ("pdq", PDQ, 49, "quality 49 (below 50)"),
        ("pdq", bytes(32), None, "every bit equal"),
        ("pdq", b"\xff" * 32, None, "every bit equal"),
        ("pdq", sorted(UNIFORM_GREY_PDQ)[-1], None, "uniform image"),
    ],
)
def test_junk_is_refused_with_its_reason(
    signal_type: str, value: bytes, quality: int | None, reason: str
) -> None:
    found = builtin_refusal(signal_type, value, quality)
    assert found is not None
    assert reason in found


def test_real_hashes_pass() -> None:
    assert builtin_refusal("pdq", PDQ, 50) is None
    assert builtin_refusal("pdq", PDQ) is None
    assert builtin_refusal("md5", hashlib.md5(b"x").digest()) is None
    assert builtin_refusal("sha256", EMPTY_MD5 * 2) is None  # only the sha256 of b"" is junk


def test_the_operators_list_is_read_and_re_read_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "never-publish.txt"
    rules = NeverPublish(path)  # no file: only the built-in rules
    assert rules.refusal("pdq", PDQ) is None
    path.write_text(
        "# our own logo, which victims' photos often show\n"
        f"pdq:{PDQ.hex().upper()}  helpline logo\n"
        "\n"
        f"md5:{hashlib.md5(b'x').hexdigest()}   # a test file\n"
    )
    found = rules.refusal("pdq", PDQ)
    assert found is not None
    assert "never-publish list" in found
    assert "helpline logo" in found
    assert rules.refusal("md5", hashlib.md5(b"x").digest()) is not None
    with pytest.raises(NeverPublishError) as refused:
        rules.check([Candidate("items[0]", "md5", EMPTY_MD5), Candidate("items[1]", "pdq", PDQ)])
    assert "items[0]: md5" in refused.value.message
    assert "items[1]: pdq" in refused.value.message
    assert "nothing was published" in refused.value.message
    path.write_text("# emptied\n")
    os.utime(path, ns=(1, 1))  # a new stamp even within one clock tick
    assert rules.refusal("pdq", PDQ) is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [("pdq", "TYPE:HEX"), ("crc32:abcd", "TYPE:HEX"), ("md5:abc", "md5"), ("pdq:zz", "pdq")],
)
def test_a_malformed_list_names_its_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "never-publish.txt"
    path.write_text(f"# fine\n{line}\n")
    with pytest.raises(ConfigError) as bad:
        NeverPublish(path)
    assert f"{path}:2:" in bad.value.message
    assert problem in bad.value.message
