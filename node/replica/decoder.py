"""Checking large incoming batches in worker processes, beside the node's own.

Checking a bulk sync's entries (canonical msgpack, signatures, body digests, every field) and
summing their items' bank-digest terms is pure-Python work, and one GIL serialises it with the
node's planning and SQLite writes: threads cannot overlap them. Worker processes
(``node.decode_worker``) do it on other cores; the node then rebuilds the accepted entries
without checking them again (``protocol.hazmat.unchecked_entry``, a third of a full decode).

Workers start on first use; a batch waits for a free one. When none can work (killed by the
OS, or unable to start), batches are checked in-process, so workers only ever change speed,
never a verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from node import __version__
from node.replica.decode_worker import LENGTH_BYTES, READY, check_one
from node.replica.errors import WorkerError
from protocol.entry import Entry
from protocol.errors import ProtocolError, error_for_code
from protocol.hazmat import unchecked_entry

log = logging.getLogger("hashbank.decoder")

# Batches at most this size are checked on the event loop: a hop to a thread or a process
# costs more than checking a few small entries.
INLINE_ENTRIES = 32
INLINE_BYTES = 64 * 1024
# Entries this small on average are signature-bound (verifying is ~50 µs, decoding a few).
SIGNATURE_BOUND_BYTES = 2048
# Workers that may fail (die, or not start) before the node stops starting new ones.
MAX_FAILURES = 3
STOP_TIMEOUT_S = 5.0
# A batch is at most a few MB and takes a worker well under a second; far past that, the
# worker is stuck and the batch is checked in-process instead.
ANSWER_TIMEOUT_S = 60.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# Where this node's own packages were imported from (a checkout or site-packages).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The worker's whole command line: import the worker from PROJECT_ROOT, nothing else.
WORKER_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from node.replica.decode_worker import main; main()"
)


@dataclass(frozen=True, slots=True)
class Checked:
    """An entry that passed ``decode_entry`` and the clock check."""

    entry: Entry
    # Sum of ``item_digest`` over all its items (adds), when the checker computed it.
    digest_sum: int | None = None


Outcome = Checked | ProtocolError


def check_here(raws: Sequence[bytes], now_ms: int) -> list[Outcome]:
    """Check a batch in this process."""
    out: list[Outcome] = []
    for raw in raws:
        try:
            out.append(Checked(check_one(raw, now_ms)))
        except ProtocolError as exc:
            out.append(exc)
    return out


class _Worker:
    """One ``node.decode_worker`` process, answering one batch at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> _Worker:
        # Isolated mode (-I: no current directory, PYTHONPATH or user site on sys.path) and
        # this installation's own root first: started from a directory anyone can write to
        # (/tmp), ``-m`` would import a planted ``node/`` package, whose verdicts the node
        # trusts without checking (protocol.hazmat.unchecked_entry).
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            WORKER_BOOT,
            str(PROJECT_ROOT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(proc)
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                ready = await worker._read()
        except (TimeoutError, WorkerError):
            ready = None
        if ready != [READY, __version__]:
            await worker.stop()
            said = f"{ready!r:.80}"
            raise WorkerError(f"decode worker did not start as hashbank {__version__}: {said}")
        return worker

    async def check(self, raws: Sequence[bytes], now_ms: int) -> list[Any]:
        assert self.proc.stdin is not None
        payload = msgpack.packb([now_ms, list(raws)])
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                self.proc.stdin.write(len(payload).to_bytes(LENGTH_BYTES, "big") + payload)
                await self.proc.stdin.drain()
                answer = await self._read()
        except TimeoutError:
            raise WorkerError(f"decode worker silent for {ANSWER_TIMEOUT_S:g} s") from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise WorkerError(f"decode worker stopped reading: {exc}") from None
        if not isinstance(answer, list) or len(answer) != len(raws):
            raise WorkerError("decode worker answered out of step")
        return answer

    async def _read(self) -> Any:
        assert self.proc.stdout is not None
        try:
            header = await self.proc.stdout.readexactly(LENGTH_BYTES)
            size = int.from_bytes(header, "big")
            if size > MAX_ANSWER_BYTES:
                raise WorkerError(f"decode worker announced a {size}-byte answer")
            return msgpack.unpackb(await self.proc.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ValueError) as exc:
            raise WorkerError(f"decode worker exited or sent garbage: {exc}") from None

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the worker exits at end of input
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


def _outcome(raw: bytes, answer: Any) -> Outcome:
    if isinstance(answer, bytes):
        return Checked(unchecked_entry(raw), int.from_bytes(answer, "big"))
    code, message = answer
    try:
        return error_for_code(code, message)
    except ValueError:  # cannot happen between a node and a worker of one version
        return ProtocolError(f"{code}: {message}")


class Decoder:
    """Checks batches of incoming entries: inline, on a thread, or in worker processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        self._waiting = 0
        self._starting: asyncio.Task[None] | None = None
        self._all: list[_Worker] = []
        self._stopping: set[asyncio.Future[None]] = set()
        self._failures = 0

    async def check(self, raws: Sequence[bytes], now_ms: int) -> list[Outcome]:
        """Check ``raws``; the outcomes are in the same order."""
        size = sum(map(len, raws))
        if len(raws) <= INLINE_ENTRIES and size <= INLINE_BYTES:
            return check_here(raws, now_ms)
        if size <= SIGNATURE_BOUND_BYTES * len(raws) and self._busy():
            # Small entries cost mostly signature checks, which libsodium runs without the
            # GIL: a thread works beside the busy workers instead of queueing behind them.
            return await asyncio.to_thread(check_here, raws, now_ms)
        worker = await self._take()
        if worker is None:
            # libsodium and hashlib release the GIL, so a thread still helps signature-heavy
            # batches of small entries.
            return await asyncio.to_thread(check_here, raws, now_ms)
        try:
            answers = await worker.check(raws, now_ms)
        except WorkerError as exc:
            self._failed(worker, exc)
            return await asyncio.to_thread(check_here, raws, now_ms)
        except BaseException:  # cancelled mid-request: its answer would come out of step
            self._retire(worker)
            raise
        self._idle.put_nowait(worker)
        return [_outcome(raw, answer) for raw, answer in zip(raws, answers, strict=True)]

    @property
    def running(self) -> int:
        """Worker processes currently running."""
        return len(self._all)

    def _busy(self) -> bool:
        return self._idle.empty() and len(self._all) >= self.workers > 0

    async def _take(self) -> _Worker | None:
        if self._idle.empty() and len(self._all) < self.workers:
            if self._starting is None:
                self._starting = asyncio.ensure_future(self._start())
            # Waiting once for a worker to start (a fraction of a second) costs less than
            # checking a bulk sync's first megabytes in-process, under the event loop's GIL.
            await asyncio.shield(self._starting)
        if not self._all:
            return None
        self._waiting += 1
        try:
            return await self._idle.get()  # None: the last worker failed meanwhile
        finally:
            self._waiting -= 1

    async def _start(self) -> None:
        try:
            worker = await _Worker.start()
        except (OSError, WorkerError) as exc:
            self._failed(None, exc)
        else:
            self._all.append(worker)
            self._idle.put_nowait(worker)
        finally:
            self._starting = None

    def _retire(self, worker: _Worker) -> None:
        if worker not in self._all:  # already let go by close()
            return
        self._all.remove(worker)
        self._stopping.add(task := asyncio.ensure_future(worker.stop()))
        task.add_done_callback(self._stopping.discard)
        if not self._all:  # wake whoever waits for a worker: none is coming back
            for _ in range(self._waiting):
                self._idle.put_nowait(None)

    def _failed(self, worker: _Worker | None, exc: Exception) -> None:
        log.warning("decode worker failed (%s); checking in-process meanwhile", exc)
        if worker is not None:
            self._retire(worker)
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            log.error("decode workers failed %d times; checking in-process now", MAX_FAILURES)
            self.workers = 0

    async def close(self) -> None:
        """Stop the worker processes."""
        if self._starting is not None:
            await self._starting
        workers, self._all = self._all, []
        self.workers = 0
        for _ in range(self._waiting):
            self._idle.put_nowait(None)
        await asyncio.gather(*(w.stop() for w in workers), *self._stopping)
