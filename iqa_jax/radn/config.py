"""Configurations of RADN's recipe (source text 004; the authors' code,
../shared/notes/authors_code.md, s. 3).

  get_config()             the paper: RADN on PIPAL's training part,
                           reference-disjoint 10-fold splits (test fold 1)
  get_config("runlocal")   a narrow network of the same structure (widths
                           / 8) on demo2d's FR pairs: test fold 0 of 5,
                           one contrastive epoch, 8 regression epochs at
                           lr 1e-3; about 2 minutes on 2 CPU cores. It
                           checks the pipeline; its numbers are not RADN's
  get_config("ablation")   Table 3's five rows (WResNet; + contrastive;
                           + Deform; + PatchAttn; both) on `dataset`
  get_config("ablation_runlocal")   the same at runlocal size
"""

from __future__ import annotations

import ml_collections

__all__ = ["get_config", "TABLE_3"]

# Table 3: (row label, variant, contrastive pretraining).
TABLE_3 = (("WResNet", "wresnet", False),
           ("WResNet + Contrastive", "wresnet", True),
           ("+ Deform", "radn_deform", True),
           ("+ PatchAttn", "radn_attention", True),
           ("+ Deform + PatchAttn (RADN)", "radn", True))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.dataset = "pipal"
  c.data_dir = ""
  c.manual_dir = ""
  c.allow_missing = False
  c.max_images = 0          # > 0: the first N distorted images only
  c.variant = "radn"        # wresnet | radn_deform | radn_attention | radn
  c.width_divisor = 1       # > 1: a narrow network of the same structure
  c.ablation = False        # Table 3's rows instead of `variant`
  # Patches.
  c.patch = 32
  c.train_patches = 32      # random patch pairs per image per epoch
  # Regression (the authors' main.py / train.sh).
  c.epochs = 200
  c.batch_size = 2          # images per step (x train_patches patch pairs)
  c.lr = 1e-4
  c.decay_every = 50        # epochs between learning-rate decays
  c.decay = 0.8
  c.seed = 0
  c.eval_batch = 4          # test images per inference step
  # Protocol: reference-disjoint k folds (PIPAL: 10); `folds` of them run.
  c.k_folds = 10
  c.folds = (0,)            # which folds are the test folds
  c.val_fraction = 0.1      # training references held out for selection
  # Cross-dataset tests (Table 2): the whole of each set, prepared, or
  # prepared here from "name=DIR" items of cross_manual_dirs.
  c.cross_datasets = ()
  c.cross_manual_dirs = ()
  # Contrastive pretraining (Sec. 3.5, Fig. 6).
  c.contrastive = ml_collections.ConfigDict()
  c.contrastive.enabled = False
  c.contrastive.epochs = 20
  c.contrastive.group_size = 8   # images of one contrast group per step
  c.contrastive.groups_per_step = 1
  c.contrastive.lr = 1e-4
  c.contrastive.hidden = 16      # the comparator f(s_i, s_j)
  c.contrastive.temperature = 0.1   # p_ij for non-Elo scores
  c.progress = True
  c.attention_maps = 4      # Fig. 8: patch-weight maps of this many images
  if arg in ("runlocal", "ablation_runlocal"):
    c.dataset = "demo2d"
    c.width_divisor = 8
    c.train_patches = 16
    c.epochs = 8
    c.batch_size = 4
    c.lr = 1e-3
    c.decay_every = 4
    c.k_folds = 5           # 8 training references (2 fewer do not
    c.eval_batch = 8        # generalise: content is learnt instead)
    c.contrastive.enabled = True
    c.contrastive.epochs = 1
    c.contrastive.lr = 1e-3
    c.contrastive.group_size = 5
  if arg in ("ablation", "ablation_runlocal"):
    c.ablation = True
  elif arg not in (None, "", "paper", "runlocal"):
    raise ValueError(f"unknown preset {arg!r}; use paper, runlocal, "
                     "ablation or ablation_runlocal.")
  return c
