"""Patch embeddings: sharded batches equal the plain forward; the cache."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from iqa_jax import embed, embed_cache
from iqa_jax.models import vgg


@pytest.fixture(scope="module")
def small_vgg():
  return vgg.VGG16(rngs=nnx.Rngs(0))


def test_sharded_embed_equals_plain_forward(small_vgg):
  x = np.random.default_rng(0).random((19, 32, 32, 3)).astype(np.float32)
  want = np.asarray(small_vgg.embed(jnp.asarray(x)))
  # 19 patches in batches of 8 over the 8 simulated devices (last padded).
  assert len(jax.devices()) == 8
  got = embed.embed(small_vgg, x, batch_size=8)
  assert got.shape == (19, 512)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(
      want).max())
  one = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  np.testing.assert_allclose(embed.embed(small_vgg, x, batch_size=8,
                                         mesh=one), got, rtol=1e-5,
                             atol=1e-5 * np.abs(want).max())
  with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
    embed.embed(small_vgg, x[..., 0], batch_size=8)


def test_cache_round_trip_and_keys(tmp_path, small_vgg):
  key = {"dataset": "d", "sampler": {"size": 32, "sampler": "grid"},
         "encoder": "vgg16", "weights": embed_cache.fingerprint(small_vgg)}
  cache = embed_cache.EmbeddingCache(tmp_path, key)
  assert not cache.has("a/b.png") and len(cache) == 0
  e = np.arange(12, dtype=np.float32).reshape(3, 4)
  cache.save("a/b.png", embeddings=e, centres=e[:, :2])
  again = embed_cache.EmbeddingCache(tmp_path, dict(reversed(key.items())))
  assert again.dir == cache.dir          # dict order does not matter
  assert again.has("a/b.png") and len(again) == 1
  got = again.load("a/b.png")
  np.testing.assert_array_equal(got["embeddings"], e)
  np.testing.assert_array_equal(got["centres"], e[:, :2])
  with pytest.raises(KeyError, match="other.png"):
    again.load("other.png")
  other = embed_cache.EmbeddingCache(tmp_path, {**key, "encoder": "resnet50"})
  assert other.dir != cache.dir and not other.has("a/b.png")
  assert (cache.dir / "key.json").exists()
  assert not list(cache.dir.glob("*.tmp*"))


def test_fingerprint_tracks_weights(small_vgg):
  a = embed_cache.fingerprint(small_vgg)
  assert a == embed_cache.fingerprint(small_vgg)
  assert a != embed_cache.fingerprint(vgg.VGG16(rngs=nnx.Rngs(1)))
