"""Timing convcli's engine against its peers on the same arrays, in one run, and calibrating the cost model.

Peers: ``scipy.ndimage.correlate`` and ``scipy.signal.fftconvolve`` / ``oaconvolve`` always; OpenCV
``cv2.filter2D`` and PyTorch ``conv2d`` when they are installed (never required). Every engine gets
the same float32 array and the same boundary mode, applied the fastest way it offers, and its result
is compared with convcli's, so a fast wrong answer cannot hide. Times are medians of repetitions;
the ratios are what to quote, as absolute times drift on shared machines.

This module measures and returns data (:class:`BenchResult`); ``convcli bench`` renders it.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from convcli import __version__
from convcli.engine import boundary as boundaries
from convcli.engine.boundary import SPELLINGS, resolve_boundary
from convcli.engine.conv import conv2d
from convcli.engine.plan import choose_method
from convcli.errors import ParameterError

PEERS = ("ndimage", "fftconvolve", "oaconvolve", "cv2", "torch")
#: Paths the cost model prices at over this many times the chosen one are not timed when forced.
FORCED_LIMIT = 4.0

_NDIMAGE, _CV2, _TORCH = (SPELLINGS[name] for name in ("scipy.ndimage", "cv2", "torch"))

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Case:
    """One benchmark: a kernel (or bank) applied to a random float32 image of ``shape``."""

    name: str
    shape: tuple[int, ...]
    kernel: np.ndarray = field(repr=False)

    @property
    def is_bank(self) -> bool:
        return self.kernel.ndim == 3


def gaussian(size: int, sigma: float) -> np.ndarray:
    """A normalised ``size x size`` Gaussian, built as the outer product of its 1-D profile."""
    profile = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    return np.outer(profile, profile) / profile.sum() ** 2


def default_cases(image: tuple[int, ...] = (3000, 4000, 3), bank_image: tuple[int, ...] = (2048, 2048),
                  seed: int = 0) -> list[Case]:
    """The benchmark cases: 3x3, 5x5, 7x7, 9x9, 15x15 and 31x31 random kernels and 7-tap and 31-tap
    Gaussians on a 12 MP RGB image, and a bank of 64 random 3x3 kernels on a 2048 x 2048 gray image."""
    rng = np.random.default_rng(seed)
    cases = [Case(f"{n}x{n} random", image, rng.standard_normal((n, n))) for n in (3, 5, 7, 9, 15, 31)]
    cases.append(Case("7x7 gaussian", image, gaussian(7, 1.2)))
    cases.append(Case("31x31 gaussian", image, gaussian(31, 5.0)))
    cases.append(Case("bank 64 x 3x3", bank_image, rng.standard_normal((64, 3, 3))))
    return cases


def parse_shape(text: str, name: str) -> tuple[int, ...]:
    """``"3000x4000x3"`` -> ``(3000, 4000, 3)``: two or three positive integers.

    >>> parse_shape("2048x2048", "size")
    (2048, 2048)
    """
    try:
        shape = tuple(int(part) for part in str(text).lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ParameterError(f"`{name}` must be H x W or H x W x C, such as 3000x4000x3; got {text!r}")
    return shape


def select_cases(cases: list[Case], names: list[str]) -> list[Case]:
    """The cases whose name contains any of ``names`` (all of them when ``names`` is empty)."""
    if not names:
        return cases
    chosen = [case for case in cases if any(n.lower() in case.name.lower() for n in names)]
    if not chosen:
        raise ParameterError(f"no case matches {', '.join(map(repr, names))}; the cases are "
                             f"{', '.join(case.name for case in cases)}")
    return chosen


@dataclass
class Timing:
    """One engine on one case: the median of ``runs`` timings, and how far its result is from convcli's."""

    engine: str
    ms: float
    runs: int
    max_diff: float | None = None  # largest |peer - convcli|
    note: str = ""


@dataclass
class CaseResult:
    """Every engine's timing on one case; ``timings[0]`` is convcli's."""

    name: str
    shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    path: str
    reason: str
    timings: list[Timing]
    #: convcli with each other path forced (``engine`` is the path), but for those the cost model prices
    #: at over :data:`FORCED_LIMIT` times the chosen one; ``timings[0]`` is the chosen path's time.
    forced: list[Timing] = field(default_factory=list)

    def speedup(self, timing: Timing) -> float:
        """How many times faster convcli ran than ``timing``'s engine."""
        return timing.ms / self.timings[0].ms

    @property
    def fastest(self) -> Timing:
        """The fastest path timed: the chosen one (as ``timings[0]``, named by its path) or a forced one."""
        chosen = Timing(self.path, self.timings[0].ms, self.timings[0].runs)
        return min([chosen, *self.forced], key=lambda timing: timing.ms)

    @property
    def choice_ratio(self) -> float:
        """The chosen path's time over the fastest path's: 1.0 when the cost model chose the fastest."""
        return self.timings[0].ms / self.fastest.ms

    def find(self, engine: str) -> Timing | None:
        return next((t for t in self.timings if t.engine == engine), None)


@dataclass
class Target:
    """One performance target: ``met`` is None when a peer it needs was not measured."""

    text: str
    met: bool | None
    detail: str


@dataclass
class BenchResult:
    """A whole ``convcli bench`` run."""

    cases: list[CaseResult]
    boundary: str
    repeat: int
    environment: dict[str, str]

    def targets(self) -> list[Target]:
        """The performance targets, checked against this run's ratios."""
        checks = []

        def check(case_name: str, engine: str, text: str, test: Callable[[float], bool]) -> None:
            case = next((c for c in self.cases if c.name == case_name), None)
            timing = case.find(engine) if case else None
            if case is None or timing is None:
                checks.append(Target(text, None, f"{engine} not measured"))
                return
            speedup = case.speedup(timing)
            checks.append(Target(text, test(speedup), f"convcli {speedup:.2f}x faster than {engine}"
                                 if speedup >= 1 else f"convcli {1 / speedup:.2f}x slower than {engine}"))

        check("3x3 random", "scipy.ndimage.correlate", "3x3: at least 3x faster than ndimage", lambda s: s >= 3)
        check("3x3 random", "cv2.filter2D", "3x3: within 2x of cv2.filter2D", lambda s: s >= 0.5)
        check("5x5 random", "cv2.filter2D", "5x5: within 3x of cv2.filter2D", lambda s: s >= 1 / 3)
        check("7x7 random", "cv2.filter2D", "7x7: within 3x of cv2.filter2D", lambda s: s >= 1 / 3)
        check("7x7 gaussian", "cv2.sepFilter2D", "7x7 gaussian: within 2x of cv2.sepFilter2D", lambda s: s >= 0.5)
        check("31x31 random", "cv2.filter2D", "31x31: faster than cv2.filter2D", lambda s: s > 1)
        check("31x31 random", "scipy.signal.oaconvolve", "31x31: faster than oaconvolve", lambda s: s > 1)
        check("31x31 gaussian", "cv2.filter2D", "31x31 gaussian: faster than cv2.filter2D", lambda s: s > 1)
        check("31x31 gaussian", "scipy.ndimage.correlate", "31x31 gaussian: at least 10x faster than ndimage",
              lambda s: s >= 10)
        check("bank 64 x 3x3", "cv2.filter2D", "bank of 64: faster than a cv2.filter2D loop", lambda s: s > 1)
        check("bank 64 x 3x3", "torch conv2d", "bank of 64: faster than torch conv2d", lambda s: s > 1)
        for case in self.cases:
            scipy_peers = [t for t in case.timings[1:] if t.engine.startswith("scipy.")]
            if scipy_peers:
                slowest_lead = min(case.speedup(t) for t in scipy_peers)
                checks.append(Target(f"{case.name}: faster than every scipy peer", slowest_lead > 1,
                                     f"convcli {slowest_lead:.2f}x the speed of the fastest"))
            fastest = case.fastest
            checks.append(Target(f"{case.name}: the cost model's path within 10% of the fastest",
                                 case.choice_ratio <= 1.10,
                                 f"chose {case.path}, fastest {fastest.engine}, {case.choice_ratio:.2f}x its time"))
        return checks

    def to_dict(self) -> dict:
        data = {"version": __version__, "boundary": self.boundary, "repeat": self.repeat,
                "environment": self.environment, "cases": [], "targets": [asdict(t) for t in self.targets()]}
        for case in self.cases:
            entry = asdict(case)
            for timing in entry["timings"]:
                timing["ms"] = round(timing["ms"], 3)
                timing["speedup"] = round(case.speedup(Timing(**{**timing, "ms": timing["ms"]})), 3)
            entry["shape"], entry["kernel_shape"] = list(case.shape), list(case.kernel_shape)
            data["cases"].append(entry)
        return data


def median_ms(run: Callable[[], object], repeat: int, max_seconds: float) -> tuple[float, int, object]:
    """The median time of up to ``repeat`` runs after a warm-up run, stopping once ``max_seconds`` are spent.

    The warm-up (imports, thread pools, the process's first touch of fresh memory) is not counted,
    unless it took over a second: then it is the first of the timed runs, so a slow engine runs once.
    """
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    times = [elapsed * 1e3] if elapsed > 1.0 else []
    spent = elapsed
    while len(times) < repeat and (not times or spent + elapsed <= max_seconds):
        started = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - started
        times.append(elapsed * 1e3)
        spent += elapsed
    return statistics.median(times), len(times), result


# One block per peer, each a closure over the case's kernel and padding; read top to bottom.
def _peers(case: Case, boundary: str, wanted: set[str]) -> Iterator[tuple[str, Callable, str]]:
    """``(engine, run(image) -> result shaped like convcli's, note)`` for each peer available."""
    kernel = case.kernel.astype(np.float32)
    bank = kernel if case.is_bank else kernel[None]
    kh, kw = bank.shape[1:]
    color = len(case.shape) == 3
    pads = [((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)] + [(0, 0)] * color

    def padded(x: np.ndarray) -> np.ndarray:
        return boundaries.pad(x, pads, boundary)

    def each(run_one: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        if case.is_bank:
            return lambda x: np.stack([run_one(x, k) for k in bank])
        return lambda x: run_one(x, bank[0])

    if "ndimage" in wanted:
        from scipy import ndimage

        mode = _NDIMAGE[boundary]
        yield ("scipy.ndimage.correlate",
               each(lambda x, k: ndimage.correlate(x, k[..., None] if color else k, mode=mode)),
               f"mode={mode}" + (", a loop over the bank" if case.is_bank else ""))
    for name in ("fftconvolve", "oaconvolve"):
        if name in wanted and not case.is_bank:
            from scipy import signal

            function = getattr(signal, name)
            flipped = bank[0][::-1, ::-1]
            taps = flipped[..., None] if color else flipped
            if boundary == "zero":  # scipy's own padding (the cases' kernels are odd, centred alike)
                yield (f"scipy.signal.{name}",
                       lambda x, function=function, taps=taps: function(x, taps, mode="same", axes=(0, 1)),
                       "mode=same")
            else:
                yield (f"scipy.signal.{name}",
                       lambda x, function=function, taps=taps: function(padded(x), taps, mode="valid", axes=(0, 1)),
                       "np.pad by the boundary mode, then mode=valid (pad timed)")
    if "cv2" in wanted and boundary in _CV2:
        try:
            import cv2
        except ImportError:
            pass
        else:
            border = getattr(cv2, _CV2[boundary])
            yield ("cv2.filter2D", each(lambda x, k: cv2.filter2D(x, -1, k, borderType=border)),
                   _CV2[boundary] + (", a loop over the bank" if case.is_bank else ""))
            if not case.is_bank and np.linalg.matrix_rank(bank[0].astype(np.float64), tol=1e-6) == 1:
                u, s, vt = np.linalg.svd(bank[0].astype(np.float64))
                col, row = (u[:, 0] * np.sqrt(s[0])).astype(np.float32), (vt[0] * np.sqrt(s[0])).astype(np.float32)
                yield ("cv2.sepFilter2D", lambda x: cv2.sepFilter2D(x, -1, row, col, borderType=border),
                       "the kernel's two 1-D factors")
    if "torch" in wanted:
        try:
            import torch
            import torch.nn.functional as functional
        except ImportError:
            return
        channels = case.shape[2] if color else 1
        # Every kernel on every channel on its own: grouped, output channel c * N + n.
        weights = torch.from_numpy(np.ascontiguousarray(bank))[:, None].repeat(channels, 1, 1, 1)
        native = boundary in _TORCH
        flat = [p for pair in reversed(pads[:2]) for p in pair]  # F.pad wants (left, right, top, bottom)

        def run_torch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                if native:
                    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 0)) if color else x[None])[None]
                    t = functional.pad(t, flat, mode=_TORCH[boundary])
                else:  # no symmetric padding in torch: numpy pads, torch correlates
                    p = padded(x)
                    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(p, -1, 0)) if color else p[None])[None]
                maps = functional.conv2d(t, weights, groups=channels)[0].numpy()
            maps = maps.reshape(channels, len(bank), *maps.shape[1:])  # C x N x H x W
            maps = np.moveaxis(maps, 0, -1) if color else maps[0]
            return maps if case.is_bank else maps[0]

        how = f"F.pad mode={_TORCH[boundary]}" if native else \
            "np.pad (torch has no symmetric padding), timed"
        yield "torch conv2d", run_torch, f"{how}, {torch.get_num_threads()} threads"


def available_peers() -> list[str]:
    """The peers that can run here (OpenCV and PyTorch are optional)."""
    import importlib.util

    return [p for p in PEERS if p not in ("cv2", "torch") or importlib.util.find_spec(p) is not None]


def run_bench(cases: list[Case] | None = None, *, repeat: int = 5, boundary: str = "symmetric",
              peers: list[str] | None = None, max_seconds: float = 30.0, seed: int = 0,
              progress: Progress | None = None) -> BenchResult:
    """Time convcli and each peer on every case, side by side on the same arrays.

    Parameters
    ----------
    cases : list of Case, optional
        Default: :func:`default_cases`.
    repeat : int
        Runs per engine and case; the median is kept.
    boundary : str
        The boundary mode every engine uses (default ``symmetric``, convcli's own default).
    peers : list of str, optional
        Some of :data:`PEERS`; default: every one installed.
    max_seconds : float
        A slow engine stops repeating once it has spent this long on a case (it always runs once).
    """
    boundary = resolve_boundary(boundary)
    if boundary == "constant":
        raise ParameterError("boundary constant is not benchmarked (its cval is spelled differently by each "
                             "peer); use zero")
    if repeat < 1:
        raise ParameterError(f"repeat must be an integer >= 1; got {repeat!r}")
    wanted = set(peers if peers is not None else available_peers())
    unknown = wanted - set(PEERS)
    if unknown:
        raise ParameterError(f"peers must be among {', '.join(PEERS)}; got {', '.join(sorted(unknown))}")
    cases = cases if cases is not None else default_cases(seed=seed)
    rng = np.random.default_rng(seed)
    images: dict[tuple[int, ...], np.ndarray] = {}
    results = []
    for case in cases:
        image = images.setdefault(case.shape, rng.random(case.shape, dtype=np.float32))
        choice = choose_method(case.shape, case.kernel, dtype=np.float32)
        if progress:
            progress(f"{case.name}: convcli ({choice.path})")
        ms, runs, ours = median_ms(lambda image=image, kernel=case.kernel: conv2d(image, kernel, boundary=boundary),
                                   repeat, max_seconds)
        timings = [Timing(f"convcli ({choice.path})", ms, runs)]
        for engine, run, note in _peers(case, boundary, wanted):
            if progress:
                progress(f"{case.name}: {engine}")
            ms, runs, theirs = median_ms(lambda run=run, image=image: run(image), repeat, max_seconds)
            diff = float(np.max(np.abs(np.asarray(theirs, dtype=np.float64) - ours)))
            timings.append(Timing(engine, ms, runs, diff, note))
        forced = []
        for path, estimate in choice.estimates.items():
            if path == choice.path or estimate > FORCED_LIMIT * choice.estimates[choice.path]:
                continue
            if progress:
                progress(f"{case.name}: convcli, {path} forced")
            ms, runs, _ = median_ms(lambda image=image, kernel=case.kernel, path=path: conv2d(
                image, kernel, boundary=boundary, method=path), repeat, max_seconds)
            forced.append(Timing(path, ms, runs))
        results.append(CaseResult(case.name, case.shape, case.kernel.shape, choice.path, choice.reason, timings,
                                  forced))
    return BenchResult(results, boundary, repeat, environment())


def environment() -> dict[str, str]:
    """Versions and machine facts that explain a run's figures."""
    import scipy

    from convcli.engine.threads import default_workers

    info = {"convcli": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "machine": platform.machine(), "processor": _cpu_name(),
            "cores": str(default_workers())}
    for module in ("cv2", "torch"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            pass
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
