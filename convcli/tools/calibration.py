"""Calibrating the cost model: each engine path timed on this machine, one correction factor per path stored.

``convcli bench --calibrate`` runs :func:`calibrate`; ``method="auto"`` uses the stored factors from then on
(see :func:`convcli.engine.costmodel.calibration_path`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

import numpy as np

from convcli.engine.conv import conv2d
from convcli.engine.plan import choose_method
from convcli.tools.bench import Progress, environment, gaussian, median_ms


@dataclass
class Calibration:
    """Per path: what the default cost model predicted, what it took, and the stored factor."""

    rows: list[tuple[str, str, float, float]]  # path, problem, predicted ms, measured ms
    scale: dict[str, float]
    path: str  # where it was stored


def _calibration_problems(seed: int) -> list[tuple[str, str, tuple[int, ...], np.ndarray]]:
    rng = np.random.default_rng(seed)
    photo = (1500, 2000, 3)
    return [
        ("direct", "3x3 random on 1500x2000x3", photo, rng.standard_normal((3, 3))),
        ("direct", "5x5 random on 1500x2000x3", photo, rng.standard_normal((5, 5))),
        ("separable", "31x31 gaussian on 1500x2000x3", photo, gaussian(31, 5.0)),
        ("separable", "9x9 gaussian on 1500x2000x3", photo, gaussian(9, 2.0)),
        ("fft", "31x31 random on 1500x2000x3", photo, rng.standard_normal((31, 31))),
        ("fft", "15x15 random on 1500x2000x3", photo, rng.standard_normal((15, 15))),
        ("gemm", "bank of 32 3x3 on 1024x1024", (1024, 1024), rng.standard_normal((32, 3, 3))),
    ]


def calibrate(*, repeat: int = 5, seed: int = 0, progress: Progress | None = None) -> Calibration:
    """Time each path on a few problems, store measured / predicted per path, and return the figures.

    The factor corrects the default cost model for this machine (its cores, caches, BLAS and FFT);
    ``method="auto"`` uses it from then on (see :func:`convcli.engine.costmodel.calibration_path`).
    """
    from convcli.engine import costmodel

    rng = np.random.default_rng(seed)
    rows, ratios = [], {name: [] for name in costmodel.PATHS}
    default = costmodel.Coefficients()
    for path, label, shape, kernel in _calibration_problems(seed):
        image = rng.random(shape, dtype=np.float32)
        if progress:
            progress(f"calibrating {path} on {shape} with a {'x'.join(map(str, kernel.shape))} kernel")
        predicted = choose_method(shape, kernel, method=path).estimates[path]
        predicted /= costmodel.load_coefficients().scale.get(path, 1.0)  # back to the default model
        conv2d(image, kernel, method=path)  # warm up: imports, first-touch memory
        measured, _, _ = median_ms(lambda image=image, kernel=kernel, path=path: conv2d(image, kernel, method=path),
                                   repeat, max_seconds=20.0)
        ratios[path].append(measured / predicted)
        rows.append((path, label, predicted, measured))
    scale = {name: math.exp(statistics.mean(math.log(r) for r in values)) if values else 1.0
             for name, values in ratios.items()}
    details = {"problems": [{"path": p, "predicted_ms": round(a, 3), "measured_ms": round(b, 3)}
                            for p, _, a, b in rows], "environment": environment(),
               "coefficients": {k: v for k, v in asdict(default).items() if k.endswith(("_ns", "_us"))}}
    stored = costmodel.save_calibration(scale, details)
    return Calibration(rows, scale, str(stored))
