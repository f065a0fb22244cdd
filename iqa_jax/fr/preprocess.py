"""Image preprocessing of the full-reference metrics, and reading pairs.

  official_size(384, 512)                 # (256, 341): SMIC's prepare_image
  x = smic_resize(image)                  # (H, W, 3) -> the official size
  x = load_image("a.png", preprocess="smic")

`"smic"` is the official SMIC code's `prepare_image` (KANGX99/SMIC): a short
side above 128 pixels becomes max(floor(short / 48) * 32, 128), the long
side in proportion (truncated), by PIL's bilinear filter on the 8-bit image
(what torchvision's `Resize` does to a PIL image). Images whose short side
is at most 128 pixels are left as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from iqa_jax import images

__all__ = ["PREPROCESSORS", "official_size", "smic_resize", "apply",
           "load_image", "image_size"]


def official_size(height: int, width: int) -> tuple[int, int]:
  """SMIC's `prepare_image`: the (height, width) after resizing."""
  short, long_ = min(height, width), max(height, width)
  if short <= 128:
    return height, width
  new_short = max(short // 48 * 32, 128)
  new_long = int(new_short * long_ / short)
  return (new_short, new_long) if height <= width else (new_long, new_short)


def smic_resize(image) -> np.ndarray:
  """(H, W, 3) in [0, 1] -> `official_size` by PIL bilinear on 8 bits (the
  image itself when no resize is due)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  x = np.asarray(image, np.float32)
  h, w = official_size(*x.shape[:2])
  if (h, w) == x.shape[:2]:
    return x
  im = Image.fromarray(images.to_uint8(x)).resize((w, h), Image.BILINEAR)
  return np.asarray(im, np.float32) / 255.0


PREPROCESSORS = {"smic": smic_resize}


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
