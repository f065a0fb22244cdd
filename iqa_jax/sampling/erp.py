"""ERP-plane and latitude-adaptive samplers for 360-degree images (source text 001, Sec. III-B).

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
* SP, viewports centred on fixations, is in `iqa_jax.sampling.scanpath`
  (`fixation_viewports`): fixations from a file or from `generate` (the paper used ScanGAN360; see that module),
  with the field of view 360 p / W by default (the ERP grid's angular
  resolution at the equator, so an SP patch shows what an ERP patch at the
  equator shows). SP covers only where fixations land: `coverage` measures
  the covered fraction of the sphere, stored in the patches' params.

`coverage(centres, fov_deg)` is the fraction of the sphere inside at least
one viewport (a Fibonacci lattice of points, equal-area). The 2-D samplers
for ordinary images are in `iqa_jax.sampling.planar`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import images, sphere
from iqa_jax.sampling.base import Patches

__all__ = ["erp_grid", "latitude", "latitude_layout", "coverage"]


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


def _fibonacci_sphere(n: int) -> np.ndarray:
  i = np.arange(n) + 0.5
  lat = np.arcsin(1.0 - 2.0 * i / n)
  lon = (np.pi * (1.0 + 5.0 ** 0.5) * i) % (2 * np.pi) - np.pi
  return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat),
                   np.cos(lat) * np.cos(lon)], -1)


def coverage(centres, fov_deg, *, n_points: int = 20000) -> float:
  """Fraction of the sphere inside at least one square viewport.

  centres: (N, 2) (longitude, latitude) in degrees; fov_deg: scalar or (N,).
  Uses `n_points` equal-area lattice points (error about 1 / sqrt(n_points)
  of the boundary's share).
  """
  centres = np.asarray(centres, np.float64).reshape(-1, 2)
  fov = np.broadcast_to(np.asarray(fov_deg, np.float64), (len(centres),))
  frames = np.asarray(jax.vmap(sphere.viewport_frame)(
      jnp.asarray(centres[:, 0]), jnp.asarray(centres[:, 1])), np.float64)
  t = np.tan(np.radians(fov) / 2)
  covered = 0
  for pts in np.array_split(_fibonacci_sphere(n_points),
                            max(1, n_points * len(centres) // 2_000_000)):
    cam = np.einsum("pk,nik->pni", pts, frames)      # right, up, forward
    inside = ((cam[..., 2] > 0)
              & (np.abs(cam[..., 0]) <= t * cam[..., 2])
              & (np.abs(cam[..., 1]) <= t * cam[..., 2]))
    covered += int(inside.any(axis=1).sum())
  return covered / n_points
