"""Every command and subcommand has help, every option says what it does, and flags read one way
(as sqlite-utils' test_docs.py does for its commands)."""

from __future__ import annotations

import re

import click
import pytest
import typer
from typer.testing import CliRunner

from convcli.cli import app


def commands() -> dict[str, click.Command]:
    """Every command of the app by its path (``kernels show``), found by walking the command tree."""
    found: dict[str, click.Command] = {}
    stack = [((), typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            stack.append(((*path, name), sub))
        if path:
            found[" ".join(path)] = command
    return found


COMMANDS = commands()


def test_the_tree_holds_every_command():
    assert sorted(COMMANDS) == ["apply", "bench", "explain", "fit", "kernels", "kernels check", "kernels export",
                                "kernels list", "kernels show", "probe"]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_help(path):
    command = COMMANDS[path]
    assert (command.help or "").strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help"
    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Usage: root " + path in result.output
    shown = re.findall(r"<[^>\s]*>", result.output)
    assert not [s for s in shown if re.fullmatch(r"<(bool|str|int|float|path|list\[.*\]|Path)>", s)], shown


def test_a_short_flag_means_one_thing_across_commands():
    meanings: dict[str, set[str]] = {}
    for command in COMMANDS.values():
        for param in command.params:
            longs = [opt for opt in param.opts if opt.startswith("--")]
            for opt in param.opts:
                if re.fullmatch(r"-[A-Za-z]", opt):
                    meanings.setdefault(opt, set()).update(longs)
    assert {short: longs for short, longs in meanings.items() if len(longs) > 1} == {}
    assert meanings["-r"] == {"--recursive"} and meanings["-n"] == {"--dry-run"}
