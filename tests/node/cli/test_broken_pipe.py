"""A reader that goes away early (``hashbank status | head -c 10``) ends the command quietly.

No "internal error", no traceback, nothing on stderr, and not Python's own "Exception ignored
… BrokenPipeError" (exit status 120): output still buffered when a command returns used to
meet the closed pipe in the interpreter's exit flush, outside ``main``'s error handling. Each
command runs both with buffered output (as on an operator's terminal) and with
``PYTHONUNBUFFERED`` set (as in some service managers and CI), since the pipe breaks in a
different place in each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.nodes import ROOT, NodeProcess, make_data

MODES = {"buffered": False, "unbuffered": True}


def environment(unbuffered: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


def run_with_closed_stdout(args: list[str], unbuffered: bool) -> tuple[int, str]:
    """Run ``hashbank args`` with its stdout a pipe whose reader has already gone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(unbuffered),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # before the child has even started Python: its first write fails
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=120), stderr


def assert_quiet(status: int, stderr: str) -> None:
    assert stderr == "", stderr
    assert status == 0


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    node = await NodeProcess.start(make_data(tmp_path / "node"))
    yield node
    node.terminate()


@pytest.mark.parametrize("mode", MODES)
async def test_status_into_a_closed_pipe_is_quiet(running: NodeProcess, mode: str) -> None:
    args = ["status", "--data", str(running.data.root), "--url", running.url]
    assert_quiet(*run_with_closed_stdout(args, MODES[mode]))


@pytest.mark.parametrize("mode", MODES)
async def test_status_piped_into_head_is_quiet(running: NodeProcess, mode: str) -> None:
    command = (
        f"'{sys.executable}' -m node.cli status --data '{running.data.root}' "
        f"--url {running.url} | head -c 10"
    )
    result = subprocess.run(
        ["sh", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment(MODES[mode]),
        timeout=120,
        check=False,
    )
    assert result.stdout == '{\n  "node_'
    assert_quiet(result.returncode, result.stderr)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["charter", "--help"]])
def test_help_into_a_closed_pipe_is_quiet(args: list[str], mode: str) -> None:
    assert_quiet(*run_with_closed_stdout(args, MODES[mode]))


@pytest.mark.parametrize("mode", MODES)
def test_hash_into_a_closed_pipe_is_quiet(tmp_path: Path, mode: str) -> None:
    files = []
    for n in range(50):
        path = tmp_path / f"file{n}.bin"
        path.write_bytes(os.urandom(100))
        files.append(str(path))
    assert_quiet(*run_with_closed_stdout(["hash", *files], MODES[mode]))
