"""The dynamic programme of MIC over column boundaries (SOM Algorithm 2),
with the tree reductions it runs on (internal to `iqa_jax.mic`).

For the x-sorted clumps of a block of pairs (the batch as the minor axis),
`_counts` gives the points per clump prefix and row, `_neg_cond_entropy`
the table entries sum_r f(d_r) - f(sum_r d_r) with f(k) = k log k (libmine's
recursion multiplied through by the clump counts), `_level2_rowwise` and
`_levels_table` the best mutual information I(t, l) of the first t clumps
in l columns, and `_optimize_x` the normalised maximum per grid. See
`iqa_jax.mic` for the whole procedure and benchmarks/README.md for why it
is written this way on XLA:CPU.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

def _plogp(k, total, log_total):
  """-(k / total) (log k - log total), 0 where k == 0 (libmine's terms)."""
  safe = jnp.where(k > 0, k, 1)
  return jnp.where(k > 0, -(k / total) * (jnp.log(safe) - log_total), 0.0)


def _pow2_chunks(start, stop):
  """[start, stop) cut into pieces of decreasing power-of-two lengths."""
  out = []
  while start < stop:
    h = 1 << ((stop - start).bit_length() - 1)
    out.append((start, start + h))
    start += h
  return out


def _tree0(x, op):
  """op-reduction over axis 0 (a power of two long) as a tree of halves."""
  while x.shape[0] > 1:
    x = op(x[:x.shape[0] // 2], x[x.shape[0] // 2:])
  return x[0]


def _reduce0(x, op):
  """op-reduction over axis 0 as trees of elementwise ops on halves: one
  tree per power of two in the binary expansion of the length, then their
  results combined. XLA:CPU runs a reduction over a leading axis (with the
  batch minor) about 10x slower than this; slices keep the trees fused with
  the producer of x, where padding to a power of two (a concatenation)
  would materialise it first."""
  return functools.reduce(op, [_tree0(x[lo:hi], op)
                               for lo, hi in _pow2_chunks(0, x.shape[0])])


def _sum0(x):
  return _reduce0(x, jnp.add)


def _max0(x):
  return _reduce0(x, jnp.maximum)


def _xlogx(k):
  return jnp.where(k > 0, k * jnp.log(jnp.where(k > 0, k, 1)), 0.0)


def _neg_cond_entropy(d, total):
  """sum_r d_r log d_r - n_c log n_c = -n_c H(Q | column): the term a column
  with row counts d (rows on axis 0, n_c = total points) adds to n I."""
  return _sum0(_xlogx(d)) - _xlogx(total)


# Everything below works on arrays whose LAST axis is the batch of pairs
# (B): per-position arrays are (n, B), per-pair scalars (B,). The loops over
# positions are `lax.scan`s whose bodies are elementwise over B, and every
# sort, gather and histogram is written as comparisons with one-hot sums:
# no scatter, gather or sort on the hot path, which XLA:CPU would run pair
# by pair; these vectorise over the batch instead.


def _counts(p_map, q_a, rows_max, pm, dtype):
  """c (pm, B): points in clumps <= t; cum (rows_max, pm, B): of those, the
  points in each row (the last row as c minus the others: one row fewer to
  carry through the scan)."""
  tv = jnp.arange(pm, dtype=jnp.int32)[:, None]
  rv = jnp.arange(rows_max - 1, dtype=jnp.int32)[:, None, None]

  def body(carry, inp):
    c, cum = carry
    pr, qr = inp
    m = pr[None] <= tv                                    # (pm, B)
    return (c + m.astype(jnp.int32),
            cum + (m[None] & (qr[None, None] == rv)).astype(jnp.int32)), None
  batch = p_map.shape[1]
  (c, cum), _ = jax.lax.scan(
      body, (jnp.zeros((pm, batch), jnp.int32),
             jnp.zeros((rows_max - 1, pm, batch), jnp.int32)), (p_map, q_a))
  cum = jnp.concatenate([cum, (c - _sum0(cum))[None]])
  return c.astype(dtype), cum.astype(dtype)


def _optimize_x(q_a, q, p_map, p, cols, *, n, rows_max, cols_max, pm,
                dtype):
  """SOM Algorithm 2: normalised MI (cols_max - 1, B) for 2..cols_max
  columns (-inf beyond `cols`).

  libmine's recursion multiplied through by c_t (points in the first t
  clumps), which leaves the same terms under every maximum and no logarithm
  of a ratio: with E(s, t) = -(c_t - c_s) H(Q | clumps s+1..t), the best MI
  of the first t clumps in l columns is I(t, l) = H(Q) + R_l(t) / c_t, where
  R_1(s) = E(0, s) and R_l(t) = max_s R_{l-1}(s) + E(s, t) over
  l - 1 <= s <= t (lines 5 and 13: F(s, t) = (R_1(s) + E(s, t)) / c_t, and
  (c_s / c_t)(I(s, l-1) - H(Q)) - ((c_t - c_s) / c_t) HP2Q(s, t) =
  (R_{l-1}(s) + E(s, t)) / c_t). R_l is needed for every t only below the
  last level, which is evaluated at t = p alone (c_p = n). Below, a and b
  are s - 1 and t - 1.
  """
  c, cum = _counts(p_map, q_a, rows_max, pm, dtype)
  nf = jnp.asarray(n, dtype)
  tot = cum[:, -1]                                        # (rows_max, B)
  hq = _sum0(_plogp(tot, nf, jnp.log(nf)))                # (B,)
  neg = jnp.asarray(-jnp.inf, dtype)
  a1 = jnp.arange(pm)[:, None]                            # (S, 1)
  r_1 = _neg_cond_entropy(cum, c)                         # R_1(s), (S, B)
  e_p = _neg_cond_entropy(tot[:, None] - cum, nf - c)     # E(s, p), (S, B)

  def last(r_prev, l):                                    # I(p, l)
    ok = (a1 >= l - 2) & (a1 <= p - 1)
    return hq + _max0(jnp.where(ok, r_prev + e_p, neg)) / nf

  val = last(r_1, 2)
  outs = [val]
  if cols_max > 2:
    if pm <= _ROWWISE_MAX and cols_max == 3:
      rows = [r_1, _level2_rowwise(r_1, c, cum)]
    else:
      rows = _levels_table(r_1, c, cum, cols_max - 1)
    bi = jnp.maximum(p - 1, 0)[None]
    for l in range(3, cols_max):
      at_p = jnp.take_along_axis(rows[l - 1], bi, axis=0)[0]  # R_l(p)
      val = jnp.where(p >= l, hq + at_p / nf, val)        # I(p, l) = I(p, p)
      outs.append(val)
    outs.append(jnp.where(p >= cols_max, last(rows[-1], cols_max), val))
  out = jnp.stack(outs)
  ls = jnp.arange(2, cols_max + 1).astype(dtype)[:, None]
  denom = jnp.minimum(jnp.log(ls), jnp.log(jnp.maximum(q, 1).astype(dtype)))
  scores = jnp.where(q > 1, out / jnp.where(q > 1, denom, 1.0), neg)
  scores = jnp.where(p > 1, scores, 0.0)
  return jnp.where(jnp.arange(2, cols_max + 1)[:, None] <= cols, scores, neg)


def _level2_rowwise(r_1, c, cum):
  """R_2 (pm, B), one t at a time: each row reduces over its own s <= t
  only, half the square table of `_levels_table`. R_2(1) is never read and
  left at -inf."""
  rows = [jnp.full_like(r_1[0], -jnp.inf)]
  for b in range(1, c.shape[0]):
    e = _neg_cond_entropy(cum[:, b:b + 1] - cum[:, :b + 1],
                          c[b:b + 1] - c[:b + 1])
    rows.append(_max0(r_1[:b + 1] + e))
  return jnp.stack(rows)


def _levels_table(r_1, c, cum, top):
  """[R_1, ..., R_top], each (pm, B), through the square (s, t) table of E
  (rows of R_l below t = l - 1 are never read)."""
  pm = c.shape[0]
  a = jnp.arange(pm)[:, None, None]
  b = jnp.arange(pm)[None, :, None]
  e = _neg_cond_entropy(cum[:, None, :] - cum[:, :, None],
                        c[None, :] - c[:, None])          # E(s, t), (S, T, B)
  neg = jnp.asarray(-jnp.inf, r_1.dtype)
  levels = [r_1, _max0(jnp.where(a <= b, r_1[:, None] + e, neg))]
  for l in range(3, top + 1):
    ok = (a >= l - 2) & (a <= b) & (b >= l - 1)
    levels.append(jnp.max(jnp.where(ok, levels[-1][:, None] + e, neg),
                          axis=0))
  return levels


# `_level2_rowwise` serves three columns at most (only R_2 is needed for
# every t) and up to this many clumps: SMIC's n = 49 (30 clumps). It
# compiles to a kernel per row, and XLA:CPU maps each kernel's code
# separately: a process running many such programs (the parity tests)
# exhausted the kernel's 65,530 memory mappings when it also served larger
# tables.
_ROWWISE_MAX = 32
