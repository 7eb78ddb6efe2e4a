"""deploy/: the systemd unit verified by systemd's own tools, and the container recipe linted.

Nothing is started: the unit is checked with ``systemd-analyze verify`` and ``security
--offline`` against a scratch root (the host's unit files plus a stand-in for the node's
executable), the sysusers file with ``systemd-sysusers --root``. No container engine runs on
these machines, so the Containerfile is checked for what can go wrong without one: files it
copies, the locked install, the user it runs as, the port. ``make test`` installs systemd.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from node.config import DEFAULT_PORT
from tests.nodes import ROOT

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "hashbank.service"
TOOLS = ("systemd-analyze", "systemd-sysusers")


def tool(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        pytest.fail(
            f"{name} is missing: `make test` installs Debian's systemd package "
            "(apt-get install systemd); these tests check deploy/hashbank.service with it"
        )
    return found


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.fixture
def scratch_root(tmp_path: Path) -> Path:
    """A root with the host's unit files, our unit, and a stand-in ExecStart binary."""
    units = Path("/usr/lib/systemd/system")
    units = units if units.is_dir() else Path("/lib/systemd/system")
    shutil.copytree(units, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, tmp_path / "etc/systemd/system/hashbank.service")
    binary = shlex.split(unit_settings()["ExecStart"][0])[0]
    stand_in = tmp_path / binary.lstrip("/")
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    return tmp_path


def test_the_unit_verifies_without_a_warning(scratch_root: Path) -> None:
    verify = [tool("systemd-analyze"), "verify", f"--root={scratch_root}", "--man=no"]
    result = subprocess.run(
        [*verify, "hashbank.service"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # verify only warns about unknown or misspelt settings, and still exits 0.
    assert result.stdout + result.stderr == ""


def test_the_unit_is_sandboxed(scratch_root: Path) -> None:
    command = [tool("systemd-analyze"), "security", "--offline=yes", "--threshold=20"]
    result = subprocess.run(
        [*command, f"--root={scratch_root}", "hashbank.service"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r"Overall exposure level for hashbank.service: (\d+\.\d)", result.stdout)
    assert found, result.stdout + result.stderr
    assert result.returncode == 0, f"exposure {found.group(1)} is over 2.0:\n{result.stdout}"
    settings = unit_settings()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert settings.get(key) == [value], key


def test_the_unit_runs_as_the_sysusers_user_on_its_state_directory(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    sysusers = DEPLOY / "hashbank.sysusers"
    made = subprocess.run(
        [tool("systemd-sysusers"), f"--root={tmp_path}", str(sysusers)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    (user,) = [x for x in (tmp_path / "etc/passwd").read_text().splitlines() if x]
    name, _, _, _, _, home, shell = user.split(":")
    settings = unit_settings()
    assert settings["User"] == [name] == settings["Group"]
    assert home == f"/var/lib/{settings['StateDirectory'][0]}"
    assert shell == "/usr/sbin/nologin"
    command = shlex.split(settings["ExecStart"][0])
    assert command[1:] == ["run", "--data", home]
    assert "2" in settings["RestartPreventExitStatus"][0].split()  # config mistakes: no loop


def instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Containerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_containerfile_copies_what_exists_and_installs_the_lock() -> None:
    steps = instructions()
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert len(bases) == 2
    assert len(set(bases)) == 1, "build and runtime stages must share a base (the venv's python)"
    assert re.fullmatch(r"docker\.io/library/python:3\.11[\w.-]*", bases[0])
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the checkout"
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    for install in re.findall(r"pip install [^&]*", runs):
        assert "-c constraints.txt" in install, install
    assert "--no-isolation" in runs  # the build tools are the locked ones too
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored


def test_the_container_runs_unprivileged_on_the_default_port() -> None:
    steps = instructions()
    runtime = steps[[i for i, (word, _) in enumerate(steps) if word == "FROM"][1] :]
    words = [word for word, _ in runtime]
    user = [rest for word, rest in runtime if word == "USER"]
    assert user == ["hashbank"]
    assert words.index("USER") < words.index("CMD")
    assert [rest for word, rest in runtime if word == "EXPOSE"] == [str(DEFAULT_PORT)]
    assert [rest for word, rest in runtime if word == "VOLUME"] == ["/data"]
    assert any(word == "HEALTHCHECK" and "status --data /data" in rest for word, rest in runtime)
    assert [rest for word, rest in runtime if word == "CMD"] == ['["run", "--data", "/data"]']
