"""An input's failure, whatever raised it, is that input's failure; the rest of the batch is written.

Files are made here by real codecs (and a DDS header by hand, as a fuzzer would leave it). The one
fault that no file can cause, an unexpected exception, comes from a kernel whose ``apply`` raises.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hostile import (
    dds_with_an_unknown_pixel_format,
    icns_holding_a_png_of,
    ico_a_tga_reader_accepts,
    ico_holding_a_png_of,
    mcidas_area,
)
from PIL import Image
from typer.testing import CliRunner

from convcli.cli import app
from convcli.errors import KernelError
from convcli.kernels.library import load_library
from convcli.pipeline.batch import run as run_batch
from convcli.pipeline.manifest import manifest
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import plan

pytestmark = pytest.mark.usefixtures("workdir")
runner = CliRunner()


def photo(path: str, seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(path)
    return Path(path)


def test_an_unexpected_error_fails_its_input_alone_with_its_type_and_traceback():
    class Broken(type(load_library([])["edge"])):
        def apply(self, color, alpha, convolve):
            raise ZeroDivisionError("a bug somewhere")

    edge = load_library([])["edge"]
    broken = Broken("broken", [[1.0]])
    sources = [photo("a.png"), photo("b.png", 1)]
    targets = plan(sources, [edge], "out", ApplyOptions()) + plan(sources[:1], [broken], "out", ApplyOptions())
    result = run_batch(targets, ApplyOptions())
    assert sorted(os.listdir("out")) == ["a_edge.png", "b_edge.png"]
    assert [(f.source.name, f.kernel, f.error_type) for f in result.failures] == [("a.png", "broken",
                                                                                    "ZeroDivisionError")]
    assert result.failures[0].message == ("a.png: unexpected ZeroDivisionError: a bug somewhere (a bug: please "
                                          "report it with this file)")
    assert result.exit_code == 1
    record = next(item for item in manifest(result, targets, ApplyOptions())["inputs"] if item["source"] == "a.png")
    assert record["status"] == "failed"
    assert record["unexpected"][0]["type"] == "ZeroDivisionError"
    assert "raise ZeroDivisionError" in record["unexpected"][0]["traceback"]
    assert result.to_dict()["failures"][0]["type"] == "ZeroDivisionError"


def test_a_pixel_format_pillow_does_not_decode_is_a_clear_input_error():
    Path("in").mkdir()
    Path("in/odd.dds").write_bytes(dds_with_an_unknown_pixel_format())
    photo("in/good.png")
    result = runner.invoke(app, ["apply", "in", "-k", "edge", "-o", "out", "--report-json", "r.json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "failed: in/odd.dds: a kind of image Pillow does not decode (Unimplemented pixel format 0)" \
        in result.stderr
    assert os.listdir("out") == ["good_edge.png"]
    assert json.loads(Path("r.json").read_text())["failures"][0]["type"] is None  # not a bug: a known failure


def test_a_resolution_no_file_can_hold_is_left_out():
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 4294967295, 4294967295, 2  # X and Y resolution, in inches
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save("camera.jpg", exif=exif.tobytes())
    with Image.open("camera.jpg") as image:
        assert image.info["dpi"] == (4294967295, 4294967295)
    result = runner.invoke(app, ["apply", "camera.jpg", "-k", "edge", "-o", "out.png"])
    assert result.exit_code == 0, result.output
    with Image.open("out.png") as image:
        assert "dpi" not in image.info


def test_every_extension_pillow_reads_is_taken_from_a_folder():
    Path("in").mkdir()
    frames = [Image.fromarray(np.full((16, 16, 3), value, np.uint8)) for value in (50, 150)]
    frames[0].save("in/pair.mpo", save_all=True, append_images=frames[1:], format="MPO")
    area = np.arange(6 * 9, dtype=np.uint8).reshape(6, 9)
    Path("in/satellite.ara").write_bytes(mcidas_area(area))
    result = runner.invoke(app, ["apply", "in", "-k", "identity", "-o", "out"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir("out")) == ["pair_identity.png", "satellite_identity.png"]
    with Image.open("out/satellite_identity.png") as written:
        assert np.array_equal(np.asarray(written), area)
    assert "warning: in/pair.mpo: holds 2 images (MPO); the first is filtered (--frame picks others)" \
        in result.stderr


def test_an_ico_is_read_as_an_ico_after_tga_files():
    # In a worker process Pillow loaded the plugin of each extension as it met it, so a worker that had
    # met a .tga tried the TGA reader on the ICO first (every time, before every plugin was loaded in a
    # fixed order before the first read).
    import subprocess
    import sys

    Path("in").mkdir()
    for index in range(4):
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
            f"in/a{index}.tga")
    icon = np.random.default_rng(9).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Path("in/z.ico").write_bytes(ico_a_tga_reader_accepts(icon))
    done = subprocess.run([sys.executable, "-m", "convcli", "apply", "in", "-k", "identity", "-o", "out", "-j", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Image.open("out/z_identity.png") as written:
        np.testing.assert_array_equal(np.asarray(written.convert("RGB")), icon)


@pytest.mark.parametrize("name", ["bomb.icns", "bomb.ico"])
def test_a_bomb_inside_a_container_is_refused_before_it_is_decoded(name):
    # Pillow decodes an ICO's image as it opens it: this one was decoded whole (400 MB) before it was refused.
    Path(name).write_bytes((icns_holding_a_png_of if name.endswith("icns") else ico_holding_a_png_of)(20000))
    assert Path(name).stat().st_size < 100_000  # 400 MP behind a 512x512 or 256x256 header
    result = runner.invoke(app, ["apply", name, "-k", "edge", "-o", "out.png", "--max-pixels", "100000000"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"failed: {name}: refused: an image inside it of 400 MP is over the --max-pixels limit of 100 MP (a "
            "decompression bomb?)\n") in result.stderr
    assert not Path("out.png").exists()


def test_a_run_cleans_up_only_its_own_temporary_files_and_skip_existing_removes_orphans():
    import subprocess
    import sys

    from convcli.imageio.atomic import temporary_files
    from convcli.pipeline.batch import remove_partial_files, skip_existing

    photo("a.png")
    Path("out").mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    try:
        other = Path(f"out/.a_edge.png.p{sleeper.pid}.x1.part")  # another run, still writing
        orphan = Path(f"out/.a_edge.png.p{int(dead.stdout)}.x2.part")  # a run that was killed
        mine = Path(f"out/.a_edge.png.p{os.getpid()}.x3.part")
        for path in (other, orphan, mine):
            path.write_bytes(b"half")
        targets = plan([Path("a.png")], [load_library([])["edge"]], "out", ApplyOptions())
        assert temporary_files(targets[0].output) == sorted([other, orphan, mine])
        assert remove_partial_files(targets) == 1  # this process's run: its own file alone
        assert sorted(Path("out").iterdir()) == sorted([other, orphan])
        todo, existing = skip_existing(targets)
        assert (len(todo), existing) == (1, [])
        assert list(Path("out").iterdir()) == [other]  # the orphan is gone; the live run's file stays
    finally:
        sleeper.kill()
        sleeper.wait()


def _grandchildren(pid: int) -> list[int]:
    """The processes two generations below ``pid``: a forkserver pool's workers."""
    def children(parent: int) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent:
                    found.append(int(entry.name))
        return found

    return [grandchild for child in children(pid) for grandchild in children(child)]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers through /proc")
def test_a_killed_worker_is_replaced_and_the_run_ends_with_every_file_whole():
    import signal
    import subprocess
    import sys
    import time

    Path("in").mkdir()
    for index in range(6):
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(
            f"in/{index}.png", compress_level=0)
    process = subprocess.Popen([sys.executable, "-m", "convcli", "apply", "in", "-k", "gaussian:sigma=6", "-o", "out",
                                "-j", "2", "--manifest", "m.json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 60
    while len(_grandchildren(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the workers are filtering
    os.kill(_grandchildren(process.pid)[0], signal.SIGKILL)  # as the OOM killer would
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert sorted(os.listdir("out")) == [f"{index}_gaussian-sigma6.png" for index in range(6)]  # no .part left
    assert {item["status"] for item in json.loads(Path("m.json").read_text())["inputs"]} == {"written"}


@pytest.mark.parametrize("spec", ["gaussian:sigma=1e308", "disk:radius=1e308", "gabor:sigma=2,gamma=5e-324",
                                  "unsharp:sigma=1e308", "laplacian_of_gaussian:sigma=1e308"])
def test_a_generator_call_too_large_for_floats_is_one_error_line(spec):
    photo("a.png")
    result = runner.invoke(app, ["apply", "a.png", "-k", spec, "-o", "out.png"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr == f"Error: kernel '{spec}': the kernel would be wider than the limit of 1025\n"


def test_named_pipes_are_refused_as_inputs_and_kernel_files():
    photo("a.png")
    for name in ("pipe.png", "pipe.npy", "pipe.toml"):
        os.mkfifo(name)
    cases = [(["pipe.png", "-k", "edge"], "Error: INPUT pipe.png is not a regular file (a named pipe or a device?); "
                                          "pipe it into - instead\n"),
             (["a.png", "-k", "pipe.npy"], "Error: pipe.npy: not a regular file (a named pipe or a device?)\n"),
             (["a.png", "-k", "edge", "--kernels", "pipe.toml"],
              "Error: pipe.toml: not a regular file (a named pipe or a device?)\n")]
    for arguments, message in cases:
        result = runner.invoke(app, ["apply", *arguments, "-o", "out.png"])
        assert (result.exit_code, result.stderr) == (2, message)


def test_a_glob_does_not_follow_a_link_round_a_loop():
    Path("a").mkdir()
    photo("a/x.png")
    Path("a/up").symlink_to("..")
    result = runner.invoke(app, ["apply", "**/*.png", "-k", "edge", "-o", "out"])
    assert result.exit_code == 0, result.output
    assert [str(p.relative_to("out")) for p in sorted(Path("out").rglob("*.png"))] == ["a/x_edge.png"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--dilation", "1000000000"], "Error: --dilation 1000000000 spreads edge over 2000000001 pixels: every image "
                                   "would be padded to at least 2000000001x2000000001 pixels, over the --max-pixels "
                                   "limit of 179 MP\n"),
    (["--padding", "30000"], "Error: --padding 30000 pads every image to at least 60001x60001 pixels, over the "
                             "--max-pixels limit of 179 MP\n"),
    (["--padding", "40", "--max-pixels", "5000"], "Error: --padding 40 pads every image to at least 81x81 pixels, "
                                                  "over the --max-pixels limit of 5000 pixels\n"),
])
def test_a_reach_no_memory_holds_is_refused_before_any_work(flags, message):
    photo("a.png")
    result = runner.invoke(app, ["apply", "a.png", "-k", "edge", "-o", "out.png", *flags])
    assert (result.exit_code, result.stderr) == (2, message)
    assert not Path("out.png").exists()


def _kernel_files() -> None:
    big = "9" * 401
    Path("weights.toml").write_text(f"[kernels.b]\nweights = [[{big}, 1], [1, 1]]\n")
    Path("scale.toml").write_text(f"[kernels.b]\nweights = [[1, 1], [1, 1]]\nscale = {big}\n")
    Path("size.toml").write_text(f'[kernels.b]\ngenerator = "gaussian"\nsize = {big}\n')
    Path("deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    Path("wide.toml").write_text("[kernels.b]\nweights = [" + ", ".join(["[1]"] * 2000) + "]\n")
    np.savez("archive.npz", a=np.ones((3, 3)))
    Path("archive.npz").rename("renamed.npy")
    with open("huge.npy", "wb") as handle:  # a header that claims 100000 x 100000 float64 (74.5 GiB)
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (100000, 100000)})
        handle.write(bytes(80))
    Path("nan.mat").write_text("nan 3\n1 2 3\n")


@pytest.mark.parametrize(("arguments", "message"), [
    (["-k", "b", "--kernels", "weights.toml"],
     "weights.toml: kernel 'b': weights: row 1 holds a number of 401 digits, larger than floating point holds"),
    (["-k", "b", "--kernels", "scale.toml"],
     "scale.toml: kernel 'b': scale: a number of 401 digits is larger than floating point holds"),
    (["-k", "b", "--kernels", "size.toml"],
     "size.toml: kernel 'b': generator: size is a number of 401 digits, larger than floating point holds"),
    (["-k", "edge", "--kernels", "deep.toml"], "deep.toml: not a kernel file: its arrays or tables are nested too "
                                               "deeply"),
    (["-k", "b", "--kernels", "wide.toml"], "wide.toml: kernel 'b': weights: 2000x1 is larger than the limit of 1025 "
                                            "on a side"),
    (["-k", "renamed.npy"], "renamed.npy: an .npz archive, not an .npy array; save one array with numpy.save"),
    (["-k", "huge.npy"], "huge.npy: an array of shape (100000, 100000) holds more weights than a kernel, a bank or a "
                         "layer can (at most 67,108,864)"),
    (["-k", "nan.mat"], "nan.mat: the first line must be 'W H [scale [offset]]', got 'nan 3'"),
    (["-k", "edge", "--executor", "dask", "--scheduler", "not a url"], None),
    (["-k", "edge", "--name", "{stem:>3000000000}_{kernel}.png"],
     "--name template '{stem:>3000000000}_{kernel}.png': fields are written as they are; {stem:>3000000000} takes "
     "no format"),
])
def test_malformed_kernels_and_flags_are_one_error_line(arguments, message):
    pytest.importorskip("distributed") if "dask" in arguments else None
    _kernel_files()
    photo("a.png")
    result = runner.invoke(app, ["apply", "a.png", *arguments, "-o", "out"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    if message:
        assert lines[0] == f"Error: {message}"


def test_large_chains_fold_by_fft_and_too_large_ones_are_refused_before_folding():
    from scipy.signal import convolve2d

    from convcli.kernels.composite import Chain
    from convcli.kernels.kernel import Kernel

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(121, 121)), rng.normal(size=(101, 101))  # past the tap-by-tap fold: by FFT
    folded = Chain("ab", (Kernel("a", a), Kernel("b", b))).fold()
    np.testing.assert_allclose(folded.weights, convolve2d(a, b, mode="full"), atol=1e-9)  # an independent fold
    big = Kernel("big", rng.normal(size=(1025, 1025)))
    with pytest.raises(KernelError) as caught:
        Chain("twice", (big, big)).fold()
    assert str(caught.value) == ("chain 'twice': folded, its kernels make one of 2049x2049, larger than the limit "
                                 "of 1025 on a side")


def _slow_inputs(count: int) -> None:
    Path("in").mkdir()
    for index in range(count):
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(
            f"in/{index}.png", compress_level=0)


def _start_on_dask(address: str):
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-m", "convcli", "apply", "in", "-k", "gaussian:sigma=6", "-o", "out",
                                "--executor", "dask", "--scheduler", address, "--manifest", "m.json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 60
    while not (Path("out").is_dir() and any(Path("out").iterdir())) and time.monotonic() < deadline:
        time.sleep(0.02)  # until the workers write
    return process


def test_a_killed_dask_worker_leaves_no_temporary_file_and_its_inputs_are_run_again():
    distributed = pytest.importorskip("distributed")
    import signal

    _slow_inputs(8)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        process = _start_on_dask(cluster.scheduler_address)
        os.kill(next(iter(client.run(os.getpid).values())), signal.SIGKILL)  # as the OOM killer would
        _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert sorted(os.listdir("out")) == sorted(f"{index}_gaussian-sigma6.png" for index in range(8))  # no .part
    assert {item["status"] for item in json.loads(Path("m.json").read_text())["inputs"]} == {"written"}


def test_ctrl_c_on_dask_waits_for_the_inputs_its_workers_have_started_and_its_manifest_says_what_is_there():
    distributed = pytest.importorskip("distributed")
    import signal
    import time

    _slow_inputs(12)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster:
        process = _start_on_dask(cluster.scheduler_address)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        time.sleep(3)  # a task still running on a worker would write its file now, after the run
        on_disk = sorted(os.listdir("out"))
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    record = json.loads(Path("m.json").read_text())
    written = sorted(Path(item["outputs"][0]).name for item in record["inputs"] if item["status"] == "written")
    assert on_disk == written and 0 < len(written) < 12  # no .part, and nothing the manifest does not list
    assert {item["status"] for item in record["inputs"]} == {"written", "interrupted"} and record["interrupted"]
    pending = [item for item in record["inputs"] if item["status"] == "interrupted"]
    assert f"interrupted: {len(pending)} inputs not processed; partial files removed" in stderr


def test_a_lost_dask_scheduler_ends_the_run_with_one_error_line_and_a_manifest():
    distributed = pytest.importorskip("distributed")

    _slow_inputs(8)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster:
        address = cluster.scheduler_address
        process = _start_on_dask(address)
    # Leaving the block closed the scheduler and its worker in mid-run.
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    record = json.loads(Path("m.json").read_text())
    pending = [item["source"] for item in record["inputs"] if item["status"] == "not processed"]
    assert pending and record["stopped"] == f"lost the connection to the Dask scheduler at {address}"
    assert (f"Error: lost the connection to the Dask scheduler at {address}; {len(pending)} inputs not processed, "
            "partial files removed\n") in stderr
    assert not [name for name in os.listdir("out") if name.endswith(".part")]
    assert {item["status"] for item in record["inputs"]} <= {"written", "not processed"}


def test_a_bug_outside_the_inputs_prints_its_traceback_one_error_line_and_exit_70(monkeypatch):
    import convcli.pipeline.planning

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    photo("a.png")
    monkeypatch.setattr(convcli.pipeline.planning, "plan", broken)
    result = runner.invoke(app, ["apply", "a.png", "-k", "edge", "-o", "out.png"])
    assert result.exit_code == 70
    assert "Traceback" in result.stderr and "ZeroDivisionError: division by zero" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == ("Error: internal error (a bug in convcli); please report it "
                                                      "with the traceback above")


def test_ctrl_c_before_the_run_starts_is_one_line_and_exit_130(monkeypatch):
    import convcli.pipeline.planning

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    photo("a.png")
    monkeypatch.setattr(convcli.pipeline.planning, "plan", interrupted)
    result = runner.invoke(app, ["apply", "a.png", "-k", "edge", "-o", "out.png"])
    assert (result.exit_code, result.stderr) == (130, "Interrupted.\n")
    assert not Path("out.png").exists()


def test_combining_maps_of_different_sizes_is_refused_before_work_or_fails_that_input():
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (100, 120, 3), dtype=np.uint8)).save("b.png")
    result = runner.invoke(app, ["apply", "b.png", "-k", "sobel_x", "-k", "gaussian:sigma=3", "--padding", "valid",
                                 "--combine", "max", "-o", "out.png"])
    assert (result.exit_code, result.stderr) == (2, (
        "Error: --combine max needs maps of one size, but with --padding valid kernels of different sizes (sobel_x "
        "3x3, gaussian-sigma3 19x19) give maps of different sizes; use --padding same, or --stack to keep the maps "
        "side by side\n"))
    # At a stride the image's size decides too (a chain strides at each step): that input fails, clearly.
    result = runner.invoke(app, ["apply", "b.png", "-k", "sobel_x", "-k", "smooth_edges", "--padding", "1",
                                 "--stride", "3", "--combine", "max", "-o", "out.png"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("failed: b.png [max]: --combine max needs maps of one size; these kernels give 11x14, 34x40 here (use "
            "--padding same, or --stack to keep the maps side by side)") in result.stderr
    assert not Path("out.png").exists()
    # Of one size (a chain among them), they combine.
    result = runner.invoke(app, ["apply", "b.png", "-k", "sobel_x", "-k", "smooth_edges", "--combine", "max",
                                 "--map", "abs", "-o", "out.png"])
    assert result.exit_code == 0, result.output
    with Image.open("out.png") as written:
        assert written.size == (120, 100)


def test_a_chain_of_two_thousand_chains_folds_or_is_refused_in_one_line():
    lines = ["[kernels.one]", "weights = [[1]]", "[chains.d0]", 'kernels = ["one", "one"]',
             "[chains.e0]", 'kernels = ["edge", "edge"]']
    for index in range(1, 2001):
        lines += [f"[chains.d{index}]", f'kernels = ["d{index - 1}", "one"]',
                  f"[chains.e{index}]", f'kernels = ["e{index - 1}", "edge"]']
    Path("chains.toml").write_text("\n".join(lines) + "\n")
    photo("a.png")
    result = runner.invoke(app, ["apply", "a.png", "-k", "e2000", "--kernels", "chains.toml", "-o", "out.png"])
    assert (result.exit_code, result.stderr) == (2, "Error: chain 'e2000': folded, its kernels make one of 4005x4005, "
                                                    "larger than the limit of 1025 on a side\n")
    result = runner.invoke(app, ["apply", "a.png", "-k", "d2000", "--kernels", "chains.toml", "-o", "out.png"])
    assert result.exit_code == 0, result.output
    assert ("note: chain one → one → one → one → one → one → one → … → one (2002 kernels) folded into one 1x1 "
            "kernel") in result.stderr
    with Image.open("out.png") as written, Image.open("a.png") as given:  # the identity, 2002 times
        assert np.array_equal(np.asarray(written), np.asarray(given))
