"""What the registries share (metrics, selectors, samplers, poolings):
looking a member up by name, and the options a member cannot do without."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Container, Mapping

__all__ = ["lookup", "required_options"]


def lookup(table: Mapping, name: str, *, family: str):
  """table[name], or a ValueError that lists the known names."""
  try:
    return table[name]
  except KeyError:
    raise ValueError(f"unknown {family} {name!r}; known: "
                     f"{', '.join(table)}.") from None


def required_options(fn: Callable, *,
                     exclude: Container[str] = ()) -> list[str]:
  """The keyword-only parameters of fn without a default, less `exclude`."""
  return [p.name for p in inspect.signature(fn).parameters.values()
          if p.kind is inspect.Parameter.KEYWORD_ONLY
          and p.default is inspect.Parameter.empty and p.name not in exclude]
