"""Tests of the synthetic distortions and the demo2d dataset."""


import jax
import numpy as np
import pytest
import scipy.ndimage

from iqa_jax import data, distortions, images
from iqa_jax.data import demo2d


def _photo(size=64):
  import skimage.data  # pylint: disable=g-import-not-at-top

  return skimage.data.astronaut()[::8, ::8][:size, :size] / np.float32(255)


@pytest.mark.parametrize("sigma", [0.7, 2.0, 5.0])
def test_blur_equals_scipy(sigma):
  x = _photo()
  ours = jax.jit(lambda v: distortions.gaussian_blur(v, sigma=sigma))(x)
  ref = scipy.ndimage.gaussian_filter(x.astype(np.float64), (sigma, sigma, 0),
                                      mode="reflect", truncate=4.0)
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  batch = distortions.gaussian_blur(np.stack([x, x[::-1]]), sigma=sigma)
  np.testing.assert_allclose(batch[1], distortions.gaussian_blur(
      x[::-1], sigma=sigma), atol=1e-6)


def test_noise_deterministic_and_clipped():
  x = _photo()
  k = jax.random.key(3)
  a = distortions.gaussian_noise(k, x, sigma=0.1)
  b = distortions.gaussian_noise(k, x, sigma=0.1)
  c = distortions.gaussian_noise(jax.random.key(4), x, sigma=0.1)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  interior = (x > 0.3) & (x < 0.7)
  assert np.std(np.asarray(a - x)[interior]) == pytest.approx(0.1, rel=0.1)


@pytest.mark.parametrize("fn,levels", [
    (lambda x, p: distortions.jpeg(x, quality=p), (90, 40, 10, 3)),
    (lambda x, p: distortions.jpeg2000(x, ratio=p), (8, 32, 128)),
])
def test_codecs_deterministic_and_monotone(fn, levels):
  x = _photo()
  errors = []
  for p in levels:
    out = fn(x, p)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, fn(x, p))
    errors.append(float(np.mean((out - x) ** 2)))
  assert errors == sorted(errors)


def test_bad_parameters():
  x = _photo()
  with pytest.raises(ValueError, match="quality"):
    distortions.jpeg(x, quality=0)
  with pytest.raises(ValueError, match="ratio"):
    distortions.jpeg2000(x, ratio=1)
  with pytest.raises(ValueError, match="sigma"):
    distortions.gaussian_blur(x, sigma=0)
  with pytest.raises(ValueError, match="too large"):
    distortions.gaussian_blur(x[:8, :8], sigma=4)
  with pytest.raises(ValueError, match="sigma"):
    distortions.gaussian_noise(jax.random.key(0), x, sigma=-1)
  with pytest.raises(ValueError, match="expected an"):
    distortions.jpeg(x[..., 0], quality=50)


def _check_proxy_decreases(src) -> int:
  """Asserts proxy_mos falls strictly with the level in every (reference,
  distortion) series and stays in 1-5; returns the number of series."""
  by_series = {}
  for i in range(len(src)):
    rec = src.raw(i)
    by_series.setdefault((rec["ref_id"], rec["dist_type"]), []).append(
        (rec["dist_level"], rec["score"]))
  for key, series in by_series.items():
    scores = [v for _, v in sorted(series)]
    assert all(a > b for a, b in zip(scores, scores[1:])), key
    assert 1.0 <= min(scores) and max(scores) <= 5.0
  return len(by_series)


def test_demo2d_deterministic_and_monotone(tmp_path, demo_datasets):
  src = data.load("demo2d", data_dir=demo_datasets)   # the session's copy
  data.load("demo2d", data_dir=tmp_path / "b")          # built again here
  for sub in ("demo2d/1.0.0/demo2d-images.array_record-00000-of-00001",
              "demo2d/1.0.0/demo2d-references.array_record-00000-of-00001"):
    assert (demo_datasets / sub).read_bytes() == (tmp_path / "b" /
                                                   sub).read_bytes()
  assert len(src) == 200 and len(set(src.ref_ids.tolist())) == 10
  assert src.metadata["score_name"] == "proxy_mos"
  assert _check_proxy_decreases(src) == 40
  rec = src[0]
  assert rec["reference"].shape == rec["image"].shape == (256, 256, 3)
  s = demo2d.ssim_y(images.to_uint8(rec["reference"]),
                    images.to_uint8(rec["image"]))
  assert rec["score"] == pytest.approx(1 + 4 * s, abs=1e-6)


def test_demo360_builds_with_monotone_proxy(demo_datasets):
  from iqa_jax.data import demo360  # pylint: disable=g-import-not-at-top

  src = data.load("demo360", data_dir=demo_datasets)  # shared with notebooks
  assert len(src) == 240 and len(set(src.ref_ids.tolist())) == 12
  assert src.metadata["kind"] == "360"
  assert _check_proxy_decreases(src) == 48
  rec = src[0]
  assert rec["image"].shape == (320, 640, 3) == rec["reference"].shape
  s = demo360.ws_ssim(images.to_uint8(rec["reference"]),
                      images.to_uint8(rec["image"]))
  assert rec["score"] == pytest.approx(1 + 4 * s, abs=1e-6)
  # References differ from one another and are regenerated identically.
  again = demo360.references()
  np.testing.assert_array_equal(again[0][1], images.to_uint8(rec["reference"]))
  assert not np.array_equal(again[0][1], again[1][1])
  one = demo360.references([1])           # one alone: the same panorama
  assert one[0][0] == again[1][0]
  np.testing.assert_array_equal(one[0][1], again[1][1])
