"""config.toml parsing: the example parses, mistakes are named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from node.config import Config, load_config, parse_config, render_config
from node.datadir import DataDir
from node.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_config_parses() -> None:
    config = parse_config(tomllib.loads((ROOT / "config.example.toml").read_text()), "example")
    assert config.name == "Example Helpline"
    assert config.port == 8750


def test_rendered_config_round_trips() -> None:
    config = Config(name='Quote " and \\ backslash', org_id="ab" * 32, port=9000)
    assert parse_config(tomllib.loads(render_config(config)), "x") == config


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[node]\n", "missing setting 'name'"),
        ('[node]\nname = "x"\nrole = "admin"\n', "node.role must be one of"),
        ('[node]\nname = "x"\n[listen]\nport = 70000\n', "listen.port"),
        ('[node]\nname = "x"\n[listen]\nport = "80"\n', "wrong type"),
        ('[node]\nname = "x"\norg_id = "zz"\n', "node.org_id"),
        ("[node\n", "not valid TOML"),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config(DataDir(tmp_path))
