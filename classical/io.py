"""Image files in and out, with sgz_fast's demo conventions (shared with it): upright by EXIF
orientation, 16-bit greyscale kept at full precision, alpha dropped, greyscale made RGB."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_rgb(path):
    """(H, W, 3) RGB: uint8 for 8-bit files; float32 in [0, 1] for 16-bit greyscale ones
    (PIL's RGB conversion would clip them). Raises OSError (PIL.UnidentifiedImageError is
    one) when the file cannot be read as an image."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I", "I;16", "I;16B", "I;16L"):
            grey = np.clip(np.array(img, dtype=np.float32) / 65535.0, 0.0, 1.0)
            return np.repeat(grey[:, :, None], 3, axis=2)
        return np.array(img.convert("RGB"))


def write_rgb(path, image):
    """Saves an (H, W, 3) uint8 or float [0, 1] image; the format follows the suffix."""
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def find_images(inputs):
    """[(file, path relative to the output folder)] for files and folders (searched
    recursively, the tree below the folder kept); a file given directly keeps its name."""
    found = []
    for root in map(Path, inputs):
        if root.is_dir():
            found += [(p, p.relative_to(root)) for p in sorted(root.rglob("*"))
                      if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        else:
            found.append((root, Path(root.name)))
    return found
