"""Scanpaths on 360-degree images (SP): a generator, a reader, viewports.

Source text 001 (Sec. IV-B) centres its SP patches on fixations predicted by
ScanGAN360 (Martin et al., TVCG 2022), a trained generator whose weights are
not available here. This module offers two replacements:

* `generate(key, erp, ...)`: a seeded stochastic model. Fixation density on
  the sphere is p(v) ~ S(v) * exp(-lat^2 / (2 sigma_eq^2)): S is the
  spectral-residual saliency of the panorama (`sampling.saliency`, periodic
  in longitude) and the Gaussian in latitude is the equator bias of head-mounted
  viewing (sigma_eq = 20 degrees by default). Scanpaths are drawn on a grid of
  `grid_width` x `grid_width / 2` ERP cells (each cell weighted by its solid
  angle). The first fixation is drawn from p; each next one from
  p(v) * exp(-d(v, prev)^2 / (2 sigma_sac^2)) * prod_k (1 - 0.99
  exp(-d(v, f_k)^2 / (2 rho^2))), where d is the great-circle angle, the
  second factor favours short saccades (sigma_sac = 30 degrees) and the
  product is inhibition of return around every earlier fixation f_k of the
  same scanpath (rho = 10 degrees). A fixation is the cell centre plus a
  uniform offset within the cell. All scanpaths come from one jitted,
  vmapped `lax.scan`.
* `read_fixations(path)`: fixations from a CSV file (ScanGAN360's output or a
  dataset's recorded gaze), with a header and one fixation per row:

    longitude,latitude[,scanpath][,time][,image]   degrees, lon in [-180, 180],
                                                   lat in [-90, 90] (north +)
    u,v[,scanpath][,time][,image]                  normalised ERP coordinates
                                                   in [0, 1] (v = 0 is north)

  Rows are grouped by `scanpath` (default: all one scanpath) and ordered by
  `time` when present; `image` lets one file hold many images' fixations.
* `fixation_viewports(key, erp, ...)`: the SP sampler, a viewport at every
  fixation (generated, or from a file or an array).
"""

from __future__ import annotations

import csv
import functools
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import images, sphere
from iqa_jax.sampling import saliency
from iqa_jax.sampling.base import Patches
from iqa_jax.sampling.erp import coverage

__all__ = ["Fixations", "fixation_density", "generate", "read_fixations",
           "fixation_viewports"]


class Fixations(NamedTuple):
  """centres (N, 2) longitude, latitude in degrees; scanpath (N,) ids;
  time (N,) (NaN when the file has none)."""

  centres: np.ndarray
  scanpath: np.ndarray
  time: np.ndarray


def fixation_density(erp: jax.Array, *, grid_width: int = 128,
                     equator_sigma_deg: float = 20.0) -> jax.Array:
  """(grid_width // 2, grid_width) probabilities of a fixation per ERP cell
  of an (H, W, 3) panorama (saliency x equator prior x cell solid angle;
  sums to 1)."""
  h = grid_width // 2
  sal = saliency.spectral_residual(erp, wrap=True)
  sal = images.resize(sal[..., None], (h, grid_width), method="area")[..., 0]
  _, lat = sphere.pixel_to_lonlat(0.0, jnp.arange(h, dtype=jnp.float32),
                                  height=h, width=grid_width)
  prior = jnp.exp(-0.5 * (jnp.rad2deg(lat) / equator_sigma_deg) ** 2)
  area = jnp.asarray(sphere.solid_angle_weights(h, grid_width))
  p = (sal + 1e-3) * prior[:, None] * area
  return p / p.sum()


def _angle(a, b):
  """Great-circle angles (radians) between unit vectors a (3,) and b (M, 3)."""
  return jnp.arccos(jnp.clip(b @ a, -1.0, 1.0))


def generate(key: jax.Array, erp: jax.Array, *, n_scanpaths: int = 4,
             length: int = 30, grid_width: int = 128,
             equator_sigma_deg: float = 20.0, saccade_sigma_deg: float = 30.0,
             ior_deg: float = 10.0) -> np.ndarray:
  """(n_scanpaths, length, 2) fixations (longitude, latitude in degrees)."""
  h, w = grid_width // 2, grid_width
  log_p = jnp.log(fixation_density(erp, grid_width=grid_width,
                                   equator_sigma_deg=equator_sigma_deg)
                  ).reshape(-1)
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                        jnp.arange(w, dtype=jnp.float32), indexing="ij")
  lon, lat = sphere.pixel_to_lonlat(xs.reshape(-1), ys.reshape(-1), height=h,
                                    width=w)
  cells = sphere.lonlat_to_xyz(lon, lat)
  sac = np.radians(saccade_sigma_deg)
  ior = np.radians(ior_deg)
  return np.asarray(_scanpaths(jax.random.split(key, n_scanpaths), log_p,
                               cells, lon, lat, length, sac, ior, h, w))


@functools.partial(jax.jit, static_argnums=(5, 8, 9))
def _scanpaths(keys, log_p, cells, lon, lat, length, sac, ior, h, w):
  def one(key):
    def step(carry, k):
      prev, log_ior, first = carry
      d = _angle(prev, cells)
      logits = log_p + jnp.where(first, 0.0, -0.5 * (d / sac) ** 2 + log_ior)
      k_cell, k_jit = jax.random.split(k)
      i = jax.random.categorical(k_cell, logits)
      here = cells[i]
      d_here = _angle(here, cells)
      log_ior = log_ior + jnp.log1p(
          -0.99 * jnp.exp(-0.5 * (d_here / ior) ** 2))
      jitter = jax.random.uniform(k_jit, (2,), minval=-0.5, maxval=0.5)
      fix = jnp.stack([lon[i] + jitter[0] * 2 * jnp.pi / w,
                       lat[i] + jitter[1] * jnp.pi / h])
      return (here, log_ior, jnp.array(False)), jnp.rad2deg(fix)
    init = (cells[0], jnp.zeros(cells.shape[0]), jnp.array(True))
    _, out = jax.lax.scan(step, init, jax.random.split(key, length))
    return out
  return jax.vmap(one)(keys)


def _column(rows, header, names, path):
  for n in names:
    if n in header:
      try:
        return np.array([float(r[header.index(n)]) for r in rows])
      except ValueError as e:
        raise ValueError(f"{path}: column {n!r} holds a non-numeric value "
                         f"({e}).") from None
  return None


def read_fixations(path: str | os.PathLike, *,
                   image: str | None = None) -> Fixations:
  """Reads a fixation CSV (format in the module docstring).

  Args:
    path: the CSV file.
    image: keep only rows whose `image` column equals this (required when
      the file has an `image` column holding several names).

  Raises:
    FileNotFoundError, ValueError: with the file name and what is wrong.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"fixation file {path} does not exist.")
  with open(path, newline="", encoding="utf-8-sig") as f:
    table = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
  if not table:
    raise ValueError(f"{path}: empty fixation file.")
  header = [c.strip().lower() for c in table[0]]
  rows = table[1:]
  if "image" in header:
    col = header.index("image")
    names = sorted({r[col] for r in rows})
    if image is None and len(names) > 1:
      raise ValueError(f"{path} holds fixations of {len(names)} images; pass "
                       f"image= one of {names[:5]}...")
    if image is not None:
      rows = [r for r in rows if r[col] == image]
      if not rows:
        raise ValueError(f"{path}: no fixations for image {image!r}.")
  if not rows:
    raise ValueError(f"{path}: no fixation rows after the header.")
  lon = _column(rows, header, ("longitude", "lon"), path)
  lat = _column(rows, header, ("latitude", "lat"), path)
  if lon is None or lat is None:
    u = _column(rows, header, ("u",), path)
    v = _column(rows, header, ("v",), path)
    if u is None or v is None:
      raise ValueError(f"{path}: expected columns longitude,latitude (degrees)"
                       f" or u,v (normalised), got {header}.")
    if np.any((u < 0) | (u > 1) | (v < 0) | (v > 1)):
      raise ValueError(f"{path}: u, v must lie in [0, 1].")
    lon, lat = (u - 0.5) * 360.0, (0.5 - v) * 180.0
  if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 360):
    raise ValueError(f"{path}: latitude must lie in [-90, 90] and longitude "
                     "in [-180, 180] degrees (are these pixels? use u,v).")
  lon = (lon + 180.0) % 360.0 - 180.0
  sp = _column(rows, header, ("scanpath", "user", "subject"), path)
  sp = np.zeros(len(rows)) if sp is None else sp
  t = _column(rows, header, ("time", "timestamp", "t"), path)
  t = np.full(len(rows), np.nan) if t is None else t
  order = np.lexsort((np.nan_to_num(t), sp)) if not np.all(np.isnan(t)) else (
      np.argsort(sp, kind="stable"))
  return Fixations(np.stack([lon, lat], 1)[order], sp[order].astype(np.int64),
                   t[order])


def fixation_viewports(key, erp, *, fixations=None, size: int = 128,
             fov_deg: float | None = None, n_scanpaths: int = 4,
             length: int = 30, **generator_options) -> Patches:
  """The SP sampler: a size x size viewport at every fixation.

  Args:
    key: PRNG key of the built-in generator (unused when `fixations` given).
    erp: (H, W, 3) ERP image.
    fixations: None (generate n_scanpaths x length fixations), an (N, 2)
      array of (longitude, latitude) in degrees, a `Fixations`, or
      the path of a fixation CSV (format above).
    size: output patch size.
    fov_deg: viewport field of view; default 360 size / W.
    generator_options: passed to `generate` (grid_width,
      equator_sigma_deg, saccade_sigma_deg, ior_deg).
  """
  erp = jnp.asarray(erp)
  h, w = erp.shape[:2]
  fov = 360.0 * size / w if fov_deg is None else float(fov_deg)
  params = {"sampler": "scanpath", "size": size, "erp_hw": (h, w),
            "fov_deg": fov}
  if fixations is None:
    centres = generate(key, erp, n_scanpaths=n_scanpaths,
                                    length=length, **generator_options)
    centres = centres.reshape(-1, 2).astype(np.float64)
    params.update(source="generated", n_scanpaths=n_scanpaths, length=length,
                  **generator_options)
  else:
    if isinstance(fixations, (str, bytes)) or hasattr(fixations,
                                                      "__fspath__"):
      params["source"] = str(fixations)
      fixations = read_fixations(fixations)
    else:
      params["source"] = "array"
    if isinstance(fixations, Fixations):
      fixations = fixations.centres
    centres = np.asarray(fixations, np.float64).reshape(-1, 2)
    if len(centres) == 0:
      raise ValueError("no fixations given.")
  fovs = np.full(len(centres), fov)
  params["coverage"] = coverage(centres, fovs)
  patches = sphere.viewports(erp, centres, fov_deg=fovs, out_hw=(size, size))
  return Patches(patches, centres, fovs, params)
