"""Training and evaluating RADN / WResNet on the shared training core.

  python experiments/radn.py --workdir /tmp/radn --config runlocal
  python experiments/radn.py --workdir /tmp/radn_t3 --config ablation_runlocal
  iqa-jax radn train --workdir runs/radn_pipal --set manual_dir=PIPAL

For each network (`variant`, or Table 3's five rows with `ablation`) and
each test fold of `folds` among `k_folds` reference-disjoint folds (PIPAL:
10; `splits.kfold`, seeded by `seed`, `val_fraction` of the training
references held out for model selection):

1. optional contrastive pretraining (`radn.contrastive`): contrast groups
   of the training images, `contrastive.epochs` epochs of Adam
   (`contrastive.lr`);
2. L2 regression as the authors' code: `train_patches` random patch pairs
   per image per epoch, `batch_size` images per step, MSE against the
   target (score / max(score) over the dataset, as `main.py`; for a
   lower-is-better score, its normalisation to [0, 1], higher better),
   Adam (lr, no weight decay) decayed x `decay` every `decay_every` epochs
   (staircase), `epochs` epochs; after every epoch the validation RMSE on
   all non-overlapping patches, and the epoch with the lowest is kept (the
   authors select on the test fold itself; we do not);
3. the kept model scores the test fold (all non-overlapping patches,
   weighted average): SRCC, KRCC, PLCC (no logistic fit, as the authors)
   and RMSE in target units; and the whole of every `cross_datasets` set
   (Table 2: trained on PIPAL, tested on TID2013 and LIVE): SRCC, KRCC,
   PLCC against its scores normalised to higher-is-better.

Work directory: table.md / table.csv (per network: medians over the folds),
results.json (everything, per fold), curves.png (training loss and
validation RMSE per epoch), attention_<network>.png (Fig. 8: the patch
weights of a few test images), model_<network>_fold<k>.npz (`radn.score.
export`, read by `iqa-jax score --metric radn --checkpoint`), ckpt/ (orbax
checkpoints: a killed run resumes within its stage; finished stages are
read back from runs.json).
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from iqa_jax import data, parallel, results, stats, training
from iqa_jax import images as images_lib
from iqa_jax.data import registry, splits as splits_lib
from iqa_jax.models import radn as radn_lib
from iqa_jax.radn import config as config_lib
from iqa_jax.radn import contrastive
from iqa_jax.radn.patches import TestPairs, TrainPairs, check_pair

__all__ = ["run", "build", "predict", "loss_fn", "Dataset", "targets"]


def build(cfg, variant: str, *, seed: int):
  """A fresh network of `variant` at cfg.width_divisor."""
  return radn_lib.build(variant, width_divisor=cfg.width_divisor,
                        rngs=nnx.Rngs(seed))


def loss_fn(model, batch):
  """MSE of the image scores against the targets (padded rows weigh 0)."""
  q = model(batch["dist"], batch["ref"])
  return training.weighted_mean((q - batch["y"]) ** 2, batch["weight"])


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, batch):
  m = nnx.merge(graphdef, state)
  hd, hr = m.patch_features(batch["dist"], batch["ref"], batch["mask"])
  s, w = m.heads.patches(hd, hr)        # the heads once, for both outputs
  return {"q": m.heads.pool(s, w, batch["mask"]),
          "w": jnp.where(batch["mask"], w, 0.0)}


def predict(model, pairs: TestPairs, *, batch_size: int, mesh=None,
            progress=False, weights=False):
  """(n,) image scores of `pairs` (eval mode); with `weights`, also the
  (n, P_max) patch weights (0 on padding)."""
  model.eval()
  out = parallel.map_model(_forward, model, pairs, batch_size=batch_size,
                           mesh=mesh, progress=progress, desc="test pairs",
                           unit="image")
  q = np.asarray(out["q"], np.float64)
  return (q, np.asarray(out["w"])) if weights else q


def targets(src, spec) -> tuple[np.ndarray, float]:
  """(regression targets, the divisor): score / max(score) as the authors'
  code, or the [0, 1] normalisation for a lower-is-better score."""
  if spec.higher_is_better and np.nanmin(src.scores) >= 0:
    scale = float(np.nanmax(src.scores))
    return src.scores / scale, scale
  return src.score_norm.copy(), math.nan


class Dataset:
  """A prepared FR set read lazily: `load(i)` -> (dist, ref) uint8."""

  def __init__(self, name: str, *, data_dir: str = "", manual_dir: str = "",
               allow_missing: bool = False, max_images: int = 0):
    self.name = name
    self.spec = registry.get(name)
    if self.spec.kind != "fr":
      raise ValueError(f"{name} is not a full-reference dataset; RADN "
                       "needs reference images.")
    self.src = data.load(name, data_dir=data_dir or None,
                         manual_dir=manual_dir or None,
                         allow_missing=allow_missing)
    self.n = len(self.src) if max_images <= 0 else min(max_images,
                                                       len(self.src))
    self.names = list(self.src.names[:self.n])
    self.ref_ids = np.asarray(self.src.ref_ids[:self.n])
    y, self.scale = targets(self.src, self.spec)
    self.y = y[:self.n]
    self._sizes = None

  @functools.cached_property
  def dist_types(self) -> list[str]:
    """Each image's distortion category (contrast groups): from the
    prepared metadata, or read record by record from sets prepared before
    it was kept there."""
    table = self.src.metadata["table"].get("dist_types")
    if table is not None:
      return list(table[:self.n])
    return [self.src.raw(i)["dist_type"] for i in range(self.n)]

  def load(self, i: int):
    rec = self.src.raw(i)
    d = images_lib.to_uint8(images_lib.decode(rec["image"],
                                              name=rec["name"]))
    r = images_lib.to_uint8(self.src.reference(rec["ref_id"]))
    return d, r

  def sizes(self, idx) -> list[tuple[int, int]]:
    """(H, W) of each image of `idx` (and the pair checks), cached."""
    if self._sizes is None:
      self._sizes = {}
    out = []
    for i in idx:
      if i not in self._sizes:
        d, r = self.load(int(i))
        check_pair(d, r, self.names[i])
        self._sizes[i] = d.shape[:2]
      out.append(self._sizes[i])
    return out

  def test_pairs(self, idx) -> TestPairs:
    idx = [int(i) for i in idx]
    return TestPairs(lambda j: self.load(idx[j]), len(idx),
                     names=[self.names[i] for i in idx],
                     sizes=self.sizes(idx))


@functools.lru_cache(maxsize=16)
def _adam(lr: float, decay: float, every_steps: int):
  """Adam with the authors' staircase decay (cached: the compiled step is
  keyed on the transformation object)."""
  return optax.adam(optax.exponential_decay(
      lr, transition_steps=max(every_steps, 1), decay_rate=decay,
      staircase=True))


def _pretrain(cfg, ds, net, train_idx, ckpt, mesh):
  """Contrastive pretraining of `net` on the training images' groups."""
  c = cfg.contrastive
  groups = contrastive.contrast_groups(ds.ref_ids[train_idx],
                                       np.asarray(ds.dist_types)[train_idx])
  if not groups:
    raise ValueError(f"{cfg.dataset}: no contrast group of two or more "
                     "images of one reference and distortion category; "
                     "set contrastive.enabled=False.")
  idx = np.asarray(train_idx)
  rows = contrastive.GroupPairs(
      lambda i: ds.load(int(idx[i])), groups, ds.src.scores[idx]
      if ds.spec.score_name == "elo" else ds.src.score_norm[idx],
      group_size=c.group_size, n_patches=cfg.train_patches, seed=cfg.seed,
      names=[ds.names[i] for i in idx])
  siamese = contrastive.Siamese(net, hidden=c.hidden,
                                rngs=nnx.Rngs(cfg.seed + 1))
  siamese.train()
  tx = _adam(c.lr, 1.0, 1)
  elo = ds.spec.score_name == "elo"
  loss = _contrastive_loss(elo, float(c.temperature))
  state = training.TrainState.create(siamese, tx)
  res = training.fit(state, rows, loss_fn=loss, tx=tx, mesh=mesh,
                     config=training.LoopConfig(
                         batch_size=c.groups_per_step, max_epochs=c.epochs,
                         patience=0, seed=cfg.seed),
                     checkpoint_dir=ckpt, progress=cfg.progress)
  return res.state.model().net, res.losses


@functools.lru_cache(maxsize=8)
def _contrastive_loss(elo: bool, temperature: float):
  return functools.partial(contrastive.contrastive_loss, elo=elo,
                           temperature=temperature)


def _rmse(model, pairs, y, cfg, mesh):
  q = predict(model, pairs, batch_size=cfg.eval_batch, mesh=mesh)
  return float(np.sqrt(np.mean((q - y) ** 2)))


def _run_one(cfg, ds, label, variant, pretrain, fold, split, wd, mesh,
             cross=()):
  """One network on one fold: the row of results.json."""
  seed = cfg.seed + fold
  ckpt = Path(wd.root) / "ckpt" / _slug(label) / f"fold{fold}"
  net = build(cfg, variant, seed=seed)
  t0 = time.time()
  pre_losses = []
  if pretrain:
    net, pre_losses = _pretrain(cfg, ds, net, split.train, str(ckpt /
                                                              "pretrain"),
                                mesh)
  net.train()
  train = TrainPairs(lambda i: ds.load(int(split.train[i])),
                     ds.y[split.train], n_patches=cfg.train_patches,
                     seed=seed, names=[ds.names[i] for i in split.train])
  steps_per_epoch = math.ceil(len(train) / parallel.round_up(
      cfg.batch_size, mesh))
  tx = _adam(cfg.lr, cfg.decay, cfg.decay_every * steps_per_epoch)
  state = training.TrainState.create(net, tx)
  val = ds.test_pairs(split.val) if len(split.val) else None
  evaluate = (lambda m: -_rmse(m, val, ds.y[split.val], cfg, mesh)) \
      if val is not None else None
  res = training.fit(
      state, train, loss_fn=loss_fn, tx=tx, mesh=mesh,
      config=training.LoopConfig(batch_size=cfg.batch_size,
                                 max_epochs=cfg.epochs,
                                 patience=cfg.epochs + 1 if val else 0,
                                 seed=seed),
      evaluate=evaluate, checkpoint_dir=str(ckpt / "regression"),
      progress=cfg.progress)
  model = res.best_model()
  train_s = time.time() - t0
  test = ds.test_pairs(split.test)
  q, w = predict(model, test, batch_size=cfg.eval_batch, mesh=mesh,
                 progress=cfg.progress, weights=True)
  y = ds.y[split.test]
  ev = stats.evaluate(q, y, fit=None)
  cross_ev = {}
  for other in cross:      # Table 2: the whole of another dataset
    qc = predict(model, other.test_pairs(range(other.n)),
                 batch_size=cfg.eval_batch, mesh=mesh, progress=cfg.progress)
    e = stats.evaluate(qc, other.src.score_norm[:other.n], fit=None)
    cross_ev[other.name] = {"srcc": e.srcc, "krcc": e.krcc, "plcc": e.plcc,
                            "images": other.n}
  from iqa_jax.radn import score  # pylint: disable=g-import-not-at-top
  score.export(model, Path(wd.root) / f"model_{_slug(label)}_fold{fold}.npz",
               config=cfg, target_scale=ds.scale)
  if fold == cfg.folds[0] and cfg.attention_maps:
    pick = np.unique(np.linspace(0, len(split.test) - 1,
                                 cfg.attention_maps).round().astype(int))
    _attention_figure(wd, label, ds, split.test[pick], w[pick], q[pick],
                      y[pick])
  cls, kw = radn_lib.VARIANTS[variant]
  return {"network": label, "variant": variant, "contrastive": pretrain,
          "fold": fold, "train_images": len(split.train),
          "val_images": len(split.val), "test_images": len(split.test),
          "parameters": radn_lib.parameter_count(
              cls, **kw, width_divisor=cfg.width_divisor),
          "best_epoch": res.best_epoch + 1, "srcc": ev.srcc,
          "krcc": ev.krcc, "plcc": ev.plcc,
          "rmse": float(np.sqrt(np.mean((q - y) ** 2))),
          "train_s": train_s, "losses": res.losses.tolist(),
          "val_rmse": (-res.values).tolist(),
          "pretrain_losses": list(map(float, pre_losses)),
          "cross": cross_ev,
          "pred": q.tolist(), "test": split.test.tolist()}


def _slug(label: str) -> str:
  """A file-name form of a network's label ("+ Deform + PatchAttn (RADN)"
  -> "deform_patchattn_radn")."""
  return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def _networks(cfg):
  if cfg.ablation:
    return list(config_lib.TABLE_3)
  if cfg.variant not in radn_lib.VARIANTS:
    raise ValueError(f"variant must be one of {', '.join(radn_lib.VARIANTS)}"
                     f", got {cfg.variant!r}.")
  label = cfg.variant + (" + contrastive" if cfg.contrastive.enabled else "")
  return [(label, cfg.variant, bool(cfg.contrastive.enabled))]


def run(cfg, workdir, *, log=print) -> dict:
  """Every network and fold (module docstring); returns the summary."""
  networks = _networks(cfg)
  if cfg.patch != 32:
    raise ValueError("patch must be 32: the networks are built for 32 x 32 "
                     "patches (2 x 2 after their strides).")
  wd = results.create_workdir(workdir, cfg.to_dict())
  root = Path(wd.root)
  ds = Dataset(cfg.dataset, data_dir=cfg.data_dir,
               manual_dir=cfg.manual_dir, allow_missing=cfg.allow_missing,
               max_images=cfg.max_images)
  manual = data.parse_manual_dirs(cfg.cross_manual_dirs)
  cross = [Dataset(name, data_dir=cfg.data_dir,
                   manual_dir=manual.get(name, ""),
                   allow_missing=cfg.allow_missing,
                   max_images=cfg.max_images)
           for name in cfg.cross_datasets]
  folds = splits_lib.kfold(ds.ref_ids, k=cfg.k_folds, seed=cfg.seed,
                           val_fraction=cfg.val_fraction)
  for f in cfg.folds:
    if not 0 <= f < cfg.k_folds:
      raise ValueError(f"folds holds {f}; the folds are 0 .. "
                       f"{cfg.k_folds - 1}.")
  done_path = root / "runs.json"
  done = json.loads(done_path.read_text()) if done_path.exists() else []
  finished = {(r["network"], r["fold"]) for r in done}
  mesh = parallel.data_mesh()
  for label, variant, pretrain in networks:
    for fold in cfg.folds:
      if (label, fold) in finished:
        continue
      row = _run_one(cfg, ds, label, variant, pretrain, fold, folds[fold],
                     wd, mesh, cross)
      log(f"{label}, fold {fold}: SRCC {row['srcc']:.4f}, PLCC "
          f"{row['plcc']:.4f}, RMSE {row['rmse']:.4f} (best epoch "
          f"{row['best_epoch']}, {row['train_s']:.0f} s)")
      done.append(row)
      wd.write_json("runs.json", done)
  table = []
  for label, variant, pretrain in networks:
    rows = [r for r in done if r["network"] == label]
    entry = {"network": label, "contrastive": "yes" if pretrain else "no",
             "parameters": rows[0]["parameters"], "folds": len(rows),
             **{k: float(np.median([r[k] for r in rows]))
                for k in ("srcc", "krcc", "plcc", "rmse")}}
    for name in cfg.cross_datasets:
      for k in ("srcc", "plcc"):
        entry[f"{name}_{k}"] = float(np.median([r["cross"][name][k]
                                                for r in rows]))
    table.append(entry)
  md = wd.write_table("table", table, floatfmt=".4f")
  plots = [_curves(wd, done)] + sorted(root.glob("attention_*.png"))
  summary = {"dataset": cfg.dataset, "markdown": md, "table": table,
             "plots": [str(p) for p in plots], "workdir": str(root)}
  wd.write_results({**summary, "runs": done})
  return summary


def _curves(wd, done):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(9, 3.6))
  ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
  for r in done:
    lab = f"{r['network']} (fold {r['fold']})"
    e = np.arange(1, len(r["losses"]) + 1)
    ax1.plot(e, r["losses"], marker="o", ms=3, label=lab)
    if np.isfinite(r["val_rmse"]).any():
      ax2.plot(e, r["val_rmse"], marker="o", ms=3, label=lab)
  ax1.set(xlabel="epoch", ylabel="training MSE", yscale="log")
  ax2.set(xlabel="epoch", ylabel="validation RMSE")
  for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
  ax1.legend(fontsize=6)
  fig.tight_layout()
  return wd.save_figure(fig, "curves")


def _attention_figure(wd, label, ds, idx, weights, q, y):
  """Fig. 8: each test image with its patches shaded by their weight."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from iqa_jax.radn.patches import grid_positions  # pylint: disable=g-import-not-at-top
  n = len(idx)
  fig = Figure(figsize=(3.2 * n, 3.4))
  for a, i in enumerate(idx):
    d, _ = ds.load(int(i))
    pos = grid_positions(*d.shape[:2])
    w = weights[a, :len(pos)]
    rel = (w - w.min()) / max(w.max() - w.min(), 1e-12)
    heat = np.full(d.shape[:2], np.nan)
    for (r, c), v in zip(pos, rel):
      heat[r:r + 32, c:c + 32] = v
    ax = fig.add_subplot(1, n, a + 1)
    ax.imshow(d)
    im = ax.imshow(heat, cmap="inferno", alpha=0.55, vmin=0, vmax=1)
    ax.set_title(f"{Path(ds.names[i]).name}\npred {q[a]:.3f}, target "
                 f"{y[a]:.3f}; w {w.min():.2g}..{w.max():.2g}", fontsize=7)
    ax.axis("off")
  fig.colorbar(im, ax=fig.axes, shrink=0.8,
               label="patch weight (min to max of the image)")
  fig.suptitle(f"{label}: patch weights (Fig. 8)", fontsize=9)
  return wd.save_figure(fig, f"attention_{_slug(label)}")
