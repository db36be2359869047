"""The settings of a convolution, validated once into a frozen :class:`Settings`.

Every setting is checked and put in canonical form here (a boundary alias becomes its name, a
padding string its keyword or integer), so that the engine and the pipeline pass one value around
and never resolve a setting twice.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from convcli.choices import DEFAULT_BOUNDARY, METHODS, NAN_MODES
from convcli.engine.boundary import resolve_boundary
from convcli.errors import ParameterError, did_you_mean

PADDINGS = ("same", "valid", "full")


def resolve_padding(padding: str | int) -> str | int:
    """Return ``"same"``, ``"valid"``, ``"full"`` or a non-negative integer padding."""
    problem = f"`padding` must be same, valid, full or an integer >= 0; got {padding!r}"
    if isinstance(padding, str):
        problem += did_you_mean(padding, PADDINGS)
    if isinstance(padding, (bool, np.bool_)):
        raise ParameterError(problem)
    if isinstance(padding, (int, np.integer)):
        value = int(padding)
    else:
        text = str(padding).strip().lower()
        if text in PADDINGS:
            return text
        try:
            value = int(text)
        except ValueError:
            raise ParameterError(problem) from None
    if value < 0:
        raise ParameterError(problem)
    return value


def positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` when it is an integer >= 1, else a :class:`ParameterError` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"`{name}` must be an integer >= 1; got {value!r}")
    return int(value)


def resolve_method(method: str) -> str:
    """Return ``method`` lower-cased when it names an engine path (or ``auto``)."""
    key = str(method).strip().lower()
    if key not in METHODS:
        raise ParameterError(f"`method` must be one of {', '.join(METHODS)}; got {method!r}"
                             f"{did_you_mean(key, METHODS)}")
    return key


def _nan_mode(mode: str) -> str:
    key = str(mode).strip().lower()
    if key not in NAN_MODES:
        raise ParameterError(f"`nan` must be one of {', '.join(NAN_MODES)}; got {mode!r}{did_you_mean(key, NAN_MODES)}")
    return key


def _nodata(value: object) -> float | None:
    if value is None:
        return None
    try:
        if not isinstance(value, (bool, np.bool_)):
            return float(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise ParameterError(f"`nodata` must be a number; got {value!r}")


@dataclass(frozen=True)
class Settings:
    """How a kernel slides over an image, and what missing inputs do: the keyword options of
    :func:`convcli.conv2d`, checked.

    >>> Settings(boundary="reflect101", padding="VALID", nodata=-9999)
    Settings(stride=1, padding='valid', boundary='mirror', cval=0.0, dilation=1, flip=False, method='auto', \
nan='propagate', nodata=-9999.0)
    """

    stride: int = 1
    padding: str | int = "same"
    boundary: str = DEFAULT_BOUNDARY
    cval: float = 0.0
    dilation: int = 1
    flip: bool = False
    method: str = "auto"
    nan: str = NAN_MODES[0]
    nodata: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.flip, (bool, np.bool_)):
            raise ParameterError(f"`flip` must be True or False; got {self.flip!r}")
        try:
            cval = float(self.cval)
        except (TypeError, ValueError):
            raise ParameterError(f"`cval` must be a number; got {self.cval!r}") from None
        if not math.isfinite(cval):
            raise ParameterError(f"`cval` must be finite; got {self.cval!r}")
        fields = {"stride": positive_int("stride", self.stride), "padding": resolve_padding(self.padding),
                  "boundary": resolve_boundary(self.boundary), "cval": cval,
                  "dilation": positive_int("dilation", self.dilation), "flip": bool(self.flip),
                  "method": resolve_method(self.method), "nan": _nan_mode(self.nan),
                  "nodata": _nodata(self.nodata)}
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def flipped(self, own_flip: bool) -> Settings:
        """These settings for a kernel whose own ``flip`` is ``own_flip``: true convolution when exactly
        one of the run and the kernel asks for it."""
        return self if not own_flip else dataclasses.replace(self, flip=not self.flip)

    def forced(self, method: str) -> Settings:
        """These settings with ``method`` in place of theirs."""
        return self if method == self.method else dataclasses.replace(self, method=method)
