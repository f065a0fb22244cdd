"""TFDS builders for the registered datasets, and `prepare`.

One `tfds.core.GeneratorBasedBuilder` per `DatasetSpec`, writing
`array_record` files that `tfds.data_source` reads back by index. TensorFlow
is not needed: every feature is a `Tensor`, `Scalar` or `Text`, and images
are stored as the original encoded bytes (decoded on read), so 4K and 11K
panoramas stay as small on disk as in the official archive.

Splits: "images" (the scored images, in the order of the score file) and
"references" (FR and 360 databases). Per example:

  image        encoded bytes of the file as distributed
  name         path relative to the manual directory
  format       the file suffix ("png", "jpg", ...)
  ref_id       the reference content (group for splits)
  score        native units; score_std (NaN when not given)
  score_norm   [0, 1], higher = better (see `registry.normalise`)
  dist_type, dist_level   where known ("" / NaN otherwise)

The metadata records the spec (score name, direction, the range used for
`score_norm`), notes, the report of missing items (`--allow-missing`), and a
table of names, reference ids and scores for splitting without reading
images. A build that fails writes nothing (TFDS builds in a temporary folder).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from iqa_jax import images as images_lib
from iqa_jax._version import __version__
from iqa_jax.data import layout as L
from iqa_jax.data import registry

__all__ = ["builder_class", "make_builder", "prepare", "is_prepared",
           "default_data_dir", "SPLITS", "quiet_absl"]

SPLITS = ("images", "references")


def default_data_dir() -> Path:
  """$IQA_JAX_HOME/datasets (IQA_JAX_HOME defaults to ~/.cache/iqa_jax)."""
  from iqa_jax import paths  # pylint: disable=g-import-not-at-top

  return paths.home() / "datasets"


def _features():
  f = tfds.features
  # float64 as raw bytes: TFDS's Scalar goes through a float32 proto field.
  f64 = functools.partial(f.Tensor, shape=(), dtype=np.float64,
                          encoding=f.Encoding.BYTES)
  return f.FeaturesDict({
      "image": f.Tensor(shape=(), dtype=np.object_),
      "name": f.Text(),
      "format": f.Text(),
      "ref_id": f.Text(),
      "score": f64(),
      "score_std": f64(),
      "score_norm": f64(),
      "dist_type": f.Text(),
      "dist_level": f64(),
  })


class _IqaBuilder(tfds.core.GeneratorBasedBuilder):
  """Builds one registered dataset from its manual directory."""

  spec: registry.DatasetSpec

  def __init__(self, *, allow_missing: bool = False, **kwargs):
    self._allow_missing = allow_missing
    super().__init__(**kwargs)

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=self.spec.title, features=_features(),
        disable_shuffling=True, metadata=tfds.core.MetadataDict())

  def _split_generators(self, dl_manager):
    root = Path(dl_manager.manual_dir)
    checker = L.Checker(root, allow_missing=self._allow_missing)
    lay = self.spec.parse(root, checker)
    checker.finish()
    if not lay.entries:
      raise L.LayoutError(f"{root}: no scored image of {self.spec.name} was "
                          f"found. Expected:\n{self.spec.layout}")
    scores = [e.score for e in lay.entries]
    observed = (float(min(scores)), float(max(scores)))
    lo, hi = self.spec.scale if self.spec.scale else observed
    md = self.info.metadata
    md.update({
        "dataset": self.spec.name, "kind": self.spec.kind,
        "title": self.spec.title, "score_name": self.spec.score_name,
        "higher_is_better": self.spec.higher_is_better,
        "norm_range": [lo, hi],
        "norm_range_source": "nominal" if self.spec.scale else "observed",
        "observed_range": list(observed), "notes": list(lay.notes),
        "missing": list(checker.missing), "built_by": f"iqa_jax {__version__}",
        "manual_dir": str(root)})
    norm = functools.partial(registry.normalise, spec=self.spec,
                             observed=observed)
    gens = {"images": self._generate_examples(lay.entries, norm, checker,
                                              "table")}
    if lay.references:
      refs = [L.Entry(name=checker.rel(p), path=p, ref_id=ref,
                      score=lay.reference_scores.get(ref, math.nan),
                      dist_type="reference", dist_level=0.0)
              for ref, p in lay.references.items()]
      gens["references"] = self._generate_examples(refs, norm, checker,
                                                    "reference_table")
    return gens

  def _generate_examples(self, entries, norm, checker, table_key):
    table = {"names": [], "ref_ids": [], "scores": [], "score_norm": [],
             "dist_types": []}
    for e in entries:
      data = e.path.read_bytes()
      try:
        images_lib.verify(data, name=str(e.path),
                          fix="re-extract it from the official archive")
      except images_lib.ImageDecodeError as err:
        if not checker.allow_missing:
          raise L.LayoutError(f"{err} Or pass --allow-missing "
                              "(allow_missing=True in Python) to build the "
                              "rest. Nothing was written.") from err
        checker.problem(str(err).split(". The file")[0], "")
        self.info.metadata["missing"] = list(checker.missing)
        continue
      s_norm = norm(e.score) if math.isfinite(e.score) else math.nan
      for k, v in (("names", e.name), ("ref_ids", e.ref_id),
                   ("scores", e.score), ("score_norm", s_norm),
                   ("dist_types", e.dist_type)):
        table[k].append(v if not isinstance(v, float) or math.isfinite(v)
                        else None)
      yield e.name, {
          "image": data, "name": e.name,
          "format": e.path.suffix.lower().lstrip("."), "ref_id": e.ref_id,
          "score": e.score, "score_std": e.score_std, "score_norm": s_norm,
          "dist_type": e.dist_type, "dist_level": e.dist_level}
    self.info.metadata[table_key] = table


@functools.cache
def builder_class(name: str) -> type:
  """The TFDS builder class of a registered dataset (not registered in TFDS's
  own catalogue, so names cannot clash with it)."""
  spec = registry.get(name)
  with tfds.core.registered.skip_registration():
    cls = type(f"IqaJax_{spec.name}", (_IqaBuilder,), {
        "name": spec.name, "spec": spec,
        "VERSION": tfds.core.Version(spec.version),
        "RELEASE_NOTES": {spec.version: "iqa_jax builder"},
        "MANUAL_DOWNLOAD_INSTRUCTIONS": (
            f"Download {spec.title} from its authors and extract it; point "
            f"--manual-dir at the folder. Expected layout:\n{spec.layout}"),
    })
  return cls


def make_builder(name: str, *, data_dir: str | Path | None = None,
                 allow_missing: bool = False):
  data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
  return builder_class(name)(data_dir=str(data_dir),
                             file_format="array_record",
                             allow_missing=allow_missing)


@contextlib.contextmanager
def quiet_absl():
  """Hides TFDS's absl warnings about folders that are not built yet."""
  logger = logging.getLogger("absl")
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def is_prepared(name: str, *, data_dir: str | Path | None = None) -> bool:
  with quiet_absl():
    return make_builder(name, data_dir=data_dir).is_prepared()


def prepare(name: str, *, manual_dir: str | Path,
            data_dir: str | Path | None = None, allow_missing: bool = False,
            overwrite: bool = False) -> Path:
  """Builds dataset `name` from `manual_dir`; returns the version folder.

  Raises:
    LayoutError: the manual directory does not match the official layout, a
      score file is malformed, or (without `allow_missing`) an image is
      missing, unscored or corrupt. Nothing is written in that case.
  """
  manual_dir = Path(manual_dir)
  if not manual_dir.is_dir():
    raise L.LayoutError(f"{manual_dir}: no such folder. Point --manual-dir "
                        f"(manual_dir= in Python) at the extracted {name} "
                        "archive.")
  with quiet_absl():
    builder = make_builder(name, data_dir=data_dir,
                           allow_missing=allow_missing)
    done = builder.is_prepared()
  out = Path(builder.data_dir)
  if done and not overwrite:
    return out
  # Check the layout before TFDS starts (cheap: no image is decoded).
  checker = L.Checker(manual_dir, allow_missing=allow_missing)
  registry.get(name).parse(manual_dir, checker)
  checker.finish()
  if done:  # and overwrite
    shutil.rmtree(out)
    builder = make_builder(name, data_dir=data_dir,
                           allow_missing=allow_missing)
  print(f"Preparing {name} from {manual_dir} into {out} (once; nothing is "
        "downloaded).", flush=True)
  # TFDS prints "Downloading and preparing dataset ..." on stdout although
  # everything comes from manual_dir: its stdout is dropped (its progress
  # bars, on stderr, stay).
  with contextlib.redirect_stdout(io.StringIO()):
    builder.download_and_prepare(
        # Never look for prebuilt copies on Google Cloud Storage: many users'
        # machines (and ours) cannot reach it.
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir), try_download_gcs=False))
  print(f"Prepared {name} in {out}.", flush=True)
  return out
