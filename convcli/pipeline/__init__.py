"""From image files to written feature maps: a run of ``convcli apply``.

:mod:`~convcli.pipeline.options` holds what a run computes and writes; :mod:`~convcli.pipeline.planning`
decides every output file before any work; :mod:`~convcli.pipeline.process` does one input (load,
filter through :mod:`~convcli.pipeline.convolver`, map, write); :mod:`~convcli.pipeline.batch` runs
them all on an executor (:mod:`~convcli.pipeline.executors`); :mod:`~convcli.pipeline.results` and
:mod:`~convcli.pipeline.manifest` say what happened, as data.

May import: :mod:`convcli.engine`, :mod:`convcli.kernels`, :mod:`convcli.pixels`, :mod:`convcli.imageio`
and the foundations (errors, choices); never the tools or the command line, nor typer or rich.
"""
