"""The layers are declared as import-linter contracts in pyproject.toml; these tests run them.

The second test plants a forbidden import in a copy of the package and checks that the contracts
catch it, so a contract that could never fail does not pass for a kept one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}
    return subprocess.run([LINT, "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def lint_imports():
    if LINT is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    return lint


def test_the_layer_contracts_are_kept(lint_imports):
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("engine/settings.py", "import rich.console", "Only the command line imports typer and rich BROKEN"),
    ("kernels/kernel.py", "from convcli.pipeline import results", "BROKEN"),
    ("pipeline/process.py", "import tifffile", "Only the image files layer imports the codecs BROKEN"),
    ("api.py", "import typer", "Only the command line imports typer and rich BROKEN"),
    ("pipeline/batch.py", "from convcli import api", "BROKEN"),  # the root's lazy import is excused, not this
])
def test_a_wrong_import_breaks_a_contract(lint_imports, tmp_path, module, line, broken):
    shutil.copytree(ROOT / "convcli", tmp_path / "convcli")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "convcli" / module
    planted.write_text(planted.read_text() + f"\n{line}  # planted by the test\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert broken in done.stdout
