"""The message catalogues (``node/web/i18n/<code>.json``) and choosing a language.

One JSON file per language holds every user-facing text of the self-service pages: the server
renders its pages with it and the page's scripts get the same catalogue (embedded in the page
as a JSON data block), so the two never disagree. A catalogue is a flat object; keys starting
with ``@`` describe the language itself (``@name`` as written in that language, ``@dir`` ltr
or rtl), every other key is a message with ``{placeholder}`` fields.

The language is the ``lang`` query parameter when it names a catalogue (the switcher's links
carry it from page to page), else the best match of the browser's ``Accept-Language``, else
the configured default. Nothing is stored in the browser.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from node.web.errors import CatalogueError

CATALOGUE_DIR: Final = Path(__file__).resolve().parent / "i18n"
SOURCE: Final = "en"  # the catalogue every other one is checked against
_CODE: Final = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})?")
META_KEYS: Final = ("@name", "@dir")


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One language's messages."""

    code: str
    name: str  # the language's own name for itself, for the switcher
    direction: str  # "ltr" or "rtl"
    messages: Mapping[str, str]

    def text(self, key: str, **params: object) -> str:
        """Message ``key`` with its placeholders filled (a missing key is a bug: KeyError)."""
        message = self.messages[key]
        return message.format(**params) if params else message

    def as_json(self) -> str:
        """The catalogue for a page's JSON data block (``<`` escaped so it cannot end it)."""
        doc = {"@code": self.code, "@name": self.name, "@dir": self.direction, **self.messages}
        return json.dumps(doc, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")


@dataclass(frozen=True, slots=True)
class Catalogues:
    """Every catalogue, by language code, and the default."""

    by_code: Mapping[str, Catalogue]
    default: str

    def choose(self, asked: str | None, accept_language: str) -> Catalogue:
        """The catalogue for ``?lang=asked``, else for ``Accept-Language``, else the default."""
        if asked and asked.lower() in self.by_code:
            return self.by_code[asked.lower()]
        for code in preferred(accept_language):
            for candidate in (code, code.split("-")[0]):
                if candidate in self.by_code:
                    return self.by_code[candidate]
        return self.by_code[self.default]


def placeholders(message: str) -> frozenset[str]:
    """The ``{name}`` fields of a message."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(message) if name)


def preferred(header: str) -> list[str]:
    """Language codes of an ``Accept-Language`` header, most wanted first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        code, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        code = code.strip().lower()
        if weight > 0 and _CODE.fullmatch(code):
            ranked.append((-weight, position, code))
    return [code for _, _, code in sorted(ranked)]


def load_catalogue(path: Path) -> Catalogue:
    """One catalogue file, checked for shape (not yet against the source catalogue)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"cannot read the catalogue {path}: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise CatalogueError(f"{path}: a catalogue is a JSON object of strings")
    if doc.get("@dir") not in ("ltr", "rtl") or not doc.get("@name"):
        raise CatalogueError(f'{path}: needs "@name" and "@dir" ("ltr" or "rtl")')
    messages = {k: v for k, v in doc.items() if not k.startswith("@")}
    return Catalogue(path.stem, doc["@name"], doc["@dir"], messages)


def problems(source: Catalogue, other: Catalogue) -> list[str]:
    """What keeps ``other`` from being a complete translation of ``source``."""
    found = [
        f"{other.code}: missing {k!r}" for k in sorted(set(source.messages) - set(other.messages))
    ]
    found += [
        f"{other.code}: stray {k!r}" for k in sorted(set(other.messages) - set(source.messages))
    ]
    for key in sorted(set(source.messages) & set(other.messages)):
        want, got = placeholders(source.messages[key]), placeholders(other.messages[key])
        if want != got:
            found.append(f"{other.code}: {key!r} has {sorted(got)}, the source has {sorted(want)}")
        if not other.messages[key].strip():
            found.append(f"{other.code}: {key!r} is empty")
    return found


def load_complete(root: Any) -> dict[str, Catalogue]:
    """Every catalogue under ``root`` by language code; each must be complete, else a clear
    error naming what is missing."""
    loaded = {path.stem: load_catalogue(path) for path in sorted(root.glob("*.json"))}
    if SOURCE not in loaded:
        raise CatalogueError(f"no source catalogue {SOURCE}.json in {root}")
    found = [p for cat in loaded.values() for p in problems(loaded[SOURCE], cat)]
    if found:
        raise CatalogueError(f"incomplete catalogues in {root}: " + "; ".join(found[:10]))
    return loaded


def load_catalogues(default: str = SOURCE, root: Path = CATALOGUE_DIR) -> Catalogues:
    """Every catalogue under ``root``; each must be complete, else a clear error."""
    loaded = load_complete(root)
    if default not in loaded:
        raise CatalogueError(
            f"web.default_language is {default!r}, but there is no catalogue for it "
            f"(there are: {', '.join(sorted(loaded))})"
        )
    return Catalogues(loaded, default)
