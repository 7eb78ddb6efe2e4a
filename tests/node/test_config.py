"""config.toml parsing: the example parses, mistakes are refused naming the file, line and keys."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from node.cli.config_edit import save_peers
from node.config import Config, PeerConfig, find_line, load_config, parse_config, render_config
from node.datadir import DataDir
from node.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NODE_ID = "ab" * 32
OTHER_ID = "cd" * 32


def test_the_example_config_parses() -> None:
    text = (ROOT / "config.example.toml").read_text()
    config = parse_config(tomllib.loads(text), "example", text)
    assert config.name == "Example Helpline"
    assert config.port == 8750


def test_rendered_config_round_trips() -> None:
    config = Config(name='Quote " and \\ backslash', org_id="ab" * 32, port=9000)
    assert parse_config(tomllib.loads(render_config(config)), "x") == config


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[node]\n", ":1: missing setting 'node.name'"),
        ('[node]\nname = "x"\nrole = "admin"\n', ":3: node.role must be one of"),
        ('[node]\nname = "x"\n[listen]\nport = 70000\n', ":4: listen.port must be 0-65535"),
        ('[node]\nname = "x"\n[listen]\nport = "80"\n', ":4: setting listen.port has the wrong"),
        ('[node]\nname = "x"\norg_id = "zz"\n', ":3: node.org_id"),
        ("[node\n", "not valid TOML"),
        (
            '[node]\nname = "x"\n\n[lisen]\nport = 8751\n',
            r":4: unknown section \[lisen\] \(did you mean listen\?\); the sections are \[node\]",
        ),
        (
            '[node]\nname = "x"\n[sync]\n# how often\nintreval_seconds = 5\n',
            r":5: unknown setting sync.intreval_seconds \(did you mean interval_seconds\?\); "
            r"\[sync\] takes interval_seconds, confirm_own_head, decode_workers",
        ),
        (
            '[node]\nname = "x"\n[sync]\ninterval_seconds = -5\n',
            ":4: sync.interval_seconds must be more than 0 and at most 86400",
        ),
        ('[node]\nname = "x"\n[sync]\ndecode_workers = 99\n', ":4: sync.decode_workers"),
        ('[node]\nname = "x"\n[limits]\napi_rate = 0\n', ":4: limits.api_rate must be positive"),
        (
            '[node]\nname = "x"\n[limits]\nmax_connections = 2.5\n',
            ":4: setting limits.max_connections has the wrong type: 2.5 is not an integer",
        ),
        (
            'port = 1\n[node]\nname = "x"\n',
            r":1: setting port is outside any section; .*\[listen\]",
        ),
        ('[node]\nname = "  "\n', ":2: node.name must be 1 to 100 printable characters"),
        (
            '[node]\nname = "x"\n[listen]\npublic_url = "example.org"\n',
            ":4: listen.public_url must be an http",
        ),
        (
            f'[node]\nname = "x"\n\n[[peers]]\nurl = "http://a:1"\nnode_id = "{NODE_ID}"\n\n'
            '[[peers]]\nurl = "http://b:1"\nnode_id = "b"\n',
            ":10: peers.node_id must be the peer's node id",
        ),
        (
            f'[node]\nname = "x"\n\n[[peers]]\nurl = "http://a:1"\nnode_id = "{NODE_ID}"\n\n'
            f'[[peers]]\nurl = "http://b:1"\nnode = "{OTHER_ID}"\n',
            r":10: unknown setting peers.node \(did you mean node_id\?\)",
        ),
        ('[node]\nname = "x"\n[[peers]]\nnode_id = "ab"\n', ":3: missing setting 'url'"),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_config(DataDir(tmp_path))
    assert caught.value.message.startswith(str(tmp_path / "config.toml"))


def test_lines_are_found_in_tables_arrays_and_before_any_header() -> None:
    text = (
        'top = 1\n[node]\nname = "x"\n\n[[peers]]\nurl = "a"\n[[peers]]\n  url = "b"\n'
        "[limits]\n'api_rate' = 3\n"
    )
    assert find_line(text, "", "top") == 1
    assert find_line(text, "node", None) == 2
    assert find_line(text, "node", "name") == 3
    assert find_line(text, "peers", "url", 0) == 6
    assert find_line(text, "peers", "url", 1) == 8
    assert find_line(text, "peers", None, 1) == 7
    assert find_line(text, "limits", "api_rate") == 10
    assert find_line(text, "sync", "interval_seconds") is None


COMMENTED = f"""# Our node. Ask Sam before changing anything here.
[node]
name = "Helpline"  # as the stewards know us

[listen]
port = 8750

# Partners
[[peers]]
# the northern helpline; contact: ops@north.example
url = "http://north.example:8750"
node_id = "{NODE_ID}"
"""


def test_saving_peers_keeps_the_operators_comments(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    data.config.write_text(COMMENTED)
    data.config.chmod(0o640)
    north = PeerConfig("http://north.example:8750", NODE_ID)
    south = PeerConfig("https://south.example", OTHER_ID)

    save_peers(data, [north, south])
    text = data.config.read_text()
    assert text.startswith(COMMENTED)  # everything before stays byte for byte
    assert load_config(data).peers == (north, south)
    assert stat.S_IMODE(data.config.stat().st_mode) == 0o640

    moved = PeerConfig("http://north.example:9000", NODE_ID)
    save_peers(data, [moved, south])
    text = data.config.read_text()
    assert "# the northern helpline; contact: ops@north.example" in text
    assert load_config(data).peers == (moved, south)

    save_peers(data, [south])
    text = data.config.read_text()
    assert "# as the stewards know us" in text
    assert "north" not in text
    assert load_config(data).peers == (south,)
    save_peers(data, [])
    assert load_config(data).peers == ()
    assert "# Our node. Ask Sam" in data.config.read_text()


def test_saving_peers_refuses_to_write_a_config_the_node_would_refuse(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    data.config.write_text('[node]\nname = "x"\n[sync]\ninterval_seconds = -1\n')
    before = data.config.read_text()
    with pytest.raises(ConfigError, match="interval_seconds"):
        save_peers(data, [PeerConfig("http://a:1", NODE_ID)])
    assert data.config.read_text() == before
