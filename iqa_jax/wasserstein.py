"""The 1-D Wasserstein loss of batched empirical distributions, as POT's
`ot.lp.wasserstein_1d` computes it.

  w = wasserstein_1d(u_values, v_values, u_weights, v_weights, p=2)
  w = wasserstein_1d_grid(u_weights, v_weights)   # support 0, 1, ..., k - 1

Columns are distributions: values (n, ...) and (m, ...), weights of the same
shapes. The loss is the integral over q of |F_u^-1(q) - F_v^-1(q)|^p between
consecutive cumulative weights (W_p^p, not its p-th root), with POT's
conventions, which DeepWSD relies on:

* the weights are not normalised: when the totals differ, the integral runs
  to the larger total and the quantile function of the lighter distribution
  stays at its last value;
* F^-1(q) is the value at the first cumulative weight >= q (a left
  `searchsorted`), clipped to the last index.

Searches are written as compare-and-count over the n cumulative weights, so
one call handles any number of columns with no loop.

`wasserstein_1d_grid` is the same loss, p = 2, for two distributions on the
common support 0, 1, ..., k - 1 (DeepWSD's case), without sorting. With
cumulative weights U_j, V_j, the clipped quantile functions are
a(q) = sum_{j < k-1} [q > U_j] and b(q) likewise, so a - b = sum_j s_j 1_{I_j}
with I_j the interval between U_j and V_j and s_j = sign(V_j - U_j), and

  W_2^2 = integral (a - b)^2 dq = sum_{j, l} s_j s_l |I_j intersect I_l|,

O(k^2) elementwise work per column (k = 16: 225 overlaps) that vectorises
over any number of columns; the sort-based form sorts 2k values per column
first. Equal to POT to float rounding (tests/test_deep_fr.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["wasserstein_1d", "wasserstein_1d_grid"]


def _quantiles(qs, cum, values):
  """values at the first index with cum >= q, per column; (k, ...)."""
  idx = jnp.sum(cum[None] < qs[:, None], axis=1)      # left searchsorted
  idx = jnp.minimum(idx, cum.shape[0] - 1)
  return jnp.take_along_axis(values, idx, axis=0)


def wasserstein_1d(u_values: jax.Array, v_values: jax.Array,
                   u_weights: jax.Array | None = None,
                   v_weights: jax.Array | None = None, *, p: float = 1.0,
                   require_sort: bool = True) -> jax.Array:
  """(...) W_p^p between the columns of (n, ...) and (m, ...) samples.

  Args:
    u_values, v_values: sample locations, (n, ...) and (m, ...).
    u_weights, v_weights: their weights (default uniform 1 / n, 1 / m).
    p: the order (>= 1).
    require_sort: sort the locations (False: they are sorted already).
  """
  if p < 1:
    raise ValueError(f"p must be >= 1, got {p}.")
  n, m = u_values.shape[0], v_values.shape[0]
  dtype = jnp.result_type(u_values, v_values, *(
      w for w in (u_weights, v_weights) if w is not None), jnp.float32)
  if u_weights is None:
    u_weights = jnp.full(u_values.shape, 1.0 / n, dtype)
  if v_weights is None:
    v_weights = jnp.full(v_values.shape, 1.0 / m, dtype)
  if require_sort:
    iu = jnp.argsort(u_values, axis=0, stable=True)
    iv = jnp.argsort(v_values, axis=0, stable=True)
    u_values = jnp.take_along_axis(u_values, iu, 0)
    v_values = jnp.take_along_axis(v_values, iv, 0)
    u_weights = jnp.take_along_axis(u_weights, iu, 0)
    v_weights = jnp.take_along_axis(v_weights, iv, 0)
  cu = jnp.cumsum(u_weights, axis=0)
  cv = jnp.cumsum(v_weights, axis=0)
  qs = jnp.sort(jnp.concatenate([cu, cv], axis=0), axis=0)
  diff = jnp.abs(_quantiles(qs, cu, u_values) -
                 _quantiles(qs, cv, v_values)).astype(dtype)
  delta = jnp.diff(qs, axis=0, prepend=jnp.zeros_like(qs[:1]))
  return jnp.sum(delta * (diff if p == 1 else diff ** p), axis=0)


def wasserstein_1d_grid(u_weights: jax.Array, v_weights: jax.Array, *,
                        axis: int = 0) -> jax.Array:
  """W_2^2 (POT's `wasserstein_1d(p=2)`, unnormalised weights) of
  non-negative weights on the support 0, 1, ..., k - 1 along `axis` (every
  other index a column; module docstring). Returns the weights' shape
  without `axis`."""
  axis = axis % u_weights.ndim
  k = u_weights.shape[axis]
  hp = jax.lax.Precision.HIGHEST

  def cumsum(w):
    # A triangular matmul: XLA:CPU's reductions over a major axis are an
    # order of magnitude slower. Rows 0 ... k - 2 (the last is not needed).
    tri = jnp.tril(jnp.ones((k - 1, k), w.dtype))
    return jnp.moveaxis(jnp.tensordot(tri, w, axes=((1,), (axis,)),
                                      precision=hp), 0, axis)
  cu, cv = cumsum(u_weights), cumsum(v_weights)
  # Both cumulative sums ascend, so the interval ends lo_j, hi_j ascend in
  # j too, and for j < l the overlap of I_j and I_l is max(0, hi_j - lo_l).
  lo, hi = jnp.minimum(cu, cv), jnp.maximum(cu, cv)
  sign = jnp.sign(cv - cu)
  m = k - 1
  if m <= 32:
    # Unrolled over the l > j triangle as elementwise terms: XLA fuses them
    # into one pass over the columns.
    lo_, hi_, sign_ = ([jnp.take(x, j, axis=axis) for j in range(m)]
                       for x in (lo, hi, sign))
    total = 0.0
    for j in range(m):
      acc = 0.0
      for l in range(j + 1, m):
        acc = acc + sign_[l] * jnp.maximum(hi_[j] - lo_[l], 0.0)
      total = total + (hi_[j] - lo_[j]) + 2.0 * sign_[j] * acc
    return total
  lo, hi, sign = (jnp.moveaxis(x, axis, 0) for x in (lo, hi, sign))
  later = jnp.arange(m).reshape((m,) + (1,) * (lo.ndim - 1))
  ones = jnp.ones((m,), lo.dtype)

  def step(j, acc):
    over = jnp.where(later > j, jnp.maximum(hi[j] - lo, 0.0), 0.0)
    return acc + 2.0 * sign[j] * jnp.tensordot(ones, sign * over, axes=1,
                                               precision=hp)
  total = jnp.tensordot(ones, hi - lo, axes=1, precision=hp)
  return jax.lax.fori_loop(0, m - 1, step, total)
