"""convcli: apply convolution kernels to images, the way deep learning means it.

>>> import numpy as np
>>> from convcli import conv2d
>>> conv2d(np.eye(3), [[0, 0, 0], [0, 1, 0], [0, 0, 0]]).tolist()
[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
"""

__version__ = "0.1.0"

from convcli.engine import conv2d, output_shape
from convcli.errors import ConvcliError, InputError, KernelError, OutputError, ParameterError

__all__ = [
    "ConvcliError",
    "InputError",
    "KernelError",
    "OutputError",
    "ParameterError",
    "__version__",
    "conv2d",
    "output_shape",
]
