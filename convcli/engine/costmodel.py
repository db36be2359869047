"""How long each engine path should take on a problem, and the machine calibration behind the figures.

The model counts the work each path does (array passes, matrix multiply-adds, transform points,
copies), prices each unit with a coefficient, and ``method="auto"`` takes the cheapest path. The
default coefficients were measured on a 2-core x86 machine; ``convcli bench --calibrate`` times each
path on this machine and stores one correction factor per path in a JSON file (see
:func:`calibration_path`), read once per process.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from convcli.engine import direct, fft, separable
from convcli.engine.geometry import AxisPlan, strips

if TYPE_CHECKING:
    from pathlib import Path

PATHS = ("direct", "separable", "fft", "gemm")
CALIBRATION_VERSION = 3  # 2: the direct path prices row products; 3: separable passes in small batched blocks


@dataclass(frozen=True)
class Coefficients:
    """Nanoseconds per unit of work on one core, and one correction factor per path.

    The defaults were fitted to runs on a 2-core AMD EPYC (Zen 3) with 12 MP float32 images, where for
    example a 3x3 kernel (17 array passes) took 62 ms and a 7x7 one (97 passes) 250 ms on two threads:
    a pass costs 0.13 ns per value per core, and storing a fresh output value 1.2 ns (page faults included).
    """

    pass_ns: float = 0.13  # one element-wise multiply or add over an output value, in cache
    flop_ns: float = 0.014  # one matrix-product flop (BLAS, one thread per core)
    # one transform point times log2(points), per real 2-D transform; 0.34 priced the 7x7 to 31x31 cases of
    # `convcli bench` 19-44% under their times, and chose fft for a 7x7 that direct ran 1.17x faster
    fft_ns: float = 0.42
    copy_ns: float = 0.5  # one strided element copy (im2col, transform buffers)
    store_ns: float = 1.2  # one output value written to fresh memory once computed
    call_us: float = 4.0  # one NumPy or BLAS call
    scale: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PATHS, 1.0))
    source: str = "default coefficients"


@dataclass(frozen=True)
class Problem:
    """What the cost model needs to know about one :func:`~convcli.engine.conv.conv2d` call."""

    rows: AxisPlan
    cols: AxisPlan
    channels: int
    bank: np.ndarray  # N x kh x kw, float64, already flipped for convolution
    itemsize: int
    factors: tuple[separable.Factors, ...] | None  # None: kernel values unknown (full rank assumed)
    workers: int
    strip_bytes: int  # the direct path's strip budget; the others' are multiples of it

    @property
    def outputs(self) -> int:
        """Output values per kernel (rows x cols x channels)."""
        return self.rows.count * self.cols.count * self.channels

    def budget(self, path: str) -> int:
        """Bytes per row strip for ``path`` (``rows``: the direct path by row products). On 12 MP images row
        products ran fastest with about 8 MB of products, and the separable passes (whose middle strip
        stays in cache between them) with 2 MB, as the taps; GEMM takes 8x."""
        return self.strip_bytes * {"direct": 1, "rows": 4, "separable": 1, "gemm": 8}[path]

    def strips(self, path: str, bytes_per_output: int) -> int:
        return len(strips(self.rows, self.cols, self.budget(path), bytes_per_output, full_width=path == "gemm",
                          pieces=path == "separable"))


#: The row products' matrices are skinny (a kernel's rows deep): they run at about a third of BLAS's rate.
ROWS_FLOP_FACTOR = 3


def _taps_ns(p: Problem, c: Coefficients) -> float:
    """Nanoseconds per output value (per core) of the direct path tap by tap."""
    return c.pass_ns * sum(direct.passes(kernel) for kernel in p.bank)


def _rows_ns(p: Problem, c: Coefficients) -> float:
    """Nanoseconds per output value (per core) of the direct path by row products: three passes per
    kernel (fitted to runs: storing the strip's products and reading them back), an add per used kernel
    column, and the products' multiply-adds."""
    kh = p.bank.shape[1]
    columns = sum(len(direct.used_columns(kernel)) for kernel in p.bank)
    return c.pass_ns * (3 * len(p.bank) + columns) + c.flop_ns * ROWS_FLOP_FACTOR * 2 * kh * columns


def direct_rows(p: Problem, coefficients: Coefficients | None = None) -> bool:
    """Whether the direct path sums by row products (see :mod:`convcli.engine.direct`): at column stride 1,
    when they cost less per output. Decided per output value, so that every band of an image decides the
    same and the bands' outputs are the whole image's bit for bit."""
    c = coefficients or load_coefficients()
    return p.cols.stride == 1 and _rows_ns(p, c) < _taps_ns(p, c)


def _direct_ms(p: Problem, c: Coefficients) -> float:
    rows = direct_rows(p, c)
    if rows:  # one product per strip, then an add per used kernel column
        columns = sum(len(direct.used_columns(k)) for k in p.bank)
        calls = 1 + columns
        tiles = p.strips("rows", max(1, columns) * p.channels * p.itemsize)
    else:
        calls = sum(direct.passes(k) for k in p.bank)
        tiles = p.strips("direct", p.channels * p.itemsize * p.rows.stride * p.cols.stride)
    per_output = (_rows_ns if rows else _taps_ns)(p, c) + c.store_ns * len(p.bank)
    work = per_output * p.outputs + c.call_us * 1e3 * tiles * (calls + 3)
    if p.cols.stride > 1:  # the blocks' column phases are copied first
        work += c.copy_ns * p.outputs * p.rows.stride * p.cols.stride
    return work / min(p.workers, tiles) * 1e-6


def _pass_ns(taps: np.ndarray, stride: int, dilation: int, channels: int, block: int, c: Coefficients) -> float:
    """Nanoseconds per output of one 1-D pass of the separable path."""
    if not separable.use_matrix(taps):
        return c.pass_ns
    length = (block - 1) * stride + (len(taps) - 1) * dilation + 1
    return c.flop_ns * 2 * length * channels


def _separable_ms(p: Problem, c: Coefficients) -> float:
    factors = p.factors or tuple(separable.Factors(np.ones((min(k.shape), k.shape[0])),
                                                   np.ones((min(k.shape), k.shape[1])), 0.0) for k in p.bank)
    rows, cols = p.rows, p.cols
    middle = rows.count * ((cols.count - 1) * cols.stride + cols.span + 1) * p.channels
    tiles = p.strips("separable", p.channels * p.itemsize)
    work = 0.0
    for f in factors:
        for t in range(f.rank):
            work += middle * _pass_ns(f.cols[t], rows.stride, rows.dilation, 1, separable.VERTICAL_BLOCK, c)
            work += p.outputs * _pass_ns(f.rows[t], cols.stride, cols.dilation, p.channels,
                                         separable.horizontal_block(p.channels), c)
            work += p.outputs * c.pass_ns * (t > 0)  # adding the term in
            # Calls: a product per strip down and up to three across (the lead, the whole blocks, the tail),
            # and building the matrices; inside each batched product BLAS is called once per block, at
            # about a tenth of a NumPy call.
            blocks = rows.count / separable.VERTICAL_BLOCK + tiles * cols.count / separable.horizontal_block(p.channels)
            work += c.call_us * 1e3 * (tiles * 6 + 10 + blocks / 10)
        work += p.outputs * c.store_ns
    return work / min(p.workers, tiles) * 1e-6


def _fft_ms(p: Problem, c: Coefficients) -> float:
    shape = fft.tile_shape(p.rows, p.cols, p.channels, p.itemsize)
    points = shape.fft_rows * shape.fft_cols
    tiles = shape.transforms(p.rows, p.cols)
    n = len(p.bank)
    parts = len(fft.phases(p.rows)) * len(fft.phases(p.cols))  # polyphase components (1 at stride 1)
    per_tile = (c.fft_ns * p.channels * (parts + n) * points * math.log2(max(points, 2))
                + c.copy_ns * points * p.channels * (parts + n * (1 + parts))
                + c.call_us * 1e3 * (3 * parts + (2 + 2 * parts) * n))
    setup = c.call_us * 1e3 * (20 + 5 * n) * parts  # the kernels' spectra
    return ((tiles * per_tile + c.store_ns * p.outputs * n) / min(p.workers, tiles) + setup) * 1e-6


def _gemm_ms(p: Problem, c: Coefficients) -> float:
    taps = int(np.count_nonzero(np.any(p.bank != 0, axis=0))) or 1
    n = len(p.bank)
    tiles = p.strips("gemm", taps * p.channels * p.itemsize)
    # A product with fewer than 16 kernels (rows) runs far below BLAS's peak rate: count it as 16.
    work = ((c.copy_ns * taps + c.flop_ns * 2 * max(n, 16) * taps + c.store_ns * n) * p.outputs
            + c.call_us * 1e3 * tiles * (3 * taps + 3))
    return work / min(p.workers, tiles) * 1e-6


_ESTIMATES = {"direct": _direct_ms, "separable": _separable_ms, "fft": _fft_ms, "gemm": _gemm_ms}


def estimates(problem: Problem, coefficients: Coefficients | None = None) -> dict[str, float]:
    """Estimated milliseconds for every path on ``problem`` (calibrated when a calibration is stored)."""
    c = coefficients or load_coefficients()
    return {path: float(_ESTIMATES[path](problem, c) * c.scale.get(path, 1.0)) for path in PATHS}


# --- the calibration store ----------------------------------------------------------------------------

def calibration_path() -> Path:
    """Where the calibration lives: ``$CONVCLI_CALIBRATION``, else the user's cache folder.

    ``$XDG_CACHE_HOME/convcli/calibration.json`` (default ``~/.cache``) on Linux,
    ``~/Library/Caches/convcli`` on macOS and ``%LOCALAPPDATA%\\convcli`` on Windows.
    """
    from pathlib import Path

    override = os.environ.get("CONVCLI_CALIBRATION")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "convcli" / "calibration.json"


@functools.cache
def load_coefficients() -> Coefficients:
    """The stored calibration, or the defaults when there is none (or it is unreadable or from another version)."""
    import json

    path = calibration_path()
    try:
        data = json.loads(path.read_text())
        scale = {name: float(data["scale"][name]) for name in PATHS}
        if data.get("version") != CALIBRATION_VERSION or not all(0 < v < 1e3 for v in scale.values()):
            return Coefficients()
    except (OSError, ValueError, KeyError, TypeError):
        return Coefficients()
    return dataclasses.replace(Coefficients(), scale=scale, source=f"calibrated {data.get('created', '')}".strip())


def save_calibration(scale: dict[str, float], details: dict) -> Path:
    """Store per-path correction factors (measured / modelled time) and forget the cached coefficients."""
    import json
    from datetime import UTC, datetime

    path = calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": CALIBRATION_VERSION, "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "scale": {name: round(scale[name], 4) for name in PATHS}, "details": details}
    path.write_text(json.dumps(data, indent=2) + "\n")
    load_coefficients.cache_clear()
    return path
