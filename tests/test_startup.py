"""What a command loads: a shell loop pays the start-up per file, so heavy modules load only when needed.

Each case runs a real command in a fresh interpreter and lists the heavy packages it imported; the
times themselves are measured by ``benchmarks/bench_startup.py``, not here.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from convcli.cli import coercion

HEAVY = ("scipy", "pydantic", "PIL.PdfImagePlugin", "markdown_it")

PROBE = """
import sys
sys.argv = ["convcli", *sys.argv[1:]]
from convcli.cli import app
try:
    app()
except SystemExit:
    pass
heavy = {heavy!r}
print("loaded:", sorted(h for h in heavy if h in sys.modules))
"""


def loaded(*args: str, cwd=None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)
    line = [text for text in done.stdout.splitlines() if text.startswith("loaded:")]
    assert line, done.stdout + done.stderr
    return eval(line[0].removeprefix("loaded:"))


def test_importing_the_command_line_loads_no_scipy_numpy_or_pydantic():
    probe = ("import sys, convcli.cli; print(sorted(m for m in ('scipy', 'numpy', 'pydantic', 'PIL') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.fixture
def small(tmp_path):
    Image.fromarray(np.arange(70 * 46 * 3, dtype=np.uint8).reshape(46, 70, 3)).save(tmp_path / "small.png")
    return tmp_path


@pytest.mark.parametrize("args", [
    ("apply", "small.png", "-k", "sharpen", "-o", "out.png"),
    ("apply", "small.png", "-k", "gaussian:size=5,sigma=1", "-k", "1,2;3,4", "--boundary", "wrap", "-s", "2",
     "-o", "out"),
    ("kernels", "show", "edge"),
    ("kernels", "list"),
])
def test_a_plain_command_loads_no_heavy_package(small, args):
    assert loaded(*args, cwd=small) == []


def test_help_loads_only_its_markdown():
    assert loaded("apply", "--help") == ["markdown_it"]


def test_verify_loads_scipy_ndimage_not_scipy_signal(small):
    probe = PROBE.replace("heavy = {heavy!r}", "heavy = ('scipy.ndimage', 'scipy.signal', 'pydantic')")
    done = subprocess.run([sys.executable, "-c", probe, "apply", "small.png", "-k", "sharpen", "--verify", "-o",
                           "out.png"], capture_output=True, text=True, cwd=small, timeout=120, check=False)
    assert "loaded: ['scipy.ndimage']" in done.stdout, done.stdout + done.stderr


# --- the coercion that replaces Typer's pydantic adapters ---------------------------------------------


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from convcli.cli import app; app()", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize(("args", "message"), [
    (("--stride", "abc"), "Invalid value for '--stride' / '-s': 'abc' is not a valid integer."),
    (("--stride", "0"), "Invalid value for '--stride' / '-s': 0 is not in the range x>=1."),
    (("--quality", "101"), "Invalid value for '--quality': 101 is not in the range 1<=x<=100."),
    (("--cval", "x"), "Invalid value for '--cval': 'x' is not a valid float."),
    (("--method", "dirct"), "Invalid value for '--method': 'dirct' is not one of 'auto', 'direct', 'separable', "
                            "'fft', 'gemm' (did you mean 'direct'?)."),
    (("--nan", "zero"), "Invalid value for '--nan': 'zero' is not one of 'propagate', 'ignore', 'fill'."),
])
def test_bad_values_are_refused_with_their_flag(small, args, message):
    done = run("apply", "small.png", "-k", "sharpen", "-o", "out.png", *args, cwd=small)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert not (small / "out.png").exists()


def test_values_are_coerced_to_their_types(small):
    from typer.main import get_command

    from convcli.cli.app import app

    apply = get_command(app).commands["apply"]
    context = apply.make_context("apply", ["small.png", "x.png", "-k", "a", "-k", "b", "-o", "o", "-s", "2",
                                           "--cval", "0.5", "--method", "fft", "--gray"])
    params = context.params
    assert params["inputs"] == ["small.png", "x.png"] and params["kernel"] == ["a", "b"]
    assert params["stride"] == 2 and isinstance(params["stride"], int)
    assert params["cval"] == 0.5 and params["gray"] is True
    assert params["method"].value == "fft"
    assert str(params["output"]) == "o" and type(params["output"]).__name__ in ("PosixPath", "WindowsPath")
    assert all(isinstance(p.get_runtime_param(), coercion.DirectParam) for p in apply.params)


def test_the_coercion_is_installed_only_on_the_typer_it_was_written_for(monkeypatch):
    import typer

    assert typer.__version__.startswith(coercion.TYPER_SERIES)  # pyproject pins this series
    assert coercion.install() is True  # (already installed by the CLI's import: nothing more to do)
    monkeypatch.setattr(typer, "__version__", "0.30.0")
    assert coercion.install() is False  # another Typer keeps its own coercion
