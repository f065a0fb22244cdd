"""Tests of `iqa-jax evaluate` and the score-file reader behind it."""

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

import iqa_jax
import iqa_jax.stats
from iqa_jax import score_files
from iqa_jax.cli import main
from iqa_jax.examples import generate


def _write(path, header, rows):
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
  return str(path)


@pytest.fixture
def pair(tmp_path):
  rng = np.random.default_rng(0)
  names = [f"im{i}.png" for i in range(40)]
  mos = rng.uniform(1, 5, 40)
  pred = mos + rng.normal(0, 0.5, 40)
  p = _write(tmp_path / "pred.csv", ["name", "score"], zip(names, pred))
  m = _write(tmp_path / "mos.csv", ["image", "mos", "std"],
             [(n, s, 0.5) for n, s in zip(names, mos)])
  return p, m, pred, mos


def _run(capsys, *args):
  code = main(["evaluate", *args])
  out, err = capsys.readouterr()
  return code, out, err


def test_version(capsys):
  with pytest.raises(SystemExit) as e:
    main(["--version"])
  assert e.value.code == 0
  assert capsys.readouterr().out.strip() == f"iqa-jax {iqa_jax.__version__}"


def test_evaluate_table_and_json(capsys, pair):
  p, m, pred, mos = pair
  code, out, _ = _run(capsys, "--pred", p, "--mos", m)
  assert code == 0
  assert "40 images" in out and "PLCC (4PL)" in out and "4PL params" in out
  expected = scipy.stats.spearmanr(pred, mos).statistic
  assert f"SRCC        {expected:.4f}" in out
  code, out, _ = _run(capsys, "--pred", p, "--mos", m, "--fit", "5pl",
                      "--json")
  d = json.loads(out)
  assert code == 0 and d["fit"] == "5pl" and d["fitted"]
  assert d["srcc"] == pytest.approx(expected, abs=1e-12)
  assert d["mos_column"] == "mos" and d["pred_column"] == "score"
  code, out, _ = _run(capsys, "--pred", p, "--mos", m, "--fit", "none")
  assert code == 0 and "PLCC (raw)" in out and "4PL" not in out


def test_columns_by_name_and_lower_is_better(capsys, pair, tmp_path):
  p, m, pred, mos = pair
  code, out, _ = _run(capsys, "--pred", m, "--mos", m, "--pred-column", "std",
                      "--mos-column", "mos")
  # A constant column: the reason is printed, never a bare nan.
  assert code == 0
  assert "undefined" in out and "pred is constant (all 40 values equal 0.5)" in out
  table = out.split("note:")[0].lower()
  assert "nan" not in table.replace("unfitted", "")
  assert "SRCC        undefined" in out
  dist = _write(tmp_path / "dist.csv", ["image", "lpips"],
                [(f"im{i}.png", -v) for i, v in enumerate(pred)])
  code, out, _ = _run(capsys, "--pred", dist, "--mos", m, "--lower-is-better",
                      "--json")
  d = json.loads(out)
  assert d["srcc"] == pytest.approx(scipy.stats.spearmanr(pred, mos).statistic)
  assert d["lower_is_better"]
  named = _write(tmp_path / "named.csv", ["score", "image"],
                 [(v, f"im{i}.png") for i, v in enumerate(pred)])
  code, out, _ = _run(capsys, "--pred", named, "--mos", m, "--name-column",
                      "image", "--pred-column", "score", "--json")
  assert code == 0 and json.loads(out)["srcc"] == pytest.approx(d["srcc"])


def test_bad_input_messages(capsys, pair, tmp_path):
  p, m, pred, _ = pair
  code, _, err = _run(capsys, "--pred", p, "--mos", m, "--mos-column", "dmos")
  assert code == 2 and "mos.csv" in err and "'dmos'" in err and "'mos'" in err

  bad = _write(tmp_path / "bad.csv", ["name", "score"],
               [("im0.png", "1.0"), ("im1.png", "abc")])
  code, _, err = _run(capsys, "--pred", bad, "--mos", m)
  assert code == 2 and "bad.csv, row 3 ('im1.png')" in err and "'abc'" in err

  dup = _write(tmp_path / "dup.csv", ["name", "score"],
               [("a", 1), ("b", 2), ("a", 3)])
  code, _, err = _run(capsys, "--pred", dup, "--mos", m)
  assert code == 2 and "'a' appears on rows 2 and 4" in err

  partial = _write(tmp_path / "partial.csv", ["name", "score"],
                   [(f"im{i}.png", v) for i, v in enumerate(pred[:37])]
                   + [("extra.png", 1.0)])
  code, _, err = _run(capsys, "--pred", partial, "--mos", m)
  assert code == 2
  assert "1 name(s) in" in err and "'extra.png'" in err
  assert "3 name(s) in" in err and "'im37.png', 'im38.png', 'im39.png'" in err
  code, out, _ = _run(capsys, "--pred", partial, "--mos", m, "--inner-join")
  assert code == 0 and "37 images" in out
  assert "left out 1 image(s)" in out and "left out 3 image(s)" in out

  few = _write(tmp_path / "few.csv", ["name", "score"],
               [("im0.png", 1), ("im1.png", 2)])
  code, _, err = _run(capsys, "--pred", few, "--mos", m, "--inner-join")
  assert code == 2 and "only 2 image name(s)" in err and "at least 3" in err

  code, _, err = _run(capsys, "--pred", str(tmp_path / "none.csv"), "--mos", m)
  assert code == 2 and "none.csv: no such file" in err

  semi = tmp_path / "semi.csv"
  semi.write_text("name;score\na;1\n")
  code, _, err = _run(capsys, "--pred", str(semi), "--mos", m)
  assert code == 2 and "';'-separated" in err

  short = tmp_path / "short.csv"
  short.write_text("name,score\na,1\nb\n")
  code, _, err = _run(capsys, "--pred", str(short), "--mos", m)
  assert code == 2 and "short.csv, row 3: 1 field(s)" in err

  for content, match in (("", "empty"), ("name,score\n", "only a header")):
    empty = tmp_path / "empty.csv"
    empty.write_text(content)
    code, _, err = _run(capsys, "--pred", str(empty), "--mos", m)
    assert code == 2 and match in err


def test_nonfinite_scores_are_rejected(tmp_path):
  path = _write(tmp_path / "x.csv", ["name", "s"], [("a", "nan"), ("b", 1)])
  with pytest.raises(score_files.ScoreFileError, match="row 2.*'nan'"):
    score_files.read_scores(path)


def test_infinite_predictions_keep_their_rank(tmp_path, capsys):
  """PSNR = inf (identical images, as `iqa-jax score` writes it) ranks above
  every finite prediction; the correlations equal those with inf replaced
  by any value above the finite ones."""
  mos = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 4.8])
  pred = ["20.0", "25.0", "30.0", "inf", "inf", "35.0"]
  p = _write(tmp_path / "p.csv", ["image", "psnr"],
             [(f"i{k}", v) for k, v in enumerate(pred)])
  m = _write(tmp_path / "m.csv", ["image", "mos"],
             [(f"i{k}", v) for k, v in enumerate(mos)])
  code, out, _ = _run(capsys, "--pred", p, "--mos", m, "--json")
  assert code == 0
  got = json.loads(out)
  assert got["infinite_predictions"] == 2
  stand_in = np.array([20.0, 25.0, 30.0, 1e6, 1e6, 35.0])
  assert got["srcc"] == pytest.approx(scipy.stats.spearmanr(stand_in,
                                                            mos).statistic)
  # max + (max - min) of the finite values: 3 + 2; min - 2 for -inf.
  placed, n = iqa_jax.stats.place_infinite([1.0, -np.inf, np.inf, 3.0])
  assert n == 2 and placed.tolist() == [1.0, -1.0, 5.0, 3.0]
  nan = _write(tmp_path / "n.csv", ["image", "psnr"],
               [(f"i{k}", "nan" if k == 0 else "1") for k in range(6)])
  code, _, err = _run(capsys, "--pred", nan, "--mos", m)
  assert code == 2 and "not a finite number" in err


def test_argument_errors(capsys, pair):
  p, m, _, _ = pair
  with pytest.raises(SystemExit) as e:
    main(["evaluate", "--pred", p])
  assert e.value.code == 2 and "give --pred and --mos" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    main(["evaluate", "--example", "--pred", p])


def test_score_file_round_trip(tmp_path):
  names = ["a b.png", "c,d.png", "e.png"]
  scores = np.array([0.1, 1e-30, 12345.678901234567])
  path = score_files.write_scores(tmp_path / "s.csv", names, scores)
  table = score_files.read_scores(path)
  assert table.names == tuple(names)
  np.testing.assert_array_equal(table.scores, scores)  # exact (repr floats)


def test_bundled_example_is_reproducible(tmp_path, capsys):
  generate.main(tmp_path)
  pred_path, mos_path = iqa_jax.cli.evaluate.example_paths()
  # The generator's floats may differ in the last bit between BLAS/libm
  # builds; the files must agree in names and, numerically, in values.
  for made, shipped in ((tmp_path / "example_pred.csv", pred_path),
                        (tmp_path / "example_mos.csv", mos_path)):
    a, b = score_files.read_scores(made), score_files.read_scores(shipped)
    assert list(a.names) == list(b.names)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12, atol=0)
  code, out, _ = _run(capsys, "--example")
  assert code == 0 and "80 images" in out


def test_livec_mos_against_perturbed_copy(livec_mos, tmp_path, capsys):
  table = score_files.read_scores(livec_mos)
  assert len(table.names) == 627
  rng = np.random.default_rng(0)
  noisy = table.scores + rng.normal(0, 10, table.scores.size)
  order = rng.permutation(table.scores.size)  # row order must not matter
  pred = score_files.write_scores(
      tmp_path / "pred.csv", [table.names[i] for i in order], noisy[order])
  code, out, _ = _run(capsys, "--pred", str(pred), "--mos", str(livec_mos),
                      "--json")
  d = json.loads(out)
  assert code == 0 and d["n"] == 627
  assert d["srcc"] == pytest.approx(
      scipy.stats.spearmanr(noisy, table.scores).statistic, abs=1e-12)
  assert 0.75 < d["srcc"] < 0.95 and 0.75 < d["plcc"] < 0.95
  assert d["fitted"] and d["plcc_fitted"] >= d["plcc"] - 1e-3


def test_console_script_runs(tmp_path):
  """The installed `iqa-jax` entry point (not just the function)."""
  exe = shutil.which("iqa-jax")
  cmd = [exe] if exe else [sys.executable, "-m", "iqa_jax"]
  out = subprocess.run(cmd + ["evaluate", "--example", "--json"],
                       capture_output=True, text=True, check=True)
  assert json.loads(out.stdout)["n"] == 80
  bad = subprocess.run(cmd + ["evaluate", "--pred", str(tmp_path / "no.csv"),
                              "--mos", str(tmp_path / "no.csv")],
                       capture_output=True, text=True)
  assert bad.returncode == 2 and "no such file" in bad.stderr
