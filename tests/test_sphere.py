"""Tests of the ERP geometry, viewports and cubemaps."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from iqa_jax import sphere

RNG = np.random.default_rng(0)


def _smooth_erp(h=64, w=128, seed=0):
  rng = np.random.default_rng(seed)
  return scipy.ndimage.gaussian_filter(rng.random((h, w, 3)), (3, 3, 0),
                                       mode="wrap").astype(np.float32)


def test_pixel_sphere_round_trip():
  h, w = 50, 100
  x = RNG.uniform(-0.4, w - 0.6, 1000)
  y = RNG.uniform(-0.4, h - 0.6, 1000)
  lon, lat = sphere.pixel_to_lonlat(x, y, height=h, width=w)
  xyz = sphere.lonlat_to_xyz(lon, lat)
  np.testing.assert_allclose(np.linalg.norm(xyz, axis=-1), 1.0, atol=1e-6)
  lon2, lat2 = sphere.xyz_to_lonlat(xyz)
  x2, y2 = sphere.lonlat_to_pixel(lon2, lat2, height=h, width=w)
  np.testing.assert_allclose(x2, x, atol=1e-4)
  np.testing.assert_allclose(y2, y, atol=1e-4)
  # lon = lat = 0 looks along +z; row 0 is the north.
  np.testing.assert_allclose(sphere.lonlat_to_xyz(0.0, 0.0), [0, 0, 1])
  assert float(sphere.pixel_to_lonlat(0.0, 0.0, height=h, width=w)[1]) > 1.5


def test_viewports_match_py360convert(monkeypatch):
  py360convert = pytest.importorskip("py360convert")
  # Compare with its SciPy path (map_coordinates, order 1), as if OpenCV
  # were absent: OpenCV's remap quantises coordinates to 1/32 pixel.
  monkeypatch.setattr(py360convert.utils, "cv2", None, raising=False)
  cached = py360convert.utils.EquirecSampler.from_perspective
  if hasattr(cached, "cache_clear"):
    cached.cache_clear()
  img = _smooth_erp()
  rng = np.random.default_rng(1)
  for _ in range(50):
    yaw, pitch = rng.uniform(-180, 180), rng.uniform(-90, 90)
    fov, roll = rng.uniform(30, 120), rng.uniform(-45, 45)
    ref = py360convert.e2p(img, fov, yaw, pitch, (20, 24), in_rot_deg=roll,
                           mode="bilinear")
    ours = sphere.viewport(jnp.asarray(img), yaw, pitch, fov_deg=fov,
                           out_hw=(20, 24), roll=roll)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_small_viewport_is_central_crop():
  h, w = 100, 200
  img = RNG.random((h, w, 3)).astype(np.float32)
  t = 1.5 * 2 * np.pi / w  # 4 x 4 samples on the central pixel centres
  fov = 2 * np.degrees(np.arctan(t))
  v = sphere.viewport(jnp.asarray(img), 0.0, 0.0, fov_deg=fov, out_hw=(4, 4))
  np.testing.assert_allclose(v, img[48:52, 98:102], atol=5e-3)


def test_seamless_across_180_degrees():
  img = _smooth_erp()
  rolled = np.roll(img, img.shape[1] // 2, axis=1)
  a = sphere.viewport(jnp.asarray(img), 180.0, 10.0, fov_deg=60, out_hw=(16, 16))
  b = sphere.viewport(jnp.asarray(rolled), 0.0, 10.0, fov_deg=60,
                      out_hw=(16, 16))
  np.testing.assert_allclose(a, b, atol=1e-5)
  assert np.abs(np.diff(np.asarray(a), axis=1)).max() < 0.1  # no seam


def test_pole_is_finite_and_continuous():
  img = _smooth_erp()
  v = np.asarray(sphere.viewport(jnp.asarray(img), 30.0, 90.0, fov_deg=90,
                                 out_hw=(33, 33)))
  assert np.all(np.isfinite(v))
  assert np.abs(np.diff(v, axis=0)).max() < 0.1
  assert np.abs(np.diff(v, axis=1)).max() < 0.1


def test_viewports_batched_equals_loop():
  img = jnp.asarray(_smooth_erp())
  centres = np.array([[0, 0], [90, 30], [-120, -60]], np.float32)
  fovs = np.array([60, 90, 45], np.float32)
  many = sphere.viewports(img, centres, fov_deg=fovs, out_hw=(8, 8))
  for i in range(3):
    one = sphere.viewport(img, centres[i, 0], centres[i, 1], fov_deg=fovs[i],
                          out_hw=(8, 8))
    np.testing.assert_allclose(many[i], one, atol=1e-6)


def test_solid_angle_weights():
  wgt = sphere.solid_angle_weights(90, 180)
  assert wgt.sum() == pytest.approx(4 * np.pi, rel=1e-12)
  assert wgt[45, 0] > wgt[0, 0] * 50  # the equator row holds far more
  np.testing.assert_allclose(wgt[:45], wgt[::-1][:45])


def test_cube_round_trip():
  img = _smooth_erp(64, 128)
  faces = sphere.erp_to_cube(jnp.asarray(img), face_size=48)
  assert faces.shape == (6, 48, 48, 3)
  back = np.asarray(sphere.cube_to_erp(faces, height=64, width=128))
  assert np.abs(back - img).mean() < 2e-3
  # Near the poles ERP rows oversample one point of the sphere, so a
  # smooth-in-ERP test image is not smooth there; compare |lat| < 60 deg.
  band = slice(11, 53)
  assert np.abs(back - img)[band].max() < 2e-2
  # The front face looks along +z: its centre is the ERP centre.
  np.testing.assert_allclose(faces[0, 23:25, 23:25].mean((0, 1)),
                             img[31:33, 63:65].mean((0, 1)), atol=5e-3)


def test_viewport_outline_is_the_border_of_the_viewport():
  # Its corners are the corner rays of `viewport_directions`.
  for yaw, pitch, fov, roll in ((30.0, 0.0, 60.0, 0.0), (-120.0, 50.0, 40.0, 15.0),
                                (170.0, -20.0, (90.0, 60.0), 0.0)):
    path = np.asarray(sphere.viewport_outline(yaw, pitch, fov_deg=fov,
                                              n_side=8, roll=roll))
    assert path.shape == (33, 2)
    np.testing.assert_allclose(path[0], path[-1])        # closed
    rays = sphere.viewport_directions(yaw, pitch, fov_deg=fov, out_hw=(5, 7),
                                      roll=roll)
    for corner, i in (((0, 0), 0), ((0, -1), 8), ((-1, -1), 16),
                      ((-1, 0), 24)):
      lon, lat = sphere.xyz_to_lonlat(rays[corner])
      np.testing.assert_allclose(path[i], np.degrees([lon, lat]), atol=1e-4)
  # A 60-degree viewport straight ahead at yaw 30 spans longitudes 0-60 on
  # the equator; its top edge's midpoint is 30 degrees up.
  path = np.asarray(sphere.viewport_outline(30.0, 0.0, fov_deg=60.0,
                                            n_side=8))
  np.testing.assert_allclose(path[4], [30.0, 30.0], atol=1e-4)   # top middle
  np.testing.assert_allclose(path[12], [60.0, 0.0], atol=1e-4)   # right middle
  np.testing.assert_allclose(path[28], [0.0, 0.0], atol=1e-4)    # left middle
