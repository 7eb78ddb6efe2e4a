"""``hashbank charter sign`` shows what a draft really changes and asks; keys that cannot count,
far-future dates and threshold 1 are caught, on the command line and by real nodes."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

from node.datadir import DataDir, load_key
from protocol.charter import decode_charter, draft
from protocol.identity import SigningKey
from tests.nodes import NodeProcess, make_data, run_cli

STRANGER = SigningKey(b"\x5a" * 32)
ROTATED = SigningKey(b"\x5b" * 32)


def members(path: Path, nodes: dict[str, tuple[DataDir, str]], threshold: int) -> Path:
    lines = ['network = "sign-net"', f"threshold = {threshold}"]
    for name, (data, roles) in nodes.items():
        quoted = ", ".join(f'"{r}"' for r in roles.split(","))
        node_id = load_key(data).public_key
        lines += ["[[member]]", f'name = "{name}"', f'node_id = "{node_id}"', f"roles = [{quoted}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


def signatures(path: Path) -> int:
    doc = json.loads(path.read_text())
    return len(decode_charter(base64.b64decode(doc["charter"])).signatures)


async def test_sign_shows_the_real_change_asks_and_refuses_keys_that_cannot_count(
    tmp_path: Path,
) -> None:
    a_data = make_data(tmp_path / "a", name="Helpline A")
    b_data = make_data(tmp_path / "b", name="Helpline B")
    roster = {"Helpline A": (a_data, "publisher,steward"), "Helpline B": (b_data, "publisher")}
    v1 = tmp_path / "v1.json"
    made = run_cli(
        "charter", "init", "--members", str(members(tmp_path / "m.toml", roster, 1)),
        "--out", str(v1),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "warning: threshold 1" in made.stderr
    assert run_cli("charter", "sign", "--yes", "--data", str(a_data.root), str(v1)).returncode == 0
    a, b = await NodeProcess.start(a_data), await NodeProcess.start(b_data)
    try:
        for node in (a, b):
            applied = run_cli("charter", "apply", "--data", str(node.data.root), str(v1))
            assert applied.returncode == 0, applied.stderr

        # A draft whose summary says "spelling fix", while its body rotates B's key.
        v2 = tmp_path / "v2.json"
        proposed = run_cli(
            "charter", "propose", "--data", str(a_data.root), "--rotate", "Helpline B",
            str(ROTATED.public_key), "--threshold", "1", "--out", str(v2),
        )  # fmt: skip
        assert proposed.returncode == 0, proposed.stderr
        assert "warning: threshold 1" in proposed.stderr
        doc = json.loads(v2.read_text())
        doc["summary"] = {"note": "spelling fix"}
        v2.write_text(json.dumps(doc))

        sign = ["charter", "sign", "--data", str(a_data.root), str(v2)]
        unanswered = run_cli(*sign, stdin="")
        assert unanswered.returncode == 2
        assert "--yes" in unanswered.stderr
        shown = unanswered.stdout
        assert "charter version 2 of network 'sign-net'" in shown
        assert f"'Helpline B' (org {b.org[:16]}…): + key {ROTATED.public_key.raw.hex()}" in shown
        assert "from seq 1" in shown
        assert signatures(v2) == 0
        declined = run_cli(*sign, stdin="n\n")
        assert declined.returncode == 1
        assert "not signed" in declined.stderr
        assert signatures(v2) == 0
        agreed = run_cli(*sign, stdin="y\n")
        assert agreed.returncode == 0, agreed.stderr
        assert "1 signature(s) on it, 1 needed" in agreed.stdout
        assert signatures(v2) == 1

        # B is a member, but not a steward: its signature could not count.
        not_steward = run_cli("charter", "sign", "--yes", "--data", str(b_data.root), str(v2))
        assert not_steward.returncode == 2
        assert "could not count" in not_steward.stderr
        assert "Traceback" not in not_steward.stderr
        assert signatures(v2) == 1

        # Whatever a draft carries, nodes refuse a signature that cannot count, and a date
        # more than a week ahead (version 3025 once froze every later change).
        charter = decode_charter(base64.b64decode(json.loads(v2.read_text())["charter"]))
        for bad, reason in (
            (charter.signed_by(STRANGER), "cannot count"),
            (
                draft(replace(charter.body, effective_ms=33_290_000_000_000)).signed_by(
                    load_key(a_data)
                ),
                "days from now",
            ),
        ):
            response = await a.call(
                "POST", "/v1/charter", {"charter": base64.b64encode(bad.encode()).decode()}
            )
            assert response.status == 400, response.body
            assert reason in response.body["error"]["message"]
        assert (await a.status())["charter"]["version"] == 1
        far = run_cli(
            "charter", "propose", "--data", str(a_data.root), "--effective", "3025-01-01",
            "--out", str(tmp_path / "far.json"),
        )  # fmt: skip
        assert far.returncode == 2
        assert "days ahead" in far.stderr
        assert not (tmp_path / "far.json").exists()

        applied = run_cli("charter", "apply", "--data", str(a_data.root), str(v2))
        assert applied.returncode == 0, applied.stderr
    finally:
        a.terminate()
        b.terminate()
