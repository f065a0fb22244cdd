"""Tests of run work directories."""

import csv
import json
import math

import ml_collections
import numpy as np
import pytest
from PIL import Image

from iqa_jax import results


def _config(**overrides):
  c = ml_collections.ConfigDict()
  c.dataset = "demo360"
  c.rates = (0.1, 0.5, 1.0)
  c.solver = ml_collections.ConfigDict({"alpha": 0.1, "h": 10})
  c.update(overrides)
  return c


def test_create_writes_config_and_versions(tmp_path):
  wd = results.create_workdir(tmp_path / "run", _config())
  assert not wd.resumed
  cfg = json.loads((tmp_path / "run" / "config.json").read_text())
  assert cfg == {"dataset": "demo360", "rates": [0.1, 0.5, 1.0],
                 "solver": {"alpha": 0.1, "h": 10}}
  versions = wd.read_json("versions.json")
  assert versions["packages"]["numpy"] == np.__version__
  assert versions["packages"]["iqa-jax"] is not None
  assert versions["jax_backend"] == "cpu" and len(versions["devices"]) == 8


def test_resume_same_config_and_refuse_other(tmp_path):
  root = tmp_path / "run"
  wd = results.create_workdir(root, _config(), record_devices=False)
  wd.write_results({"srcc": 0.9})
  again = results.create_workdir(root, _config(), record_devices=False)
  assert again.resumed and again.read_json("results.json") == {"srcc": 0.9}
  with pytest.raises(results.WorkdirConfigMismatch) as e:
    results.create_workdir(root, _config(dataset="cviq"), record_devices=False)
  msg = str(e.value)
  assert "dataset: 'demo360' -> 'cviq'" in msg and "--overwrite" in msg
  fresh = results.create_workdir(root, _config(dataset="cviq"), overwrite=True,
                                 record_devices=False)
  assert not fresh.resumed and not (root / "results.json").exists()
  (root / "config.json").write_text("{broken")
  with pytest.raises(results.WorkdirConfigMismatch, match="not valid JSON"):
    results.create_workdir(root, _config(), record_devices=False)


def test_json_values(tmp_path):
  wd = results.create_workdir(tmp_path, {"a": 1}, record_devices=False)
  wd.write_json("x.json", {"nan": float("nan"), "arr": np.arange(3),
                           "f32": np.float32(0.5), "flag": np.bool_(True),
                           "path": tmp_path, "t": (1, 2)})
  assert wd.read_json("x.json") == {"nan": None, "arr": [0, 1, 2], "f32": 0.5,
                                    "flag": True, "path": str(tmp_path),
                                    "t": [1, 2]}
  with pytest.raises(TypeError, match="cannot write a object"):
    wd.write_json("y.json", {"bad": object()})
  assert not (tmp_path / "y.json").exists()
  assert not list(tmp_path.glob(".y.json*"))  # no temporary file left behind


def test_write_table_csv_and_markdown(tmp_path):
  wd = results.create_workdir(tmp_path, {}, record_devices=False)
  rows = [{"rate": 0.1, "srcc": 0.912345678, "sampler": "ERP"},
          {"rate": 0.5, "srcc": math.nan, "sampler": "LAT"}]
  md = wd.write_table("table", rows)
  assert md.splitlines() == ["| rate | srcc | sampler |", "|---|---|---|",
                             "| 0.1000 | 0.9123 | ERP |",
                             "| 0.5000 | nan | LAT |"]
  assert (tmp_path / "table.md").read_text() == md
  with open(tmp_path / "table.csv", newline="") as f:
    back = list(csv.DictReader(f))
  assert float(back[0]["srcc"]) == 0.912345678  # full precision in CSV
  assert math.isnan(float(back[1]["srcc"]))
  with pytest.raises(ValueError, match="not in"):
    wd.write_table("t2", rows, columns=["rate"])


def test_line_plot_png(tmp_path):
  wd = results.create_workdir(tmp_path, {}, record_devices=False)
  fig = results.line_plot([0.1, 0.5, 0.9], {"PLCC": [0.8, 0.85, 0.9],
                                            "SRCC": [0.7, 0.8, 0.88]},
                          xlabel="selection rate", ylabel="correlation",
                          title="demo", baselines={"100 %": 0.86})
  path = wd.save_figure(fig, "curve")
  with Image.open(path) as im:
    assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
  ax = fig.axes[0]
  assert [line.get_label() for line in ax.get_lines()] == ["PLCC", "SRCC",
                                                           "100 %"]
