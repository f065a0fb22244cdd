"""Images and crops of LoDa's recipe.

  img = resize_short_side(image, 384, method="bicubic")      # uint8
  train = TrainCrops(images, scores, crops_per_image=5, crop=224, seed=3407)
  train.set_epoch(t); batch = train[rows]     # {"x": (b, 224, 224, 3), "y"}
  test = TestCrops(images, n=15, crop=224, seed=3407)        # rows to predict

The authors resize every image once so that its short side is 384 (PIL,
bilinear for KonIQ-10k and SPAQ, bicubic otherwise), then train on random
224 crops, `crops_per_image` rows per image per epoch, with random
horizontal and vertical flips, and test on 15 random crops per image,
averaged. Crops are ImageNet-normalised. Row r of epoch t draws its crop
from NumPy's generator seeded (seed, t, r): a resumed run sees the same
crops; the test crops of image i come from (seed, "test", i).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from iqa_jax import images as images_lib
from iqa_jax.models.vgg import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["resize_short_side", "TrainCrops", "TestCrops", "normalise"]

_MEAN = np.asarray(IMAGENET_MEAN, np.float32)
_STD = np.asarray(IMAGENET_STD, np.float32)


def resize_short_side(image, short: int, *, method: str = "bicubic",
                      name: str = "image") -> np.ndarray:
  """(H, W, 3) in [0, 1] -> uint8 with min(H, W) = short (PIL)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  x = images_lib.to_uint8(np.asarray(image))
  h, w = x.shape[:2]
  if min(h, w) == short:
    return x
  if h <= w:
    size = (round(w * short / h), short)
  else:
    size = (short, round(h * short / w))
  filt = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}.get(method)
  if filt is None:
    raise ValueError(f"resize method must be bilinear or bicubic, got "
                     f"{method!r}.")
  return np.asarray(Image.fromarray(x).resize(size, filt))


def normalise(x: np.ndarray) -> np.ndarray:
  """uint8 crops -> float32, ImageNet mean/std."""
  return (x.astype(np.float32) / 255.0 - _MEAN) / _STD


def _check(images, crop, names):
  for i, im in enumerate(images):
    if min(im.shape[:2]) < crop:
      raise ValueError(
          f"{names[i] if names else f'image {i}'} is {im.shape[0]} x "
          f"{im.shape[1]} after resizing, smaller than the {crop} x {crop} "
          "crop; raise short_side (LoDa's is 384) or lower crop.")


def _crop(im, rng, crop, flips):
  h, w = im.shape[:2]
  y0 = int(rng.integers(0, h - crop + 1))
  x0 = int(rng.integers(0, w - crop + 1))
  c = im[y0:y0 + crop, x0:x0 + crop]
  if flips:
    if rng.random() < 0.5:
      c = c[:, ::-1]
    if rng.random() < 0.5:
      c = c[::-1]
  return c


class TrainCrops:
  """The training rows of one epoch: `crops_per_image` random crops of
  every image (the shared loop's `data`: len, set_epoch, rows)."""

  def __init__(self, images, scores, *, crops_per_image: int, crop: int,
               flips: bool = True, seed: int = 0, names=None):
    _check(images, crop, names)
    self.images, self.scores = list(images), np.asarray(scores, np.float32)
    self.k, self.crop, self.flips, self.seed = crops_per_image, crop, flips, \
        seed
    self.epoch = 0

  def __len__(self):
    return len(self.images) * self.k

  def set_epoch(self, epoch: int) -> None:
    self.epoch = int(epoch)

  def __getitem__(self, rows) -> dict:
    x = np.stack([_crop(self.images[r // self.k],
                        np.random.default_rng((self.seed, self.epoch, int(r))),
                        self.crop, self.flips) for r in rows])
    return {"x": normalise(x),
            "y": self.scores[np.asarray(rows) // self.k]}


class TestCrops:
  """Rows (image i, crop j) of `n` random crops per image, no flips: a
  sequence `parallel.map_batches` reads one slice at a time."""

  def __init__(self, images, *, n: int = 15, crop: int = 224, seed: int = 0,
               names=None):
    _check(images, crop, names)
    self.images, self.n, self.crop, self.seed = list(images), n, crop, seed
    self.names = names
    self._offsets = [None] * len(self.images)

  def _key(self, i: int) -> int:
    """The image's seed: its file name's CRC-32 when names are given (the
    same crops whatever list it is in), else its position."""
    if self.names is None:
      return i
    return zlib.crc32(Path(str(self.names[i])).name.encode("utf-8"))

  def __len__(self):
    return len(self.images) * self.n

  def _offsets_of(self, i: int) -> list[tuple[int, int]]:
    """The n (y0, x0) of image i, drawn once."""
    if self._offsets[i] is None:
      rng = np.random.default_rng((self.seed, 7, self._key(i)))
      h, w = self.images[i].shape[:2]
      self._offsets[i] = [(int(rng.integers(0, h - self.crop + 1)),
                           int(rng.integers(0, w - self.crop + 1)))
                          for _ in range(self.n)]
    return self._offsets[i]

  def __getitem__(self, s) -> np.ndarray:
    rows = range(len(self))[s]
    out = []
    for r in rows:
      i, j = divmod(r, self.n)
      y0, x0 = self._offsets_of(i)[j]
      out.append(self.images[i][y0:y0 + self.crop, x0:x0 + self.crop])
    return normalise(np.stack(out))
