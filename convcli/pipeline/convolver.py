"""The engine as one run uses it: its settings, the path of every call recorded, ``--verify`` applied.

Kernel entries apply themselves through a :class:`Convolver` (see
:class:`convcli.kernels.entry.Convolve`), so every 2-D correlation of a run, however an entry is
built, goes through one place that plans it once, records why its path was chosen, and checks it
against SciPy (:mod:`~convcli.engine.reference`) when asked.
"""

from __future__ import annotations

import time

import numpy as np

from convcli.engine.conv import check_image, execute, output_shape, working_dtype
from convcli.engine.plan import Choice, TileDependent, check_kernel, plan
from convcli.engine.settings import Settings
from convcli.errors import VerificationError


class Convolver:
    """:func:`convcli.conv2d` with a run's ``settings``; with ``verify`` every call is checked against
    SciPy. ``choices`` holds the path of every call, with the cost model's reason."""

    def __init__(self, settings: Settings, *, verify: bool = False, band_of: int | None = None,
                 band_first_row: int = 0):
        self.settings = settings
        self.verify = verify
        self.max_diff: float | None = 0.0 if verify else None
        self.verify_ms = 0.0
        self.choices: list[Choice] = []
        # A band's height -> the whole image's, for a band of rows (see :mod:`convcli.pipeline.bands`):
        # each call then runs the path the whole image would take; a chain stepping at a stride adds the
        # heights of its maps as it goes.
        self.heights: dict[int, int] | None = None if band_of is None else {}
        self._band_of = band_of
        # The whole image's output row that the first output row of a filter of the band's own rows is
        # (for the separable path, whose sums follow its blocks' places).
        self._band_first_row = band_first_row

    def __call__(self, image: np.ndarray, weights: np.ndarray, own_flip: bool = False) -> np.ndarray:
        settings = self.settings.flipped(own_flip)
        image, weights = check_image(image), check_kernel(weights)
        whole_shape = workers = None
        first_row: int | None = 0
        if self.heights is not None:
            if not self.heights:
                self.heights[image.shape[0]] = self._band_of
                self._band_rows = image.shape[0]
            if image.shape[0] not in self.heights:
                raise TileDependent(f"a map of {image.shape[0]} rows that the band did not lead to")
            whole_shape, workers = (self.heights[image.shape[0]], *image.shape[1:]), 1
        choice = plan(image.shape, weights, settings, working_dtype(image), whole_shape=whole_shape, workers=workers)
        if self.heights is not None:
            # Known for the band's own rows (at stride 1 a step keeps them); the separable path needs it.
            first_row = self._band_first_row if image.shape[0] == self._band_rows else None
            if first_row is None and choice.path == "separable":
                raise TileDependent("a separable step after a step that changed the band's rows")
        self.choices.append(choice)
        out = execute(image, weights, settings, choice, whole_shape=whole_shape, workers=workers, first_row=first_row)
        if self.heights is not None:
            whole_rows = output_shape(whole_shape, weights.shape[-2:], stride=settings.stride, padding=settings.padding,
                                      dilation=settings.dilation)[0]
            self.heights[choice.problem.rows.count] = whole_rows
        if self.verify:
            self._check(image, weights, settings, out)
        return out

    def _check(self, image: np.ndarray, weights: np.ndarray, settings: Settings, out: np.ndarray) -> None:
        from dataclasses import asdict

        from convcli.engine.reference import reference_conv2d

        started = time.perf_counter()
        options = {k: v for k, v in asdict(settings).items() if k != "method"}
        reference = reference_conv2d(image, weights, **options)
        finite = np.isfinite(reference)
        if not np.array_equal(np.isfinite(out), finite) or not np.array_equal(out[~finite], reference[~finite],
                                                                              equal_nan=True):
            raise VerificationError("its missing (non-finite) outputs are not those the SciPy reference gives")
        diff = float(np.max(np.abs(out[finite] - reference[finite]), initial=0.0))
        # float32 sums of many taps: allow a few ulps of the largest possible |sum|.
        values = np.abs(image[np.isfinite(image)]) if image.dtype.kind == "f" else np.abs(image)
        scale = float(np.abs(weights).sum() * max(1.0, float(np.max(values, initial=0.0))))
        tolerance = scale * (1e-5 if out.dtype == np.float32 else 1e-12)
        if not diff <= tolerance:
            raise VerificationError(f"result differs from the SciPy reference by {diff:.3g} "
                                    f"(tolerance {tolerance:.3g})")
        self.max_diff = max(self.max_diff, diff)
        self.verify_ms += (time.perf_counter() - started) * 1e3
