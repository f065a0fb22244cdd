"""Configurations of LoDa's recipe (source text 002; the authors' configs,
../shared/notes/authors_code.md, s. 2).

  get_config()             the paper's recipe on `dataset` (default livec);
                           needs vit_weights and cnn_weights files
  get_config("runlocal")   a tiny LoDa of the same structure (a random
                           4-block ViT at 32 x 32, the pretrained VGG16 as
                           its CNN, Table 8's alternative) on demo2d in NR
                           mode, 10 epochs at lr 1e-3, about a minute on 2
                           CPU cores; it checks the pipeline, its numbers
                           are not LoDa's
"""

from __future__ import annotations

import ml_collections

__all__ = ["get_config", "CROPS_PER_IMAGE", "RESIZE_METHOD"]

# Random 224 crops per image per epoch (the authors' patch_num).
CROPS_PER_IMAGE = {"koniq10k": 3, "kadid10k": 3, "spaq": 3, "live": 5,
                   "livec": 5, "tid2013": 10, "flive": 1}
# The authors' offline resize to a short side of 384 (scripts/process_*.py).
RESIZE_METHOD = {"koniq10k": "bilinear", "spaq": "bilinear"}   # else bicubic


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.dataset = "livec"
  c.data_dir = ""
  c.manual_dir = ""
  c.allow_missing = False
  c.max_images = 0            # > 0: the first N images only (a quick look)
  # Images and crops.
  c.short_side = 384
  c.resize_method = ""        # "": the authors' per dataset
  c.crop = 224
  c.crops_per_image = 0       # 0: the authors' per dataset (CROPS_PER_IMAGE)
  c.flips = True              # random horizontal and vertical flips
  c.test_crops = 15
  # Model (models.loda.LodaConfig).
  c.tiny = False              # models.loda.TINY instead of the paper's
  c.latent = 64
  c.heads = 4
  c.interactions = 12
  c.cnn = "resnet50"
  c.cnn_bn = "train"
  c.dropout = 0.1
  c.vit_weights = ""          # timm vit_base_patch16_224.augreg2_in21k_ft_in1k
  c.cnn_weights = ""          # timm / torchvision resnet50
  c.random_backbones = False  # allow random ViT/CNN weights (tests only)
  c.dtype = "float32"         # "bfloat16": the frozen backbones in bfloat16
                              # (accelerators; the learner stays float32)
  # Optimisation.
  c.epochs = 10
  c.batch_size = 128
  c.lr = 3e-4
  c.weight_decay = 0.01
  c.seed = 3407
  # Protocol.
  c.splits = 10
  c.test_fraction = 0.2
  c.progress = True
  if arg == "runlocal":
    c.dataset = "demo2d"
    c.tiny = True
    c.random_backbones = True   # the tiny ViT's; the VGG16 is pretrained
    c.cnn = "vgg16"
    c.short_side = 48
    c.crop = 32
    c.crops_per_image = 4
    c.epochs = 10
    c.batch_size = 32
    c.lr = 1e-3
    c.splits = 2
  elif arg not in (None, "", "paper"):
    raise ValueError(f"unknown preset {arg!r}; use paper or runlocal.")
  return c
