"""The distill360 experiment end to end on a tiny generated 360-degree set.

`tiny360` (registered here, tests only): 6 smooth random 64 x 128
panoramas with demo360's distortions (120 images), 32 x 32 patches, a few
epochs: the real pipeline (sampling, pretrained VGG16, cache, solver,
training, pooling, tables, plots) in well under a minute.
"""

import json

import pytest

import tiny_sets
from iqa_jax import embed, results
from iqa_jax.cli import distill360 as cli
from iqa_jax.distill360 import config, pipeline


tiny_sets.register("tiny360", kind="360", shape=(64, 128))


@pytest.fixture(scope="module")
def tiny_cfg(tmp_path_factory):
  root = tmp_path_factory.mktemp("tiny360")
  c = config.get_config("runlocal")
  c.unlock()
  c.dataset = "tiny360"
  c.data_dir = str(root / "data")
  c.cache_dir = str(root / "cache")
  c.image_height = 0
  c.patch_size = 32
  c.samplers = ("erp", "lat", "sp")
  c.sp_scanpaths, c.sp_length = 2, 4
  c.h = 4
  c.h_sweep = (2, 4, 50)
  c.selectors = ("residual", "random", "greedy")
  c.rates = (0.5, 1.0)
  c.folds = 3
  c.max_epochs = 3
  c.ensemble = 1      # the two-member default is tested in test_regression
  c.progress = False
  c.lock()
  return c


def test_end_to_end_outputs_and_resume(tiny_cfg, tmp_path, monkeypatch):
  wd = tmp_path / "run"
  s = pipeline.run(tiny_cfg, wd)
  # 3 samplers x (residual, random, greedy at 0.5; baseline; h = 2) x 3
  # folds.
  assert s["cells"] == 3 * 5 * 3
  rows = json.loads((wd / "results.json").read_text())["summary"]
  for sampler in ("erp", "lat", "sp"):
    got = {(r["selector"], r["rate"]) for r in rows if r["sampler"] == sampler}
    assert {("residual", 0.5), ("random", 0.5), ("greedy", 0.5),
            ("all", 1.0)} <= got
  for r in rows:
    assert -1 <= r["srcc"] <= 1 and -1 <= r["plcc"] <= 1
  cells = [json.loads(p.read_text()) for p in (wd / "cells").glob("*.json")]
  half = [c for c in cells if c["rate"] == 0.5 and c["sampler"] == "erp"]
  full = [c for c in cells if c["rate"] == 1.0 and c["sampler"] == "erp"]
  # ERP: 2 x 4 patches per image; rate 0.5 keeps 4 of them.
  assert {c["n_test_patches"] / c["n_test_images"] for c in half} == {4}
  assert {c["n_test_patches"] / c["n_test_images"] for c in full} == {8}
  assert s["skipped_h"] == [{"sampler": smp, "h": 50, "reason": r}
                            for smp, r in (("erp", "h > 8 patches per image"),
                                           ("lat", "h > 6 patches per image"),
                                           ("sp", "h > 8 patches per image"))]
  for name in ("cells.csv", "summary.md", "table2.md", "min_rate.md",
               "compute.md", "rates_erp.png", "rates_lat.png", "h.png",
               "objective.png", "anova.md", "anova.png", "config.json"):
    assert (wd / name).stat().st_size > 0, name
  assert not (wd / "checkpoints").exists() or not any(
      (wd / "checkpoints").iterdir())

  # A second run recomputes nothing: embeddings come from the cache and
  # every cell is already done.
  mtimes = {p: p.stat().st_mtime_ns for p in (wd / "cells").glob("*.json")}

  def no_embedding(*a, **k):
    raise AssertionError("embeddings were recomputed")
  monkeypatch.setattr(embed, "embed", no_embedding)
  again = pipeline.run(tiny_cfg, wd)
  assert again["cells"] == s["cells"]
  assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_bad_input_fails_before_compute(tiny_cfg, tmp_path):
  def cfg(**kw):
    c = tiny_cfg.copy_and_resolve_references()
    c.unlock()
    for k, v in kw.items():
      c[k] = v
    return c
  with pytest.raises(ValueError, match="fewer than folds=7"):
    pipeline.run(cfg(folds=7), tmp_path / "a")
  with pytest.raises(ValueError, match="keeps no patch"):
    pipeline.run(cfg(rates=(0.0, 0.5)), tmp_path / "b")
  with pytest.raises(ValueError, match="360-degree set"):
    pipeline.run(cfg(samplers=("grid",)), tmp_path / "c")
  with pytest.raises(FileNotFoundError, match="nowhere.pth"):
    pipeline.run(cfg(encoder="resnet50", encoder_weights="/nowhere.pth"),
                 tmp_path / "d")
  with pytest.raises(ValueError, match="needs encoder_weights"):
    pipeline.run(cfg(encoder="resnet50"), tmp_path / "e")
  with pytest.raises(ValueError, match="h=40 exceeds the 6 patches"):
    pipeline.run(cfg(h=40, samplers=("lat",)), tmp_path / "f")
  with pytest.raises(ValueError, match="no such config key.*known keys"):
    cli.apply_overrides(config.get_config("runlocal"), ["ratez=(0.5,)"])
  with pytest.raises(ValueError, match="h takes a int"):
    cli.apply_overrides(config.get_config("runlocal"), ["h=abc"])
  with pytest.raises(ValueError, match="rates takes a tuple of numbers"):
    cli.apply_overrides(config.get_config("runlocal"), ["rates=0.5,abc"])
  with pytest.raises(ValueError, match="regressor must be"):
    pipeline.run(cfg(regressor="svr"), tmp_path / "h")
  with pytest.raises(ValueError, match="variance_threshold"):
    pipeline.run(cfg(selectors=("variance_threshold",)), tmp_path / "i")
  with pytest.raises(ValueError, match="mlp_init must be one of"):
    pipeline.run(cfg(mlp_init="zeros"), tmp_path / "j")
  with pytest.raises(ValueError, match="needs hidden >= 2"):
    pipeline.run(cfg(hidden=1), tmp_path / "k")
  c = cli.apply_overrides(config.get_config("runlocal"),
                          ["rates=(0.3, 1)", "h=5", "dataset=livec"])
  assert c.rates == (0.3, 1) and c.h == 5 and c.dataset == "livec"
  # A work directory holding another configuration is refused at once.
  pipeline.run(cfg(rates=(1.0,), samplers=("erp",), h_sweep=()),
               tmp_path / "g")
  with pytest.raises(results.WorkdirConfigMismatch, match="rates"):
    pipeline.run(cfg(rates=(0.5, 1.0), samplers=("erp",), h_sweep=()),
                 tmp_path / "g")


def test_every_config_key_is_documented_in_the_help(capsys):
  from iqa_jax.cli import main
  keys = set(config.get_config().keys())
  assert keys == {k for k, _, _ in config.KEYS}
  for preset in config.PRESETS:
    assert set(config.get_config(preset).keys()) == keys
  with pytest.raises(SystemExit):
    main(["distill360", "--help"])
  text = capsys.readouterr().out
  assert "runlocal (built-in demo360, needs nothing" in text
  for k in keys:
    assert f"  {k} " in text, k


def test_cli_reports_errors_cleanly(capsys):
  rc = cli.load_config  # the presets load
  assert rc("livec").dataset == "livec"
  from iqa_jax.cli import main
  assert main(["distill360", "--config", "nope", "--workdir", "/tmp/x"]) == 2
  assert "not a preset" in capsys.readouterr().err
