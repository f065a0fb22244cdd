"""ResNet-50 (torchvision layout, inference-mode batch norm) as an NNX module.

  net = ResNet50.from_state_dict(state)          # torchvision / timm names
  out = net(x)    # {"stage1".."stage4": NHWC maps, "embedding": (N, 2048)}
  emb = net.embed(patches)   # Eq. 2 of source text 001: GAP of the last block

The architecture of torchvision's `resnet50()` (v1.5: the stride of a
downsampling bottleneck sits on its 3x3 convolution): a 7x7/2 stem, 3x3/2 max
pooling, then [3, 4, 6, 3] bottlenecks of widths 64..512 (x4 expansion).
Batch norm uses the running statistics (eps 1e-5) unless the model is put
in training mode (`BatchNorm`). Weights are never
downloaded: `iqa_jax.weights.read_state_dict` reads a torchvision `.pth`
(needs torch) or a timm `.safetensors` file the user already has.
"""

from __future__ import annotations

import functools

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from iqa_jax import weights
from iqa_jax.models.conv import apply_conv
from iqa_jax.models.vgg import imagenet_normalise

__all__ = ["ResNet50", "BatchNorm", "STAGES", "expected_keys"]

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # width, blocks, stride


def _conv(cin, cout, k, stride, rngs):
  return nnx.Conv(cin, cout, kernel_size=(k, k), strides=(stride, stride),
                  padding=k // 2, use_bias=False, rngs=rngs)


class BatchNorm(nnx.Module):
  """torch's BatchNorm2d over the last axis (eps 1e-5, momentum 0.1).

  Inference (`use_running_average`, the default): the running statistics.
  Training (`model.train()` sets use_running_average=False): the batch's
  mean and biased variance normalise, and the running statistics move
  0.1 of the way to the batch mean and the *unbiased* variance, as torch
  updates them (LoDa trains with its frozen ResNet in this mode).
  """

  def __init__(self, c: int, *, eps: float = 1e-5, momentum: float = 0.1,
               use_running_average: bool = True):
    self.scale = nnx.Param(jnp.ones((c,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((c,), jnp.float32))
    self.mean = nnx.BatchStat(jnp.zeros((c,), jnp.float32))
    self.var = nnx.BatchStat(jnp.ones((c,), jnp.float32))
    self.eps, self.momentum = eps, momentum
    self.use_running_average = use_running_average

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.use_running_average:
      m, v = self.mean[...], self.var[...]
    else:
      axes = tuple(range(x.ndim - 1))
      xf = x.astype(jnp.float32)
      m = jnp.mean(xf, axes)
      v = jnp.mean(jnp.square(xf - m), axes)
      n = x.size // x.shape[-1]
      mom = self.momentum
      self.mean[...] = (1 - mom) * self.mean[...] + mom * m
      self.var[...] = (1 - mom) * self.var[...] + mom * v * (n / max(n - 1, 1))
    k = self.scale[...] * jax.lax.rsqrt(v + self.eps)
    return (x * k + (self.bias[...] - m * k)).astype(x.dtype)


def _bn(c, rngs):
  del rngs
  return BatchNorm(c)


class Bottleneck(nnx.Module):

  def __init__(self, cin, width, stride, *, rngs):
    self.conv1, self.bn1 = _conv(cin, width, 1, 1, rngs), _bn(width, rngs)
    self.conv2, self.bn2 = _conv(width, width, 3, stride, rngs), _bn(width, rngs)
    self.conv3, self.bn3 = _conv(width, 4 * width, 1, 1, rngs), _bn(4 * width,
                                                                    rngs)
    # [conv, bn] when the shape changes, else empty (an identity shortcut).
    self.downsample = nnx.List(
        [_conv(cin, 4 * width, 1, stride, rngs), _bn(4 * width, rngs)]
        if stride != 1 or cin != 4 * width else [])

  def __call__(self, x):
    y = jax.nn.relu(self.bn1(apply_conv(self.conv1, x)))
    y = jax.nn.relu(self.bn2(apply_conv(self.conv2, y)))
    y = self.bn3(apply_conv(self.conv3, y))
    if len(self.downsample):
      x = self.downsample[1](apply_conv(self.downsample[0], x))
    return jax.nn.relu(y + x)


class ResNet50(nnx.Module):
  """torchvision's resnet50 up to the global average pool (no classifier)."""

  def __init__(self, *, rngs: nnx.Rngs, width_divisor: int = 1):
    """width_divisor > 1 divides every width (a structurally identical toy
    network for tests and `runlocal` configurations)."""
    stem = 64 // width_divisor
    self.conv1, self.bn1 = _conv(3, stem, 7, 2, rngs), _bn(stem, rngs)
    layers, cin = [], stem
    for width, blocks, stride in STAGES:
      width //= width_divisor
      stage = []
      for b in range(blocks):
        stage.append(Bottleneck(cin, width, stride if b == 0 else 1,
                                rngs=rngs))
        cin = 4 * width
      layers.append(nnx.List(stage))
    self.layers = nnx.List(layers)

  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    """Stage outputs and the 2048-d embedding of (N, H, W, 3) input."""
    x = jax.nn.relu(self.bn1(apply_conv(self.conv1, x)))
    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1),
                              (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = {}
    for i, stage in enumerate(self.layers):
      for block in stage:
        x = block(x)
      out[f"stage{i + 1}"] = x
    out["embedding"] = jnp.mean(x, axis=(1, 2))
    return out

  def embed(self, patches: jax.Array) -> jax.Array:
    """Eq. 2: the 2048-d GAP of the last block of ImageNet-normalised
    patches (N, H, W, 3) in [0, 1]."""
    return self(imagenet_normalise(patches))["embedding"].astype(jnp.float32)

  @classmethod
  def from_state_dict(cls, state: Mapping[str, np.ndarray]) -> "ResNet50":
    """Builds the model from torchvision/timm parameter names (OIHW convs).

    Raises:
      KeyError: names are missing or unexpected (the message lists them).
      ValueError: a shape differs.
    """
    model = nnx.merge(*_abstract(cls))   # shapes only: all are replaced
    given = {k: v for k, v in state.items() if not k.startswith("fc.")
             and not k.endswith("num_batches_tracked")}
    weights.assign({k: (v, "conv" if c else "plain")
                    for k, (v, c) in _targets(model)}, given,
                   what="torchvision/timm ResNet-50 state dict",
                   example="conv1.weight, bn1.running_mean, "
                   "layer1.0.conv1.weight, layer1.0.downsample.0.weight")
    return model


@functools.lru_cache(maxsize=2)
def _abstract(cls):
  """(graphdef, state of shapes) of a model of class `cls`: tracing the
  constructor takes a second, a real random initialisation 11 s (its first
  compilation, on 2 CPU cores)."""
  return nnx.split(nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0))))


def _targets(model: ResNet50):
  """(torch name, (nnx variable, is_conv)) for every parameter."""
  def conv(prefix, c):
    yield f"{prefix}.weight", (c.kernel, True)

  def bn(prefix, b):
    for tname, var in (("weight", b.scale), ("bias", b.bias),
                       ("running_mean", b.mean), ("running_var", b.var)):
      yield f"{prefix}.{tname}", (var, False)

  yield from conv("conv1", model.conv1)
  yield from bn("bn1", model.bn1)
  for li, stage in enumerate(model.layers):
    for bi, block in enumerate(stage):
      p = f"layer{li + 1}.{bi}"
      for j in (1, 2, 3):
        yield from conv(f"{p}.conv{j}", getattr(block, f"conv{j}"))
        yield from bn(f"{p}.bn{j}", getattr(block, f"bn{j}"))
      if len(block.downsample):
        yield from conv(f"{p}.downsample.0", block.downsample[0])
        yield from bn(f"{p}.downsample.1", block.downsample[1])


def expected_keys() -> dict[str, tuple[int, ...]]:
  """The torchvision names and (torch-layout) shapes ResNet50 needs."""
  model = nnx.merge(*_abstract(ResNet50))
  out = {}
  for name, (var, is_conv) in _targets(model):
    shape = tuple(var.shape)
    out[name] = (shape[3], shape[2], shape[0], shape[1]) if is_conv else shape
  return out
