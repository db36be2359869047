"""``convcli kernels list/show/check``, where kernels come from and in which order they override.

Every test runs in its own ``tmp_path`` (the working folder) with ``XDG_CONFIG_HOME`` pointing into
it and ``CONVCLI_KERNELS`` unset, so the real user's kernel files never leak in. Expected matrices are
written out here or computed with NumPy/SciPy; tables are read back by splitting rows on the gaps
between Rich's columns.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.signal import convolve2d, correlate2d
from typer.testing import CliRunner

from convcli.cli import app

runner = CliRunner()  # keeps stderr apart: result.stdout and result.stderr
ANSI = re.compile(r"\x1b\[[0-9;]*m")
H, W = 8, 10

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
SOBEL_Y = SOBEL_X.T
GAUSSIAN5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no real user kernels
    monkeypatch.delenv("CONVCLI_KERNELS", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # long source paths stay on one line
    return tmp_path


# ----------------------------------------------------------------------------------------- helpers


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def clean(text: str) -> str:
    return ANSI.sub("", text)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in clean(text).splitlines()]


def assert_ok(result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.output
    assert result.stderr == ""


def assert_errors(result, *messages: str) -> None:
    """A user error: exit 2, exactly one ``Error: ...`` line per message on stderr, nothing on stdout."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert lines(result.stderr) == [f"Error: {message}" for message in messages]


def table_rows(text: str) -> dict[str, list[str]]:
    """Each table row's cells, keyed by its first cell (Rich puts two or more spaces between cells)."""
    rows = {}
    for line in lines(text):
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] and not set(cells[0]) <= {"─", " "}:
            rows.setdefault(cells[0], cells)
    return rows


def matrices(text: str) -> list[np.ndarray]:
    """The numbers of every boxed matrix in ``kernels show`` output, in order."""
    found, current = [], []
    for line in lines(text) + [""]:
        if line.startswith("│"):
            current.append([float(cell) for cell in line.strip("│").split("│")])
        elif current:
            found.append(np.array(current))
            current = []
    return found


def assert_shown(shown: np.ndarray, expected: np.ndarray) -> None:
    """The matrix is printed with 4 significant digits."""
    assert shown.shape == expected.shape
    np.testing.assert_allclose(shown, expected, rtol=6e-4, atol=1e-12)


def gray_pixels(h: int = H, w: int = W) -> np.ndarray:
    """A gray picture with no symmetry, every value a multiple of 4 (quarters stay whole numbers)."""
    y, x = np.mgrid[:h, :w]
    return (4 * ((7 * y + 3 * x + (x * y) % 5) % 60)).astype(np.uint8)


def save_gray(path: str, pixels: np.ndarray) -> None:
    Image.fromarray(pixels).save(path)


def read_pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).astype(np.int64)


def user_config_file(workdir: Path) -> Path:
    return workdir / "config" / "convcli" / "kernels.toml"


def probe(factor: float, extra: str = "") -> str:
    """A kernel file defining ``probe``, a 1x1 kernel multiplying by ``factor``."""
    return f"[kernels.probe]\nweights = [[{factor}]]\n{extra}"


# -------------------------------------------------------------------------------------- kernels list

# Rows written out by hand: name, size, sum, verdict, separable rank, source.
EXPECTED_ROWS = [
    ["identity", "3x3", "1", "normalized", "1", "built-in"],
    ["edge", "3x3", "0", "zero-sum", "2", "built-in"],  # 9 δ - ones: rank 2
    ["blur", "3x3", "1", "normalized", "1", "built-in"],
    ["box5", "5x5", "1", "normalized", "1", "built-in"],
    ["gaussian5", "5x5", "1", "normalized", "1", "built-in"],
    ["motion_h", "1x9", "1", "normalized", "1", "built-in"],
    ["sharpen", "3x3", "1", "normalized", "2", "built-in"],
    ["unsharp", "5x5", "1", "normalized", "2", "built-in"],
    ["emboss", "3x3", "1", "normalized", "3", "built-in"],  # determinant -4
    ["outline", "3x3", "0", "zero-sum", "2", "built-in"],
    ["sobel_x", "3x3", "0", "zero-sum", "1", "built-in"],
    ["scharr_y", "3x3", "0", "zero-sum", "1", "built-in"],
    ["roberts_x", "2x2", "0", "zero-sum", "2", "built-in"],
    ["laplacian_of_gaussian", "9x9", "0", "zero-sum", "3", "built-in"],
    ["difference_of_gaussians", "11x11", "0", "zero-sum", "2", "built-in"],  # 2 ceil(3 * 1.6) + 1
    ["sobel", "2 x 3x3", "bank: magnitude", "built-in"],
    ["kirsch", "8 x 3x3", "bank: max", "built-in"],
    ["compass", "8 x 3x3", "bank: stack", "built-in"],
    ["smooth_edges", "7x7", "0", "chain: zero-sum", "2", "built-in"],
]


def test_list_shows_every_builtin_with_size_verdict_rank_and_source():
    result = run("kernels", "list")
    assert_ok(result)
    rows = table_rows(result.stdout)
    assert rows["name"] == ["name", "size", "sum", "verdict", "rank", "source"]
    for expected in EXPECTED_ROWS:
        assert rows[expected[0]] == expected
    text = (Path(__file__).resolve().parent.parent / "kernels.toml").read_text(encoding="utf-8")
    names = [name for tables in tomllib.loads(text).values() for name in tables]
    for name in names:
        assert rows[name][-1] == "built-in", name
    assert len(rows) == len(names) + 1  # one row per entry, plus the header


def test_list_sums_and_verdicts_of_user_kernels(workdir):
    Path("mine.toml").write_text(
        "[kernels.double]\nweights = [[0, 2, 0]]\n\n"
        "[kernels.neg]\nweights = [[-1, -2], [-3, -4]]\n\n"
        "[kernels.third]\nweights = [[1, 1, 1]]\ndivisor = 3\n")
    result = run("kernels", "list", "--kernels", "mine.toml")
    assert_ok(result)
    rows = table_rows(result.stdout)
    assert rows["double"] == ["double", "1x3", "2", "sum 2", "1", "mine.toml"]
    assert rows["neg"] == ["neg", "2x2", "-10", "sum -10", "2", "mine.toml"]
    assert rows["third"] == ["third", "1x3", "1", "normalized", "1", "mine.toml"]


# ------------------------------------------------------------------------- sources and override order


@pytest.mark.parametrize(("user", "env", "cli", "factor", "source"), [
    (True, [], [], 0.25, "USER"),
    (True, ["env.toml"], [], 0.5, "env.toml (from CONVCLI_KERNELS)"),
    (False, ["env.toml", "env2.toml"], [], 0.75, "env2.toml (from CONVCLI_KERNELS)"),
    (True, ["env.toml"], ["cli.toml"], 1.25, "cli.toml"),
    (True, [], ["cli.toml"], 1.25, "cli.toml"),
    (True, ["env.toml", "env2.toml"], ["cli2.toml", "cli.toml"], 1.25, "cli.toml"),
    (False, [], ["cli.toml", "cli2.toml"], 0.5, "cli2.toml"),
], ids=["user", "user+env", "env+env2", "user+env+cli", "user+cli", "everything", "cli+cli2"])
def test_the_last_source_wins_in_list_and_apply(workdir, monkeypatch, user, env, cli, factor, source):
    # Each source multiplies by its own factor: user 1/4, env 1/2, env2 3/4, cli 5/4, cli2 1/2.
    config = user_config_file(workdir)
    if user:
        config.parent.mkdir(parents=True)
        config.write_text(probe(0.25, "\n[kernels.from_user]\nweights = [[1]]\n\n[kernels.edge]\nweights = [[1]]\n"))
    Path("env.toml").write_text(probe(0.5))
    Path("env2.toml").write_text(probe(0.75))
    Path("cli.toml").write_text(probe(1.25))
    Path("cli2.toml").write_text(probe(0.5))
    if env:
        monkeypatch.setenv("CONVCLI_KERNELS", os.pathsep.join(env))
    options = [arg for path in cli for arg in ("--kernels", path)]
    source = str(config) if source == "USER" else source

    result = run("kernels", "list", *options)
    assert_ok(result)
    rows = table_rows(result.stdout)
    assert rows["probe"] == ["probe", "1x1", f"{factor:g}", "normalized" if factor == 1 else f"sum {factor:g}",
                             "1", source]
    if user:  # kernels defined only in an earlier source keep it; the user file overrides a built-in
        assert rows["from_user"][-1] == str(config)
        assert rows["edge"] == ["edge", "1x1", "1", "normalized", "1", str(config)]
    else:
        assert "from_user" not in rows
        assert rows["edge"][-1] == "built-in"

    pixels = gray_pixels()
    save_gray("a.png", pixels)
    result = run("apply", "a.png", "-k", "probe", "-o", "out.png", *options)
    assert result.exit_code == 0, result.output
    expected = np.minimum(np.rint(factor * pixels), 255)
    np.testing.assert_array_equal(read_pixels("out.png"), expected)
    assert read_pixels("out.png")[3, 4] == min(255, factor * int(pixels[3, 4]))


def test_user_file_follows_xdg_config_home(workdir, monkeypatch):
    elsewhere = workdir / "elsewhere"
    (elsewhere / "convcli").mkdir(parents=True)
    (elsewhere / "convcli" / "kernels.toml").write_text(probe(0.5))
    assert "probe" not in table_rows(run("kernels", "list").stdout)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(elsewhere))
    result = run("kernels", "list")
    assert_ok(result)
    assert table_rows(result.stdout)["probe"][-1] == str(elsewhere / "convcli" / "kernels.toml")


def test_empty_entries_in_convcli_kernels_are_skipped(monkeypatch):
    Path("env.toml").write_text(probe(0.5))
    monkeypatch.setenv("CONVCLI_KERNELS", os.pathsep + "env.toml" + os.pathsep)
    result = run("kernels", "list")
    assert_ok(result)
    assert table_rows(result.stdout)["probe"][-1] == "env.toml (from CONVCLI_KERNELS)"


def test_missing_file_in_convcli_kernels(monkeypatch):
    monkeypatch.setenv("CONVCLI_KERNELS", "missing.toml")
    assert_errors(run("kernels", "list"), "missing.toml (from CONVCLI_KERNELS): no such kernel file")


def test_broken_user_file_is_named(workdir):
    config = user_config_file(workdir)
    config.parent.mkdir(parents=True)
    config.write_text("[kernels.k]\nweights = [[1, 2], [3]]\n")
    assert_errors(run("kernels", "list"), f"{config}: kernel 'k': weights: row 2 has 1 values, row 1 has 2")


def test_tab_completes_the_builtins_when_a_user_file_is_malformed(workdir, monkeypatch, capsys):
    from convcli.cli.options import complete_kernel

    Path("env.toml").write_text(probe(0.5, "\n[kernels.sobel_mine]\nweights = [[1]]\n"))
    monkeypatch.setenv("CONVCLI_KERNELS", "env.toml")
    assert complete_kernel("sob") == ["sobel_x", "sobel_y", "sobel", "sobel_mine"]
    Path("env.toml").write_text("[kernels.sobel_mine]\nweights = [[1, 2], [3]]\n")
    assert complete_kernel("sob") == ["sobel_x", "sobel_y", "sobel"]
    monkeypatch.setenv("CONVCLI_KERNELS", "missing.toml")
    assert complete_kernel("gaus") == ["gaussian3", "gaussian5", "gaussian7", "gaussian:"]
    assert capsys.readouterr() == ("", "")  # nothing printed over the user's command line


# -------------------------------------------------------------------------------------- kernels show


def test_show_a_kernel():
    result = run("kernels", "show", "sobel_x")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[0].startswith("sobel_x  ") and out[0].endswith("(built-in)")
    assert out[1] == "3x3, zero-sum, separable; anchor underlined"
    [shown] = matrices(result.stdout)
    assert_shown(shown, SOBEL_X)


def test_show_a_kernel_with_bias_and_map():
    result = run("kernels", "show", "outline")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[1] == "3x3, zero-sum, rank 2; anchor underlined"
    assert out[-1] == "bias 1, map clip"
    assert_shown(matrices(result.stdout)[0], np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]]))


def test_show_a_bank():
    result = run("kernels", "show", "sobel")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[0].startswith("sobel  ") and out[0].endswith("(built-in)")
    assert out[1] == "bank of 2, combined by magnitude"
    assert "sobel_x: 3x3, zero-sum, separable; anchor underlined" in out
    assert "sobel_y: 3x3, zero-sum, separable; anchor underlined" in out
    shown = matrices(result.stdout)
    assert len(shown) == 2
    assert_shown(shown[0], SOBEL_X)
    assert_shown(shown[1], SOBEL_Y)


def test_show_a_bank_without_combine():
    result = run("kernels", "show", "emboss4")
    assert_ok(result)
    assert lines(result.stdout)[1] == "bank of 4, one map each"
    assert len(matrices(result.stdout)) == 4


def test_show_a_builtin_chain_and_its_folded_matrix():
    result = run("kernels", "show", "smooth_edges")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[1] == "chain of 2, applied in this order"
    assert "gaussian5: 5x5, normalized, separable; anchor underlined" in out
    assert "laplacian: 3x3, zero-sum, rank 2; anchor underlined" in out
    folded = convolve2d(GAUSSIAN5, LAPLACIAN, mode="full")  # correlating twice = one full convolution
    assert np.linalg.matrix_rank(folded) == 2
    assert "folded at stride 1: 7x7, zero-sum, rank 2; anchor underlined" in out
    shown = matrices(result.stdout)
    assert len(shown) == 3
    assert_shown(shown[0], GAUSSIAN5)
    assert_shown(shown[1], LAPLACIAN)
    assert_shown(shown[2], folded)


def test_show_an_asymmetric_user_chain_folds_in_order():
    Path("chain.toml").write_text(
        "[kernels.ramp]\nweights = [[1, 2, 4]]\n\n"
        "[kernels.right]\nweights = [[0, 0, 1]]\n\n"
        '[chains.ramp_right]\nkernels = ["ramp", "right"]\n')
    result = run("kernels", "show", "ramp_right", "--kernels", "chain.toml")
    assert_ok(result)
    # ramp: a[x] = in[x-1] + 2 in[x] + 4 in[x+1]; right: b[x] = a[x+1] = in[x] + 2 in[x+1] + 4 in[x+2],
    # a 1x5 correlation centred on its middle tap.
    [folded] = [line for line in lines(result.stdout) if line.startswith("folded at stride 1: ")]
    assert folded.startswith("folded at stride 1: 1x5, sum 7")  # the verdict of a sum that is not 0 or 1
    assert folded.endswith(", separable; anchor underlined")
    assert_shown(matrices(result.stdout)[-1], np.array([[0, 0, 1, 2, 4]]))


def test_show_a_generator_call():
    result = run("kernels", "show", "gaussian:size=5,sigma=1")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[0].startswith("gaussian-size5-sigma1  ")
    assert out[0].endswith("(generator 'gaussian:size=5,sigma=1')")
    assert out[1] == "5x5, normalized, separable; anchor underlined"
    y, x = np.mgrid[-2:3, -2:3]
    g = np.exp(-(x**2 + y**2) / 2.0)
    assert_shown(matrices(result.stdout)[0], g / g.sum())


def test_show_a_motion_generator_call():
    result = run("kernels", "show", "motion:length=5,angle=90")
    assert_ok(result)
    assert lines(result.stdout)[1] == "5x1, normalized, separable; anchor underlined"
    assert_shown(matrices(result.stdout)[0], np.full((5, 1), 0.2))


def test_show_an_inline_matrix():
    result = run("kernels", "show", "0,-1,0; -1,5,-1; 0,-1,0")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[0].startswith("inline1 ") and out[0].endswith("(inline kernel '0,-1,0; -1,5,-1; 0,-1,0')")
    assert out[1] == "3x3, normalized, rank 2; anchor underlined"
    assert_shown(matrices(result.stdout)[0], np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]))


def test_show_a_user_kernel_overriding_a_builtin():
    Path("mine.toml").write_text('[kernels.edge]\ndescription = "mine"\nweights = [[0, 0], [0, 3]]\n')
    result = run("kernels", "show", "edge", "--kernels", "mine.toml")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[0] == "edge  mine  (mine.toml)"
    assert out[1].startswith("2x2, sum 3") and out[1].endswith(", separable; anchor underlined")
    assert_shown(matrices(result.stdout)[0], np.array([[0, 0], [0, 3]]))


@pytest.mark.parametrize(("name", "message"), [
    ("edgee", "unknown kernel 'edgee' (did you mean 'edge'?)"),
    ("sobel_xx", "unknown kernel 'sobel_xx' (did you mean 'sobel_x'?)"),
    ("xyzzy", "unknown kernel 'xyzzy'; 'convcli kernels list' shows them all"),
    ("gausian:sigma=2", "kernel 'gausian:sigma=2': unknown generator 'gausian' (did you mean 'gaussian'?)"),
    ("gaussian:size=4", "kernel 'gaussian:size=4': size must be an odd whole number, got 4.0"),
])
def test_show_unknown_names(name, message):
    assert_errors(run("kernels", "show", name), message)


def test_show_a_generator_too_large_to_build():
    result = run("kernels", "show", "gaussian:sigma=1e9")
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    [error] = lines(result.stderr)
    assert error.startswith("Error: kernel 'gaussian:sigma=1e9': ")
    assert error.endswith("larger than the limit of 1025")


# ------------------------------------------------------------------------------------- kernels check

GOOD = """\
[kernels.shake]
generator = "motion"
length = 5
angle = 90

[kernels.edge]
weights = [[0, 0, 0], [0, 2, 0], [0, 0, 0]]

[banks.both]
kernels = ["shake", "sobel_x"]

[chains.twice]
kernels = ["shake", "shake"]
"""

BAD = """\
[kernels.wobbly]
weights = [[1, 2, 3], [4, 5]]

[kernels.mystery]
generator = "gausian"

[kernels.zero]
weights = [[1, 2], [3, 4]]
divisor = 0

[kernels.fine]
weights = [[1, 0], [0, -1]]

[banks.pair]
kernels = ["fine", "sobel_xx"]

[chains.loop]
kernels = ["fine", "loop"]

[chains.banked]
kernels = ["fine", "sobel"]
"""


def test_check_a_good_file():
    Path("good.toml").write_text(GOOD)
    result = run("kernels", "check", "good.toml")
    assert_ok(result)
    rows = table_rows(result.stdout)
    assert "good.toml: 4 entries, no problems" in rows
    assert rows["shake"] == ["shake", "5x1", "1", "normalized", "1", "good.toml"]
    assert rows["edge"] == ["edge", "3x3", "2", "sum 2", "1", "good.toml"]
    assert rows["both"] == ["both", "2 kernels", "bank: stack", "good.toml"]
    assert rows["twice"] == ["twice", "9x1", "1", "chain: normalized", "1", "good.toml"]
    assert "sobel_x" not in rows  # only the file's own entries


def test_check_reports_every_problem_at_once():
    Path("bad.toml").write_text(BAD)
    assert_errors(
        run("kernels", "check", "bad.toml"),
        "bad.toml: kernel 'wobbly': weights: row 2 has 2 values, row 1 has 3",
        "bad.toml: kernel 'mystery': generator: unknown generator 'gausian' (did you mean 'gaussian'?)",
        "bad.toml: kernel 'zero': divisor must not be 0",
        "bad.toml: bank 'pair': kernels: unknown kernel 'sobel_xx' (did you mean 'sobel_x'?)",
        "bad.toml: chain 'loop': kernels: 'loop' refers back to itself",
        "bad.toml: chain 'banked': kernels: 'sobel' is a bank; a chain is made of kernels and chains",
    )


def test_the_same_problems_stop_apply():
    Path("bad.toml").write_text(BAD)
    save_gray("a.png", gray_pixels())
    result = run("apply", "a.png", "-k", "blur", "--kernels", "bad.toml", "-o", "out.png")
    assert result.exit_code == 2
    assert len([line for line in lines(result.stderr) if line.startswith("Error: ")]) == 6
    assert not Path("out.png").exists()


def test_check_an_unknown_generator_with_parameters_is_one_problem():
    """Its parameters are not reported as unknown keys as well."""
    Path("bad.toml").write_text('[kernels.mystery]\ngenerator = "gausian"\nsigma = 1.0\n')
    assert_errors(run("kernels", "check", "bad.toml"),
                  "bad.toml: kernel 'mystery': generator: unknown generator 'gausian' (did you mean 'gaussian'?)")


def test_check_a_file_that_is_not_toml():
    text = "[kernels.k]\nweights = = [[1]]\n"
    Path("bad.toml").write_text(text)
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    assert "line 2, column" in str(caught.value)
    assert_errors(run("kernels", "check", "bad.toml"), f"bad.toml: not valid TOML: {caught.value}")
    assert_errors(run("kernels", "list", "--kernels", "bad.toml"), f"bad.toml: not valid TOML: {caught.value}")


def test_check_a_missing_file():
    result = run("kernels", "check", "missing.toml")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "missing.toml" in clean(result.stderr)


# ------------------------------------------------------------------------------ libvips .mat matrices


def test_apply_a_mat_file_with_scale_and_offset():
    pixels = gray_pixels()
    save_gray("a.png", pixels)
    # W H scale offset, then the rows: an asymmetric kernel summing to the scale, so a flip would show
    Path("tilt.mat").write_text("3 3 8 32\n1 2 0\n0 0 4\n0 0 1\n")
    weights = np.array([[1, 2, 0], [0, 0, 4], [0, 0, 1]]) / 8
    result = run("apply", "a.png", "-k", "tilt.mat", "-o", "out.png")
    assert result.exit_code == 0, result.output
    # libvips: sum / scale + offset, the offset in 8-bit units
    values = correlate2d(pixels / 255.0, weights, mode="same", boundary="symm") + 32 / 255
    expected = np.rint(np.clip(values, 0, 1) * 255)
    out = read_pixels("out.png")
    assert np.max(np.abs(out - expected)) <= 1
    y, x = 4, 5
    pixels = pixels.astype(np.int64)
    by_hand = (pixels[y - 1, x - 1] + 2 * pixels[y - 1, x] + 4 * pixels[y, x + 1] + pixels[y + 1, x + 1]) / 8 + 32
    assert abs(out[y, x] - by_hand) <= 0.5


def test_show_a_mat_file():
    Path("cross.mat").write_text("3 3 4\n0 1 0\n1 0 1\n0 1 0\n")
    result = run("kernels", "show", "cross.mat")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[0].startswith("cross ") and out[0].endswith("(cross.mat)")
    assert out[1] == "3x3, normalized, rank 2; anchor underlined"
    assert_shown(matrices(result.stdout)[0], np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]) / 4)


@pytest.mark.parametrize(("text", "message"), [
    ("hello\n", "not a matrix file: expected 'W H [scale [offset]]' then rows of numbers"),
    ("", "not a matrix file: expected 'W H [scale [offset]]' then rows of numbers"),
    ("2 2\n1 x\n3 4\n", "not a matrix file: expected 'W H [scale [offset]]' then rows of numbers"),
    ("3 3\n1 2 3\n4 5 6\n", "the header says 3 rows, the file holds 2"),
    ("2.5 1\n1 2\n", "the first line must be 'W H [scale [offset]]', got '2.5 1'"),
    ("1 1 1 1 1\n1\n", "the first line must be 'W H [scale [offset]]', got '1 1 1 1 1'"),
    ("3 3 0\n0 1 0\n1 0 1\n0 1 0\n", "scale must not be 0"),
])
def test_malformed_mat_file(text, message):
    save_gray("a.png", gray_pixels())
    Path("bad.mat").write_text(text)
    assert_errors(run("apply", "a.png", "-k", "bad.mat", "-o", "out.png"), f"bad.mat: {message}")
    assert not Path("out.png").exists()


def test_ragged_mat_file():
    save_gray("a.png", gray_pixels())
    Path("ragged.mat").write_text("3 2\n1 2 3\n4 5\n")
    result = run("apply", "a.png", "-k", "ragged.mat", "-o", "out.png")
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert lines(result.stderr) == ["Error: ragged.mat: row 2 has 2 values, the header says 3"]


def test_missing_mat_file():
    save_gray("a.png", gray_pixels())
    assert_errors(run("apply", "a.png", "-k", "nope.mat", "-o", "out.png"), "nope.mat: no such kernel file")


# ------------------------------------------------------------------- anchored kernels: sizes as given

ANCHORED = "[kernels.corner]\nweights = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nanchor = [0, 0]\n"


def test_list_shows_an_anchored_kernel_and_its_bank_at_their_sizes_as_given(workdir):
    Path("mine.toml").write_text(ANCHORED + '[banks.corners]\nkernels = ["corner", "corner", "corner", "corner"]\n')
    result = run("kernels", "list", "--kernels", "mine.toml")
    assert_ok(result)
    rows = table_rows(result.stdout)
    assert rows["corner"] == ["corner", "3x3", "45", "sum 45", "2", "mine.toml"]
    assert rows["corners"] == ["corners", "4 x 3x3", "bank: stack", "mine.toml"]


def test_export_writes_an_anchored_kernel_as_its_weights_as_given(workdir):
    result = run("kernels", "export", "3x3+0+0: 1,2,3,4,5,6,7,8,9", "--npy", "e.npy")
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [
        "wrote e.npy: 1 x 1 x 3 x 3 float32 (O x I x kh x kw, PyTorch's Conv2d weight layout): inline1"]
    assert lines(result.stderr) == [
        "note: 'inline1' is anchored at row 0, column 0, which the weights array cannot hold (Conv2d places a "
        "kernel by its size): it holds the weights as given"]
    np.testing.assert_array_equal(np.load("e.npy"), np.arange(1, 10).reshape(1, 1, 3, 3))


def test_show_a_layer_channel_gives_a_matrix_per_input_channel(workdir):
    np.save("layer.npy", np.arange(2 * 2 * 3 * 3, dtype=float).reshape(2, 2, 3, 3))
    result = run("kernels", "show", "layer.npy")
    assert_ok(result)
    out = lines(result.stdout)
    assert out[:2] == ["layer_0  output channel 0 of 2  (layer.npy)", "2 x 3x3, layer channel"]
    assert out.count("input channel 0") == 2 and out.count("input channel 1") == 2
    shown = matrices(result.stdout)
    assert len(shown) == 4
    assert_shown(shown[3], np.arange(27, 36).reshape(3, 3))
