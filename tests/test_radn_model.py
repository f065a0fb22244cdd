"""WResNet and RADN (iqa_jax.models.radn): exact sizes, the authors' code's
outputs, the non-local block and the WaDIQaM heads."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import seeded_weights as sw
from iqa_jax.models import radn

OFFICIAL = sw.DATA / "radn_official"


def test_parameter_counts_are_the_authors():
  """Instantiating the authors' classes gives 14,889,410 (WResNet) and
  21,881,812 (RADN) parameters (notes, s. 3); counted from shapes here."""
  assert radn.parameter_count(radn.WResNet) == 14_889_410
  assert radn.parameter_count(radn.RADN) == 21_881_812
  # Without the two non-local blocks (4 x (512 x 256 + 256) + 256 each).
  assert radn.parameter_count(radn.RADN, attention=False) == (
      21_881_812 - 2 * (3 * (512 * 256 + 256) + 256 * 512 + 512))


@pytest.fixture(scope="module")
def official():
  return (json.loads((OFFICIAL / "scores.json").read_text()),
          np.load(OFFICIAL / "features.npz"))


@pytest.mark.parametrize("variant", ["radn", "wresnet"])
def test_seeded_weights_give_the_authors_outputs(variant, official):
  """The authors' RADN/WResNet (eval mode) on seeded weights and real
  patch pairs (tests/data/radn_official): per-patch features after the
  non-local blocks and the image scores."""
  scores, feats = official
  cls = radn.RADN if variant == "radn" else radn.WResNet
  model = nnx.merge(*nnx.split(nnx.eval_shape(lambda: cls(
      rngs=nnx.Rngs(0)))))
  radn.load_torch_state(model, sw.radn_state(variant, 0))
  model.eval()
  dist, ref = (jnp.asarray(a) for a in sw.radn_patches(0))
  hd, hr = jax.jit(lambda m, d, r: m.patch_features(d, r))(model, dist, ref)
  want = feats[f"{variant}_features"]
  scale = np.abs(want).max()
  np.testing.assert_allclose(np.asarray(hd), want[0], atol=1e-4 * scale)
  np.testing.assert_allclose(np.asarray(hr), want[1], atol=1e-4 * scale)
  q = np.asarray(model(dist, ref))
  np.testing.assert_allclose(q, scores[variant], rtol=1e-4, atol=1e-7)


def test_non_local_block_is_identity_at_init_and_permutation_equivariant():
  block = radn.NonLocal(8, 4, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 5, 8))
  np.testing.assert_array_equal(np.asarray(block(x)), np.asarray(x))
  block.W.kernel[...] = jax.random.normal(jax.random.key(1), (4, 8))
  y = np.asarray(block(x))
  perm = np.array([3, 0, 4, 1, 2])
  np.testing.assert_allclose(np.asarray(block(x[:, perm])), y[:, perm],
                             atol=1e-6)
  # NumPy transcription: softmax(theta phi^T) g W + x, unscaled.
  g = lambda lin, v: v @ np.asarray(lin.kernel[...]) + np.asarray(
      lin.bias[...])
  xn = np.asarray(x, np.float64)
  f = np.einsum("bpi,bqi->bpq", g(block.theta, xn), g(block.phi, xn))
  a = np.exp(f - f.max(-1, keepdims=True))
  a /= a.sum(-1, keepdims=True)
  np.testing.assert_allclose(y, xn + g(block.W, a @ g(block.g, xn)),
                             atol=1e-5)
  # A padded patch (mask 0) changes nothing for the real ones.
  mask = jnp.array([[1, 1, 1, 0, 0]] * 2, bool)
  np.testing.assert_allclose(np.asarray(block(x, mask))[:, :3],
                             np.asarray(block(x[:, :3]))[:, :3], atol=1e-6)


def test_heads_weighted_average_and_padding():
  heads = radn.Heads(4, rngs=nnx.Rngs(0))
  heads.eval()
  hd = jax.random.normal(jax.random.key(0), (2, 6, 4))
  hr = jax.random.normal(jax.random.key(1), (2, 6, 4))
  s, w = heads.patches(hd, hr)
  assert np.all(np.asarray(w) >= 1e-6)
  q = np.asarray(heads(hd, hr))
  np.testing.assert_allclose(q, (np.asarray(s) * np.asarray(w)).sum(1)
                             / np.asarray(w).sum(1), rtol=1e-6)
  mask = jnp.array([[1] * 4 + [0] * 2] * 2, bool)
  np.testing.assert_allclose(np.asarray(heads(hd, hr, mask)),
                             np.asarray(heads(hd[:, :4], hr[:, :4])),
                             rtol=1e-6)


def test_wrong_variant_and_mismatched_patches_are_named():
  model = nnx.merge(*nnx.split(nnx.eval_shape(lambda: radn.RADN(
      rngs=nnx.Rngs(0)))))
  with pytest.raises(KeyError, match=r"w.npz: not a RADN state dict.*"
                     "looks like a WResNet checkpoint"):
    radn.load_torch_state(model, sw.radn_state("wresnet", 0), source="w.npz")
  with pytest.raises(ValueError, match="differ: they must be taken at the "
                     "same places"):
    model(jnp.zeros((1, 2, 32, 32, 3)), jnp.zeros((1, 3, 32, 32, 3)))
  with pytest.raises(ValueError, match=r"patches must be \(B, P, 32, 32, 3\)"):
    model(jnp.zeros((1, 2, 16, 16, 3)), jnp.zeros((1, 2, 16, 16, 3)))
