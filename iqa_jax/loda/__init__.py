"""LoDa's recipe (source text 002): configuration, crops, training and
evaluation on the shared training core.

  config    get_config(): "paper" (per-dataset crops, resize), "runlocal"
  crops     short-side resize, random training crops, the 15 test crops
  train     run(cfg, workdir): 10 random 80/20 splits, medians
  score     export / load a trained model, score images (no reference)
  analysis  the supplement's Fourier analysis and attention maps
The model is `iqa_jax.models.loda`.
"""

from iqa_jax.loda import analysis, config, crops, score, train
from iqa_jax.loda.config import get_config
from iqa_jax.loda.train import run

__all__ = ["analysis", "config", "crops", "score", "train", "get_config",
           "run"]
