"""NAC: t-SNE map + convex-hull area ratio (source text 001, Fig. 6-7)."""

import numpy as np
import pytest

from iqa_jax import nac


def _grid_plus_interior():
  # The corners of a 4 x 4 square with edge points, and interior points.
  g = np.array([(x, y) for x in range(5) for y in range(5)], np.float64)
  return g


def test_known_hull_areas():
  pts = _grid_plus_interior()                 # square [0, 4]^2: area 16
  assert nac.hull_area(pts) == pytest.approx(16.0)
  inner = [i for i, (x, y) in enumerate(pts) if 1 <= x <= 3 and 1 <= y <= 3]
  assert nac.nac(pts, inner) == pytest.approx(4.0 / 16.0)  # [1, 3]^2
  corners = [i for i, (x, y) in enumerate(pts) if x in (0, 4) and y in (0, 4)]
  assert nac.nac(pts, corners) == pytest.approx(1.0)
  # A triangle of three corners: half the square.
  assert nac.nac(pts, corners[:3]) == pytest.approx(0.5)
  mask = np.zeros(len(pts), bool)
  mask[inner] = True
  assert nac.nac(pts, mask) == pytest.approx(0.25)


def test_degenerate_sets_have_no_area():
  pts = _grid_plus_interior()
  assert nac.hull_area(pts[:2]) == 0.0
  assert nac.hull_area(np.stack([np.arange(5.0), np.arange(5.0)], 1)) == 0.0
  with pytest.raises(ValueError, match="span no area"):
    nac.nac(np.zeros((5, 2)), [0, 1])


def test_curve_is_one_at_full_rate_and_non_decreasing():
  rng = np.random.default_rng(0)
  v = rng.normal(size=(60, 2))
  order = rng.permutation(60)
  rates = [0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]
  curve = nac.nac_curve(v, order, rates=rates)
  assert curve[-1] == pytest.approx(1.0)
  assert np.all(np.diff(curve) >= -1e-12)
  assert 0 <= curve[0] < 1


def test_tsne_is_seeded():
  pytest.importorskip("sklearn")
  e = np.random.default_rng(1).normal(size=(40, 16))
  a = nac.tsne(e, seed=3)
  b = nac.tsne(e, seed=3)
  assert a.shape == (40, 2)
  np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match="n >= 4"):
    nac.tsne(e[:3])


def test_coverage_experiment_on_a_tiny_panorama_set(tmp_path):
  pytest.importorskip("sklearn")
  import tiny_sets
  from iqa_jax.distill360 import coverage
  tiny_sets.register("tiny360", kind="360", shape=(64, 128))
  c = coverage.get_config("runlocal")
  c.sources = ("tiny360",)
  c.data_dir = str(tmp_path / "data")
  c.patch_size = 16            # 4 x 8 ERP patches
  c.rates = (0.25, 0.5, 1.0)
  out = coverage.run(c, tmp_path / "run")
  rows = out["rows"]
  # 2 scenarios x 4 images x 2 selectors x 3 rates.
  assert len(rows) == 2 * 4 * 2 * 3
  for r in rows:
    assert 0 <= r["nac"] <= 1 + 1e-12 and r["patches"] == 32
    if r["rate"] == 1.0:
      assert r["nac"] == pytest.approx(1.0)
  for name in ("nac.png", "tsne_tiny360.png", "nac.csv"):
    assert (tmp_path / "run" / name).stat().st_size > 0
