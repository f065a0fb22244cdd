"""One optimisation step, jitted once per (loss, optimiser, mesh).

  step = compiled_step(loss_fn, tx, mesh)
  state, loss = step(state, batch)   # state replicated, batch sharded

`loss_fn(model, batch) -> scalar` is any differentiable loss of an NNX model
and a batch (a dict of arrays with leading batch axis; the loop adds
`batch["weight"]`, 1 for real rows and 0 for the padding of a short last
batch, which a loss must honour). Variables the forward pass changes
(batch statistics) are carried into the new state. Under `compiled_step`
the state is replicated over the mesh and the batch split over "data"; the
compiler inserts the gradient all-reduce, so every device count gives the
same update up to summation order. The incoming state is donated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from iqa_jax.training.state import TrainState

__all__ = ["train_step", "compiled_step", "weighted_mean"]


def weighted_mean(values: jax.Array, weight: jax.Array) -> jax.Array:
  """sum(w v) / max(sum(w), 1): a batch mean that ignores padded rows."""
  return (weight * values).sum() / jax.numpy.maximum(weight.sum(), 1.0)


def train_step(state: TrainState, batch: dict, *, loss_fn: Callable,
               tx: optax.GradientTransformation):
  """(new state, loss ()): one gradient step of `loss_fn` on `batch`, a
  dict of (b, ...) arrays with batch["weight"] (b,)."""
  def objective(params):
    model = state.model(params)
    loss = loss_fn(model, batch)
    _, _, rest = nnx.split(model, _trainable(state), ...)
    return loss, rest
  (loss, rest), grads = jax.value_and_grad(objective, has_aux=True)(
      state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return state.replace(params=params, rest=rest, opt_state=opt_state,
                       step=state.step + 1), loss


def _trainable(state):
  """A filter selecting exactly the state's trainable variables (by path),
  so that `rest` keeps its structure after the forward pass."""
  paths = {p for p, _ in nnx.to_flat_state(state.params)}
  return lambda path, _: tuple(path) in paths


@functools.lru_cache(maxsize=32)
def compiled_step(loss_fn: Callable, tx: optax.GradientTransformation,
                  mesh: jax.sharding.Mesh):
  """`train_step` jitted for `mesh`: state replicated (and donated), batch
  split over "data"; cached, so a run's cells compile it once."""
  repl = NamedSharding(mesh, P())
  data = NamedSharding(mesh, P("data"))
  return jax.jit(functools.partial(train_step, loss_fn=loss_fn, tx=tx),
                 in_shardings=(repl, data), out_shardings=(repl, repl),
                 donate_argnums=(0,))
