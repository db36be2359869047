"""Regenerate the kernel pictures of docs/tools.md with ``convcli kernels show NAME --png``.

    python scripts/kernel_pictures.py

Each picture is a heat map of the weights (values in the cells, anchor outlined) beside the kernel's
frequency response (the magnitude of its 2-D FFT, zero frequency at the centre): docs/kernel_NAME.png.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from convcli.cli import app

ROOT = Path(__file__).resolve().parent.parent
# A low-pass, a gradient pair (a bank: one row each), a band-pass and a relief.
KERNELS = ("gaussian5", "sobel", "laplacian_of_gaussian", "emboss")


def main() -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    runner = CliRunner()
    for name in KERNELS:
        target = docs / f"kernel_{name}.png"
        result = runner.invoke(app, ["kernels", "show", name, "--png", str(target)])
        if result.exit_code != 0:
            raise SystemExit(result.output)
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
