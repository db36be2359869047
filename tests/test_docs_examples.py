"""Every console example in README.md and docs/*.md, run for real and compared with its text.

A fenced ``console`` block is a transcript: each command on a line starting with ``$ `` (a line ending in
``\\`` goes on on the next line), then what it prints, stdout and stderr together as a terminal shows
them. Each page runs in a fresh folder that holds a copy of ``samples/`` and the files :func:`prepare`
makes, its blocks in order (a block may use what an earlier block of the same page wrote), each command
through ``bash`` with the real ``convcli`` console script of this virtual environment first on ``PATH``,
``COLUMNS=80``, no terminal and unbuffered output. A new page under docs/ is covered without a change here.

The output is compared line by line, trailing spaces dropped, exactly, with two wildcards and one rule:

- a line ``...`` stands for any number of lines, none included (a report left out);
- ``…`` stands for any text within one line; it is only for figures that change between runs (times in
  ms, MP/s, rates) and the table widths that follow them;
- a command ending in the comment ``# exit N`` must exit with status N; every other command must exit 0,
  and a command shown with no output must print nothing.

Blocks fenced as ``bash`` are not run: they are for what a test cannot do (installing, a cluster); a
``$ `` transcript in any block but ``console`` is refused. Python examples (``>>>``) are doctests: pytest
runs them through ``--doctest-glob`` (pyproject.toml). A ``toml`` block must be a whole kernel file that
``convcli kernels check`` passes, agreeing with ``samples/my_kernels.toml`` on the tables both hold, and
every relative link must name a file and, after ``#``, one of its headings.

To see what a page prints now (to mend an example after a change of output), run one test, e.g.
``pytest tests/test_docs_examples.py -k README``: a failure shows the expected and the printed text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from convcli.kernels.library import check_file

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXIT = re.compile(r"\s#\s*exit\s+(\d+)\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass
class Command:
    line: int  # where the command starts in its page, from 1
    text: str
    expected: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        found = EXIT.search(self.text)
        return int(found.group(1)) if found else 0


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """The fenced blocks of a Markdown page: ``(language, line of the first body line, body lines)``."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        index += 1
        if not fence:
            continue
        body_start = index
        while index < len(lines) and not lines[index].startswith("```"):
            index += 1
        blocks.append((fence.group(1), body_start + 1, lines[body_start:index]))
        index += 1  # the closing fence
    return blocks


def console_blocks(text: str) -> list[list[Command]]:
    """The ``console`` blocks of a Markdown page, each as its commands with the lines they print."""
    return [parse_block(body, first) for language, first, body in fenced_blocks(text) if language == "console"]


def parse_block(lines: list[str], first: int) -> list[Command]:
    commands: list[Command] = []
    continued = False
    for offset, line in enumerate(lines):
        if continued:
            commands[-1].text += "\n" + line
        elif line.startswith("$ "):
            commands.append(Command(first + offset, line[2:]))
        elif commands:
            commands[-1].expected.append(line.rstrip())
        else:
            raise AssertionError(f"line {first + offset}: a console block must start with a '$ ' command")
        continued = line.endswith("\\")
    return commands


def pattern(expected: list[str]) -> re.Pattern[str]:
    """The regular expression the printed text must match in full (see the module's docstring)."""
    parts = []
    for line in expected:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("…")) + r"\n")
    return re.compile("".join(parts))


def normalise(output: str) -> str:
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


def prepare(folder: Path) -> None:
    """The files the examples need beside ``samples/``."""
    shutil.copytree(ROOT / "samples", folder / "samples")
    # Two inputs of one stem (docs/batches.md: same-named inputs).
    (folder / "logos").mkdir()
    logo = Image.open(ROOT / "samples" / "sprite.png").convert("RGB").resize((64, 64))
    logo.save(folder / "logos" / "logo.png")
    logo.save(folder / "logos" / "logo.ppm")
    # A folder of photos in sub-folders (docs/batches.md).
    scene = Image.open(ROOT / "samples" / "shapes.png")
    for turn, name in enumerate(("2023/beach.jpg", "2024/garden.jpg", "2024/party.jpg")):
        target = folder / "photos" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        scene.rotate(180 * turn).save(target, quality=90)
    (folder / "photos" / "notes.txt").write_text("not an image\n")
    # A kernel file with four mistakes (docs/kernels.md: kernels check).
    (folder / "bad.toml").write_text(
        '[kernels.soft]\ngenerator = "gausian"\n\n'
        "[kernels.flat]\nweights = [[1, 2], [3, 4, 5]]\ndivisor = 0\n\n"
        '[banks.edges]\nkernels = ["sobel_x", "sobel_z"]\n'
    )


def environment(config: Path) -> dict[str, str]:
    """This process's environment for a user with no kernel files or calibration of their own, at 80 columns."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("CONVCLI_KERNELS", "CONVCLI_CALIBRATION", "FORCE_COLOR", "PYTHONWARNINGS")}
    env.update(COLUMNS="80", LINES="24", PYTHONUNBUFFERED="1", TERM="dumb", NO_COLOR="1",
               XDG_CONFIG_HOME=str(config), XDG_CACHE_HOME=str(config / "cache"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run_page(page: Path, folder: Path, config: Path) -> list[str]:
    """Run every console example of ``page`` in ``folder``; the differences found, one message each."""
    prepare(folder)
    env = environment(config)
    assert shutil.which("convcli", path=env["PATH"]), "the convcli console script is not installed"
    problems = []
    for block in console_blocks(page.read_text()):
        for command in block:
            done = subprocess.run(["bash", "-c", command.text], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
            printed = normalise(done.stdout)
            where = f"{page.relative_to(ROOT)}:{command.line}: $ {command.text}"
            if done.returncode != command.status:
                problems.append(f"{where}\nexit status {done.returncode}, expected {command.status}\n{printed}")
            elif not pattern(command.expected).fullmatch(printed):
                problems.append(f"{where}\nexpected:\n{normalise(chr(10).join(command.expected))}"
                                f"printed:\n{printed}")
    return problems


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory):
    """The examples of every page this session tests, the pages run side by side (each in a folder of its
    own) to keep this quick."""
    pages = [item.callspec.params["page"] for item in request.session.items
             if getattr(item, "originalname", None) == "test_console_examples"]
    pages.sort(key=lambda page: -sum(map(len, console_blocks(page.read_text()))))  # the longest first
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        runs = {page: pool.submit(run_page, page, tmp_path_factory.mktemp("page"), tmp_path_factory.mktemp("config"))
                for page in pages}
        return {page: run.result() for page, run in runs.items()}


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_console_examples(page, page_runs):
    problems = page_runs[page]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_transcript_is_a_console_block(page):
    """A ``$ command`` shown in a block of another language would escape the check."""
    unchecked = [f"{page.relative_to(ROOT)}:{first}: a ```{language or '(plain)'} block holds '$ ' commands"
                 for language, first, body in fenced_blocks(page.read_text())
                 if language != "console" and any(line.startswith("$ ") for line in body)]
    assert not unchecked, "\n".join(unchecked) + "\nwrite a transcript as a ```console block, which is run"


def test_the_wildcards():
    """``...`` spans lines, ``…`` a part of one line, and nothing else is loose."""
    expected = ["a", "...", "in … ms", "z"]
    assert pattern(expected).fullmatch("a\nb\nc\nin 12.5 ms\nz\n")
    assert pattern(expected).fullmatch("a\nin 3 ms\nz\n")
    assert not pattern(expected).fullmatch("a\nin 3 s\nz\n")
    assert not pattern(expected).fullmatch("a\nin 3 ms\nz\nextra\n")
    assert not pattern(["x"]).fullmatch("y\n")
    assert pattern([]).fullmatch("")


def test_blocks_are_read_as_transcripts():
    text = "intro\n```console\n$ one \\\n    --two  # exit 2\nout 1\n\nout 2\n$ three\n```\n```bash\n$ no\n```\n"
    [block] = console_blocks(text)
    assert [(c.line, c.text, c.expected, c.status) for c in block] == [
        (3, "one \\\n    --two  # exit 2", ["out 1", "", "out 2"], 2),
        (8, "three", [], 0),
    ]


#: Pages that other branches of the same issue add (a coming-from guide, the new ``-k`` forms); linked
#: from the README ahead of their merge. Empty this once they are in.
PENDING: set[str] = set()
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The ``#fragment`` each heading of ``page`` gets on GitHub (lower case, punctuation dropped)."""
    found = set()
    inside = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_links_lead_somewhere(page):
    """Every relative link of a page names a file of the repository, and a heading of it after ``#``."""
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            if str(linked.relative_to(ROOT)) not in PENDING:
                broken.append(f"{target}: no such file")
        elif fragment and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_kernel_files_shown_are_valid(page, tmp_path):
    """A ``toml`` block is a kernel file ``convcli kernels check`` passes, and its tables that
    ``samples/my_kernels.toml`` also holds say what the file says."""
    sample = tomllib.loads((ROOT / "samples" / "my_kernels.toml").read_text())
    for language, first, body in fenced_blocks(page.read_text()):
        if language != "toml":
            continue
        shown = tmp_path / f"line{first}.toml"
        shown.write_text("\n".join(body) + "\n")
        _, problems = check_file(shown)
        assert not problems, f"{page.relative_to(ROOT)}:{first}: " + "; ".join(problems)
        for kind, tables in tomllib.loads(shown.read_text()).items():
            for name, table in tables.items():
                if name in sample.get(kind, {}):
                    assert table == sample[kind][name], f"{page.relative_to(ROOT)}:{first}: [{kind}.{name}]"
