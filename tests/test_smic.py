"""SMIC attention and the SMIC-weighted PSNR/SSIM (iqa_jax.fr.smic)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from iqa_jax import images, mic
from iqa_jax.data import demo2d
from iqa_jax.fr import Scorer, smic, ssim_map
from iqa_jax.models.vgg import VGG16

FIXTURE = Path(__file__).parent / "data" / "smic_official"


@pytest.fixture(scope="module")
def vgg():
  return VGG16.pretrained()


@pytest.fixture(scope="module")
def pairs():
  """Four real distortions of a 72 x 96 crop of a photograph: (4, H, W, 3)
  references and distorted images in [0, 1]."""
  ref = demo2d.reference("astronaut", (0, 100, 300))
  dists = [demo2d.distort(jax.random.key(0), ref, kind=kind, param=levels[2])
           for kind, levels in demo2d.LEVELS.items()]
  crop = (slice(40, 112), slice(60, 156))
  r = np.stack([ref[crop] / 255.0] * len(dists)).astype(np.float32)
  d = np.stack([x[crop] / 255.0 for x in dists]).astype(np.float32)
  return r, d


@pytest.mark.parametrize("n_in,n_out", [(3, 5), (4, 9), (12, 335), (9, 250),
                                        (6, 12), (7, 3), (5, 1), (1, 4)])
def test_zoom_linear_equals_scipy_zoom(n_in, n_out):
  a = np.random.default_rng(n_in * 1000 + n_out).random((n_in, n_in + 2))
  shape = (n_out, n_out + 3)
  want = ndimage.zoom(a, (shape[0] / a.shape[0], shape[1] / a.shape[1]),
                      order=1)
  assert want.shape == shape
  with jax.enable_x64():
    got = np.asarray(smic.zoom_linear(jnp.asarray(a), shape))
  np.testing.assert_allclose(got, want, atol=1e-12)


def test_zoom_scipy_rounding_zeroes_the_far_edge_only_when_asked():
  a = jnp.ones((9, 12))
  quirk = np.asarray(smic.zoom_linear(a, (250, 335)))
  plain = np.asarray(smic.zoom_linear(a, (250, 335), scipy_rounding=False))
  assert np.all(plain == 1.0)
  assert np.all(quirk[:, -1] == 0.0) and np.all(quirk[:, :-1] == 1.0)


def test_unfold_matches_torch_unfold_order():
  x = np.arange(2 * 16 * 17 * 3, dtype=np.float32).reshape(2, 16, 17, 3)
  got = np.asarray(smic.unfold(jnp.asarray(x), patch=7, stride=4))
  assert got.shape == (2, 3, 3, 3, 49)
  for i in range(3):
    for j in range(3):
      win = x[:, 4 * i:4 * i + 7, 4 * j:4 * j + 7, :]     # n, 7, 7, c
      np.testing.assert_array_equal(
          got[:, i, j], win.transpose(0, 3, 1, 2).reshape(2, 3, 49))


def test_projections_loading_and_errors(tmp_path):
  p = smic.load_projections(FIXTURE / "projections.npz")
  raw = np.load(FIXTURE / "projections.npz")
  assert p.relu3_3.shape == (256, 32) and p.relu4_3.shape == (512, 32)
  np.testing.assert_array_equal(np.asarray(p.relu3_3),
                                raw["randpj"][:, :, 0, 0].T)
  ours = tmp_path / "ours.npz"
  np.savez(ours, relu3_3=np.asarray(p.relu3_3), relu4_3=np.asarray(p.relu4_3))
  q = smic.load_projections(ours)
  np.testing.assert_array_equal(np.asarray(q.relu4_3), np.asarray(p.relu4_3))
  with pytest.raises(KeyError, match="prefix="):
    smic.load_projections(ours, prefix="psnr_smic")
  bad = tmp_path / "bad.npz"
  np.savez(bad, relu3_3=np.zeros((255, 32)), relu4_3=np.zeros((512, 32)))
  with pytest.raises(ValueError, match="bad.npz"):
    smic.load_projections(bad)
  with pytest.raises(FileNotFoundError):
    smic.load_projections(tmp_path / "missing.npz")


def test_random_projections():
  key = jax.random.key(3)
  x = smic.random_projections(key)
  bound = np.sqrt(6 / (256 + 32))
  assert x.relu3_3.shape == (256, 32) and x.relu4_3.shape == (512, 32)
  assert float(jnp.max(jnp.abs(x.relu3_3))) <= bound
  assert float(jnp.max(jnp.abs(x.relu3_3))) > 0.9 * bound
  g = smic.random_projections(key, kind="gaussian")
  assert float(jnp.max(jnp.abs(g.relu4_3))) > 2.0  # unbounded normals
  with pytest.raises(ValueError, match="kind"):
    smic.random_projections(key, kind="sparse")


def test_attention_range_key_and_batch_equals_loop(vgg, pairs):
  ref, dist = pairs
  proj = smic.random_projections(jax.random.key(0))
  att = jax.jit(lambda r, d, p: smic.attention(r, d, vgg=vgg, projections=p))
  a = np.asarray(att(ref, dist, proj))
  # 72 x 96 -> relu3_3 18 x 24 -> 2 x 3 windows of 7 x 7.
  assert a.shape == (4, 2, 3)
  assert np.all((a >= 0) & (a <= 1)) and np.ptp(a) > 0.05
  again = np.asarray(att(ref, dist, smic.random_projections(jax.random.key(0))))
  np.testing.assert_array_equal(again, a)
  other = np.asarray(att(ref, dist, smic.random_projections(jax.random.key(1))))
  assert np.abs(other - a).max() > 1e-3
  for i in range(4):
    one = np.asarray(att(ref[i:i + 1], dist[i:i + 1], proj))
    np.testing.assert_allclose(one[0], a[i], atol=1e-6)


def test_identical_images_give_fully_dependent_attention(vgg, pairs):
  ref = pairs[0][:1]
  proj = smic.random_projections(jax.random.key(0))
  feats = vgg(jnp.asarray(ref), layers=smic.LAYERS, pool="l2")
  windows = [np.asarray(smic.unfold(jnp.einsum("nhwc,ck->nhwk", feats[l], w),
                                    patch=7, stride=7))
             for l, w in zip(smic.LAYERS, proj)]
  # A window of 49 distinct values against itself: the best grid is the
  # 2-row equipartition (25 | 24 points), MI = H(25/49, 24/49), normalised by
  # log 2 (libmine's MIC of x with x at n = 49 is just below 1); a constant
  # window scores 0.
  h = -(25 / 49 * np.log(25 / 49) + 24 / 49 * np.log(24 / 49)) / np.log(2)
  expect = []
  for w in windows:
    distinct = np.apply_along_axis(lambda v: len(np.unique(v)), -1, w)
    assert np.all((distinct == 49) | (distinct == 1))
    expect.append(1.0 - np.where(distinct == 49, h, 0.0).mean(-1))
  expect = (expect[0] + np.asarray(smic.zoom_linear(
      jnp.asarray(expect[1]), expect[0].shape[-2:]))) / 2
  got = np.asarray(smic.attention(ref, ref, vgg=vgg, projections=proj))
  np.testing.assert_allclose(got, expect, atol=1e-6)
  assert got.max() < 0.5            # this photograph's windows mostly vary


def test_layer_attention_is_one_minus_mean_mic():
  rng = np.random.default_rng(0)
  r = rng.random((1, 14, 7, 8)).astype(np.float32)
  d = (r + 0.3 * rng.random(r.shape)).astype(np.float32)
  w = rng.normal(size=(8, 5)).astype(np.float32)
  got = np.asarray(smic.layer_attention(r, d, w))
  assert got.shape == (1, 2, 1)
  pr, pd = r @ w, d @ w
  for i in range(2):
    xs = pd[0, 7 * i:7 * i + 7].transpose(2, 0, 1).reshape(5, 49)
    ys = pr[0, 7 * i:7 * i + 7].transpose(2, 0, 1).reshape(5, 49)
    want = 1 - np.mean(np.asarray(mic.mic(xs, ys, alpha=0.5, c=10)))
    assert got[0, i, 0] == pytest.approx(want, abs=1e-6)


def test_valid_ssim_map_equals_scipy_filtering(pairs):
  r, d = pairs[0][1].astype(np.float64), pairs[1][1].astype(np.float64)
  g = lambda x: ndimage.gaussian_filter(x, (1.5, 1.5, 0), truncate=2.0)
  ux, uy = g(r), g(d)
  vx, vy, vxy = g(r * r) - ux ** 2, g(d * d) - uy ** 2, g(r * d) - ux * uy
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  want = ((2 * ux * uy + c1) * (2 * vxy + c2)) / (
      (ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
  with jax.enable_x64():
    got = np.asarray(ssim_map(r, d, window=7, border="valid"))
  assert got.shape == (r.shape[0] - 6, r.shape[1] - 6, 3)
  np.testing.assert_allclose(got, want[3:-3, 3:-3], atol=1e-10)


def test_scorer_on_eight_devices_equals_one(vgg, pairs):
  ref, dist = pairs
  assert jax.device_count() == 8
  one = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  proj = smic.random_projections(jax.random.key(0))
  # (The sharding is the metric's business only through Scorer: one SMIC
  # metric shows it; ssim_smic runs on one device in the official check.)
  for metric in ("psnr_smic",):
    a = Scorer(metric, vgg=vgg, projections=proj, batch_size=8)(ref, dist)
    b = Scorer(metric, vgg=vgg, projections=proj, mesh=one,
               batch_size=3)(ref, dist)
    assert a.shape == (4,)
    np.testing.assert_allclose(a, b, rtol=1e-5)
  # The pure function outside jit (VGG16 op by op; MIC keeps its kernel).
  eager = smic.psnr_smic(ref[2:3], dist[2:3], vgg=vgg, projections=proj)
  np.testing.assert_allclose(np.asarray(eager), a[2:3], rtol=1e-5)
  # w/ MIC: 8 devices, 1 device, and the pure function outside jit.
  a = Scorer("psnr_mic", batch_size=8)(ref, dist)
  b = Scorer("psnr_mic", mesh=one, batch_size=3)(ref, dist)
  np.testing.assert_allclose(a, b, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(smic.psnr_mic(ref[1:2], dist[1:2])),
                             a[1:2], rtol=1e-5)
  plain = Scorer("psnr")(ref, dist)
  smic_psnr = Scorer("psnr_smic", vgg=vgg, projections=proj)(ref, dist)
  assert np.all(np.isfinite(plain)) and np.all(np.isfinite(smic_psnr))
  # Attention <= 1 weights the MSE down, so PSNR-SMIC >= PSNR on the map.
  assert np.all(smic_psnr > plain)


def _official_cases(root):
  rows = json.loads((root / "official_scores.json").read_text())["rows"]
  img_dir = root / "images" if (root / "images").is_dir() else root
  return [r for r in rows
          if (img_dir / r["ref"]).is_file() and (img_dir / r["dist"]).is_file()
          ], img_dir


def _check_official(vgg, root, prefix, *, skip=()):
  cases, img_dir = _official_cases(root)
  cases = [r for r in cases if (r["ref"], r["dist"]) not in skip]
  assert cases
  proj = smic.load_projections(root / "projections.npz", prefix=prefix)
  ref = np.stack([images.read(img_dir / r["ref"]) for r in cases])
  dist = np.stack([images.read(img_dir / r["dist"]) for r in cases])
  one = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  for metric in ("psnr_smic", "ssim_smic"):
    # The official run scored the files as they are (no prepare_image).
    got = Scorer(metric, vgg=vgg, projections=proj, mesh=one,
                 preprocess=None)(ref, dist)
    want = np.array([r[metric] for r in cases])
    np.testing.assert_allclose(got, want, rtol=1e-4, err_msg=metric)
  return len(cases)


def test_official_scores_fixture(vgg):
  """Three of the six official pairs, from the copied fixture."""
  assert _check_official(vgg, FIXTURE, None) == 3


def test_official_scores_other_pairs(vgg, shared):
  """The official pairs that the fixture does not copy (all six together
  with test_official_scores_fixture)."""
  root = shared / "reference" / "smic_official"
  if not root.is_dir():
    pytest.skip(f"{root} is absent")
  # The fixture's pairs are checked above; these are the other ones.
  in_fixture = {(r["ref"], r["dist"]) for r in _official_cases(FIXTURE)[0]}
  assert len(in_fixture) == 3
  assert _check_official(vgg, root, "psnr_smic", skip=in_fixture) == 3


# ----------------------------------------------------------------------------
# Table II's "w/ MIC" baseline: pixel-domain MIC attention.


def test_pixel_attention_is_one_minus_mean_channel_mic():
  rng = np.random.default_rng(1)
  r = rng.random((1, 14, 23, 3)).astype(np.float32)
  d = np.clip(r + 0.2 * rng.standard_normal(r.shape), 0, 1).astype(np.float32)
  got = np.asarray(smic.pixel_attention(r, d))
  assert got.shape == (1, 2, 3)          # (14 - 7) // 7 + 1, (23 - 7) // 7 + 1
  for i in range(2):
    for j in range(3):
      win = (0, slice(7 * i, 7 * i + 7), slice(7 * j, 7 * j + 7))
      xs = d[win].reshape(49, 3).T
      ys = r[win].reshape(49, 3).T
      want = 1 - np.mean(np.asarray(mic.mic(xs, ys, alpha=0.5, c=10)))
      assert got[0, i, j] == pytest.approx(want, abs=1e-6)


def test_psnr_and_ssim_mic_weight_the_map_by_the_pixel_attention(pairs):
  """psnr_mic / ssim_mic against the composition done here with scipy's
  zoom: no VGG, no projections."""
  ref, dist = pairs
  a = np.asarray(smic.pixel_attention(ref, dist), np.float64)  # (4, 10, 13)
  mse = np.asarray(smic.psnr_smic.map_fn(ref, dist), np.float64)
  a_mse = np.stack([ndimage.zoom(x, np.divide(mse.shape[1:], x.shape),
                                 order=1) for x in a])
  want = 10 * np.log10(1 / (np.mean(mse * a_mse, axis=(1, 2)) + 1e-10))
  np.testing.assert_allclose(np.asarray(smic.psnr_mic(ref, dist)), want,
                             rtol=1e-5)
  np.testing.assert_allclose(
      np.asarray(smic.psnr_smic(ref, dist, attention="mic")), want, rtol=1e-5)
  dmap = np.asarray(smic.ssim_smic.map_fn(ref, dist), np.float64)
  zoomed = np.stack([ndimage.zoom(x, np.divide(dmap.shape[1:], x.shape),
                                  order=1) for x in a])
  np.testing.assert_allclose(np.asarray(smic.ssim_mic(ref, dist)),
                             np.mean(dmap * zoomed, axis=(1, 2)), rtol=1e-5)
  # The maps are the two factors the score pools.
  (m, att), = smic.psnr_mic.maps(ref, dist).values()
  np.testing.assert_allclose(np.asarray(m), mse, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(att), a_mse, atol=1e-6)
  with pytest.raises(ValueError, match="attention must be one of"):
    smic.psnr_smic(ref, dist, attention="pixel")
  # w/ MIC needs only a window's worth of pixels, SMIC 49 x 49.
  small = ref[:1, :20, :20]
  assert np.isfinite(np.asarray(smic.psnr_mic(small, small))).all()
  with pytest.raises(ValueError, match="psnr_smic needs images of at least 49"):
    smic.psnr_smic(small, small)
  with pytest.raises(ValueError, match="psnr_mic needs images of at least 7"):
    smic.psnr_mic(small[:, :6], small[:, :6])


def test_scorer_maps_need_an_attention(pairs):
  ref, dist = pairs
  with pytest.raises(ValueError, match="psnr has no attention map; maps "
                     "exist for psnr_smic"):
    Scorer("psnr").maps(ref, dist)
  out = Scorer("psnr_mic", preprocess=None).maps(ref[:2], dist[:2])
  (m, a), = out.values()
  assert m.shape == a.shape == (2, 66, 90)       # the valid 7 x 7 map
  assert np.all((a >= 0) & (a <= 1))
