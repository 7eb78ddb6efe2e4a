"""Browser tests: a real node on 127.0.0.1 (port 0) and Debian's Chromium driven by Playwright.

The node runs on its own event loop in a thread, so the tests can use Playwright's sync API.
Chromium is /usr/bin/chromium (``make test`` installs Debian's package when it is missing);
without it these tests fail, never skip. One browser per test module (see ``browser``),
launched on a fresh temporary profile; each test gets a fresh browser context.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from node.web.assets import ASSETS_KEY
from tests.nodes import RunningNode, make_data

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "pdq-reference"
PAGE_TIMEOUT_MS = 120_000  # generous: the suite must pass on a loaded 2-core machine


@dataclass
class NodeThread:
    """A RunningNode served from an event loop in a background thread."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    node: RunningNode

    @classmethod
    def start(cls, root: Path) -> NodeThread:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="web-test-node", daemon=True)
        thread.start()
        data = make_data(root, name="Web test helpline")
        node = asyncio.run_coroutine_threadsafe(RunningNode.start(data), loop).result(120)
        return cls(loop, thread, node)

    def static_url(self, path: str) -> str:
        """The absolute, versioned URL of a static file."""
        return self.node.url + self.node.app[ASSETS_KEY].url(path)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(120)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(120)
        self.loop.close()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; a clear failure when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
            "(`make test` installs it as root; or run `apt-get install -y chromium`)",
            pytrace=False,
        )
    # launch() gives every browser a new temporary profile, removed when it closes.
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


@pytest.fixture(scope="session")
def web_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    running = NodeThread.start(tmp_path_factory.mktemp("web-node"))
    try:
        yield running
    finally:
        running.stop()


# Module scope, not session: while Playwright's sync API is running it holds an event loop on
# this thread, and every async test after it would fail ("cannot be called from a running
# event loop"). So a module that uses the browser has sync tests only, and the browser (with
# its fresh temporary profile) lives for that module.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def selftest(browser: Browser, web_node: NodeThread) -> Iterator[Page]:
    """The hasher's self-test page, loaded in a fresh context, its worker ready."""
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A Content-Security-Policy violation is only a console message: it must fail the test.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(web_node.static_url("selftest.html") + "?driven")
    page.wait_for_function("() => document.getElementById('status').textContent !== 'loading'")
    status = page.text_content("#status")
    assert status == "ready", f"self-test page did not start: {status}; errors: {errors}"
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"errors in the page: {errors}"


def hash_in_page(
    page: Page, files: Sequence[Path], options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Hash local files in the page, as a person picking them would; the results as JSON."""
    page.set_input_files("#files", [str(f) for f in files])
    results: list[dict[str, Any]] = page.evaluate(
        "options => window.selftest.hash(options)", options or {}
    )
    assert len(results) == len(files)
    return results


def decoded_pixels(page: Page, index: int) -> tuple[int, int, bytes]:
    """(width, height, RGBA bytes) that the browser decodes for file ``index`` of the input."""
    found = page.evaluate("i => window.selftest.pixels(i)", index)
    return found["width"], found["height"], base64.b64decode(found["rgba"])
