"""The choices and defaults of convcli's options, shared by the library and the command line.

Kept free of NumPy and friends so that ``convcli --help`` starts fast; each is defined here once.
"""

#: Engine paths (``conv2d(method=...)``, ``--method``).
METHODS = ("auto", "direct", "separable", "fft", "gemm")
#: How float maps become pixels (``--map``); ``auto`` defers to the kernel.
MAPS = ("auto", "clip", "abs", "offset", "minmax", "global", "raw")
#: How a bank's stack of maps reduces to one (``combine``, ``--combine``).
COMBINES = ("magnitude", "max", "sum", "argmax")
#: Colour maps for one-channel maps (``--colormap``).
COLORMAPS = ("gray", "viridis", "inferno", "coolwarm")
#: What missing inputs (NaN, infinities, ``nodata``) do (``nan``, ``--nan``); the first is the default.
NAN_MODES = ("propagate", "ignore", "fill")
#: Where a batch runs (``--executor``).
EXECUTORS = ("local", "dask")

#: Output file names inside the -o folder.
DEFAULT_NAME = "{stem}_{kernel}.{ext}"
#: Images with more pixels are refused from their header: Pillow's own decompression-bomb limit
#: (2 x PIL.Image.MAX_IMAGE_PIXELS).
DEFAULT_MAX_PIXELS = 178_956_970
#: The boundary mode when none is given (``conv2d``, ``apply``, ``bench``); ``probe`` shows an
#: impulse on black and defaults to zero.
DEFAULT_BOUNDARY = "symmetric"
#: JPEG and WebP quality.
DEFAULT_QUALITY = 95
