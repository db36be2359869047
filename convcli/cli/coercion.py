"""How command-line strings become values: Typer's coercion, without pydantic, for the plain types we use.

Typer 0.29 builds a pydantic ``TypeAdapter`` for every parameter of the command it runs; importing
pydantic and building 30 adapters is about half of ``convcli apply``'s start-up on a small image. The
parameters of convcli's commands are all ``str``, ``bool``, ``int``, ``float``, ``Path``, an ``Enum`` or a list of
one of those, which need no schema: :func:`install` gives those a direct coercion with the messages Click
users know (``'x' is not a valid integer.``, ``0 is not in the range x>=1.``) and a did-you-mean on choices.
Anything else (a bool typed as text, a parser, a clamp, a file) keeps Typer's own coercion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import typer

try:  # Typer's internals, as of TYPER_SERIES
    from typer import _coercion, _param_types
except ImportError:  # another Typer: install() leaves its coercion alone
    _coercion = _param_types = None

from convcli.errors import did_you_mean

Leaf = Any  # a callable (value, param, ctx) -> value


def _number(kind: type, min_: float | None, max_: float | None) -> Leaf:
    label = "integer" if kind is int else "float"

    def coerce(value: Any, param, ctx) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise typer.BadParameter(f"{value!r} is not a valid {label}.", ctx=ctx, param=param)
        try:
            number = kind(value.strip().replace("_", "") if isinstance(value, str) else value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a valid {label}.", ctx=ctx, param=param) from None
        if (min_ is not None and number < min_) or (max_ is not None and number > max_):
            bounds = f"x>={min_}" if max_ is None else f"x<={max_}" if min_ is None else f"{min_}<=x<={max_}"
            raise typer.BadParameter(f"{number} is not in the range {bounds}.", ctx=ctx, param=param)
        return number

    return coerce


def _text(value: Any, param, ctx) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


_TRUE, _FALSE = {"1", "true", "t", "yes", "y", "on"}, {"0", "false", "f", "no", "n", "off", ""}


def _flag(value: Any, param, ctx) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise typer.BadParameter(f"{value!r} is not a valid boolean.", ctx=ctx, param=param)


def _choice(kind: type[Enum], case_sensitive: bool) -> Leaf:
    choices = list(kind)

    def coerce(value: Any, param, ctx) -> Any:
        try:
            return _param_types.coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive, ctx=ctx)
        except ValueError:
            names = [str(choice.value) for choice in choices]
            listed = ", ".join(map(repr, names))
            raise typer.BadParameter(f"{value!r} is not one of {listed}{did_you_mean(value, names)}.", ctx=ctx,
                                     param=param) from None

    return coerce


def _path(info) -> Leaf:
    def coerce(value: Any, param, ctx) -> Any:
        if isinstance(value, str):
            value = Path(value)
        return _param_types.coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)

    return coerce


def _leaf(annotation: Any, info) -> Leaf | None:
    if info.parser is not None or info.clamp:
        return None
    if annotation is str:
        return _text
    if annotation is bool:
        return _flag
    if annotation in (int, float):
        return _number(annotation, info.min, info.max)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation, info.case_sensitive)
    if annotation is Path and info.path_type is None:
        return _path(info)
    return None


@dataclass(frozen=True)
class DirectParam(_coercion.RuntimeParam):
    """A parameter coerced by :attr:`leaf`, item by item when :attr:`many`."""

    leaf: Leaf
    many: bool

    def _coerce_value(self, value: Any, param, ctx) -> Any:
        if self.many:
            items = value if isinstance(value, (list, tuple)) else [value]
            return [self.leaf(item, param, ctx) for item in items]
        return self.leaf(value, param, ctx)


def direct_param(descriptor) -> DirectParam | None:
    """The pydantic-free coercion of ``descriptor``'s parameter, or None where Typer's own is needed."""
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if descriptor.file_annotation is not None:
        return None
    many = get_origin(annotation) is list
    leaf = _leaf(get_args(annotation)[0] if many else annotation, info)
    if leaf is None:
        return None
    return DirectParam(parameter_info=info, annotation=annotation, leaf=leaf, many=many)


#: The Typer releases whose internals :func:`install` was written against (pyproject pins the same).
TYPER_SERIES = "0.29."


def install() -> bool:
    """Give every plain parameter its direct coercion (Typer builds the rest, as it would); whether it did.

    Under a Typer other than :data:`TYPER_SERIES` (its internals may have moved) nothing is changed:
    every parameter keeps Typer's own coercion, slower to start but right.
    """
    kind = getattr(getattr(typer, "core", None), "_TyperParameter", None)
    if (not typer.__version__.startswith(TYPER_SERIES) or _param_types is None
            or not hasattr(kind, "get_runtime_param")):
        return False
    original = kind.get_runtime_param
    if getattr(original, "direct", False):
        return True

    def get_runtime_param(self):
        if self._runtime_param is None:
            self._runtime_param = direct_param(self.type_descriptor) or original(self)
        return self._runtime_param

    get_runtime_param.direct = True
    kind.get_runtime_param = get_runtime_param
    return True
