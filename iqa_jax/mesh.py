"""The 1-D data-parallel mesh and equal-size batches for it.

  mesh = data_mesh()                    # axis "data" over all devices
  x = pad_rows(x, 64)                   # (n, ...) -> (64, ...), n <= 64

Every batched path (embeddings, training, selection, full-reference
scoring) splits its batch axis over `data_mesh()` and pads the last batch by
repeating its last row, so every step has one shape and compiles once; the
padded results are dropped.
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["data_mesh", "pad_rows"]


def data_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh with axis "data" over `devices` (default: all)."""
  devices = list(devices if devices is not None else jax.devices())
  return jax.sharding.Mesh(np.asarray(devices), ("data",))


def pad_rows(x, size: int):
  """x (n, ...) with its last row repeated up to `size` rows (NumPy or JAX
  arrays; n >= 1)."""
  pad = size - x.shape[0]
  if pad <= 0:
    return x
  xp = np if isinstance(x, np.ndarray) else jax.numpy
  return xp.concatenate([x, xp.repeat(x[-1:], pad, axis=0)])
