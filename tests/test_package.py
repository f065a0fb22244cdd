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


def test_light_imports_do_not_load_tfds():
  """fr, selection, sampling, training and pooling import without
  TensorFlow Datasets (and so without its import-time cost)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  code = ("import sys, iqa_jax, iqa_jax.fr, iqa_jax.selection, "
          "iqa_jax.sampling, iqa_jax.training, iqa_jax.pooling; "
          "assert 'tensorflow_datasets' not in sys.modules, 'tfds loaded'; "
          "iqa_jax.data; assert 'tensorflow_datasets' in sys.modules")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_every_cli_option_has_help():
  import argparse  # pylint: disable=g-import-not-at-top
  from iqa_jax.cli import build_parser  # pylint: disable=g-import-not-at-top

  def walk(parser, path):
    for action in parser._actions:  # pylint: disable=protected-access
      if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
        for name, sub in action.choices.items():
          yield from walk(sub, f"{path} {name}")
      elif action.dest != "help":
        yield path, action
  missing = [f"{path} {a.option_strings or a.dest}"
             for path, a in walk(build_parser(), "iqa-jax") if not a.help]
  assert not missing, missing
