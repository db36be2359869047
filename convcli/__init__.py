"""convcli: apply convolution kernels to images, the way deep learning means it.

>>> import numpy as np
>>> from convcli import conv2d
>>> conv2d(np.eye(3), [[0, 0, 0], [0, 1, 0], [0, 0, 0]]).tolist()
[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
"""

__version__ = "0.1.0"

from convcli.errors import (
    ConvcliError,
    InputError,
    KernelError,
    OutputError,
    ParameterError,
    UnfoldableKernelError,
)

#: The names of :mod:`convcli.api`, imported on first use: it loads Pillow and the pipeline.
_API = ("kernel", "filter_image", "KernelFilter")


def __getattr__(name: str):
    # The engine (and NumPy with it) is imported on first use, so that `convcli --help` starts fast.
    if name in ("conv2d", "output_shape"):
        from convcli.engine import conv

        return getattr(conv, name)
    if name in _API:
        from convcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'convcli' has no attribute {name!r}")

__all__ = [
    "ConvcliError",
    "InputError",
    "KernelError",
    "KernelFilter",
    "OutputError",
    "ParameterError",
    "UnfoldableKernelError",
    "__version__",
    "conv2d",
    "filter_image",
    "kernel",
    "output_shape",
]
