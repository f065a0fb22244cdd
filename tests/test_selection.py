"""Tests of the selection core: distances, kernels, Z, the W/R solver,
the authors'-code variant, batching and the selectors."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.spatial.distance as ssd

from iqa_jax import parallel
from iqa_jax import selection as S
from iqa_jax.selection import distances, similarity, solver

enable_x64 = jax.enable_x64  # a context manager

RNG = np.random.default_rng(0)


def _embeddings(kind, n=24, d=48, seed=0):
  rng = np.random.default_rng(seed)
  if kind == "random":
    return rng.normal(size=(n, d)) * 2.0
  if kind == "clustered":
    centres = rng.normal(size=(3, d)) * 5.0
    return centres[rng.integers(0, 3, n)] + 0.1 * rng.normal(size=(n, d))
  if kind == "duplicated":
    base = rng.normal(size=(n // 3, d))
    return np.concatenate([base, base, base + 1e-3])[:n]
  if kind == "tall":  # n > d: the direct d x d branch
    return rng.normal(size=(n, 8))
  raise ValueError(kind)


# ----------------------------------------------------------------------------
# Distances and kernels.


def test_distances_match_scipy():
  e = RNG.normal(size=(15, 6)) * 3
  with enable_x64():
    x = jnp.asarray(e)
    np.testing.assert_allclose(distances.euclidean(x), ssd.cdist(e, e),
                               atol=1e-10)
    np.testing.assert_allclose(distances.manhattan(x),
                               ssd.cdist(e, e, "cityblock"), atol=1e-10)
    vi = np.cov(e.T) + 1e-10 * np.eye(6)  # the authors' "VI"
    np.testing.assert_allclose(distances.authors_mahalanobis(x),
                               ssd.cdist(e, e, "mahalanobis", VI=vi),
                               rtol=1e-8, atol=1e-8)


def _ledoit_wolf_numpy(x):
  """The d x d Ledoit-Wolf estimate, written plainly (x centred)."""
  n, d = x.shape
  c = x.T @ x / n
  mu = np.trace(c) / d
  delta = np.sum((c - mu * np.eye(d)) ** 2) / d
  beta = sum(np.sum((np.outer(r, r) - c) ** 2) for r in x) / (n * n * d)
  shrink = min(beta, delta) / delta
  return (1 - shrink) * c + shrink * mu * np.eye(d), shrink


@pytest.mark.parametrize("n,d", [(10, 30), (40, 6)])
def test_mahalanobis_ledoit_wolf_woodbury(n, d):
  e = RNG.normal(size=(n, d)) * np.linspace(0.5, 3, d)
  x = e - e.mean(0)
  sigma, shrink = _ledoit_wolf_numpy(x)
  with enable_x64():
    got_shrink, _ = distances.ledoit_wolf_shrinkage(jnp.asarray(x))
    np.testing.assert_allclose(got_shrink, shrink, rtol=1e-10)
    expected = ssd.cdist(e, e, "mahalanobis", VI=np.linalg.inv(sigma))
    np.testing.assert_allclose(distances.mahalanobis(jnp.asarray(e)),
                               expected, rtol=1e-7, atol=1e-7)


def test_kernels_and_bandwidth():
  e = RNG.normal(size=(12, 5))
  d = ssd.cdist(e, e)
  sigma = np.median(d[np.triu_indices(12, 1)])
  with enable_x64():
    s = similarity.similarity(jnp.asarray(e), distance="EUC")
    np.testing.assert_allclose(s, np.exp(-d**2 / (2 * sigma**2)), atol=1e-12)
    dm = ssd.cdist(e, e, "cityblock")
    sm = similarity.similarity(jnp.asarray(e), distance="manhattan")
    sig_m = np.median(dm[np.triu_indices(12, 1)])
    np.testing.assert_allclose(sm, np.exp(-dm / sig_m), atol=1e-12)
    sa = similarity.similarity(jnp.asarray(e), kernel="authors_code")
    np.testing.assert_allclose(sa, np.exp(-d**2 / (2 * d.mean())), atol=1e-12)
  for s_ in (s, sm):  # both kernels are PSD for their distance
    assert np.linalg.eigvalsh(np.asarray(s_)).min() > -1e-10


def test_spectral_factor_is_top_h_reconstruction():
  e = RNG.normal(size=(20, 7))
  with enable_x64():
    s = np.asarray(similarity.similarity(jnp.asarray(e)))
    z = np.asarray(similarity.spectral_factor(jnp.asarray(s), h=5))
  lam, v = np.linalg.eigh(s)
  recon = (v[:, -5:] * lam[-5:]) @ v[:, -5:].T
  np.testing.assert_allclose(z @ z.T, recon, atol=1e-10)
  big = np.abs(z).argmax(axis=0)
  assert np.all(z[big, np.arange(5)] > 0)  # the sign convention
  # Negative eigenvalues are clipped: an indefinite matrix gives finite Z.
  with enable_x64():
    zi = similarity.spectral_factor(jnp.asarray(np.diag([3.0, -2.0, 1.0])),
                                    h=3)
  np.testing.assert_allclose(np.sort(np.linalg.norm(zi, axis=0)),
                             [0.0, 1.0, math.sqrt(3)], atol=1e-12)


# ----------------------------------------------------------------------------
# The W/R solver.


def _numpy_iterations(e, z, *, alpha, beta, iters, eps=1e-8, r_step="irls"):
  """Eq. 9 and 11 with the d x d solve, written plainly (the reference)."""
  d = e.shape[1]
  w = np.linalg.solve(e.T @ e + alpha * np.eye(d), e.T @ z)
  rt = e @ w - z
  ew = eps * np.sqrt(np.mean(np.sum(w**2, 1)))
  er = eps * np.sqrt(np.mean(np.sum(rt**2, 1)))
  for _ in range(iters):
    dw = np.diag(1.0 / (2.0 * np.sqrt(np.sum(w**2, 1) + ew**2)))
    w = np.linalg.solve(e.T @ e + alpha * dw, e.T @ (z + rt))
    a = e @ w - z
    if r_step == "irls":
      dr = 1.0 / (2.0 * np.sqrt(np.sum(rt**2, 1) + er**2))
      rt = a / (1.0 + beta * dr)[:, None]
    else:
      norm = np.linalg.norm(a, axis=1)
      rt = a * np.maximum(0, 1 - beta / (2 * norm))[:, None]
  return w, rt


@pytest.mark.parametrize("kind", ["random", "tall"])
@pytest.mark.parametrize("r_step", ["irls", "prox"])
def test_first_iterations_match_numpy(kind, r_step):
  e = _embeddings(kind)
  with enable_x64():
    z = np.asarray(similarity.spectral_factor(
        similarity.similarity(jnp.asarray(e)), h=4))
    res = solver.solve(jnp.asarray(e), jnp.asarray(z), alpha=0.3, beta=0.2,
                       max_iter=3, fixed_iterations=True, r_step=r_step)
  w, rt = _numpy_iterations(e, z, alpha=0.3, beta=0.2, iters=3,
                            r_step=r_step)
  np.testing.assert_allclose(res.w, w, atol=1e-9, rtol=1e-9)
  np.testing.assert_allclose(res.r.T, rt, atol=1e-9, rtol=1e-9)
  np.testing.assert_allclose(res.scores, np.linalg.norm(rt, axis=1),
                             atol=1e-9)


@pytest.mark.parametrize("kind", ["random", "clustered", "duplicated", "tall"])
@pytest.mark.parametrize("r_step", ["irls", "prox"])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_objective_never_increases(kind, r_step, scale):
  e = _embeddings(kind) * scale
  with enable_x64():
    res = S.residual_scores(e, h=5, max_iter=40, tol=0.0, r_step=r_step,
                            fixed_iterations=True)
  obj = np.asarray(res.objective)
  assert np.all(np.isfinite(obj))
  assert np.all(np.diff(obj) <= 1e-10 * np.abs(obj[:-1])), np.diff(obj).max()
  assert np.all(np.isfinite(res.objective_exact))


def test_stopping_rule_and_traces():
  e = _embeddings("random")
  with enable_x64():
    res = S.residual_scores(e, max_iter=200, tol=1e-4)
  n = int(res.n_iter)
  obj = np.asarray(res.objective)
  assert 1 <= n < 200
  assert np.all(np.isfinite(obj[:n + 1])) and np.all(np.isnan(obj[n + 1:]))
  rel = abs(obj[n] - obj[n - 1]) / abs(obj[n - 1])
  assert rel <= 1e-4
  assert np.all(np.abs(np.diff(obj[:n])) / obj[:n - 1] > 1e-4)


def test_permutation_equivariance_jit_and_nojit():
  e = _embeddings("random", seed=3).astype(np.float32)
  perm = RNG.permutation(e.shape[0])
  a = S.residual_scores(e)
  b = S.residual_scores(e[perm])
  np.testing.assert_allclose(np.asarray(b.scores), np.asarray(a.scores)[perm],
                             rtol=1e-3)
  with jax.disable_jit():
    c = S.residual_scores(e, max_iter=5)
  d = S.residual_scores(e, max_iter=5)
  np.testing.assert_allclose(c.scores, d.scores, rtol=1e-4)


def test_batch_equals_loop_and_devices(monkeypatch):
  e = np.stack([_embeddings("random", seed=s) for s in range(5)])
  e = e.astype(np.float32)
  placed = []
  shard = parallel.shard

  def spy(tree, mesh):
    out = shard(tree, mesh)
    placed.extend(len(x.sharding.device_set) for x in jax.tree.leaves(out))
    return out
  monkeypatch.setattr(parallel, "shard", spy)
  with enable_x64():
    e64 = e.astype(np.float64)
    many = S.residual_scores_batch(e64)
    loop = [S.residual_scores(x) for x in e64]
    one = S.residual_scores_batch(e64, mesh=parallel.data_mesh(
        jax.devices()[:1]))
  assert jax.device_count() == 8
  assert placed[:2] == [8, 8]   # images and their indices on 8 devices
  for i in range(5):
    np.testing.assert_allclose(many.scores[i], loop[i].scores, rtol=1e-9)
    np.testing.assert_allclose(many.scores[i], one.scores[i], rtol=1e-9)
    assert int(many.n_iter[i]) == int(loop[i].n_iter)
  ragged = S.score_images([e[0], e[1, :20], e[2]])
  np.testing.assert_allclose(ragged[1].scores,
                             S.residual_scores(e[1, :20]).scores, rtol=1e-5)


def test_gradients_fixed_iterations_match_finite_differences():
  e = _embeddings("random", n=10, d=14, seed=5)
  weights = np.linspace(1.0, 2.0, 10)

  def f(x):
    res = S.residual_scores(x, h=3, max_iter=4, fixed_iterations=True,
                            tol=0.0)
    return jnp.sum(res.scores * weights)

  with enable_x64():
    x = jnp.asarray(e)
    g = np.asarray(jax.grad(f)(x))
    assert np.all(np.isfinite(g))
    rng = np.random.default_rng(1)
    for _ in range(3):
      v = rng.normal(size=e.shape)
      h = 1e-6
      fd = (f(x + h * v) - f(x - h * v)) / (2 * h)
      np.testing.assert_allclose(np.sum(g * v), fd, rtol=1e-4)


# ----------------------------------------------------------------------------
# select() and bad input.


def _select(*, rate=None, k=None, **kwargs):
  return S.rank("residual", **kwargs).take(rate=rate, k=k)


def test_select_returns_lowest_scores():
  e = _embeddings("clustered").astype(np.float32)
  r = S.rank("residual", embeddings=e)
  keep = r.take(rate=0.3)
  scores = np.asarray(r.criterion)
  np.testing.assert_array_equal(scores, np.asarray(r.extra.scores))
  assert len(keep) == math.ceil(0.3 * 24)
  assert np.all(np.diff(scores[keep]) >= 0)
  assert scores[keep].max() <= np.delete(scores, keep).min()
  assert sorted(r.order.tolist()) == list(range(24))   # a full ranking
  assert len(r.take(k=5)) == 5
  assert len(r.take(rate=1.0)) == 24


@pytest.mark.parametrize("kwargs,match", [
    (dict(embeddings=np.full((5, 3), np.nan), k=2), "NaN/inf"),
    (dict(embeddings=np.ones((5, 3)), k=0), "k=0"),
    (dict(embeddings=np.ones((5, 3)), k=6), "k=6"),
    (dict(embeddings=np.ones((5, 3)), rate=1.5), "rate=1.5"),
    (dict(embeddings=np.ones((5, 3)), rate=0.0), "rate=0.0"),
    (dict(embeddings=np.ones((5, 3)), rate=0.5, k=2), "exactly one"),
    (dict(embeddings=np.ones((5, 3)), k=2, h=6), "h=6"),
    (dict(embeddings=np.ones((1, 3)), k=1, h=1), "n >= 2"),
    (dict(embeddings=np.ones((5, 0)), k=2), "d=0"),
    (dict(embeddings=np.ones(5), k=2), r"\(n, d\)"),
    (dict(embeddings=np.ones((5, 3)), k=2, distnace="manhattan"),
     "no option.*distnace"),
    (dict(k=2), "needs embeddings="),
])
def test_bad_input(kwargs, match):
  kwargs = {"h": 3, **kwargs}
  with pytest.raises(ValueError, match=match):
    _select(**kwargs)


@pytest.mark.parametrize("distance", ["euclidean", "manhattan", "mahalanobis"])
def test_degenerate_embeddings_finite_and_deterministic(distance):
  cases = {
      "identical": np.ones((8, 16)),
      "zero rows": np.concatenate([np.zeros((3, 16)),
                                   RNG.normal(size=(5, 16))]),
      "duplicates": np.repeat(RNG.normal(size=(4, 16)), 2, axis=0),
      "all zero": np.zeros((8, 16)),
  }
  for name, e in cases.items():
    a = S.rank("residual", embeddings=e.astype(np.float32), distance=distance,
               h=3)
    b = S.rank("residual", embeddings=e.astype(np.float32), distance=distance,
               h=3)
    assert np.all(np.isfinite(np.asarray(a.criterion))), name
    np.testing.assert_array_equal(a.take(k=4), b.take(k=4))


def test_authors_code_variant_matches_numpy_transcription():
  """The variant against a plain NumPy version of the notes' description."""
  e = _embeddings("random", n=16, d=20, seed=7)
  key = jax.random.key(3)
  with enable_x64():
    res = S.residual_scores(e, key=key, variant="authors_code", h=4)
    kw, kr = jax.random.split(key)
    w = np.asarray(jax.random.uniform(kw, (20, 4), jnp.float64))
    r = np.asarray(jax.random.uniform(kr, (4, 16), jnp.float64))
  dist = ssd.cdist(e, e)
  s = np.exp(-dist**2 / (2 * dist.mean()))
  _, v = np.linalg.eigh(s)
  z = np.flip(v, axis=0)[:, :4]
  lam, beta, eps = 0.1, 0.1, 1e-3
  dw, dr = np.eye(20), np.eye(16)
  losses = []
  for t in range(50):
    w = np.linalg.inv(e.T @ e + lam * dw + eps * np.eye(20)) @ e.T @ (r.T + z)
    rt = np.linalg.inv(np.eye(16) + beta * dr + eps * np.eye(16)) @ (e @ w - z)
    r = rt.T
    dw = np.diag(0.5 * np.linalg.norm(w, axis=1)) + eps
    dr = np.diag(0.5 * np.linalg.norm(r, axis=0)) + eps
    losses.append(np.linalg.norm(e @ w - r.T - z) ** 2
                  + lam * np.linalg.norm(w, axis=0).sum()
                  + beta * np.linalg.norm(r, axis=0).sum())
    if t >= 10 and losses[-1] - losses[-2] <= 1e-4:
      break
  assert int(res.n_iter) == len(losses)
  np.testing.assert_allclose(res.objective[1:len(losses) + 1], losses,
                             rtol=1e-8)
  # Eigenvector signs may differ between LAPACK builds; scores do not.
  np.testing.assert_allclose(res.scores, np.linalg.norm(r, axis=0),
                             rtol=1e-6, atol=1e-10)
  with pytest.raises(ValueError, match="key="):
    S.residual_scores(e, variant="authors_code")


# ----------------------------------------------------------------------------
# The selectors of source text 000.


def test_selectors_share_one_convention():
  e = RNG.normal(size=(30, 12)).astype(np.float32)
  p = RNG.random((30, 8, 8, 3)).astype(np.float32)
  for name in S.SELECTORS:
    opts = {"threshold": 4.0} if name == "greedy" else (
        {"threshold": 0.0} if name == "variance_threshold" else {})
    r = S.rank(name, jax.random.key(0), embeddings=e, patches=p, **opts)
    assert sorted(r.order.tolist()) == list(range(30)), name  # all patches
    keep = r.take(rate=0.2)
    assert len(keep) == 6 and len(set(keep.tolist())) == 6, name
    with pytest.raises(ValueError, match="no option"):
      S.rank(name, jax.random.key(0), embeddings=e, patches=p, rate=0.2,
             **opts)
  with pytest.raises(ValueError, match="unknown selector"):
    S.get("best")
  assert S.required_options("greedy") == ["threshold"]
  assert S.required_options("residual") == []


def test_rank_images_equals_rank_per_image():
  es = [RNG.normal(size=(n, 6)).astype(np.float32) for n in (12, 12, 9)]
  vs = [RNG.random(len(x)) for x in es]
  key = jax.random.key(4)
  for name in ("residual", "random", "variance", "farthest"):
    opts = {"h": 3} if name == "residual" else {}
    many = S.rank_images(name, key, embeddings=es, variances=vs, **opts)
    for i, (x, v) in enumerate(zip(es, vs)):
      one = S.rank(name, jax.random.fold_in(key, i), embeddings=x,
                   variances=v, **opts)
      np.testing.assert_array_equal(many[i].order, one.order, err_msg=name)


def test_random_selector():
  e = np.zeros((20, 3))
  a = S.rank("random", jax.random.key(1), embeddings=e).take(k=5)
  b = S.selectors.random(jax.random.key(1), n=20).take(k=5)
  c = S.rank("random", jax.random.key(2), embeddings=e).take(k=5)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  with pytest.raises(ValueError, match="needs key="):
    S.rank("random", embeddings=e)


def test_variance_selectors():
  p = RNG.random((10, 6, 6, 3)).astype(np.float32)
  p[3] = 0.5  # constant colour: variance 0
  grey = p @ np.array([0.299, 0.587, 0.114], np.float32)
  var = grey.reshape(10, -1).var(axis=1)
  r = S.rank("variance", patches=p)
  np.testing.assert_array_equal(r.take(k=4), np.argsort(-var)[:4])
  np.testing.assert_allclose(r.criterion, var, rtol=1e-5)
  thr = float(np.median(var))
  r = S.rank("variance_threshold", patches=p, threshold=thr)
  kept = r.take()
  assert set(kept.tolist()) == set(np.flatnonzero(var >= thr).tolist())
  assert 3 not in kept
  assert len(r.take(rate=1.0)) == len(kept)   # a rate never adds rejects
  with pytest.raises(ValueError, match="needs variances="):
    S.rank("variance", embeddings=np.ones((10, 2)))
  with pytest.raises(ValueError, match="needs threshold="):
    S.rank("variance_threshold", patches=p)


@pytest.mark.parametrize("metric,threshold", [("euclidean", 3.5),
                                              ("cosine", 0.3)])
def test_greedy_redundancy_filter(metric, threshold):
  e = RNG.normal(size=(40, 6)).astype(np.float32)
  r = S.rank("greedy", embeddings=e, threshold=threshold, metric=metric)
  kept = r.take()
  if metric == "euclidean":
    m = ssd.cdist(e, e)
    close = m <= threshold
  else:
    m = 1 - ssd.cdist(e, e, "cosine")
    close = m >= threshold
  assert kept[0] == 0  # input order without patches
  for i in kept:  # no two kept patches are redundant
    assert not np.any(close[i, np.setdiff1d(kept, [i])])
  dropped = np.setdiff1d(np.arange(40), kept)
  assert all(close[j, kept].any() for j in dropped)  # each has a keeper
  np.testing.assert_array_equal(np.sort(r.order[len(kept):]), dropped)
  dup = np.repeat(e[:5], 3, axis=0)
  assert len(S.rank("greedy", embeddings=dup, threshold=1e-3).take()) == 5


def test_farthest_point_order():
  e = np.concatenate([np.zeros((10, 2)), np.ones((1, 2)) * 10,
                      np.full((10, 2), -10.0)]).astype(np.float32)
  r = S.rank("farthest", embeddings=e)
  # Start at patch 0, then the farthest point (10, ties: lowest index), then
  # the farthest from both (11, first of the -10 cluster).
  assert r.take(k=3).tolist() == [0, 10, 11]
  same = S.rank("farthest", embeddings=np.ones((6, 3)))
  assert sorted(same.order.tolist()) == list(range(6))
  # With variances, the highest-variance patch comes first.
  v = np.zeros(21)
  v[15] = 1.0
  assert S.rank("farthest", embeddings=e, variances=v).order[0] == 15


def test_farthest_orders_is_farthest_per_image_vmapped():
  from iqa_jax.selection import selectors
  e = np.random.default_rng(0).normal(size=(3, 12, 5)).astype(np.float32)
  got = np.asarray(selectors.farthest_orders(e, np.zeros(3, np.int32)))
  assert got.shape == (3, 12)
  for i in range(3):
    want = S.rank("farthest", embeddings=e[i]).order
    assert got[i].tolist() == np.asarray(want).tolist()
    assert sorted(got[i].tolist()) == list(range(12))


def test_a_large_batch_on_8_cpu_devices_does_not_deadlock(tmp_path):
  """240 images of 32 patches on 8 CPU devices (each device 30 images):
  jaxlib 0.10's batched LAPACK kernels, vmapped there, deadlocked XLA:CPU's
  thread pool (it hung 6 times in 6 before the per-image map). Run in a
  subprocess so that a regression fails here instead of hanging the suite."""
  import subprocess
  import sys
  script = tmp_path / "big_batch.py"
  script.write_text(
      "import numpy as np\n"
      "from iqa_jax.selection import batch\n"
      "e = np.random.default_rng(0).normal(size=(240, 32, 512))\n"
      "r = batch.residual_scores_batch(e.astype(np.float32), h=5)\n"
      "assert r.scores.shape == (240, 32) and np.isfinite(r.scores).all()\n"
      "print('done')\n")
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu"}
  try:
    out = subprocess.run([sys.executable, str(script)], env=env,
                         capture_output=True, text=True, timeout=240)
  except subprocess.TimeoutExpired:
    pytest.fail("residual_scores_batch hung on 8 CPU devices (deadlock)")
  assert out.returncode == 0 and "done" in out.stdout, out.stderr[-2000:]
