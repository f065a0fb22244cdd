"""Equirectangular (ERP) geometry: pixels, the sphere, viewports, cubemaps.

Conventions (those of py360convert, so viewports can be checked against its
`e2p`):
* ERP pixel (x, y), centres at integers, image H x W: longitude
  lon = ((x + 0.5) / W - 0.5) 2 pi in [-pi, pi), latitude
  lat = (0.5 - (y + 0.5) / H) pi in (-pi/2, pi/2) (row 0 is the north).
* Unit vector: x = cos(lat) sin(lon), y = sin(lat), z = cos(lat) cos(lon)
  (z points at lon = lat = 0, y up).
* Viewport (gnomonic projection): field of view (horizontal, vertical),
  yaw positive to the right, pitch positive up, in-plane rotation, output
  size; sampled bilinearly with wrap-around in longitude and, across the
  poles, the row on the far side (the ERP row shifted by W / 2).
* Cube faces, each F x F, in the order front (+z), right (+x), back (-z),
  left (-x), up (+y), down (-y); face images are seen from the centre, upright
  for the four side faces.

Everything is a pure JAX function; `viewports` is vmapped over poses.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["pixel_to_lonlat", "lonlat_to_pixel", "lonlat_to_xyz",
           "xyz_to_lonlat", "sample_erp", "viewport", "viewports",
           "viewport_directions", "viewport_frame", "viewport_outline",
           "solid_angle_weights", "cube_to_erp",
           "erp_to_cube", "FACES"]

FACES = ("front", "right", "back", "left", "up", "down")


def pixel_to_lonlat(x, y, *, height: int, width: int):
  lon = ((x + 0.5) / width - 0.5) * 2.0 * jnp.pi
  lat = (0.5 - (y + 0.5) / height) * jnp.pi
  return lon, lat


def lonlat_to_pixel(lon, lat, *, height: int, width: int):
  x = (lon / (2.0 * jnp.pi) + 0.5) * width - 0.5
  y = (0.5 - lat / jnp.pi) * height - 0.5
  return x, y


def lonlat_to_xyz(lon, lat):
  c = jnp.cos(lat)
  return jnp.stack([c * jnp.sin(lon), jnp.sin(lat), c * jnp.cos(lon)], -1)


def xyz_to_lonlat(xyz):
  x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
  return jnp.arctan2(x, z), jnp.arctan2(y, jnp.hypot(x, z))


def _rotation(axis, angle):
  """The matrix of a rotation by `angle` about unit `axis` (Rodrigues)."""
  axis = axis / jnp.linalg.norm(axis)
  k = jnp.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]],
                 [-axis[1], axis[0], 0.0]])
  return jnp.eye(3) + jnp.sin(angle) * k + (1.0 - jnp.cos(angle)) * (k @ k)


def _half_extent(fov_deg):
  """(x_max, y_max): half the image plane's width and height at distance 1
  for a field of view (one angle, or horizontal and vertical; degrees)."""
  h_fov, v_fov = (fov_deg, fov_deg) if np.ndim(fov_deg) == 0 else fov_deg
  return jnp.tan(jnp.deg2rad(h_fov) / 2.0), jnp.tan(jnp.deg2rad(v_fov) / 2.0)


def viewport_directions(yaw, pitch, *, fov_deg, out_hw: tuple[int, int],
                        roll=0.0):
  """Unit-ish viewing rays (h, w, 3) of a viewport (angles in degrees)."""
  x_max, y_max = _half_extent(fov_deg)
  xs = jnp.linspace(-x_max, x_max, out_hw[1])
  ys = jnp.linspace(y_max, -y_max, out_hw[0])
  gx, gy = jnp.meshgrid(xs, ys)
  rays = jnp.stack([gx, gy, jnp.ones_like(gx)], -1)
  return rays @ viewport_frame(yaw, pitch, roll)  # row vectors


def viewport_outline(yaw, pitch, *, fov_deg, n_side: int = 16,
                     roll=0.0) -> jax.Array:
  """(4 n_side + 1, 2) longitude, latitude (degrees) along the border of a
  viewport, a closed path (the first point repeated): the footprint the
  viewport covers on the sphere, for drawing on the ERP image
  (`lonlat_to_pixel` of its radians). Angles in degrees, as `viewport`."""
  x_max, y_max = _half_extent(fov_deg)
  t = jnp.linspace(-1.0, 1.0, n_side + 1)[:-1]
  one = jnp.ones_like(t)
  # top (left to right), right (down), bottom (right to left), left (up)
  gx = jnp.concatenate([t, one, -t, -one, -one[:1]]) * x_max
  gy = jnp.concatenate([one, -t, -one, t, one[:1]]) * y_max
  rays = jnp.stack([gx, gy, jnp.ones_like(gx)], -1) @ viewport_frame(
      yaw, pitch, roll)
  lon, lat = xyz_to_lonlat(rays)
  return jnp.rad2deg(jnp.stack([lon, lat], -1))


def viewport_frame(yaw, pitch, roll=0.0) -> jax.Array:
  """(3, 3) rows: the viewport's right, up and forward unit vectors in world
  coordinates (angles in degrees; the rotation order of py360convert)."""
  rx = _rotation(jnp.array([1.0, 0.0, 0.0]), jnp.deg2rad(pitch))
  ry = _rotation(jnp.array([0.0, 1.0, 0.0]), -jnp.deg2rad(yaw))
  ri = _rotation(jnp.array([0.0, 0.0, 1.0]) @ rx @ ry, jnp.deg2rad(roll))
  return rx @ ry @ ri


def sample_erp(erp: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
  """Bilinear samples of an (H, W, C) ERP image at pixel coordinates.

  Longitude wraps around; a row index of -1 or H (within half a pixel of a
  pole) reads the first or last row on the opposite side of the pole.
  """
  h, w = erp.shape[0], erp.shape[1]
  x0 = jnp.floor(x)
  y0 = jnp.floor(y)
  fx, fy = x - x0, y - y0
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)

  def at(r, c):
    over = (r < 0) | (r > h - 1)
    c = jnp.where(over, c + w // 2, c) % w
    r = jnp.clip(r, 0, h - 1)
    return erp[r, c]

  top = at(y0, x0) * (1 - fx)[..., None] + at(y0, x0 + 1) * fx[..., None]
  bot = at(y0 + 1, x0) * (1 - fx)[..., None] + at(y0 + 1, x0 + 1) * fx[
      ..., None]
  return top * (1 - fy)[..., None] + bot * fy[..., None]


def viewport(erp: jax.Array, yaw, pitch, *, fov_deg, out_hw: tuple[int, int],
             roll=0.0) -> jax.Array:
  """The gnomonic viewport (h, w, C) of an ERP image at (yaw, pitch), degrees."""
  rays = viewport_directions(yaw, pitch, fov_deg=fov_deg, out_hw=out_hw,
                             roll=roll)
  lon, lat = xyz_to_lonlat(rays)
  x, y = lonlat_to_pixel(lon, lat, height=erp.shape[0], width=erp.shape[1])
  return sample_erp(erp, x, y)


def viewports(erp: jax.Array, centres: jax.Array, *, fov_deg,
              out_hw: tuple[int, int], roll=None) -> jax.Array:
  """Many viewports in one call: centres (N, 2) of (yaw, pitch) in degrees,
  optional per-viewport fov_deg (N,) and roll (N,). Returns (N, h, w, C)."""
  centres = jnp.asarray(centres, jnp.float32)
  n = centres.shape[0]
  fov = jnp.broadcast_to(jnp.asarray(fov_deg, jnp.float32), (n,))
  roll = jnp.zeros((n,)) if roll is None else jnp.asarray(roll, jnp.float32)
  return _viewports(jnp.asarray(erp), centres, fov, roll,
                    out_hw=tuple(out_hw))


@functools.partial(jax.jit, static_argnames=("out_hw",))
def _viewports(erp, centres, fov, roll, *, out_hw):
  def one(c, f, r):
    return viewport(erp, c[0], c[1], fov_deg=f, out_hw=out_hw, roll=r)
  return jax.vmap(one)(centres, fov, roll)


def solid_angle_weights(height: int, width: int) -> np.ndarray:
  """(H, W) solid angle of each ERP pixel in steradians (sums to 4 pi)."""
  edges = (0.5 - np.arange(height + 1) / height) * np.pi
  band = np.sin(edges[:-1]) - np.sin(edges[1:])
  return np.repeat((band * 2.0 * np.pi / width)[:, None], width, axis=1)


# Cube faces: (forward axis, right axis, up axis) of each face's image plane.
_FACE_AXES = np.array([
    [[0, 0, 1], [1, 0, 0], [0, 1, 0]],     # front +z
    [[1, 0, 0], [0, 0, -1], [0, 1, 0]],    # right +x
    [[0, 0, -1], [-1, 0, 0], [0, 1, 0]],   # back -z
    [[-1, 0, 0], [0, 0, 1], [0, 1, 0]],    # left -x
    [[0, 1, 0], [1, 0, 0], [0, 0, -1]],    # up +y
    [[0, -1, 0], [1, 0, 0], [0, 0, 1]],    # down -y
], np.float32)


def erp_to_cube(erp: jax.Array, *, face_size: int) -> jax.Array:
  """The six 90-degree faces (6, F, F, C) of an ERP image (order FACES)."""
  t = (np.arange(face_size) + 0.5) / face_size * 2.0 - 1.0
  gx, gy = np.meshgrid(t, -t)
  axes = jnp.asarray(_FACE_AXES)
  rays = (axes[:, None, None, 0] + gx[None, ..., None] * axes[:, None, None, 1]
          + gy[None, ..., None] * axes[:, None, None, 2])
  lon, lat = xyz_to_lonlat(rays)
  x, y = lonlat_to_pixel(lon, lat, height=erp.shape[0], width=erp.shape[1])
  return sample_erp(erp, x, y)


def cube_to_erp(faces: jax.Array, *, height: int, width: int) -> jax.Array:
  """An (H, W, C) ERP image from six faces (6, F, F, C) (order FACES)."""
  f = faces.shape[1]
  ys, xs = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
  lon, lat = pixel_to_lonlat(xs + 0.0, ys + 0.0, height=height, width=width)
  d = lonlat_to_xyz(lon, lat)
  axes = jnp.asarray(_FACE_AXES)
  fwd = jnp.einsum("hwk,fk->hwf", d, axes[:, 0])
  face = jnp.argmax(fwd, axis=-1)
  a = axes[face]                                  # (H, W, 3, 3)
  depth = jnp.sum(d * a[..., 0, :], -1)
  u = jnp.sum(d * a[..., 1, :], -1) / depth       # in [-1, 1]
  v = jnp.sum(d * a[..., 2, :], -1) / depth
  px = (u + 1.0) / 2.0 * f - 0.5
  py = (1.0 - v) / 2.0 * f - 0.5
  x0 = jnp.clip(jnp.floor(px), 0, f - 2)
  y0 = jnp.clip(jnp.floor(py), 0, f - 2)
  fx = jnp.clip(px - x0, 0.0, 1.0)[..., None]
  fy = jnp.clip(py - y0, 0.0, 1.0)[..., None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  g = lambda r, c: faces[face, r, c]
  top = g(y0, x0) * (1 - fx) + g(y0, x0 + 1) * fx
  bot = g(y0 + 1, x0) * (1 - fx) + g(y0 + 1, x0 + 1) * fx
  return top * (1 - fy) + bot * fy
