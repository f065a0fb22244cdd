"""MIC against libmine 1.2.6 (tests/data/mic_libmine.json, copied from the
project's shared/reference/mic_libmine.json: 160 cases computed by libmine's
mine_compute_score + mine_mic, with their x, y and the scores for several
(estimator, alpha, c))."""

import json
from collections import defaultdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from iqa_jax import mic

DATA = json.loads((Path(__file__).parent / "data" /
                   "mic_libmine.json").read_text())
KEYS = sorted(k for k in DATA["cases"][0] if k.startswith("mic_"))


def _settings(key):
  est = "mic_approx" if key.startswith("mic_approx") else "mic_e"
  alpha = float(key.split("alpha")[1].split("_")[0])
  c = float(key.split("_c")[1])
  return est, alpha, c


def _by_length():
  groups = defaultdict(list)
  for case in DATA["cases"]:
    groups[case["n"]].append(case)
  return groups


# MIC_approx in float64 at every setting; MIC_e (the same grids, only the
# final combination differs) in float64 at SMIC's setting, alpha 0.5 and
# c 10; float32 (the users' default) for SMIC's MIC_approx. Each case
# compiles nine grid plans (15-25 s), hence not every combination.
_CASES = ([(k, np.float64, 1e-9) for k in KEYS
           if k.startswith("mic_approx") or "alpha0.5_c10" in k] +
          [(k, np.float32, 1e-5) for k in KEYS
           if k == "mic_approx_alpha0.5_c10"])


@pytest.mark.parametrize("key,dtype,tol", _CASES,
                         ids=[f"{np.dtype(d).name}-{k}" for k, d, _ in _CASES])
def test_parity_with_libmine(key, dtype, tol):
  est, alpha, c = _settings(key)
  with jax.enable_x64(dtype == np.float64):
    for n, cases in _by_length().items():
      x = np.array([cs["x"] for cs in cases], dtype)
      y = np.array([cs["y"] for cs in cases], dtype)
      got = np.asarray(mic.mic(x, y, alpha=alpha, c=c, est=est))
      assert got.dtype == dtype
      want = np.array([cs[key] for cs in cases])
      err = np.abs(got - want)
      assert err.max() <= tol, (n, [cases[i]["relation"]
                                    for i in np.flatnonzero(err > tol)])


def test_cases_cover_small_n_ties_and_constants():
  ns = {cs["n"] for cs in DATA["cases"]}
  assert min(ns) == 12 and {16, 49} <= ns
  assert any(len(set(cs["x"])) < cs["n"] for cs in DATA["cases"])


def test_constant_and_degenerate_inputs():
  x = np.linspace(0, 1, 30)
  assert float(mic.mic(np.ones(30), x)) == 0.0
  assert float(mic.mic(x, np.full(30, 2.0))) == 0.0
  # A perfect monotone relation, ties included, has MIC 1.
  t = np.repeat(np.arange(10.0), 3)
  assert float(mic.mic(t, t ** 3, alpha=0.5, c=10)) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="at least 4"):
    mic.mic(np.ones(3), np.ones(3))
  with pytest.raises(ValueError, match="alpha"):
    mic.mic(x, x, alpha=2.0)


def test_batch_equals_loop_and_composes_with_jit_vmap():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3, 5, 49)).astype(np.float32)
  y = (x ** 2 + 0.3 * rng.normal(size=x.shape)).astype(np.float32)
  batch = np.asarray(mic.mic(x, y, alpha=0.5, c=10))
  assert batch.shape == (3, 5)
  loop = np.array([[float(mic.mic(x[i, j], y[i, j], alpha=0.5, c=10))
                    for j in range(5)] for i in range(3)])
  np.testing.assert_allclose(batch, loop, rtol=0, atol=1e-6)
  f = jax.jit(jax.vmap(lambda a, b: mic.mic(a, b, alpha=0.5, c=10)))
  np.testing.assert_allclose(np.asarray(f(x[0], y[0])), batch[0], atol=1e-6)
  assert np.all((batch >= 0) & (batch <= 1 + 1e-6))


def test_grid_plan_matches_libmine_sizes():
  # n = 49, alpha = 0.5: B = 7, grids 2 x {2, 3} and 3 x 2; clump limits
  # floor(10 * 3) and floor(10 * 2) (authors_code.md, section 1).
  assert mic.grid_plan(49, 0.5, 10) == [(2, 3, 30), (3, 2, 20)]
  # n = 16: B = 4, only the 2 x 2 grid.
  assert mic.grid_plan(16, 0.5, 10) == [(2, 2, 20)]


def test_packed_counts_equal_separate_counts(monkeypatch):
  # Up to mic._PACK_MAX_N points the ranks, the counts below and the other
  # variable's rank share int32 arrays; above it they are kept apart. Both
  # paths must give the same order, tie groups and scores (ties included).
  rng = np.random.default_rng(3)
  x = np.round(rng.normal(size=(64, 49)), 1).astype(np.float32)
  y = np.round(x ** 2 + 0.5 * rng.normal(size=x.shape), 1).astype(np.float32)
  v = np.concatenate([x.T, y.T], axis=-1)
  swap = lambda a: jnp.concatenate([a[..., 64:], a[..., :64]], -1)
  packed = jax.jit(lambda v: mic._order(v, swap))(v)
  want_packed = np.asarray(mic.mic(x, y, alpha=0.5, c=10))
  monkeypatch.setattr(mic, "_PACK_MAX_N", 0)
  apart = jax.jit(lambda v: mic._order(v, swap))(v)
  for a, b in zip(jax.tree.leaves(packed), jax.tree.leaves(apart)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.asarray(packed[0].first).all()          # ties are present
  # Stable ranks: a permutation per column, equal values in input order.
  ranks = np.asarray(packed[0].rank)
  np.testing.assert_array_equal(
      ranks, np.argsort(np.argsort(v, axis=0, kind="stable"), axis=0))
  jax.clear_caches()
  np.testing.assert_array_equal(
      np.asarray(mic.mic(x, y, alpha=0.5, c=10)), want_packed)
