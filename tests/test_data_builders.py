"""Dataset builders on tiny synthetic copies of every official layout."""

import json
import math
import shutil

import numpy as np
import pytest

import fake_layouts
from iqa_jax import data, images
from iqa_jax.cli import main
from iqa_jax.data import layouts_360, registry
from iqa_jax.data.layout import Checker, LayoutError

EXPECTED = {  # name: (n scored images, n references, higher_is_better)
    "live": (982 - 17, 3, False),
    "csiq": (24, 2, False),
    "tid2013": (8, 2, True),
    "kadid10k": (12, 2, True),
    "pipal": (8, 2, True),
    "qads": (8, 2, True),
    "livec": (3, 0, True),
    "koniq10k": (3, 0, True),
    "spaq": (3, 0, True),
    "flive": (3, 0, True),
    "cviq": (66, 2, True),
    "oiqa": (320, 16, True),
    "mvaqd": (6, 2, True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builder_reads_official_layout(name, tmp_path):
  manual = tmp_path / "manual"
  scores = fake_layouts.WRITERS[name](manual)
  n, n_refs, higher = EXPECTED[name]
  src = data.load(name, data_dir=tmp_path / "tfds", manual_dir=manual)
  assert len(src) == n == len(scores)
  assert src.metadata["higher_is_better"] is higher
  assert src.metadata["missing"] == []
  assert dict(zip(src.names, src.scores.tolist())) == pytest.approx(scores)
  rec = src[0]
  assert rec["higher_is_better"] is higher
  assert rec["image"].dtype == np.float32 and rec["image"].shape[-1] == 3
  assert rec["score"] == pytest.approx(scores[rec["name"]])
  assert np.all(np.isfinite(src.score_norm))
  lo, hi = src.metadata["norm_range"]
  s = scores[rec["name"]]
  expected_norm = (s - lo) / (hi - lo) if higher else (hi - s) / (hi - lo)
  assert rec["score_norm"] == pytest.approx(expected_norm)
  if n_refs:
    refs = data.load(name, data_dir=tmp_path / "tfds", split="references")
    assert len(refs) == n_refs
    assert rec["reference"].shape[-1] == 3
    assert set(src.ref_ids.tolist()) == set(refs.ref_ids.tolist())
    folds = data.kfold(src.ref_ids, k=2, seed=0)
    for f in folds:
      data.check_disjoint(f, src.ref_ids)


def test_layout_details(tmp_path):
  """The awkward details of the official formats come out right."""
  fake_layouts.live(tmp_path / "live")
  src = data.load("live", data_dir=tmp_path / "t1", manual_dir=tmp_path / "live")
  assert "17 entries marked by orgs" in " ".join(src.metadata["notes"])
  assert src.metadata["norm_range_source"] == "observed"
  rec = src[0]
  assert rec["dist_type"] == "jp2k" and rec["dist_level"] == pytest.approx(0.1)
  assert rec["ref_id"] == "womanhat"

  fake_layouts.tid2013(tmp_path / "tid")
  tid = data.load("tid2013", data_dir=tmp_path / "t2",
                  manual_dir=tmp_path / "tid")
  assert set(tid.ref_ids.tolist()) == {"I01", "I25"}
  assert "distorted_images/I01_11_1.BMP" in tid.names
  assert tid[0]["score_std"] == 0.5

  fake_layouts.csiq(tmp_path / "csiq")
  cs = data.load("csiq", data_dir=tmp_path / "t3", manual_dir=tmp_path / "csiq")
  assert "1600" in cs.ref_ids.tolist()
  assert cs.metadata["norm_range"] == [0.0, 1.0]
  i = cs.names.index("dst_imgs/jpeg2000/cactus.jpeg2000.2.png")
  assert cs.score_norm[i] == pytest.approx(1.0 - cs.scores[i])

  fake_layouts.cviq(tmp_path / "cviq")
  cv = data.load("cviq", data_dir=tmp_path / "t4", manual_dir=tmp_path / "cviq")
  assert set(cv.ref_ids.tolist()) == {"034", "068"}
  refs = data.load("cviq", data_dir=tmp_path / "t4", split="references")
  assert refs.scores.tolist() == [30.0, 30.0]
  rec = cv[cv.names.index("CVIQ/047.png")]
  assert (rec["dist_type"], rec["dist_level"], rec["ref_id"]) == (
      "avc", 2.0, "068")


@pytest.mark.parametrize("variant", ["cviq_mat", "oiqa_txt"])
def test_alternative_score_files(variant, tmp_path):
  if variant == "cviq_mat":
    scores = fake_layouts.cviq(tmp_path / "m", mat=True)
    name = "cviq"
  else:
    scores = fake_layouts.oiqa(tmp_path / "m", mat=False)
    name = "oiqa"
  src = data.load(name, data_dir=tmp_path / "t", manual_dir=tmp_path / "m")
  assert dict(zip(src.names, src.scores.tolist())) == pytest.approx(scores)


def test_real_assessor360_label_files(shared, tmp_path):
  labels = shared / "reference" / "label_formats" / "assessor360"
  if not labels.is_dir():
    pytest.skip(f"{labels} is absent")
  chk = Checker(labels)
  dist, refs, _ = layouts_360.read_cviq_labels(labels, chk)
  assert len(dist) == 528 and len(refs) == 16
  groups = {}
  for r in dist:
    groups.setdefault(r.ref_id, []).append(int(r.file[:3]))
  assert sorted(groups) == [f"{34 * k:03d}" for k in range(1, 17)]
  assert all(len(v) == 33 and max(v) < int(k) for k, v in groups.items())
  assert {r.file for r in refs} == {f"{34 * k:03d}.png" for k in range(1, 17)}

  dist, ref_scores, _ = layouts_360.read_oiqa_labels(labels, chk)
  assert len(dist) == 320 and len(ref_scores) == 16
  counts = {}
  for r in dist:
    counts[r.ref_id] = counts.get(r.ref_id, 0) + 1
  assert counts == {str(k): 20 for k in range(1, 17)}
  assert {r.dist_type for r in dist} == {"jpeg", "jp2k", "noise", "blur"}

  records, _ = layouts_360.read_mvaqd_labels(labels, chk)
  assert len(records) == 300
  per_ref = {}
  for r in records:
    per_ref[r.ref_id] = per_ref.get(r.ref_id, 0) + 1
  assert len(per_ref) == 15 and set(per_ref.values()) == {20}
  assert all(1.0 <= r.score <= 5.0 for r in records)


def test_real_livec(livec_mos, tmp_path, capsys):
  manual = livec_mos.parent
  code = main(["datasets", "prepare", "livec", "--manual-dir", str(manual),
               "--data-dir", str(tmp_path)])
  err = capsys.readouterr().err
  assert code == 2 and "535 problem(s)" in err and "--allow-missing" in err
  assert not (tmp_path / "livec").exists()
  code = main(["datasets", "prepare", "livec", "--manual-dir", str(manual),
               "--data-dir", str(tmp_path), "--allow-missing"])
  out = capsys.readouterr().out
  assert code == 0 and "627 images prepared" in out and "535 item(s)" in out
  src = data.load("livec", data_dir=tmp_path)
  assert len(src.metadata["missing"]) == 535
  assert all(m.split()[0].endswith(".bmp") for m in src.metadata["missing"])
  import csv  # pylint: disable=g-import-not-at-top
  with open(livec_mos) as f:
    mos = {r["image"]: float(r["mos"]) for r in csv.DictReader(f)}
  got = {n.rsplit("/", 1)[-1]: s for n, s in zip(src.names, src.scores)}
  assert got.keys() == mos.keys()
  # mos.csv holds the .mat values rounded to 6 decimals.
  assert max(abs(got[k] - mos[k]) for k in mos) < 1e-6


# ----------------------------------------------------------------------------
# Bad input: each stops with the file (and line) and writes nothing.


def _prepare(tmp_path, name, manual, **kw):
  return data.prepare(name, manual_dir=manual, data_dir=tmp_path / "tfds",
                      **kw)


def _nothing_written(tmp_path, name):
  return not (tmp_path / "tfds" / name).exists() or not any(
      (tmp_path / "tfds" / name).rglob("*.array_record*"))


def test_missing_score_file(tmp_path):
  fake_layouts.kadid(tmp_path / "m")
  (tmp_path / "m" / "dmos.csv").unlink()
  with pytest.raises(LayoutError, match=r"(?s)dmos.csv: score file not found.*"
                     r"images/I01\.png"):
    _prepare(tmp_path, "kadid10k", tmp_path / "m")
  assert _nothing_written(tmp_path, "kadid10k")


def test_listed_image_missing_and_allow_missing(tmp_path, capsys):
  fake_layouts.kadid(tmp_path / "m")
  (tmp_path / "m" / "images" / "I02_02_03.png").unlink()
  with pytest.raises(LayoutError, match=r"I02_02_03.png is listed in dmos.csv,"
                     r" line 13 but not found"):
    _prepare(tmp_path, "kadid10k", tmp_path / "m")
  assert _nothing_written(tmp_path, "kadid10k")
  code = main(["datasets", "prepare", "kadid10k", "--manual-dir",
               str(tmp_path / "m"), "--data-dir", str(tmp_path / "tfds"),
               "--allow-missing"])
  assert code == 0 and "11 images prepared" in capsys.readouterr().out
  src = data.load("kadid10k", data_dir=tmp_path / "tfds")
  assert len(src) == 11 and len(src.metadata["missing"]) == 1
  assert "I02_02_03.png" in src.metadata["missing"][0]


def test_image_without_score(tmp_path):
  fake_layouts.koniq(tmp_path / "m")
  fake_layouts.put(tmp_path / "m" / "1024x768" / "stray.jpg")
  with pytest.raises(LayoutError, match=r"1024x768/stray.jpg is on disk but "
                     r"has no score in koniq10k_scores_and_distributions.csv"):
    _prepare(tmp_path, "koniq10k", tmp_path / "m")
  assert _nothing_written(tmp_path, "koniq10k")
  _prepare(tmp_path, "koniq10k", tmp_path / "m", allow_missing=True)
  src = data.load("koniq10k", data_dir=tmp_path / "tfds")
  assert len(src) == 3
  assert src.metadata["missing"] == [
      "1024x768/stray.jpg is on disk but has no score in "
      "koniq10k_scores_and_distributions.csv"]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_image(tmp_path, damage):
  fake_layouts.spaq(tmp_path / "m")
  path = tmp_path / "m" / "TestImage" / "00002.jpg"
  path.write_bytes(path.read_bytes()[:40] if damage == "truncated"
                   else b"not an image at all")
  with pytest.raises(LayoutError, match=r"00002.jpg: cannot decode"):
    _prepare(tmp_path, "spaq", tmp_path / "m")
  assert _nothing_written(tmp_path, "spaq")
  _prepare(tmp_path, "spaq", tmp_path / "m", allow_missing=True)
  src = data.load("spaq", data_dir=tmp_path / "tfds")
  assert len(src) == 2 and "00002.jpg" in src.metadata["missing"][0]


def test_unparsable_score(tmp_path):
  fake_layouts.tid2013(tmp_path / "m")
  path = tmp_path / "m" / "mos_with_names.txt"
  lines = path.read_text().splitlines()
  lines[2] = "five I01_11_1.bmp"
  path.write_text("\n".join(lines))
  with pytest.raises(LayoutError, match=r"mos_with_names.txt, line 3: 'five' "
                     "is not a finite number"):
    _prepare(tmp_path, "tid2013", tmp_path / "m", allow_missing=True)
  assert _nothing_written(tmp_path, "tid2013")


def test_duplicate_names(tmp_path):
  fake_layouts.pipal(tmp_path / "m")
  label = tmp_path / "m" / "Train_Label" / "A0002.txt"
  label.write_text(label.read_text() + "A0001_00_00.bmp,1400.0\n")
  with pytest.raises(LayoutError, match=r"A0002.txt, line 5: 'A0001_00_00.bmp'"
                     r" is listed twice \(first at Train_Label/A0001.txt, "
                     r"line 1\)"):
    _prepare(tmp_path, "pipal", tmp_path / "m")
  assert _nothing_written(tmp_path, "pipal")


def test_wrong_manual_dir_and_unknown_name(tmp_path, capsys):
  with pytest.raises(LayoutError, match="no such folder"):
    _prepare(tmp_path, "csiq", tmp_path / "nowhere")
  (tmp_path / "empty").mkdir()
  with pytest.raises(LayoutError, match=r"(?s)csiq.DMOS.xlsx: score file not "
                     r"found.*src_imgs"):
    _prepare(tmp_path, "csiq", tmp_path / "empty")
  assert main(["datasets", "prepare", "nosuch", "--manual-dir",
               str(tmp_path)]) == 2
  assert "unknown dataset 'nosuch'" in capsys.readouterr().err
  assert main(["datasets", "prepare", "csiq"]) == 2
  assert "needs --manual-dir" in capsys.readouterr().err
  with pytest.raises(FileNotFoundError, match="iqa-jax datasets prepare csiq"):
    data.load("csiq", data_dir=tmp_path / "tfds")


def test_round_trip_pixels(tmp_path):
  """An image written into a dataset decodes to the same pixels."""
  fake_layouts.mvaqd(tmp_path / "m")
  src = data.load("mvaqd", data_dir=tmp_path / "t", manual_dir=tmp_path / "m")
  for i in range(len(src)):
    rec = src[i]
    on_disk = images.read(tmp_path / "m" / rec["name"])
    np.testing.assert_array_equal(rec["image"], on_disk)
    raw = src.raw(i)["image"]
    assert raw == (tmp_path / "m" / rec["name"]).read_bytes()


def test_datasets_list(capsys):
  assert main(["datasets", "list"]) == 0
  out = capsys.readouterr().out
  for name in EXPECTED:
    assert f"\n{name} " in out
  assert "demo2d" in out and "built in" in out


def test_normalise_is_affine_and_unclipped():
  spec = registry.get("kadid10k")
  assert registry.normalise(3.0, spec=spec, observed=(0, 0)) == 0.5
  assert registry.normalise(6.0, spec=spec, observed=(0, 0)) == 1.25
  live = registry.get("live")
  assert registry.normalise(10.0, spec=live, observed=(0.0, 40.0)) == 0.75
  assert math.isnan(registry.normalise(1.0, spec=live, observed=(1.0, 1.0)))


def test_overwrite(tmp_path):
  fake_layouts.mvaqd(tmp_path / "m")
  out = _prepare(tmp_path, "mvaqd", tmp_path / "m")
  (tmp_path / "m" / "16.png").unlink()
  assert _prepare(tmp_path, "mvaqd", tmp_path / "m") == out  # kept
  with pytest.raises(LayoutError, match="16.png is listed"):
    _prepare(tmp_path, "mvaqd", tmp_path / "m", overwrite=True)
  assert json.loads((out / "metadata.json").read_text())["missing"] == []
  shutil.rmtree(tmp_path / "m")
