"""Package-level checks: public API, version, and the simulated devices."""

import importlib.metadata

import iqa_jax


def test_public_api_resolves():
  for name in iqa_jax.__all__:
    assert hasattr(iqa_jax, name), name


def test_version_matches_metadata():
  assert importlib.metadata.version("iqa-jax") == iqa_jax.__version__


def test_eight_simulated_devices():
  """tests/conftest.py gives JAX 8 CPU devices for the multi-device tests."""
  import jax  # pylint: disable=g-import-not-at-top

  assert jax.device_count() == 8
  mesh = jax.make_mesh((8,), ("data",))
  x = jax.device_put(jax.numpy.arange(16.0),
                     jax.sharding.NamedSharding(mesh, jax.P("data")))
  assert len(x.addressable_shards) == 8
  assert float(jax.jit(lambda v: (v * 2).sum())(x)) == 240.0
