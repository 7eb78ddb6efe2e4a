"""Coverage-guided fuzzing (atheris, i.e. libFuzzer) of the entry and charter decoders.

Run with ``make fuzz`` (``FUZZ_SECONDS``, default 60), or directly::

    python tests/fuzz/atheris_decoders.py -max_total_time=60 build/fuzz/corpus

The first byte of each input picks a target and the rest is its input:

====  =====================================================================================
0     ``decode_entry``
1     ``decode_entry`` of an entry whose signed header commits to the rest as its body (kind
      from the first byte), so coverage reaches the body decoder behind the signature and
      digest checks
2     ``decode_header``
3     ``decode_charter``
4     the charter body decoder
====  =====================================================================================

Any exception other than ``ProtocolError`` is a crash; libFuzzer's ``-rss_limit_mb`` (2 GB
by default) and ``-timeout`` catch unbounded allocations and hangs. Valid encodings of every
object are written to each corpus directory given, as seeds. libFuzzer prints the number of
executions when it stops (``Done N runs in S second(s)``; ``stat::number_of_executed_units``
with ``-print_final_stats=1``), and writes any crashing input under ``-artifact_prefix``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

try:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("atheris is not installed: run `make fuzz`, which installs it (pip install atheris)")

# Import order matters: what is imported inside this block is instrumented for coverage.
with atheris.instrument_imports(include=["protocol"]):
    from protocol.charter import decode_body as decode_charter_body
    from protocol.charter import decode_charter
    from protocol.entry import decode_entry, decode_header
    from protocol.errors import ProtocolError

from tests.fuzz import hostile

TARGETS = 5


def one_input(data: bytes) -> None:
    if not data:
        return
    target, payload = data[0] % TARGETS, data[1:]
    try:
        if target == 0:
            decode_entry(payload)
        elif target == 1:
            decode_entry(hostile.resign_body(payload, kind=1 + (data[0] // TARGETS) % 3))
        elif target == 2:
            decode_header(payload)
        elif target == 3:
            decode_charter(payload)
        else:
            decode_charter_body(payload)
    except ProtocolError:
        pass


def seed_corpus(directory: Path) -> int:
    """Write valid encodings, prefixed with the byte that picks their target."""
    seeds = hostile.seeds()
    inputs = [bytes([0]) + raw for raw in seeds.entries]
    inputs += [bytes([1 + TARGETS * (kind - 1)]) + body for kind, body in seeds.bodies]
    inputs += [bytes([2]) + raw for raw in seeds.headers]
    inputs += [bytes([3]) + raw for raw in seeds.charters]
    inputs += [bytes([4]) + raw for raw in seeds.charter_bodies]
    directory.mkdir(parents=True, exist_ok=True)
    for data in inputs:
        (directory / f"seed-{hashlib.sha256(data).hexdigest()[:16]}").write_bytes(data)
    return len(inputs)


def main() -> None:
    for arg in sys.argv[1:]:
        if not arg.startswith("-"):
            count = seed_corpus(Path(arg))
            print(f"seeded {arg} with {count} valid encodings", file=sys.stderr)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
