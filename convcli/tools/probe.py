"""A single bright pixel through the engine: what a kernel does, stride, dilation and anchor included.

The response of a linear filter to an impulse (one pixel at 1 on a black canvas) is the filter
itself, laid out around the impulse. For a correlation (convcli's default, as in PyTorch and
OpenCV) output ``(y, x)`` reads input ``(y + i - ai, x + j - aj)``, so the impulse at ``(c, c)``
reaches output ``(c - (i - ai), c - (j - aj))``: the response is the kernel turned 180 degrees about
its anchor. True convolution (``flip``) reads the kernel the other way round and its response is
the kernel as written. :func:`probe` runs :func:`convcli.conv2d` on such a canvas with the given
settings and measures which of the two came out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convcli.engine.conv import conv2d
from convcli.engine.geometry import plan_axis
from convcli.engine.settings import positive_int, resolve_padding
from convcli.errors import ParameterError
from convcli.kernels.entry import Entry
from convcli.kernels.kernel import Kernel

__all__ = ["MAX_CANVAS", "Probe", "parse_point", "probe", "probe_entries"]

#: Largest canvas side accepted: the response is printed as a table.
MAX_CANVAS = 512


@dataclass(frozen=True, eq=False)
class Probe:
    """An impulse response: the canvas, where the impulse sat, and what came out.

    ``response[y, x]`` is the output anchored on input ``(rows[y], cols[x])``; ``reads`` is what the
    response shows, measured at stride 1: ``"mirrored"`` (the kernel turned 180 degrees, a
    correlation), ``"as written"`` (a true convolution), ``"symmetric"`` (the kernel equals its own
    turn, so both agree) or ``"other"`` (neither: a bug).
    """

    kernel: Kernel
    flip: bool  # true convolution ran: the run's flip xor the kernel's own
    stride: int
    padding: str | int
    boundary: str
    dilation: int
    canvas: tuple[int, int]
    impulse: tuple[int, int]
    response: np.ndarray
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    reads: str
    taps_seen: int  # kernel taps that land on an output position (all of them at stride 1)
    note: str = ""

    @property
    def convention(self) -> str:
        return "convolution" if self.flip else "correlation"

    @property
    def anchor(self) -> tuple[int, int]:
        """The kernel's anchor as written: ``((kh - 1) // 2, (kw - 1) // 2)``."""
        kh, kw = self.kernel.shape
        return (kh - 1) // 2, (kw - 1) // 2

    @property
    def anchor_value(self) -> float:
        """``k[ai, aj]``: what the output on the impulse itself receives, flipped or not."""
        return float(self.kernel.weights[self.anchor])

    @property
    def footprint(self) -> tuple[int, int]:
        """Input pixels the dilated kernel spans: ``(d(kh - 1) + 1, d(kw - 1) + 1)``."""
        kh, kw = self.kernel.shape
        return self.dilation * (kh - 1) + 1, self.dilation * (kw - 1) + 1

    @property
    def impulse_cell(self) -> tuple[int, int] | None:
        """The index into ``response`` of the output anchored on the impulse, or None when none is."""
        y, x = self.impulse
        if y in self.rows and x in self.cols:
            return self.rows.index(y), self.cols.index(x)
        return None


def _place(taps: int, anchor: int, *, stride: int, dilation: int, padding: str | int,
           length: int | None, at: int | None) -> tuple[int, int]:
    """Canvas length and impulse position along one axis.

    By default the impulse sits on an output position with ``reach + 1`` black pixels on either side,
    where ``reach = d(k - 1)``: every output that sees it is printed and no boundary mode can fold a
    copy of it back in (with an integer padding wider than the reach, a reflection may show, as it would
    on an image).
    """
    if length is not None:
        position = (length - 1) // 2 if at is None else at
        if not 0 <= position < length:
            raise ParameterError(f"at must lie inside the canvas (0 .. {length - 1}); got {position}")
        return length, position
    reach = dilation * (taps - 1)
    start = plan_axis(1, taps, anchor=anchor, stride=stride, dilation=dilation, padding=padding).start
    position = reach + 1
    position += (start - position) % stride  # on the output grid: start + y * stride
    return position + reach + 2, position


# Half of it is the numpydoc docstring with doctests; the rest reads the response back tap by tap.
def probe(kernel: Kernel, *, stride: int = 1, padding: str | int = "same", boundary: str = "zero",
          cval: float = 0.0, dilation: int = 1, flip: bool = False, canvas: tuple[int, int] | None = None,
          at: tuple[int, int] | None = None, method: str = "direct") -> Probe:
    """Run a 1.0 impulse on a black canvas through :func:`convcli.conv2d` with these settings.

    Parameters
    ----------
    kernel : Kernel
        What to probe (a folded chain, too: see :func:`probe_entries`). The kernel's ``bias`` is not added.
    stride, padding, boundary, cval, dilation, flip, method
        As in :func:`convcli.conv2d`; ``flip`` combines with the kernel's own ``flip``. The default
        ``direct`` path sums exactly on an impulse (the FFT path would leave round-off in the zeros).
    canvas : (int, int), optional
        Canvas height and width; by default the smallest that shows the whole response with a black
        margin, with the impulse on an output position.
    at : (int, int), optional
        Where the impulse sits on a given canvas (default: its centre).

    Examples
    --------
    >>> result = probe(Kernel("ramp", [[1, 2, 3]]))
    >>> result.response[result.impulse_cell[0]].tolist(), result.reads   # the impulse's row
    ([0.0, 0.0, 3.0, 2.0, 1.0, 0.0, 0.0], 'mirrored')
    >>> probe(Kernel("ramp", [[1, 2, 3]]), flip=True).response[1].tolist()
    [0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0]
    """
    stride, dilation = positive_int("stride", stride), positive_int("dilation", dilation)
    padding = resolve_padding(padding)
    flipped = flip != kernel.flip
    weights = kernel.weights
    kh, kw = weights.shape
    anchors = [(k - 1) // 2 for k in (kh, kw)]
    if flipped:  # true convolution is correlation with the mirrored kernel about the mirrored anchor
        anchors = [k - 1 - a for k, a in zip((kh, kw), anchors)]
    if canvas is not None:
        for side in canvas:
            if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_CANVAS:
                raise ParameterError(f"canvas sides must be integers from 1 to {MAX_CANVAS}; got {canvas!r}")
    elif at is not None:
        raise ParameterError("`at` needs a `canvas` size")
    places = [_place(k, a, stride=stride, dilation=dilation, padding=padding,
                     length=None if canvas is None else canvas[axis], at=None if at is None else at[axis])
              for axis, (k, a) in enumerate(zip((kh, kw), anchors))]
    (height, cy), (width, cx) = places
    if max(height, width) > MAX_CANVAS:
        raise ParameterError(f"the {kh}x{kw} kernel at dilation {dilation} needs a {height}x{width} canvas, more than "
                             f"{MAX_CANVAS} on a side: too large to print as a table")
    image = np.zeros((height, width))
    image[cy, cx] = 1.0
    response = conv2d(image, weights, stride=stride, padding=padding, boundary=boundary, cval=cval,
                      dilation=dilation, flip=flipped, method=method)
    plans = [plan_axis(n, k, anchor=a, stride=stride, dilation=dilation, padding=padding)
             for n, k, a in zip((height, width), (kh, kw), anchors)]
    rows, cols = (tuple(p.start + i * p.stride for i in range(p.count)) for p in plans)

    # Read the response back tap by tap, at stride 1 on zeros: with the effective correlation kernel e
    # anchored at b, output y of a "full" run sits on input y - (k - 1 - b)d, so the taps are at c + t·d.
    full = conv2d(image, weights, padding="full", boundary="zero", dilation=dilation, flip=flipped, method=method)
    seen = full[cy:cy + dilation * (kh - 1) + 1:dilation, cx:cx + dilation * (kw - 1) + 1:dilation]
    tolerance = 1e-9 * max(1.0, float(np.abs(weights).max()))
    turned = weights[::-1, ::-1]
    if np.allclose(weights, turned, rtol=0, atol=tolerance):
        reads = "symmetric"
    elif np.allclose(seen, weights, rtol=0, atol=tolerance):
        reads = "as written"
    elif np.allclose(seen, turned, rtol=0, atol=tolerance):
        reads = "mirrored"
    else:
        reads = "other"

    # Tap t of the effective kernel reaches the output anchored on c - (t - b)d; count those on the grid.
    seen_per_axis = []
    for positions, centre, k, b in zip((rows, cols), (cy, cx), (kh, kw), anchors):
        grid = set(positions)
        seen_per_axis.append(sum(centre - (t - b) * dilation in grid for t in range(k)))
    return Probe(kernel=kernel, flip=flipped, stride=stride, padding=padding, boundary=boundary, dilation=dilation,
                 canvas=(height, width), impulse=(cy, cx), response=np.asarray(response, dtype=np.float64),
                 rows=rows, cols=cols, reads=reads, taps_seen=seen_per_axis[0] * seen_per_axis[1], note=kernel.note)


def probe_entries(entries: list[Entry], **settings) -> list[Probe]:
    """:func:`probe` every kernel behind ``entries``: a kernel, each member of a bank, a chain folded.

    A chain folds only at stride 1: at a stride ``apply`` runs its steps one by one.
    """
    stride = settings.get("stride", 1)
    for entry in entries:
        if len(entry.sequence()) > 1 and stride != 1:
            raise ParameterError(f"`stride` {stride}: chain '{entry.name}' is applied step by step at a stride; "
                                 "probe it at stride 1, or its kernels one by one")
    return [probe(kernel, **settings) for entry in entries for kernel in entry.flat()]


def parse_point(text: str, name: str = "at") -> tuple[int, int]:
    """``"3,4"`` -> ``(3, 4)``: a row and a column.

    >>> parse_point("3, 4")
    (3, 4)
    """
    parts = [part.strip() for part in str(text).split(",")]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ParameterError(f"`{name}` must be ROW,COL, e.g. 4,4; got {text!r}")
    return int(parts[0]), int(parts[1])
