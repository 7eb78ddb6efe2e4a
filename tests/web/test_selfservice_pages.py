"""Every self-service page in English and in Arabic (right to left, mirrored), checked by axe.

Each page — start, under 18, choosing and hashing, the receipt, the case sign-in, the case
with its files and a platform's report, and a subscriber node's "not offered" page — is
loaded in Debian's Chromium, checked with axe-core (vendored from npm under
tests/web/vendor/axe-core, injected by the test, never served by the node): no serious or
critical violation. A screenshot of each is kept under build/screenshots/ as an artifact.
Also here: the keyboard alone gets through the start page, and PIN guessing in the page
meets one answer for a wrong PIN and an unknown case, then a lockout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.nodes import ROOT
from tests.web.conftest import PAGE_TIMEOUT_MS, REFERENCE
from tests.web.network import HELPLINE, PLATFORM, WEB, Network

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "build" / "screenshots"
IMAGES = [REFERENCE / "labelme-subset" / "q0122.jpg", REFERENCE / "dih" / "bridge-1-original.jpg"]
LANGUAGES = ["en", "ar"]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = Network(tmp_path_factory.mktemp("pages"))
    try:
        yield network
    finally:
        network.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # axe is injected as an inline script, which the pages' CSP rightly refuses: these
    # contexts bypass CSP (the flow tests check it holds).
    made = browser.new_context(viewport={"width": 1024, "height": 800}, bypass_csp=True)
    made.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield made
    finally:
        made.close()


def audit(page: Page, name: str) -> None:
    """axe on the page as it is now: no serious or critical violation; keep a screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")  # the sticky quick-exit bar at its place
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5),
            }));
        }"""
    )
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    # Reported (not failed) so a moderate finding is seen in the test log.
    for violation in found:
        print(f"axe {name}: {violation['impact']} {violation['id']} {violation['nodes']}")
    assert serious == [], f"{name}: {serious}"


def check_helpline(page: Page) -> None:
    """Who runs the service, from the node's [web] settings: name, contact, website."""
    assert page.text_content(".helpline-name") == HELPLINE
    who = page.locator("section[aria-labelledby=who]")
    assert HELPLINE in (who.text_content() or "")
    assert WEB.contact in (who.text_content() or "")
    assert who.locator(f'a[href="{WEB.website}"]').count() == 1


def check_direction(page: Page, lang: str) -> None:
    """<html lang dir>, and the layout mirrored: the quick exit at the inline end."""
    assert page.get_attribute("html", "lang") == lang
    direction = "rtl" if lang == "ar" else "ltr"
    assert page.get_attribute("html", "dir") == direction
    width = page.viewport_size["width"] if page.viewport_size else 1024
    exit_box = page.locator("#quick-exit").bounding_box()
    name_box = page.locator(".helpline-name").bounding_box()
    assert exit_box is not None
    assert name_box is not None
    if direction == "ltr":
        assert exit_box["x"] > width / 2
        assert name_box["x"] < width / 2
    else:
        assert exit_box["x"] + exit_box["width"] < width / 2
        assert name_box["x"] > width / 2


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_passes_axe(context: BrowserContext, net: Network, lang: str) -> None:
    page = context.new_page()
    base = net.helpline.url
    page.goto(f"{base}/?lang={lang}")
    check_direction(page, lang)
    check_helpline(page)
    audit(page, f"{lang}-start")
    page.goto(f"{base}/?lang={lang}&confirm=missing")
    audit(page, f"{lang}-start-missing")
    page.goto(f"{base}/under-18?lang={lang}")
    expected = "اتصل بخط نجدة الطفل" if lang == "ar" else "Call Childline"
    assert expected in (page.text_content("#referral") or "")
    audit(page, f"{lang}-under-18")
    page.goto(f"{base}/submit?lang={lang}&adult=yes&consent=yes")
    check_direction(page, lang)
    audit(page, f"{lang}-choose")
    page.set_input_files("#new-files", [str(f) for f in IMAGES])
    page.wait_for_function("() => !document.getElementById('send').disabled")
    audit(page, f"{lang}-hashed")
    page.check("#new-previews")
    page.click("#new-details summary")
    audit(page, f"{lang}-hashed-previews")
    page.click("#send")
    page.wait_for_selector("#receipt-step:not([hidden])")
    case, pin = page.text_content("#receipt-case") or "", page.text_content("#receipt-pin") or ""
    audit(page, f"{lang}-receipt")
    report_on_first_file(net, IMAGES[0])
    page.click("#to-case")
    page.wait_for_url(re.compile(r"/case\?lang=" + lang))
    audit(page, f"{lang}-case-sign-in")
    show_case_until_reported(net, page, case, pin)
    check_direction(page, lang)
    audit(page, f"{lang}-case")
    page.check("#select-2")
    page.click("#withdraw-selected")
    page.wait_for_selector("#confirm:not([hidden])")
    audit(page, f"{lang}-case-confirm")
    page.click("#confirm-yes")
    page.wait_for_selector("#withdraw-done:not([hidden])")
    audit(page, f"{lang}-case-withdrawn")


def report_on_first_file(net: Network, image: Path) -> None:
    """The platform finds the image and says it acted: signed feedback, gossiped back."""
    from tests.web.test_selfservice_flow import hashes_of

    md5 = hashes_of(image)["md5"]
    query = {"queries": [{"signal_type": "md5", "value": md5}]}

    def held() -> bool:
        return (
            net.call(net.platform, "POST", "/v1/match", query).body["results"][0]["matches"] != []
        )

    net.wait(held, "the platform to hold the new hashes")
    # The same image may be in an earlier test's case too: report on every entry holding it.
    for match in net.call(net.platform, "POST", "/v1/match", query).body["results"][0]["matches"]:
        feedback = {
            "signal_type": "md5",
            "value": md5,
            "verdict": "true_positive",
            "entry_id": match["entry_id"],
            "note": "actioned",
        }
        assert net.call(net.platform, "POST", "/v1/feedback", feedback).status == 201


def show_case_until_reported(net: Network, page: Page, case: str, pin: str) -> None:
    def reported() -> bool:
        if page.is_visible("#case-step"):
            page.click("#close-case")
        page.fill("#case-number", case)
        page.fill("#case-pin", pin)
        page.click("#open")
        page.wait_for_selector("#case-step:not([hidden])")
        return PLATFORM in (page.text_content("#case-files") or "")

    net.wait(reported, "the platform's report to show on the case page")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_subscriber_node_says_it_does_not_offer_self_service(
    context: BrowserContext, net: Network, lang: str
) -> None:
    page = context.new_page()
    for path in ("/", "/submit", "/case"):
        response = page.goto(f"{net.platform.url}{path}?lang={lang}")
        assert response is not None
        assert response.status == (200 if path == "/" else 404)
        assert page.locator("#off").count() == 1
        assert page.locator("#new-files, #login").count() == 0
    english = "This node of the network does not offer self-service"
    assert (english in (page.text_content("#off") or "")) == (lang == "en")
    check_direction(page, lang)
    audit(page, f"{lang}-not-offered")


def test_the_start_page_by_keyboard_alone(context: BrowserContext, net: Network) -> None:
    page = context.new_page()
    page.goto(f"{net.helpline.url}/?lang=en")

    def tab_to(element_id: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("quick-exit")  # the quick exit comes first (after the skip link)
    tab_to("adult")
    page.keyboard.press("Space")
    tab_to("agree")
    page.keyboard.press("Space")
    tab_to("continue")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/submit\?"))
    tab_to("new-files")  # the hidden file input still takes focus (its label is the button)
    outline = page.evaluate(
        "() => getComputedStyle(document.querySelector('.drop .button')).outlineStyle"
    )
    assert outline == "solid"  # and its label shows it


def test_pin_guessing_in_the_page_meets_one_answer_then_a_lockout(
    context: BrowserContext, net: Network
) -> None:
    opened = net.call(
        net.helpline,
        "POST",
        "/v1/self/cases",
        {"files": [{"md5": "12" * 16, "sha256": "34" * 32}]},
    )
    assert opened.status == 201, opened.body
    real = opened.body["case"]
    page = context.new_page()
    page.goto(f"{net.helpline.url}/case?lang=en")

    def attempt(case: str, pin: str) -> str:
        page.fill("#case-number", case)
        page.fill("#case-pin", pin)
        page.evaluate("() => { document.getElementById('login-error').textContent = ''; }")
        page.click("#open")
        page.wait_for_function("() => document.getElementById('login-error').textContent !== ''")
        return page.text_content("#login-error") or ""

    wrong_pin = attempt(real, "00000000")
    unknown = attempt("ZZZZ-ZZZZ", "00000000")
    assert (
        wrong_pin
        == unknown
        == ("That case number and PIN do not match. Please check both and try again.")
    )
    for _ in range(4):  # five failures in all: the case number locks
        attempt(real, "00000001")
    locked = attempt(real, opened.body["pin"])  # even the right PIN waits out the lockout
    assert locked.startswith("Too many attempts for this case number")
    audit(page, "en-case-locked")
