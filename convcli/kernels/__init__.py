"""Kernels as validated data, and where they come from.

The entries (:mod:`~convcli.kernels.entry`: the protocol; :mod:`~convcli.kernels.kernel`,
:mod:`~convcli.kernels.composite`, :mod:`~convcli.kernels.layer`: the kinds), how a bank's maps
combine (:mod:`~convcli.kernels.combine`), generators such as ``gaussian:sigma=2``
(:mod:`~convcli.kernels.generators`), the TOML library (:mod:`~convcli.kernels.library`), the ``-k``
forms (:mod:`~convcli.kernels.specs`) and ``--pointwise`` matrices (:mod:`~convcli.kernels.pointwise`).

May import: :mod:`convcli.engine` (entries apply themselves with it), :mod:`convcli.errors`,
:mod:`convcli.choices`; never image files, pixels, the pipeline or the command line.
"""
