"""Two processes on 127.0.0.1 (JAX's CPU collectives over gloo, one device
each) against one process: distill360's regressor training and
`iqa-jax score` give the same numbers, and a process that dies makes the
other exit with a clear error within the heartbeat timeout."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("multiprocess_worker.py")


def _env():
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
  for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    env.pop(k, None)
  return env


def _port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _together(cmd, n=2, timeout=180):
  """Runs cmd + the multi-process options as n processes; (rc, log) each."""
  addr = f"127.0.0.1:{_port()}"
  procs = [subprocess.Popen(
      [*cmd, "--coordinator", addr, "--num-processes", str(n),
       "--process-id", str(i)], env=_env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True) for i in range(n)]
  out = []
  deadline = time.monotonic() + timeout
  for p in procs:
    try:
      log, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail(f"{cmd} hung with {n} processes")
    out.append((p.returncode, log))
  return out


def test_two_processes_train_the_regressor_as_one(tmp_path):
  one = tmp_path / "one.npz"
  done = subprocess.run([sys.executable, str(WORKER), "regressor", str(one)],
                        env=_env(), capture_output=True, text=True,
                        timeout=180)
  assert done.returncode == 0, done.stderr[-2000:]
  two = tmp_path / "two.npz"
  runs = _together([sys.executable, str(WORKER), "regressor", str(two)])
  for i, (rc, log) in enumerate(runs):
    assert rc == 0, log[-2000:]
    assert f"[process {i}/2] trained 30 steps on 2 devices" in log
  a, b = np.load(one), np.load(two)
  # Two members (the default ensemble) of 4 arrays each, and the
  # predictions.
  assert sorted(a.files) == sorted(b.files) and len(a.files) == 9
  for k in a.files:     # parameters after 30 steps, and the predictions
    np.testing.assert_allclose(b[k], a[k], atol=1e-5, rtol=0)


def _images(root: Path):
  from PIL import Image
  rng = np.random.default_rng(0)
  (root / "ref").mkdir(parents=True)
  (root / "dist").mkdir()
  for i in range(3):        # 6 pairs: uneven over 2 devices after batching
    r = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(r).save(root / "ref" / f"r{i}.png")
    for j in range(2):
      d = np.clip(r.astype(int) + rng.integers(-30, 30, r.shape), 0, 255)
      Image.fromarray(d.astype(np.uint8)).save(root / "dist" / f"r{i}_{j}.png")


def test_two_processes_score_as_one(tmp_path):
  _images(tmp_path / "imgs")
  base = [sys.executable, "-m", "iqa_jax.cli", "--no-compilation-cache",
          "score", "--metric", "ssim", "--ref", str(tmp_path / "imgs/ref"),
          "--dist", str(tmp_path / "imgs/dist"), "--batch-size", "4"]
  done = subprocess.run([*base, "--out", str(tmp_path / "one.csv")],
                        env=_env(), capture_output=True, text=True,
                        timeout=180)
  assert done.returncode == 0, done.stderr[-2000:]
  runs = _together([*base, "--out", str(tmp_path / "two.csv")])
  for i, (rc, log) in enumerate(runs):
    assert rc == 0, log[-2000:]
    assert f"[process {i}/2] 6 pairs scored" in log
  assert (tmp_path / "two.csv").read_text() == (tmp_path /
                                                 "one.csv").read_text()


def test_a_dead_process_ends_the_others_with_a_clear_error(tmp_path):
  t0 = time.monotonic()
  (rc0, log0), (rc1, _) = _together(
      [sys.executable, str(WORKER), "die", str(tmp_path / "x")], timeout=120)
  assert rc1 == 3                      # process 1 left
  assert rc0 == 1, log0[-2000:]        # process 0 failed, and said why
  assert "[process 0/2] error:" in log0
  assert "another process stopped" in log0
  assert "no error" not in log0
  assert time.monotonic() - t0 < 100    # bounded by the heartbeat timeout


def test_set_up_errors_and_the_single_process_default(monkeypatch, capsys):
  from iqa_jax import distributed
  from iqa_jax.cli import main
  for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    monkeypatch.delenv(k, raising=False)
  assert distributed.initialize() is False          # nothing asked: one process
  assert distributed.is_main() and distributed.prefix() == ""
  with pytest.raises(ValueError, match="--num-processes N --process-id I"):
    distributed.initialize("127.0.0.1:1", num_processes=2)
  with pytest.raises(ValueError, match="process id 2 is not in 0..1"):
    distributed.initialize("127.0.0.1:1", num_processes=2, process_id=2)
  assert main(["score", "--metric", "psnr", "--ref", "r", "--dist", "d",
               "--out", "o.csv", "--coordinator", "127.0.0.1:1"]) == 2
  assert "needs the number of processes" in capsys.readouterr().err
