"""The one exception hierarchy of convcli.

The CLI turns every :class:`ConvcliError` into ``Error: <message>`` on stderr and exits with the
error's ``exit_code`` (the contract: 2 for bad usage, 1 for an input that failed). Any other exception
reaching the CLI is a bug and is left to show its traceback.
"""

from __future__ import annotations


class ConvcliError(Exception):
    """Base class of every error convcli reports to a user."""

    exit_code = 2


class ParameterError(ConvcliError, ValueError):
    """An argument or option has a bad value."""


class KernelError(ConvcliError):
    """A kernel cannot be found, parsed or validated."""


class InputError(ConvcliError):
    """An input image is missing, unreadable, corrupt or of an unsupported kind."""

    exit_code = 1


class OutputError(ConvcliError):
    """An output cannot be written."""

    exit_code = 1


class VerificationError(ConvcliError):
    """A result differs from the scipy.signal reference by more than the tolerance (``--verify``)."""

    exit_code = 1
