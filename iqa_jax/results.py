"""Run outputs: a work directory per experiment run.

Every experiment writes the same files, so runs can be compared and resumed:

  config.json     the resolved configuration (written once; a rerun with a
                  different configuration in the same directory is refused)
  versions.json   Python, platform, package versions, JAX backend and devices
  results.json    the run's figures
  NAME.csv/.md    tables (`Workdir.write_table`)
  NAME.png        plots (`Workdir.save_figure`, `line_plot`)

Files are written atomically (temporary file + rename), so a killed run never
leaves a half-written JSON behind. In a multi-process run only process 0
writes (`iqa_jax.distributed`); the others compute the same figures. NaN
is written as `null` in JSON and as `nan` in CSV.

Example:
  wd = results.create_workdir("/tmp/run1", config)
  wd.write_table("table", [{"rate": 0.5, "srcc": 0.91}])
  wd.save_figure(results.line_plot(x, {"srcc": y}, xlabel="rate"), "srcc")
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.metadata
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iqa_jax import distributed

__all__ = [
    "WorkdirConfigMismatch",
    "Workdir",
    "create_workdir",
    "to_jsonable",
    "package_versions",
    "markdown_table",
    "line_plot",
]

_PACKAGES = ("iqa-jax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint",
             "tensorflow-datasets", "ml-collections", "numpy", "scipy",
             "scikit-image", "pillow", "matplotlib")


class WorkdirConfigMismatch(ValueError):
  """The work directory holds a run with a different configuration."""


def to_jsonable(obj: Any) -> Any:
  """Converts configs, dataclasses, NumPy/JAX values and paths to JSON types.

  Non-finite floats become None (JSON has no NaN).
  """
  if hasattr(obj, "to_dict") and callable(obj.to_dict):  # ml_collections
    return to_jsonable(obj.to_dict())
  if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
    return to_jsonable(dataclasses.asdict(obj))
  if isinstance(obj, Mapping):
    return {str(k): to_jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple, set, frozenset)):
    return [to_jsonable(v) for v in obj]
  if isinstance(obj, (bool, np.bool_)):
    return bool(obj)
  if isinstance(obj, (int, np.integer)):
    return int(obj)
  if isinstance(obj, (float, np.floating)):
    return float(obj) if math.isfinite(obj) else None
  if isinstance(obj, (str, type(None))):
    return obj
  if isinstance(obj, Path):
    return str(obj)
  if hasattr(obj, "__array__"):  # np.ndarray, jax.Array
    return to_jsonable(np.asarray(obj).tolist())
  raise TypeError(f"cannot write a {type(obj).__name__} to JSON: {obj!r}")


def package_versions() -> dict[str, str | None]:
  """Installed versions of the packages a result depends on (None if absent)."""
  out = {}
  for name in _PACKAGES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def _runtime_info(record_devices: bool) -> dict[str, Any]:
  info = {"python": sys.version.split()[0], "platform": platform.platform(),
          "packages": package_versions()}
  if record_devices:
    import jax  # pylint: disable=g-import-not-at-top

    info["jax_backend"] = jax.default_backend()
    info["devices"] = [str(d) for d in jax.devices()]
    info["process_count"] = jax.process_count()
  return info


def _atomic_write(path: Path, text: str) -> None:
  if not distributed.is_main():
    return
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
  if not isinstance(d, dict):
    return {prefix: d}
  out = {}
  for k, v in d.items():
    out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
  return out


def _format_cell(v: Any, floatfmt: str) -> str:
  if isinstance(v, (float, np.floating)):
    return "nan" if math.isnan(v) else format(float(v), floatfmt)
  return "" if v is None else str(v)


def markdown_table(rows: Sequence[Mapping[str, Any]], *,
                   columns: Sequence[str] | None = None,
                   floatfmt: str = ".4f") -> str:
  """A GitHub-flavoured markdown table of `rows` (one dict per row)."""
  columns = list(columns or _columns(rows))
  lines = ["| " + " | ".join(columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
  for r in rows:
    lines.append("| " + " | ".join(_format_cell(r.get(c), floatfmt)
                                   for c in columns) + " |")
  return "\n".join(lines) + "\n"


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
  cols: dict[str, None] = {}
  for r in rows:
    cols.update(dict.fromkeys(r))
  return list(cols)


@dataclasses.dataclass(frozen=True)
class Workdir:
  """A run's output directory. Create it with `create_workdir`."""

  root: Path
  resumed: bool

  def path(self, name: str) -> Path:
    return self.root / name

  def write_json(self, name: str, obj: Any) -> Path:
    path = self.path(name)
    _atomic_write(path, json.dumps(to_jsonable(obj), indent=2,
                                   allow_nan=False) + "\n")
    return path

  def read_json(self, name: str) -> Any:
    with open(self.path(name), encoding="utf-8") as f:
      return json.load(f)

  def write_results(self, results: Mapping[str, Any]) -> Path:
    return self.write_json("results.json", results)

  def write_table(self, name: str, rows: Sequence[Mapping[str, Any]], *,
                  columns: Sequence[str] | None = None,
                  floatfmt: str = ".4f") -> str:
    """Writes NAME.csv (full precision) and NAME.md; returns the markdown."""
    columns = list(columns or _columns(rows))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
      unknown = set(r) - set(columns)
      if unknown:
        raise ValueError(f"row {r} has columns {sorted(unknown)} not in "
                         f"{columns}.")
      writer.writerow({c: ("" if r.get(c) is None else r.get(c))
                       for c in columns})
    _atomic_write(self.path(f"{name}.csv"), buf.getvalue())
    md = markdown_table(rows, columns=columns, floatfmt=floatfmt)
    _atomic_write(self.path(f"{name}.md"), md)
    return md

  def save_figure(self, fig, name: str, *, dpi: int = 120) -> Path:
    """Saves a matplotlib Figure as NAME.png (process 0 only)."""
    path = self.path(f"{name}.png")
    if not distributed.is_main():
      return path
    fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{name}.", suffix=".png")
    os.close(fd)
    try:
      fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
      os.replace(tmp, path)
    finally:
      Path(tmp).unlink(missing_ok=True)
    return path


def create_workdir(path: str | os.PathLike, config: Any, *,
                   overwrite: bool = False,
                   record_devices: bool = True) -> Workdir:
  """Creates (or reopens) a run directory for `config`.

  Args:
    path: the directory; created with its parents.
    config: an `ml_collections.ConfigDict`, dataclass or mapping.
    overwrite: delete whatever the directory holds and start over.
    record_devices: record JAX's backend and devices in versions.json
      (initialises JAX).

  Returns:
    A `Workdir`; `resumed` is True when the directory already held a run of
    the same configuration (its finished results are kept, for resuming).

  Raises:
    WorkdirConfigMismatch: the directory holds a run of another configuration;
      the message lists the differing keys.
  """
  root = Path(path)
  resolved = to_jsonable(config)
  if overwrite and root.exists() and distributed.is_main():
    shutil.rmtree(root)
  root.mkdir(parents=True, exist_ok=True)
  config_path = root / "config.json"
  resumed = False
  if config_path.exists():
    try:
      with open(config_path, encoding="utf-8") as f:
        old = json.load(f)
    except json.JSONDecodeError as e:
      raise WorkdirConfigMismatch(
          f"{config_path} is not valid JSON ({e}); delete it or pass "
          "overwrite=True (--overwrite) to start over.") from e
    if old != resolved:
      a, b = _flatten(old), _flatten(resolved)
      diff = [f"  {k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
              for k in sorted(set(a) | set(b)) if a.get(k, object()) != b.get(k)]
      raise WorkdirConfigMismatch(
          f"{root} holds results of a different configuration:\n"
          + "\n".join(diff[:20]) + ("\n  ..." if len(diff) > 20 else "")
          + "\nUse another work directory, or overwrite=True (--overwrite) "
          "to delete the old results.")
    resumed = True
  wd = Workdir(root=root, resumed=resumed)
  if not resumed:
    wd.write_json("config.json", resolved)
  wd.write_json("versions.json", _runtime_info(record_devices))
  return wd


def line_plot(x: Sequence[float], series: Mapping[str, Sequence[float]], *,
              xlabel: str, ylabel: str = "", title: str | None = None,
              baselines: Mapping[str, float] | None = None):
  """A line plot of several series against x, with optional dashed baselines.

  Returns a `matplotlib.figure.Figure` (built without pyplot, so it works
  under any backend and never opens a window); save it with
  `Workdir.save_figure`.
  """
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  fig = Figure(figsize=(6, 4))
  ax = fig.add_subplot()
  for i, (label, y) in enumerate(series.items()):
    ax.plot(x, y, marker="o", label=label, color=f"C{i}")
  for i, (label, y) in enumerate((baselines or {}).items()):
    ax.axhline(y, linestyle="--", color=f"C{len(series) + i}", label=label)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if title:
    ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  return fig
