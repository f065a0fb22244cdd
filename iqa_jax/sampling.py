"""Patch samplers for 360-degree images (source text 001, Sec. III-B).

Each sampler returns `Patches`: the pixels (N, p, p, 3), their centres as
(longitude, latitude) in degrees, the field of view of each patch (NaN for
patches cut from the ERP plane), and a record of the parameters.

* `erp_grid`: non-overlapping p x p patches cut from the ERP image (the
  paper's ERP strategy); 4096 x 2048 with p = 128 gives 32 x 16 = 512.
* `latitude` (LAT): gnomonic viewports on the sphere, dense at the equator and
  sparser towards the poles. The rule: B = H // p latitude bands of equal
  height Delta = 180 / B degrees; band b (centre latitude phi_b) holds
  n_b = max(1, round((W / p) cos phi_b)) patches, evenly spaced in longitude
  (so the count follows the band's area, and the equator band matches the
  ERP grid's row). A patch's field of view is twice the largest angular
  distance from its centre to the boundary of its cell (its band between
  its longitude neighbours' midpoints), so the viewport's inscribed disc
  contains the whole cell and the patches cover the sphere; the field of view
  therefore grows towards the poles, where cells widen in longitude. Each
  viewport is resampled to p x p.

The scanpath (SP) sampler and the 2-D samplers are not implemented yet.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from iqa_jax import images, sphere

__all__ = ["Patches", "erp_grid", "latitude", "latitude_layout"]


class Patches(NamedTuple):
  """Sampled patches with their geometry.

  patches: (N, p, p, 3); centres: (N, 2) longitude, latitude in degrees;
  fov_deg: (N,) viewport field of view (NaN for ERP-plane patches);
  params: the sampler and its arguments.
  """

  patches: jnp.ndarray
  centres: np.ndarray
  fov_deg: np.ndarray
  params: dict


def erp_grid(erp, *, size: int = 128) -> Patches:
  """Non-overlapping size x size patches of an (H, W, 3) ERP image."""
  erp = jnp.asarray(erp)
  h, w = erp.shape[:2]
  patches, pos = images.extract_grid(erp, size=size)
  lon, lat = sphere.pixel_to_lonlat(pos[:, 1] + (size - 1) / 2.0,
                                    pos[:, 0] + (size - 1) / 2.0,
                                    height=h, width=w)
  centres = np.degrees(np.stack([np.asarray(lon), np.asarray(lat)], 1))
  return Patches(patches, centres, np.full(len(pos), np.nan),
                 {"sampler": "erp_grid", "size": size, "erp_hw": (h, w)})


def _angle(lon1, lat1, lon2, lat2):
  """Great-circle angle (radians) between points given in radians."""
  c = (np.sin(lat1) * np.sin(lat2)
       + np.cos(lat1) * np.cos(lat2) * np.cos(lon1 - lon2))
  return np.arccos(np.clip(c, -1.0, 1.0))


def latitude_layout(height: int, width: int, *,
                    size: int = 128) -> tuple[np.ndarray, np.ndarray]:
  """Centres (N, 2) in degrees and fields of view (N,) of the LAT sampler."""
  n_bands = max(1, height // size)
  delta = np.pi / n_bands
  per_row = width / size
  centres, fovs = [], []
  t = np.linspace(0.0, 1.0, 17)
  for b in range(n_bands):
    top, bottom = np.pi / 2 - b * delta, np.pi / 2 - (b + 1) * delta
    phi = (top + bottom) / 2
    n_b = max(1, int(round(per_row * np.cos(phi))))
    half = np.pi / n_b
    # The cell boundary, sampled: two parallels and two meridian segments.
    lons = np.concatenate([-half + 2 * half * t, -half + 2 * half * t,
                           np.full_like(t, -half), np.full_like(t, half)])
    lats = np.concatenate([np.full_like(t, top), np.full_like(t, bottom),
                           bottom + (top - bottom) * t,
                           bottom + (top - bottom) * t])
    radius = _angle(0.0, phi, lons, lats).max()
    fov = np.degrees(min(2 * radius, np.radians(170.0)))
    for k in range(n_b):
      lam = -np.pi + (k + 0.5) * 2 * half
      centres.append((np.degrees(lam), np.degrees(phi)))
      fovs.append(fov)
  return np.asarray(centres, np.float64), np.asarray(fovs, np.float64)


def latitude(erp, *, size: int = 128) -> Patches:
  """The LAT sampler (see the module docstring) on an (H, W, 3) ERP image."""
  erp = jnp.asarray(erp)
  h, w = erp.shape[:2]
  centres, fovs = latitude_layout(h, w, size=size)
  patches = sphere.viewports(erp, centres, fov_deg=fovs, out_hw=(size, size))
  return Patches(patches, centres, fovs,
                 {"sampler": "latitude", "size": size, "erp_hw": (h, w),
                  "bands": max(1, h // size)})
