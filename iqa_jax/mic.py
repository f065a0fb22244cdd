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

Layout: the pairs are processed in blocks (up to 8,192 pairs; 2,048 at
n = 49 in float32) with the batch as the minor axis, so every step is elementwise over
the block (see the note above `_ranks`); both orientations run side by side
on that axis. benchmarks/mic.py measures the speed against libmine.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from iqa_jax.mic_dp import _max0, _optimize_x, _sum0

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


# The largest n whose packed counts (n * below + ...) fit in int32.
_PACK_MAX_N = 46340


def _ranks(v):
  """(stable ranks, values strictly below), each (n, B) int32, of each
  column of v (n, B): the stable rank is each value's position in an
  ascending stable argsort.

  One comparison scan; up to _PACK_MAX_N points both counts share one
  accumulator, n * below + equal values earlier."""
  n = v.shape[0]
  idx = jnp.arange(n, dtype=jnp.int32)[:, None]
  js = jnp.arange(n, dtype=jnp.int32)
  if n <= _PACK_MAX_N:
    def body(acc, inp):
      vj, j = inp
      tie = ((idx > j) & (vj[None] == v)).astype(jnp.int32)
      return acc + jnp.where(vj[None] < v, n, tie), None
    acc, _ = jax.lax.scan(body, jnp.zeros(v.shape, jnp.int32), (v, js))
    below = acc // n
    return below + (acc - below * n), below

  def body2(carry, inp):
    r, below = carry
    vj, j = inp
    lt = vj[None] < v
    return (r + jnp.where(idx > j, vj[None] <= v, lt).astype(jnp.int32),
            below + lt.astype(jnp.int32)), None
  zero = jnp.zeros(v.shape, jnp.int32)
  (r, below), _ = jax.lax.scan(body2, (zero, zero), (v, js))
  return r, below


def _push(rank, *vals):
  """out[r] = val[i] where rank[i] == r (columnwise): values in rank order."""
  n = rank.shape[0]
  rr = jnp.arange(n, dtype=jnp.int32)[:, None]

  def body(outs, inp):
    hit = inp[0][None] == rr
    return tuple(o + jnp.where(hit, v[None], 0)
                 for o, v in zip(outs, inp[1:])), None
  outs, _ = jax.lax.scan(body, tuple(jnp.zeros_like(v) for v in vals),
                         (rank, *vals))
  return outs


def _starts(sorted_keys):
  """(n, B) bool: the first position of each run of equal sorted keys."""
  return jnp.concatenate([jnp.ones_like(sorted_keys[:1], bool),
                          sorted_keys[1:] != sorted_keys[:-1]])


def _run_lengths(first):
  """(n, B) int32: positions from r to the end of its run (the run's size
  at its first position)."""
  nxt = jnp.concatenate([first[1:], jnp.ones_like(first[:1])])

  def body(carry, f_next):
    length = 1 + jnp.where(f_next, 0, carry)
    return length, length
  _, out = jax.lax.scan(body, jnp.zeros(first.shape[1:], jnp.int32), nxt,
                        reverse=True)
  return out


def _equipartition(first, size, rows, *, starts=None):
  """SOM Algorithm 3 over sorted positions: (labels (n, B), rows used (B,)),
  or with `starts` = R - 1, (the first position (R - 1, B) of rows 1..R-1,
  n for a row not opened; rows used) instead of the labels.

  first: the first position of each tie group; size: its size there. A row
  closes when adding the next group would overshoot the running target
  (num / den, recomputed from what is left) more than stopping short;
  compared exactly in integers.
  """
  n, batch = first.shape
  rows = jnp.broadcast_to(jnp.asarray(rows, jnp.int32), (batch,))
  jv = jnp.arange(1, (starts or 0) + 1, dtype=jnp.int32)[:, None]

  def step(carry, inp):
    h, curr, num, den, start = carry
    f, s, i = inp
    close = f & (h != 0) & (
        jnp.abs(den * (h + s) - num) >= jnp.abs(den * h - num))
    curr = curr + close.astype(jnp.int32)
    h = jnp.where(close, 0, h)
    num = jnp.where(close, n - i, num)
    den = jnp.where(close, rows - curr, den)
    h = jnp.where(f, h + s, h)
    if starts is not None:                # row curr opens at i
      start = jnp.where(close & (curr == jv), i, start)
    return (h, curr, num, den, start), (curr if starts is None else None)

  zero = jnp.zeros((batch,), jnp.int32)
  start = None if starts is None else jnp.full((starts, batch), n, jnp.int32)
  init = (zero, zero, jnp.full((batch,), n, jnp.int32), rows, start)
  (_, curr, _, _, start), labels = jax.lax.scan(
      step, init, (first, size, jnp.arange(n, dtype=jnp.int32)))
  return (labels if starts is None else start), curr + 1


def _clumps(first_a, q_a):
  """GetClumpsPartition on x-sorted positions: (clump index (n, B), clumps
  (B,)). Consecutive points of one row form a clump; a tie group of x
  holding several rows is a clump of its own.

  Two scans: backwards, whether a row change follows within the tie group;
  forwards, whether one came before, and the running clump index (a scan,
  not `cumsum`, which XLA:CPU lowers to a reduce-window with transposes
  costing about 5 ms per call at n = 49)."""
  nxt_f = jnp.concatenate([first_a[1:], jnp.ones_like(first_a[:1])])
  nxt_q = jnp.concatenate([q_a[1:], q_a[-1:]])

  def bwd(carry, inp):                    # a row change later in the group
    f_next, q, q_next = inp
    m = ~f_next & ((q_next != q) | carry)
    return m, m

  zero = jnp.zeros(first_a.shape[1:], bool)
  _, after = jax.lax.scan(bwd, zero, (nxt_f, q_a, nxt_q), reverse=True)

  def fwd(carry, inp):
    before, mixed_prev, q_prev, count = carry
    f, q, aft = inp
    before = (~f & ((q != q_prev) | before))   # a row change earlier
    mixed = before | aft
    count = count + (f & (mixed | mixed_prev | (q != q_prev))).astype(
        jnp.int32)
    return (before, mixed, q, count), count

  init = (zero, zero, jnp.full_like(q_a[0], -1),
          jnp.full_like(q_a[0], -1))             # position 0 opens clump 0
  (*_, count), p_map = jax.lax.scan(fwd, init, (first_a, q_a, after))
  return p_map, count + 1




class _Sorted(NamedTuple):
  """One variable's order: its stable ranks (n, B), and in rank order the
  first position of each tie group and the group's size there."""
  rank: jax.Array
  first: jax.Array
  size: jax.Array


def _order(v, other):
  """v's order, and at each position of it the rank of `other` there.

  A position starts a tie group where its stable rank equals the count of
  values below it; the count is pushed into sorted order with the other
  rank (packed into one array up to _PACK_MAX_N points)."""
  n = v.shape[0]
  rank, below = _ranks(v)
  if n <= _PACK_MAX_N:
    (packed,) = _push(rank, below * n + other(rank))
    below_s = packed // n
    other_of_v = packed - below_s * n
  else:
    below_s, other_of_v = _push(rank, below, other(rank))
  first = below_s == jnp.arange(n, dtype=jnp.int32)[:, None]
  return _Sorted(rank, first, _run_lengths(first)), other_of_v


def _orientation(a: _Sorted, b_of_a, swap, plan, n, dtype):
  """(grids, cols_max - 1, B) normalised MI of the grids whose columns clump
  a and whose rows equipartition the variable b beside it on the batch
  axis: swap(v) moves each column to its partner's place, and position r
  of the a-order holds the point of b-rank b_of_a[r].

  Short plans (SMIC's n = 16 and 49) are unrolled, each grid at its own
  array sizes; long ones go through one traced body (`lax.map` over the
  plan, arrays padded to the largest grid), keeping compile time flat in n.
  """
  cols_max = max(cl for _, cl, _ in plan)

  def one(rows, cols, k_hat, rows_max, pm, width):
    # The row of each a-sorted point, q_a[r] = q_b[b_of_a[r]]: the rows
    # nondecrease along b, so count the rows starting at or before
    # b-position b_of_a[r] (rows - 1 comparisons, no gather).
    # (b's equipartition is a's moved over: swapped after, not before.)
    start, q = map(swap, _equipartition(a.first, a.size, rows,
                                        starts=rows_max - 1))
    q_a = _sum0((b_of_a[None] >= start[:, None]).astype(jnp.int32))
    p_map, p = _clumps(a.first, q_a)
    if not isinstance(k_hat, int) or k_hat < n:  # else never more than k_hat
      clump_first = _starts(p_map)
      sup, p_sup = _equipartition(clump_first, _run_lengths(clump_first),
                                  k_hat)
      over = p > k_hat
      p_map = jnp.where(over, sup, p_map)
      p = jnp.where(over, p_sup, p)
    p_map = jnp.minimum(p_map, pm - 1)
    out = _optimize_x(q_a, q, p_map, p, cols, n=n, rows_max=rows_max,
                      cols_max=width, pm=pm, dtype=dtype)
    return jnp.pad(out, ((0, cols_max - width), (0, 0)),
                   constant_values=-jnp.inf)

  if len(plan) <= _UNROLL:  # each grid at its own sizes
    return jnp.stack([one(r, cl, k, r, min(n, k), cl) for r, cl, k in plan])
  rows_max = max(r for r, _, _ in plan)
  pm = min(n, max(k for _, _, k in plan))
  return jax.lax.map(lambda t: one(t[0], t[1], t[2], rows_max, pm, cols_max),
                     jnp.asarray(plan, jnp.int32))


_UNROLL = 2


def _mic_block(v, *, plan, est):
  """MIC (B,) of the columns of x, y (n, B), given side by side as v
  (n, 2B): both variables, and then both orientations, run on one batch
  axis twice as wide."""
  n, batch = v.shape[0], v.shape[1] // 2
  if est == "mic_e":
    plan = tuple((r, min(r, cl), k) for r, cl, k in plan)
  swap = lambda u: jnp.concatenate([u[..., batch:], u[..., :batch]], -1)
  a, b_of_a = _order(v, swap)
  out = _orientation(a, b_of_a, swap, plan, n, v.dtype)
  xy, yx = out[..., :batch], out[..., batch:]    # rows from y, from x
  i = jnp.arange(len(plan))[:, None, None]
  j = jnp.arange(xy.shape[1])[None, :, None]
  if est == "mic_e":
    # libmine keeps x-vs-y below the diagonal and y-vs-x on and above it.
    xy = jnp.where(j < i, xy, -jnp.inf)
  cand = jnp.concatenate([xy, yx], axis=1).reshape(-1, batch)
  cand = jnp.where(jnp.isnan(cand), -jnp.inf, cand)
  return jnp.maximum(jnp.asarray(0.0, v.dtype), _max0(cand))


# Pairs per block, and a bound on the bytes of the largest per-block arrays
# (pm * max(pm, n) * block values, both orientations). Blocks of a few
# thousand pairs amortise XLA:CPU's per-operation costs. Larger ones cost
# more than they save: the temporary buffer of one call is allocated afresh
# and, once above glibc's 32 MB mmap threshold, page-faulted in on every
# call (16,000 faults per 8,192-pair call at n = 49: 102k pairs/s against
# 137k in 2,048-pair calls).
_BLOCK_PAIRS = 8192
_BLOCK_BYTES = 1 << 24


def _block_size(count, n, plan, itemsize=4):
  """Pairs per block: at most the bound above rounded down to a power of
  two, split evenly over the blocks `count` needs."""
  pm = min(n, max(k for _, _, k in plan))
  cap = _BLOCK_BYTES // (pm * max(pm, n) * itemsize)
  cap = min(_BLOCK_PAIRS, max(1, cap))
  cap = 1 << (cap.bit_length() - 1)
  blocks = -(-count // cap)
  return max(1, -(-count // blocks))


# Under a trace, blocks written out one after another in the graph up to
# this many; more go through `lax.map`, whose loop body XLA:CPU runs on one
# thread (half the speed on 2 cores) but compiles once. Outside a trace,
# `mic` calls one compiled block at a time.
_UNROLL_BLOCKS = 4


@functools.partial(jax.jit, static_argnames=("plan", "est"))
def _mic_batch(x, y, *, plan, est):
  """(N,) MIC of the rows of x, y (N, n), in blocks along N."""
  count, n = x.shape
  block = _block_size(count, n, plan, x.dtype.itemsize)
  pad = -count % block
  blocks = lambda u: jnp.pad(u, ((0, pad), (0, 0))).reshape(-1, block, n)
  v = jnp.concatenate([blocks(x), blocks(y)], axis=1).transpose(0, 2, 1)
  fn = functools.partial(_mic_block, plan=plan, est=est)
  if v.shape[0] <= _UNROLL_BLOCKS:
    out = jnp.stack([fn(v[i]) for i in range(v.shape[0])])
  else:
    out = jax.lax.map(fn, v)
  return out.reshape(-1)[:count]


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
  x, y = x.reshape(-1, n), y.reshape(-1, n)
  step = _block_size(x.shape[0], n, plan, x.dtype.itemsize)
  if isinstance(x, jax.core.Tracer) or x.shape[0] <= step:
    out = _mic_batch(x, y, plan=plan, est=est)
  else:  # outside jit: equal-size calls of one compiled function
    pad = -x.shape[0] % step
    xp, yp = jnp.pad(x, ((0, pad), (0, 0))), jnp.pad(y, ((0, pad), (0, 0)))
    out = jnp.concatenate([
        _mic_batch(xp[i:i + step], yp[i:i + step], plan=plan, est=est)
        for i in range(0, xp.shape[0], step)])[:x.shape[0]]
  return out.reshape(lead)
