"""The one training core: any NNX model, any loss of (model, batch), any
optax transformation, data-parallel over every device.

  state = training.TrainState.create(model, tx)
  result = training.fit(state, {"x": x, "y": y}, loss_fn=loss_fn, tx=tx,
                        config=training.LoopConfig(batch_size=64))

  state.py   TrainState (graphdef, params, rest, opt_state, step)
  step.py    train_step, compiled_step (jitted with shardings, donated)
  loop.py    fit: epochs, early stopping, checkpoint/resume, hooks, progress
"""

from iqa_jax.training.loop import FitResult, LoopConfig, LoopState, fit
from iqa_jax.training.state import TrainState
from iqa_jax.training.step import compiled_step, train_step, weighted_mean

__all__ = ["TrainState", "LoopConfig", "LoopState", "FitResult", "fit",
           "train_step", "compiled_step", "weighted_mean"]
