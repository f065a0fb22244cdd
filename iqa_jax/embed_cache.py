"""On-disk cache of patch embeddings, so experiments never recompute them.

  key = {"dataset": "demo360", "sampler": patches.params,
         "encoder": "vgg16", "weights": fingerprint(encoder)}
  cache = EmbeddingCache(iqa_jax.paths.cache_dir("embeddings"), key)
  if not cache.has(name):
    cache.save(name, embeddings=e, centres=c)
  arrays = cache.load(name)

Entries live in ROOT/<digest of the key>/: `key.json` (the full key, for
people) and one `.npz` per image, named by a hash of the image name (names
may hold '/') and holding the name. Writes are atomic (temporary file, then
rename), so a killed run leaves no half-written entry and resumes with the
images it had finished. `fingerprint(module)` hashes a model's parameters,
so two encoders with different weights never share entries.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np
from flax import nnx

__all__ = ["EmbeddingCache", "fingerprint", "key_digest"]

_FORMAT = 1


def _canonical(x):
  if isinstance(x, Mapping):
    return {str(k): _canonical(v) for k, v in sorted(x.items())}
  if isinstance(x, (list, tuple)):
    return [_canonical(v) for v in x]
  if isinstance(x, np.generic):
    return x.item()
  if isinstance(x, float) and x != x:
    return "nan"
  if isinstance(x, (str, int, float, bool)) or x is None:
    return x
  raise TypeError(f"cache key values must be JSON-like, got {type(x)}.")


def key_digest(key: Mapping) -> str:
  """A 16-hex-digit digest of a JSON-like key (order of dict keys ignored)."""
  text = json.dumps(_canonical({"format": _FORMAT, **key}), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(module: nnx.Module) -> str:
  """sha256 (16 hex digits) of a module's parameters and their paths."""
  h = hashlib.sha256()
  state = nnx.state(module)
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    a = np.asarray(leaf)
    h.update(jax.tree_util.keystr(path).encode())
    h.update(str(a.dtype).encode() + str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


class EmbeddingCache:
  """Per-image arrays under ROOT/<key digest>/ (see the module docstring)."""

  def __init__(self, root: str | os.PathLike, key: Mapping):
    self.key = _canonical(dict(key))
    self.dir = Path(root) / key_digest(key)
    self.dir.mkdir(parents=True, exist_ok=True)
    meta = self.dir / "key.json"
    if not meta.exists():
      tmp = meta.with_suffix(f".tmp{os.getpid()}")
      tmp.write_text(json.dumps(self.key, indent=1, sort_keys=True))
      os.replace(tmp, meta)

  def _file(self, name: str) -> Path:
    return self.dir / (hashlib.sha1(name.encode()).hexdigest()[:20] + ".npz")

  def has(self, name: str) -> bool:
    return self._file(name).exists()

  def save(self, name: str, **arrays) -> None:
    path = self._file(name)
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
    np.savez(tmp, __name__=np.array(name),
             **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)

  def load(self, name: str) -> dict[str, np.ndarray]:
    path = self._file(name)
    if not path.exists():
      raise KeyError(f"no cached embeddings for {name!r} in {self.dir}.")
    with np.load(path) as z:
      if str(z["__name__"]) != name:
        raise ValueError(f"{path} holds {str(z['__name__'])!r}, not {name!r}"
                         " (hash collision or a corrupt cache: delete it).")
      return {k: z[k] for k in z.files if k != "__name__"}

  def __len__(self) -> int:
    return sum(1 for p in self.dir.glob("*.npz") if ".tmp" not in p.name)
