"""RADN's recipe (source text 004): configuration, patch pairs, contrastive
pretraining, training and evaluation on the shared training core.

  config       get_config(): "paper", "runlocal", "ablation", ...
  patches      paired 32 x 32 patches: random (training), the grid (test)
  contrastive  contrast groups, the comparator, the cross-entropy (Eq. 7)
  train        run(cfg, workdir): folds, pretraining, regression, tables
  score        export / load a trained network, score FR pairs
The networks are `iqa_jax.models.radn`.
"""

from iqa_jax.radn import config, contrastive, patches, score, train
from iqa_jax.radn.config import get_config
from iqa_jax.radn.train import run

__all__ = ["config", "contrastive", "patches", "score", "train",
           "get_config", "run"]
