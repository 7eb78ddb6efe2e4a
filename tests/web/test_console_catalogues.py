"""The console's catalogues (node/web/i18n/console): complete, no strays, all used, all there.

Like the self-service catalogues: every language has every message of the English source
with the same placeholders; every key the console's templates, scripts and handlers use is
there; every message is used. Keys built at run time (a state, a role, a refusal's code …)
are checked against the values the code can produce.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.store import CASE_STATES
from node.web.accounts import ROLES
from node.web.audit import Action
from node.web.console_cases import REASONS
from node.web.console_node import EXPLAINED
from node.web.console_site import CONSOLE_CATALOGUES, SHARED_PREFIXES, load_console_catalogues
from node.web.language import SOURCE, load_catalogue, load_catalogues, problems

WEB = CONSOLE_CATALOGUES.parent.parent
CATALOGUES = sorted(CONSOLE_CATALOGUES.glob("*.json"))
KEY = re.compile(r"""["'](console\.[\w.]+)["']""")
# "console.state." + state in a template, f"console.rejection.{code}" in Python.
PREFIX = re.compile(r"""["'](console\.[\w.]+\.)["']\s*\+|f["'](console\.[\w.]+\.)\{""")


def test_english_and_german_at_least() -> None:
    assert {p.stem for p in CATALOGUES} >= {"en", "de"}


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.stem)
def test_every_catalogue_is_complete(path: Path) -> None:
    source = load_catalogue(CONSOLE_CATALOGUES / f"{SOURCE}.json")
    catalogue = load_catalogue(path)
    assert problems(source, catalogue) == []
    assert all(key.startswith("console.") for key in catalogue.messages)
    pairs = json.loads(path.read_text(), object_pairs_hook=lambda kv: [k for k, _ in kv])
    assert len(pairs) == len(set(pairs))


def test_the_file_chooser_keeps_its_own_messages_in_each_language() -> None:
    merged = load_console_catalogues(load_catalogues().by_code)
    for code, catalogue in merged.by_code.items():
        shared = load_catalogue(WEB / "i18n" / f"{code}.json")
        for key, text in shared.messages.items():
            if key.startswith(SHARED_PREFIXES):
                assert catalogue.messages[key] == text, (code, key)


def sources() -> str:
    parts = [p.read_text() for p in (WEB / "templates" / "console").glob("*.html")]
    parts += [p.read_text() for p in (WEB / "static" / "console").glob("*.js")]
    parts += [p.read_text() for p in WEB.glob("*.py")]
    return "\n".join(parts)


def dynamic() -> set[str]:
    """Every key the code builds from a value it can produce."""
    verdicts = {f"console.verdict.true_positive.{n}" for n in
                ("actioned", "under_review", "not_actioned", "none")}  # fmt: skip
    verdicts |= {"console.verdict.false_positive", "console.verdict.disputed"}
    kinds = {
        "member_added",
        "member_removed",
        "roles_changed",
        "key_added",
        "threshold",
        "takedown",
    }  # fmt: skip (the kinds of node.replica.drafts.Change)
    attention = {"fork", "divergence", "incomplete", "held", "behind"}
    return (
        {f"console.state.{s}" for s in CASE_STATES}
        | {f"console.origin.{o}" for o in ("self_service", "caseworker", "operator")}
        | {f"console.kind.{k}" for k in ("image", "file")}
        | {f"console.role.{r}" for r in ROLES}
        | {f"console.reason.{r}" for r in REASONS}
        | {f"console.action.{a.value}" for a in Action}
        | {f"console.rejection.{c}" for c in (*EXPLAINED, "other")}
        | {f"console.node.role.{r}" for r in ("publisher", "subscriber")}
        | {f"console.peer.state.{s}" for s in ("reachable", "unreachable", "not_reached")}
        | {f"console.peer.step.{s}" for s in ("401", "403", "429", "connect")}
        | {f"console.member.role.{r}" for r in ("publisher", "subscriber", "steward")}
        | {f"console.import.state.{s}" for s in ("running", "finished", "stalled")}
        | {f"console.import.unit.{u}" for u in ("hashes", "entries")}
        | {f"console.change.{k}" for k in kinds}
        | {f"console.attention.{a}" for a in attention}
        | {f"console.attention.{a}_advice" for a in attention}
        | verdicts
    )


def test_every_key_used_exists_and_every_message_is_used() -> None:
    source = set(load_catalogue(CONSOLE_CATALOGUES / "en.json").messages)
    text = sources()
    literal = {k for k in KEY.findall(text) if not k.endswith(".")}
    prefixes = {a or b for a, b in PREFIX.findall(text)}
    built = dynamic()
    assert {k for k in built if not k.startswith(tuple(prefixes))} == set()
    assert literal - source == set(), "used but not in en.json"
    assert built - source == set(), "built at run time but not in en.json"
    errors = {k for k in source if k.startswith("console.error.")}  # by an error's code
    assert source - literal - built - errors == set(), "in en.json but never used"
