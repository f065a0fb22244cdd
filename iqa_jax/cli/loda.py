"""`iqa-jax loda train`: LoDa's recipe (source text 002).

  iqa-jax loda train --config runlocal --workdir DIR      # tiny, demo2d
  iqa-jax loda train --workdir DIR --set dataset=livec \\
      --set manual_dir=ARCHIVE --set vit_weights=VIT.safetensors \\
      --set cnn_weights=RESNET50.safetensors

The keys are those of `iqa_jax/loda/config.py` (--set KEY=VALUE; Python
literals or comma-separated names). A work directory holding a run of the
same configuration resumes it: finished splits are kept, the current one
continues from its last epoch's checkpoint.
"""

from __future__ import annotations

from iqa_jax.cli._train import add_train_command

__all__ = ["add_parser"]


def add_parser(sub) -> None:
  add_train_command(
      sub, "loda", help_text="LoDa: train and evaluate (source text 002)",
      doc=__doc__, presets="paper (default) or runlocal",
      package="iqa_jax.loda",
      report=lambda out, secs: (
          f"median SRCC {out['srcc_median']:.4f}, PLCC (4PL) "
          f"{out['plcc_median']:.4f} over the splits; {secs:.0f} s; all in "
          f"{out['workdir']}"))
