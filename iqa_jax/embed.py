"""Patch embeddings in fixed-size batches, sharded over all devices.

  emb = embed(VGG16.pretrained(), patches, batch_size=64)   # (N, 512)

`patches` (N, H, W, 3) in [0, 1] are cut into batches of `batch_size`
(the last one padded, so every batch has the same shape and the encoder is
compiled once per patch size); each batch is split across the devices of a
1-D mesh (parameters replicated). `dtype=jnp.bfloat16` runs the encoder in
bfloat16 on accelerators (the embeddings come back as float32).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from iqa_jax.mesh import data_mesh, pad_rows

__all__ = ["embed"]


@functools.lru_cache(maxsize=16)
def _embed_fn(graphdef, mesh, dtype):
  data = NamedSharding(mesh, P("data"))
  repl = NamedSharding(mesh, P())

  def fn(state, x):
    model = nnx.merge(graphdef, state)
    return model.embed(x.astype(dtype))
  return jax.jit(fn, in_shardings=(repl, data), out_shardings=data)


def embed(encoder, patches, *, batch_size: int = 64, mesh=None,
          dtype=jnp.float32, progress: bool = False) -> np.ndarray:
  """`encoder.embed` over many patches; returns (N, D) float32 on the host."""
  patches = np.asarray(patches)
  if patches.ndim != 4 or patches.shape[-1] != 3:
    raise ValueError(f"patches must be (N, H, W, 3), got {patches.shape}.")
  mesh = mesh if mesh is not None else data_mesh()
  batch_size = -(-batch_size // mesh.size) * mesh.size  # multiple of devices
  graphdef, state = nnx.split(encoder)
  state = jax.device_put(state, NamedSharding(mesh, P()))
  fn = _embed_fn(graphdef, mesh, jnp.dtype(dtype))
  n = patches.shape[0]
  out = []
  starts = range(0, n, batch_size)
  if progress:
    from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
    starts = tqdm(starts, desc="embedding", unit="batch")
  for s in starts:
    chunk = pad_rows(patches[s:s + batch_size].astype(np.float32),
                     batch_size)
    x = jax.device_put(chunk, NamedSharding(mesh, P("data")))
    out.append(np.asarray(fn(state, x), np.float32))
  return np.concatenate(out)[:n]
