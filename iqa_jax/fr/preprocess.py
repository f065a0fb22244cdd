"""Image preprocessing of the full-reference metrics, and reading pairs.

  official_size(384, 512)                 # (256, 341): SMIC's prepare_image
  scored_size("deepwsd", 600, 800)        # (256, 256)
  x = smic_resize(image)                  # (H, W, 3) -> the official size
  x = load_image("a.png", preprocess="smic")

Each preprocessing is an official code's resize, done by PIL's bilinear
filter on the 8-bit image (what torchvision's `Resize` does to a PIL image):

* "smic": the SMIC code's `prepare_image` (KANGX99/SMIC): a short side above
  128 pixels becomes max(floor(short / 48) * 32, 128), the long side in
  proportion (truncated); smaller images are left as they are.
* "dists": DISTS' `prepare_image` (dingkeyan93/DISTS): a short side above
  256 pixels becomes 256, the long side in proportion (truncated).
* "deepwsd": DeepWSD's `prepare_image` (Buka-Xing/DeepWSD; `wsd_prepare_image`
  in the SMIC code): 256 x 256 when 512 < max(H, W) < 1000, otherwise
  unchanged (DeepWSD then downsamples by itself, `fr.deepwsd.plan`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from iqa_jax import images

__all__ = ["PREPROCESSORS", "SIZES", "official_size", "dists_size",
           "deepwsd_size", "scored_size", "smic_resize", "apply",
           "load_image", "image_size"]


def official_size(height: int, width: int) -> tuple[int, int]:
  """SMIC's `prepare_image`: the (height, width) after resizing."""
  short, long_ = min(height, width), max(height, width)
  if short <= 128:
    return height, width
  new_short = max(short // 48 * 32, 128)
  new_long = int(new_short * long_ / short)
  return (new_short, new_long) if height <= width else (new_long, new_short)


def dists_size(height: int, width: int) -> tuple[int, int]:
  """DISTS' `prepare_image`: the (height, width) after resizing."""
  short, long_ = min(height, width), max(height, width)
  if short <= 256:
    return height, width
  new_long = int(256 * long_ / short)
  return (256, new_long) if height <= width else (new_long, 256)


def deepwsd_size(height: int, width: int) -> tuple[int, int]:
  """DeepWSD's `prepare_image`: (256, 256) when 512 < max side < 1000."""
  return (256, 256) if 512 < max(height, width) < 1000 else (height, width)


SIZES = {"smic": official_size, "dists": dists_size,
         "deepwsd": deepwsd_size}


def scored_size(preprocess: str | None, height: int,
                width: int) -> tuple[int, int]:
  """The size at which a (height, width) image is scored."""
  return (height, width) if preprocess is None else SIZES[preprocess](
      height, width)


def _resize(size_fn, image) -> np.ndarray:
  """(H, W, 3) in [0, 1] -> size_fn(H, W) by PIL bilinear on 8 bits (the
  image itself when no resize is due)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  x = np.asarray(image, np.float32)
  h, w = size_fn(*x.shape[:2])
  if (h, w) == x.shape[:2]:
    return x
  im = Image.fromarray(images.to_uint8(x)).resize((w, h), Image.BILINEAR)
  return np.asarray(im, np.float32) / 255.0


def smic_resize(image) -> np.ndarray:
  """(H, W, 3) in [0, 1] -> `official_size` (SMIC's `prepare_image`)."""
  return _resize(official_size, image)


PREPROCESSORS = {name: functools.partial(_resize, fn)
                 for name, fn in SIZES.items()}


def apply(preprocess: str | None, image) -> np.ndarray:
  """`image` (H, W, 3) through the named preprocessing (None: unchanged)."""
  if preprocess is None:
    return np.asarray(image, np.float32)
  if preprocess not in PREPROCESSORS:
    raise ValueError(f"unknown preprocessing {preprocess!r}; known: "
                     f"{sorted(PREPROCESSORS)} or None.")
  return PREPROCESSORS[preprocess](image)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
  """(height, width) of an image file from its header (EXIF rotation
  applied), without decoding it: `images.read_size`."""
  return images.read_size(path)


def load_image(path: str | os.PathLike, *,
               preprocess: str | None = None) -> np.ndarray:
  """(H, W, 3) float32 in [0, 1] read from `path`, then preprocessed."""
  return apply(preprocess, images.read(Path(path)))
