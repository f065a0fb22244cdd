"""Where iqa_jax keeps its files: $IQA_JAX_HOME, by default ~/.cache/iqa_jax.

  datasets/    prepared TFDS datasets (and generated demo layouts)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home"]


def home() -> Path:
  """The root folder of iqa_jax's caches (not created here)."""
  env = os.environ.get("IQA_JAX_HOME")
  if env:
    return Path(env).expanduser()
  xdg = os.environ.get("XDG_CACHE_HOME")
  return (Path(xdg) if xdg else Path.home() / ".cache") / "iqa_jax"
