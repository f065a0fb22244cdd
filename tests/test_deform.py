"""Deformable convolution v1 (iqa_jax.models.deform) against its definition
(a NumPy loop, always) and torchvision.ops.deform_conv2d (when installed)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from iqa_jax.models.deform import DeformConv, deform_conv2d, output_size

# (N, C, H, W, O, k, stride, padding, dilation, offset groups)
CASES = [(2, 4, 7, 6, 5, 3, 1, 1, 1, 1), (1, 6, 9, 8, 3, 3, 2, 1, 1, 2),
         (2, 3, 5, 5, 2, 2, 1, 0, 2, 3)]


def _bilinear(img, y, x):
  """torchvision's bilinear_interpolate: zero outside, 0 at/after -1, H."""
  h, w = img.shape
  if y <= -1 or y >= h or x <= -1 or x >= w:
    return 0.0
  y0, x0 = int(np.floor(y)), int(np.floor(x))
  ly, lx = y - y0, x - x0
  v = 0.0
  for yy, xx, wt in ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1,
                                                     (1 - ly) * lx),
                     (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx)):
    if 0 <= yy < h and 0 <= xx < w:
      v += wt * img[yy, xx]
  return v


def _np_deform(x, off, wt, b, s, p, d):
  """The definition, looped, NCHW / OIHW as torchvision's arguments."""
  n, c, h, w = x.shape
  o, _, k, _ = wt.shape
  ho, wo = output_size(h, k, s, p, d), output_size(w, k, s, p, d)
  g = off.shape[1] // (2 * k * k)
  y = np.zeros((n, o, ho, wo))
  for bi in range(n):
    for oy in range(ho):
      for ox in range(wo):
        col = np.zeros((c, k, k))
        for ch in range(c):
          grp = ch // (c // g)
          for i in range(k):
            for j in range(k):
              t = grp * k * k + i * k + j
              py = oy * s - p + i * d + off[bi, 2 * t, oy, ox]
              px = ox * s - p + j * d + off[bi, 2 * t + 1, oy, ox]
              col[ch, i, j] = _bilinear(x[bi, ch], py, px)
        y[bi, :, oy, ox] = np.einsum("ocij,cij->o", wt, col) + b
  return y


def _case(case, seed=0, scale=3.0):
  n, c, h, w, o, k, s, p, d, g = case
  rng = np.random.default_rng(seed)
  ho, wo = output_size(h, k, s, p, d), output_size(w, k, s, p, d)
  x = rng.normal(size=(n, c, h, w))
  off = rng.normal(size=(n, 2 * g * k * k, ho, wo)) * scale  # crosses borders
  wt = rng.normal(size=(o, c, k, k))
  b = rng.normal(size=o)
  return x, off, wt, b, (s, p, d)


def _ours(x, off, wt, b, spd, method="auto"):
  s, p, d = spd
  y = deform_conv2d(jnp.asarray(x.transpose(0, 2, 3, 1), jnp.float32),
                    jnp.asarray(off.transpose(0, 2, 3, 1), jnp.float32),
                    jnp.asarray(wt.transpose(2, 3, 1, 0), jnp.float32),
                    jnp.asarray(b, jnp.float32), stride=s, padding=p,
                    dilation=d, method=method)
  return np.asarray(y).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("case", CASES)
def test_equals_the_definition(case):
  """Both sampling methods (gathered corners; the dense interpolation
  matrix, which "auto" picks for these small maps)."""
  x, off, wt, b, spd = _case(case)
  want = _np_deform(x, off, wt, b, *spd)
  for method in ("gather", "dense"):
    np.testing.assert_allclose(_ours(x, off, wt, b, spd, method), want,
                               atol=2e-5, rtol=1e-5, err_msg=method)


def test_gradients_equal_finite_differences_of_the_definition():
  """d/d(input, offsets, kernel, bias) of <y, G>, central differences of the
  float64 definition at points away from the bilinear kinks."""
  case = (1, 2, 4, 4, 2, 3, 1, 1, 1, 1)
  x, off, wt, b, spd = _case(case, seed=3, scale=1.3)
  gy = np.random.default_rng(9).normal(size=(1, 2, 4, 4))
  f = lambda *a: float((_np_deform(*a, *spd) * gy).sum())
  args = [x, off, wt, b]

  def ours(xx, oo, ww, bb, method):
    y = deform_conv2d(jnp.moveaxis(xx, 1, -1), jnp.moveaxis(oo, 1, -1),
                      ww.transpose(2, 3, 1, 0), bb, stride=spd[0],
                      padding=spd[1], dilation=spd[2], method=method)
    return (jnp.moveaxis(y, -1, 1) * gy).sum()
  arrays = [jnp.asarray(a, jnp.float32) for a in args]
  grads = jax.grad(ours, argnums=(0, 1, 2, 3))(*arrays, "dense")
  gathered = jax.grad(ours, argnums=(0, 1, 2, 3))(*arrays, "gather")
  for a, b in zip(grads, gathered):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
  rng = np.random.default_rng(0)
  eps = 1e-4
  for which, (a, g) in enumerate(zip(args, grads)):
    for _ in range(12):
      idx = tuple(rng.integers(0, m) for m in a.shape)
      up, down = [v.copy() for v in args], [v.copy() for v in args]
      up[which][idx] += eps
      down[which][idx] -= eps
      fd = (f(*up) - f(*down)) / (2 * eps)
      assert abs(float(g[idx]) - fd) < 1e-3 * max(1, abs(fd)), (which, idx)


def test_equals_torchvision_values_and_gradients():
  torch = pytest.importorskip("torch")
  tvops = pytest.importorskip("torchvision.ops")
  for case in CASES:
    x, off, wt, b, (s, p, d) = _case(case)
    t = [torch.tensor(a, dtype=torch.float32, requires_grad=True)
         for a in (x, off, wt, b)]
    ty = tvops.deform_conv2d(*t[:2], t[2], t[3], stride=s, padding=p,
                             dilation=d)
    gy = np.random.default_rng(1).normal(size=ty.shape).astype(np.float32)
    (ty * torch.from_numpy(gy)).sum().backward()

    def f(xx, oo, ww, bb):
      return deform_conv2d(xx, oo, ww, bb, stride=s, padding=p, dilation=d)
    args = (x.transpose(0, 2, 3, 1), off.transpose(0, 2, 3, 1),
            wt.transpose(2, 3, 1, 0), b)
    y, vjp = jax.vjp(f, *[jnp.asarray(a, jnp.float32) for a in args])
    gx, goff, gw, gb = vjp(jnp.asarray(gy.transpose(0, 2, 3, 1)))
    pairs = [(np.asarray(y).transpose(0, 3, 1, 2), ty.detach().numpy()),
             (np.asarray(gx).transpose(0, 3, 1, 2), t[0].grad.numpy()),
             (np.asarray(goff).transpose(0, 3, 1, 2), t[1].grad.numpy()),
             (np.asarray(gw).transpose(3, 2, 0, 1), t[2].grad.numpy()),
             (np.asarray(gb), t[3].grad.numpy())]
    for ours, theirs in pairs:
      scale = max(1.0, np.abs(theirs).max())
      np.testing.assert_allclose(ours, theirs, atol=1e-5 * scale)


def test_zero_offsets_give_the_ordinary_convolution_exactly():
  """Integer inputs and kernels make every sum exact in float32, so the
  comparison with lax's convolution is bit-for-bit."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.integers(-4, 5, (2, 9, 7, 5)), jnp.float32)
  k = jnp.asarray(rng.integers(-3, 4, (3, 3, 5, 6)), jnp.float32)
  for stride, pad, dil in ((1, 1, 1), (2, 1, 1), (1, 2, 2)):
    ho, wo = output_size(9, 3, stride, pad, dil), output_size(7, 3, stride,
                                                              pad, dil)
    got = deform_conv2d(x, jnp.zeros((2, ho, wo, 18)), k, stride=stride,
                        padding=pad, dilation=dil)
    want = jax.lax.conv_general_dilated(
        x, k, (stride, stride), ((pad, pad), (pad, pad)),
        rhs_dilation=(dil, dil), dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_jit_vmap_and_the_layer():
  from flax import nnx
  layer = DeformConv(4, 3, 3, padding=1, rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(3, 2, 6, 5, 4)), jnp.float32)
  off = jnp.asarray(rng.normal(size=(3, 2, 6, 5, 18)) * 2, jnp.float32)
  eager = layer(x[0], off[0])
  np.testing.assert_allclose(np.asarray(jax.jit(layer)(x[0], off[0])),
                             np.asarray(eager), rtol=1e-6, atol=1e-6)
  batched = jax.vmap(layer)(x, off)
  for i in range(3):
    np.testing.assert_allclose(np.asarray(batched[i]),
                               np.asarray(layer(x[i], off[i])), rtol=1e-6,
                               atol=1e-6)
  bound = 1 / np.sqrt(4 * 9)       # torch's initialisation
  assert np.abs(np.asarray(layer.kernel[...])).max() <= bound
  with pytest.raises(ValueError, match=r"offset must be \(N, Ho, Wo, 2 G kh "
                     r"kw\)"):
    layer(x[0], off[0][..., :10])
