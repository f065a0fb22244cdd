"""The patch-quality regressor of source text 001 (Eq. 19).

  reg = Regressor(512, rngs=nnx.Rngs(0))
  q = reg(embeddings)      # (N, d) -> (N,) predicted patch scores

q_j = w2^T ReLU(W1 e_j + b1) + b2, with 512 hidden units in the paper (the
default here); distill360 uses 128, the winner of its regressor sweep. It
is trained on the squared error against the parent image's score (Eq. 20,
see `iqa_jax.regression`, which by default starts it at the ridge probe's
solution, `regression.ridge_init`). The paper gives no further settings.
"""

from __future__ import annotations

import jax
from flax import nnx

__all__ = ["Regressor"]


class Regressor(nnx.Module):
  """Linear(d -> hidden) -> ReLU -> Linear(hidden -> 1)."""

  def __init__(self, in_features: int, *, hidden: int = 512,
               rngs: nnx.Rngs):
    self.hidden = nnx.Linear(in_features, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, 1, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.out(jax.nn.relu(self.hidden(x)))[..., 0]
