"""The browser test set-up itself: a missing Chromium fails loudly, never skips."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from tests.web import conftest


def test_missing_chromium_fails_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "chromium")
    with pytest.raises(pytest.fail.Exception) as failed:
        conftest.launch_chromium(cast(Any, None))  # fails before Playwright is touched
    assert f"{tmp_path / 'chromium'} is missing" in str(failed.value)
    assert "apt-get install -y chromium" in str(failed.value)


def test_chromium_is_installed_here() -> None:
    # `make test` installs it; a machine without it fails here too, with the path named.
    assert conftest.CHROMIUM.is_file(), f"{conftest.CHROMIUM} is missing: run `make chromium`"
