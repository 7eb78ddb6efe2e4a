"""The caseworkers' console through real HTTP: a real node, real SQLite, real signatures.

Creating a case on a victim's behalf (the JSON the new-case page posts), the case list and
its search by number, date and state, a case's page, withdrawing some files and then all of
them (a confirmation first, signed revokes, the audit log), the printable report with the
signed evidence of another organisation's feedback, and what is refused: posts without the
CSRF token or from another origin, bad input, other roles, a subscriber's missing cases.
The browser drives the same pages in test_console_browser.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.body import Verdict
from tests.builders import Author
from tests.nodes import RunningNode, make_data
from tests.web.console_client import ConsoleBrowser, audit, ready_user

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
FILE = {"md5": "ab" * 16, "sha256": "cd" * 32, "pdq": [PDQ]}
VIDEO = {"md5": "ef" * 16, "sha256": "01" * 32}
ITEM_IDS = re.compile(r'name="file" value="([0-9a-f:,]+)"')


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "hl", name="Harbour Helpline"))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def carol(node: RunningNode) -> AsyncIterator[ConsoleBrowser]:
    browser = await ready_user(node, "carol")
    try:
        yield browser
    finally:
        await browser.close()


async def create(browser: ConsoleBrowser, **doc: Any) -> dict[str, Any]:
    answer = await browser.post_json("/console/api/cases", {"files": [FILE, VIDEO], **doc})
    assert answer.status == 201, answer.text
    return dict(answer.json())


async def matches(node: RunningNode, md5: str) -> int:
    query = {"queries": [{"signal_type": "md5", "value": md5}]}
    answer = await node.post("/v1/match", query)
    return len(answer.body["results"][0]["matches"])


async def test_create_search_open_withdraw_and_report(
    node: RunningNode, carol: ConsoleBrowser
) -> None:
    made = await create(carol, reference="HL-2026-0117")
    assert (made["case"], made["pin"], made["files"], made["items"]) == ("HL-2026-0117", None, 2, 5)
    with_pin = await create(carol, pin=True)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", with_pin["case"])
    assert re.fullmatch(r"\d{8}", with_pin["pin"])
    assert await matches(node, FILE["md5"]) == 2  # published, signed, matchable at once

    listed = await carol.get("/console/cases")
    assert listed.status == 200
    assert "HL-2026-0117" in listed.text
    assert with_pin["case"] in listed.text
    found = await carol.get("/console/cases?q=hl-2026")
    assert "HL-2026-0117" in found.text
    assert with_pin["case"] not in found.text
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert "HL-2026-0117" in (await carol.get(f"/console/cases?from={today}&tz=0")).text
    assert "HL-2026-0117" not in (await carol.get(f"/console/cases?from={tomorrow}&tz=0")).text
    assert "HL-2026-0117" in (await carol.get(f"/console/cases?until={today}&tz=0")).text
    for odd in ("--5", "99999", "x", "-840"):  # a time zone the script would not send
        assert (await carol.get(f"/console/cases?tz={odd}&from={today}")).status == 200
    bad = await carol.get("/console/cases?from=last-tuesday")
    assert bad.status == 400
    assert "YYYY-MM-DD" in bad.text

    case = await carol.get(f"/console/cases/{made['case_id']}")
    assert case.status == 200
    assert PDQ in case.text
    assert FILE["sha256"] in case.text
    assert "Her self-service receipt" not in case.text  # no PIN: no receipt
    pinned = await carol.get(f"/console/cases/{with_pin['case_id']}")
    assert "Her self-service receipt" in pinned.text
    assert with_pin["pin"] not in pinned.text

    # Withdraw the first file: a confirmation page first, then signed revokes.
    first, second = ITEM_IDS.findall(case.text)
    form = [("csrf_token", await carol.csrf()), ("scope", "selected"), ("file", first)]
    confirm = await carol.post(f"/console/cases/{made['case_id']}/withdraw", form)
    assert confirm.status == 200
    assert "Withdraw these files?" in confirm.text
    assert await matches(node, FILE["md5"]) == 2  # nothing withdrawn before the yes
    done = await carol.post(
        f"/console/cases/{made['case_id']}/withdraw", [*form, ("confirm", "yes")]
    )
    assert done.status == 303, done.text
    assert done.location == f"/console/cases/{made['case_id']}?done=withdrawn"
    assert await matches(node, FILE["md5"]) == 1  # the other case's copy still matches
    assert await matches(node, VIDEO["md5"]) == 2
    partly = await carol.get("/console/cases?state=partly_withdrawn")
    assert "HL-2026-0117" in partly.text
    assert with_pin["case"] not in partly.text

    # Then all that is left.
    form = [("csrf_token", await carol.csrf()), ("scope", "all"), ("confirm", "yes")]
    assert (await carol.post(f"/console/cases/{made['case_id']}/withdraw", form)).status == 303
    assert await matches(node, VIDEO["md5"]) == 1
    withdrawn = await carol.get("/console/cases?state=withdrawn")
    assert "HL-2026-0117" in withdrawn.text
    assert with_pin["case"] not in withdrawn.text
    again = await carol.post(f"/console/cases/{made['case_id']}/withdraw", form)
    assert again.status == 409
    assert "already withdrawn" in again.text
    assert second  # (the second file went with "all")

    report = await carol.get(f"/console/cases/{made['case_id']}/report")
    assert report.status == 200
    assert "revocation" in report.text
    assert PDQ in report.text
    actions = [(e["action"], e["subject"]) for e in await audit(node, actor="carol")]
    assert actions[:5] == [
        ("report_exported", "HL-2026-0117"),
        ("items_withdrawn", "HL-2026-0117"),  # all: the rest of the one add entry
        ("items_withdrawn", "HL-2026-0117"),  # selected: the first file's items
        ("case_created", with_pin["case"]),
        ("case_created", "HL-2026-0117"),
    ]


async def test_the_report_carries_another_organisations_signed_feedback(
    node: RunningNode, carol: ConsoleBrowser
) -> None:
    made = await create(carol, reference="HL-7")
    case = await carol.get(f"/console/cases/{made['case_id']}")
    entry_id = ITEM_IDS.findall(case.text)[0].split(":")[0]
    platform = Author(41)
    fb = platform.feedback(bytes.fromhex(PDQ), Verdict.TRUE_POSITIVE, bytes.fromhex(entry_id))
    stored = await node.post("/v1/entries", {"entries": [base64.b64encode(fb.raw).decode()]})
    assert stored.body["stored"] == 1, stored.body
    listed = await carol.get("/console/cases?q=HL-7")
    assert re.search(r"<td>1</td>\s*</tr>", listed.text), listed.text  # one reporter
    shown = await carol.get(f"/console/cases/{made['case_id']}")
    assert "found it and acted on it" in shown.text
    assert fb.id.hex()[:16] in shown.text
    report = await carol.get(f"/console/cases/{made['case_id']}/report")
    assert fb.id.hex() in report.text
    assert fb.signature.hex() in report.text
    assert fb.header.key.hex() in report.text
    assert base64.b64encode(fb.raw).decode() in report.text


async def test_what_is_refused(node: RunningNode, carol: ConsoleBrowser) -> None:
    no_token = await carol.post_json("/console/api/cases", {"files": [FILE]}, token="")
    assert no_token.status == 403
    assert no_token.json()["error"]["code"] == "csrf_failed"
    wrong = await carol.post_json("/console/api/cases", {"files": [FILE]}, token="x" * 43)
    assert wrong.status == 403
    carol.origin = "http://evil.example"
    foreign = await carol.post_json("/console/api/cases", {"files": [FILE]})
    assert foreign.status == 403
    assert "another site" in foreign.json()["error"]["message"]
    carol.origin = node.url
    for doc, words in (
        ({"files": []}, "files must be a non-empty array"),
        ({"files": [{"md5": "zz"}]}, "md5"),
        ({"files": [FILE], "pin": "yes"}, "pin must be true or false"),
        ({"files": [FILE], "reference": "x" * 201}, "1 to 200"),
        ([1, 2], "JSON object"),
    ):
        answer = await carol.post_json("/console/api/cases", doc)
        assert answer.status == 400, (doc, answer.text)
        assert words in answer.json()["error"]["message"], answer.text
    await create(carol, reference="SAME")
    taken = await carol.post_json("/console/api/cases", {"files": [FILE], "reference": "SAME"})
    assert taken.status == 409, taken.text
    assert await matches(node, FILE["md5"]) == 1  # nothing of the refused ones published
    made = await create(carol, reference="HL-9")
    path = f"/console/cases/{made['case_id']}/withdraw"
    forged = await carol.post(path, [("scope", "all"), ("confirm", "yes")])
    assert forged.status == 403
    assert "<!doctype html>" in forged.text
    bad_item = [("csrf_token", await carol.csrf()), ("scope", "selected"), ("file", "00:1")]
    assert (await carol.post(path, bad_item)).status == 400
    unknown = [("csrf_token", await carol.csrf()), ("file", "ab" * 32 + ":0"), ("confirm", "yes")]
    assert (await carol.post(path, unknown)).status == 404
    for missing in ("/console/cases/999", "/console/cases/x", "/console/cases/999/report"):
        answer = await carol.get(missing)
        assert answer.status == 404, missing
        assert "no such" in answer.text
    # Caseworkers do not see the operator's pages.
    for page in ("/console/node", "/console/charter", "/console/audit"):
        assert (await carol.get(page)).status == 403, page


async def test_a_subscriber_has_an_operators_console_without_cases(tmp_path: Path) -> None:
    node = await RunningNode.start(make_data(tmp_path / "p", name="Platform", role="subscriber"))
    browser = await ready_user(node, "olga", role="operator")
    try:
        assert (await browser.get("/console/")).location == "/console/node"
        for page in ("/console/node", "/console/charter", "/console/audit"):
            answer = await browser.get(page)
            assert answer.status == 200, (page, answer.text)
            assert "/console/cases" not in answer.text  # no cases in the navigation
        assert (await browser.get("/console/cases")).status == 404
        refused = await browser.post_json("/console/api/cases", {"files": [FILE]})
        assert refused.status == 404
    finally:
        await browser.close()
        await node.stop()
