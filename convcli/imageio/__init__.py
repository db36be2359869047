"""Image files: finding them (:mod:`~convcli.imageio.inputs`), reading them (:mod:`~convcli.imageio.reading`),
writing feature maps (:mod:`~convcli.imageio.writing`), and writing any file whole or not at all
(:mod:`~convcli.imageio.atomic`).

May import: Pillow, NumPy, :mod:`convcli.pixels` (luminance for ``gray``) and the layers below it, the
foundations (errors, choices); nothing above it.
"""
