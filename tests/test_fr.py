"""PSNR and SSIM (with maps) against scikit-image on demo2d's photographs
with its four real distortions."""

import jax
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from iqa_jax import fr
from iqa_jax.data import demo2d


@pytest.fixture(scope="module")
def pairs():
  ref = demo2d.reference("astronaut", (0, 100, 300))
  out = []
  for kind, levels in demo2d.LEVELS.items():
    dist = demo2d.distort(jax.random.key(0), ref, kind=kind, param=levels[2])
    out.append((ref / 255.0, dist / 255.0))
  return out


def _sk_ssim(x, y, **kw):
  return structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, channel_axis=-1,
                               data_range=1.0, **kw)


def test_psnr_and_ssim_equal_scikit_image(pairs):
  refs = np.stack([r for r, _ in pairs]).astype(np.float32)
  dists = np.stack([d for _, d in pairs]).astype(np.float32)
  got_p = np.asarray(fr.psnr(refs, dists))          # batched over 4 pairs
  got_s = np.asarray(fr.ssim(refs, dists))
  for i, (r, d) in enumerate(pairs):
    r32, d32 = r.astype(np.float32), d.astype(np.float32)
    assert got_p[i] == pytest.approx(
        peak_signal_noise_ratio(r32, d32, data_range=1.0), rel=1e-5)
    assert abs(got_s[i] - _sk_ssim(r32, d32)) <= 1e-5
  assert np.all(np.diff(got_s) != 0)  # four different distortions


def test_ssim_map_equals_scikit_image_in_float64(pairs):
  r, d = pairs[1]
  with jax.enable_x64():
    got = np.asarray(fr.ssim_map(r, d))
  _, want = _sk_ssim(r, d, full=True)
  np.testing.assert_allclose(got, want, atol=1e-9)


def test_mse_map_and_identities(pairs):
  r, d = (a.astype(np.float32) for a in pairs[3])
  m = np.asarray(fr.mse_map(r, d, window=7))
  assert m.shape == (r.shape[0] - 6, r.shape[1] - 6)
  sq = ((r - d) ** 2).mean(-1)
  np.testing.assert_allclose(m[10, 20], sq[10:17, 20:27].mean(), rtol=1e-5)
  assert float(fr.ssim(r, r)) == pytest.approx(1.0)
  assert np.isinf(float(fr.psnr(r, r)))
  with pytest.raises(ValueError, match="share a shape"):
    fr.psnr(r, d[:-1])
