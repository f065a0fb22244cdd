"""Tests of the 360-degree patch samplers."""

import numpy as np
import pytest

import jax

import jax.numpy as jnp

from iqa_jax import images, sampling, sphere
from iqa_jax.sampling import planar
from iqa_jax.sampling import scanpath


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


# --- coverage -----------------------------------------------------------


@pytest.mark.parametrize("fov", [10.0, 45.0, 90.0])
def test_coverage_of_one_viewport_is_its_solid_angle(fov):
  # A square gnomonic viewport of half-angle a spans 4 arcsin(sin^2 a) sr.
  a = np.radians(fov) / 2
  expected = 4 * np.arcsin(np.sin(a) ** 2) / (4 * np.pi)
  got = sampling.coverage([[37.0, -21.0]], fov, n_points=40000)
  assert got == pytest.approx(expected, abs=0.002)


@pytest.mark.parametrize("hw,size", [((2048, 4096), 128), ((256, 512), 64)])
def test_latitude_covers_whole_sphere(hw, size):
  centres, fovs = sampling.latitude_layout(*hw, size=size)
  assert sampling.coverage(centres, fovs) == 1.0


# --- scanpath (SP) --------------------------------------------------------


def _smooth_noise(seed, hw=(128, 256)):
  rng = np.random.default_rng(seed)
  from scipy import ndimage
  x = ndimage.gaussian_filter(rng.random((*hw, 3)), (2, 2, 0))
  return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def test_scanpath_generator_is_seeded_and_equator_biased():
  erp = _smooth_noise(0)
  a = scanpath.generate(jax.random.key(3), erp, n_scanpaths=6, length=20)
  b = scanpath.generate(jax.random.key(3), erp, n_scanpaths=6, length=20)
  c = scanpath.generate(jax.random.key(4), erp, n_scanpaths=6, length=20)
  assert a.shape == (6, 20, 2)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert np.all(np.abs(a[..., 1]) <= 90) and np.all(np.abs(a[..., 0]) <= 180)
  # Uniform points on the sphere have E|lat| = 90 - 180 / pi = 32.7 degrees;
  # the sigma = 20 equator prior pulls fixations towards the equator.
  assert np.abs(a[..., 1]).mean() < 20.0


def test_scanpath_fixations_seek_the_salient_region():
  erp = np.full((128, 256, 3), 0.5, np.float32)
  erp += 0.01 * np.random.default_rng(0).normal(size=(128, 256, 1)).astype(
      np.float32)
  erp[56:72, 180:200] = 1.0   # a bright object at lon ~ 98, lat ~ 0 degrees
  fix = scanpath.generate(jax.random.key(0), erp, n_scanpaths=8, length=10,
                          ior_deg=1.0).reshape(-1, 2)
  near = np.hypot((fix[:, 0] - 98.0 + 180) % 360 - 180, fix[:, 1]) < 25.0
  # The object fills 0.3 % of the sphere; most fixations land near it.
  assert near.mean() > 0.5


def test_inhibition_of_return_spreads_fixations():
  erp = _smooth_noise(1)
  spread = []
  for ior in (0.5, 20.0):
    fix = scanpath.generate(jax.random.key(0), erp, n_scanpaths=4, length=30,
                            ior_deg=ior).reshape(-1, 2)
    spread.append(sampling.coverage(fix, 15.0))
  assert spread[1] > spread[0]


def test_scanpath_sampler_patches_are_viewports_at_fixations(tmp_path):
  erp = _smooth_noise(2)
  out = sampling.fixation_viewports(jax.random.key(0), erp, size=16, n_scanpaths=2,
                          length=5)
  assert out.patches.shape == (10, 16, 16, 3)
  assert out.params["fov_deg"] == pytest.approx(360 * 16 / 256)
  assert 0 < out.params["coverage"] < 1
  one = sphere.viewport(erp, out.centres[3, 0], out.centres[3, 1],
                        fov_deg=out.fov_deg[3], out_hw=(16, 16))
  np.testing.assert_allclose(out.patches[3], one, atol=1e-4)
  # The same fixations from a file give the same patches.
  f = tmp_path / "fix.csv"
  f.write_text("longitude,latitude,scanpath,time\n" + "".join(
      f"{lon},{lat},0,{t}\n" for t, (lon, lat) in enumerate(out.centres)))
  again = sampling.fixation_viewports(None, erp, fixations=f, size=16)
  np.testing.assert_allclose(again.patches, out.patches, atol=1e-5)
  assert again.params["source"] == str(f)


def test_read_fixations_formats_and_errors(tmp_path):
  f = tmp_path / "uv.csv"
  f.write_text("image,scanpath,time,u,v\n"
               "a.png,1,2.0,0.5,0.5\n"
               "a.png,1,1.0,0.75,0.25\n"
               "b.png,0,0.0,0.0,1.0\n")
  fx = scanpath.read_fixations(f, image="a.png")
  # Ordered by time within the scanpath; u = 0.75 -> lon 90, v = 0.25 -> 45.
  np.testing.assert_allclose(fx.centres, [[90.0, 45.0], [0.0, 0.0]])
  np.testing.assert_array_equal(fx.time, [1.0, 2.0])
  with pytest.raises(ValueError, match="2 images"):
    scanpath.read_fixations(f)
  bad = tmp_path / "bad.csv"
  bad.write_text("x,y\n100,200\n")
  with pytest.raises(ValueError, match="bad.csv.*longitude,latitude"):
    scanpath.read_fixations(bad)
  px = tmp_path / "px.csv"
  px.write_text("longitude,latitude\n1000,500\n")
  with pytest.raises(ValueError, match="pixels"):
    scanpath.read_fixations(px)
  with pytest.raises(FileNotFoundError, match="nope.csv"):
    scanpath.read_fixations(tmp_path / "nope.csv")


# --- 2-D samplers -----------------------------------------------------------


def test_grid_2d():
  img = np.random.default_rng(0).random((100, 130, 3)).astype(np.float32)
  out = planar.grid(img, size=32)
  assert out.patches.shape == (3 * 4, 32, 32, 3)
  np.testing.assert_array_equal(out.patches[5], img[32:64, 32:64])
  assert out.centres[5] == pytest.approx([47.5, 47.5])
  assert out.coords == "pixel"


def test_variance_weighted_prefers_texture():
  rng = np.random.default_rng(0)
  img = np.full((128, 128, 3), 0.5, np.float32)
  img[:, 64:] = rng.random((128, 64, 3))     # right half textured
  out = planar.variance_weighted(jax.random.key(0), img, n=12, size=16)
  # Patches overlapping the textured half only (a flat patch has weight 0).
  assert np.all(out.centres[:, 1] > 64 - 16)
  assert len({tuple(c) for c in out.centres}) == 12   # without replacement
  again = planar.variance_weighted(jax.random.key(0), img, n=12, size=16)
  np.testing.assert_array_equal(again.centres, out.centres)
  with pytest.raises(ValueError, match="candidate positions"):
    planar.variance_weighted(jax.random.key(0), img, n=10_000, size=16)


def test_saliency_weighted_and_random_positions():
  img = np.full((128, 128, 3), 0.5, np.float32)
  img += 0.01 * np.random.default_rng(0).normal(size=(128, 128, 1)).astype(
      np.float32)
  img[40:56, 80:96] = 1.0
  near = lambda c: np.hypot(c[:, 0] - 47.5, c[:, 1] - 87.5) < 24
  # 11 % of the candidate positions lie near the object; draws with
  # probability proportional to saliency pick them far more often.
  cand = planar.grid(img, size=16, stride=8).centres
  assert near(cand).mean() == pytest.approx(1 / 9)
  got = [near(planar.saliency_weighted(jax.random.key(s), img, n=20,
                                           size=16).centres).mean()
         for s in range(3)]
  assert np.mean(got) > 0.35
  rnd = planar.random_positions(jax.random.key(1), img, n=50, size=16)
  assert rnd.patches.shape == (50, 16, 16, 3)
  assert np.all((rnd.centres >= 7.5) & (rnd.centres <= 128 - 8.5))


def test_harris_matches_scikit_image_and_finds_corners():
  from skimage import data
  from skimage.feature import corner_harris
  img = (data.astronaut()[:150, :200] / 255.0).astype(np.float32)
  ours = np.asarray(planar.harris_response(img))
  ref = corner_harris(np.asarray(images.grey(jnp.asarray(img, jnp.float32)), np.float64), k=0.05,
                      sigma=1)
  np.testing.assert_allclose(ours, ref, atol=1e-5 * np.abs(ref).max())
  square = np.zeros((96, 128, 3), np.float32)
  square[20:60, 30:90] = 1.0
  out = planar.harris(square, n=4, size=16)
  got = sorted(map(tuple, np.round(out.centres + 0.5).astype(int)))
  # The corners of the square, within a pixel.
  want = [(20, 30), (20, 89), (59, 30), (59, 89)]
  for g, w in zip(got, want):
    assert abs(g[0] - w[0]) <= 1 and abs(g[1] - w[1]) <= 1
