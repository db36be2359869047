"""Tools for seeing what a kernel does and how fast the engine is: :mod:`~convcli.tools.probe` (an
impulse through a kernel), :mod:`~convcli.tools.explain` (shapes and costs of layers),
:mod:`~convcli.tools.fit` (the kernel that maps one image to another), :mod:`~convcli.tools.pictures`
(kernel heat maps), :mod:`~convcli.tools.export` (PyTorch weights) and :mod:`~convcli.tools.bench`.

May import: anything below (engine, kernels, pixels, imageio, pipeline); never the command line, typer or rich.
"""
