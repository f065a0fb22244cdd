"""Paired 32 x 32 patches of RADN's recipe.

  pos = grid_positions(288, 288)                 # (81, 2) top-left corners
  train = TrainPairs(load, targets, n_patches=32, seed=0)
  train.set_epoch(t); batch = train[rows]   # {"dist", "ref": (b, 32, 32,
                                            #  32, 3), "y": (b,)}
  test = TestPairs(load, n)                 # test[i:j] -> (dist, ref, mask)

As the authors' code (IIGROUP/RADN `main.py`) takes them, from RGB images
in [0, 1] (`to_tensor`, no normalisation), at the same places in the
distorted and the reference image:

* training: `n_patches` random corners per image, drawn anew every epoch
  (uniform over all corners, overlaps allowed); image i of epoch t draws
  from NumPy's generator seeded (seed, t, i), so a resumed run sees the
  same patches;
* testing: the non-overlapping grid. When both sides are multiples of 32,
  every cell; otherwise corners 0, 32, ... below `side - 32` on *both*
  axes, so the last strip is dropped even on a side that is a multiple of
  32 (`NonOverlappingCropPatches`; 341 x 256 gives 10 x 7 patches).

`load(i)` returns the (distorted, reference) pair of image i as (H, W, 3)
arrays (uint8 or float in [0, 1]); images are read when a batch needs
them, so a dataset need not fit in memory. Test rows are padded to the
largest grid with `mask` 0 (one compiled shape).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["grid_positions", "extract", "TrainPairs", "TestPairs",
           "check_pair", "PATCH"]

PATCH = 32


def grid_positions(h: int, w: int, patch: int = PATCH) -> np.ndarray:
  """(P, 2) top-left (row, column) corners of the authors' test grid."""
  if h % patch == 0 and w % patch == 0:
    ends = (h, w)
  else:
    ends = (h - patch, w - patch)
  ys, xs = np.arange(0, ends[0], patch), np.arange(0, ends[1], patch)
  return np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


def extract(image: np.ndarray, positions: np.ndarray,
            patch: int = PATCH) -> np.ndarray:
  """(P, patch, patch, C) patches of `image` at `positions` (P, 2)."""
  r = np.arange(patch)
  rows = positions[:, 0, None] + r           # P patch
  cols = positions[:, 1, None] + r
  return image[rows[:, :, None], cols[:, None, :]]


def _float(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x)
  return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else \
      x.astype(np.float32)


def check_pair(dist: np.ndarray, ref: np.ndarray, name: str,
               patch: int = PATCH) -> None:
  """Errors naming the file: different sizes, smaller than a patch."""
  if dist.shape[:2] != ref.shape[:2]:
    raise ValueError(
        f"{name}: the distorted image is {dist.shape[1]} x {dist.shape[0]} "
        f"and its reference {ref.shape[1]} x {ref.shape[0]}; RADN compares "
        "patches at the same places, so they must be the same size (crop "
        "or resize one of them).")
  if min(dist.shape[:2]) < patch:
    raise ValueError(
        f"{name}: {dist.shape[1]} x {dist.shape[0]} is smaller than one "
        f"{patch} x {patch} patch; RADN needs images of at least "
        f"{patch} x {patch}.")


class TrainPairs:
  """Rows = images; a row is `n_patches` random patch pairs and a target."""

  def __init__(self, load: Callable[[int], tuple], targets, *,
               n_patches: int = 32, patch: int = PATCH, seed: int = 0,
               names=None, indices=None):
    """load(i) -> (dist, ref) for i in `indices` (default 0 .. n - 1)."""
    self.load, self.targets = load, np.asarray(targets, np.float32)
    self.indices = (np.arange(len(self.targets)) if indices is None
                    else np.asarray(indices))
    self.names = names
    self.n_patches, self.patch, self.seed = n_patches, patch, seed
    self.epoch = 0

  def set_epoch(self, epoch: int) -> None:
    self.epoch = int(epoch)

  def __len__(self) -> int:
    return len(self.targets)

  def pair(self, row: int) -> tuple[np.ndarray, np.ndarray]:
    """The (dist, ref) patches of `row` this epoch, (P, patch, patch, 3)."""
    d, r = self.load(int(self.indices[row]))
    name = self.names[row] if self.names is not None else f"image {row}"
    check_pair(d, r, name, self.patch)
    h, w = d.shape[:2]
    rng = np.random.default_rng((self.seed, self.epoch, int(row)))
    pos = np.stack([rng.integers(0, h - self.patch + 1, self.n_patches),
                    rng.integers(0, w - self.patch + 1, self.n_patches)], -1)
    return (_float(extract(d, pos, self.patch)),
            _float(extract(r, pos, self.patch)))

  def __getitem__(self, rows) -> dict[str, np.ndarray]:
    rows = np.atleast_1d(np.asarray(rows))
    pairs = [self.pair(int(i)) for i in rows]
    return {"dist": np.stack([p[0] for p in pairs]),
            "ref": np.stack([p[1] for p in pairs]),
            "y": self.targets[rows]}


class TestPairs:
  """Rows = images; a row is the image's padded grid of patch pairs.

  `test[i:j]` gives a dict {"dist", "ref": (j - i, P_max, 32, 32, 3),
  "mask": (j - i, P_max)}; P_max is the largest grid of the images, read
  from their sizes once (`sizes`: (H, W) per image, if known)."""

  def __init__(self, load: Callable[[int], tuple], n: int, *,
               patch: int = PATCH, names=None, sizes=None):
    self.load, self.n, self.patch, self.names = load, n, patch, names
    if sizes is None:
      sizes = []
      for i in range(n):
        d, r = load(i)
        check_pair(d, r, names[i] if names is not None else f"image {i}",
                   patch)
        sizes.append(d.shape[:2])
    self.counts = np.array([len(grid_positions(h, w, patch))
                            for h, w in sizes])
    self.max_patches = int(self.counts.max())

  def __len__(self) -> int:
    return self.n

  def rows(self, i: int):
    d, r = self.load(i)
    check_pair(d, r, self.names[i] if self.names is not None else
               f"image {i}", self.patch)
    pos = grid_positions(*d.shape[:2], self.patch)
    pad = self.max_patches - len(pos)
    dp, rp = (_float(extract(a, pos, self.patch)) for a in (d, r))
    z = np.zeros((pad, self.patch, self.patch, 3), np.float32)
    mask = np.r_[np.ones(len(pos), bool), np.zeros(pad, bool)]
    return np.concatenate([dp, z]), np.concatenate([rp, z]), mask

  def __getitem__(self, sl: slice) -> dict[str, np.ndarray]:
    out = [self.rows(i) for i in range(*sl.indices(self.n))]
    return {"dist": np.stack([o[0] for o in out]),
            "ref": np.stack([o[1] for o in out]),
            "mask": np.stack([o[2] for o in out])}
