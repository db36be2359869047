"""The one exception hierarchy of convcli.

The CLI turns every :class:`ConvcliError` into ``Error: <message>`` on stderr and exits with the
error's ``exit_code`` (the contract: 2 for bad usage, 1 for an input that failed). Any other exception
reaching the CLI is a bug and is left to show its traceback.

A message names the parameters it is about in backquotes, by their library keyword:
``ParameterError("`stride` must be an integer >= 1; got 0")``. ``str(error)`` prints the names plainly
(``stride must be ...``); :meth:`ConvcliError.render` spells each one as its caller does, which is how
the command line says ``--stride`` without the library ever speaking in flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_PARAMETER = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def spell_parameters(text: str, spell: Callable[[str], str]) -> str:
    """``text`` with each backquoted parameter name replaced by ``spell(name)``.

    >>> spell_parameters("`stride` must be >= 1", lambda name: "--" + name)
    '--stride must be >= 1'
    """
    return _PARAMETER.sub(lambda match: spell(match[1]), text)


def plain(text: str) -> str:
    """``text`` with its parameter names as they are (the backquotes dropped), for files and the library."""
    return spell_parameters(text, lambda name: name)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``word``, or nothing when none is close.

    >>> did_you_mean("symetric", ["zero", "symmetric", "mirror"])
    " (did you mean 'symmetric'?)"
    """
    import difflib  # (only when there is a mistake to name: it costs start-up)

    close = difflib.get_close_matches(str(word).strip().lower(), list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ConvcliError(Exception):
    """Base class of every error convcli reports to a user."""

    exit_code = 2

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameters the message is about, in the order it names them."""
        return tuple(dict.fromkeys(_PARAMETER.findall(self._text)))

    @property
    def _text(self) -> str:
        return str(self.args[0]) if self.args else ""

    def render(self, spell: Callable[[str], str]) -> str:
        """The message with each parameter name replaced by ``spell(name)``."""
        return spell_parameters(self._text, spell)

    @property
    def message(self) -> str:
        """The message with its parameter names still marked, for a caller to :func:`spell_parameters` later."""
        return self._text

    def __str__(self) -> str:
        return plain(self._text)


class ParameterError(ConvcliError, ValueError):
    """An argument or option has a bad value."""


class KernelError(ConvcliError):
    """A kernel cannot be found, parsed or validated."""


class UnfoldableKernelError(KernelError):
    """An entry is not the weights of one kernel or of a bank (a layer's channels summed, a chain too large to fold)."""


class InputError(ConvcliError):
    """An input image is missing, unreadable, corrupt or of an unsupported kind."""

    exit_code = 1


class OutputError(ConvcliError):
    """An output cannot be written."""

    exit_code = 1


class VerificationError(ConvcliError):
    """A result differs from the SciPy reference by more than the tolerance (``verify``)."""

    exit_code = 1
