"""From float feature maps to pixels: the ``--map`` policies (:mod:`~convcli.pixels.mapping`), colour
maps and overlays (:mod:`~convcli.pixels.colormaps`) and montages (:mod:`~convcli.pixels.montage`).

May import: NumPy, Pillow, :mod:`convcli.errors` and :mod:`convcli.choices`; nothing above it.
"""
