"""Tables and plots of distill360 from the finished cells (Sec. IV).

Written into the work directory:
  cells.csv / .md        every (sampler, selector, distance, h, rate, fold,
                         seed) cell: SRCC, PLCC (4PL-fitted), patch counts,
                         training time
  summary.csv / .md      medians over folds and seeds per configuration
  table2.md / .csv       peak PLCC / SRCC per sampler x distance and the rate
                         reaching it, next to the 100 % baseline (Table II)
  min_rate.md / .csv     the smallest rate whose median beats the baseline,
                         per sampler and selector (Fig. 2), + min_rate.png
  rates_<sampler>.png    PLCC and SRCC against the selection rate
  h.png                  PLCC and SRCC against h (Fig. 3), skipped h listed
  objective.png          the solver's objective per iteration (Fig. 5)
  compute.md / .csv      training patches and time per rate against the
                         baseline (the compute selection saves)
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from iqa_jax import results

__all__ = ["write", "summarise"]


def _median(xs):
  xs = [x for x in xs if x is not None and not math.isnan(x)]
  return float(np.median(xs)) if xs else math.nan


def summarise(rows):
  """Median SRCC / PLCC over folds and seeds per configuration."""
  groups = defaultdict(list)
  for r in rows:
    groups[(r["sampler"], r["selector"], r["distance"], str(r["h"]),
            float(r["rate"]))].append(r)
  out = []
  for (sampler, sel, d, h, rate), rs in sorted(groups.items()):
    out.append({"sampler": sampler, "selector": sel, "distance": d, "h": h,
                "rate": rate, "n_cells": len(rs),
                "srcc": _median([r["srcc"] for r in rs]),
                "plcc": _median([r["plcc"] for r in rs]),
                "train_patches": float(np.mean([r["n_train_patches"]
                                                 for r in rs])),
                "train_seconds": float(np.mean([r["train_seconds"]
                                                 for r in rs]))})
  return out


def _fig(ncols=2):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(5.5 * ncols, 4))
  return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def write(wd: results.Workdir, rows, cfg, *, objectives=None,
          skipped_h=()) -> dict:
  """Writes every table and plot; returns the summary for results.json."""
  if not rows:
    return {"cells": 0}
  wd.write_table("cells", rows)
  summ = summarise(rows)
  wd.write_table("summary", summ)
  base = {s["sampler"]: s for s in summ if s["selector"] == "all"}
  main = [s for s in summ if s["rate"] < 1 and (
      s["selector"] != "residual" or s["h"] == str(cfg.h))]
  # Table II: peak over rates, residual selector, per sampler x distance.
  table2, min_rate, compute = [], [], []
  by = defaultdict(list)
  for s in main:
    by[(s["sampler"], s["selector"], s["distance"])].append(s)
  for (sampler, sel, d), ss in sorted(by.items()):
    b = base.get(sampler)
    best_p = max(ss, key=lambda s: -np.inf if math.isnan(s["plcc"])
                 else s["plcc"])
    best_s = max(ss, key=lambda s: -np.inf if math.isnan(s["srcc"])
                 else s["srcc"])
    table2.append({"sampler": sampler, "selector": sel, "distance": d,
                   "peak PLCC": best_p["plcc"], "at rate": best_p["rate"],
                   "peak SRCC": best_s["srcc"], "at rate ": best_s["rate"],
                   "baseline PLCC": b["plcc"] if b else math.nan,
                   "baseline SRCC": b["srcc"] if b else math.nan})
    if b:
      ok_p = [s["rate"] for s in sorted(ss, key=lambda s: s["rate"])
              if s["plcc"] > b["plcc"]]
      ok_s = [s["rate"] for s in sorted(ss, key=lambda s: s["rate"])
              if s["srcc"] > b["srcc"]]
      min_rate.append({"sampler": sampler, "selector": sel, "distance": d,
                       "min rate PLCC > baseline":
                           ok_p[0] if ok_p else "none",
                       "min rate SRCC > baseline":
                           ok_s[0] if ok_s else "none"})
  for sampler, b in base.items():
    for s in sorted(main, key=lambda s: (s["selector"], s["rate"])):
      if s["sampler"] == sampler:
        compute.append({"sampler": sampler, "selector": s["selector"],
                        "distance": s["distance"], "rate": s["rate"],
                        "train patches": s["train_patches"],
                        "vs baseline": s["train_patches"] / b["train_patches"],
                        "train s": s["train_seconds"],
                        "baseline train s": b["train_seconds"]})
  md2 = wd.write_table("table2", table2)
  wd.write_table("min_rate", min_rate) if min_rate else None
  wd.write_table("compute", compute) if compute else None
  plots = []

  # PLCC / SRCC against the rate.
  for sampler in sorted({s["sampler"] for s in summ}):
    fig, axes = _fig()
    for ax, metric in zip(axes, ("plcc", "srcc")):
      for i, ((smp, sel, d), ss) in enumerate(sorted(by.items())):
        if smp != sampler:
          continue
        ss = sorted(ss, key=lambda s: s["rate"])
        label = sel if sel != "residual" else f"residual ({d})"
        ax.plot([s["rate"] for s in ss], [s[metric] for s in ss],
                marker="o", label=label, color=f"C{i}")
      if sampler in base:
        ax.axhline(base[sampler][metric], ls="--", color="k",
                   label="all patches (100 %)")
      ax.set_xlabel("selection rate")
      ax.set_ylabel(metric.upper())
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
    fig.suptitle(f"{cfg.dataset}, {sampler} sampling: median over folds")
    plots.append(str(wd.save_figure(fig, f"rates_{sampler}")))

  # Fig. 2: minimum rate beating the baseline.
  bars = [m for m in min_rate if m["min rate PLCC > baseline"] != "none"]
  if min_rate:
    fig, (ax,) = _fig(1)
    labels = [f"{m['sampler']}\n{m['selector']}" + (
        f"\n{m['distance']}" if m["distance"] != "-" else "")
              for m in min_rate]
    vals = [m["min rate PLCC > baseline"] if m["min rate PLCC > baseline"]
            != "none" else 0.0 for m in min_rate]
    ax.bar(range(len(vals)), vals, color=[
        "C0" if m in bars else "0.8" for m in min_rate])
    ax.set_xticks(range(len(vals)), labels, fontsize=8)
    ax.set_ylabel("min rate with PLCC > 100 % baseline")
    ax.set_ylim(0, 1)
    ax.set_title("Fig. 2 (grey: never beats the baseline)")
    plots.append(str(wd.save_figure(fig, "min_rate")))

  # Fig. 3: against h.
  h_rows = [s for s in summ if s["selector"] == "residual"
            and s["rate"] == cfg.h_sweep_rate and cfg.distances
            and s["distance"] == cfg.distances[0]
            and s["sampler"] == cfg.samplers[0]]
  h_rows = sorted(h_rows, key=lambda s: int(s["h"]))
  if len(h_rows) > 1:
    fig, axes = _fig()
    for ax, metric in zip(axes, ("plcc", "srcc")):
      ax.plot([int(s["h"]) for s in h_rows], [s[metric] for s in h_rows],
              marker="o")
      ax.set_xscale("log")
      ax.set_xlabel("h")
      ax.set_ylabel(metric.upper())
      ax.grid(alpha=0.3)
    note = (f"; skipped h: {sorted({s['h'] for s in skipped_h})} "
            "(more than the patches per image)" if skipped_h else "")
    fig.suptitle(f"rate {cfg.h_sweep_rate:g}, {cfg.distances[0]}{note}",
                 fontsize=9)
    plots.append(str(wd.save_figure(fig, "h")))

  # Fig. 5: objective per iteration.
  if objectives:
    fig, (ax,) = _fig(1)
    for label, curve in sorted(objectives.items()):
      c = np.asarray(curve, np.float64)
      c = c[np.isfinite(c)]
      ax.plot(np.arange(len(c)), c, marker=".", label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective / objective at start (mean over images)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    plots.append(str(wd.save_figure(fig, "objective")))

  return {"cells": len(rows), "table2": table2, "min_rate": min_rate,
          "summary": summ, "h_sweep": [
              {"h": s["h"], "plcc": s["plcc"], "srcc": s["srcc"]}
              for s in h_rows], "skipped_h": list(skipped_h),
          "plots": plots, "table2_markdown": md2}
