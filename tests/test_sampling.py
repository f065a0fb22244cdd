"""Tests of the 360-degree patch samplers."""

import numpy as np
import pytest

from iqa_jax import sampling, sphere


def test_erp_grid_count_and_centres():
  erp = np.zeros((2048, 4096, 3), np.float32)
  out = sampling.erp_grid(erp, size=128)
  assert out.patches.shape == (512, 128, 128, 3)
  assert out.centres.shape == (512, 2)
  # First patch: top-left cell; its centre is 64 px from each border.
  assert out.centres[0] == pytest.approx([-180 + 64 * 360 / 4096,
                                          90 - 64 * 180 / 2048])
  assert out.params["sampler"] == "erp_grid"


def _unit(lon_deg, lat_deg):
  lon, lat = np.radians(lon_deg), np.radians(lat_deg)
  return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat),
                   np.cos(lat) * np.cos(lon)], -1)


@pytest.mark.parametrize("hw,size", [((2048, 4096), 128), ((512, 1024), 64),
                                     ((256, 512), 64)])
def test_latitude_layout_covers_sphere(hw, size):
  centres, fovs = sampling.latitude_layout(*hw, size=size)
  rng = np.random.default_rng(0)
  p = rng.normal(size=(20000, 3))
  p /= np.linalg.norm(p, axis=1, keepdims=True)
  c = _unit(centres[:, 0], centres[:, 1])
  ang = np.degrees(np.arccos(np.clip(p @ c.T, -1, 1)))
  # Each point lies in the inscribed disc of some viewport.
  assert np.all((ang - fovs[None] / 2).min(axis=1) <= 1e-9)
  # Denser at the equator: the band nearest to it holds
  # round((W / size) cos(lat)) patches, as the rule says.
  lat = np.round(centres[:, 1], 6)
  equator = lat[np.argmin(np.abs(lat))]
  assert np.sum(lat == equator) == round(hw[1] / size *
                                         np.cos(np.radians(equator)))
  polar = lat.max()
  assert np.sum(lat == polar) == max(1, round(hw[1] / size *
                                              np.cos(np.radians(polar))))
  assert np.sum(lat == polar) < np.sum(lat == equator)
  # Fields of view grow towards the poles.
  assert fovs[np.argmax(np.abs(lat))] > fovs[np.argmin(np.abs(lat))]
  again = sampling.latitude_layout(*hw, size=size)
  np.testing.assert_array_equal(again[0], centres)


def test_latitude_patches_are_viewports():
  rng = np.random.default_rng(1)
  erp = rng.random((128, 256, 3)).astype(np.float32)
  out = sampling.latitude(erp, size=32)
  assert out.patches.shape == (len(out.centres), 32, 32, 3)
  i = len(out.centres) // 2
  one = sphere.viewport(erp, out.centres[i, 0], out.centres[i, 1],
                        fov_deg=out.fov_deg[i], out_hw=(32, 32))
  # float32 sample coordinates (up to 256 px) carry ~3e-5 px of rounding,
  # which bilinear sampling of a noise image turns into <= 1e-4.
  np.testing.assert_allclose(out.patches[i], one, atol=1e-4)
