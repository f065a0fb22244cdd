"""`benchmarks/run_all.py --tiny`: every benchmark whose peer is installed
runs at its smallest size and writes its results file; the others are
recorded as skipped, with what is missing."""

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_run_all_tiny_writes_every_results_file(tmp_path, capsys,
                                               monkeypatch):
  # The benchmarks run as on a user's machine, without the suite's 8
  # simulated devices (this process's backend starts with them first).
  import jax  # pylint: disable=g-import-not-at-top
  assert len(jax.devices()) == 8
  monkeypatch.setenv("XLA_FLAGS", "")
  sys.path.insert(0, str(BENCH))
  try:
    import run_all  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.remove(str(BENCH))
  names = ["selection", "embed", "radn", "mic"]
  rc = run_all.main(["--tiny", "--out", str(tmp_path), "--only",
                     ",".join(names)])
  report = json.loads((tmp_path / "run_all.json").read_text())
  assert rc == 0, report
  assert report["tiny"] and report["device_kind"] == "cpu"
  assert list(report["benchmarks"]) == names
  ran = 0
  for name in names:
    entry = report["benchmarks"][name]
    lacks = run_all.missing(run_all.BENCHMARKS[name][0],
                            argparse.Namespace(libmine=None))
    if lacks:       # a peer this machine lacks: skipped, and said why
      assert entry["status"] == "skipped" and entry["missing"] == lacks
      continue
    ran += 1
    assert entry["status"] == "ok", entry.get("error")
    figures = json.loads((tmp_path / f"{name}.json").read_text())
    text = json.dumps(figures)
    assert "speedup" in text, name        # the ratio against the peer
  assert ran >= 1                          # selection's peer is NumPy
  cells = json.loads((tmp_path / "selection.json").read_text())["cells"]
  assert [(c["n"], c["d"]) for c in cells] == [(16, 64), (48, 64)]
  assert all(c["identical_rankings"].split("/")[0] ==
             c["identical_rankings"].split("/")[1] for c in cells)
  assert "skipped, missing libmine" in capsys.readouterr().out
