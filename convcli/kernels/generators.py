"""Kernels computed from a few parameters: ``gaussian:size=9,sigma=2`` on the command line, or
``generator = "gaussian"`` in a TOML table.

Where a generator takes a ``sigma`` and no ``size`` is given, the size is ``2 * ceil(3 * sigma) + 1``
(the kernel reaches three sigmas either side of its centre, 99.7% of a Gaussian), taken from the
largest sigma the kernel has. Sizes must be odd, so that the kernel has a true centre.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from convcli.errors import KernelError
from convcli.kernels.kernel import MAX_KERNEL_SIDE


def size_for_sigma(sigma: float) -> int:
    """The default side of a kernel with this sigma: ``2 * ceil(3 * sigma) + 1``.

    >>> size_for_sigma(1.0), size_for_sigma(2.0), size_for_sigma(0.5)
    (7, 13, 5)
    """
    return 2 * math.ceil(3 * sigma) + 1


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets from the centre: ``y`` grows downwards, ``x`` to the right."""
    half = (size - 1) / 2
    return np.mgrid[-half:half:size * 1j, -half:half:size * 1j]


def _gauss(size: int, sigma: float) -> np.ndarray:
    y, x = _grid(size)
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return g / g.sum()


def gaussian(size: int | None = None, sigma: float = 1.0) -> np.ndarray:
    """The sampled Gaussian ``exp(-(x² + y²) / 2σ²)``, normalised to sum 1."""
    return _gauss(size or size_for_sigma(sigma), sigma)


def box(size: int = 3) -> np.ndarray:
    """The mean of a ``size x size`` neighbourhood."""
    return np.full((size, size), 1.0 / (size * size))


def disk(radius: float = 2.0) -> np.ndarray:
    """A flat disc of ``radius`` pixels (a lens blur), normalised to sum 1; the side is ``2 floor(r) + 1``."""
    size = 2 * math.ceil(radius) + 1
    y, x = _grid(size)
    inside = (x * x + y * y <= radius * radius).astype(float)
    return trim(inside / inside.sum())


def laplacian_of_gaussian(sigma: float = 1.4, size: int | None = None) -> np.ndarray:
    """∇²G: negative at the centre, positive ring around it, shifted to sum exactly 0.

    ``(r² - 2σ²) / σ⁴ · exp(-r² / 2σ²)``, sampled; blobs of size about σ√2 respond most strongly.
    """
    size = size or size_for_sigma(sigma)
    y, x = _grid(size)
    r2 = x * x + y * y
    log = (r2 - 2 * sigma * sigma) / sigma**4 * np.exp(-r2 / (2 * sigma * sigma))
    return log - log.mean()


def difference_of_gaussians(sigma1: float = 1.0, sigma2: float = 1.6, size: int | None = None) -> np.ndarray:
    """``G(sigma1) - G(sigma2)``, each normalised first, so the sum is 0: a band-pass filter."""
    size = size or size_for_sigma(max(sigma1, sigma2))
    return _gauss(size, sigma1) - _gauss(size, sigma2)


def motion(length: float = 9.0, angle: float = 0.0) -> np.ndarray:
    """A line ``length`` pixels long through the centre, at ``angle`` degrees anticlockwise from the x axis.

    Drawn anti-aliased like MATLAB's ``fspecial("motion")``: each pixel weighs
    ``max(0, 1 - d)``, ``d`` its distance from the segment ``±(length - 1) / 2``, normalised to sum 1.
    ``motion:length=9`` is a row of nine equal taps. The kernel is the smallest odd-sided box around
    the centre that holds the line.
    """
    half = motion_half_side(length, angle)
    theta = math.radians(angle)
    ux, uy = math.cos(theta), math.sin(theta)  # direction, y up
    rows, x = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
    y = -rows  # image rows grow downwards
    along = np.clip(x * ux + y * uy, -(length - 1) / 2, (length - 1) / 2)
    distance = np.hypot(x - along * ux, y - along * uy)
    kernel = np.clip(1.0 - distance, 0.0, None)
    kernel[kernel < 1e-12] = 0.0
    return trim(kernel / kernel.sum())


def motion_half_side(length: float, angle: float) -> int:
    """Half the side of the box that holds a motion line (its anti-aliased edge included)."""
    theta = math.radians(angle)
    reach = max(abs(math.cos(theta)), abs(math.sin(theta))) * (length - 1) / 2
    return math.floor(reach + 1 - 1e-9)  # pixels closer than 1 to the segment lie within reach + 1


def trim(kernel: np.ndarray) -> np.ndarray:
    """Drop all-zero rows and columns in pairs from opposite edges, so the centre stays the centre.

    >>> trim(np.array([[0, 0, 0], [1, 2, 3], [0, 0, 0]])).tolist()
    [[1, 2, 3]]
    """
    while kernel.shape[0] > 2 and not kernel[0].any() and not kernel[-1].any():
        kernel = kernel[1:-1]
    while kernel.shape[1] > 2 and not kernel[:, 0].any() and not kernel[:, -1].any():
        kernel = kernel[:, 1:-1]
    return kernel


def unsharp(amount: float = 1.0, sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """Unsharp masking in one kernel: ``(1 + amount) δ - amount · G(sigma)``; sums to 1."""
    kernel = -amount * _gauss(size or size_for_sigma(sigma), sigma)
    centre = kernel.shape[0] // 2
    kernel[centre, centre] += 1 + amount
    return kernel


def gabor(theta: float = 0.0, sigma: float = 2.0, wavelength: float = 6.0, gamma: float = 0.5,
          psi: float = 0.0, size: int | None = None) -> np.ndarray:
    """A Gabor filter: a cosine wave of ``wavelength`` pixels across direction ``theta`` (degrees), under a
    Gaussian envelope of ``sigma`` (``gamma`` squeezes it along the stripes), made zero-mean.

    ``exp(-(x'² + γ² y'²) / 2σ²) · cos(2π x' / λ + ψ)`` with ``x' = x cos θ + y sin θ``,
    ``y' = -x sin θ + y cos θ`` (``y`` up, ``θ`` anticlockwise). The default size comes from
    ``sigma / gamma``, the longer axis.
    """
    size = size or size_for_sigma(sigma / min(gamma, 1.0))
    rows, x = _grid(size)
    y = -rows
    t = math.radians(theta)
    xr = x * math.cos(t) + y * math.sin(t)
    yr = -x * math.sin(t) + y * math.cos(t)
    kernel = np.exp(-(xr**2 + gamma**2 * yr**2) / (2 * sigma**2)) * np.cos(2 * math.pi * xr / wavelength
                                                                            + math.radians(psi))
    return kernel - kernel.mean()


@dataclass(frozen=True)
class Generator:
    """A kernel generator and the parameters it takes, with their checks."""

    name: str
    function: Callable[..., np.ndarray]
    parameters: tuple[str, ...]
    positive: tuple[str, ...] = ()  # parameters that must be > 0
    odd_sizes: tuple[str, ...] = ("size",)
    aliases: dict | None = None  # other spellings of a parameter (lambda -> wavelength)
    # The kernel's side for these parameters, checked against the limit before the kernel is built.
    side: Callable[[dict], float] = field(kw_only=True)


def _sigma_side(*sigmas: str, default: float, factor: Callable[[dict], float] = lambda v: 1.0):
    """The side from ``size``, else from the largest of ``sigmas`` (with their defaults)."""
    return lambda v: v.get("size") or size_for_sigma(max(v.get(name, default) for name in sigmas) * factor(v))


GENERATORS: dict[str, Generator] = {
    g.name: g for g in (
        Generator("gaussian", gaussian, ("size", "sigma"), positive=("size", "sigma"),
                  side=_sigma_side("sigma", default=1.0)),
        Generator("box", box, ("size",), positive=("size",), side=lambda v: v.get("size", 3)),
        Generator("disk", disk, ("radius",), positive=("radius",), odd_sizes=(),
                  side=lambda v: 2 * math.floor(v.get("radius", 2.0)) + 1),
        Generator("laplacian_of_gaussian", laplacian_of_gaussian, ("sigma", "size"), positive=("size", "sigma"),
                  side=_sigma_side("sigma", default=1.4)),
        Generator("difference_of_gaussians", difference_of_gaussians, ("sigma1", "sigma2", "size"),
                  positive=("sigma1", "sigma2", "size"), side=lambda v: v.get("size") or size_for_sigma(
                      max(v.get("sigma1", 1.0), v.get("sigma2", 1.6)))),
        Generator("motion", motion, ("length", "angle"), positive=("length",), odd_sizes=(),
                  side=lambda v: 2 * motion_half_side(v.get("length", 9.0), v.get("angle", 0.0)) + 1),
        Generator("unsharp", unsharp, ("amount", "sigma", "size"), positive=("sigma", "size"),
                  side=_sigma_side("sigma", default=1.0)),
        Generator("gabor", gabor, ("theta", "sigma", "wavelength", "gamma", "psi", "size"),
                  positive=("sigma", "wavelength", "gamma", "size"), aliases={"lambda": "wavelength"},
                  side=_sigma_side("sigma", default=2.0, factor=lambda v: 1 / min(v.get("gamma", 0.5), 1.0))),
    )
}


def generate(name: str, params: dict, where: str) -> np.ndarray:
    """Run generator ``name`` with ``params``, checking names and values; errors start with ``where``."""
    import difflib

    if name not in GENERATORS:
        close = difflib.get_close_matches(name, list(GENERATORS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; generators: {', '.join(GENERATORS)}"
        raise KernelError(f"{where}: unknown generator '{name}'{hint}")
    generator = GENERATORS[name]
    values = {}
    for key, value in params.items():
        key = (generator.aliases or {}).get(key, key)
        if key not in generator.parameters:
            close = difflib.get_close_matches(key, generator.parameters, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; it takes {', '.join(generator.parameters)}"
            raise KernelError(f"{where}: {name} has no parameter '{key}'{hint}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 1023:
            raise KernelError(f"{where}: {key} is a number of {len(str(abs(value)))} digits, larger than floating "
                              "point holds")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise KernelError(f"{where}: {key} must be a finite number, got {value!r}")
        if key in generator.positive and value <= 0:
            raise KernelError(f"{where}: {key} must be > 0, got {value!r}")
        if key in generator.odd_sizes:
            if value != int(value) or int(value) % 2 == 0:
                raise KernelError(f"{where}: {key} must be an odd whole number, got {value!r}")
            if value > MAX_KERNEL_SIDE:
                raise KernelError(f"{where}: {key} {int(value)} is larger than the limit of {MAX_KERNEL_SIDE}")
            value = int(value)
        values[key] = value
    try:
        side = generator.side(values)
    except (OverflowError, ValueError):  # a sigma or a radius of 1e308: no side is that large
        side = math.inf
    if side > MAX_KERNEL_SIDE:
        across = f"{side:.0f} pixels across, larger" if side < 1e12 else "wider"
        raise KernelError(f"{where}: the kernel would be {across} than the limit of {MAX_KERNEL_SIDE}")
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            weights = generator.function(**values)
    except (FloatingPointError, OverflowError, ZeroDivisionError) as error:
        raise KernelError(f"{where}: these parameters take the weights out of floating point ({error})") from None
    if not np.all(np.isfinite(weights)):
        raise KernelError(f"{where}: these parameters give weights that are not finite")
    return weights


def parse_call(spec: str) -> tuple[str, dict]:
    """Split ``"gaussian:size=9,sigma=2"`` into ``("gaussian", {"size": 9.0, "sigma": 2.0})``."""
    name, _, arguments = spec.partition(":")
    params: dict = {}
    for item in filter(None, (part.strip() for part in arguments.split(","))):
        key, equals, text = item.partition("=")
        if not equals:
            raise KernelError(f"kernel {spec!r}: {item!r} is not key=value")
        if key.strip() in params:
            raise KernelError(f"kernel {spec!r}: {key.strip()} is given twice")
        try:
            params[key.strip()] = float(text)
        except ValueError:
            raise KernelError(f"kernel {spec!r}: {key.strip()} must be a number, got {text.strip()!r}") from None
    return name.strip(), params
