"""The conventions of the public API, checked over every public function of
fr, selection, sampling, pooling and training (after dm-pix's api_test):

* options (parameters with a default) are keyword-only; the one exception
  is `key` where it may be omitted (a registry call for a non-random
  member);
* a random function takes `key`, never `rng`/`seed`, and takes it first
  (after the member's name in a registry call);
* every function has a docstring, and one that takes arrays gives shapes.
"""

import importlib
import inspect
import re

import pytest

PACKAGES = ("fr", "selection", "sampling", "pooling", "training")

_ARRAYS = {"ref", "dist", "embeddings", "patches", "image", "erp", "q",
           "variances", "x", "e", "images", "metric_map", "a", "values",
           "weight", "centres", "batch", "mask"}
_SHAPE = re.compile(r"\((?:\.\.\.|[A-Za-z_0-9]+)(?:,[^()]*)?\)")


def _public_functions():
  seen = {}
  for pkg in PACKAGES:
    root = importlib.import_module(f"iqa_jax.{pkg}")
    modules = [root] + [getattr(root, n) for n in getattr(root, "__all__", ())
                        if inspect.ismodule(getattr(root, n))]
    for mod in modules:
      for name in getattr(mod, "__all__", ()):
        obj = getattr(mod, name)
        if inspect.isfunction(obj) and obj.__module__.startswith("iqa_jax"):
          seen.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
  return sorted(seen.items())


FUNCTIONS = _public_functions()


def test_the_api_is_inspected():
  names = [n for n, _ in FUNCTIONS]
  assert len(names) > 60
  for pkg in PACKAGES:
    assert any(n.startswith(f"iqa_jax.{pkg}") for n in names), pkg


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_options_are_keyword_only(name, fn):
  for p in inspect.signature(fn).parameters.values():
    if p.default is inspect.Parameter.empty or p.name == "key":
      continue
    assert p.kind in (inspect.Parameter.KEYWORD_ONLY,
                      inspect.Parameter.VAR_KEYWORD), (name, p.name)


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_key_first(name, fn):
  params = list(inspect.signature(fn).parameters.values())
  assert not {"rng", "prng", "seed"} & {p.name for p in params}, name
  positional = [p.name for p in params if p.kind in (
      inspect.Parameter.POSITIONAL_ONLY,
      inspect.Parameter.POSITIONAL_OR_KEYWORD)]
  if "key" in positional:
    assert positional.index("key") == (1 if positional[0] == "name" else 0), \
        name


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_docstring_gives_shapes(name, fn):
  doc = inspect.getdoc(fn)
  assert doc, f"{name} has no docstring"
  takes_arrays = {p.name for p in inspect.signature(fn).parameters.values()
                  if p.name in _ARRAYS and "str" not in str(p.annotation)}
  if takes_arrays:
    assert _SHAPE.search(doc), (name, doc)
