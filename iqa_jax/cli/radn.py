"""`iqa-jax radn train`: RADN's recipe (source text 004).

  iqa-jax radn train --config runlocal --workdir DIR     # narrow, demo2d
  iqa-jax radn train --config ablation_runlocal --workdir DIR   # Table 3
  iqa-jax radn train --workdir DIR --set manual_dir=PIPAL_ARCHIVE \\
      --set contrastive.enabled=True

The keys are those of `iqa_jax/radn/config.py` (--set KEY=VALUE; Python
literals or comma-separated names; nested keys as contrastive.epochs=5). A
work directory holding a run of the same configuration resumes it:
finished networks and folds are kept, the current stage continues from its
last epoch's checkpoint. Score pairs with a trained network:
`iqa-jax score --metric radn --checkpoint WORKDIR/model_<network>_fold0.npz
--ref R --dist D --out S.csv`.
"""

from __future__ import annotations

from iqa_jax.cli._train import add_train_command

__all__ = ["add_parser"]


def add_parser(sub) -> None:
  add_train_command(
      sub, "radn", help_text="RADN / WResNet: train and evaluate (source "
      "text 004)", doc=__doc__,
      presets="paper (default), runlocal, ablation or ablation_runlocal",
      package="iqa_jax.radn",
      report=lambda out, secs: (
          f"{secs:.0f} s; tables, curves, attention maps and models in "
          f"{out['workdir']}"))
