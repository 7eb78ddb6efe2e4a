"""The message catalogues (node/web/i18n): complete, no strays, same placeholders, all used.

Every language has every message of the English source, no other keys, and each message the
same ``{placeholders}``; every key the templates and scripts use exists, and every message
is used somewhere. Choosing a language follows ``?lang=`` and then ``Accept-Language``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.web.errors import CatalogueError
from node.web.language import (
    CATALOGUE_DIR,
    SOURCE,
    load_catalogue,
    load_catalogues,
    placeholders,
    preferred,
    problems,
)

WEB = CATALOGUE_DIR.parent
CATALOGUES = sorted(CATALOGUE_DIR.glob("*.json"))
# Keys the scripts build at run time from what the node answers.
DYNAMIC = re.compile(r"^(error|file|report)\.|^case\.(state|kind)_")


def test_there_are_english_and_at_least_five_more_with_one_right_to_left() -> None:
    codes = {path.stem for path in CATALOGUES}
    assert SOURCE in codes
    assert len(codes) >= 6
    assert load_catalogue(CATALOGUE_DIR / "ar.json").direction == "rtl"


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.stem)
def test_every_catalogue_is_complete(path: Path) -> None:
    source = load_catalogue(CATALOGUE_DIR / f"{SOURCE}.json")
    catalogue = load_catalogue(path)
    assert problems(source, catalogue) == []
    assert (catalogue.name and catalogue.name != "English") or path.stem == SOURCE
    # Valid JSON with unique keys (a duplicate would silently hide a message).
    pairs = json.loads(path.read_text(), object_pairs_hook=lambda kv: [k for k, _ in kv])
    assert len(pairs) == len(set(pairs))


def test_problems_are_found() -> None:
    source = load_catalogue(CATALOGUE_DIR / "en.json")
    broken = dict(load_catalogue(CATALOGUE_DIR / "de.json").messages)
    del broken["start.title"]
    broken["stray.key"] = "x"
    broken["common.run_by"] = "Betrieben von {name}."
    broken["start.lead"] = " "
    from dataclasses import replace

    found = problems(source, replace(load_catalogue(CATALOGUE_DIR / "de.json"), messages=broken))
    assert any("missing 'start.title'" in p for p in found)
    assert any("stray 'stray.key'" in p for p in found)
    assert any("'common.run_by' has ['name']" in p for p in found)
    assert any("'start.lead' is empty" in p for p in found)


def test_an_incomplete_catalogue_stops_the_node(tmp_path: Path) -> None:
    (tmp_path / "en.json").write_text(json.dumps({"@name": "E", "@dir": "ltr", "a": "A {x}"}))
    (tmp_path / "fr.json").write_text(json.dumps({"@name": "F", "@dir": "ltr", "a": "A"}))
    with pytest.raises(CatalogueError, match="fr: 'a' has"):
        load_catalogues("en", tmp_path)
    (tmp_path / "fr.json").write_text(json.dumps({"@name": "F", "@dir": "up", "a": "A {x}"}))
    with pytest.raises(CatalogueError, match="@dir"):
        load_catalogues("en", tmp_path)


def used_keys() -> set[str]:
    templates = "".join(p.read_text() for p in (WEB / "templates").glob("*.html"))
    scripts = "".join(p.read_text() for p in (WEB / "static" / "app").glob("*.js"))
    found = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", templates + scripts))
    found |= set(
        re.findall(r"""catalogue\.text\(\s*["']([\w.]+)["']""", (WEB / "pages.py").read_text())
    )
    return found


def test_every_key_used_exists_and_every_message_is_used() -> None:
    source = load_catalogue(CATALOGUE_DIR / "en.json")
    used = used_keys()
    assert used - set(source.messages) == set(), "used but not in en.json"
    unused = {k for k in set(source.messages) - used if not DYNAMIC.match(k)}
    assert unused == set(), "in en.json but never used"


def test_the_catalogue_cannot_end_its_data_block() -> None:
    catalogue = load_catalogue(CATALOGUE_DIR / "en.json")
    tricky = type(catalogue)("en", "E", "ltr", {"x": "</script><script>alert(1)</script>"})
    assert "</" not in tricky.as_json()
    assert json.loads(tricky.as_json())["x"] == "</script><script>alert(1)</script>"


def test_placeholders() -> None:
    assert placeholders("{a} and {b}, {a}") == {"a", "b"}
    assert placeholders("none") == frozenset()


@pytest.mark.parametrize(
    ("asked", "header", "chosen"),
    [
        (None, "", "en"),
        (None, "ar-EG,ar;q=0.9,en;q=0.5", "ar"),
        (None, "pt-BR,pt;q=0.9", "pt"),
        (None, "zh-CN,fr;q=0.4,de;q=0.8", "de"),
        (None, "fr;q=0, de;q=0.1", "de"),
        (None, "*", "en"),
        (None, "xx, es;q=garbage, es-MX;q=0.2", "es"),
        ("FR", "ar", "fr"),
        ("klingon", "ar", "ar"),
        ("../en", "", "en"),
    ],
)
def test_choosing_the_language(asked: str | None, header: str, chosen: str) -> None:
    assert load_catalogues().choose(asked, header).code == chosen


def test_preferred_is_ordered_by_weight_then_position() -> None:
    assert preferred("en;q=0.5, ar, de;q=0.5") == ["ar", "en", "de"]
