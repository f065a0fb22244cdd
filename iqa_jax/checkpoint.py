"""Resumable training state on disk, through orbax's `CheckpointManager`.

  ckpt = Checkpointer(workdir / "checkpoints" / cell_id)
  state = ckpt.restore(template)     # None when nothing was saved yet
  ...
  ckpt.save(epoch, state)            # keeps the latest `max_to_keep`

`state` is any pytree of arrays (typed PRNG keys included: dropout
streams) and Python scalars (parameters, optimiser
state, epoch counters, early-stopping bookkeeping); `template` is a pytree
of the same structure (for example the freshly initialised state), which
orbax needs to restore namedtuples such as optax's states. Saving waits for
the write to finish, so a run killed right after `save` resumes from it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

__all__ = ["Checkpointer"]


def _is_key(x) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key)


def _to_numpy(x):
  """A NumPy copy; typed PRNG keys as their key data (uint32)."""
  return np.asarray(jax.random.key_data(x) if _is_key(x) else x)


class Checkpointer:
  """A directory of numbered checkpoints of one training run."""

  def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 1):
    self.directory = Path(directory).absolute()
    self._mngr = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def save(self, step: int, state: Any) -> None:
    state = jax.tree.map(_to_numpy, jax.device_get(state))
    self._mngr.save(step, args=ocp.args.StandardSave(state), force=True)
    self._mngr.wait_until_finished()

  def restore(self, template: Any, step: int | None = None) -> Any | None:
    """The state saved at `step` (default the latest), or None."""
    step = self._mngr.latest_step() if step is None else step
    if step is None:
      return None
    original = template
    template = jax.tree.map(_to_numpy, jax.device_get(template))
    restored = self._mngr.restore(step,
                                  args=ocp.args.StandardRestore(template))
    # orbax returns plain tuples for namedtuples (optax states): rebuild the
    # template's structure from the leaves, which come in the same order.
    leaves = jax.tree.leaves(restored)
    treedef = jax.tree.structure(template)
    if len(leaves) != treedef.num_leaves:
      raise ValueError(f"checkpoint {self.directory}/{step} does not match "
                       "the training state (a different model or optimiser);"
                       " delete the directory to start afresh.")
    # typed PRNG keys (dropout streams) were saved as their key data
    leaves = [jax.random.wrap_key_data(np.asarray(v), impl=jax.random.key_impl(t))
              if _is_key(t) else v
              for v, t in zip(leaves, jax.tree.leaves(original))]
    return jax.tree.unflatten(treedef, leaves)

  def close(self) -> None:
    self._mngr.close()

  def delete(self) -> None:
    """Closes the manager and removes the directory (a finished run)."""
    self._mngr.close()
    shutil.rmtree(self.directory, ignore_errors=True)
