"""The built distribution: what is in the wheel and sdist, and a node run from the wheel alone.

The wheel is built as `make dist` builds it (``python -m build --no-isolation``, with the
build tools pinned in constraints.txt) and installed with ``--no-deps --no-index`` into a
fresh venv that borrows the project venv's site-packages for its dependencies. Nothing is
fetched, so this runs on a machine without a package index, and what it checks is the one
thing that can differ from a checkout: the files and metadata the wheel carries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from node.web.assets import STATIC_DIR
from node.web.console import LOGIN_PATH
from node.web.routes import ROUTES as WEB_ROUTES
from tests.nodes import ROOT

pytestmark = pytest.mark.slow
IMAGE = ROOT / "tests" / "data" / "pdq" / "original.jpg"


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("hashbank-*.whl")
    (sdist,) = out.glob("hashbank-*.tar.gz")
    return Dist(wheel, sdist)


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed; dependencies come from the project venv."""
    root = tmp_path_factory.mktemp("venv") / "env"
    made = run(sys.executable, "-m", "venv", "--without-pip", root, cwd=root.parent)
    assert made.returncode == 0, made.stderr
    python = root / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root
    )
    # A plain path line: the project venv's own .pth files (its editable hashbank) stay inert.
    (Path(purelib.stdout.strip()) / "project_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    pip = [sys.executable, "-m", "pip", "--python", python]
    installed = run(*pip, "install", "--no-deps", "--no-index", "--quiet", dist.wheel, cwd=root)
    assert installed.returncode == 0, installed.stderr
    checked = run(*pip, "check", cwd=root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return root


def test_the_wheel_carries_the_static_files_and_the_licences(dist: Dist) -> None:
    names = set(zipfile.ZipFile(dist.wheel).namelist())
    web = STATIC_DIR.parent
    # The pages' templates and message catalogues are package data like the static files.
    for path in [*web.rglob("*.html"), *web.rglob("*.json"), *STATIC_DIR.rglob("*")]:
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"node/web/{path.relative_to(web).as_posix()}" in names
    licences = {n for n in names if "/licenses/" in n}
    assert {
        "hashbank-0.1.0.dist-info/licenses/LICENSE",
        "hashbank-0.1.0.dist-info/licenses/NOTICE",
        "hashbank-0.1.0.dist-info/licenses/node/web/static/vendor/hash-wasm/LICENSE",
    } <= licences
    wheel_meta = zipfile.ZipFile(dist.wheel).read("hashbank-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in wheel_meta
    runtime = {
        Requirement(line.removeprefix("Requires-Dist: ")).name
        for line in wheel_meta.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    }
    # A plain install (`make run`, the container) gets these and nothing of the dev extra.
    assert runtime == {"aiohttp", "aiosqlite", "pynacl", "msgpack", "numpy", "pillow"} | {
        "pillow-heif",
        "tomlkit",
        "prometheus-client",
        "jinja2",
    }


def test_the_sdist_rebuilds_everything(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = set(sdist.getnames())
    prefix = "hashbank-0.1.0/"
    for needed in ("LICENSE", "NOTICE", "pyproject.toml", "README.md", "node/web/static/pdq.js"):
        assert prefix + needed in names, needed


def test_the_licence_is_apache_2_and_names_the_vendored_code() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    notice = (ROOT / "NOTICE").read_text()
    for vendored in (STATIC_DIR / "vendor").iterdir():
        assert f"node/web/static/vendor/{vendored.name}/LICENSE" in notice
    # Third-party files kept for the tests only: each folder has its licence, NOTICE names it.
    for folder in [*(ROOT / "tests/web/vendor").iterdir(), *(ROOT / "tests/data").iterdir()]:
        if folder.is_dir():
            licence = folder.relative_to(ROOT) / "LICENSE"
            assert (ROOT / licence).is_file(), licence
            assert licence.as_posix() in notice, licence


def test_a_node_runs_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    """hash, init, run and status from the wheel; every static file, page and catalogue served."""
    hashbank = venv / "bin" / "hashbank"
    where = run(venv / "bin" / "python", "-c", "import node; print(node.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    hashed = run(hashbank, "hash", IMAGE, cwd=tmp_path)
    assert hashed.returncode == 0, hashed.stderr
    assert json.loads(hashed.stdout)["pdq"].startswith("d8f8f0ce")

    data = tmp_path / "node"
    made = run(
        hashbank, "init", "--data", data, "--name", "Wheel Helpline", "--port", "0", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(
        [str(hashbank), "run", "--data", str(data)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        found = re.search(r"listening on (http://\S+)", proc.stdout.readline())
        assert found, "the node from the wheel did not start"
        url = found.group(1)
        for path in sorted(STATIC_DIR.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                name = path.relative_to(STATIC_DIR).as_posix()
                with urllib.request.urlopen(f"{url}/static/{name}", timeout=60) as response:
                    assert response.read() == path.read_bytes(), name
        _pages_render(url)
        status = run(hashbank, "status", "--data", data, "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["entries"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def _pages_render(url: str) -> None:
    """Every page from its template, in every catalogue's language, and the console's login."""
    for path in [p for method, p, _ in WEB_ROUTES if method == "GET"]:
        for catalogue in sorted((STATIC_DIR.parent / "i18n").glob("*.json")):
            lang = catalogue.stem
            with urllib.request.urlopen(f"{url}{path}?lang={lang}", timeout=60) as response:
                page = response.read().decode()
            assert f'<html lang="{lang}"' in page, (path, lang)
            assert "{{" not in page, (path, lang)  # rendered, not raw
            assert "{%" not in page, (path, lang)
    with urllib.request.urlopen(f"{url}{LOGIN_PATH}", timeout=60) as response:
        assert 'name="password"' in response.read().decode()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_canonical(name)] = version.strip()
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_covers_every_declared_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    pins = _pins()
    for text in declared:
        requirement = Requirement(text)
        name = _canonical(requirement.name)
        assert name in pins, f"{name} is not in constraints.txt: run make lock"
        assert requirement.specifier.contains(pins[name]), (
            f"constraints.txt pins {name}=={pins[name]}, outside {text!r}: run make lock"
        )


# The last release before each floor in pyproject.toml, each with published advisories (the
# comments there name them). Floors below these (aiohttp>=3.9, pynacl>=1.5, …) once let a
# fresh install pick a vulnerable release.
ADVISED_AGAINST = {
    "aiohttp": "3.14.4",
    "pynacl": "1.6.1",
    "msgpack": "1.2.0",
    "pillow": "12.9.0",
    "pillow-heif": "1.6.9",
}


def test_the_floors_admit_no_release_with_a_known_advisory() -> None:
    declared = {
        _canonical(Requirement(text).name): Requirement(text)
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for name, vulnerable in ADVISED_AGAINST.items():
        assert not declared[name].specifier.contains(vulnerable), (
            f"pyproject.toml admits {name}=={vulnerable}, which has published advisories"
        )
        assert not Requirement(f"{name}=={_pins()[name]}").specifier.contains(vulnerable)


def test_the_project_venv_has_exactly_the_locked_versions() -> None:
    wrong = {}
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # e.g. faiss-cpu without `make bench`: not installed is not a mismatch
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed vs locked: {wrong}; re-run make (the stamps track the lock)"


def make_dry_run(*args: str) -> str:
    """What ``make`` would run (``-n``), as if pyproject.toml had just changed (``-W``)."""
    assert shutil.which("make"), "make is missing (Debian's make package)"
    command = ["make", "-n", "-W", "pyproject.toml", *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_installs_only_the_runtime_and_takes_a_port() -> None:
    run_plan = make_dry_run("run", "PORT=8751", "DATA=x")
    assert "pip install --quiet -c constraints.txt -e .\n" in run_plan
    assert "[dev]" not in run_plan
    assert "hashbank run --data x --port 8751" in run_plan
    assert "--port" not in make_dry_run("run", "DATA=x")
    test_plan = make_dry_run("test")
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in test_plan
    assert "systemd-analyze" in test_plan  # installed like chromium when missing
