"""Benchmark the in-browser hasher (node/web/static) against the Python CLI, in one run.

    python bench/browser_hash.py [--rounds 3] [--big-mb 1024] [--json]

1. Images/s: the PDQ reference set (tests/data/pdq-reference, 50 images from 34x42 to
   2000x1404), ``--rounds`` copies of it, hashed (PDQ + MD5 + SHA-256) in the self-test page of
   a real node in Debian's headless Chromium, and by ``hashbank hash`` (one process for all the
   files, start-up included) on the same files. Target: page >= 0.5x the CLI.
2. MB/s: MD5 + SHA-256 of a ``--big-mb`` file (default 1024 MB, 10^6 bytes each) in the
   page, beside hashlib's raw MD5 + SHA-256 rate on the same file (one pass, 8 MiB chunks, as
   the CLI reads). Target: page >= 100 MB/s. Meanwhile the resident memory of the browser's
   processes is sampled: the file is read in 8 MiB chunks (Blob.slice), so it grows by some
   tens of MB (chunks not yet collected), not by the file's size (reading the file whole in
   one chunk, it grows by the file's size).

Page times are measured in the page (performance.now around hashFiles), so Playwright's own
overhead is not counted. The machine is shared: run twice before believing a number.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.web.conftest import (  # noqa: E402
    PAGE_TIMEOUT_MS,
    REFERENCE,
    NodeThread,
    launch_chromium,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CHUNK = 8 << 20
MB = 1e6


def image_files(folder: Path, rounds: int) -> list[Path]:
    """``rounds`` copies of every reference image (distinct names, same bytes)."""
    originals = sorted(p for p in REFERENCE.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    files = []
    for r in range(rounds):
        for n, path in enumerate(originals):
            copy = folder / f"r{r}-{n:02d}{path.suffix}"
            shutil.copyfile(path, copy)
            files.append(copy)
    return files


def big_file(folder: Path, megabytes: int) -> Path:
    """A file of ``megabytes`` MB of pseudo-random bytes (a 16 MiB random block repeated)."""
    block = hashlib.shake_256(b"hashbank bench").digest(16 << 20)
    path = folder / "video.bin"
    with path.open("wb") as out:
        remaining = megabytes * 10**6
        while remaining > 0:
            out.write(block[:remaining])
            remaining -= len(block)
    return path


def page_seconds(page: Page, files: list[Path]) -> tuple[float, list[dict[str, Any]]]:
    page.set_input_files("#files", [str(f) for f in files])
    results: list[dict[str, Any]] = page.evaluate("() => window.selftest.hash()")
    return float(page.evaluate("() => window.selftest.lastMs")) / 1000, results


def cli_seconds(files: list[Path]) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "hash", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return seconds, [json.loads(line) for line in done.stdout.splitlines()]


def tree_rss_bytes(root: int) -> int:
    """Resident memory of process ``root`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    total = 0
    for pid in family:
        try:
            statm = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        total += int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
    return total


class MemoryWatch:
    """The peak resident memory of this process's descendants (the browser), sampled."""

    def __init__(self) -> None:
        self.baseline = tree_rss_bytes(os.getpid())
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hashlib_seconds(path: Path) -> tuple[float, str]:
    """Seconds for MD5 + SHA-256 of ``path`` in one pass, and the SHA-256."""
    started = time.perf_counter()
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
    return time.perf_counter() - started, sha256.hexdigest()


def run(rounds: int, big_mb: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        folder = Path(tmp)
        files = image_files(folder, rounds)
        big = big_file(folder, big_mb)
        node = NodeThread.start(folder / "node")
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_context().new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS * 10)
                page.goto(node.static_url("selftest.html") + "?driven")
                page.wait_for_function(
                    "() => document.getElementById('status').textContent === 'ready'"
                )
                page_seconds(page, files[:3])  # warm-up: JIT and WebAssembly compiled
                page_s, page_results = page_seconds(page, files)
                cli_s, cli_results = cli_seconds(files)
                with MemoryWatch() as memory:
                    page_big_s, (big_result,) = page_seconds(page, [big])
                browser.close()
        finally:
            node.stop()
        raw_s, expected = hashlib_seconds(big)
    same = sum(p["pdq"] == c["pdq"] for p, c in zip(page_results, cli_results, strict=True))
    assert big_result["sha256"] == expected, "the page's SHA-256 of the big file is wrong"
    return {
        "images": len(files),
        "same_pdq": same,
        "page_images_per_s": len(files) / page_s,
        "cli_images_per_s": len(files) / cli_s,
        "ratio": cli_s / page_s,
        "big_mb": big_mb,
        "page_digest_mb_per_s": big_mb * 10**6 / MB / page_big_s,
        "hashlib_mb_per_s": big_mb * 10**6 / MB / raw_s,
        "memory_growth_mb": (memory.peak - memory.baseline) / MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="copies of the reference set")
    parser.add_argument("--big-mb", type=int, default=1024, help="size of the digest file, MB")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    row = run(args.rounds, args.big_mb)
    if args.json:
        print(json.dumps(row))
        return
    print(f"images: {row['images']} (reference set x{args.rounds}), same PDQ: {row['same_pdq']}")
    print(f"  page (Chromium, one worker)  {row['page_images_per_s']:8.1f} images/s")
    print(f"  hashbank hash (Python CLI)   {row['cli_images_per_s']:8.1f} images/s")
    print(f"  ratio page/CLI               {row['ratio']:8.2f}x   (target >= 0.5x)")
    print(f"MD5 + SHA-256 of {row['big_mb']} MB:")
    print(
        f"  page (hash-wasm)             {row['page_digest_mb_per_s']:8.1f} MB/s   (target >= 100)"
    )
    print(f"  hashlib, raw                 {row['hashlib_mb_per_s']:8.1f} MB/s")
    print(f"  browser memory growth, peak  {row['memory_growth_mb']:8.1f} MB   (streamed)")


if __name__ == "__main__":
    main()
