"""The kernel generators: each one against its formula or defining property, written out here.

Nothing in this file calls the module's helpers to compute an expected value: the Gaussian, the
Laplacian of Gaussian, the disc and the Gabor wave are sampled below from their textbook formulas,
the motion kernel is measured by its second moments, and the Gabor kernel by its response to
sinusoidal gratings. Offsets use ``x`` to the right and ``y`` upwards, so angles turn anticlockwise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import load_kernel_file

from convcli.errors import KernelError
from convcli.kernels.generators import generate, parse_call
from convcli.kernels.kernel import MAX_KERNEL_SIDE
from convcli.kernels.library import load_library
from convcli.kernels.specs import resolve_kernels

WHERE = "kernel 'test'"


@pytest.fixture(autouse=True)
def isolated_user_config(tmp_path, monkeypatch):
    """No test reads the real user's kernel files."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CONVCLI_KERNELS", raising=False)


# ----------------------------------------------------------------------------------------- helpers


def gen(name: str, **params) -> np.ndarray:
    return generate(name, params, WHERE)


def default_size(sigma: float) -> int:
    """The documented rule: the kernel reaches three sigmas either side of its centre."""
    return 2 * math.ceil(3 * sigma) + 1


def offsets(height: int, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of every cell from the centre cell, ``y`` pointing up (row 0 is the top)."""
    width = height if width is None else width
    rows, cols = np.mgrid[:height, :width]
    return cols - (width - 1) / 2, (height - 1) / 2 - rows


def sampled_gaussian(size: int, sigma: float) -> np.ndarray:
    x, y = offsets(size)
    g = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return g / g.sum()


def impulse(size: int) -> np.ndarray:
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    return delta


def assert_fourfold_symmetric(kernel: np.ndarray) -> None:
    np.testing.assert_allclose(kernel, np.rot90(kernel), rtol=0, atol=1e-15)
    np.testing.assert_allclose(kernel, kernel[::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(kernel, kernel.T, rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------------- gaussian


@pytest.mark.parametrize(("size", "sigma"), [(1, 1.0), (3, 0.5), (5, 1.0), (7, 3.0), (9, 2.0), (15, 1.3)])
def test_gaussian_is_the_sampled_formula_normalised(size, sigma):
    kernel = gen("gaussian", size=size, sigma=sigma)
    assert kernel.shape == (size, size)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(kernel, sampled_gaussian(size, sigma), rtol=1e-12, atol=0)
    assert np.argmax(kernel) == kernel.size // 2  # the peak is the centre cell
    assert np.linalg.matrix_rank(kernel) == 1  # separable


@pytest.mark.parametrize(("sigma", "size"), [(0.3, 3), (0.5, 5), (1.0, 7), (1.5, 11), (2.0, 13), (2.5, 17)])
def test_gaussian_default_size_is_two_ceil_three_sigma_plus_one(sigma, size):
    assert default_size(sigma) == size  # the rule, worked by hand in the parameters
    kernel = gen("gaussian", sigma=sigma)
    assert kernel.shape == (size, size)
    np.testing.assert_allclose(kernel, sampled_gaussian(size, sigma), rtol=1e-12, atol=0)


def test_gaussian_defaults_to_sigma_one():
    np.testing.assert_allclose(gen("gaussian"), sampled_gaussian(7, 1.0), rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------- box, disk


@pytest.mark.parametrize("size", [1, 3, 5, 9])
def test_box_is_the_neighbourhood_mean(size):
    kernel = gen("box", size=size)
    np.testing.assert_array_equal(kernel, np.full((size, size), 1 / size**2))


def test_box_defaults_to_three():
    np.testing.assert_array_equal(gen("box"), np.full((3, 3), 1 / 9))


def test_disk_of_radius_one_and_two_by_hand():
    plus = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]) / 5
    np.testing.assert_allclose(gen("disk", radius=1), plus, rtol=1e-15, atol=0)
    # radius 2: the centre, 4 at distance 1, 4 at sqrt(2), 4 at distance 2; (1, 2) is at sqrt(5) > 2
    inside = np.array([[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]])
    np.testing.assert_allclose(gen("disk", radius=2), inside / 13, rtol=1e-15, atol=0)


@pytest.mark.parametrize("radius", [1.0, 1.5, 2.0, 2.5, 3.0, 4.2, 7.0])
def test_disk_holds_the_cells_within_its_radius(radius):
    kernel = gen("disk", radius=radius)
    side = 2 * math.floor(radius) + 1  # the documented side
    assert kernel.shape == (side, side)
    x, y = offsets(side)
    inside = x**2 + y**2 <= radius**2
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(kernel[inside], 1 / inside.sum(), rtol=1e-12)  # flat inside
    assert not kernel[~inside].any()  # nothing outside
    assert_fourfold_symmetric(kernel)
    # the radius is reached along the axes: the cell at distance floor(r) on the x axis is inside
    centre = side // 2
    assert kernel[centre, centre + math.floor(radius)] > 0


# --------------------------------------------------------------------------- laplacian of gaussian


def sampled_log(size: int, sigma: float) -> np.ndarray:
    """∇²G up to a constant factor: ``(r² - 2σ²) / σ⁴ · exp(-r² / 2σ²)``."""
    x, y = offsets(size)
    r2 = x**2 + y**2
    return (r2 - 2 * sigma**2) / sigma**4 * np.exp(-r2 / (2 * sigma**2))


@pytest.mark.parametrize(("sigma", "size"), [(1.4, 9), (1.0, None), (2.0, 15), (0.8, None), (1.2, 5)])
def test_laplacian_of_gaussian(sigma, size):
    params = {"sigma": sigma} if size is None else {"sigma": sigma, "size": size}
    kernel = gen("laplacian_of_gaussian", **params)
    size = size or default_size(sigma)
    assert kernel.shape == (size, size)
    assert abs(kernel.sum()) <= 1e-12 * np.abs(kernel).sum()  # zero-sum
    centre = size // 2
    assert kernel[centre, centre] < 0
    assert kernel[centre, centre] == kernel.min()
    assert kernel.max() > 0  # the positive ring
    assert_fourfold_symmetric(kernel)
    x, y = offsets(size)
    r = np.hypot(x, y)
    for radius in np.unique(np.round(r, 9)):  # radial symmetry: one value per distance
        ring = kernel[np.isclose(r, radius)]
        np.testing.assert_allclose(ring, ring[0], rtol=1e-12, atol=1e-15)
    formula = sampled_log(size, sigma)
    # The same up to the shift that makes it sum to 0 (and any positive scale a generator might add).
    shifted = formula - formula.mean()
    scale = (kernel * shifted).sum() / (shifted * shifted).sum()
    assert scale > 0
    np.testing.assert_allclose(kernel, scale * shifted, rtol=1e-10, atol=1e-12 * np.abs(kernel).max())


# ------------------------------------------------------------------------- difference of gaussians


@pytest.mark.parametrize(("sigma1", "sigma2", "size", "expected_size"), [
    (1.0, 1.6, None, 11),  # from the larger sigma: 2 * ceil(4.8) + 1
    (2.0, 1.0, None, 13),  # the larger sigma may come first
    (1.0, 2.0, 7, 7),
    (0.5, 0.8, None, 7),
])
def test_difference_of_gaussians(sigma1, sigma2, size, expected_size):
    params = {"sigma1": sigma1, "sigma2": sigma2} | ({} if size is None else {"size": size})
    kernel = gen("difference_of_gaussians", **params)
    assert kernel.shape == (expected_size, expected_size)
    assert abs(kernel.sum()) <= 1e-12
    expected = sampled_gaussian(expected_size, sigma1) - sampled_gaussian(expected_size, sigma2)
    np.testing.assert_allclose(kernel, expected, rtol=0, atol=1e-15)
    centre = expected_size // 2
    assert (kernel[centre, centre] > 0) == (sigma1 < sigma2)  # the narrower Gaussian wins at the centre


# ------------------------------------------------------------------------------------------ unsharp


@pytest.mark.parametrize(("amount", "sigma", "size"), [(1.0, 1.0, None), (0.5, 0.8, None), (2.0, 1.5, 5)])
def test_unsharp_is_boosted_identity_minus_blur(amount, sigma, size):
    params = {"amount": amount, "sigma": sigma} | ({} if size is None else {"size": size})
    kernel = gen("unsharp", **params)
    size = size or default_size(sigma)
    assert kernel.shape == (size, size)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    expected = (1 + amount) * impulse(size) - amount * sampled_gaussian(size, sigma)
    np.testing.assert_allclose(kernel, expected, rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------------- motion


def principal_axis(kernel: np.ndarray) -> tuple[float, float, float, float]:
    """``(angle in degrees, extent along the axis, centroid x, centroid y)`` from the weights' moments.

    A uniform segment of length L has variance L² / 12 along it, so the extent is sqrt(12 var).
    """
    x, y = offsets(*kernel.shape)
    total = kernel.sum()
    mx, my = (kernel * x).sum() / total, (kernel * y).sum() / total
    cxx = (kernel * (x - mx) ** 2).sum() / total
    cyy = (kernel * (y - my) ** 2).sum() / total
    cxy = (kernel * (x - mx) * (y - my)).sum() / total
    angle = 0.5 * math.degrees(math.atan2(2 * cxy, cxx - cyy))
    largest = np.linalg.eigvalsh([[cxx, cxy], [cxy, cyy]])[-1]
    return angle, math.sqrt(12 * largest), mx, my


def angle_error(measured: float, wanted: float) -> float:
    """The difference between two axis directions (defined modulo 180 degrees)."""
    return abs((measured - wanted + 90) % 180 - 90)


ANGLE_TOLERANCE = 2.0  # degrees


@pytest.mark.parametrize("length", [5, 9, 10])
@pytest.mark.parametrize("angle", [0, 90, 45, 30, 135, -20])
def test_motion_lies_along_its_angle_with_its_length(length, angle):
    kernel = gen("motion", length=length, angle=angle)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    assert kernel.min() >= 0
    assert kernel.shape[0] % 2 == 1 and kernel.shape[1] % 2 == 1  # a true centre ...
    assert kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] > 0  # ... which the line passes through
    measured, extent, mx, my = principal_axis(kernel)
    assert abs(mx) < 1e-9 and abs(my) < 1e-9  # centred: the blur does not shift the image
    assert angle_error(measured, angle) <= ANGLE_TOLERANCE, (measured, angle)
    assert abs(extent - length) <= 1.0, (extent, length)


def test_motion_near_vertical_keeps_its_tilt():
    measured, _, _, _ = principal_axis(gen("motion", length=9, angle=84))
    assert angle_error(measured, 84) <= ANGLE_TOLERANCE, measured


def test_motion_horizontal_nine_is_nine_equal_taps():
    np.testing.assert_allclose(gen("motion", length=9, angle=0), np.full((1, 9), 1 / 9), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gen("motion", length=9), np.full((1, 9), 1 / 9), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gen("motion", length=9, angle=90), np.full((9, 1), 1 / 9), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gen("motion", length=9, angle=180), np.full((1, 9), 1 / 9), rtol=1e-12, atol=0)


def test_motion_turns_anticlockwise():
    """45 degrees rises to the right: the weight sits on the top-right and bottom-left corners."""
    rising = gen("motion", length=5, angle=45)
    falling = gen("motion", length=5, angle=-45)
    assert rising[0, -1] > 0 and rising[-1, 0] > 0
    assert rising[0, 0] == 0 and rising[-1, -1] == 0
    np.testing.assert_allclose(falling, rising[:, ::-1], rtol=0, atol=1e-15)


# -------------------------------------------------------------------------------------------- gabor


def grating_response(kernel: np.ndarray, theta: float, wavelength: float) -> float:
    """The strongest correlation of the kernel with ``cos(2π u / λ + φ)`` over the phase φ, where ``u``
    is the distance along direction ``theta`` (degrees anticlockwise from x, ``y`` up)."""
    x, y = offsets(*kernel.shape)
    t = math.radians(theta)
    u = x * math.cos(t) + y * math.sin(t)
    return max(abs((kernel * np.cos(2 * math.pi * u / wavelength + phase)).sum())
               for phase in np.linspace(0, 2 * math.pi, 24, endpoint=False))


@pytest.mark.parametrize("theta", [0, 30, 45, 90, 135, -60])
@pytest.mark.parametrize("wavelength", [4, 6, 9])
def test_gabor_prefers_gratings_across_theta(theta, wavelength):
    kernel = gen("gabor", theta=theta, wavelength=wavelength)
    assert abs(kernel.mean()) <= 1e-12 * np.abs(kernel).max()  # zero mean: flat areas give 0
    along = grating_response(kernel, theta, wavelength)
    assert along > 10 * grating_response(kernel, theta + 90, wavelength)
    if theta % 90:  # the mirrored direction is a different one: checks that theta turns anticlockwise
        assert along > 5 * grating_response(kernel, -theta, wavelength)


def test_gabor_is_the_documented_wave_under_its_envelope():
    theta, sigma, wavelength, gamma, psi = 30.0, 2.0, 5.0, 0.5, 90.0
    kernel = gen("gabor", theta=theta, sigma=sigma, wavelength=wavelength, gamma=gamma, psi=psi)
    size = 2 * math.ceil(3 * sigma / gamma) + 1  # the longer axis of the envelope sets the size
    assert kernel.shape == (size, size)
    x, y = offsets(size)
    t = math.radians(theta)
    across = x * math.cos(t) + y * math.sin(t)  # along the wave's direction
    along = -x * math.sin(t) + y * math.cos(t)  # along the stripes
    wave = np.exp(-(across**2 + gamma**2 * along**2) / (2 * sigma**2)) * np.cos(
        2 * math.pi * across / wavelength + math.radians(psi))
    np.testing.assert_allclose(kernel, wave - wave.mean(), rtol=0, atol=1e-12)


def test_gabor_lambda_is_an_alias_of_wavelength():
    np.testing.assert_array_equal(gen("gabor", theta=30, **{"lambda": 4}), gen("gabor", theta=30, wavelength=4))
    assert not np.array_equal(gen("gabor", theta=30, wavelength=4), gen("gabor", theta=30, wavelength=6))
    with pytest.raises(KernelError) as caught:
        gen("gabor", **{"lambda": 0})
    assert str(caught.value) == f"{WHERE}: wavelength must be > 0, got 0"


# -------------------------------------------------------------------------------- parsing and errors


@pytest.mark.parametrize(("spec", "expected"), [
    ("gaussian:size=9,sigma=2", ("gaussian", {"size": 9.0, "sigma": 2.0})),
    ("gaussian", ("gaussian", {})),
    ("gaussian:", ("gaussian", {})),
    (" motion : length = 9 , angle = -30 ", ("motion", {"length": 9.0, "angle": -30.0})),
    ("gabor:theta=22.5,lambda=4", ("gabor", {"theta": 22.5, "lambda": 4.0})),
    ("disk:radius=1e1", ("disk", {"radius": 10.0})),
])
def test_parse_call(spec, expected):
    assert parse_call(spec) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("gaussian:size=a", "kernel 'gaussian:size=a': size must be a number, got 'a'"),
    ("gaussian:sigma=1,size=", "kernel 'gaussian:sigma=1,size=': size must be a number, got ''"),
    ("gaussian:size", "kernel 'gaussian:size': 'size' is not key=value"),
])
def test_parse_call_errors(spec, message):
    with pytest.raises(KernelError) as caught:
        parse_call(spec)
    assert str(caught.value) == message


GENERATOR_NAMES = "gaussian, box, disk, laplacian_of_gaussian, difference_of_gaussians, motion, unsharp, gabor"


@pytest.mark.parametrize(("name", "params", "message"), [
    ("gausian", {}, "unknown generator 'gausian' (did you mean 'gaussian'?)"),
    ("motoin", {}, "unknown generator 'motoin' (did you mean 'motion'?)"),
    ("xyzzy", {}, f"unknown generator 'xyzzy'; generators: {GENERATOR_NAMES}"),
    ("gaussian", {"sigam": 1.0}, "gaussian has no parameter 'sigam' (did you mean 'sigma'?)"),
    ("motion", {"lenght": 9.0}, "motion has no parameter 'lenght' (did you mean 'length'?)"),
    ("gaussian", {"radius": 1.0}, "gaussian has no parameter 'radius'; it takes size, sigma"),
    ("gaussian", {"size": "five"}, "size must be a finite number, got 'five'"),
    ("gaussian", {"size": True}, "size must be a finite number, got True"),
    ("gaussian", {"sigma": math.inf}, "sigma must be a finite number, got inf"),
    ("gaussian", {"size": 4.0}, "size must be an odd whole number, got 4.0"),
    ("gaussian", {"size": 4}, "size must be an odd whole number, got 4"),
    ("box", {"size": 5.5}, "size must be an odd whole number, got 5.5"),
    ("gaussian", {"size": 0.0}, "size must be > 0, got 0.0"),
    ("box", {"size": -3.0}, "size must be > 0, got -3.0"),
    ("gaussian", {"sigma": -1.0}, "sigma must be > 0, got -1.0"),
    ("gaussian", {"sigma": 0}, "sigma must be > 0, got 0"),
    ("difference_of_gaussians", {"sigma2": -2.0}, "sigma2 must be > 0, got -2.0"),
    ("disk", {"radius": 0.0}, "radius must be > 0, got 0.0"),
    ("motion", {"length": 0.0}, "length must be > 0, got 0.0"),
    ("gaussian", {"size": MAX_KERNEL_SIDE + 2.0},
     f"size {MAX_KERNEL_SIDE + 2} is larger than the limit of {MAX_KERNEL_SIDE}"),
    ("gaussian", {"sigma": 200.0},
     f"the kernel would be 1201 pixels across, larger than the limit of {MAX_KERNEL_SIDE}"),
    ("motion", {"length": 2000.0},
     f"the kernel would be 2001 pixels across, larger than the limit of {MAX_KERNEL_SIDE}"),
])
def test_generate_errors(name, params, message):
    with pytest.raises(KernelError) as caught:
        generate(name, params, WHERE)
    assert str(caught.value) == f"{WHERE}: {message}"


def test_largest_size_is_accepted():
    assert gen("box", size=MAX_KERNEL_SIDE).shape == (MAX_KERNEL_SIDE, MAX_KERNEL_SIDE)


@pytest.mark.parametrize(("name", "params"), [("gaussian", {"sigma": 1e9}), ("disk", {"radius": 1e10})])
def test_a_huge_derived_size_is_refused_before_it_is_built(name, params):
    with pytest.raises(KernelError, match=f"larger than the limit of {MAX_KERNEL_SIDE}"):
        generate(name, params, WHERE)


# --------------------------------------------------------------------------------- -k generator calls


@pytest.mark.parametrize(("spec", "name"), [
    ("gaussian:size=5,sigma=1", "gaussian-size5-sigma1"),
    ("gaussian:sigma=1.5", "gaussian-sigma1p5"),
    ("gaussian", "gaussian"),
    ("motion:length=9,angle=-30", "motion-length9-anglem30"),
    ("gabor:theta=-22.5,lambda=4", "gabor-thetam22p5-lambda4"),
    ("disk:radius=0.25", "disk-radius0p25"),
])
def test_generator_calls_are_named_for_their_parameters(spec, name):
    [kernel] = resolve_kernels([spec], load_library())
    assert kernel.name == name
    assert kernel.source == f"generator {spec!r}"


def test_generator_call_gives_the_sampled_gaussian():
    [kernel] = resolve_kernels(["gaussian:size=5,sigma=1"], load_library())
    np.testing.assert_allclose(kernel.weights, sampled_gaussian(5, 1.0), rtol=1e-12, atol=0)
    assert kernel.verdict == "normalized"


def test_generator_call_errors_name_the_call():
    with pytest.raises(KernelError) as caught:
        resolve_kernels(["gausian:sigma=2"], load_library())
    assert str(caught.value) == "kernel 'gausian:sigma=2': unknown generator 'gausian' (did you mean 'gaussian'?)"
    with pytest.raises(KernelError) as caught:
        resolve_kernels(["box:size=4"], load_library())
    assert str(caught.value) == "kernel 'box:size=4': size must be an odd whole number, got 4.0"


# -------------------------------------------------------------------------------- generators in TOML


def test_generators_from_a_toml_file(tmp_path):
    path = tmp_path / "gen.toml"
    path.write_text(
        '[kernels.shake]\ngenerator = "motion"\nlength = 9\nangle = 90\n\n'
        '[kernels.stripes]\ngenerator = "gabor"\ntheta = 30\nlambda = 4\nsigma = 1.5\n\n'
        '[kernels.soft]\ngenerator = "gaussian"\nsigma = 1.0\n\n'
        '[kernels.soft_double]\ngenerator = "gaussian"\nsize = 5\nsigma = 1.0\nscale = 2\n'
    )
    entries = load_kernel_file(path)
    assert list(entries) == ["shake", "stripes", "soft", "soft_double"]
    shake = entries["shake"]
    np.testing.assert_allclose(shake.weights, np.full((9, 1), 1 / 9), rtol=1e-12, atol=0)
    assert shake.source == str(path)
    np.testing.assert_array_equal(entries["stripes"].weights, gen("gabor", theta=30, wavelength=4, sigma=1.5))
    np.testing.assert_allclose(entries["soft"].weights, sampled_gaussian(7, 1.0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(entries["soft_double"].weights, 2 * sampled_gaussian(5, 1.0), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("text", "message"), [
    ('[kernels.s]\ngenerator = "gaussian"\nsize = 4\n',
     "kernel 's': generator: size must be an odd whole number, got 4"),
    ('[kernels.m]\ngenerator = "motion"\nlenght = 9\n',
     "kernel 'm': unknown key 'lenght' (did you mean 'length'?)"),
    ('[kernels.g]\ngenerator = "gausian"\n',
     "kernel 'g': generator: unknown generator 'gausian' (did you mean 'gaussian'?)"),
    ('[kernels.n]\ngenerator = "disk"\nradius = -1\n', "kernel 'n': generator: radius must be > 0, got -1"),
])
def test_generator_errors_in_a_toml_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(KernelError) as caught:
        load_kernel_file(path)
    assert str(caught.value) == f"{Path(path)}: {message}"
