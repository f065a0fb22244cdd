"""The SMIC experiment (iqa_jax.smic_fr, experiments/smic_fr.py) end to end
on a tiny generated FR set: tables, plot, Fig. 5, and the score cache."""

import csv
import json

import numpy as np
import pytest

import tiny_sets
from iqa_jax import data, fr, smic_fr, stats

tiny_sets.register("tinyfr", kind="fr", shape=(64, 64), seed=20)


def _cfg(**kw):
  cfg = smic_fr.get_config("runlocal")
  cfg.datasets = ("tinyfr",)
  cfg.max_refs = 2                 # 40 pairs of 64 x 64
  cfg.metrics = ("psnr",)
  cfg.fig5_names = ()
  cfg.fig5_pairs = 1
  cfg.progress = False
  for k, v in kw.items():
    cfg[k] = v
  return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp("smic_fr")
  data_dir = root / "tfds"
  log = []
  out = smic_fr.run(_cfg(data_dir=str(data_dir)), root / "wd",
                    log=log.append)
  return root, data_dir, out, log


def test_tables_plot_and_fig5(run):
  root, data_dir, out, log = run
  assert len(log) == 3                         # 3 versions scored
  res = root / "wd" / "results"
  with open(res / "results.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert [(r["metric"], r["version"]) for r in rows] == [
      ("psnr", v) for v in ("plain", "smic", "mic")]
  assert {r["n"] for r in rows} == {"40"}
  # Every statistic equals the evaluation redone here from the Scorer.
  src = data.load("tinyfr", data_dir=data_dir)
  idx = np.flatnonzero(np.isin(src.ref_ids, sorted(set(src.ref_ids))[:2]))
  ref = np.stack([src[int(i)]["reference"] for i in idx])
  dist = np.stack([src[int(i)]["image"] for i in idx])
  for r in rows:
    pred = fr.get(r["name"])(ref, dist)
    pred, _ = stats.place_infinite(pred)
    ev = stats.evaluate(pred, src.score_norm[idx], fit="4pl",
                        lower_is_better=fr.registry.lower_is_better(r["name"]))
    assert float(r["srcc"]) == pytest.approx(ev.srcc, abs=1e-6)
    assert float(r["plcc"]) == pytest.approx(ev.plcc, abs=1e-6)
    assert float(r["krcc"]) == pytest.approx(ev.krcc, abs=1e-6)
    if r["version"] != "plain":
      plain = next(p for p in rows if p["metric"] == r["metric"]
                   and p["version"] == "plain")
      want = 100 * (ev.srcc - float(plain["srcc"])) / abs(float(plain["srcc"]))
      assert float(r["srcc_change_pct"]) == pytest.approx(want, abs=1e-4)
  # Table I: plain and w/ SMIC rows; Table II: w/ MIC and w/ SMIC rows.
  assert "| PSNR w/ SMIC |" in out["table_1"]
  assert "w/ MIC" not in out["table_1"]
  assert "| PSNR w/ MIC |" in out["table_2"]
  assert "tinyfr SRCC" in out["table_1"].splitlines()[0]
  for name in ("table_1.csv", "table_2.md", "srcc.png", "results.json"):
    assert (res / name).is_file(), name
  assert len(out["fig5"]) == 1 and out["fig5"][0].endswith(".png")
  summary = json.loads((res / "results.json").read_text())
  assert len(summary["rows"]) == 3


def test_rerun_scores_only_what_is_missing(run):
  root, data_dir, _, _ = run
  cache = root / "wd" / "scores" / "tinyfr" / "psnr_smic.csv"
  with open(cache, newline="") as f:
    cached = list(csv.reader(f))
  assert cached[0] == ["image", "score"] and len(cached) == 41
  log = []
  smic_fr.run(_cfg(data_dir=str(data_dir), fig5_pairs=0), root / "wd",
              log=log.append)
  assert log == []                             # everything came from the cache
  # One more reference: only its 20 pairs are scored, per metric.
  log = []
  out = smic_fr.run(_cfg(data_dir=str(data_dir), fig5_pairs=0, max_refs=3,
                         metrics=("psnr",), versions=("plain", "mic")),
                    root / "wd", log=log.append)
  assert len(log) == 2 and all(": 20 pairs scored" in x for x in log)
  assert out["table_2"] == ""                  # no SMIC column: no Table II


def test_config_errors(tmp_path):
  with pytest.raises(ValueError, match="unknown metric 'vif'"):
    smic_fr.run(_cfg(metrics=("vif",)), tmp_path / "wd")
  with pytest.raises(ValueError, match="not a full-reference dataset"):
    smic_fr.run(_cfg(datasets=("livec",)), tmp_path / "wd")
  with pytest.raises(ValueError, match="unknown preset"):
    smic_fr.get_config("paper")
  assert smic_fr.get_config().datasets == smic_fr.PAPER_DATASETS
  assert smic_fr.metric_name("lpips", "mic") == "lpips_mic"
  from iqa_jax.cli.distill360 import apply_overrides
  c = apply_overrides(smic_fr.get_config(),
                      ["datasets=live,qads", "manual_dirs=qads=/data/QADS"])
  assert c.datasets == ("live", "qads") and c.manual_dirs == ("qads=/data/QADS",)
  with pytest.raises(ValueError, match="expected DATASET=DIR"):
    smic_fr.run(_cfg(manual_dirs=("/data/QADS",)), tmp_path / "wd")
  assert not (tmp_path / "wd").exists()      # refused before writing
