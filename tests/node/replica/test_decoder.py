"""The decode workers: real ``node.decode_worker`` processes checking real signed entries."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node import __version__
from node.replica.decoder import MAX_FAILURES, Checked, Decoder, Outcome, check_here
from protocol import wire
from protocol.body import HashItem, Verdict
from protocol.entry import decode_entry
from protocol.errors import ProtocolError
from protocol.hazmat import digest_sum
from tests.builders import BASE_TS, Author, pdq_item, pdq_value

NOW = BASE_TS + 10**9


def bulk_feed(entries: int = 4, items: int = 1000) -> list[bytes]:
    author = Author(7)
    for e in range(entries):
        author.add(*(pdq_item(e * items + i) for i in range(items)))
    author.add(HashItem("md5", bytes(16), ("ncii",), b"case-1"), pdq_item(10**6))
    author.revoke(author.entries[0], (3,))
    author.feedback(pdq_value(1), Verdict.TRUE_POSITIVE)
    return [e.raw for e in author.entries]


def spoiled(raws: list[bytes]) -> list[bytes]:
    """Valid entries mixed with a bad signature, a non-canonical encoding and garbage."""
    header, _, body = wire.decode(raws[0], max_size=len(raws[0]))
    bad_signature = wire.encode([header, bytes(64), body])
    non_canonical = b"\xdc\x00\x03" + raws[1][1:]  # array16 header where fixarray is canonical
    return [*raws, bad_signature, non_canonical, b"\x93garbage", raws[2]]


def verdicts(outcomes: list[Outcome]) -> list[object]:
    return [o.entry.id if isinstance(o, Checked) else o.code for o in outcomes]


@pytest.fixture
async def decoder() -> AsyncIterator[Decoder]:
    d = Decoder(1)
    yield d
    await d.close()


async def test_a_worker_checks_a_bulk_batch_exactly_as_decode_entry_would(
    decoder: Decoder,
) -> None:
    raws = bulk_feed()
    outcomes = await decoder.check(raws, NOW)
    assert decoder.running == 1
    for raw, outcome in zip(raws, outcomes, strict=True):
        assert isinstance(outcome, Checked)
        assert outcome.entry == decode_entry(raw)
        assert outcome.digest_sum == digest_sum(outcome.entry)


async def test_refused_entries_get_the_same_verdicts_from_a_worker(decoder: Decoder) -> None:
    raws = spoiled(bulk_feed())
    from_worker = await decoder.check(raws, NOW)
    assert decoder.running == 1
    assert verdicts(from_worker) == verdicts(check_here(raws, NOW))
    assert verdicts(from_worker)[-4:-1] == ["bad_signature", "non_canonical", "malformed"]
    assert all(isinstance(o, ProtocolError) and o.message for o in from_worker[-4:-1])


async def test_entries_from_the_future_are_refused_by_the_worker_too(decoder: Decoder) -> None:
    outcomes = await decoder.check(bulk_feed(), BASE_TS - 10**9)
    assert {o.code for o in outcomes if isinstance(o, ProtocolError)} == {"bad_timestamp"}


async def test_small_batches_never_start_a_worker(decoder: Decoder) -> None:
    raws = bulk_feed(entries=2, items=1)
    assert verdicts(await decoder.check(raws, NOW)) == verdicts(check_here(raws, NOW))
    assert decoder.running == 0


async def test_zero_workers_checks_everything_in_process() -> None:
    decoder = Decoder(0)
    raws = bulk_feed()
    assert verdicts(await decoder.check(raws, NOW)) == verdicts(check_here(raws, NOW))
    assert decoder.running == 0
    await decoder.close()


def kill_workers(decoder: Decoder) -> None:
    for worker in decoder._all:
        worker.proc.send_signal(signal.SIGKILL)


async def test_a_killed_worker_loses_no_batch_and_is_replaced(decoder: Decoder) -> None:
    raws = spoiled(bulk_feed())
    expected = verdicts(check_here(raws, NOW))
    await decoder.check(raws, NOW)
    kill_workers(decoder)
    assert verdicts(await decoder.check(raws, NOW)) == expected  # checked in-process
    assert verdicts(await decoder.check(raws, NOW)) == expected  # by a new worker
    assert decoder.running == 1


async def test_workers_that_keep_dying_are_given_up(decoder: Decoder) -> None:
    raws = bulk_feed()
    expected = verdicts(check_here(raws, NOW))
    for _ in range(MAX_FAILURES):
        await decoder.check(raws, NOW)
        kill_workers(decoder)
        assert verdicts(await decoder.check(raws, NOW)) == expected
    assert decoder.workers == 0
    assert verdicts(await decoder.check(raws, NOW)) == expected
    assert decoder.running == 0


async def test_a_cancelled_check_leaves_no_worker_out_of_step(decoder: Decoder) -> None:
    raws = bulk_feed(entries=20)
    expected = verdicts(check_here(raws, NOW))
    await decoder.check(raws[:40], NOW)  # the worker is up
    task = asyncio.ensure_future(decoder.check(raws, NOW))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert verdicts(await decoder.check(raws, NOW)) == expected


async def test_close_stops_the_worker_processes() -> None:
    decoder = Decoder(2)
    await decoder.check(bulk_feed(), NOW)
    procs = [w.proc for w in decoder._all]
    assert procs
    await decoder.close()
    assert all(p.returncode is not None for p in procs)
    assert decoder.running == 0


async def test_a_stuck_worker_is_dropped_and_its_batch_checked_in_process(
    decoder: Decoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = spoiled(bulk_feed())
    expected = verdicts(check_here(raws, NOW))
    await decoder.check(raws, NOW)  # started with the full timeouts, however busy the machine
    (stuck,) = decoder._all
    # A stopped worker never answers, so a short wait decides nothing but the test's length.
    monkeypatch.setattr("node.replica.decoder.ANSWER_TIMEOUT_S", 2.0)
    monkeypatch.setattr("node.replica.decoder.STOP_TIMEOUT_S", 2.0)
    stuck.proc.send_signal(signal.SIGSTOP)
    assert verdicts(await decoder.check(raws, NOW)) == expected
    assert decoder.running == 0
    await asyncio.wait_for(stuck.proc.wait(), 30)  # killed, not left behind


async def test_a_worker_that_cannot_start_leaves_checking_in_process(
    decoder: Decoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    raws = spoiled(bulk_feed())
    expected = verdicts(check_here(raws, NOW))
    for _ in range(MAX_FAILURES + 1):
        assert verdicts(await decoder.check(raws, NOW)) == expected
    assert decoder.running == 0
    assert decoder.workers == 0  # given up after MAX_FAILURES tries


async def test_a_worker_of_another_version_is_not_used(
    decoder: Decoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("node.replica.decoder.__version__", "0.0.0-not-this-one")
    raws = spoiled(bulk_feed())
    assert verdicts(await decoder.check(raws, NOW)) == verdicts(check_here(raws, NOW))
    assert decoder.running == 0


PLANTED_WORKER = """
import pathlib, sys
import msgpack
from node import __version__
pathlib.Path({marker!r}).write_text("the planted worker ran")
def frame(value):
    payload = msgpack.packb(value)
    sys.stdout.buffer.write(len(payload).to_bytes(4, "big") + payload)
    sys.stdout.buffer.flush()
frame(["ready", __version__])
while len(header := sys.stdin.buffer.read(4)) == 4:
    _, raws = msgpack.unpackb(sys.stdin.buffer.read(int.from_bytes(header, "big")))
    frame([bytes(32)] * len(raws))  # "all accepted"
"""


async def test_a_node_package_planted_in_the_working_directory_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local user who can write where the operator starts the node (/tmp, say) plants a
    # `node` package whose worker approves everything; it must never run.
    marker = tmp_path / "pwned"
    planted = tmp_path / "node" / "replica"
    planted.mkdir(parents=True)
    (tmp_path / "node" / "__init__.py").write_text(f"__version__ = {__version__!r}\n")
    (planted / "__init__.py").write_text("")
    (planted / "decode_worker.py").write_text(PLANTED_WORKER.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # nor through the environment
    decoder = Decoder(1)
    try:
        raws = spoiled(bulk_feed())
        outcomes = await decoder.check(raws, NOW)
        assert decoder.running == 1  # a worker did check the batch: the real one
    finally:
        await decoder.close()
    assert not marker.exists()
    assert verdicts(outcomes) == verdicts(check_here(raws, NOW))
    assert verdicts(outcomes)[-4:-1] == ["bad_signature", "non_canonical", "malformed"]
