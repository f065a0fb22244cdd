"""The training loop: epochs of shuffled, sharded batches, early stopping,
orbax checkpoints after every epoch with exact resume, a progress bar.

  result = fit(TrainState.create(model, optax.adam(1e-3)),
               {"x": x, "y": y}, loss_fn=loss_fn, tx=tx,
               config=LoopConfig(batch_size=256, max_epochs=50, patience=5),
               evaluate=lambda model: val_plcc(model),
               checkpoint_dir="ckpt/")
  model = result.best_model()

`data` is a dict of arrays with n rows each (or any object with `len()`
whose `data[indices]` gives such a dict for an integer index array; if it
has `set_epoch(t)`, that is called before epoch t, so per-epoch random
augmentation can depend on (seed, t) and resume exactly). The
shuffle of epoch t is `np.random.default_rng((seed, t)).permutation(n)`,
so it depends only on (seed, t). Batches are `batch_size` rows, rounded up
to a multiple of the devices; the last one is padded to full size by row 0
with `batch["weight"]` 0 there (one compiled shape). After every epoch
`evaluate(model)` (higher is better; default: minus the epoch's mean loss)
decides early stopping: training stops after `patience` epochs without
improvement (0: never) and the best epoch's parameters are kept. With
`checkpoint_dir`, the whole state goes to disk after every epoch (orbax; or
every `checkpoint_every` epochs and at the end), and a run started again
resumes after the last saved epoch and ends exactly where an uninterrupted
run ends. `hooks` are called as hook(epoch, logs) after each
epoch's checkpoint (logs: "loss", "value", "best_epoch").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from iqa_jax import parallel
from iqa_jax.checkpoint import Checkpointer
from iqa_jax.training.state import TrainState
from iqa_jax.training.step import compiled_step

__all__ = ["LoopConfig", "LoopState", "FitResult", "fit"]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  """Loop settings: batch size, epochs, early stopping, seed, step cap, and
  how often to checkpoint (every `checkpoint_every` epochs and at the end;
  a resumed run replays the epochs since the last checkpoint exactly)."""

  batch_size: int = 256
  max_epochs: int = 50
  patience: int = 5
  seed: int = 0
  max_steps: int | None = None
  checkpoint_every: int = 1


class LoopState(NamedTuple):
  """The loop's bookkeeping, checkpointed with the model."""

  epoch: np.ndarray        # epochs finished
  steps: np.ndarray        # optimiser steps taken
  best_epoch: np.ndarray   # -1 before the first evaluation
  best_value: np.ndarray
  since_best: np.ndarray   # epochs without improvement
  losses: np.ndarray       # (max_epochs,) mean training loss per epoch
  values: np.ndarray       # (max_epochs,) evaluate() per epoch (NaN: none)


class FitResult(NamedTuple):
  """The final state, the best epoch's parameters and the history."""

  state: TrainState
  best_params: Any
  best_epoch: int
  epochs_run: int
  steps: int
  losses: np.ndarray   # (epochs_run,)
  values: np.ndarray   # (epochs_run,)

  def best_model(self):
    """The NNX module with the best epoch's parameters."""
    return self.state.model(self.best_params)


def _host_copy(tree):
  # A real copy: on CPU device_get can alias the buffer that the next
  # (donating) step overwrites.
  return jax.tree.map(lambda a: np.array(a, copy=True), tree)


def _rows(data, idx):
  if isinstance(data, Mapping):
    return {k: np.asarray(v)[idx] for k, v in data.items()}
  return dict(data[idx])


def _stopped(cfg, loop):
  return (cfg.patience > 0 and int(loop.since_best) >= cfg.patience) or (
      cfg.max_steps is not None and int(loop.steps) >= cfg.max_steps)


def fit(state: TrainState, data, *, loss_fn: Callable,
        tx: optax.GradientTransformation, config: LoopConfig = LoopConfig(),
        evaluate: Callable[[Any], float] | None = None,
        mesh: jax.sharding.Mesh | None = None,
        checkpoint_dir: str | None = None,
        hooks: Sequence[Callable[[int, dict], None]] = (),
        progress: bool = False) -> FitResult:
  """Trains `state` on `data` with `loss_fn` (see the module docstring).

  `tx` must be the transformation `state` was created with; `loss_fn` and
  `tx` should be the same objects across calls (the compiled step is
  cached on them).
  """
  n = len(next(iter(data.values()))) if isinstance(data, Mapping) \
      else len(data)
  if n == 0:
    raise ValueError("no training rows.")
  cfg = config
  mesh = mesh if mesh is not None else parallel.data_mesh()
  bs = parallel.round_up(cfg.batch_size, mesh)
  loop = LoopState(np.int64(0), np.int64(0), np.int64(-1),
                   np.float64(-np.inf), np.int64(0),
                   np.full(cfg.max_epochs, np.nan),
                   np.full(cfg.max_epochs, np.nan))
  best = state.params
  ckpt = Checkpointer(checkpoint_dir) if checkpoint_dir else None
  saved = ckpt.restore({"state": state, "best": best, "loop": loop}) \
      if ckpt else None
  if saved is not None:
    state, best, loop = saved["state"], saved["best"], saved["loop"]
    loop = loop._replace(losses=np.array(loop.losses),
                         values=np.array(loop.values))
  state = parallel.replicate(state, mesh)
  step = compiled_step(loss_fn, tx, mesh)
  epoch, steps = int(loop.epoch), int(loop.steps)
  bar = parallel.progress_bar(total=cfg.max_epochs, initial=epoch,
                              desc="training", unit="epoch", leave=False,
                              enabled=progress)
  try:
    while epoch < cfg.max_epochs and not _stopped(cfg, loop):
      if hasattr(data, "set_epoch"):
        data.set_epoch(epoch)
      perm = np.random.default_rng((cfg.seed, epoch)).permutation(n)
      losses = []
      for b in range(math.ceil(n / bs)):
        if cfg.max_steps is not None and steps >= cfg.max_steps:
          break
        idx = perm[b * bs:(b + 1) * bs]
        weight = np.ones(bs, np.float32)
        if len(idx) < bs:
          weight[len(idx):] = 0.0
          idx = np.concatenate([idx, np.zeros(bs - len(idx), idx.dtype)])
        batch = parallel.put_rows(   # each process reads its own rows
            lambda lo, hi, idx=idx, weight=weight: {
                **_rows(data, idx[lo:hi]), "weight": weight[lo:hi]},
            bs, mesh)
        state, loss = step(state, batch)
        losses.append(loss)
        steps += 1
      loop.losses[epoch] = float(np.mean(jax.device_get(losses)))
      if evaluate is not None:
        v = float(evaluate(state.model()))
        loop.values[epoch] = v
      else:
        v = -float(loop.losses[epoch])
      if cfg.patience == 0 or v > float(loop.best_value):
        best = _host_copy(state.params)
        loop = loop._replace(best_value=np.float64(v),
                             best_epoch=np.int64(epoch),
                             since_best=np.int64(0))
      else:
        loop = loop._replace(since_best=np.int64(int(loop.since_best) + 1))
      epoch += 1
      loop = loop._replace(epoch=np.int64(epoch), steps=np.int64(steps))
      last = epoch >= cfg.max_epochs or _stopped(cfg, loop) or (
          cfg.max_steps is not None and steps >= cfg.max_steps)
      if ckpt and (last or epoch % max(1, cfg.checkpoint_every) == 0):
        ckpt.save(epoch, {"state": state, "best": best, "loop": loop})
      bar.update(1)
      logs = {"loss": float(loop.losses[epoch - 1]),
              "value": float(loop.values[epoch - 1]),
              "best_epoch": int(loop.best_epoch)}
      for hook in hooks:
        hook(epoch, logs)
  finally:
    bar.close()
    if ckpt:
      ckpt.close()
  return FitResult(jax.device_get(state), jax.device_get(best),
                   int(loop.best_epoch), epoch, steps,
                   np.asarray(loop.losses[:epoch]),
                   np.asarray(loop.values[:epoch]))
