"""Batches: folders and trees, faults that fail alone, resuming, interrupting, bombs, the manifest,
worker processes and the Dask executor."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from convcli.cli import app
from convcli.errors import InputError
from convcli.imageio.reading import load_image

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def picture(seed: int, shape=(16, 20, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def make_folder() -> None:
    """Good images, a truncated PNG, random bytes named .jpg, a text file and a nested folder."""
    Path("in/nested").mkdir(parents=True)
    Image.fromarray(picture(1)).save("in/a.png")
    Image.fromarray(picture(2)).save("in/b.jpg", quality=95)
    Image.fromarray(picture(3)).save("in/nested/c.png")
    whole = Path("in/a.png").read_bytes()
    Path("in/truncated.png").write_bytes(whole[: len(whole) // 2])
    Path("in/noise.jpg").write_bytes(np.random.default_rng(0).bytes(500))
    Path("in/notes.txt").write_text("not an image")


def test_a_folder_with_faults(workdir):
    make_folder()
    result = invoke("apply", "in", "-r", "-k", "blur", "-o", "out", "--manifest", "manifest.json", "--workers", "1")
    assert result.exit_code == 1
    written = sorted(str(p.relative_to("out")) for p in Path("out").rglob("*") if p.is_file())
    assert written == ["a_blur.png", "b_blur.jpg", "nested/c_blur.png"]  # the tree is mirrored
    errors = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert errors[0] == "failed: in/noise.jpg: not an image Pillow can read"
    assert errors[1].startswith("failed: in/truncated.png: corrupt or truncated image (")
    assert re.search(r"^3 written, 2 failed, 1 non-image file passed over, in \d+ ms$", result.stderr, re.M)
    manifest = json.loads(Path("manifest.json").read_text())
    status = {Path(item["source"]).name: item["status"] for item in manifest["inputs"]}
    assert status == {"a.png": "written", "b.jpg": "written", "c.png": "written", "noise.jpg": "failed",
                      "truncated.png": "failed"}
    item = next(i for i in manifest["inputs"] if i["source"].endswith("a.png"))
    assert item["outputs"] == [str(Path("out/a_blur.png"))]
    assert set(item["timings"]) == {"load_ms", "convolve_ms", "map_ms", "save_ms"}
    assert item["fingerprint"] == manifest["fingerprint"] and len(manifest["fingerprint"]) == 64
    assert manifest["settings"]["kernels"][0]["name"] == "blur"
    assert manifest["not_images"] == [str(Path("in/notes.txt"))]
    bad = next(i for i in manifest["inputs"] if i["source"].endswith("noise.jpg"))
    assert bad["errors"] == ["in/noise.jpg: not an image Pillow can read"] and bad["timings"] == {}


def test_skip_existing_writes_nothing_new(workdir):
    make_folder()
    invoke("apply", "in", "-r", "-k", "blur", "-o", "out", "-j", "1")
    stamps = {p: p.stat().st_mtime_ns for p in Path("out").rglob("*.*")}
    result = invoke("apply", "in", "-r", "-k", "blur", "-o", "out", "--skip-existing", "-j", "1",
                    "--manifest", "m.json")
    assert result.exit_code == 1  # the two broken files still fail
    assert {p: p.stat().st_mtime_ns for p in Path("out").rglob("*.*")} == stamps
    assert re.search(r"^0 written, 2 failed, 3 skipped \(they exist\), 1 non-image file passed over", result.stderr,
                     re.M)
    statuses = {Path(i["source"]).name: i["status"] for i in json.loads(Path("m.json").read_text())["inputs"]}
    assert statuses["a.png"] == "skipped" and statuses["noise.jpg"] == "failed"


def test_the_same_fingerprint_for_the_same_settings_only(workdir):
    make_folder()
    prints = []
    for extra in ([], [], ["--stride", "2"]):
        invoke("apply", "in/a.png", "-k", "blur", "-o", "out", "--manifest", "m.json", *extra)
        prints.append(json.loads(Path("m.json").read_text())["fingerprint"])
    assert prints[0] == prints[1] != prints[2]


def test_dry_run_lists_and_writes_nothing(workdir):
    make_folder()
    result = invoke("apply", "in", "-k", "blur", "-k", "edge", "-o", "out", "--dry-run")
    assert result.exit_code == 0
    assert not Path("out").exists()
    assert "in/a.png" in result.stdout and str(Path("out/a_edge.png")) in result.stdout
    assert result.stdout.rstrip().endswith("8 outputs from 4 inputs; 1 non-image file passed over; nothing written")


def test_worker_processes_write_the_same_bytes_as_one_process(workdir):
    make_folder()
    invoke("apply", "in", "-r", "-k", "sharpen", "-k", "sobel", "-o", "serial", "-j", "1")
    result = invoke("apply", "in", "-r", "-k", "sharpen", "-k", "sobel", "-o", "pool", "-j", "2",
                    "--report-json", "r.json")
    assert result.exit_code == 1
    serial = sorted(p.relative_to("serial") for p in Path("serial").rglob("*.*"))
    assert serial == sorted(p.relative_to("pool") for p in Path("pool").rglob("*.*")) and len(serial) == 6
    for relative in serial:
        assert (Path("serial") / relative).read_bytes() == (Path("pool") / relative).read_bytes()
    outputs = [Path(o["source"]).name for o in json.loads(Path("r.json").read_text())["outputs"]]
    assert outputs == ["a.png", "a.png", "b.jpg", "b.jpg", "c.png", "c.png"]  # reported in input order


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, with almost no data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def test_a_bomb_is_refused_from_its_header(workdir):
    Path("bomb.png").write_bytes(bomb_png(100_000, 100_000))
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("the image was decoded")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageFile.ImageFile, "load", no_decoding)  # refused from the header alone
        with pytest.raises(InputError) as error:
            load_image("bomb.png")
    assert str(error.value) == ("bomb.png: refused: 100000x100000 is 10000 MP, over the max_pixels limit of "
                                "179 MP (a decompression bomb?); raise max_pixels if the file is trusted")
    Image.fromarray(picture(1)).save("small.png")
    result = invoke("apply", "small.png", "bomb.png", "-k", "blur", "-o", "out", "--max-pixels", "100")
    assert result.exit_code == 1
    assert "failed: small.png: refused: 20x16 is 320 pixels, over the --max-pixels limit of 100 pixels" in result.stderr
    assert invoke("apply", "small.png", "-k", "blur", "-o", "ok.png", "--max-pixels", "320").exit_code == 0


SLOW_RUN = """
import sys
from convcli.cli import app
sys.argv = ["convcli", "apply", "in", "-k", "gaussian:sigma=6", "-o", "out", "-j", "2"]
app(prog_name="convcli")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
def test_ctrl_c_leaves_no_partial_file(workdir):
    Path("in").mkdir()
    for i in range(16):
        Image.fromarray(picture(i, (700, 700, 3))).save(f"in/{i:02d}.png", compress_level=0)
    process = subprocess.Popen([sys.executable, "-c", SLOW_RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 60
    while not any(Path("out").glob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert re.search(r"interrupted: \d+ inputs? not processed; partial files removed", stderr)
    leftovers = [p.name for p in Path("out").iterdir() if not p.name.endswith("_gaussian-sigma6.png")]
    assert leftovers == []  # no temporary .part files
    written = sorted(Path("out").iterdir())
    assert 0 < len(written) < 16
    for path in written:  # every file there is whole
        with Image.open(path) as image:
            image.load()
            assert image.size == (700, 700)


def test_dask_executor_writes_the_same_bytes(workdir):
    distributed = pytest.importorskip("distributed")
    make_folder()
    invoke("apply", "in", "-r", "-k", "emboss", "-k", "smooth_edges", "-o", "local", "-j", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster:
        result = invoke("apply", "in", "-r", "-k", "emboss", "-k", "smooth_edges", "-o", "dask", "--executor",
                        "dask", "--scheduler", cluster.scheduler_address, "--manifest", "m.json")
    assert result.exit_code == 1
    assert re.search(r"^6 written, 2 failed, 1 non-image file passed over", result.stderr, re.M)
    local = sorted(p.relative_to("local") for p in Path("local").rglob("*.*"))
    assert local == sorted(p.relative_to("dask") for p in Path("dask").rglob("*.*")) and len(local) == 6
    for relative in local:
        assert (Path("local") / relative).read_bytes() == (Path("dask") / relative).read_bytes()
    assert {i["status"] for i in json.loads(Path("m.json").read_text())["inputs"]} == {"written", "failed"}


def test_one_large_tiff_is_split_into_bands_across_a_dask_cluster(workdir, monkeypatch):
    """``--executor dask`` with no scheduler starts a cluster on this machine; a TIFF read in pieces is
    filtered band by band across its workers, and gives the bytes of the local run, minmax too."""
    pytest.importorskip("distributed")
    import tifffile

    pixels = np.random.default_rng(4).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    tifffile.imwrite("big.tif", pixels, photometric="rgb", rowsperstrip=16, compression="zlib")
    monkeypatch.setenv("CONVCLI_BAND_ROWS", "16")  # 19 bands; the cluster's workers inherit it
    args = ["apply", "big.tif", "-k", "emboss", "-k", "blur", "--map", "minmax", "-q"]
    assert subprocess.run([sys.executable, "-m", "convcli", *args, "-o", "local"], timeout=120).returncode == 0
    done = subprocess.run([sys.executable, "-m", "convcli", *args, "-o", "dask", "--executor", "dask", "-j", "2",
                           "--report-json", "r.json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("big_emboss.tif", "big_blur.tif"):
        assert (Path("local") / name).read_bytes() == (Path("dask") / name).read_bytes()
    notes = [output["note"] for output in json.loads(Path("r.json").read_text())["outputs"]]
    assert notes and all("split into 19 bands across the Dask cluster" in note for note in notes)


def test_executor_errors(workdir):
    Image.fromarray(picture(1)).save("a.png")
    result = invoke("apply", "a.png", "-k", "blur", "-o", "o.png", "--scheduler", "tcp://x:1")
    assert result.stderr == "Error: --scheduler goes with --executor dask\n"
    result = invoke("apply", "a.png", "-k", "blur", "-o", "o.png", "--workers", "0")
    assert result.stderr.endswith("Error: Invalid value for '--workers' / '-j': 0 is not in the range x>=1.\n")


def test_globs_mirror_below_their_fixed_part(workdir):
    make_folder()
    result = invoke("apply", "in/**/*.png", "-k", "blur", "-o", "out", "-j", "1")
    assert result.exit_code == 1  # truncated.png matches the glob and fails
    assert sorted(str(p.relative_to("out")) for p in Path("out").rglob("*.*")) == ["a_blur.png", "nested/c_blur.png"]


def test_manifest_describes_layers_and_pointwise_matrices(workdir):
    Image.fromarray(picture(1)).save("a.png")
    np.save("layer.npy", np.random.default_rng(0).normal(size=(2, 3, 3, 3)))
    result = invoke("apply", "a.png", "-k", "layer.npy", "-o", "out", "--manifest", "m.json")
    assert result.exit_code == 0, result.output
    kernels = json.loads(Path("m.json").read_text())["settings"]["kernels"]
    assert [(k["name"], k["kind"], k["shape"]) for k in kernels] == [("layer_0", "layer", [3, 3, 3]),
                                                                     ("layer_1", "layer", [3, 3, 3])]
    prints = []
    for matrix in ("1,0,0", "0,0,1"):
        invoke("apply", "a.png", "-k", "blur", "-k", "blur", "-k", "edge", "--depthwise", "--pointwise", matrix,
               "-o", f"p{matrix[0]}", "--manifest", "p.json")
        prints.append(json.loads(Path("p.json").read_text())["fingerprint"])
    assert prints[0] != prints[1]  # a different pointwise matrix is a different output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
@pytest.mark.parametrize("delay", [0.3, 0.5, 0.7, 0.9])
def test_ctrl_c_at_the_terminal_while_the_workers_start_is_one_line_and_exit_130(workdir, delay):
    # A terminal sends Ctrl-C to the whole process group: to the workers and the fork server as well.
    Path("in").mkdir()
    for i in range(24):  # seconds of work, so that the Ctrl-C at 0.9 s still finds it running
        Image.fromarray(picture(i, (500, 500, 3))).save(f"in/{i:02d}.png")
    process = subprocess.Popen([sys.executable, "-c", SLOW_RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "COLUMNS": "200"}, start_new_session=True)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert process.returncode == 130, stderr  # never lost: the run takes seconds
    assert re.search(r"^Interrupted\.$|^interrupted: \d+ inputs? not processed", stderr, re.M), stderr


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="holds the signal with a POSIX signal mask")
def test_ctrl_c_while_the_workers_start_is_held_back_not_lost():
    from convcli.pipeline.executors import _ctrl_c_held

    with pytest.raises(KeyboardInterrupt):
        with _ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # no KeyboardInterrupt here, in the middle of starting workers
            held = True
        time.sleep(0.05)  # it arrives once they have started
    assert held


def test_each_worker_process_gets_its_share_of_the_cores_for_blas_too(monkeypatch):
    # Two workers with a BLAS pool of every core each ran a separable Gaussian over photos 2.2x slower
    # than one process alone (8.6 s against 3.9 s for 100 photos).
    import convcli.pipeline.executors as executors

    shares = []
    monkeypatch.setattr(executors, "share_blas", shares.append)
    monkeypatch.setenv(executors.THREADS_VARIABLE, "")
    monkeypatch.setenv(executors.RUN_VARIABLE, "")
    handler = signal.getsignal(signal.SIGINT)
    try:
        executors._start_worker(1, "run")
    finally:
        signal.signal(signal.SIGINT, handler)
    assert shares == [1] and os.environ[executors.THREADS_VARIABLE] == "1"
