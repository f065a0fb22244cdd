"""Scoring images (no reference) with a trained LoDa.

  export(model, "model.npz", config=cfg)            # after training
  model, cfg = load("model.npz")                     # or an authors' .pt
  s = score_images(model, cfg, ["a.jpg", "b.png"])   # (2,) in [-1, 1]

  iqa-jax score --metric loda --checkpoint model.npz --dist DIR --out S.csv

A file written by `export` (`loda train` writes WORKDIR/model_split<k>.npz)
holds the experiment's configuration ("config", JSON), the learner in the
authors' names and layouts ("learner.<name>") and the ResNet's running
statistics ("bn_buffer.<name>"), as the authors' own checkpoints do; when
the backbones were random (runlocal), also the ViT ("vit.<timm name>") and
the ResNet ("cnn.<name>"), so the file alone rebuilds the model. Otherwise
the pretrained backbones come from vit_weights / cnn_weights files. An
authors' checkpoint (.pt, or its tensors in .npz / .safetensors) takes the
paper's configuration. Every image is resized to the configuration's
short side and scored by the mean of `test_crops` random crops, seeded by
its file name as the experiment's test does: the split's test images get
the experiment's scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from iqa_jax import images as images_lib
from iqa_jax import weights
from iqa_jax.loda import config as config_lib
from iqa_jax.loda import train
from iqa_jax.loda.crops import TestCrops, resize_short_side
from iqa_jax.models import loda as loda_lib
from iqa_jax.models import resnet, vit

__all__ = ["export", "load", "score_images"]


def _torch_layout(a, kind):
  a = np.asarray(a, np.float32)
  return (a.transpose(3, 2, 0, 1) if kind == "conv" else
          a.T if kind == "linear" else a)


def export(model: loda_lib.LoDa, path, *, config, crop_seed: int) -> Path:
  """Writes the model as the module docstring describes (with the seed of
  its test crops); returns path."""
  arrays = {"config": np.array(json.dumps(config.to_dict())),
            "crop_seed": np.array(crop_seed)}
  for name, (var, kind) in loda_lib._learner_targets(model.learner):  # pylint: disable=protected-access
    arrays[f"learner.{name}"] = _torch_layout(var[...], kind)
  if model.cfg.cnn == "resnet50":
    for name, (var, is_conv) in resnet._targets(model.cnn):  # pylint: disable=protected-access
      if name.endswith(("running_mean", "running_var")):
        arrays[f"bn_buffer.{name}"] = np.asarray(var[...], np.float32)
      elif config.random_backbones and not config.cnn_weights:
        arrays[f"cnn.{name}"] = _torch_layout(var[...],
                                              "conv" if is_conv else "plain")
  if config.random_backbones and not config.vit_weights:
    for name, (var, kind) in vit._targets(model.vit):  # pylint: disable=protected-access
      arrays[f"vit.{name}"] = _torch_layout(var[...], kind)
  return weights.write_npz(path, arrays)


def load(path, *, vit_weights: str = "", cnn_weights: str = ""):
  """(LoDa in eval mode, its experiment config, `seed` set to the seed of
  the split's test crops) from `export`'s file or an authors' checkpoint."""
  state = loda_lib.read_authors_checkpoint(path)
  cfg = config_lib.get_config()
  if "config" in state:
    saved = json.loads(str(np.asarray(state["config"])))
    for k, v in saved.items():
      if k in cfg:
        cfg[k] = tuple(v) if isinstance(cfg[k], tuple) else v
  if vit_weights:
    cfg.vit_weights = vit_weights
  if cnn_weights:
    cfg.cnn_weights = cnn_weights
  mc = train.model_config(cfg)
  sub = lambda p: {k[len(p):]: v for k, v in state.items()
                   if k.startswith(p)}
  vit_state, cnn_state = sub("vit."), sub("cnn.")
  if vit_state:
    backbone = vit.VisionTransformer.from_state_dict(vit_state,
                                                     **mc.vit_config)
  else:
    backbone = None
  if vit_state or cnn_state:
    cfg.random_backbones = True     # the file carries them
  model = train.build_model(cfg, seed=cfg.seed)
  if backbone is not None:
    model.vit = backbone
  if cnn_state:
    full = {**cnn_state, **sub("bn_buffer.")}
    model.cnn = resnet.ResNet50.from_state_dict(full) if mc.cnn_width == 1 \
        else _tiny_resnet(full, mc.cnn_width)
  if mc.dtype != "float32":       # the replaced backbones too
    loda_lib.set_backbone_dtype(model, mc.dtype)
  loda_lib.load_authors_state(model, state, source=str(path))
  model.eval()
  if "crop_seed" in state:
    cfg.seed = int(state["crop_seed"])
  return model, cfg


def _tiny_resnet(state, divisor):
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from iqa_jax import weights  # pylint: disable=g-import-not-at-top
  net = resnet.ResNet50(rngs=nnx.Rngs(0), width_divisor=divisor)
  weights.assign({k: (v, "conv" if c else "plain")
                  for k, (v, c) in resnet._targets(net)},  # pylint: disable=protected-access
                 state, what=f"ResNet-50 / {divisor} state dict",
                 example="conv1.weight, bn1.running_mean")
  return net


def score_images(model: loda_lib.LoDa, cfg, paths, *, progress=False,
                 batch_size: int = 32) -> np.ndarray:
  """(len(paths),) the mean score of each image's test crops."""
  method = cfg.resize_method or "bicubic"
  ims = [resize_short_side(images_lib.read(p), cfg.short_side, method=method,
                           name=str(p)) for p in paths]
  crops = TestCrops(ims, n=cfg.test_crops, crop=cfg.crop, seed=cfg.seed,
                    names=[str(p) for p in paths])
  return train.predict(model, crops, batch_size=batch_size,
                       progress=progress)
