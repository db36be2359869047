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


def examples(command: click.Command) -> list[str]:
    """The command lines in the Examples section of a command's help."""
    text = command.help or ""
    if "**Examples**" not in text:
        return []
    block = text.split("**Examples**", 1)[1].split("```")[1]
    return [line.strip() for line in block.strip().splitlines()]


def test_the_main_commands_have_examples_that_fit_80_columns():
    for path in ("apply", "kernels", "explain"):
        lines = examples(COMMANDS[path])
        assert len(lines) >= 4, path
        assert all(line.startswith(("convcli ", "cat ")) and len(line) <= 76 for line in lines), lines


@pytest.mark.parametrize("line", [line for command in COMMANDS.values() for line in examples(command)])
def test_every_example_runs(line, tmp_path):
    """Each example, run by bash in a folder holding a copy of samples/, with the real console script."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    shutil.copytree(Path(__file__).resolve().parents[1] / "samples", tmp_path / "samples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "80"}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    written = re.search(r"(?:-o|--npy|--png|>) (\S+)\s*(?:$|-)", line)
    if written and written[1] != "-" and "--dry-run" not in line:
        assert (tmp_path / written[1]).exists(), (line, sorted(p.name for p in tmp_path.iterdir()))


def test_the_usage_line_names_arguments_as_man_pages_do():
    result = CliRunner().invoke(app, ["apply", "--help"], env={"COLUMNS": "80"})
    assert "Usage: root apply [OPTIONS] INPUT..." in result.output
    result = CliRunner().invoke(app, ["kernels", "export", "--help"], env={"COLUMNS": "80"})
    assert "Usage: root kernels export [OPTIONS] NAME..." in result.output


def test_shell_completion_is_offered():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert "--install-completion" in result.output and "--show-completion" in result.output


@pytest.mark.parametrize(("words", "expected"), [
    ("convcli apply a.png -k sob", ["sobel_x", "sobel_y", "sobel"]),
    ("convcli apply a.png -k gaus", ["gaussian3", "gaussian5", "gaussian7", "gaussian:"]),
    ("convcli apply a.png -b sym", ["symmetric", "symm"]),
    ("convcli apply a.png --padding v", ["valid"]),
    ("convcli apply a.png --method s", ["separable"]),
])
def test_completion_of_kernels_and_choices(words, expected):
    import os
    import subprocess
    import sys

    env = {**os.environ, "_CONVCLI_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}
    done = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'convcli'; "
                           "from convcli.cli import app; app(prog_name='convcli')"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout.split() == expected, done.stderr


def test_a_flag_given_a_value_is_explained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from PIL import Image

    Image.new("RGB", (4, 4)).save("a.png")
    result = CliRunner().invoke(app, ["apply", "a.png", "-k", "edge", "--gray", "true", "-o", "o.png"])
    assert result.exit_code == 2
    assert result.stderr == "Error: no such file or folder: true (on/off flags such as --gray take no value)\n"
