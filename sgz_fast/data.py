"""Training images for SGZ: every jpg/jpeg/png/bmp under a folder (recursively), resized with
Lanczos to size x size (512 as published), optionally randomly cropped and flipped, as
float32 (3, H, W) in [0, 1]."""
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .imageio import GREY_16_MODES

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def find_images(folder):
    """Sorted image paths under `folder`; a clear error when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"training images folder {str(folder)!r} does not exist or is "
                                f"not a directory (--lowlight_images_path)")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not paths:
        raise ValueError(f"no training images under {str(folder)!r}: expected files ending in "
                         f"{', '.join(SUFFIXES)} (searched recursively)")
    return paths


def _readable(path):
    try:
        with Image.open(path) as img:
            img.verify()
        return True
    except Exception as error:  # PIL raises many types for damaged files
        warnings.warn(f"skipping unreadable image {path}: {error}")
        return False


class LowLightImages(torch.utils.data.Dataset):
    """A folder of low-light / mixed-exposure images, zero-reference (no labels).

    Args:
        folder: searched recursively for .jpg/.jpeg/.png/.bmp (any case).
        size: every image is resized to size x size with Lanczos (published: 512).
        crop: if given, a random crop x crop window of the resized image.
        flip: random horizontal flips.
        seed: the crops and flips depend only on (seed, epoch, index), so they are the same
            whatever the number of loader workers or processes (see set_epoch).
    """

    def __init__(self, folder, size=512, crop=None, flip=False, seed=0):
        if crop is not None and not 0 < crop <= size:
            raise ValueError(f"crop ({crop}) must be between 1 and size ({size})")
        self.paths = [p for p in find_images(folder) if _readable(p)]
        if not self.paths:
            raise ValueError(f"none of the images under {str(folder)!r} could be read (see the "
                             f"warnings above)")
        self.size, self.crop, self.flip, self.seed = size, crop, flip, seed
        self.epoch = 0

    def set_epoch(self, epoch):
        """Draws new crops and flips for `epoch` (call before iterating, as with a sampler)."""
        self.epoch = epoch

    def __len__(self):
        return len(self.paths)

    def _load(self, path):
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in GREY_16_MODES:  # convert("RGB") would clip them to white
                grey = Image.fromarray(np.asarray(img, dtype=np.float32) / 65535.0, "F")
                grey = np.asarray(grey.resize((self.size, self.size), Image.LANCZOS))
                return torch.from_numpy(np.clip(grey, 0.0, 1.0)).expand(3, -1, -1).contiguous()
            img = img.convert("RGB").resize((self.size, self.size), Image.LANCZOS)
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)

    def __getitem__(self, index):
        # A file that passed verify() can still fail to decode (truncated data): warn and take
        # the next one, so an epoch never stops half-way.
        for attempt in range(len(self.paths)):
            path = self.paths[(index + attempt) % len(self.paths)]
            try:
                image = self._load(path)
                break
            except Exception as error:
                warnings.warn(f"skipping unreadable image {path}: {error}")
        else:
            raise RuntimeError("no image in the training set could be decoded")
        if self.crop is None and not self.flip:
            return image
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.crop is not None:
            top, left = rng.integers(0, self.size - self.crop + 1, size=2)
            image = image[:, top:top + self.crop, left:left + self.crop]
        if self.flip and rng.random() < 0.5:
            image = image.flip(-1)
        return image.contiguous()

