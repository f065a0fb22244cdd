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

from iqa_jax import parallel

__all__ = ["embed"]


@functools.lru_cache(maxsize=16)
def _embed_fn(graphdef, dtype):
  def fn(state, x):
    model = nnx.merge(graphdef, state)
    return model.embed(x.astype(dtype)).astype(jnp.float32)
  return jax.jit(fn)


def embed(encoder, patches, *, batch_size: int = 64, mesh=None,
          dtype=jnp.float32, progress: bool = False) -> np.ndarray:
  """`encoder.embed` over many patches; returns (N, D) float32 on the host."""
  patches = np.asarray(patches)
  if patches.ndim != 4 or patches.shape[-1] != 3:
    raise ValueError(f"patches must be (N, H, W, 3), got {patches.shape}.")
  mesh = mesh if mesh is not None else parallel.data_mesh()
  graphdef, state = nnx.split(encoder)
  fn = functools.partial(_embed_fn(graphdef, jnp.dtype(dtype)),
                         parallel.replicate(state, mesh))
  return parallel.map_batches(fn, patches.astype(np.float32, copy=False),
                              batch_size=batch_size, mesh=mesh,
                              progress=progress, desc="embedding",
                              unit="patch")
