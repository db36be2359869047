"""The convolution engine: NumPy arrays in, feature maps out.

Holds :func:`~convcli.engine.conv.conv2d` and everything behind it: the settings
(:mod:`~convcli.engine.settings`), boundary modes (:mod:`~convcli.engine.boundary`), where outputs sit
and how tiles read the input (:mod:`~convcli.engine.geometry`), the choice of path
(:mod:`~convcli.engine.plan`, priced by :mod:`~convcli.engine.costmodel`), the four paths
(:mod:`~convcli.engine.direct`, :mod:`~convcli.engine.separable`, :mod:`~convcli.engine.fft`,
:mod:`~convcli.engine.gemm`) on the threads of :mod:`~convcli.engine.threads`, alpha-weighted
filtering (:mod:`~convcli.engine.alpha`), multi-channel layers (:mod:`~convcli.engine.layers`) and the
independent SciPy reference (:mod:`~convcli.engine.reference`).

May import: NumPy, SciPy, :mod:`convcli.errors` and :mod:`convcli.choices`; nothing else of convcli.
"""
