"""Runs the distill360 protocol end to end into a work directory.

  summary = run(get_config("runlocal"), "/tmp/distill360_demo")

sample -> embed (cached) -> rank patches per selector -> for every rate,
fold and seed train the regressor on the kept patches and evaluate the
pooled test scores -> tables and plots (`report.py`). Every finished cell is
written to WORKDIR/cells/ at once and skipped when the run is started again;
a cell killed during training resumes from its orbax checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
import numpy as np

from iqa_jax import (data, parallel, pooling, regression, results,
                     sampling, selection)
from iqa_jax.data import registry, splits
from iqa_jax.distill360 import cells, patches, report
from iqa_jax.selection import distances

__all__ = ["run", "validate"]


def validate(cfg) -> None:
  """Refuses a configuration that cannot run, before any compute."""
  spec = registry.get(cfg.dataset)
  kind = "360" if spec.kind == "360" else "2d"
  allowed = [n for n, s in sampling.SAMPLERS.items() if s.kind == kind
             and not set(sampling.required_options(n)) - {"size"}]
  bad = [s for s in cfg.samplers if s not in allowed]
  if bad or not cfg.samplers:
    raise ValueError(f"samplers {list(cfg.samplers)}: {cfg.dataset} is a "
                     f"{'360-degree' if spec.kind == '360' else '2-D'} set; "
                     f"use some of {allowed}.")
  # The experiment sets greedy's threshold (greedy_threshold); the others
  # must need no option of their own.
  usable = [n for n in selection.SELECTORS
            if not set(selection.required_options(n)) - (
                {"threshold"} if n == "greedy" else set())]
  for s in cfg.selectors:
    if s not in usable:
      raise ValueError(f"selector {s!r} cannot run in distill360; use some "
                       f"of {usable} (variance_threshold keeps a "
                       "variance-dependent number of patches, not a rate).")
  if cfg.regressor not in ("mlp", "ridge"):
    raise ValueError(f"regressor must be 'mlp' or 'ridge', got "
                     f"{cfg.regressor!r}.")
  if cfg.regressor == "mlp":
    if cfg.schedule not in regression.SCHEDULES:
      raise ValueError(f"schedule must be one of {regression.SCHEDULES}, "
                       f"got {cfg.schedule!r}.")
    if cfg.ensemble < 1 or cfg.hidden < 1 or cfg.train_batch < 1:
      raise ValueError("ensemble, hidden and train_batch must be >= 1.")
    if cfg.mlp_init not in regression.INITS:
      raise ValueError(f"mlp_init must be one of {regression.INITS}, got "
                       f"{cfg.mlp_init!r}.")
    if cfg.mlp_init != "random" and cfg.hidden < 2:
      raise ValueError(f"mlp_init={cfg.mlp_init!r} needs hidden >= 2.")
    if not cfg.learning_rate > 0 or cfg.weight_decay < 0:
      raise ValueError("learning_rate must be > 0 and weight_decay >= 0.")
  elif not cfg.ridge_lambdas or any(v < 0 for v in cfg.ridge_lambdas):
    raise ValueError("ridge_lambdas must be non-empty and >= 0.")
  if "residual" in cfg.selectors or cfg.h_sweep:
    for d in cfg.distances:
      if d not in distances.DISTANCES:
        raise ValueError(f"unknown distance {d!r}; use "
                         f"{sorted(distances.DISTANCES)}.")
    if not cfg.distances:
      raise ValueError("the residual selector needs at least one distance.")
  rates = list(cfg.rates)
  if not rates or any(not 0 < r <= 1 for r in rates):
    raise ValueError(f"rates must lie in (0, 1], got {rates}: a rate of 0 "
                     "keeps no patch.")
  if not 0 < cfg.h_sweep_rate <= 1:
    raise ValueError("h_sweep_rate must lie in (0, 1].")
  pooling.get(cfg.pooling)
  if cfg.folds < 2:
    raise ValueError("folds must be >= 2.")
  if cfg.h < 1 or any(h < 1 for h in cfg.h_sweep):
    raise ValueError("h must be >= 1.")
  if not cfg.seeds:
    raise ValueError("seeds must not be empty.")


def _cell_file(wd, cid):
  return wd.path("cells") / f"{cid}.json"


def run(cfg, workdir, *, overwrite: bool = False) -> dict:
  """Runs (or resumes) the protocol; returns the summary dictionary."""
  validate(cfg)
  wd = results.create_workdir(workdir, cfg.to_dict(), overwrite=overwrite)
  encoder, encoder_id = patches.build_encoder(cfg)
  src = data.load(cfg.dataset, data_dir=cfg.data_dir or None,
                  manual_dir=cfg.manual_dir or None,
                  allow_missing=cfg.allow_missing)
  n_refs = len(np.unique(src.ref_ids))
  if n_refs < cfg.folds:
    raise ValueError(f"{cfg.dataset} has {n_refs} reference(s), fewer than "
                     f"folds={cfg.folds}; lower folds.")
  wd.path("cells").mkdir(exist_ok=True)
  print(f"distill360: {src!r}, {n_refs} references, samplers "
        f"{list(cfg.samplers)}, regressor {cfg.regressor}, work directory "
        f"{wd.root}")

  t_start = time.perf_counter()
  skipped_h = []
  obj_file = wd.path("objectives.json")
  objectives = json.loads(obj_file.read_text()) if obj_file.exists() else {}
  for sampler in cfg.samplers:
    ps = patches.patch_set(cfg, src, sampler, encoder, encoder_id,
                           progress=cfg.progress)
    n_min = min(len(e) for e in ps.embeddings)
    if "residual" in cfg.selectors and cfg.h > n_min:
      raise ValueError(f"h={cfg.h} exceeds the {n_min} patches of the "
                       f"smallest image under the {sampler} sampler; lower h"
                       " (the embeddings are cached, nothing is lost).")
    jobs = []   # (selector, distance, h, rates)
    for sel in cfg.selectors:
      if sel == "residual":
        for d in cfg.distances:
          jobs.append((sel, d, cfg.h, [r for r in cfg.rates if r < 1]))
      else:
        jobs.append((sel, "-", "-", [r for r in cfg.rates if r < 1]))
    if 1.0 in cfg.rates:
      jobs.append(("all", "-", "-", [1.0]))
    if cfg.h_sweep and cfg.distances:
      for h in cfg.h_sweep:
        if h > n_min:
          skipped_h.append({"sampler": sampler, "h": h,
                            "reason": f"h > {n_min} patches per image"})
        elif h != cfg.h or "residual" not in cfg.selectors or (
            cfg.h_sweep_rate not in cfg.rates):
          jobs.append(("residual", cfg.distances[0], h, [cfg.h_sweep_rate]))
    todo = []
    for seed in cfg.seeds:
      folds = splits.kfold(src.ref_ids, k=cfg.folds, seed=seed,
                           val_fraction=cfg.val_fraction)
      for sel, d, h, rates in jobs:
        for rate in rates:
          for f, split in enumerate(folds):
            cid = cells.cell_id(sampler, sel, d, h, rate, f, seed)
            if not _cell_file(wd, cid).exists():
              todo.append((seed, sel, d, h, rate, f, split, cid))
    n_all = sum(len(rates) * cfg.folds * len(cfg.seeds)
                for _, _, _, rates in jobs)
    if n_all > len(todo):
      print(f"{sampler}: reusing {n_all - len(todo)} of {n_all} finished "
            f"cells in {wd.path('cells')} (--overwrite recomputes them).")
    orders_cache = {}
    bar = parallel.progress_bar(total=len(todo), desc=f"{sampler} cells",
                                unit="cell",
                                enabled=cfg.progress and bool(todo))
    for seed, sel, d, h, rate, f, split, cid in todo:
      okey = (sel, d, h, seed if sel == "random" else 0)
      if okey not in orders_cache:
        name = "all" if sel == "all" else sel
        orders, curve = cells.rankings(
            ps, "random" if name == "all" else name, distance=d,
            h=h if isinstance(h, int) else cfg.h, cfg=cfg, seed=seed)
        orders_cache[okey] = orders
        if curve is not None:
          objectives[f"{sampler} {d} h={h}"] = curve
          wd.write_json("objectives.json", objectives)
      ckpt = wd.path("checkpoints") / cid
      out = cells.run_cell(ps, orders_cache[okey], rate, split, cfg,
                           seed=seed, checkpoint_dir=str(ckpt))
      row = {"sampler": sampler, "selector": sel, "distance": d, "h": h,
             "rate": rate, "fold": f, "seed": seed, **out}
      wd.write_json(f"cells/{cid}.json", row)
      shutil.rmtree(ckpt, ignore_errors=True)
      bar.update(1)
      bar.set_postfix(last=f"{sel} r={rate:g} SRCC={out['srcc']:.3f}")
    bar.close()
  rows = sorted((json.loads(p.read_text()) for p in
                 wd.path("cells").glob("*.json")),
                key=lambda r: (r["sampler"], r["selector"], r["distance"],
                               report.h_key(r["h"]), r["rate"], r["seed"],
                               r["fold"]))
  summary = report.write(wd, rows, cfg, objectives=objectives,
                         skipped_h=skipped_h)
  summary["wall_seconds_this_run"] = time.perf_counter() - t_start
  wd.write_results(summary)
  return summary
