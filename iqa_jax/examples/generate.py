"""Writes the bundled synthetic example: `python -m iqa_jax.examples.generate`.

The example exists to show `iqa-jax evaluate` at work before any model runs; it
is synthetic, not a result. 80 images get a PSNR-like "prediction" drawn
uniformly on 18-45 dB and a "MOS" on 1-5 that saturates with it (a logistic
curve plus Gaussian noise), so the 4PL fit visibly raises the PLCC above the
raw one, as it does for PSNR on real databases.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from iqa_jax.score_files import write_scores

N_IMAGES = 80
SEED = 2026


def make_example() -> tuple[list[str], np.ndarray, np.ndarray]:
  """Names, predictions and MOS of the example (deterministic)."""
  rng = np.random.default_rng(SEED)
  pred = rng.uniform(18.0, 45.0, N_IMAGES)
  mos = 1.0 + 4.0 / (1.0 + np.exp(-(pred - 30.0) / 3.0))
  mos = np.clip(mos + rng.normal(0.0, 0.2, N_IMAGES), 1.0, 5.0)
  names = [f"img_{i:03d}.png" for i in range(N_IMAGES)]
  return names, np.round(pred, 3), mos


def main(out_dir: str | Path = Path(__file__).parent) -> None:
  out_dir = Path(out_dir)
  names, pred, mos = make_example()
  write_scores(out_dir / "example_pred.csv", names, pred, score_column="psnr")
  write_scores(out_dir / "example_mos.csv", names, mos, score_column="mos")


if __name__ == "__main__":
  main(*sys.argv[1:])
