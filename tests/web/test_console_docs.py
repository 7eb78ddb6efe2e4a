"""The operator guide walks through the console with screenshots that exist."""

from __future__ import annotations

import re

from tests.nodes import ROOT

GUIDE = ROOT / "docs" / "operator-guide.md"
IMAGES = ROOT / "docs" / "images"


def test_every_screenshot_the_guide_shows_exists_and_every_console_one_is_shown() -> None:
    text = GUIDE.read_text()
    shown = set(re.findall(r"!\[[^\]]+\]\((images/[\w.-]+\.png)\)", text))
    assert {f"images/{p.name}" for p in IMAGES.glob("console-*.png")} <= shown
    for path in shown:
        image = ROOT / "docs" / path
        assert image.is_file(), path
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    # The console's section has a screenshot for each of its pages.
    console = text[text.index("## 8. The console") : text.index("## 9. Monitoring")]
    for page in ("cases", "new-case", "case", "report", "node", "charter", "audit"):
        assert f"images/console-{page}.png" in console, page
