"""Losses of the trained IQA models.

  loss = plcc_loss(pred, mos)                 # LoDa's (source text 002)
  loss = plcc_loss(pred, mos, weight=w)       # padded rows (w = 0) ignored
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["plcc_loss"]


def plcc_loss(pred: jax.Array, target: jax.Array, *,
              weight: jax.Array | None = None) -> jax.Array:
  """() LoDa's PLCC loss (authors' `src/utils/loss.py`): with p and y the
  batch-standardised predictions and targets (mean and biased standard
  deviation, + 1e-8), rho = mean(p y), the loss is
  (mean((p - y)^2) / 4 + mean((rho p - y)^2) / 4) / 2. Targets carry no
  gradient. `weight` (N,) of 0 /
  1 leaves rows out of every mean (the shared loop pads a short last
  batch)."""
  pred = pred.astype(jnp.float32)
  target = jax.lax.stop_gradient(target.astype(jnp.float32))
  w = jnp.ones_like(pred) if weight is None else weight.astype(jnp.float32)
  total = jnp.maximum(w.sum(), 1.0)

  def standardise(v):
    m = (w * v).sum() / total
    s = jnp.sqrt((w * (v - m) ** 2).sum() / total)
    return (v - m) / (s + 1e-8)
  p, y = standardise(pred), standardise(target)
  loss0 = (w * (p - y) ** 2).sum() / total / 4
  rho = (w * p * y).sum() / total
  loss1 = (w * (rho * p - y) ** 2).sum() / total / 4
  return (loss0 + loss1) / 2
