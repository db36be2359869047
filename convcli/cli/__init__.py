"""The ``convcli`` command line: parse, call the library, render. No arithmetic lives here.

:mod:`~convcli.cli.app` holds the Typer application and turns errors into ``Error: ...`` lines;
:mod:`~convcli.cli.options` declares every shared option once; the commands live in
:mod:`~convcli.cli.apply`, :mod:`~convcli.cli.kernels` and :mod:`~convcli.cli.tools`; the Rich views
in :mod:`~convcli.cli.run_view`, :mod:`~convcli.cli.kernel_view` and :mod:`~convcli.cli.tool_view`.
The only package that imports typer and rich; it imports the library inside each command, so that
``convcli --help`` loads neither NumPy nor the engine.
"""

from convcli.cli import apply, kernels, tools  # noqa: F401  (each registers its commands on the app)
from convcli.cli.app import app

__all__ = ["app"]
