"""The command line's manners: clear refusals with the next step, the right node, progress, dates.

Every test runs the real ``hashbank`` command in a child process against real nodes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from node.config import load_config, write_config
from node.datadir import DataDir, load_key
from tests.nodes import ROOT, NodeProcess, make_data, run_cli, wait_until

hashbank = run_cli
IMAGE = ROOT / "tests" / "data" / "pdq" / "original.jpg"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
EPOCH_MS = re.compile(r"\b1[6-9]\d{11}\b")  # a 13-digit epoch-ms time, 2020-2033


def on_terminal(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run the CLI with standard error on a pseudo-terminal (standard output piped)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=timeout)
    reader.join(timeout)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


# --- the port, and which node the CLI talks to ----------------------------------------------


def test_a_port_in_use_names_the_port_and_what_to_change(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flag = hashbank("run", "--data", str(data.root), "--port", str(port))
        write_config(data, replace(load_config(data), port=port))
        setting = hashbank("run", "--data", str(data.root))
    assert flag.returncode == 2, flag.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in flag.stderr
    assert "choose another port with --port" in flag.stderr
    assert setting.returncode == 2, setting.stderr
    assert f"listen.port in {data.config}" in setting.stderr
    for result in (flag, setting):
        assert "internal error" not in result.stderr
        assert "Traceback" not in result.stderr


def test_bad_listen_settings_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    empty = hashbank("init", "--data", str(tmp_path / "a"), "--name", "A", "--host", "")
    assert empty.returncode == 2
    assert "listen.host is empty" in empty.stderr
    assert not (tmp_path / "a").exists()
    data = make_data(tmp_path / "b")
    big = hashbank("run", "--data", str(data.root), "--port", "70000")
    assert big.returncode == 2
    assert "70000 is not a port (0-65535; 0: any free port)" in big.stderr


async def test_clients_reach_the_node_running_on_the_data_directory(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")  # config.toml says port 0: nothing listens there
    node = await NodeProcess.start(data)  # `run --port 0`: the kernel picks one
    try:
        status = hashbank("status", "--data", str(data.root), "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["node_id"] == node.node_id
        assert (data.root / "node.url").read_text().strip() == node.url
        assert stat.S_IMODE((data.root / "node.url").stat().st_mode) == 0o600
        submitted = hashbank("submit", "--data", str(data.root), f"pdq:{PDQ}")
        assert submitted.returncode == 0, submitted.stderr
    finally:
        node.terminate()
    assert not (data.root / "node.url").exists()


async def test_a_killed_nodes_url_note_is_not_trusted(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    node.kill()
    assert (data.root / "node.url").exists()  # kill -9 leaves it, but nobody holds its lock
    status = hashbank("status", "--data", str(data.root))
    assert status.returncode == 1
    assert "cannot reach the node at http://127.0.0.1:0" in status.stderr  # config.toml's
    assert node.url not in status.stderr
    assert f"is the node running? (start it with: hashbank run --data {data.root})" in status.stderr


# --- config.toml and charter mistakes ---------------------------------------------------------


def test_a_mistyped_config_is_refused_with_its_line(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    text = data.config.read_text().replace("[listen]", "[lisen]")
    data.config.write_text(text)
    line = text.splitlines().index("[lisen]") + 1
    result = hashbank("run", "--data", str(data.root))
    assert result.returncode == 2
    assert f"{data.config}:{line}: unknown section [lisen] (did you mean listen?)" in result.stderr
    # The operator guide shows this message as it is.
    guide = (ROOT / "docs" / "operator-guide.md").read_text()
    assert result.stderr.strip().split(f"{data.config}:{line}: ")[1] in guide
    fixed = text.replace("[lisen]", "[listen]")
    data.config.write_text(fixed.replace("interval_seconds = 3", "interval_seconds = -5"))
    bad = hashbank("status", "--data", str(data.root))
    assert bad.returncode == 2
    where = re.escape(str(data.config))
    assert re.search(rf"{where}:\d+: sync.interval_seconds must be more than 0", bad.stderr)
    assert bad.stderr.strip().split(": ", 3)[3] in guide


def test_a_zero_charter_threshold_is_refused(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    out = tmp_path / "next.json"
    result = hashbank(
        "charter", "propose", "--data", str(data.root), "--threshold", "0", "--out", str(out)
    )
    assert result.returncode == 2
    assert "--threshold: 0 would let a change pass with no steward's signature" in result.stderr
    assert not out.exists()


def test_a_mistyped_members_file_is_refused_with_its_line(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    members = tmp_path / "members.toml"
    # A few days ahead: nodes accept a first version at most a week before it takes effect.
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        'network = "test-net"',
        "threshold = 1",
        f'effectiv = "{soon}"',  # would start the network now, not then
        "",
        "[[member]]",
        'name = "A"',
        f'node_id = "{node_id(data)}"',
        'roles = ["publisher", "steward"]',
    ]
    members.write_text("\n".join(lines) + "\n")
    out = tmp_path / "v1.json"
    command = ("charter", "init", "--members", str(members), "--out", str(out))
    typo = hashbank(*command)
    assert typo.returncode == 2
    assert f"{members}:3: unknown setting effectiv (did you mean effective?)" in typo.stderr
    members.write_text(
        members.read_text().replace("effectiv", "effective").replace("roles", "role")
    )
    in_member = hashbank(*command)
    assert in_member.returncode == 2
    assert f"{members}:8: unknown setting role (did you mean roles?)" in in_member.stderr
    assert not out.exists()
    members.write_text(members.read_text().replace("role =", "roles ="))
    assert hashbank(*command).returncode == 0


def test_peers_add_and_remove_keep_the_operators_comments(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    other = make_data(tmp_path / "other")
    other_id = node_id(other)
    text = data.config.read_text().replace("[listen]", "# reviewed by Sam, 2026-11\n[listen]")
    data.config.write_text("# Helpline node: change only with a ticket\n" + text)
    added = hashbank("peers", "add", "--data", str(data.root), "http://127.0.0.1:9", other_id)
    assert added.returncode == 0, added.stderr
    kept = data.config.read_text()
    assert kept.startswith("# Helpline node: change only with a ticket\n")
    assert "# reviewed by Sam, 2026-11" in kept
    assert [p.node_id for p in load_config(data).peers] == [other_id]
    bad = hashbank("peers", "add", "--data", str(data.root), "http://127.0.0.1:9", "abc")
    assert bad.returncode == 2
    assert "is not a node id: 64 hex characters" in bad.stderr
    removed = hashbank("peers", "remove", "--data", str(data.root), other_id)
    assert removed.returncode == 0, removed.stderr
    assert "# reviewed by Sam, 2026-11" in data.config.read_text()
    assert load_config(data).peers == ()


# --- hashing, matching, submitting --------------------------------------------------------


async def test_match_says_which_file_matched(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        copy = tmp_path / "upload-17.jpg"
        copy.write_bytes(IMAGE.read_bytes())
        other = tmp_path / "notes.txt"
        other.write_text("not in the bank")
        photo = hashbank("hash", str(IMAGE))
        submitted = hashbank("submit", "--data", str(data.root), "-", stdin=photo.stdout)
        assert submitted.returncode == 0, submitted.stderr
        lines = hashbank("hash", str(copy), str(other)).stdout
        matched = hashbank("match", "--data", str(data.root), "-", stdin=lines)
        assert matched.returncode == 0, matched.stderr
        results = [json.loads(x) for x in matched.stdout.splitlines()]
        assert {r["file"] for r in results} == {str(copy), str(other)}
        hits = {r["file"] for r in results if r["matches"]}
        assert hits == {str(copy)}
        plain = hashbank("match", "--data", str(data.root), f"pdq:{PDQ}")
        assert "file" not in json.loads(plain.stdout)
    finally:
        node.terminate()


def test_hash_recurses_into_directories_with_a_progress_bar(tmp_path: Path) -> None:
    photos = tmp_path / "case"
    (photos / "day 2").mkdir(parents=True)
    (photos / ".thumbnails").mkdir()
    (photos / "a.jpg").write_bytes(IMAGE.read_bytes())
    (photos / "day 2" / "b.jpg").write_bytes(IMAGE.read_bytes())
    (photos / "day 2" / "c.txt").write_text("notes")
    (photos / ".thumbnails" / "t.jpg").write_bytes(IMAGE.read_bytes())
    (photos / ".DS_Store").write_text("junk")

    flat = hashbank("hash", str(photos))
    assert flat.returncode == 1
    assert "is a directory; hashbank hash -r hashes the files in it" in flat.stdout

    status, out, terminal = on_terminal("hash", "-r", str(photos))
    assert status == 0, terminal
    files = [json.loads(line)["file"] for line in out.splitlines()]
    assert files == [
        str(photos / "a.jpg"),
        str(photos / "day 2" / "b.jpg"),
        str(photos / "day 2" / "c.txt"),
    ]
    assert "\r[" in terminal
    assert "3/3 files (100%)" in terminal
    piped = hashbank("hash", "-r", str(photos))
    assert piped.stderr == ""  # no terminal: no bar in a log


async def test_submit_expires_takes_dates_and_durations(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        args = ["submit", "--data", str(data.root)]
        dated = hashbank(*args, "--expires", "2099-06-01", f"pdq:{PDQ}")
        assert dated.returncode == 0, dated.stderr
        assert json.loads(dated.stdout)["expires"] == "2099-06-01 00:00:00 UTC"
        entry = await node.call("GET", f"/v1/entries/{json.loads(dated.stdout)['entry_id']}")
        june = dt.datetime(2099, 6, 1, tzinfo=dt.UTC).timestamp() * 1000
        assert entry.body["body"]["items"][0]["expires_ms"] == june
        before = int(time.time() * 1000)
        lasting = hashbank(*args, "--expires", "90d", "md5:" + "11" * 16)
        assert lasting.returncode == 0, lasting.stderr
        entry = await node.call("GET", f"/v1/entries/{json.loads(lasting.stdout)['entry_id']}")
        expires = entry.body["body"]["items"][0]["expires_ms"]
        assert before + 90 * 86_400_000 <= expires <= before + 91 * 86_400_000
        past = hashbank(*args, "--expires", "2001-01-01", f"pdq:{PDQ}")
        assert past.returncode == 2
        assert "is in the past (2001-01-01 00:00:00 UTC)" in past.stderr
        garbage = hashbank(*args, "--expires", "soon", f"pdq:{PDQ}")
        assert garbage.returncode == 2
        assert "neither a date" in garbage.stderr
    finally:
        node.terminate()


# --- long commands: progress and Ctrl-C -------------------------------------------------------


async def test_export_and_rebuild_show_progress_on_a_terminal(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        for n in range(3):
            hashbank("submit", "--data", str(data.root), f"md5:{n:032x}")
        status, _, terminal = on_terminal(
            "export", "--data", str(data.root), "--out", str(tmp_path / "bank.jsonl")
        )
        assert status == 0, terminal
        assert "3/3 entries (100%)" in terminal
    finally:
        node.terminate()
    status, out, terminal = on_terminal("rebuild", "--data", str(data.root))
    assert status == 0, terminal
    assert json.loads(out)["equal"] is True
    assert "3/3 entries (100%)" in terminal


async def test_ctrl_c_during_import_says_how_to_resume(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        path = tmp_path / "hashes.csv"
        rows = ["signal_type,value"] + [f"md5,{i:032x}" for i in range(1500)]
        path.write_text("\n".join(rows) + "\n")
        command = [sys.executable, "-m", "node.cli", "import", "--data", str(data.root)]
        proc = subprocess.Popen(
            [*command, "--batch", "1", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the first progress line: the import is under way
        assert "/1,500 hashes" in first, first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted after" in err
        assert "run the same command again to resume" in err
        assert "Traceback" not in err
        stored = (await node.status())["entries"]
        assert 0 < stored < 1500
        again = hashbank(*command[3:], "--batch", "1", str(path))  # the same command
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["entries_already_imported"] == stored
        assert (await node.status())["active_hashes"] == {"md5": 1500}
    finally:
        node.terminate()


# --- the operator token ----------------------------------------------------------------------


async def test_token_rotate_takes_effect_in_the_running_node(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        old = node.token
        rotated = hashbank("token", "rotate", "--data", str(data.root))
        assert rotated.returncode == 0, rotated.stderr
        new = node.token
        assert new != old
        assert stat.S_IMODE(data.token.stat().st_mode) == 0o600
        assert not list(data.root.glob(".operator.token*"))
        headers = {"Authorization": f"Bearer {old}"}
        refused = await _get(node.url + "/v1/changes", headers)
        assert refused == 401
        assert await _get(node.url + "/v1/changes", {"Authorization": f"Bearer {new}"}) == 200
        status = hashbank("status", "--data", str(data.root), "--feedback")
        assert status.returncode == 0, status.stderr
    finally:
        node.terminate()


async def _get(url: str, headers: dict[str, str]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status


# --- status: next steps and dates -------------------------------------------------------------


async def test_status_explains_one_sided_peering_with_dates(tmp_path: Path) -> None:
    a = await NodeProcess.start(make_data(tmp_path / "a", name="Helpline A"))
    b = await NodeProcess.start(make_data(tmp_path / "b", name="Helpline B"))
    try:
        a.set_peers([b])  # B never adds A

        async def refused() -> bool:
            peers = (await a.status())["peers"]
            return bool(peers) and "HTTP 401" in (peers[0]["last_error"] or "")

        await wait_until(refused, what="A's sync with B to be refused")
        shown = hashbank("status", "--data", str(a.data.root))
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout
        assert "Helpline A (publisher)" in text
        assert "last error: " in text
        assert "HTTP 401" in text
        assert "its operator has not added you as a peer" in text
        assert f"hashbank peers add URL {a.node_id}" in text
        assert not EPOCH_MS.search(text), text
    finally:
        a.terminate()
        b.terminate()


async def test_charter_show_prints_dates_beside_times(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    members = tmp_path / "members.toml"
    members.write_text(
        'network = "test-net"\nthreshold = 1\neffective = "2026-01-01T00:00:00Z"\n\n'
        f'[[member]]\nname = "A"\nnode_id = "{node_id(data)}"\n'
        'roles = ["publisher", "steward"]\n'
    )
    draft = tmp_path / "v1.json"
    made = hashbank("charter", "init", "--members", str(members), "--out", str(draft))
    assert made.returncode == 0, made.stderr
    assert (
        hashbank("charter", "sign", "--yes", "--data", str(data.root), str(draft)).returncode == 0
    )
    node = await NodeProcess.start(data)
    try:
        applied = hashbank("charter", "apply", "--data", str(data.root), str(draft))
        assert applied.returncode == 0, applied.stderr
        shown = json.loads(hashbank("charter", "show", "--data", str(data.root)).stdout)
        assert shown["effective"] == "2026-01-01T00:00:00Z"  # the API's own ISO field stays
        assert shown["history"][0]["effective"] == "2026-01-01 00:00:00 UTC"
        assert shown["history"][0]["effective_ms"] == 1_767_225_600_000
    finally:
        node.terminate()


def node_id(data: DataDir) -> str:
    return str(load_key(data).public_key)
