"""LoDa (Xu et al., CVPR 2024; source text 002): a frozen ViT-B/16 steered by
local distortion features of a frozen CNN through a small trainable learner.

  model = LoDa(LodaConfig(), rngs=nnx.Rngs(0))        # random weights
  score = model(x)                                    # (N,) in [-1, 1]
  n = trainable_parameters(LodaConfig())              # 8,927,488

As the authors' code (NeosXu/LoDa, `src/model/loda.py`; see
../shared/notes/authors_code.md, s. 2) computes it, for (N, 224, 224, 3)
ImageNet-normalised crops:

1. CNN tokens: the four stages of ResNet-50 (256/512/1024/2048 channels at
   strides 4/8/16/32), each through the learner's extractor Conv1x1(C -> r,
   bias) -> exact GELU -> Conv3x3(r -> r, no bias, pad 1) -> adaptive
   average pool to 7 x 7, row-major, concatenated: 196 x r tokens.
2. ViT tokens (class token + 196 patches + positions). Before block i of
   the ViT (every L/N-th block for N interactions), with injector k:
   d = Mlp_down_k(x) (dim -> r -> r), d = d + CrossAttn_k(d, cnn tokens)
   (q: r -> r and kv: r -> 2r without bias, `heads` heads, scale
   (r / heads)^-1/2, proj r -> r with bias), x = x + Mlp_up_k(d) (r -> dim
   -> dim) * s_k; then the block.
3. The ViT's final LayerNorm, the class token, dropout 0.1, and the normed
   linear head: cos(x, w) for w (dim, 1), a score in [-1, 1].

Only `learner` is trained (its parameters: 8,927,488 at the defaults); the
ViT and the CNN stay frozen. In training mode (`model.train()`) the frozen
ResNet's batch norm uses batch statistics and updates its running
statistics, as the authors' `net.train()` does; `LodaConfig(cnn_bn="eval")`
keeps it in inference mode instead. Ablations (supplement): latent r
(Table 9), heads (Table 10), interactions N (Table 12), the CNN (Table 8:
"resnet50" or "vgg16", whose relu2_2/3_3/4_3/5_3 at strides 2/4/8/16 are
its four stages).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from iqa_jax import weights
from iqa_jax.models import vit as vit_lib
from iqa_jax.models.resnet import ResNet50
from iqa_jax.models.vgg import VGG16

__all__ = ["LodaConfig", "LoDa", "Learner", "CrossAttention",
           "trainable_parameters", "TINY", "adaptive_avg_pool",
           "CNN_STAGES", "learner_keys", "load_authors_state",
           "read_authors_checkpoint", "set_backbone_dtype"]

# CNN -> (feature names, channels) of its four stages.
CNN_STAGES = {
    "resnet50": (("stage1", "stage2", "stage3", "stage4"),
                 (256, 512, 1024, 2048)),
    "vgg16": (("relu2_2", "relu3_3", "relu4_3", "relu5_3"),
              (128, 256, 512, 512)),
}


@dataclasses.dataclass(frozen=True)
class LodaConfig:
  """LoDa's architecture (defaults: the paper's).

  latent: r, the learner's width (Table 9: 48 / 64 / 80).
  heads: cross-attention heads (Table 10: 2 / 4 / 8).
  interactions: N injectors, one before every (depth / N)-th ViT block
    (Table 12: 3 / 6 / 12).
  grid: side of the pooled CNN token grid per stage.
  dropout: before the head.
  cnn: "resnet50" or "vgg16" (Table 8).
  cnn_bn: "train" (the authors' code: batch statistics in training,
    running statistics updated) or "eval" (always running statistics).
  vit: the ViT's constructor arguments (default ViT-B/16 at 224).
  cnn_width: ResNet-50's stage widths divided by this (1: the real one; a
    tiny model for tests uses more); ignored for vgg16.
  dtype: "float32", or "bfloat16" for accelerators: the frozen ViT and CNN
    are stored and run in bfloat16 (`set_backbone_dtype`).
  """

  latent: int = 64
  heads: int = 4
  interactions: int = 12
  grid: int = 7
  dropout: float = 0.1
  cnn: str = "resnet50"
  cnn_bn: str = "train"
  vit: tuple = tuple(sorted({**vit_lib.VIT_B16, "num_classes": 0}.items()))
  cnn_width: int = 1
  dtype: str = "float32"

  def __post_init__(self):
    vit = dict(self.vit)
    if self.dtype not in ("float32", "bfloat16"):
      raise ValueError(f"dtype must be 'float32' or 'bfloat16', got "
                       f"{self.dtype!r}.")
    if self.cnn not in CNN_STAGES:
      raise ValueError(f"cnn must be one of {sorted(CNN_STAGES)}, got "
                       f"{self.cnn!r}.")
    if self.cnn_bn not in ("train", "eval"):
      raise ValueError(f"cnn_bn must be 'train' or 'eval', got "
                       f"{self.cnn_bn!r}.")
    if vit["depth"] % self.interactions:
      raise ValueError(f"interactions={self.interactions} must divide the "
                       f"ViT depth {vit['depth']} (Table 12: 3, 6 or 12).")
    if self.latent % self.heads:
      raise ValueError(f"latent={self.latent} is not divisible by "
                       f"heads={self.heads}.")

  @property
  def vit_config(self) -> dict:
    return dict(self.vit)

  @property
  def channels(self) -> tuple[int, ...]:
    names, ch = CNN_STAGES[self.cnn]
    del names
    if self.cnn == "resnet50":
      return tuple(c // self.cnn_width for c in ch)
    return ch


# A structurally identical toy LoDa for tests and `runlocal`: ViT of depth 4,
# width 64 at 32 x 32 (patch 8), ResNet-50 stage widths / 16, r = 16.
TINY = LodaConfig(latent=16, heads=4, interactions=4, grid=2,
                  vit=tuple(sorted(dict(image_size=32, patch=8, dim=64,
                                        depth=4, heads=4, mlp_ratio=4,
                                        num_classes=0).items())),
                  cnn_width=16)


def adaptive_avg_pool(x: jax.Array, out: int) -> jax.Array:
  """(N, H, W, C) -> (N, out, out, C), torch's AdaptiveAvgPool2d: cell i
  averages rows floor(i H / out) ... ceil((i + 1) H / out) - 1."""
  def matrix(n):
    m = np.zeros((out, n), np.float32)
    for i in range(out):
      lo, hi = (i * n) // out, -((-(i + 1) * n) // out)
      m[i, lo:hi] = 1.0 / (hi - lo)
    return jnp.asarray(m, x.dtype)
  mh, mw = matrix(x.shape[1]), matrix(x.shape[2])
  return jnp.einsum("ih,nhwc,jw->nijc", mh, x, mw)


class CrossAttention(nnx.Module):
  """Queries from the ViT's down-projected tokens, keys and values from the
  CNN tokens (q, kv without bias; proj with bias)."""

  def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
    self.heads = heads
    self.q = nnx.Linear(dim, dim, use_bias=False, rngs=rngs)
    self.kv = nnx.Linear(dim, 2 * dim, use_bias=False, rngs=rngs)
    self.proj = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, query: jax.Array, tokens: jax.Array) -> jax.Array:
    n, t, d = query.shape
    h = self.heads
    kv = self.kv(tokens).reshape(n, tokens.shape[1], 2, h, d // h)
    k, v = jnp.moveaxis(kv[:, :, 0], 2, 1), jnp.moveaxis(kv[:, :, 1], 2, 1)
    q = jnp.moveaxis(self.q(query).reshape(n, t, h, d // h), 2, 1)
    a = jax.nn.softmax(jnp.einsum("nhte,nhse->nhts", q, k)
                       * (d // h) ** -0.5, axis=-1)
    y = jnp.moveaxis(jnp.einsum("nhts,nhse->nhte", a, v), 1, 2)
    return self.proj(y.reshape(n, t, d))


class Extractor(nnx.Module):
  """One stage's local distortion extractor: Conv1x1 (bias), GELU,
  Conv3x3 (no bias), adaptive average pooling to grid x grid."""

  def __init__(self, cin: int, r: int, grid: int, *, rngs: nnx.Rngs):
    self.grid = grid
    self.conv1 = nnx.Conv(cin, r, kernel_size=(1, 1), rngs=rngs)
    self.conv2 = nnx.Conv(r, r, kernel_size=(3, 3), padding=1,
                          use_bias=False, rngs=rngs)

  def __call__(self, f: jax.Array) -> jax.Array:
    y = self.conv2(jax.nn.gelu(self.conv1(f), approximate=False))
    y = adaptive_avg_pool(y, self.grid)
    return y.reshape(y.shape[0], -1, y.shape[-1])


class Learner(nnx.Module):
  """Every trainable parameter of LoDa (the authors' `Learner`)."""

  def __init__(self, cfg: LodaConfig, *, rngs: nnx.Rngs):
    dim, r, n = cfg.vit_config["dim"], cfg.latent, cfg.interactions
    self.conv = nnx.List([Extractor(c, r, cfg.grid, rngs=rngs)
                          for c in cfg.channels])
    self.down_proj = nnx.List([vit_lib.Mlp(dim, r, r, rngs=rngs)
                               for _ in range(n)])
    self.cross_attn = nnx.List([CrossAttention(r, cfg.heads, rngs=rngs)
                                for _ in range(n)])
    self.up_proj = nnx.List([vit_lib.Mlp(r, dim, dim, rngs=rngs)
                             for _ in range(n)])
    self.scale_factor = nnx.Param(nnx.initializers.truncated_normal(0.02)(
        rngs.params(), (n, dim)))
    # NormedLinear: columns of unit length (uniform directions).
    w = jax.random.uniform(rngs.params(), (dim, 1), minval=-1.0, maxval=1.0)
    self.head = nnx.Param(w / jnp.linalg.norm(w, axis=0, keepdims=True))

  def inject(self, k: int, x: jax.Array, tokens: jax.Array) -> jax.Array:
    """x + Mlp_up_k(d + CrossAttn_k(d, tokens)) s_k, d = Mlp_down_k(x)."""
    d = self.down_proj[k](x)
    d = d + self.cross_attn[k](d, tokens)
    return x + self.up_proj[k](d) * self.scale_factor[k]

  def score(self, x: jax.Array) -> jax.Array:
    """(N,) cos(x, w): the normed linear head."""
    xn = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    w = self.head[...]
    wn = w / jnp.maximum(jnp.linalg.norm(w, axis=0, keepdims=True), 1e-12)
    return (xn @ wn)[:, 0]


class LoDa(nnx.Module):
  """The frozen ViT and CNN with the trainable learner (module docstring)."""

  def __init__(self, cfg: LodaConfig = LodaConfig(), *, rngs: nnx.Rngs,
               vit: vit_lib.VisionTransformer | None = None, cnn=None):
    self.cfg = cfg
    self.vit = vit if vit is not None else vit_lib.VisionTransformer(
        **cfg.vit_config, rngs=rngs)
    if self.vit.head is not None:
      raise ValueError("LoDa's ViT has no classifier head: build it with "
                       "num_classes=0.")
    if cnn is None:
      cnn = (ResNet50(rngs=rngs, width_divisor=cfg.cnn_width)
             if cfg.cnn == "resnet50" else VGG16(rngs=rngs))
    self.cnn = cnn
    self.learner = Learner(cfg, rngs=rngs)
    self.dropout = nnx.Dropout(cfg.dropout, rngs=rngs)
    if cfg.dtype != "float32":
      set_backbone_dtype(self, cfg.dtype)

  def cnn_tokens(self, x: jax.Array) -> jax.Array:
    """(N, 4 grid^2, r) tokens of the four CNN stages."""
    names, _ = CNN_STAGES[self.cfg.cnn]
    if self.cfg.cnn == "resnet50":
      feats = self.cnn(x)
    else:
      feats = self.cnn(x, layers=names, pool="max")
    if self.cfg.cnn_bn == "eval" or self.cfg.cnn == "vgg16":
      feats = jax.tree.map(jax.lax.stop_gradient, feats)
    return jnp.concatenate([ext(feats[k]) for ext, k in
                            zip(self.learner.conv, names)], axis=1)

  def blocks(self, x: jax.Array, *, inject: bool = True):
    """([tokens after each ViT block, (N, T, dim)], the last block's
    (N, heads, T, T) attention); inject=False runs the frozen ViT alone
    (the "ViT" of the supplement's Fourier and attention figures)."""
    tokens = self.cnn_tokens(x) if inject else None
    t = self.vit.tokens(x)
    every = len(self.vit.blocks) // self.cfg.interactions
    out, attn = [], None
    for i, block in enumerate(self.vit.blocks):
      if inject and i % every == 0:
        t = self.learner.inject(i // every, t, tokens)
      if i == len(self.vit.blocks) - 1:
        t, attn = block(t, return_attention=True)
      else:
        t = block(t)
      out.append(t)
    return out, attn

  def features(self, x: jax.Array, *, return_attention: bool = False):
    """(N, dim) the normalised class token (and, if asked, the last block's
    (N, heads, T, T) attention)."""
    out, attn = self.blocks(x)
    cls = self.vit.norm(out[-1])[:, 0].astype(jnp.float32)
    return (cls, attn) if return_attention else cls

  def __call__(self, x: jax.Array) -> jax.Array:
    """(N,) scores in [-1, 1] of (N, H, W, 3) ImageNet-normalised crops."""
    return self.learner.score(self.dropout(self.features(x)))


def set_backbone_dtype(model: LoDa, dtype) -> LoDa:
  """Stores the frozen ViT's and CNN's parameters in `dtype` and runs their
  layers in it, in place (mixed precision for accelerators: bfloat16 halves
  the backbones' memory and runs their matmuls on the tensor cores). The
  learner, the ViT's residual stream after the first injection, the
  attention softmax, the normalisation statistics, the BN running
  statistics and the score stay float32. Returns `model`."""
  dtype = jnp.dtype(dtype)
  for part in (model.vit, model.cnn):
    for _, m in nnx.iter_modules(part):
      if isinstance(m, (nnx.Linear, nnx.Conv, nnx.LayerNorm)):
        m.dtype = dtype
    params = nnx.state(part, nnx.Param)
    nnx.update(part, jax.tree.map(lambda a: a.astype(dtype), params))
  return model


def _count(tree) -> int:
  return sum(math.prod(v.shape) for v in jax.tree.leaves(tree))


def trainable_parameters(cfg: LodaConfig = LodaConfig()) -> int:
  """The learner's parameter count, from abstract shapes (nothing is
  allocated)."""
  learner = nnx.eval_shape(lambda: Learner(cfg, rngs=nnx.Rngs(0)))
  return _count(nnx.state(learner, nnx.Param))


# ----------------------------------------------------------------------------
# The authors' checkpoints: {"learner": state dict, "bn_buffer": the ResNet's
# running statistics} (`obtain_state_to_save` in src/model/loda.py).


def _learner_targets(learner: Learner):
  """(authors' name, (variable, "linear" | "conv" | "plain"))."""
  for i, ext in enumerate(learner.conv):
    yield f"conv.{i}.0.weight", (ext.conv1.kernel, "conv")
    yield f"conv.{i}.0.bias", (ext.conv1.bias, "plain")
    yield f"conv.{i}.2.weight", (ext.conv2.kernel, "conv")
  for k in range(len(learner.down_proj)):
    for part in ("down_proj", "up_proj"):
      mlp = getattr(learner, part)[k]
      for fc in ("fc1", "fc2"):
        lin = getattr(mlp, fc)
        yield f"{part}.{k}.{fc}.weight", (lin.kernel, "linear")
        yield f"{part}.{k}.{fc}.bias", (lin.bias, "plain")
    ca = learner.cross_attn[k]
    yield f"cross_attn.{k}.q.weight", (ca.q.kernel, "linear")
    yield f"cross_attn.{k}.kv.weight", (ca.kv.kernel, "linear")
    yield f"cross_attn.{k}.proj.weight", (ca.proj.kernel, "linear")
    yield f"cross_attn.{k}.proj.bias", (ca.proj.bias, "plain")
  yield "scale_factor", (learner.scale_factor, "plain")
  yield "head.weight", (learner.head, "plain")     # NormedLinear: (in, out)


def _torch_shape(shape, kind):
  s = tuple(shape)
  return ((s[3], s[2], s[0], s[1]) if kind == "conv" else
          s[::-1] if kind == "linear" else s)


def learner_keys(cfg: LodaConfig = LodaConfig()) -> dict[str, tuple]:
  """The authors' learner names and (torch-layout) shapes for `cfg`."""
  learner = nnx.eval_shape(lambda: Learner(cfg, rngs=nnx.Rngs(0)))
  return {k: _torch_shape(v.shape, kind)
          for k, (v, kind) in _learner_targets(learner)}


def load_authors_state(model: LoDa, state, *, source: str = "checkpoint"):
  """Loads {"learner": ..., "bn_buffer": ...} (the authors' checkpoint,
  as torch.load returns it, or flattened as "learner.<name>" /
  "bn_buffer.<name>") into `model` in place; returns it.

  Raises:
    KeyError: a learner key is missing or unexpected (named, with the
      configuration that would fit when the shapes say so).
    ValueError: a shape differs: a checkpoint of another configuration
      (r, heads, N) or CNN.
  """
  if "learner" not in state:
    learner = {k[len("learner."):]: v for k, v in state.items()
               if k.startswith("learner.")}
    bn = {k[len("bn_buffer."):]: v for k, v in state.items()
          if k.startswith("bn_buffer.")}
  else:
    learner, bn = state["learner"], state.get("bn_buffer", {})
  targets = dict(_learner_targets(model.learner))
  missing = sorted(set(targets) - set(learner))
  unexpected = sorted(set(learner) - set(targets))
  if missing or unexpected:
    raise KeyError(
        f"{source}: not a LoDa learner of this configuration "
        f"(r={model.cfg.latent}, heads={model.cfg.heads}, "
        f"N={model.cfg.interactions}, {model.cfg.cnn}): {len(missing)} "
        f"missing key(s) {missing[:5]}, {len(unexpected)} unexpected "
        f"{unexpected[:5]}.")
  for name, (var, kind) in targets.items():
    got, want = np.shape(learner[name]), _torch_shape(var.shape, kind)
    if got != want:
      raise ValueError(
          f"{source}: learner.{name} has shape {got}, this model "
          f"(r={model.cfg.latent}, heads={model.cfg.heads}, "
          f"N={model.cfg.interactions}, {model.cfg.cnn}) needs {want}: "
          "build the model with the checkpoint's configuration.")
  weights.assign(targets, learner, what="LoDa learner",
                 example="conv.0.0.weight, cross_attn.0.kv.weight")
  if bn:
    if model.cfg.cnn != "resnet50":
      raise ValueError(f"{source}: bn_buffer holds ResNet statistics but "
                       f"the model's CNN is {model.cfg.cnn}.")
    from iqa_jax.models import resnet  # pylint: disable=g-import-not-at-top
    stats = {n: v for n, (v, _) in resnet._targets(model.cnn)  # pylint: disable=protected-access
             if n.endswith(("running_mean", "running_var"))}
    given = {k for k in bn if not k.endswith("num_batches_tracked")}
    absent = sorted(set(stats) - given)
    if absent or given - set(stats):
      raise KeyError(f"{source}: bn_buffer does not match ResNet-50: "
                     f"missing {absent[:5]}, unexpected "
                     f"{sorted(given - set(stats))[:5]}.")
    weights.assign({k: (v, "plain") for k, v in stats.items()},
                   {k: bn[k] for k in stats}, what="ResNet-50 bn_buffer",
                   example="bn1.running_mean")
  return model


def read_authors_checkpoint(path) -> dict:
  """The authors' checkpoint file: a torch `.pt`/`.pth` (needs torch;
  loaded with weights_only=True), or a `.safetensors`/`.npz` holding the
  same tensors as "learner.<name>" and "bn_buffer.<name>"."""
  from pathlib import Path  # pylint: disable=g-import-not-at-top
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(
        f"{path}: no such LoDa checkpoint. The authors publish theirs with "
        "their code (github.com/NeosXu/LoDa, README: pretrained models).")
  if path.suffix == ".npz":
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  if path.suffix == ".safetensors":
    return weights.read_safetensors(path)
  if path.suffix in (".pt", ".pth"):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise FileNotFoundError(
          f"{path}: reading a torch checkpoint needs torch (pip install "
          "torch), or save its tensors as .safetensors / .npz with keys "
          "learner.<name> and bn_buffer.<name>.") from e
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return {part: {k: v.numpy() for k, v in raw[part].items()}
            for part in ("learner", "bn_buffer") if part in raw}
  raise ValueError(f"{path}: unknown checkpoint format {path.suffix!r}.")
