"""The maximal information coefficient (MIC), as libmine 1.2.6 computes it.

  m = mic(x, y, alpha=0.5, c=10)        # x, y: (..., n) -> (...,)

Reshef et al., Science 2011 (MIC and the ApproxMaxMI heuristic of their
supplement, "SOM"); the exact procedure is that of libmine, the C core of
`minepy` (`mine_compute_score` then `mine_mic`), which SMIC's official code
calls. Every step is written here as fixed-size array code, so one jitted
call scores a whole batch of pairs of the same length:

* B = max(n^alpha, 4) for 0 < alpha <= 1 (B = min(alpha, n) for alpha >= 4);
  grids of i + 2 rows, i < max(floor(B / 2), 2) - 1, with at most
  m_i + 1 = floor(B / (i + 2)) columns.
* Rows: the equipartition of the sorted y values into i + 2 rows (SOM
  Algorithm 3; points with equal y stay in one row; a row closes when adding
  the next tie group would overshoot the running target size more than
  stopping short, the target being recomputed from what is left). Compared
  exactly in integers, as the C's doubles compare in every case that arises.
* Columns: clumps of the x-sorted points (consecutive points of one row;
  points with equal x but different rows form a clump of their own), merged
  into k_hat = max(floor(c (m_i + 1)), 1) superclumps by the same
  equipartition when there are more.
* The dynamic programme over column boundaries (SOM Algorithm 2): the best
  mutual information I(t, l) of the first t clumps cut into l columns,
  normalised by log min(l, rows).
* Both orientations (rows from y and from x); `est="mic_approx"` takes the
  maximum over every grid, `est="mic_e"` (Reshef et al. 2015's MIC_e, grids
  with columns <= rows per orientation) combines them as libmine does.

A grid with a single row (a constant input) gives 0/0 in libmine, which its
maximum ignores; MIC is never below 0.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

__all__ = ["mic", "grid_plan"]


def grid_plan(n: int, alpha: float, c: float):
  """libmine's grid sizes: [(rows, max columns, k_hat)] for n points."""
  if 0.0 < alpha <= 1.0:
    b = max(math.pow(n, alpha), 4.0)
  elif alpha >= 4.0:
    b = min(alpha, float(n))
  else:
    raise ValueError(f"alpha must lie in (0, 1] or be >= 4, got {alpha}.")
  if c <= 0:
    raise ValueError(f"c must be > 0, got {c}.")
  n_rows = max(int(math.floor(b / 2.0)), 2) - 1
  plan = []
  for i in range(n_rows):
    m = int(math.floor(b / (i + 2))) - 1
    plan.append((i + 2, m + 1, max(int(c * (m + 1)), 1)))
  return plan


def _tie_groups(keys):
  """Per position: is it the first of its run of equal keys, the run's id,
  and the run's length (keys sorted)."""
  n = keys.shape[0]
  start = jnp.concatenate([jnp.ones((1,), bool), keys[1:] != keys[:-1]])
  gid = jnp.cumsum(start) - 1
  size = jax.ops.segment_sum(jnp.ones((n,), jnp.int32), gid, num_segments=n)
  return start, gid, size


def _equipartition(keys, rows: int):
  """SOM Algorithm 3 on sorted keys: (labels (n,), number of rows used)."""
  n = keys.shape[0]
  start, gid, size = _tie_groups(keys)
  s = size[gid]

  def step(carry, inp):
    h, curr, num, den = carry     # the target row size is num / den
    first, s_i, i = inp
    close = first & (h != 0) & (
        jnp.abs(den * (h + s_i) - num) >= jnp.abs(den * h - num))
    curr = curr + close.astype(jnp.int32)
    h = jnp.where(close, 0, h)
    num = jnp.where(close, n - i, num)
    den = jnp.where(close, rows - curr, den)
    h = jnp.where(first, h + s_i, h)
    return (h, curr, num, den), curr

  init = (jnp.int32(0), jnp.int32(0), jnp.int32(n), jnp.int32(rows))
  (_, curr, _, _), labels = jax.lax.scan(
      step, init, (start, s.astype(jnp.int32), jnp.arange(n, dtype=jnp.int32)))
  return labels, curr + 1


def _clumps(xs, q_by_x):
  """GetClumpsPartition: clump labels (n,) of x-sorted points and their
  count."""
  n = xs.shape[0]
  start, gid, size = _tie_groups(xs)
  qmax = jax.ops.segment_max(q_by_x, gid, num_segments=n)
  qmin = jax.ops.segment_min(q_by_x, gid, num_segments=n)
  mixed = (size > 1) & (qmax != qmin)
  neg = -jnp.cumsum(mixed.astype(jnp.int32))          # -1, -2, ... per group
  tilde = jnp.where(mixed[gid], neg[gid], q_by_x)
  change = jnp.concatenate([jnp.zeros((1,), jnp.int32),
                            (tilde[1:] != tilde[:-1]).astype(jnp.int32)])
  p_map = jnp.cumsum(change)
  return p_map, p_map[-1] + 1


def _plogp(k, total, log_total):
  """-(k / total) (log k - log total), 0 where k == 0 (libmine's terms)."""
  safe = jnp.where(k > 0, k, 1)
  return jnp.where(k > 0, -(k / total) * (jnp.log(safe) - log_total), 0.0)


def _optimize_x(q_map, q, p_map, p, cols, *, n, rows_max, cols_max, pm,
                dtype):
  """SOM Algorithm 2: normalised MI (cols_max - 1,) for 2..cols_max columns
  (-inf beyond `cols`)."""
  c = jnp.cumsum(jnp.zeros((pm,), jnp.int32).at[p_map].add(1)).astype(dtype)
  hist = jnp.zeros((rows_max, pm), jnp.int32).at[q_map, p_map].add(1)
  cum = jnp.cumsum(hist, axis=1).astype(dtype)          # (rows_max, pm)
  nf = jnp.asarray(n, dtype)
  hq = jnp.sum(_plogp(cum[:, -1], nf, jnp.log(nf)))
  a = jnp.arange(pm)[:, None]          # s - 1
  b = jnp.arange(pm)[None, :]          # t - 1
  cs, ct = c[:, None], c[None, :]
  ct_safe = jnp.where(ct > 0, ct, 1.0)
  log_ct = jnp.log(ct_safe)
  # The row sums of every pairwise entropy reduce to one (rows, pm, pm)
  # array: with D_r = cum_r(t) - cum_r(s), sum_r -(D_r / T) log(D_r / T) =
  # -L / T + (sum_r D_r / T) log T, L = sum_r D_r log D_r.
  def xlogx(k):
    return jnp.where(k > 0, k * jnp.log(jnp.where(k > 0, k, 1)), 0.0)
  d = cum[:, None, :] - cum[:, :, None]                 # (rows, s, t)
  l_st = jnp.sum(xlogx(d), axis=0)
  a_s = jnp.sum(xlogx(cum), axis=0)[:, None]            # sum_r cum log cum
  dt = ct - cs
  # Level 2: F(s, t) = hp3(s, t) - hp3q(s, t) (SOM Algorithm 2, line 5).
  hp3 = jnp.where(a == b, 0.0, _plogp(cs, ct, log_ct)
                  + _plogp(dt, ct, log_ct))
  hp3q = (-a_s + log_ct * cs - l_st + log_ct * dt) / ct_safe
  valid_t = b < p
  neg = jnp.asarray(-jnp.inf, dtype)
  level = hq + jnp.max(jnp.where((a <= b) & valid_t, hp3 - hp3q, neg),
                       axis=0)                     # I(t, 2) at index t - 1
  # HP2Q(s, t) = H(Q | clumps s+1..t) for the later levels (line 13).
  dt_safe = jnp.where(dt > 0, dt, 1.0)
  hp2q = jnp.where(a >= b, 0.0, -l_st / dt_safe + jnp.log(dt_safe))
  w_s, w_t = cs / ct_safe, (ct - cs) / ct_safe
  out = jnp.full((cols_max - 1,), neg).at[0].set(level[p - 1])

  def body(l, carry):
    level, val, out = carry
    f = w_s * (level[:, None] - hq) - w_t * hp2q
    ok = (a >= l - 2) & (a <= b) & (b >= l - 1) & valid_t
    nxt = hq + jnp.max(jnp.where(ok, f, neg), axis=0)
    level = jnp.where(b[0] >= l - 1, nxt, level)
    val = jnp.where(p >= l, level[p - 1], val)    # I(p, l) = I(p, p), l > p
    out = out.at[l - 2].set(jnp.where(l <= cols, val, neg))
    return level, val, out

  _, _, out = jax.lax.fori_loop(3, cols_max + 1, body,
                                (level, level[p - 1], out))
  ls = jnp.arange(2, cols_max + 1).astype(dtype)
  denom = jnp.minimum(jnp.log(ls), jnp.log(jnp.maximum(q, 1).astype(dtype)))
  scores = jnp.where(q > 1, out / jnp.where(q > 1, denom, 1.0), neg)
  scores = jnp.where(p > 1, scores, 0.0)
  return jnp.where(jnp.arange(2, cols_max + 1) <= cols, scores, neg)


def _orientation(a, b, plan, dtype):
  """(rows count, cols_max - 1) normalised MI of the grids whose rows
  equipartition b and whose columns clump a.

  Short plans (n <= ~100 at alpha 0.6; SMIC's n = 16 and 49) are unrolled,
  each grid at its own array sizes; long ones go through one traced body
  (`lax.map` over the plan, arrays padded to the largest grid), which keeps
  compile time flat in n.
  """
  n = a.shape[0]
  cols_max = max(cl for _, cl, _ in plan)
  ia = jnp.argsort(a, stable=True)
  ib = jnp.argsort(b, stable=True)
  a_sorted, b_sorted = a[ia], b[ib]

  def one(rows, cols, k_hat, rows_max, pm):
    q_by_b, q = _equipartition(b_sorted, rows)
    q_by_a = jnp.zeros((n,), jnp.int32).at[ib].set(q_by_b)[ia]
    p_map, p = _clumps(a_sorted, q_by_a)
    sup, p_sup = _equipartition(p_map, k_hat)
    over = p > k_hat
    p_map = jnp.minimum(jnp.where(over, sup, p_map), pm - 1)  # < k_hat now
    p = jnp.where(over, p_sup, p)
    return _optimize_x(q_by_a, q, p_map, p, cols, n=n, rows_max=rows_max,
                       cols_max=cols_max, pm=pm, dtype=dtype)

  if len(plan) <= _UNROLL:
    return jnp.stack([one(r, cl, k, r, min(n, k)) for r, cl, k in plan])
  rows_max = max(r for r, _, _ in plan)
  pm = min(n, max(k for _, _, k in plan))
  return jax.lax.map(lambda t: one(t[0], t[1], t[2], rows_max, pm),
                     jnp.asarray(plan, jnp.int32))


_UNROLL = 2


def _mic_one(x, y, *, plan, est):
  if est == "mic_e":
    plan = tuple((r, min(r, cl), k) for r, cl, k in plan)
  xy = _orientation(x, y, plan, x.dtype)        # rows from y
  yx = _orientation(y, x, plan, x.dtype)        # rows from x
  i = jnp.arange(len(plan))[:, None]
  j = jnp.arange(xy.shape[1])[None, :]
  if est == "mic_e":
    # libmine keeps x-vs-y below the diagonal and y-vs-x on and above it.
    xy = jnp.where(j < i, xy, -jnp.inf)
  cand = jnp.concatenate([xy, yx], axis=1)
  cand = jnp.where(jnp.isnan(cand), -jnp.inf, cand)
  return jnp.maximum(jnp.asarray(0.0, x.dtype), jnp.max(cand))


@functools.partial(jax.jit, static_argnames=("plan", "est"))
def _mic_batch(x, y, *, plan, est):
  return jax.vmap(functools.partial(_mic_one, plan=plan, est=est))(x, y)


def mic(x, y, *, alpha: float = 0.6, c: float = 15.0,
        est: str = "mic_approx") -> jax.Array:
  """MIC of each pair of rows of x, y (..., n); libmine's defaults.

  float64 inputs give libmine's values to rounding (enable x64); float32
  inputs run in float32. n >= 4 is needed for a 2 x 2 grid.
  """
  if est not in ("mic_approx", "mic_e"):
    raise ValueError(f"est must be 'mic_approx' or 'mic_e', got {est!r}.")
  x, y = jnp.asarray(x), jnp.asarray(y)
  if x.shape != y.shape or x.ndim < 1:
    raise ValueError(f"x and y must have the same shape (..., n), got "
                     f"{x.shape} and {y.shape}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  y = y.astype(x.dtype)
  n = x.shape[-1]
  if n < 4:
    raise ValueError(f"MIC needs at least 4 points per pair, got {n}.")
  plan = tuple(grid_plan(n, alpha, c))
  lead = x.shape[:-1]
  out = _mic_batch(x.reshape(-1, n), y.reshape(-1, n), plan=plan, est=est)
  return out.reshape(lead)
