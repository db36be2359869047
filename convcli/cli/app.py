"""The Typer application: its error handling, its version flag, and how parameter names become flags.

Every command module (:mod:`~convcli.cli.apply`, :mod:`~convcli.cli.kernels`, :mod:`~convcli.cli.tools`)
registers on :data:`app`; :mod:`convcli.cli` imports them all.
"""

from __future__ import annotations

import functools
import sys
import traceback
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from convcli import __version__
from convcli.cli import coercion
from convcli.errors import ConvcliError, spell_parameters

err_console = Console(stderr=True)
out_console = Console()


def _show_metavar(original):
    # Typer's rich help shows a type column (<bool>, <list[str]>) and ignores metavars: show the
    # metavar when one is given, nothing for on/off flags and for arguments (their name column says
    # it), and Typer's own label otherwise.
    def display(self, ctx):
        if isinstance(self, typer.core.TyperArgument) or getattr(self, "is_flag", False):
            return None
        if self.metavar is not None:
            return self.metavar
        return original(self, ctx)

    return display


for _kind in (typer.core.TyperOption, typer.core.TyperArgument):
    _kind.display_type_rich = _show_metavar(_kind.display_type_rich)


def _usage_name(self) -> str:
    # Typer's usage line writes a required argument as {INPUT}...; a shell user reads INPUT... as
    # required and [INPUT]... as optional, as in man pages and Click.
    name = self.metavar if self.metavar is not None else self.name.upper()
    name = name if self.required else f"[{name}]"
    return name if self.nargs == 1 or name.endswith("...") else f"{name}..."


typer.core.TyperArgument._usage_display_name = _usage_name
coercion.install()


@functools.cache
def _flags() -> frozenset[str]:
    command = typer.main.get_command(app)
    found: set[str] = set()
    stack = [command]
    while stack:
        current = stack.pop()
        found.update(opt for param in current.params for opt in param.opts if opt.startswith("--"))
        stack.extend(getattr(current, "commands", {}).values())
    return frozenset(found)


def flag(name: str) -> str:
    """The command line's spelling of a library parameter: ``max_pixels`` -> ``--max-pixels`` where some
    command declares that option, else the name as it is (``image``, ``settings``)."""
    spelled = "--" + name.replace("_", "-")
    return spelled if spelled in _flags() else name


def as_flags(text: str) -> str:
    """A library message or warning with its parameter names spelled as flags."""
    return spell_parameters(text, flag)


def print_errors(messages: list[str]) -> None:
    """One ``Error: ...`` line per problem, on stderr, parameter names spelled as flags."""
    for message in messages:
        err_console.print(Text(f"Error: {as_flags(message)}", style="red"), soft_wrap=True)


#: The exit code of a bug: sysexits' EX_SOFTWARE, apart from 1 (some inputs failed) and 2 (bad usage).
INTERNAL_ERROR = 70


class ConvcliGroup(TyperGroup):
    """Turns every user mistake into ``Error: ...`` on stderr and the contract's exit code; a bug into its
    traceback, one line saying so and :data:`INTERNAL_ERROR`."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # a run catches its own; this is Ctrl-C while planning or reporting
            err_console.print("Interrupted.")
            raise typer.Exit(130) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ConvcliError as error:
            print_errors(error.message.splitlines())
            sys.exit(error.exit_code)
        except typer.TyperException as error:  # Typer's own usage errors (bad flag, missing argument)
            error.show()
            sys.exit(error.exit_code)
        except typer.Abort:
            err_console.print("Aborted.")
            sys.exit(130)
        except Exception:  # a bug: the traceback is for its report, the last line for the user
            traceback.print_exc()
            print_errors(["internal error (a bug in convcli); please report it with the traceback above"])
            sys.exit(INTERNAL_ERROR)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=ConvcliGroup,
    help="Apply convolution kernels to images and write the feature maps. Kernels are applied as written "
         "(correlation, as PyTorch and OpenCV do; --flip for true convolution); see `convcli apply --help`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"convcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Apply convolution kernels to images and write the feature maps."""
