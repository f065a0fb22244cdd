"""Tables and plots of distill360 from the finished cells (Sec. IV).

Written into the work directory:
  cells.csv / .md        every (sampler, selector, distance, h, rate, fold,
                         seed) cell: SRCC, PLCC (4PL-fitted), patch counts,
                         training time
  summary.csv / .md      per configuration: medians over folds and seeds,
                         and the mean, standard deviation and interquartile
                         range of SRCC and PLCC
  table2.md / .csv       peak PLCC / SRCC per sampler x selector x distance
                         and the rate reaching each, next to the 100 %
                         baseline (Table II)
  min_rate.md / .csv     the smallest rate whose median beats the baseline
                         ("none" if no rate does), per selector (Fig. 2)
  min_rate.png           Fig. 2: median PLCC and SRCC minus the baseline's
                         against the rate, per selector; the first rate above
                         0 is marked
  rates_<sampler>.png    PLCC and SRCC against the rate: median over folds,
                         the interquartile range shaded, the baseline dashed
  h.png                  Fig. 3: PLCC and SRCC against h: every fold a point,
                         mean +- one standard deviation shaded, the baseline
  objective.png          Fig. 5: the solver's objective per iteration
  anova.md / .csv        Fig. 4: type-II ANOVA of PLCC and SRCC over
                         sampler, distance, log rate and log h (residual
                         cells), + anova.png, the -log10(p) heatmap
  compute.md / .csv      training patches and time per rate against the
                         baseline (the compute selection saves)
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from iqa_jax import anova, results

__all__ = ["write", "summarise", "h_key", "anova_tables"]

METRICS = ("plcc", "srcc")


def h_key(h) -> float:
  """Sort key of an h column entry (an int, or "-" for other selectors)."""
  try:
    return float(h)
  except (TypeError, ValueError):
    return -1.0


def _finite(xs):
  return [float(x) for x in xs if x is not None and not math.isnan(x)]


def _stat(xs, fn):
  xs = _finite(xs)
  return float(fn(xs)) if xs else math.nan


def summarise(rows):
  """Per configuration: median, mean, std and quartiles over folds and
  seeds of SRCC and PLCC; sorted with h numeric."""
  groups = defaultdict(list)
  for r in rows:
    groups[(r["sampler"], r["selector"], r["distance"], str(r["h"]),
            float(r["rate"]))].append(r)
  out = []
  for (sampler, sel, d, h, rate), rs in sorted(
      groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2],
                                      h_key(kv[0][3]), kv[0][4])):
    row = {"sampler": sampler, "selector": sel, "distance": d, "h": h,
           "rate": rate, "n_cells": len(rs)}
    for m in METRICS:
      v = [r[m] for r in rs]
      row[m] = _stat(v, np.median)
      row[f"{m}_mean"] = _stat(v, np.mean)
      row[f"{m}_std"] = _stat(v, np.std)
      row[f"{m}_q25"] = _stat(v, lambda x: np.quantile(x, 0.25))
      row[f"{m}_q75"] = _stat(v, lambda x: np.quantile(x, 0.75))
    row["train_patches"] = int(round(np.mean([r["n_train_patches"]
                                              for r in rs])))
    row["train_seconds"] = float(np.mean([r["train_seconds"] for r in rs]))
    out.append(row)
  return out


def _fig(ncols=2):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(5.5 * ncols, 4), layout="constrained")
  return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _label(sel, d):
  return sel if sel != "residual" else f"residual ({d})"


def anova_tables(rows):
  """Type-II ANOVA of PLCC and SRCC over the residual selector's cells
  (sampler, distance categorical; log rate, log h continuous); None when
  there are too few cells or no factor varies."""
  cells = [dict(r, log_rate=math.log(r["rate"]), log_h=math.log(int(r["h"])))
           for r in rows if r["selector"] == "residual" and r["rate"] < 1]
  out = {}
  for m in METRICS:
    try:
      out[m] = anova.anova_type2(cells, m, categorical=("sampler",
                                                        "distance"),
                                 continuous=("log_rate", "log_h"))
    except (ValueError, IndexError, KeyError):
      return None
    if len(out[m]["table"]) < 2:
      return None
  return out


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
  table2, min_rate, compute = [], [], []
  by = defaultdict(list)
  for s in main:
    by[(s["sampler"], s["selector"], s["distance"])].append(s)
  for (sampler, sel, d), ss in sorted(by.items()):
    b = base.get(sampler)
    best = {m: max(ss, key=lambda s, m=m: -np.inf if math.isnan(s[m])
                   else s[m]) for m in METRICS}
    table2.append({"sampler": sampler, "selector": sel, "distance": d,
                   "peak PLCC": best["plcc"]["plcc"],
                   "PLCC at rate": best["plcc"]["rate"],
                   "peak SRCC": best["srcc"]["srcc"],
                   "SRCC at rate": best["srcc"]["rate"],
                   "baseline PLCC": b["plcc"] if b else math.nan,
                   "baseline SRCC": b["srcc"] if b else math.nan})
    if b:
      ordered = sorted(ss, key=lambda s: s["rate"])
      first = {m: next((s["rate"] for s in ordered if s[m] > b[m]), "none")
               for m in METRICS}
      min_rate.append({"sampler": sampler, "selector": sel, "distance": d,
                       "min rate PLCC > baseline": first["plcc"],
                       "min rate SRCC > baseline": first["srcc"]})
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
  plots += _plot_rates(wd, summ, by, base, cfg)
  if min_rate:
    plots.append(_plot_min_rate(wd, by, base, cfg))
  h_rows = [s for s in summ if s["selector"] == "residual"
            and s["rate"] == cfg.h_sweep_rate and cfg.distances
            and s["distance"] == cfg.distances[0]
            and s["sampler"] == cfg.samplers[0]]
  h_rows = sorted(h_rows, key=lambda s: int(s["h"]))
  if len(h_rows) > 1:
    plots.append(_plot_h(wd, rows, h_rows, base, cfg, skipped_h))
  if objectives:
    plots.append(_plot_objective(wd, objectives))
  tables = anova_tables(rows)
  anova_rows = []
  if tables:
    for m, t in tables.items():
      for r in t["table"]:
        anova_rows.append({"metric": m.upper(), **r,
                           "-log10 p": (-math.log10(max(r["p"], 1e-300))
                                        if not math.isnan(r["p"]) else
                                        math.nan)})
    wd.write_table("anova", anova_rows)
    plots.append(_plot_anova(wd, tables, cfg))
  return {"cells": len(rows), "table2": table2, "min_rate": min_rate,
          "summary": summ, "h_sweep": [
              {"h": s["h"], "plcc": s["plcc"], "srcc": s["srcc"],
               "plcc_std": s["plcc_std"], "srcc_std": s["srcc_std"]}
              for s in h_rows], "skipped_h": list(skipped_h),
          "anova": anova_rows, "plots": plots, "table2_markdown": md2}


def _plot_rates(wd, summ, by, base, cfg):
  plots = []
  for sampler in sorted({s["sampler"] for s in summ}):
    fig, axes = _fig()
    for ax, m in zip(axes, METRICS):
      for i, ((smp, sel, d), ss) in enumerate(sorted(by.items())):
        if smp != sampler:
          continue
        ss = sorted(ss, key=lambda s: s["rate"])
        x = [s["rate"] for s in ss]
        ax.plot(x, [s[m] for s in ss], marker="o", label=_label(sel, d),
                color=f"C{i}")
        ax.fill_between(x, [s[f"{m}_q25"] for s in ss],
                        [s[f"{m}_q75"] for s in ss], color=f"C{i}",
                        alpha=0.15, lw=0)
      if sampler in base:
        b = base[sampler]
        ax.axhline(b[m], ls="--", color="k", label="all patches (100 %)")
        ax.axhspan(b[f"{m}_q25"], b[f"{m}_q75"], color="k", alpha=0.06,
                   lw=0)
      ax.set_xlabel("selection rate")
      ax.set_ylabel(m.upper())
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
    fig.suptitle(f"{cfg.dataset}, {sampler} sampling: median over folds, "
                 "interquartile range shaded", fontsize=10)
    plots.append(str(wd.save_figure(fig, f"rates_{sampler}")))
  return plots


def _plot_min_rate(wd, by, base, cfg):
  fig, axes = _fig()
  for ax, m in zip(axes, METRICS):
    for i, ((sampler, sel, d), ss) in enumerate(sorted(by.items())):
      b = base.get(sampler)
      if b is None:
        continue
      ss = sorted(ss, key=lambda s: s["rate"])
      x = [s["rate"] for s in ss]
      gain = [s[m] - b[m] for s in ss]
      label = _label(sel, d) + (f", {sampler}" if len(base) > 1 else "")
      first = next((r for r, g in zip(x, gain) if g > 0), None)
      label += (f": min rate {first:g}" if first is not None else
                ": never above")
      ax.plot(x, gain, marker="o", color=f"C{i}", label=label)
      if first is not None:
        ax.plot([first], [gain[x.index(first)]], marker="*", ms=16,
                color=f"C{i}", mec="k")
    ax.axhline(0, color="k", ls="--", lw=1)
    ax.set_xlabel("selection rate")
    ax.set_ylabel(f"median {m.upper()} minus the 100 % baseline")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  fig.suptitle(f"Fig. 2, {cfg.dataset}: gain over all patches; a star marks "
               "the smallest rate beating the baseline", fontsize=10)
  return str(wd.save_figure(fig, "min_rate"))


def _plot_h(wd, rows, h_rows, base, cfg, skipped_h):
  from matplotlib.ticker import NullFormatter  # pylint: disable=g-import-not-at-top
  sampler, d = cfg.samplers[0], cfg.distances[0]
  hs = [int(s["h"]) for s in h_rows]
  fig, axes = _fig()
  for ax, m in zip(axes, METRICS):
    pts = [(int(r["h"]), r[m]) for r in rows
           if r["selector"] == "residual" and r["rate"] == cfg.h_sweep_rate
           and r["distance"] == d and r["sampler"] == sampler]
    ax.scatter(*zip(*pts), s=12, color="C0", alpha=0.5, label="one fold")
    mean = np.array([s[f"{m}_mean"] for s in h_rows])
    std = np.array([s[f"{m}_std"] for s in h_rows])
    ax.plot(hs, mean, color="C0", label="mean over folds")
    ax.fill_between(hs, mean - std, mean + std, color="C0", alpha=0.2, lw=0,
                    label="+- 1 std")
    if sampler in base:
      ax.axhline(base[sampler][m], ls="--", color="k",
                 label="all patches (100 %)")
    ax.set_xscale("log")
    ax.set_xticks(hs, [str(h) for h in hs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("h (rank of Z)")
    ax.set_ylabel(m.upper())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  note = (f"; skipped h: {sorted({s['h'] for s in skipped_h})} "
          "(more than the patches per image)" if skipped_h else "")
  fig.suptitle(f"Fig. 3, {cfg.dataset}: {sampler}, {d}, rate "
               f"{cfg.h_sweep_rate:g}{note}", fontsize=10)
  return str(wd.save_figure(fig, "h"))


def _plot_objective(wd, objectives):
  fig, (ax,) = _fig(1)

  def key(label):
    h = label.rsplit("h=", 1)[-1]
    return (label.rsplit("h=", 1)[0], h_key(h))
  for label in sorted(objectives, key=key):
    c = np.asarray(objectives[label], np.float64)
    c = c[np.isfinite(c)]
    ax.plot(np.arange(len(c)), c, marker=".", label=label)
  ax.set_xlabel("iteration")
  ax.set_ylabel("objective / objective at start (mean over images)")
  ax.set_yscale("log")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  ax.set_title("Fig. 5: W/R solver objective (Eq. 7) per iteration",
               fontsize=10)
  return str(wd.save_figure(fig, "objective"))


def _plot_anova(wd, tables, cfg):
  factors = [r["factor"] for r in tables["plcc"]["table"]
             if r["factor"] != "Residual"]
  grid = np.array([[-math.log10(max(r["p"], 1e-300))
                    for r in tables[m]["table"] if r["factor"] != "Residual"]
                   for m in METRICS]).T
  fig, (ax,) = _fig(1)
  im = ax.imshow(grid, cmap="viridis", aspect="auto")
  ax.set_xticks(range(len(METRICS)), [m.upper() for m in METRICS])
  ax.set_yticks(range(len(factors)), factors)
  for i in range(grid.shape[0]):
    for j in range(grid.shape[1]):
      ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center",
              color="w" if grid[i, j] < grid.max() / 2 else "k")
  fig.colorbar(im, ax=ax, label="-log10(p); 1.3 is p = 0.05")
  dropped = tables["plcc"]["dropped"]
  ax.set_title(f"Fig. 4, {cfg.dataset}: type-II ANOVA (residual cells)"
               + (f"\nconstant, left out: {', '.join(dropped)}"
                  if dropped else ""), fontsize=10)
  return str(wd.save_figure(fig, "anova"))
