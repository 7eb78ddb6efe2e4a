"""The victim's whole flow in Debian's Chromium, on a desktop and on a 360×740 phone screen.

Start, confirm, choose the shared reference images (and a video and an empty file), hash in
the page, send, get a case number and PIN, open the case, withdraw some files — and the
revoke reaches the platform's node, where the withdrawn hashes stop matching and the others
still match. Every request the page makes is recorded: only JSON of hex hashes (and the case
number and PIN) leaves it, only to the node.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

from node.config import DEFAULT_QUICK_EXIT
from node.hashing.pdq import hash_file
from node.web.shapes import MAX_FILES
from tests.web.conftest import PAGE_TIMEOUT_MS, REFERENCE
from tests.web.network import EXIT_URL, PLATFORM, Network

# q0003 has little detail (PDQ quality 3): only its file digests are sent.
IMAGES = [REFERENCE / "labelme-subset" / name for name in ("q0003.jpg", "q0122.jpg", "q0291.jpg")]
IMAGES.append(REFERENCE / "dih" / "bridge-1-original.jpg")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
HEX = re.compile(r"[0-9a-f]+")
ITEM_ID = re.compile(r"[0-9a-f]{64}:[0-9]+")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = Network(tmp_path_factory.mktemp("flow"))
    try:
        yield network
    finally:
        network.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The reference images, a (fake) video and an empty file: what she might pick."""
    root = tmp_path_factory.mktemp("picked")
    video = root / "holiday clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + hashlib.sha256(b"video").digest() * 500)
    empty = root / "empty.jpg"
    empty.write_bytes(b"")
    return [*IMAGES, video, empty]


@dataclass
class Traffic:
    """Every request the page made, and what it sent."""

    origin: str
    requests: list[Request] = field(default_factory=list)

    def posts(self) -> list[tuple[str, Any]]:
        return [
            (r.url.removeprefix(self.origin), json.loads(r.post_data or "null"))
            for r in self.requests
            if r.method != "GET"
        ]


def open_page(browser: Browser, net: Network, viewport: dict[str, int]) -> tuple[Page, Traffic]:
    phone = viewport == PHONE
    context = browser.new_context(
        viewport=viewport, is_mobile=phone, has_touch=phone, accept_downloads=True
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    traffic = Traffic(net.helpline.url)
    page.on("request", lambda request: traffic.requests.append(request))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        # ERR_FILE_NOT_FOUND is the revoked blob: URLs this test tries to load again.
        revoked = "net::ERR_FILE_NOT_FOUND" in message.text
        if (message.type == "error" and not revoked) or "Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", console)
    page.errors = errors  # type: ignore[attr-defined]

    def elsewhere(route: Route) -> None:  # nothing may leave for another origin
        traffic.requests.append(route.request)
        route.abort()

    context.route(re.compile(r"^(?!" + re.escape(net.helpline.url) + r"|blob:|data:).*"), elsewhere)
    return page, traffic


def hashes_of(path: Path) -> dict[str, Any]:
    """What the page must send for ``path``: its digests and its PDQ if reliable (≥ 50)."""
    found = hash_file(path)
    reliable = found.pdq is not None and (found.quality or 0) >= 50
    pdq = [found.pdq.hex()] if reliable and found.pdq is not None else []
    return {"md5": found.md5.hex(), "sha256": found.sha256.hex(), "pdq": pdq}


def queries(paths: list[Path]) -> list[dict[str, str]]:
    out = []
    for path in paths:
        h = hashes_of(path)
        out += [
            {"signal_type": "md5", "value": h["md5"]},
            {"signal_type": "sha256", "value": h["sha256"]},
        ]
        out += [{"signal_type": "pdq", "value": v} for v in h["pdq"]]
    return out


def fits(page: Page, viewport: dict[str, int]) -> None:
    """Nothing wider than the screen (no sideways scrolling on a phone)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the page is {width} px wide on a {viewport} screen"


def start_and_choose(page: Page, net: Network, files: list[Path]) -> None:
    page.goto(net.helpline.url + "/")
    assert page.get_attribute("html", "lang") == "en"
    page.click("#continue")  # nothing ticked: the browser's own check keeps her here
    assert "/submit" not in page.url
    page.check("#adult")
    page.check("#agree")
    page.click("#continue")
    page.wait_for_url(re.compile(r"/submit\?"))
    page.set_input_files("#new-files", [str(f) for f in files])
    page.wait_for_function("() => !document.getElementById('send').disabled")


def check_file_messages(page: Page) -> None:
    statuses = page.locator("#new-list .file-status").all_text_contents()
    assert len(statuses) == 6
    assert "little detail (quality 3 of 100)" in statuses[0], statuses
    assert all(s == "Ready: picture fingerprint and file fingerprints" for s in statuses[1:4])
    assert "Video: file fingerprints only" in statuses[4]
    assert statuses[5] == "This file is empty. It will not be sent."
    summary = page.text_content("#new-summary") or ""
    assert summary == "Files ready to send: 5. Files that cannot be sent: 1."
    # Previews come from local memory, blurred until she asks; no URL stays alive.
    assert page.locator("#new-list img").count() == 4
    assert "blurred" in (page.get_attribute("#new-list", "class") or "")
    page.wait_for_function("() => [...document.images].every(image => image.complete)")
    still_alive = page.evaluate(
        """() => Promise.all([...document.querySelectorAll("#new-list img")].map(shown =>
            new Promise(done => {
                const again = new Image();
                again.onload = () => done(shown.src);
                again.onerror = () => done(null);
                again.src = shown.src;
            })))"""
    )
    assert all(src is None for src in still_alive), f"blob: URLs not revoked: {still_alive}"
    assert all(
        src.startswith("blob:")
        for src in page.eval_on_selector_all("#new-list img", "images => images.map(i => i.src)")
    )


def send_and_read_receipt(page: Page) -> tuple[str, str]:
    page.click("#send")
    page.wait_for_selector("#receipt-step:not([hidden])")
    case = page.text_content("#receipt-case") or ""
    pin = page.text_content("#receipt-pin") or ""
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", case), case
    assert re.fullmatch(r"[0-9]{8}", pin), pin
    assert "cannot be recovered" in (page.text_content("#receipt-warning") or "")
    with page.expect_download() as info:
        page.click("#download")
    receipt = Path(info.value.path()).read_text()
    assert case in receipt
    assert pin in receipt
    assert "/case?lang=en" in receipt
    return case, pin


def open_case(page: Page, case: str, pin: str) -> None:
    page.click("#to-case")
    page.wait_for_url(re.compile(r"/case\?"))
    page.fill("#case-number", case.lower().replace("-", ""))  # as she might type it
    page.fill("#case-pin", pin)
    page.click("#open")
    page.wait_for_selector("#case-step:not([hidden])")
    assert page.locator("#case-files > li").count() == 5
    assert page.text_content("#case-counts") == "Files: 5. Active: 5. Withdrawn: 0."


def withdraw_first_two(page: Page) -> None:
    page.check("#select-1")
    page.check("#select-2")
    page.click("#withdraw-selected")
    page.wait_for_selector("#confirm:not([hidden])")
    assert "Files to withdraw: 2." in (page.text_content("#confirm-text") or "")
    page.click("#confirm-yes")
    page.wait_for_selector("#withdraw-done:not([hidden])")
    page.wait_for_function(
        "() => document.getElementById('case-counts').textContent.includes('Withdrawn: 2')"
    )


def check_traffic(traffic: Traffic, files: list[Path], case: str) -> None:
    """Only JSON of hex hashes (and the case number and PIN) left the page, only to the node."""
    for request in traffic.requests:
        assert request.url.startswith((traffic.origin + "/", "blob:", "data:")), request.url
        if not request.url.startswith(traffic.origin):
            assert request.method == "GET", request.url
    posts = traffic.posts()
    assert [path for path, _ in posts][:2] == ["/v1/self/cases", "/v1/self/status"]
    names = {f.name for f in files} | {f.stem for f in files}
    for path, body in posts:
        assert path.startswith("/v1/self/"), path
        text = json.dumps(body)
        assert not any(name in text for name in names), (path, text)
        assert set(body) <= {"files", "case", "pin", "items", "all"}, body
        for sent in body.get("files", []):
            assert set(sent) <= {"md5", "sha256", "pdq"}
            values = [sent["md5"], sent["sha256"], *sent.get("pdq", [])]
            assert all(HEX.fullmatch(v) for v in values), sent
        for item in body.get("items", []):
            assert ITEM_ID.fullmatch(item), item
        if "case" in body:
            assert body["case"].replace("-", "").upper() == case.replace("-", "")
    sent = posts[0][1]["files"]
    # Bit for bit what the Python hasher finds; the video and q0003 without PDQ.
    assert sent == [hashes_of(f) for f in files[:5]]
    assert sent[0]["pdq"] == []
    assert sent[4]["pdq"] == []


def withdrawn_stop_matching(net: Network, files: list[Path]) -> None:
    withdrawn, kept = queries(files[:2]), queries(files[2:5])
    net.wait(
        lambda: net.matches(net.platform, withdrawn) == [0] * len(withdrawn),
        "the withdrawn hashes to stop matching on the platform's node",
    )
    assert all(n >= 1 for n in net.matches(net.platform, kept)), "kept hashes must still match"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_whole_flow(
    browser: Browser, net: Network, files: list[Path], viewport: dict[str, int]
) -> None:
    page, traffic = open_page(browser, net, viewport)
    start_and_choose(page, net, files)
    check_file_messages(page)
    fits(page, viewport)
    case, pin = send_and_read_receipt(page)
    fits(page, viewport)
    kept = queries(files[2:5])
    net.wait(
        lambda: all(n >= 1 for n in net.matches(net.platform, kept)),
        "the platform's node to match the new hashes",
    )
    open_case(page, case, pin)
    fits(page, viewport)
    withdraw_first_two(page)
    withdrawn_stop_matching(net, files)
    check_traffic(traffic, files, case)
    # Nothing was kept in her browser: no cookie, nothing in web storage.
    assert page.context.cookies() == []
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.context.storage_state()["origins"] == []
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_platform_reports_show_by_name_and_more_images_can_be_added(
    browser: Browser, net: Network, files: list[Path]
) -> None:
    page, traffic = open_page(browser, net, DESKTOP)
    start_and_choose(page, net, files[:1])
    case, pin = send_and_read_receipt(page)
    md5 = hashes_of(files[0])["md5"]
    net.wait(
        lambda: net.matches(net.platform, [{"signal_type": "md5", "value": md5}]) == [1],
        "the platform to hold the hash",
    )
    found = net.call(
        net.platform, "POST", "/v1/match", {"queries": [{"signal_type": "md5", "value": md5}]}
    )
    entry = found.body["results"][0]["matches"][0]["entry_id"]
    feedback = {
        "signal_type": "md5",
        "value": md5,
        "verdict": "true_positive",
        "entry_id": entry,
        "note": "actioned",
    }
    assert net.call(net.platform, "POST", "/v1/feedback", feedback).status == 201
    open_case_page(page, net, case, pin)

    def reported() -> bool:
        page.click("#close-case")
        page.fill("#case-number", case)
        page.fill("#case-pin", pin)
        page.click("#open")
        page.wait_for_selector("#case-step:not([hidden])")
        return f"{PLATFORM} found it and acted on it" in (page.text_content("#case-files") or "")

    net.wait(reported, "the platform's feedback to reach the helpline's case page")
    page.set_input_files("#more-files", [str(files[1]), str(files[2])])
    page.wait_for_function("() => !document.getElementById('add-send').disabled")
    page.click("#add-send")
    page.wait_for_selector("#add-done:not([hidden])")
    page.wait_for_function(
        "() => document.getElementById('case-counts').textContent.startsWith('Files: 3.')"
    )
    check_traffic_added(traffic)
    page.context.close()


def open_case_page(page: Page, net: Network, case: str, pin: str) -> None:
    page.goto(net.helpline.url + "/case?lang=en")
    page.fill("#case-number", case)
    page.fill("#case-pin", pin)
    page.click("#open")
    page.wait_for_selector("#case-step:not([hidden])")


def check_traffic_added(traffic: Traffic) -> None:
    paths = [path for path, _ in traffic.posts()]
    assert "/v1/self/items" in paths
    for path, body in traffic.posts():
        if path == "/v1/self/items":
            assert set(body) == {"case", "pin", "files"}


def test_quick_exit_replaces_the_page_in_the_history(browser: Browser, net: Network) -> None:
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    for neutral in (EXIT_URL, DEFAULT_QUICK_EXIT):
        context.route(
            neutral,
            lambda route: route.fulfill(
                body="<title>Weather</title>sunny", content_type="text/html"
            ),
        )
    page = context.new_page()
    page.goto(net.helpline.url + "/?lang=en")
    page.click("text=Check your case")
    page.wait_for_url(re.compile(r"/case\?"))
    page.click("#quick-exit")
    page.wait_for_url(EXIT_URL)
    page.go_back()
    # The case page was replaced: back leads to the page before it, the start page.
    assert "/case" not in page.url
    page.goto(net.helpline.url + "/case?lang=ar")
    page.keyboard.press("Escape")
    page.wait_for_url(EXIT_URL)
    # Every page has it, and on every page it replaces the page (a subscriber's "not
    # offered" page too).
    pages = [
        (net.helpline.url, "/?lang=ar"),
        (net.helpline.url, "/under-18?lang=en"),
        (net.helpline.url, "/submit?adult=yes&consent=yes&lang=de"),
        (net.helpline.url, "/case?lang=fr"),
        (net.platform.url, "/?lang=en"),
    ]
    for base, path in pages:
        before = base + ("/case?lang=en" if path.startswith("/?") else "/?lang=en")
        page.goto(before)
        page.goto(base + path)
        page.click("#quick-exit")
        page.wait_for_url(EXIT_URL if base == net.helpline.url else DEFAULT_QUICK_EXIT)
        page.go_back()
        assert page.url == before, (path, page.url)
    context.close()


def test_files_can_be_dropped_on_the_page(browser: Browser, net: Network) -> None:
    """Drag and drop: a real drop event carrying File objects, hashed like picked ones."""
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto(net.helpline.url + "/submit?adult=yes&consent=yes&lang=en")
    image = IMAGES[1]
    page.evaluate(
        """async ([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
            const zone = document.getElementById("new-drop");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
        }""",
        [image.name, base64.b64encode(image.read_bytes()).decode()],
    )
    page.wait_for_function("() => !document.getElementById('send').disabled")
    sent = json.loads(page.text_content("#new-json") or "{}")
    assert sent == {"files": [hashes_of(image)]}
    context.close()


def test_files_that_cannot_be_hashed_are_explained_and_not_sent(
    browser: Browser, net: Network, tmp_path: Path
) -> None:
    """A damaged picture, a HEIC (Chromium has no decoder) and an empty file: a message each
    saying so and what to do, and none of them in what is sent."""
    from PIL import Image

    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(IMAGES[3].read_bytes()[:60_000])
    heic = tmp_path / "phone.heic"
    with Image.open(IMAGES[1]) as image:
        image.save(heic, format="HEIF")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = IMAGES[2]
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto(net.helpline.url + "/submit?adult=yes&consent=yes&lang=en")
    page.set_input_files("#new-files", [str(f) for f in (damaged, heic, empty, good)])
    page.wait_for_function("() => !document.getElementById('send').disabled")
    statuses = page.locator("#new-list .file-status").all_text_contents()
    for status in statuses[:2]:
        assert status.startswith("This browser cannot read this picture"), statuses
        assert "(such as HEIC). It will not be sent. Save it as JPEG" in status, statuses
    assert statuses[2] == "This file is empty. It will not be sent."
    assert statuses[3] == "Ready: picture fingerprint and file fingerprints"
    assert page.locator("#new-list .skipped").count() == 3
    summary = page.text_content("#new-summary")
    assert summary == "Files ready to send: 1. Files that cannot be sent: 3."
    assert json.loads(page.text_content("#new-json") or "{}") == {"files": [hashes_of(good)]}
    context.close()


def test_more_files_than_one_request_takes(browser: Browser, net: Network, tmp_path: Path) -> None:
    """The node takes 200 files a request: the page sends more in batches, into one case."""
    count = MAX_FILES + 5
    picked = []
    for n in range(2 * count):
        path = tmp_path / f"clip-{n:03d}.bin"
        path.write_bytes(f"clip {n}\n".encode())
        picked.append(path)
    page, traffic = open_page(browser, net, DESKTOP)
    page.goto(net.helpline.url + "/submit?adult=yes&consent=yes&lang=en")
    page.set_input_files("#new-files", [str(f) for f in picked[:count]])
    page.wait_for_function("() => !document.getElementById('send').disabled")
    case, pin = send_and_read_receipt(page)
    assert page.text_content("#receipt-sent") == f"Files sent: {count}. Hashes sent: {2 * count}."
    assert page.is_hidden("#receipt-unsent")
    open_case_page(page, net, case, pin)
    page.set_input_files("#more-files", [str(f) for f in picked[count:]])
    page.wait_for_function("() => !document.getElementById('add-send').disabled")
    page.click("#add-send")
    page.wait_for_selector("#add-done:not([hidden])")
    assert page.text_content("#add-done") == f"Added to your case: {count} files."
    counts = f"Files: {2 * count}."
    page.wait_for_function(
        f"() => document.getElementById('case-counts').textContent.startsWith('{counts}')"
    )
    sizes = [(path, len(body.get("files", []))) for path, body in traffic.posts()]
    assert [s for s in sizes if s[1]] == [
        ("/v1/self/cases", MAX_FILES),
        ("/v1/self/items", 5),
        ("/v1/self/items", MAX_FILES),
        ("/v1/self/items", 5),
    ]
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_a_batch_that_fails_is_named_on_the_receipt(
    browser: Browser, net: Network, tmp_path: Path
) -> None:
    """The case is open once the first batch is in: its receipt shows, saying what was not sent."""
    picked = []
    for n in range(MAX_FILES + 3):
        path = tmp_path / f"note-{n:03d}.bin"
        path.write_bytes(f"note {n}\n".encode())
        picked.append(path)
    page, _ = open_page(browser, net, PHONE)
    page.route("**/v1/self/items", lambda route: route.abort())  # the connection drops
    page.goto(net.helpline.url + "/submit?adult=yes&consent=yes&lang=en")
    page.set_input_files("#new-files", [str(f) for f in picked])
    page.wait_for_function("() => !document.getElementById('send').disabled")
    send_and_read_receipt(page)
    assert page.text_content("#receipt-sent") == f"Files sent: {MAX_FILES}. Hashes sent: 400."
    unsent = page.text_content("#receipt-unsent") or ""
    assert unsent.startswith("Files not sent: 3. Please add them to your case")
    page.context.close()
