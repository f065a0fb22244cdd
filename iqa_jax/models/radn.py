"""WResNet and RADN (Shi et al., CVPRW 2021; source text 004) as NNX modules.

  model = RADN(rngs=nnx.Rngs(0))          # 21,881,812 parameters
  q = model(dist, ref)                    # (B, P, 32, 32, 3) each -> (B,)
  q = model(dist, ref, mask=m)            # m (B, P): real patches
  model = WResNet(rngs=nnx.Rngs(0))       # 14,889,410 parameters

As the authors' code (IIGROUP/RADN, `model/WResNet.py`, `model/RADN.py`;
../shared/notes/authors_code.md, s. 3) computes it, on 32 x 32 RGB patches
in [0, 1] taken at the same places in the distorted and reference image:

* The modified residual block (`Stage`): four 3 x 3 convolutions (bias, no
  batch norm); the first changes the width and strides, then
  out = ReLU(c4(ReLU(c3(ReLU(c2(a)))))) + a, the skip added after the last
  ReLU. WResNet's very first convolution has no ReLU, RADN's has.
* WResNet: five stages 64, 128, 256, 256, 512 wide (32 -> 32 -> 16 -> 8 ->
  4 -> 2 pixels), a 2 x 2 average: 512-d per patch.
* RADN: the first four stages with the fourth at stride 1 (256 @ 8 x 8);
  the reference-oriented deformable convolution: offsets = Conv3x3(256 ->
  18) of the *reference* features drive two deformable convolutions
  (`deform.DeformConv`, 256 -> 256), one on each stream; the shared tail
  (a stage 256 -> 512 at stride 2, Conv(512 -> 512, stride 2) + ReLU,
  Conv(512 -> 512) + ReLU, 2 x 2 average); then one embedded-Gaussian
  non-local block per stream over the patches of an image (theta, phi, g:
  512 -> 256; softmax(theta phi^T) over patches, unscaled; W: 256 -> 512,
  initialised to zero; residual).
* WaDIQaM heads on f = [h_d - h_r, h_d, h_r] (1536-d): score s = fc2_q(
  Dropout(ReLU(fc1_q f))), weight w = ReLU(fc2_w(Dropout(ReLU(fc1_w f))))
  + 1e-6, the image's score sum(w s) / sum(w) over its patches.

Every layer is initialised as torch initialises it (uniform within
1 / sqrt(fan_in)); the non-local output projection is zero, so a fresh
block is the identity. `RADN(attention=False)` leaves the non-local blocks
out (Table 3's "+ Deform" row), `RADN(deform=False)` the deformable module
("+ PatchAttn"). Parameter names follow the authors'
(`torch_names`), so their state dicts load with `load_torch_state`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from iqa_jax import weights
from iqa_jax.models.conv import apply_conv
from iqa_jax.models.deform import DeformConv

__all__ = ["WResNet", "RADN", "Stage", "NonLocal", "Heads", "VARIANTS",
           "build", "variant_of", "parameter_count", "torch_names", "load_torch_state", "PATCH"]

PATCH = 32


def _uniform(bound):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def _conv(cin, cout, stride=1, *, rngs):
  """3 x 3, padding 1, bias; torch's default initialisation."""
  b = 1 / math.sqrt(9 * cin)
  return nnx.Conv(cin, cout, kernel_size=(3, 3), strides=(stride, stride),
                  padding=1, kernel_init=_uniform(b), bias_init=_uniform(b),
                  rngs=rngs)


def _linear(din, dout, *, rngs, zero=False):
  b = 1 / math.sqrt(din)
  init = nnx.initializers.zeros if zero else _uniform(b)
  return nnx.Linear(din, dout, kernel_init=init, bias_init=init, rngs=rngs)


class Stage(nnx.Module):
  """The modified residual block: conv a (width change, stride), convs b-d,
  the skip from a added after the last ReLU."""

  def __init__(self, cin: int, cout: int, stride: int, *, first_relu: bool,
               rngs: nnx.Rngs):
    self.first_relu = first_relu
    self.convs = nnx.List([_conv(cin, cout, stride, rngs=rngs)] +
                          [_conv(cout, cout, rngs=rngs) for _ in range(3)])

  def __call__(self, x: jax.Array) -> jax.Array:
    a = apply_conv(self.convs[0], x)
    if self.first_relu:
      a = jax.nn.relu(a)
    y = a
    for conv in self.convs[1:]:
      y = jax.nn.relu(apply_conv(conv, y))
    return y + a


def _w(c: int, divisor: int) -> int:
  return c if c == 3 else max(c // divisor, 1)


class NonLocal(nnx.Module):
  """Embedded-Gaussian non-local block over the P patch vectors of each
  image: z = x + W(softmax(theta(x) phi(x)^T) g(x)); padded patches (mask
  0) are neither attended to nor changed in the result's pooling."""

  def __init__(self, dim: int = 512, inner: int = 256, *, rngs: nnx.Rngs):
    self.theta = _linear(dim, inner, rngs=rngs)
    self.phi = _linear(dim, inner, rngs=rngs)
    self.g = _linear(dim, inner, rngs=rngs)
    self.W = _linear(inner, dim, rngs=rngs, zero=True)  # pylint: disable=invalid-name

  def __call__(self, x: jax.Array, mask: jax.Array | None = None):
    """x (B, P, dim), mask (B, P) -> (B, P, dim)."""
    f = jnp.einsum("bpi,bqi->bpq", self.theta(x), self.phi(x))
    if mask is not None:
      f = jnp.where(mask[:, None, :], f, -jnp.inf)
    a = jax.nn.softmax(f, axis=-1)
    return x + self.W(a @ self.g(x))


class Heads(nnx.Module):
  """WaDIQaM's score and weight branches and the weighted average."""

  def __init__(self, dim: int = 512, hidden: int = 512, *, rngs: nnx.Rngs):
    self.fc1_q = _linear(3 * dim, hidden, rngs=rngs)
    self.fc2_q = _linear(hidden, 1, rngs=rngs)
    self.fc1_w = _linear(3 * dim, hidden, rngs=rngs)
    self.fc2_w = _linear(hidden, 1, rngs=rngs)
    self.dropout = nnx.Dropout(0.5, rngs=rngs)

  def patches(self, hd: jax.Array, hr: jax.Array):
    """(scores, weights), each (B, P), of patch features (B, P, dim)."""
    f = jnp.concatenate([hd - hr, hd, hr], axis=-1)
    s = self.fc2_q(self.dropout(jax.nn.relu(self.fc1_q(f))))[..., 0]
    w = jax.nn.relu(self.fc2_w(self.dropout(jax.nn.relu(self.fc1_w(f)))))
    return s, w[..., 0] + 1e-6

  @staticmethod
  def pool(s, w, mask=None):
    """(B,) sum(w s) / sum(w) over the real patches (mask (B, P))."""
    if mask is not None:
      w = jnp.where(mask, w, 0.0)
    return (s * w).sum(-1) / w.sum(-1)

  def __call__(self, hd, hr, mask=None):
    return self.pool(*self.patches(hd, hr), mask)


def _check(dist, ref):
  if dist.shape != ref.shape:
    raise ValueError(f"distorted patches {dist.shape} and reference patches "
                     f"{ref.shape} differ: they must be taken at the same "
                     "places of images of the same size.")
  if dist.ndim != 5 or dist.shape[2:] != (PATCH, PATCH, 3):
    raise ValueError(f"patches must be (B, P, {PATCH}, {PATCH}, 3), got "
                     f"{dist.shape}.")


class WResNet(nnx.Module):
  """The FR baseline: a shared 20-convolution residual network and the
  WaDIQaM heads (module docstring)."""

  def __init__(self, *, width_divisor: int = 1, rngs: nnx.Rngs):
    """width_divisor > 1 divides every width (a narrow network of the same
    structure, for tests and `runlocal`)."""
    widths = [_w(c, width_divisor) for c in (3, 64, 128, 256, 256, 512)]
    self.stages = nnx.List([
        Stage(widths[i], widths[i + 1], 1 if i == 0 else 2,
              first_relu=i > 0, rngs=rngs) for i in range(5)])
    self.heads = Heads(widths[-1], _w(512, width_divisor), rngs=rngs)

  def features(self, x: jax.Array) -> jax.Array:
    """(N, 32, 32, 3) -> (N, 512)."""
    for stage in self.stages:
      x = stage(x)
    return x.mean(axis=(1, 2))

  def patch_features(self, dist, ref, mask=None):
    """(h_d, h_r), each (B, P, 512)."""
    del mask
    _check(dist, ref)
    b, p = dist.shape[:2]
    h = self.features(jnp.concatenate([dist, ref]).reshape(
        2 * b * p, PATCH, PATCH, 3)).reshape(2, b, p, -1)
    return h[0], h[1]

  def __call__(self, dist, ref, *, mask=None):
    """(B,) image scores of (B, P, 32, 32, 3) patch pairs."""
    hd, hr = self.patch_features(dist, ref, mask)
    return self.heads(hd, hr, mask)


class RADN(nnx.Module):
  """The region-adaptive deformable network (module docstring)."""

  def __init__(self, *, deform: bool = True, attention: bool = True,
               width_divisor: int = 1, rngs: nnx.Rngs):
    """deform / attention: the reference-oriented deformable module and the
    non-local blocks (Table 3 switches them off; without `deform` the
    reference features go straight to the tail). width_divisor: as
    WResNet's."""
    w = lambda c: _w(c, width_divisor)
    widths = (3, w(64), w(128), w(256), w(256))
    self.stages = nnx.List([
        Stage(widths[i], widths[i + 1], 2 if i in (1, 2) else 1,
              first_relu=True, rngs=rngs) for i in range(4)])
    self.deform_enabled, self.attention = deform, attention
    if deform:
      b = 1 / math.sqrt(9 * w(256))
      self.conv_offset = nnx.Conv(
          w(256), 18, kernel_size=(3, 3), padding=1, rngs=rngs,
          kernel_init=_uniform(b), bias_init=_uniform(b))
      self.deform = DeformConv(w(256), w(256), 3, padding=1, rngs=rngs)
      self.deform2 = DeformConv(w(256), w(256), 3, padding=1, rngs=rngs)
    self.tail = Stage(w(256), w(512), 2, first_relu=True, rngs=rngs)
    self.conv21 = _conv(w(512), w(512), 2, rngs=rngs)
    self.conv22 = _conv(w(512), w(512), rngs=rngs)
    if attention:
      self.nonlocal1 = NonLocal(w(512), w(256), rngs=rngs)
      self.nonlocal2 = NonLocal(w(512), w(256), rngs=rngs)
    self.heads = Heads(w(512), w(512), rngs=rngs)

  def _trunk(self, x):
    for stage in self.stages:
      x = stage(x)
    return x

  def _tail(self, x):
    x = self.tail(x)
    x = jax.nn.relu(apply_conv(self.conv21, x))
    x = jax.nn.relu(apply_conv(self.conv22, x))
    return x.mean(axis=(1, 2))

  def patch_features(self, dist, ref, mask=None):
    """(h_d, h_r), each (B, P, 512), after the non-local blocks."""
    _check(dist, ref)
    b, p = dist.shape[:2]
    h = self._trunk(jnp.concatenate([dist, ref]).reshape(
        2 * b * p, PATCH, PATCH, 3))
    hd, hr = h[:b * p], h[b * p:]
    if self.deform_enabled:
      offset = apply_conv(self.conv_offset, hr)
      hd, hr = self.deform(hd, offset), self.deform2(hr, offset)
    hd = self._tail(hd).reshape(b, p, -1)
    hr = self._tail(hr).reshape(b, p, -1)
    if self.attention:
      hd, hr = self.nonlocal1(hd, mask), self.nonlocal2(hr, mask)
    return hd, hr

  def __call__(self, dist, ref, *, mask=None):
    """(B,) image scores of (B, P, 32, 32, 3) patch pairs."""
    hd, hr = self.patch_features(dist, ref, mask)
    return self.heads(hd, hr, mask)


# Table 3's networks by name: (class, options).
VARIANTS = {
    "wresnet": (WResNet, {}),
    "radn_deform": (RADN, {"attention": False}),      # + Deform
    "radn_attention": (RADN, {"deform": False}),      # + PatchAttn
    "radn": (RADN, {}),                               # + Deform + PatchAttn
}


def build(variant: str, *, width_divisor: int = 1, rngs: nnx.Rngs):
  """The network named `variant` (`VARIANTS`)."""
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; use one of "
                     f"{', '.join(VARIANTS)}.")
  cls, kw = VARIANTS[variant]
  return cls(width_divisor=width_divisor, rngs=rngs, **kw)


def variant_of(model) -> str:
  """The `VARIANTS` name of a built network."""
  if isinstance(model, WResNet):
    return "wresnet"
  return {(True, True): "radn", (True, False): "radn_deform",
          (False, True): "radn_attention"}[(model.deform_enabled,
                                            model.attention)]


def parameter_count(cls=RADN, **kwargs) -> int:
  """Parameters of a model class, from abstract shapes (no allocation)."""
  model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0), **kwargs))
  return sum(math.prod(v.shape) for v in jax.tree.leaves(
      nnx.state(model, nnx.Param)))


def _targets(model):
  """(authors' name, (variable, "conv" | "linear" | "plain"))."""
  def conv(name, c):
    yield f"{name}.weight", (c.kernel, "conv")
    yield f"{name}.bias", (c.bias, "plain")

  def linear(name, lin, as_conv=False):
    yield f"{name}.weight", (lin.kernel, "conv1x1" if as_conv else "linear")
    yield f"{name}.bias", (lin.bias, "plain")

  stages = list(model.stages) + ([model.tail] if isinstance(model, RADN)
                                 else [])
  for s, stage in enumerate(stages):
    for j, c in enumerate(stage.convs):
      yield from conv(f"conv{4 * s + j + 1}", c)
  if isinstance(model, RADN):
    yield from conv("conv21", model.conv21)
    yield from conv("conv22", model.conv22)
    if model.deform_enabled:
      yield from conv("conv_offset", model.conv_offset)
      for name in ("deform", "deform2"):
        layer = getattr(model, name)
        yield f"{name}.weight", (layer.kernel, "conv")
        yield f"{name}.bias", (layer.bias, "plain")
    if model.attention:
      for k, block in ((1, model.nonlocal1), (2, model.nonlocal2)):
        for part in ("g", "theta", "phi", "W"):
          yield from linear(f"Nonlocal{k}.{part}", getattr(block, part),
                            as_conv=True)
  for name in ("fc1_q", "fc2_q", "fc1_w", "fc2_w"):
    yield from linear(name, getattr(model.heads, name))


def torch_names(model) -> dict[str, tuple[int, ...]]:
  """The authors' parameter names and torch-layout shapes of `model`."""
  out = {}
  for name, (var, kind) in _targets(model):
    s = tuple(var.shape)
    out[name] = ((s[3], s[2], s[0], s[1]) if kind == "conv" else
                 (s[1], s[0], 1, 1) if kind == "conv1x1" else
                 s[::-1] if kind == "linear" else s)
  return out


def load_torch_state(model, state, *, source: str = "state dict"):
  """Loads the authors' state dict (`torch.save(model.state_dict())`, as
  NumPy arrays) into `model` in place; returns it.

  Raises:
    KeyError / ValueError: names or shapes of another variant (WResNet
      against RADN, with or without the non-local blocks), naming `source`.
  """
  kinds = {name: kind for name, (_, kind) in _targets(model)}
  targets = {name: (var, "plain" if kind == "conv1x1" else kind)
             for name, (var, kind) in _targets(model)}
  given = {}
  for k, v in state.items():
    v = np.asarray(v)
    if kinds.get(k) == "conv1x1" and v.ndim == 4:
      v = v.reshape(v.shape[:2]).T      # (out, in, 1, 1) -> (in, out)
    given[k] = v
  try:
    weights.assign(targets, given, what=f"{type(model).__name__} state dict",
                   example="conv1.weight, fc1_q.weight")
  except (KeyError, ValueError) as e:
    hint = ("RADN" if "conv_offset.weight" in state else "WResNet")
    raise type(e)(f"{source}: {e.args[0]} The file looks like a {hint} "
                  f"checkpoint: build that variant.") from e
  return model
