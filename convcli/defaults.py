"""Default values shared by the library and the command line (kept here, light to import, once)."""

#: Output file names inside the -o folder.
DEFAULT_NAME = "{stem}_{kernel}.{ext}"
#: Images with more pixels are refused from their header: Pillow's own decompression-bomb limit
#: (2 x PIL.Image.MAX_IMAGE_PIXELS).
DEFAULT_MAX_PIXELS = 178_956_970
