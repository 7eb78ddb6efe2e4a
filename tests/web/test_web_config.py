"""The ``[web]`` table of config.toml: defaults, checks, per-language referrals, round trip."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from node.config import (
    DEFAULT_QUICK_EXIT,
    Config,
    Referral,
    WebConfig,
    load_config,
    parse_config,
    render_config,
    write_config,
)
from node.errors import ConfigError
from tests.nodes import ROOT, make_data


def parse(web: str, role: str = "publisher") -> Config:
    text = f'[node]\nname = "Helpline"\nrole = "{role}"\n{web}'
    return parse_config(tomllib.loads(text), "config.toml")


def test_defaults_offer_self_service_on_publishers_only() -> None:
    publisher, subscriber = parse(""), parse("", role="subscriber")
    assert publisher.self_service
    assert not subscriber.self_service
    assert publisher.web.quick_exit_url == DEFAULT_QUICK_EXIT
    assert publisher.web.default_language == "en"
    assert publisher.web.referral("ar") == Referral()


def test_every_setting_and_per_language_referrals() -> None:
    config = parse(
        """
[web]
self_service = true
helpline_name = "Harbour Helpline"
contact = "0800 000 000"
website = "https://harbour.example/"
quick_exit_url = "https://weather.example/"
default_language = "ar"

[web.under_18]
text = "Call Childline."
url = "tel:08001111"

[web.under_18.ar]
text = "اتصل بخط نجدة الطفل."
url = "https://childline.example/ar"
"""
    )
    web = config.web
    assert (web.helpline_name, web.contact, web.website) == (
        "Harbour Helpline",
        "0800 000 000",
        "https://harbour.example/",
    )
    assert web.quick_exit_url == "https://weather.example/"
    assert web.default_language == "ar"
    assert web.referral("en") == Referral("Call Childline.", "tel:08001111")
    assert web.referral("ar") == Referral("اتصل بخط نجدة الطفل.", "https://childline.example/ar")


@pytest.mark.parametrize(
    ("web", "role", "says"),
    [
        ("[web]\nself_service = true", "subscriber", 'needs node.role = "publisher"'),
        ("[web]\nquick_exit = 'x'", "publisher", "unknown setting web.quick_exit"),
        ("[web]\nwebsite = 'harbour.example'", "publisher", "web.website must be an http(s) URL"),
        ("[web]\nquick_exit_url = 'javascript:x'", "publisher", "web.quick_exit_url must be"),
        ("[web]\ncontact = 5", "publisher", "wrong type"),
        ('[web]\ncontact = "a\\nb"', "publisher", "printable"),
        ("[web.under_18]\nlink = 'x'", "publisher", "unknown setting web.under_18.link"),
        ("[web.under_18.ar]\nurl = 'ftp://x'", "publisher", "web.under_18.ar.url must be"),
    ],
)
def test_bad_settings_name_the_setting(web: str, role: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(web, role=role)
    assert says in raised.value.message


def test_web_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"\[web\] must be a table"):
        parse_config({"node": {"name": "Helpline"}, "web": 3}, "config.toml")


def test_rewriting_the_config_keeps_the_web_table(tmp_path: Path) -> None:
    data = make_data(tmp_path / "n")
    web = WebConfig(
        self_service=False,
        helpline_name='The "Harbour"',
        contact="0800",
        quick_exit_url="https://weather.example/",
        under_18=Referral("Call.", ""),
        under_18_by_language=(("ar", Referral("اتصل.", "https://x.example/")),),
    )
    write_config(data, replace(load_config(data), web=web))
    assert load_config(data).web == web
    # And a default one writes nothing at all.
    plain = replace(load_config(data), web=WebConfig())
    assert "[web" not in render_config(plain)


def test_an_unknown_default_language_fails_when_the_app_is_made(tmp_path: Path) -> None:
    from node.web.errors import CatalogueError
    from node.web.language import load_catalogues

    with pytest.raises(CatalogueError, match="no catalogue for it"):
        load_catalogues("xx")


def test_the_example_config_parses_with_its_web_table() -> None:
    raw = tomllib.loads((ROOT / "config.example.toml").read_text())
    assert "web" in raw
    config = parse_config(raw, "config.example.toml")
    assert config.self_service
