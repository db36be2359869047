"""The warnings of a run: each output's own (:func:`output_notices`), and the report's summary of them,
one line per kind (:func:`summarise`): a folder of 150 photos sharpened gives one clipping line, not 150.

A warning says what happened and, when one fits the case, what to do about it: a kernel whose weights
do not sum to 1 is told to be normalised, a zero-sum one that clips or a map that came out nearly black
is pointed to ``map`` minmax; clipping that the user chose (``map`` clip, on the command line or in the
kernel's TOML entry) and the overshoot of a kernel that sums to 1 (a sharpen) get no advice or no
warning at all. Parameter names are marked with backquotes, as in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convcli.errors import KernelError

if TYPE_CHECKING:
    from convcli.kernels.entry import Entry
    from convcli.kernels.kernel import Kernel
    from convcli.pipeline.options import ApplyOptions
    from convcli.pipeline.planning import Target
    from convcli.pipeline.results import MapResult, RunResult

#: More than this fraction of an output's values clipped gets a warning.
CLIP_WARNING = 0.01
#: A map whose brightest written value is below this fraction of full scale is "nearly black".
DARK_PEAK = 0.05
#: A kernel whose weights sum to within this of 1 keeps the brightness of flat areas.
UNIT_SUM = 1e-6

CLIPPED, DARK, MISSING = "clipped", "dark", "missing"

_STRETCH = "`map` minmax stretches each map's own range to 0..1"


@dataclass(frozen=True)
class Notice:
    """A warning about one output, which the report may roll up with the others of its kind.

    ``text`` is the output's own line (its name first); ``share`` the figure a roll-up gives the range
    of (a percentage, or a count); ``advice`` the clause that ends either line (empty: none).
    """

    kind: str
    text: str
    share: float
    advice: str = ""
    per_kernel: bool = True  # rolled up per `-k` kernel (its advice depends on the kernel); else per run
    about: str = ""  # what a roll-up says it is about, when the kind alone does not (the missing input's kind)


def _kernel_of(entry: Entry) -> Kernel | None:
    """The one 2-D kernel ``entry`` applies (a chain: its folded kernel); None when it applies several side
    by side, or is not one 2-D kernel (a layer channel)."""
    try:
        flat = entry.flat()
    except KernelError:
        return None
    return flat[0] if len(flat) == 1 else None


def _asked_for_clip(entry: Entry, options: ApplyOptions) -> bool:
    """Whether the user chose ``map`` clip for ``entry``: on the command line, or in its TOML entry (a
    kernel's, a bank's or a chain's own ``map``, or that of the kernel a chain folds to)."""
    if options.map != "auto":
        return options.map == "clip"
    kernel = _kernel_of(entry)
    return "clip" in (getattr(entry, "map", None), kernel.map if kernel else None)


def clip_advice(kernel: Kernel | None) -> str:
    """What to do about the clipping of ``kernel``'s map (None: several kernels, or a layer)."""
    if kernel is None:
        return ""
    if kernel.zero_sum or kernel.sum < 0:
        return _STRETCH
    if abs(kernel.sum - 1) <= UNIT_SUM:
        return ""  # a sharpen overshoots at edges: that is what it does, and minmax would grey it out
    total = f"{kernel.sum:.6g}"
    return (f"its weights sum to {total}: divide them by the sum (\"/ sum\" or \"/ {total}\" after an inline matrix, "
            "normalize = true in a TOML entry) to keep the brightness")


def _percent(value: float) -> str:
    return "<0.1%" if 0 < value < 0.05 else f"{value:.1f}%"


def _with(text: str, advice: str) -> str:
    return f"{text}; {advice}" if advice else text


def output_notices(target: Target, options: ApplyOptions, label: str, counts: tuple[int, int, int, int],
                   peak: float | None) -> list[Notice]:
    """The warnings of one output, named ``label``: ``counts`` are the values written, clipped low and high,
    and missing; ``peak`` the brightest value written (in [0, 1]; None when not measured)."""
    values, low, high, missing = counts
    notices = []
    if missing:
        what = "a NaN or `nodata` input" if options.settings.nodata is not None else "a NaN or infinite input"
        advice = "" if options.settings.nan == "ignore" else "`nan` ignore fills them from the values around them"
        notices.append(Notice(MISSING, _with(f"{label}: {missing} values read {what} and are written as 0", advice),
                              missing, advice, per_kernel=False, about=what))
    single = len(target.entries) == 1
    if values and (low + high) / values > CLIP_WARNING and not all(
            policy == "clip" and _asked_for_clip(entry, options) for entry, policy in zip(target.entries, target.maps)):
        advice = clip_advice(_kernel_of(target.entries[0]) if single else None)
        share = 100 * (low + high) / values
        text = (f"{label}: {_percent(share)} of the values were clipped "
                f"({_percent(100 * low / values)} low, {_percent(100 * high / values)} high)")
        notices.append(Notice(CLIPPED, _with(text, advice), share, advice))
    if (single and peak is not None and 0 < peak < DARK_PEAK and options.map == "auto" and not options.overlay
            and target.maps[0] in ("clip", "abs")):
        notices.append(Notice(DARK, _with(f"{label}: nearly black (its brightest value is {_percent(100 * peak)} "
                                          "of full scale)", _STRETCH), 100 * peak, _STRETCH))
    return notices


def _span(shares: list[float], format=_percent) -> str:
    low, high = format(min(shares)), format(max(shares))
    return low if low == high else f"{low} to {high}"


def _rolled(kind: str, kernel: str, notices: list[Notice], maps: list[MapResult]) -> str:
    """One line for ``notices`` of ``kind`` (all of ``kernel``'s outputs, or the run's) among ``maps``."""
    first = notices[0]
    if kind == CLIPPED:  # every output that clipped at all counts, not only those warned of
        shares = [100 * (m.clipped_low + m.clipped_high) / m.values for m in maps if
                  m.values and (m.clipped_low or m.clipped_high)]
        text = (f"{kernel}: values were clipped in {len(shares)} of {len(maps)} outputs "
                f"({_span(shares)} of their values)")
    elif kind == DARK:
        text = (f"{kernel}: {len(notices)} of {len(maps)} outputs are nearly black (their brightest values are "
                f"{_span([n.share for n in notices])} of full scale)")
    else:
        counts = _span([n.share for n in notices], lambda value: f"{value:.0f}")
        text = (f"{len(notices)} of {len(maps)} outputs hold values that read {first.about} ({counts} per output), "
                "written as 0")
    advice = {notice.advice for notice in notices}
    return _with(text, first.advice if len(advice) == 1 else "")  # a bank's kernels may each need their own


def summarise(result: RunResult, given: Mapping[str, str] | None = None) -> list[str]:
    """The run's warnings, one line per kind (and per ``-k`` kernel, for those whose advice depends on
    it): an output's own line when it is the only one of its kind, else a summary of how many outputs,
    how much, and the advice. ``given`` names the ``-k`` each kernel came from (a bank's kernels: the
    bank), which its outputs' warnings roll up under; a kernel missing from it, under its own name. The
    other warnings (of reading and writing files) are grouped by what they say, whichever file they
    name."""
    given = given or {}
    others: dict[str, list[str]] = {}  # what it says -> the files it was said of
    groups: dict[tuple[str, str | None], list[Notice]] = {}  # (kind, the -k kernel or None: the run)
    for m in result.maps:
        for warning in m.warnings:
            names = others.setdefault(warning.text, [])
            if warning.subject not in names:
                names.append(warning.subject)
        for notice in m.notices:
            kernel = given.get(m.kernel, m.kernel) if notice.per_kernel else None
            groups.setdefault((notice.kind, kernel), []).append(notice)
    lines = []
    for text, names in others.items():
        if len(names) == 1:
            lines.append(f"{names[0]}: {text}")
        else:
            listed = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
            lines.append(f"{text} ({len(names)} files: {listed})")
    for (kind, kernel), notices in groups.items():
        maps = [m for m in result.maps if kernel is None or given.get(m.kernel, m.kernel) == kernel]
        lines.append(notices[0].text if len(notices) == 1 else _rolled(kind, kernel or "", notices, maps))
    return lines
