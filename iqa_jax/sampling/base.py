"""What every sampler returns."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["Patches", "COORDS"]

COORDS = ("lonlat", "pixel")


class Patches(NamedTuple):
  """Sampled patches with their geometry.

  patches: (N, p, p, 3) in [0, 1].
  centres: (N, 2) patch centres, in the unit that `coords` names:
    "lonlat": longitude, latitude in degrees (the 360-degree samplers);
    "pixel": row, column in pixels (the planar samplers).
  fov_deg: (N,) viewport field of view (NaN for patches cut from the image
    plane).
  params: the sampler and its arguments.
  coords: "lonlat" or "pixel".
  """

  patches: jnp.ndarray
  centres: np.ndarray
  fov_deg: np.ndarray
  params: dict
  coords: str = "lonlat"
