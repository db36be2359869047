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


def _forced(way: str, monkeypatch) -> str:
    """The ``method`` for ``way``; for the direct path's ways, make it take that way (row products only
    run at column stride 1: at other strides both ways are the taps)."""
    from convcli.engine import costmodel

    method, _, how = way.partition(":")
    if how:
        def direct_rows(problem, coefficients=None):
            return how == "rows" and problem.cols.stride == 1

        monkeypatch.setattr(costmodel, "direct_rows", direct_rows)
    return method


@pytest.fixture
def method(request, monkeypatch):
    """Parametrize with ``indirect=True`` over ``helpers.ENGINE_WAYS``: the engine method to pass."""
    return _forced(request.param, monkeypatch)


@pytest.fixture
def path(request, monkeypatch):
    """As :func:`method`, under the name some test modules use."""
    return _forced(request.param, monkeypatch)
