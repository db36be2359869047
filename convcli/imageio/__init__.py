"""Image files: finding them (:mod:`~convcli.imageio.inputs`), reading them (:mod:`~convcli.imageio.reading`),
writing feature maps (:mod:`~convcli.imageio.writing`), and writing any file whole or not at all
(:mod:`~convcli.imageio.atomic`).

May import: Pillow, NumPy, :mod:`convcli.errors` and :mod:`convcli.choices`; nothing above it.
"""
