"""Every test runs without the real user's kernel files or calibration."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_user_config(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("CONVCLI_KERNELS", raising=False)
    monkeypatch.delenv("CONVCLI_CALIBRATION", raising=False)
    return home


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty folder of one's own, with a terminal wide enough that report lines stay whole."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    return tmp_path
