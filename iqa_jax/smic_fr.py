"""The SMIC experiment of source text 003: Tables I-II and Fig. 5.

  python experiments/smic_fr.py --workdir /tmp/smic --config runlocal
  python experiments/smic_fr.py --workdir runs/smic \\
      [--set datasets=live,kadid10k] [--set data_dir=~/tfds]

Every metric of `metrics` is scored in each of `versions` on every dataset
of `datasets` (prepared full-reference sets: `iqa-jax datasets prepare`, or
`manual_dirs` to prepare them here):

  plain   the metric itself (psnr, ssim, lpips_vgg, dists, deepwsd)
  smic    its SMIC version (Table I: "w/ SMIC")
  mic     the "w/ MIC" baseline of Table II (pixel-domain MIC attention,
          `fr.smic.pixel_attention`)

Each with its official preprocessing (`fr.get`), all devices, batches of
`batch_size`. Scores are cached per (dataset, metric) under
WORKDIR/scores/, one CSV each: a rerun, or a run with more metrics or
datasets, scores only the images missing there. Against the dataset's
scores (normalised so higher is better) every column gets SRCC, KRCC, raw
PLCC and PLCC/RMSE after the logistic fit (`fit`: "4pl"; the paper used a
5-parameter one, "5pl"); the relative change (%) that SMIC (or MIC) brings
over the plain metric. PSNR = inf (identical images) is ranked above every
finite score (`stats.place_infinite`).

Writes to WORKDIR: results.csv / .md (every row), table_1.md / .csv (plain
and w/ SMIC, the paper's Table I layout: SRCC and fitted PLCC per dataset),
table_2.md / .csv (w/ MIC against w/ SMIC), srcc.png (bar plot), and
fig5_<dataset>_<image>.png (distortion, attention and rectified maps of
every SMIC metric for the chosen pairs: `fig5_names`, else the first
`fig5_pairs` images of each dataset).
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from iqa_jax import data, parallel, results, stats
from iqa_jax import images as images_lib
from iqa_jax.data import registry as data_registry
from iqa_jax.fr import maps as maps_lib
from iqa_jax.fr import registry as fr_registry
from iqa_jax.fr import scoring, smic

__all__ = ["get_config", "run", "BASES", "VERSIONS", "metric_name"]

# base metric -> its registered (plain, SMIC, w/ MIC) names
BASES = {
    "psnr": ("psnr", "psnr_smic", "psnr_mic"),
    "ssim": ("ssim", "ssim_smic", "ssim_mic"),
    "lpips": ("lpips_vgg", "lpips_smic", "lpips_mic"),
    "dists": ("dists", "dists_smic", "dists_mic"),
    "deepwsd": ("deepwsd", "deepwsd_smic", "deepwsd_mic"),
}
VERSIONS = ("plain", "smic", "mic")
_LABEL = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "dists": "DISTS",
          "deepwsd": "DeepWSD"}
_SUFFIX = {"plain": "", "smic": " w/ SMIC", "mic": " w/ MIC"}
PAPER_DATASETS = ("live", "csiq", "tid2013", "kadid10k", "pipal", "qads")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """None: the paper's six datasets (prepared beforehand); "runlocal":
  demo2d, 4 references (80 pairs), under 10 minutes on 2 CPU cores."""
  c = ml_collections.ConfigDict()
  c.datasets = PAPER_DATASETS
  c.data_dir = ""            # prepared datasets ('': $IQA_JAX_HOME/datasets)
  c.manual_dirs = ()         # "dataset=DIR" items, to prepare a set here
  c.metrics = tuple(BASES)
  c.versions = VERSIONS
  c.max_refs = 0             # > 0: only the first N references (by name)
  c.batch_size = 8
  c.projection_seed = smic.DEFAULT_PROJECTION_SEED
  c.projection_kind = "xavier"   # or "gaussian" (the paper's wording)
  c.fit = "4pl"
  c.fig5_pairs = 1
  c.fig5_names = ()
  c.progress = True
  if arg == "runlocal":
    c.datasets = ("demo2d",)
    c.max_refs = 4
    c.fig5_names = ("dist/astronaut_jpeg_4.png",)
  elif arg not in (None, ""):
    raise ValueError(f"unknown preset {arg!r}; use runlocal or nothing.")
  return c


def metric_name(base: str, version: str) -> str:
  """The registered metric of `base` in `version` ("plain", "smic", "mic")."""
  if base not in BASES:
    raise ValueError(f"unknown metric {base!r}; use some of {list(BASES)}.")
  if version not in VERSIONS:
    raise ValueError(f"unknown version {version!r}; use some of "
                     f"{list(VERSIONS)}.")
  return BASES[base][VERSIONS.index(version)]


def _check(cfg):
  for b in cfg.metrics:
    metric_name(b, "plain")
  for v in cfg.versions:
    metric_name("psnr", v)
  for d in cfg.datasets:
    if data_registry.get(d).kind != "fr":
      raise ValueError(f"{d} is not a full-reference dataset; SMIC needs "
                       "reference images.")
  if cfg.fit not in ("4pl", "5pl"):
    raise ValueError(f"fit must be '4pl' or '5pl', got {cfg.fit!r}.")


def _manual_dirs(cfg) -> dict[str, str]:
  return data.parse_manual_dirs(cfg.manual_dirs)


def _subset(src, max_refs: int) -> np.ndarray:
  """Indices of the images of the first `max_refs` references (all when
  0), in dataset order."""
  idx = np.arange(len(src))
  if max_refs <= 0:
    return idx
  refs = sorted(set(src.ref_ids.tolist()))[:max_refs]
  return idx[np.isin(src.ref_ids, refs)]


def _size(src, i) -> tuple[int, int]:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(io.BytesIO(src.raw(i)["image"])) as im:
    return im.size[1], im.size[0]


class _Column:
  """The reference or distorted images of indices `idx` of a Source, read
  one slice at a time (what `Scorer.__call__` takes)."""

  def __init__(self, src, idx, reference: bool):
    self.src, self.idx, self.reference = src, list(idx), reference

  def __len__(self):
    return len(self.idx)

  def __getitem__(self, s):
    out = []
    for i in self.idx[s]:
      rec = self.src.raw(int(i))      # decode only the side asked for
      out.append(self.src.reference(rec["ref_id"]) if self.reference else
                 images_lib.decode(rec["image"], name=rec["name"]))
    return out


def _scorer_kwargs(cfg, metric: str) -> dict:
  spec = fr_registry.spec(metric)
  if "projections" not in spec.weight_names or (
      cfg.projection_seed == smic.DEFAULT_PROJECTION_SEED and
      cfg.projection_kind == "xavier"):
    return {}
  return {"projections": smic.random_projections(
      jax.random.key(cfg.projection_seed), kind=cfg.projection_kind)}


def _cache_path(root: Path, cfg, dataset: str, metric: str) -> Path:
  tag = ""
  if "projections" in fr_registry.spec(metric).weight_names and (
      cfg.projection_seed != smic.DEFAULT_PROJECTION_SEED or
      cfg.projection_kind != "xavier"):
    tag = f"__{cfg.projection_kind}{cfg.projection_seed}"
  return root / "scores" / dataset / f"{metric}{tag}.csv"


def _read_cache(path: Path) -> dict[str, float]:
  if not path.exists():
    return {}
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f))
  if not rows or rows[0] != ["image", "score"]:
    raise ValueError(f"{path} is not a score cache (header image,score); "
                     "delete it to score again.")
  return {r[0]: float(r[1]) for r in rows[1:]}


def _write_cache(path: Path, scores: dict[str, float]) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["image", "score"])
    for k, v in scores.items():
      w.writerow([k, repr(float(v))])
  tmp.replace(path)


def score_dataset(cfg, root: Path, src, idx, metric: str, *,
                  log=print) -> np.ndarray:
  """(len(idx),) scores of `metric` on the images `idx` of `src`, from the
  cache where present; the missing ones are scored (grouped by image size)
  and added to the cache."""
  path = _cache_path(root, cfg, src.name, metric)
  cache = _read_cache(path)
  names = [src.names[i] for i in idx]
  todo = [i for i, n in zip(idx, names) if n not in cache]
  if todo:
    t0 = time.time()
    scorer = scoring.get(metric, batch_size=cfg.batch_size,
                         **_scorer_kwargs(cfg, metric))
    groups = parallel.group_by_shape(todo, shape_of=lambda i: _size(src, i))
    for (h, w), members in groups.items():
      part = [todo[k] for k in members]
      values = scorer(_Column(src, part, True), _Column(src, part, False),
                      progress=cfg.progress)
      for i, v in zip(part, values):
        cache[src.names[i]] = float(v)
      _write_cache(path, cache)   # after each size: an interrupted run keeps it
    log(f"{src.name} / {metric}: {len(todo)} pairs scored in "
        f"{time.time() - t0:.1f} s")
  return np.array([cache[n] for n in names], np.float64)


def _evaluate(pred, mos, *, lower: bool, fit: str) -> dict:
  pred, n_inf = stats.place_infinite(pred)
  ev = stats.evaluate(pred, mos, fit=fit, lower_is_better=lower)
  return {"n": ev.n, "srcc": ev.srcc, "krcc": ev.krcc, "plcc": ev.plcc,
          "plcc_fit": ev.plcc_fitted, "rmse_fit": ev.rmse_fitted,
          "infinite": n_inf}


def _relative(row, plain):
  for k in ("srcc", "plcc_fit"):
    base = plain[k]
    row[f"{k}_change_pct"] = (100.0 * (row[k] - base) / abs(base)
                              if base and math.isfinite(base) else math.nan)


def _wide(rows, datasets, versions, metrics):
  """Paper-shaped rows: one per (metric, version), SRCC / PLCC per dataset."""
  out = []
  for b in metrics:
    for v in versions:
      line = {"method": _LABEL[b] + _SUFFIX[v]}
      for d in datasets:
        r = next(x for x in rows if x["dataset"] == d and x["metric"] == b
                 and x["version"] == v)
        line[f"{d} SRCC"] = r["srcc"]
        line[f"{d} PLCC"] = r["plcc_fit"]
      out.append(line)
  return out


def _bar_plot(wd, rows, cfg):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  n = len(cfg.datasets)
  fig = Figure(figsize=(max(6, 1.6 * len(cfg.metrics)) * min(n, 2),
                        3.6 * math.ceil(n / 2)))
  width = 0.8 / len(cfg.versions)
  for k, d in enumerate(cfg.datasets):
    ax = fig.add_subplot(math.ceil(n / 2), min(n, 2), k + 1)
    x = np.arange(len(cfg.metrics))
    lo = 1.0
    for j, v in enumerate(cfg.versions):
      ys = [next(r["srcc"] for r in rows if r["dataset"] == d and
                 r["metric"] == b and r["version"] == v)
            for b in cfg.metrics]
      lo = min(lo, np.nanmin(ys))
      ax.bar(x + (j - (len(cfg.versions) - 1) / 2) * width, ys, width,
             label=_SUFFIX[v].strip() or "plain")
    ax.set_xticks(x, [_LABEL[b] for b in cfg.metrics])
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.set_ylabel("SRCC")
    ax.set_title(d)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
  fig.suptitle("SMIC (source text 003): SRCC with and without re-weighting")
  fig.tight_layout()
  return wd.save_figure(fig, "srcc")


def _fig5(wd, cfg, src, idx):
  """Fig. 5 panels: for each chosen pair, every metric's SMIC maps."""
  names = [src.names[i] for i in idx]
  chosen = ([names.index(n) for n in cfg.fig5_names if n in names]
            if cfg.fig5_names else list(range(min(cfg.fig5_pairs,
                                                  len(names)))))
  missing = [n for n in cfg.fig5_names if n not in names]
  if missing:
    raise ValueError(f"fig5_names {missing} are not images of {src.name} "
                     f"(in this run); e.g. {names[:3]}.")
  out = []
  scorers = {b: scoring.get(metric_name(b, "smic"), batch_size=1,
                            **_scorer_kwargs(cfg, metric_name(b, "smic")))
             for b in cfg.metrics}
  for k in chosen:
    rec = src[int(idx[k])]
    rows, shown = {}, None
    for b, scorer in scorers.items():
      ref = scorer.preprocessed(rec["reference"])
      dist = scorer.preprocessed(rec["image"])
      shown = shown or (ref, dist)
      rows.update(maps_lib.pair_rows(scorer.maps(ref[None], dist[None]), 0,
                                     prefix=_LABEL[b] + "-SMIC"))
    fig = maps_lib.figure(*shown, rows, title=f"{src.name}: {names[k]} "
                          f"({src.metadata['score_name']} "
                          f"{src.scores[idx[k]]:.3g})")
    stem = Path(names[k]).stem
    out.append(maps_lib.save(fig, wd.path(f"fig5_{src.name}_{stem}.png")))
  return out


def run(cfg, workdir, *, log=print) -> dict:
  """Scores, evaluates and draws everything (module docstring)."""
  _check(cfg)
  manual = _manual_dirs(cfg)
  root = Path(workdir)
  wd = results.create_workdir(root / "results", cfg.to_dict(),
                              overwrite=True)
  rows, figures = [], []
  for d in cfg.datasets:
    src = data.load(d, data_dir=(os.path.expanduser(cfg.data_dir)
                                 if cfg.data_dir else None),
                    manual_dir=manual.get(d))
    idx = _subset(src, cfg.max_refs)
    mos = src.score_norm[idx]
    for b in cfg.metrics:
      plain = None
      for v in cfg.versions:
        m = metric_name(b, v)
        pred = score_dataset(cfg, root, src, idx, m, log=log)
        row = {"dataset": d, "metric": b, "version": v, "name": m,
               **_evaluate(pred, mos, lower=fr_registry.lower_is_better(m),
                           fit=cfg.fit)}
        if v == "plain":
          plain = row
        elif plain is not None:
          _relative(row, plain)
        rows.append(row)
    if cfg.fig5_pairs or cfg.fig5_names:
      figures += _fig5(wd, cfg, src, idx)
  wd.write_table("results", rows, floatfmt=".4f")
  t1 = [v for v in ("plain", "smic") if v in cfg.versions]
  t2 = [v for v in ("mic", "smic") if v in cfg.versions]
  md1 = wd.write_table("table_1", _wide(rows, cfg.datasets, t1, cfg.metrics),
                       floatfmt=".3f")
  md2 = (wd.write_table("table_2", _wide(rows, cfg.datasets, t2,
                                         cfg.metrics), floatfmt=".3f")
         if len(t2) == 2 else "")
  plot = _bar_plot(wd, rows, cfg)
  summary = {"table_1": md1, "table_2": md2, "plot": str(plot),
             "fig5": [str(f) for f in figures], "workdir": str(wd.root)}
  wd.write_results({**summary, "rows": rows})
  return summary
