"""Where iqa_jax keeps its files: $IQA_JAX_HOME, by default ~/.cache/iqa_jax.

  datasets/      prepared TFDS datasets (and generated demo layouts)
  embeddings/    the embedding cache of distill360
  jax_cache/     JAX's persistent compilation cache (the `iqa-jax` command
                 turns it on; IQA_JAX_COMPILATION_CACHE=0 or
                 `iqa-jax --no-compilation-cache` turns it off, and
                 IQA_JAX_COMPILATION_CACHE=DIR moves it)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home", "compilation_cache_dir", "enable_compilation_cache"]


def home() -> Path:
  """The root folder of iqa_jax's caches (not created here)."""
  env = os.environ.get("IQA_JAX_HOME")
  if env:
    return Path(env).expanduser()
  xdg = os.environ.get("XDG_CACHE_HOME")
  return (Path(xdg) if xdg else Path.home() / ".cache") / "iqa_jax"


def compilation_cache_dir() -> Path | None:
  """$IQA_JAX_COMPILATION_CACHE if set (None for 0/off/false), else
  $IQA_JAX_HOME/jax_cache."""
  env = os.environ.get("IQA_JAX_COMPILATION_CACHE")
  if env is not None:
    if env.strip().lower() in ("", "0", "off", "false", "no"):
      return None
    return Path(env).expanduser()
  return home() / "jax_cache"


def enable_compilation_cache() -> Path | None:
  """Turns on JAX's persistent compilation cache in `compilation_cache_dir`
  (programs that took over 0.5 s to compile are kept, unless
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS says otherwise), so a second
  run with the same shapes does not compile again. Returns the folder, or
  None when switched off."""
  folder = compilation_cache_dir()
  if folder is None:
    return None
  import jax  # pylint: disable=g-import-not-at-top
  folder.mkdir(parents=True, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", str(folder))
  if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  return folder
