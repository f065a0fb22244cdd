"""ViT-B/16 (timm's `vit_base_patch16_224` layout) as an NNX module.

  vit = VisionTransformer(rngs=nnx.Rngs(0))           # ViT-B/16 at 224
  vit = VisionTransformer.from_state_dict(state)      # timm names
  logits = vit(x)                                     # (N, 1000)
  tokens = vit.tokens(x); tokens = vit.blocks[0](tokens)   # step by step

Dosovitskiy et al. 2021, as timm 0.9 builds it: a 16 x 16 / 16 patch
embedding (a convolution with bias), a class token and learned position
embeddings (1 + 196 tokens at 224), `depth` pre-norm blocks (LayerNorm eps
1e-6; multi-head self-attention with a qkv bias, scale head_dim^-1/2;
an MLP of 4 x dim with exact GELU), a final LayerNorm, the class token, a
linear head. Input: (N, H, W, 3) already normalised (LoDa feeds ImageNet's
mean/std; the ViT's own cfg is 0.5/0.5); H and W multiples of the patch,
at the size of the position embeddings (no interpolation).

Weights are never downloaded: `iqa_jax.weights.read_state_dict` reads a
timm `.safetensors` or `.pth` file the user has, and `from_state_dict`
maps its names (patch_embed.proj, cls_token, pos_embed, blocks.i.*, norm,
head).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from iqa_jax import weights

__all__ = ["VisionTransformer", "Block", "expected_keys", "VIT_B16"]

# timm's vit_base_patch16_224
VIT_B16 = dict(image_size=224, patch=16, dim=768, depth=12, heads=12,
               mlp_ratio=4, num_classes=1000)


class Mlp(nnx.Module):
  """timm's Mlp: fc1 -> exact GELU -> fc2."""

  def __init__(self, din: int, hidden: int, dout: int, *, rngs: nnx.Rngs):
    self.fc1 = nnx.Linear(din, hidden, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, dout, rngs=rngs)

  def __call__(self, x):
    return self.fc2(jax.nn.gelu(self.fc1(x), approximate=False))


class Attention(nnx.Module):
  """Multi-head self-attention with a joint qkv projection (bias)."""

  def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
    self.heads = heads
    self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
    self.proj = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, x, *, return_attention: bool = False):
    n, t, d = x.shape
    h = self.heads
    qkv = self.qkv(x).reshape(n, t, 3, h, d // h)
    q, k, v = (jnp.moveaxis(qkv[:, :, i], 2, 1) for i in range(3))  # n h t e
    logits = jnp.einsum("nhte,nhse->nhts", q, k) * (d // h) ** -0.5
    a = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
    y = jnp.moveaxis(jnp.einsum("nhts,nhse->nhte", a, v), 1, 2)
    y = self.proj(y.reshape(n, t, d))
    return (y, a) if return_attention else y


class Block(nnx.Module):
  """x + attn(norm1(x)), then x + mlp(norm2(x))."""

  def __init__(self, dim: int, heads: int, mlp_ratio: int, *,
               rngs: nnx.Rngs):
    self.norm1 = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
    self.attn = Attention(dim, heads, rngs=rngs)
    self.norm2 = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
    self.mlp = Mlp(dim, mlp_ratio * dim, dim, rngs=rngs)

  def __call__(self, x, *, return_attention: bool = False):
    y = self.attn(self.norm1(x), return_attention=return_attention)
    y, a = y if return_attention else (y, None)
    x = x + y
    x = x + self.mlp(self.norm2(x))
    return (x, a) if return_attention else x


class VisionTransformer(nnx.Module):
  """ViT in timm's layout (defaults: ViT-B/16 at 224, `VIT_B16`)."""

  def __init__(self, *, image_size: int = 224, patch: int = 16,
               dim: int = 768, depth: int = 12, heads: int = 12,
               mlp_ratio: int = 4, num_classes: int = 1000,
               rngs: nnx.Rngs):
    if image_size % patch:
      raise ValueError(f"image_size {image_size} is not a multiple of the "
                       f"patch {patch}.")
    self.image_size, self.patch, self.dim = image_size, patch, dim
    self.patch_embed = nnx.Conv(3, dim, kernel_size=(patch, patch),
                                strides=(patch, patch), padding="VALID",
                                rngs=rngs)
    tokens = (image_size // patch) ** 2 + 1
    init = nnx.initializers.truncated_normal(0.02)
    self.cls_token = nnx.Param(init(rngs.params(), (1, 1, dim)))
    self.pos_embed = nnx.Param(init(rngs.params(), (1, tokens, dim)))
    self.blocks = nnx.List([Block(dim, heads, mlp_ratio, rngs=rngs)
                            for _ in range(depth)])
    self.norm = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
    self.head = (nnx.Linear(dim, num_classes, rngs=rngs) if num_classes
                 else None)

  def tokens(self, x: jax.Array) -> jax.Array:
    """(N, 1 + P, dim): the class token and the patch embeddings, plus the
    position embeddings, before the first block."""
    n, h, w, _ = x.shape
    if (h, w) != (self.image_size, self.image_size):
      raise ValueError(f"this ViT takes {self.image_size} x "
                       f"{self.image_size} input, got {h} x {w}.")
    p = self.patch_embed(x).reshape(n, -1, self.dim)
    cls = jnp.broadcast_to(self.cls_token[...], (n, 1, self.dim))
    return jnp.concatenate([cls.astype(p.dtype), p], 1) + self.pos_embed[...]

  def __call__(self, x: jax.Array, *, pre_logits: bool = False) -> jax.Array:
    """(N, num_classes) logits, or the (N, dim) normalised class token."""
    t = self.tokens(x)
    for block in self.blocks:
      t = block(t)
    cls = self.norm(t)[:, 0]
    return cls if pre_logits or self.head is None else self.head(cls)

  @classmethod
  def from_state_dict(cls, state: Mapping[str, np.ndarray],
                      **config) -> "VisionTransformer":
    """The model from timm parameter names; `config` as the constructor
    (default `VIT_B16`; `num_classes=0` drops the head).

    Raises:
      KeyError: names are missing or unexpected (the message lists them).
      ValueError: a shape differs (another architecture).
    """
    cfg = {**VIT_B16, **config}
    model = nnx.merge(*_abstract(tuple(sorted(cfg.items()))))
    given = dict(state)
    if not cfg["num_classes"]:
      given = {k: v for k, v in given.items() if not k.startswith("head.")}
    weights.assign(dict(_targets(model)), given,
                   what="timm ViT state dict of this configuration",
                   example="patch_embed.proj.weight, cls_token, pos_embed, "
                   "blocks.0.attn.qkv.weight, norm.weight")
    return model


@functools.lru_cache(maxsize=8)
def _abstract(config: tuple):
  return nnx.split(nnx.eval_shape(
      lambda: VisionTransformer(**dict(config), rngs=nnx.Rngs(0))))


def _targets(model: VisionTransformer):
  """(timm name, (variable, "conv" | "linear" | "plain"))."""
  def linear(prefix, lin):
    yield f"{prefix}.weight", (lin.kernel, "linear")
    yield f"{prefix}.bias", (lin.bias, "plain")

  def norm(prefix, ln):
    yield f"{prefix}.weight", (ln.scale, "plain")
    yield f"{prefix}.bias", (ln.bias, "plain")

  yield "patch_embed.proj.weight", (model.patch_embed.kernel, "conv")
  yield "patch_embed.proj.bias", (model.patch_embed.bias, "plain")
  yield "cls_token", (model.cls_token, "plain")
  yield "pos_embed", (model.pos_embed, "plain")
  for i, b in enumerate(model.blocks):
    p = f"blocks.{i}"
    yield from norm(f"{p}.norm1", b.norm1)
    yield from linear(f"{p}.attn.qkv", b.attn.qkv)
    yield from linear(f"{p}.attn.proj", b.attn.proj)
    yield from norm(f"{p}.norm2", b.norm2)
    yield from linear(f"{p}.mlp.fc1", b.mlp.fc1)
    yield from linear(f"{p}.mlp.fc2", b.mlp.fc2)
  yield from norm("norm", model.norm)
  if model.head is not None:
    yield from linear("head", model.head)


def expected_keys(**config) -> dict[str, tuple[int, ...]]:
  """The timm names and (torch-layout) shapes of a ViT (default ViT-B/16)."""
  cfg = {**VIT_B16, **config}
  model = nnx.merge(*_abstract(tuple(sorted(cfg.items()))))
  out = {}
  for name, (var, kind) in _targets(model):
    s = tuple(var.shape)
    out[name] = ((s[3], s[2], s[0], s[1]) if kind == "conv" else
                 s[::-1] if kind == "linear" else s)
  return out
