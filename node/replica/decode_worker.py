"""The decode worker: checks batches of entries for a node, in its own process.

Started by ``node.replica.decoder`` in isolated mode, imported from the node's own
installation (never ``python -m`` from the current directory: see ``_Worker.start``). It reads
requests from stdin and writes answers to stdout, each a 4-byte big-endian length and a
msgpack value:

* first, unasked: ``["ready", version]``
* request: ``[now_ms, [entry bytes, ...]]``
* answer: one element per entry, in order: the 32-byte big-endian ``digest_sum`` of an
  accepted entry, or ``[code, message]`` of the ``ProtocolError`` that refused it.

It exits when stdin closes, so it never outlives its node, and ignores Ctrl-C, which a
terminal sends to the node and the worker alike: the node stops it.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
from collections.abc import Sequence
from typing import BinaryIO

import msgpack

from node import __version__
from protocol.entry import Entry, decode_entry
from protocol.errors import ProtocolError
from protocol.feed import check_timestamp
from protocol.hazmat import digest_sum

LENGTH_BYTES = 4
# The first frame: [READY, version]. A worker spawned after the package was upgraded under a
# running node says so, and the node does not use it.
READY = "ready"


def check_one(raw: bytes, now_ms: int) -> Entry:
    """What a node checks of an entry before placing it in its feed (``ProtocolError`` if bad)."""
    entry = decode_entry(raw)
    check_timestamp(entry, now_ms)
    return entry


def check_batch(raws: Sequence[bytes], now_ms: int) -> list[bytes | list[str]]:
    """For each entry, its items' digest sum (32 bytes) or why it was refused."""
    out: list[bytes | list[str]] = []
    for raw in raws:
        try:
            entry = check_one(raw, now_ms)
        except ProtocolError as exc:
            out.append([exc.code, exc.message])
        else:
            out.append(digest_sum(entry).to_bytes(32, "big"))
    return out


def write_frame(out: BinaryIO, payload: bytes) -> None:
    out.write(len(payload).to_bytes(LENGTH_BYTES, "big") + payload)
    out.flush()


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer requests until ``inp`` closes."""
    write_frame(out, msgpack.packb([READY, __version__]))
    while len(header := inp.read(LENGTH_BYTES)) == LENGTH_BYTES:
        now_ms, raws = msgpack.unpackb(inp.read(int.from_bytes(header, "big")))
        write_frame(out, msgpack.packb(check_batch(raws, now_ms)))


def main() -> None:
    """Run as the node's worker: quiet on Ctrl-C (the node decides when to stop) and on exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the whole group
    gc.set_threshold(100_000, 50, 100)  # a batch's objects die young; see node.cli
    with contextlib.suppress(BrokenPipeError):  # the node went away mid-answer
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
