"""The console in Debian's Chromium against real nodes: a helpline and a platform, peered.

- A caseworker logs in (the one-time password, then her own), creates a case on a victim's
  behalf from the shared reference images — hashed in this browser by the self-service
  hasher, only hex hashes posted — sees the platform's signed feedback arrive on the case
  page, withdraws a file (the revoke reaches the platform, where it stops matching), and
  opens the printable report with the signed evidence.
- Forged posts are refused: a form on another site posting to the console, and a script on
  the console's own origin posting without the CSRF token.
- Every console page in English and German passes axe-core (no serious or critical
  violation); times show as dates in the viewer's language and time zone. Screenshots go to
  build/screenshots/console-*.png (docs/images has a few of them for the operator guide).
- The operator's peers view shows the platform reachable, then, once it is stopped,
  unreachable with the error in our words (last: it stops the platform).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request

from protocol.charter import decode_charter, draft
from tests.web.conftest import PAGE_TIMEOUT_MS, REFERENCE
from tests.web.network import HELPLINE, PLATFORM, Network
from tests.web.test_selfservice_flow import hashes_of
from tests.web.test_selfservice_pages import AXE, SHOTS

IMAGES = [REFERENCE / "labelme-subset" / "q0122.jpg", REFERENCE / "dih" / "bridge-1-original.jpg"]
IMAGES.append(REFERENCE / "bridge-mods" / "shrink-a-lot.jpg")
PASSWORD = "a long enough passphrase"
ZONES = {"en": ("en-US", "America/New_York"), "de": ("de-DE", "Europe/Berlin")}


class Helpline:
    """The network, and whether the platform is still running (the last test stops it)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.platform_stopped = False

    def user(self, name: str, role: str) -> str:
        """A new account; its one-time password."""
        answer = self.net.call(self.net.helpline, "POST", "/v1/users", {"name": name, "role": role})
        assert answer.status == 201, answer.body
        return str(answer.body["password"])

    def close(self) -> None:
        if self.platform_stopped:
            self.net.loop.run(self.net.helpline.stop())
            self.net.loop.close()
        else:
            self.net.close()


@pytest.fixture(scope="module")
def hl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Helpline]:
    helpline = Helpline(Network(tmp_path_factory.mktemp("console")))
    try:
        yield helpline
    finally:
        helpline.close()


def new_context(browser: Browser, lang: str = "en", **kw: Any) -> BrowserContext:
    locale, zone = ZONES[lang]
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, locale=locale, timezone_id=zone, **kw
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return context


def watch(page: Page) -> list[str]:
    """Errors in the page (a CSP violation is only a console message: count it too)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", console)
    return errors


def first_login(page: Page, base: str, name: str, one_time: str, lang: str = "en") -> None:
    """The login form with the operator's one-time password, then her own password."""
    page.goto(f"{base}/console/?lang={lang}")
    page.wait_for_url(re.compile(r"/console/login\?"))
    page.fill("#name", name)
    page.fill("#password", one_time)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/password$"))
    page.fill("#current", one_time)
    page.fill("#new", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/console/(cases|node)$"))


def matches(net: Network, md5: str) -> int:
    return net.matches(net.platform, [{"signal_type": "md5", "value": md5}])[0]


def test_a_caseworker_creates_a_case_sees_feedback_withdraws_and_reports(
    browser: Browser, hl: Helpline
) -> None:
    net = hl.net
    base = net.helpline.url
    context = new_context(browser)
    page = context.new_page()
    errors = watch(page)
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    first_login(page, base, "carol", hl.user("carol", "caseworker"))
    cookie = next(c for c in context.cookies() if c["name"] == "hb_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)

    page.click("nav.console-nav >> text=New case")
    page.wait_for_url(re.compile(r"/console/cases/new$"))
    page.fill("#reference", "HL-2026-0042")
    page.check("#with-pin")
    page.set_input_files("#new-files", [str(f) for f in IMAGES])
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.click("#send")
    page.wait_for_selector("#done-step:not([hidden])")
    assert page.text_content("#receipt-case") == "HL-2026-0042"
    assert re.fullmatch(r"\d{8}", page.text_content("#receipt-pin") or "")
    sent = [r for r in posts if r.url.endswith("/console/api/cases")]
    assert len(sent) == 1
    doc = json.loads(sent[0].post_data or "{}")
    expected = [hashes_of(f) for f in IMAGES]
    assert doc == {"files": expected, "pin": True, "reference": "HL-2026-0042"}  # hashes only
    assert sent[0].headers["x-csrf-token"]

    # The hashes reach the platform, which reports acting on the first image.
    net.wait(lambda: matches(net, expected[0]["md5"]) == 1, "the platform to hold the hashes")
    feedback = {
        "signal_type": "md5",
        "value": expected[0]["md5"],
        "verdict": "true_positive",
        "note": "actioned",
    }
    assert net.call(net.platform, "POST", "/v1/feedback", feedback).status == 201
    page.click("#to-case")
    page.wait_for_url(re.compile(r"/console/cases/\d+"))

    def reported() -> bool:
        page.reload()
        return f"{PLATFORM} found it and acted on it" in (page.text_content("main") or "")

    net.wait(reported, "the platform's feedback to show on the case page")
    listed = page.context.new_page()
    listed.goto(f"{base}/console/cases?q=HL-2026-0042")
    assert listed.locator("tbody tr td").last.text_content() == "1"  # one organisation reported
    listed.close()
    assert "Her self-service receipt" in (page.text_content("main") or "")

    # Withdraw the second file: a confirmation, then the revoke reaches the platform.
    page.check("#select-2")
    page.click("text=Withdraw the selected files")
    page.wait_for_selector("text=Withdraw these files?")
    page.click("text=Yes, withdraw")
    page.wait_for_selector("text=Withdrawn. The signed revocation")
    net.wait(lambda: matches(net, expected[1]["md5"]) == 0, "the revoke to reach the platform")
    assert matches(net, expected[0]["md5"]) == 1
    page.click("text=Case report (printable)")
    page.wait_for_url(re.compile(r"/report$"))
    report = page.text_content("main") or ""
    assert "Signed evidence of action" in report
    assert PLATFORM in report
    assert expected[1]["md5"] in report
    assert "revocation" in report
    assert errors == [], errors
    context.close()


def test_forged_posts_are_refused(browser: Browser, hl: Helpline) -> None:
    net = hl.net
    base = net.helpline.url
    opened = net.call(
        net.helpline,
        "POST",
        "/v1/hashes",
        {"items": [{"signal_type": "md5", "value": "5a" * 16, "case": "HL-FORGE"}]},
    )
    assert opened.status == 201, opened.body
    context = new_context(browser)
    page = context.new_page()
    first_login(page, base, "fran", hl.user("fran", "caseworker"))
    page.goto(f"{base}/console/cases?q=HL-FORGE")
    page.click("text=HL-FORGE")
    case_path = page.url.removeprefix(base).split("?")[0]

    # Another site's page posts a form to the console: the browser sends no session cookie
    # (SameSite=Strict) and the form has no token; the console refuses with a page.
    evil = "http://evil.example/"
    form = (
        f'<form id="f" method="post" action="{base}{case_path}/withdraw">'
        '<input name="scope" value="all"><input name="confirm" value="yes"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    context.route(evil, lambda route: route.fulfill(body=form, content_type="text/html"))
    page.goto(evil)
    page.wait_for_url(re.compile(re.escape(base) + ".*/withdraw"))
    assert page.locator("h1").text_content() == "That did not work"
    # A script on the console's own origin, with the cookie but without the token.
    page.goto(f"{base}{case_path}")
    status = page.evaluate(
        """async path => (await fetch(path, {method: "POST",
            headers: {"Content-Type": "application/x-www-form-urlencoded"},
            body: "scope=all&confirm=yes"})).status""",
        f"{case_path}/withdraw",
    )
    assert status == 403
    page.reload()
    assert "Withdrawn" not in (page.text_content(".facts") or "")
    assert net.matches(net.helpline, [{"signal_type": "md5", "value": "5a" * 16}]) == [1]
    context.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_console_page_passes_axe(browser: Browser, hl: Helpline, lang: str) -> None:
    net = hl.net
    base = net.helpline.url
    _pending_draft(net)
    context = new_context(browser, lang, bypass_csp=True)  # axe is injected inline
    page = context.new_page()
    errors = watch(page)
    one_time = hl.user(f"olga-{lang}", "operator")
    page.goto(f"{base}/console/login?lang={lang}")
    audit(page, lang, "login")
    page.fill("#name", f"olga-{lang}")
    page.fill("#password", one_time)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/console/password$"))
    audit(page, lang, "password")
    page.fill("#current", one_time)
    page.fill("#new", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/console/node$"))
    audit(page, lang, "node")
    check_times(page, lang)
    pages = {"charter": "/charter", "audit": "/audit", "cases": "/cases", "missing": "/cases/99999"}
    for name, path in pages.items():
        page.goto(f"{base}/console{path}")
        audit(page, lang, name)
    page.goto(base + "/console/cases?q=HL-2026")
    page.click("text=HL-2026-0042")
    audit(page, lang, "case")
    page.click(".case-file input[type=checkbox] >> nth=0")
    page.click("form button[value=selected]")
    audit(page, lang, "withdraw")
    page.go_back()
    page.click("a[href$='/report']")
    audit(page, lang, "report")
    page.goto(base + "/console/cases/new")
    audit(page, lang, "new-case")
    page.set_input_files("#new-files", [str(IMAGES[0])])
    page.wait_for_function("() => !document.getElementById('send').disabled")
    audit(page, lang, "new-case-hashed")
    assert [e for e in errors if "status of 404" not in e] == [], errors  # "missing" is a 404
    context.close()


def _pending_draft(net: Network) -> None:
    """A version 2 draft (signed by nobody yet), so the charter page lists a draft."""
    current = net.call(net.helpline, "GET", "/v1/charter").body
    latest = decode_charter(base64.b64decode(current["raw"]))
    body = replace(latest.body, number=latest.number + 1, prev=latest.id, threshold=1)
    raw = base64.b64encode(draft(body).encode()).decode()
    answer = net.call(net.helpline, "POST", "/v1/charter/drafts", {"charter": raw})
    assert answer.status == 201, answer.body


def audit(page: Page, lang: str, name: str) -> None:
    """The page in ``lang``, no serious or critical axe violation; a screenshot kept."""
    assert page.get_attribute("html", "lang") == lang, name
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{lang}-{name}.png"), full_page=True)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))
            .slice(0, 5)}))"""
    )
    for violation in found:
        print(f"axe console-{lang}-{name}: {violation}")
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert serious == [], f"console-{lang}-{name}: {serious}"


def check_times(page: Page, lang: str) -> None:
    """Each time shows as the viewer's date in her language and zone, not as UTC or ms."""
    shown = page.eval_on_selector_all(
        "time[data-ms]",
        """(all, lang) => all.map(t => [t.textContent, new Intl.DateTimeFormat(lang,
            {dateStyle: "medium", timeStyle: "short"}).format(new Date(Number(t.dataset.ms))),
            Intl.DateTimeFormat().resolvedOptions().timeZone])""",
        lang,
    )
    assert shown, "no times on the page"
    for text, expected, zone in shown:
        assert text == expected, (text, expected)
        assert "UTC" not in text
        assert zone == ZONES[lang][1]


def test_the_peers_view_shows_a_stopped_peer_unreachable(browser: Browser, hl: Helpline) -> None:
    net = hl.net
    base = net.helpline.url
    context = new_context(browser, bypass_csp=True)  # for axe, at the end
    page = context.new_page()
    first_login(page, base, "otto", hl.user("otto", "operator"))
    row = page.locator("table.peers tbody tr").first
    assert PLATFORM in (row.text_content() or "")
    net.wait(lambda: "Reachable" in ((page.reload() and row.text_content()) or ""), "reachable")
    assert HELPLINE in (page.text_content("main") or "")
    net.loop.run(net.platform.stop())
    hl.platform_stopped = True

    def unreachable() -> bool:
        page.reload()
        return "Unreachable" in (row.text_content() or "")

    net.wait(unreachable, "the stopped platform to show as unreachable")
    text = row.text_content() or ""
    assert "cannot connect" in text
    assert "Check the peer's URL" in text
    audit(page, "en", "node-peer-down")
    context.close()
