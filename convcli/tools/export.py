"""Kernels written as PyTorch ``Conv2d`` weights (``O x 1 x kh x kw`` float32 ``.npy``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convcli.errors import KernelError, ParameterError
from convcli.imageio.atomic import atomic_write
from convcli.kernels.kernel import Kernel


def pytorch_bank(kernels: Sequence[Kernel]) -> np.ndarray:
    """Kernels as one ``O x 1 x kh x kw`` float32 array: the weights of a ``Conv2d(1, O, (kh, kw))``.

    Each kernel is written as the correlation it performs (a kernel marked ``flip = true`` mirrored),
    because PyTorch's ``conv2d`` correlates; an anchored kernel as its weights as given (``Conv2d`` has
    no anchor). All kernels must have the same size.
    """
    if not kernels:
        raise KernelError("no kernels to export")
    shapes = {k.given_weights.shape for k in kernels}
    if len(shapes) > 1:
        sizes = ", ".join(f"{k.name} is {k.given_weights.shape[0]}x{k.given_weights.shape[1]}" for k in kernels)
        raise KernelError(f"kernels of one O x I x kh x kw array must share a size: {sizes}")
    weights = [k.given_weights[::-1, ::-1] if k.flip else k.given_weights for k in kernels]
    return np.stack(weights)[:, None].astype(np.float32)


@dataclass(frozen=True)
class Export:
    """What :func:`write_pytorch_bank` wrote: the file, its shape, the kernels in order, and notes."""

    path: Path
    shape: tuple[int, int, int, int]
    names: tuple[str, ...]
    notes: tuple[str, ...]


def write_pytorch_bank(path: Path | str, kernels: Sequence[Kernel]) -> Export:
    """Write ``kernels`` to ``path`` as ``.npy`` in PyTorch's ``O x I x kh x kw`` layout (``I = 1``, float32).

    ``torch.nn.Conv2d(1, O, (kh, kw), bias=False)`` with ``layer.weight.data = torch.from_numpy(np.load(path))``
    then computes what ``convcli apply`` computes with these kernels on a gray image (``boundary="zero"``
    and an integer padding on both sides). Biases are not part of the array; the notes name any that
    are dropped.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ParameterError(f"export file must end in .npy; got {str(path)!r}")
    array = pytorch_bank(kernels)
    notes = tuple(f"'{k.name}' has bias {k.bias:g}, which the weights array cannot hold (PyTorch keeps it in "
                  "Conv2d.bias)" for k in kernels if k.bias)
    notes += tuple(f"'{k.name}' is anchored at row {k.anchor[0]}, column {k.anchor[1]}, which the weights array "
                   "cannot hold (Conv2d places a kernel by its size): it holds the weights as given" for k in kernels
                   if k.anchored)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
    return Export(path, tuple(array.shape), tuple(k.name for k in kernels), notes)
