"""The training state: an NNX model taken apart for `jit`, with its optimiser.

  state = TrainState.create(model, optax.adam(1e-3))
  model = state.model()            # the NNX module, rebuilt

`graphdef` (static) and the variable states are what `nnx.split` gives:
`params` are the trainable variables (those matching `trainable`,
`nnx.Param` by default), `rest` everything else (batch statistics, frozen
backbones); only `params` get gradients and optimiser state.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from flax import struct

__all__ = ["TrainState"]


@struct.dataclass
class TrainState:
  """graphdef (static), params, rest, opt_state, step (a scalar array)."""

  graphdef: Any = struct.field(pytree_node=False)
  params: Any
  rest: Any
  opt_state: Any
  step: jax.Array

  @classmethod
  def create(cls, model: nnx.Module, tx: optax.GradientTransformation, *,
             trainable: Any = nnx.Param) -> "TrainState":
    """A fresh state: `model`'s variables split by `trainable`, tx.init."""
    graphdef, params, rest = nnx.split(model, trainable, ...)
    return cls(graphdef, params, rest, tx.init(params),
               jnp.zeros((), jnp.int32))

  def model(self, params: Any = None) -> nnx.Module:
    """The NNX module with `params` (default: the state's), on fresh
    variable objects (so it can be changed inside any trace)."""
    return nnx.merge(self.graphdef,
                     self.params if params is None else params, self.rest,
                     copy=True)
