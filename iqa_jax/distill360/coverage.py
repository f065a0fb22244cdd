"""NAC saturation curves of the W/R selection (source text 001, Fig. 6-7).

  python experiments/nac.py --workdir /tmp/nac [--config runlocal]

Two scenarios per image source, as Sec. IV-C.5:
  1. one source image under JPEG, JPEG 2000, Gaussian noise and Gaussian
     blur (the middle level of each in `demo2d.LEVELS`: quality 15, ratio
     48, sigma 0.08, sigma 2.4 pixels);
  2. four source images of different quality under the same JPEG (q 15).
Sources (`sources`, registered datasets): `demo360` (its first references,
ERP patches) and real photographs (LIVEC, grid patches; scenario 1 uses the
highest-MOS photograph, scenario 2 the photographs at MOS quantiles 0.05,
0.35, 0.65, 0.95, each compressed again; LIVEC's own distortions are
authentic, so these are real contents under synthetic distortions).

Per image: sample patches, embed them (VGG16 relu5_3 GAP), rank them with
the residual selector (and the random one, for comparison), map the
embeddings with t-SNE (seeded) and compute NAC at every rate
(`iqa_jax.nac`). Writes nac.csv / .md, nac.png (Fig. 7: one panel per
source and scenario, residual solid, random dashed) and
tsne_<source>.png (Fig. 6: all patches grey, the kept ones coloured, both
hulls drawn) into the work directory.
"""

from __future__ import annotations

from pathlib import Path

import jax
import ml_collections
import numpy as np

from iqa_jax import data, embed, images, nac, parallel, results, sampling
from iqa_jax import selection
from iqa_jax.data import demo2d, registry

__all__ = ["get_config", "run", "scenario_images"]

_LIVEC = Path(__file__).resolve().parents[3] / "shared" / "data" / "livec"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.sources = ("demo360", "livec")
  c.livec_dir = str(_LIVEC / "ChallengeDB_release")   # manual_dir for LIVEC
  c.data_dir = ""            # prepared datasets ("": $IQA_JAX_HOME/datasets)
  c.patch_size = 32          # 200 ERP patches per demo360 panorama,
  #                            225 grid patches per 500 x 500 photograph
  c.h = 10                   # the residual selector's settings
  c.distance = "euclidean"
  c.rates = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
  c.fig6_rate = 0.3          # the selection drawn in Fig. 6
  c.seed = 0                 # t-SNE, random selection and noise
  c.perplexity = 30.0
  if arg == "runlocal":
    c.sources = ("demo360",)
    c.patch_size = 64
  elif arg not in (None, ""):
    raise ValueError(f"unknown preset {arg!r}; use runlocal or nothing.")
  return c


def _distort(key, image, kind):
  u8 = images.to_uint8(image)
  return demo2d.distort(key, u8, kind=kind,
                        param=demo2d.LEVELS[kind][2]).astype(np.float32) / 255


def scenario_images(cfg, source: str):
  """{scenario: [(label, image (H, W, 3) in [0, 1])]}, and the sampler.

  `source` is a registered dataset: a 360-degree one gives its first four
  references and ERP patches; a 2-D one with references (demo2d) its first
  four references, one without (LIVEC) the images at MOS quantiles 0.05,
  0.35, 0.65 and 0.95, scenario 1 using the highest of them; both grid
  patches.
  """
  key = jax.random.key(cfg.seed)
  spec = registry.get(source)
  sampler = "erp" if spec.kind == "360" else "grid"
  opts = dict(data_dir=cfg.data_dir or None)
  if source == "livec":
    opts.update(manual_dir=cfg.livec_dir or None, allow_missing=True)
  src = data.load(source, **opts)
  try:
    refs = data.load(source, split="references", **opts)
  except ValueError:   # an NR set: no reference split
    refs = None
  if refs is not None and len(refs) >= 4:
    pics = [(refs.names[i], refs[i]["image"]) for i in range(4)]
  else:
    order = np.argsort(src.score_norm)
    picks = [order[int(q * (len(order) - 1))] for q in (0.05, 0.35, 0.65,
                                                        0.95)]
    pics = [(f"{src.names[i]} (MOS {src.scores[i]:.0f})", src[i]["image"])
            for i in picks]
    pics = [pics[-1], *pics[:-1]]     # scenario 1 uses the best photograph
  name, first = pics[0]
  one = [(kind, _distort(jax.random.fold_in(key, k), first, kind))
         for k, kind in enumerate(("jpeg", "jpeg2000", "noise", "blur"))]
  four = [(label, _distort(key, img, "jpeg")) for label, img in pics]
  return {f"1: {name} under four distortions": one,
          "2: four images under JPEG q15": four}, sampler


def _analyse(cfg, encoder, image, sampler):
  p = sampling.sample(sampler, image, key=jax.random.key(cfg.seed),
                      size=cfg.patch_size)
  e = embed.embed(encoder, np.asarray(p.patches), batch_size=64)
  v = nac.tsne(e, seed=cfg.seed, perplexity=cfg.perplexity)
  orders = {
      "residual": selection.rank("residual", embeddings=e, h=cfg.h,
                                 distance=cfg.distance).order,
      "random": selection.rank("random", jax.random.key(cfg.seed),
                               embeddings=e).order}
  return v, orders


def run(cfg, workdir) -> dict:
  """Computes every curve, writes tables and figures; returns the rows."""
  from iqa_jax.models import vgg  # pylint: disable=g-import-not-at-top
  wd = results.create_workdir(workdir, cfg.to_dict(), overwrite=True)
  encoder = vgg.VGG16.pretrained()
  rows, maps = [], {}
  jobs = []
  for source in cfg.sources:
    scenarios, sampler = scenario_images(cfg, source)
    for scen, pics in scenarios.items():
      jobs += [(source, sampler, scen, label, img) for label, img in pics]
  bar = parallel.progress_bar(total=len(jobs), desc="NAC", unit="image")
  for source, sampler, scen, label, img in jobs:
    v, orders = _analyse(cfg, encoder, img, sampler)
    maps.setdefault(source, (label, v, orders))
    for sel, order in orders.items():
      for rate, value in zip(cfg.rates, nac.nac_curve(v, order,
                                                      rates=cfg.rates)):
        rows.append({"source": source, "scenario": scen, "image": label,
                     "selector": sel, "rate": rate, "nac": float(value),
                     "patches": len(order)})
    bar.update(1)
  bar.close()
  wd.write_table("nac", rows)
  plots = [str(_fig7(wd, rows, cfg))]
  for source, (label, v, orders) in maps.items():
    plots.append(str(_fig6(wd, source, label, v, orders["residual"], cfg)))
  wd.write_results({"rows": rows, "plots": plots})
  return {"rows": rows, "plots": plots, "workdir": str(wd.root)}


def _fig7(wd, rows, cfg):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  panels = sorted({(r["source"], r["scenario"]) for r in rows})
  sources = list(dict.fromkeys(p[0] for p in panels))
  ncols = max(sum(p[0] == s for p in panels) for s in sources)
  fig = Figure(figsize=(6 * ncols, 4.4 * len(sources)), layout="constrained")
  for k, (source, scen) in enumerate(panels):
    ax = fig.add_subplot(len(sources), ncols, k + 1)
    labels = list(dict.fromkeys(r["image"] for r in rows
                                if (r["source"], r["scenario"]) ==
                                (source, scen)))
    for i, label in enumerate(labels):
      for sel, ls in (("residual", "-"), ("random", "--")):
        pts = sorted((r["rate"], r["nac"]) for r in rows
                     if (r["source"], r["scenario"], r["image"],
                         r["selector"]) == (source, scen, label, sel))
        ax.plot(*zip(*pts), ls=ls, marker="o" if sel == "residual" else None,
                color=f"C{i}", label=label if sel == "residual" else None)
    ax.plot([], [], "k--", label="random selection (dashed)")
    ax.set_title(f"{source}, scenario {scen}", fontsize=9)
    ax.set_xlabel("selection rate")
    ax.set_ylabel("NAC (hull area of kept / all, t-SNE)")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
  fig.suptitle("Fig. 7: normalised area coverage of the W/R selection "
               f"(h = {cfg.h}, {cfg.distance})")
  return wd.save_figure(fig, "nac")


def _fig6(wd, source, label, v, order, cfg):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from scipy.spatial import ConvexHull  # pylint: disable=g-import-not-at-top
  keep = order[:selection.base.resolve_k(len(order), rate=cfg.fig6_rate)]
  fig = Figure(figsize=(6, 5.5))
  ax = fig.add_subplot(1, 1, 1)
  ax.scatter(v[:, 0], v[:, 1], s=14, c="0.7", label=f"all {len(v)} patches")
  ax.scatter(v[keep, 0], v[keep, 1], s=18, c="C1",
             label=f"kept at rate {cfg.fig6_rate:g} ({len(keep)})")
  for pts, color in ((v, "0.5"), (v[keep], "C1")):
    hull = ConvexHull(pts)
    ring = np.append(hull.vertices, hull.vertices[0])
    ax.plot(pts[ring, 0], pts[ring, 1], color=color, lw=1)
  ax.set_title(f"Fig. 6: t-SNE of {source} patches ({label}), "
               f"NAC = {nac.nac(v, keep):.2f}", fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  ax.legend(fontsize=8)
  return wd.save_figure(fig, f"tsne_{source}")
