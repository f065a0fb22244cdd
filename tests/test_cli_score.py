"""`iqa-jax score`: pairing rules, errors, and the CSV `evaluate` reads."""

import csv

import jax
import numpy as np
import pytest
from PIL import Image

import os
import subprocess
import sys

from iqa_jax import fr, images
from iqa_jax.cli import main
from iqa_jax.cli import score as score_cli
from iqa_jax.data import demo2d
from iqa_jax.fr import Scorer, preprocess, smic
from iqa_jax.score_files import read_scores


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """refs/ with two 64 x 80 photographs; dist/ with KADID-style names."""
  root = tmp_path_factory.mktemp("score")
  (root / "refs").mkdir()
  (root / "dist").mkdir()
  for k, (name, offset) in enumerate((("I01", 0), ("I02", 150))):
    ref = demo2d.reference("astronaut", (offset, 100, 300))
    ref = ref[100:164, 120:200]
    Image.fromarray(ref.astype(np.uint8)).save(root / "refs" / f"{name}.png")
    for j, (kind, levels) in enumerate(demo2d.LEVELS.items()):
      d = demo2d.distort(jax.random.key(k), ref, kind=kind, param=levels[3])
      Image.fromarray(np.asarray(d).astype(np.uint8)).save(
          root / "dist" / f"{name}_{j + 1:02d}_3.png")
  return root


def _read(path):
  with open(path, newline="") as f:
    return list(csv.reader(f))


def test_folder_pairs_by_reference_prefix(folders):
  pairs = score_cli.find_pairs(folders / "refs", folders / "dist")
  assert len(pairs) == 8
  assert all(d.name.startswith(r.stem + "_") for r, d in pairs)


def test_scores_csv_equals_scorer_and_feeds_evaluate(folders, tmp_path,
                                                     capsys):
  out = tmp_path / "ssim.csv"
  assert main(["score", "--metric", "ssim", "--ref", str(folders / "refs"),
               "--dist", str(folders / "dist"), "--out", str(out)]) == 0
  rows = _read(out)
  assert rows[0] == ["image", "ssim", "ref"] and len(rows) == 9
  pairs = score_cli.find_pairs(folders / "refs", folders / "dist")
  ref = np.stack([images.read(r) for r, _ in pairs])
  dist = np.stack([images.read(d) for _, d in pairs])
  want = Scorer("ssim")(ref, dist)
  got = read_scores(out)
  np.testing.assert_allclose(got.scores, want, rtol=1e-6)
  assert "iqa-jax evaluate --pred" in capsys.readouterr().out
  mos = tmp_path / "mos.csv"
  with open(mos, "w") as f:
    f.write("image,mos\n")
    for (_, d), s in zip(pairs, want):
      f.write(f"{d.name},{10 * s + 1}\n")
  assert main(["evaluate", "--pred", str(out), "--mos", str(mos),
               "--fit", "none", "--json"]) == 0
  assert '"srcc": 1.0' in capsys.readouterr().out
  # An existing output is kept unless --overwrite.
  assert main(["score", "--metric", "psnr", "--ref", str(folders / "refs"),
               "--dist", str(folders / "dist"), "--out", str(out)]) == 2


def test_single_file_pairs_and_smic_metric(folders, tmp_path):
  out = tmp_path / "p.csv"
  ref = folders / "refs" / "I01.png"
  dist = folders / "dist" / "I01_02_3.png"
  assert main(["score", "--metric", "psnr_smic", "--ref", str(ref),
               "--dist", str(dist), "--out", str(out)]) == 0
  rows = _read(out)
  assert rows[1][0] == "I01_02_3.png" and rows[1][2] == "I01.png"
  # 64 x 80 is below prepare_image's 128 threshold: no resize happens.
  want = Scorer("psnr_smic", window=7)(images.read(ref)[None],
                                       images.read(dist)[None])
  assert float(rows[1][1]) == pytest.approx(float(want[0]), rel=1e-6)
  # Gaussian directions instead of Xavier-uniform ones: another attention.
  out_g = tmp_path / "g.csv"
  assert main(["score", "--metric", "psnr_smic", "--ref", str(ref),
               "--dist", str(dist), "--out", str(out_g), "--projection-kind",
               "gaussian", "--seed", "3"]) == 0
  want_g = Scorer("psnr_smic", window=7, projections=smic.random_projections(
      jax.random.key(3), kind="gaussian"))(images.read(ref)[None],
                                           images.read(dist)[None])
  got_g = float(_read(out_g)[1][1])
  assert got_g == pytest.approx(float(want_g[0]), rel=1e-6)
  assert abs(got_g - float(rows[1][1])) > 1e-4


def test_errors_name_the_files(folders, tmp_path, capsys):
  extra = tmp_path / "dist"
  extra.mkdir()
  Image.new("RGB", (80, 64)).save(extra / "X09_01_1.png")
  assert main(["score", "--metric", "psnr", "--ref", str(folders / "refs"),
               "--dist", str(extra), "--out", str(tmp_path / "o.csv")]) == 2
  assert "X09_01_1.png" in capsys.readouterr().err
  Image.new("RGB", (81, 64)).save(extra / "I01_01_1.png")
  (extra / "X09_01_1.png").unlink()
  assert main(["score", "--metric", "psnr", "--ref", str(folders / "refs"),
               "--dist", str(extra), "--out", str(tmp_path / "o.csv")]) == 2
  assert "equal sizes" in capsys.readouterr().err
  assert main(["score", "--metric", "psnr", "--window", "5", "--ref",
               str(folders / "refs"), "--dist", str(folders / "dist"),
               "--out", str(tmp_path / "o.csv")]) == 2
  assert main(["score", "--metric", "ssim", "--projections", "p.npz",
               "--ref", str(folders / "refs"), "--dist", str(folders / "dist"),
               "--out", str(tmp_path / "o.csv")]) == 2
  assert "SMIC metrics only" in capsys.readouterr().err
  tiny = tmp_path / "tiny"
  tiny.mkdir()
  Image.new("RGB", (40, 40), (90, 20, 200)).save(tiny / "a.png")
  assert main(["score", "--metric", "psnr_smic", "--ref", str(tiny / "a.png"),
               "--dist", str(tiny / "a.png"), "--out",
               str(tmp_path / "o.csv")]) == 2
  err = capsys.readouterr().err
  assert "a.png (40 x 40" in err and "at least 49 x 49 pixels" in err
  assert "--skip-bad" in err
  assert not (tmp_path / "o.csv").exists()


def test_skip_bad_reports_each_bad_pair_and_scores_the_rest(folders, tmp_path,
                                                            capsys):
  import tifffile  # pylint: disable=g-import-not-at-top
  dist = tmp_path / "dist"
  dist.mkdir()
  good = sorted((folders / "dist").glob("I01_*.png"))[0]
  (dist / "I01_01_1.png").write_bytes(good.read_bytes())
  Image.new("RGB", (81, 64)).save(dist / "I01_02_1.png")      # wrong size
  nan = np.full((64, 80), 0.5, np.float32)     # a float grey TIFF
  nan[3, 4] = np.nan
  tifffile.imwrite(dist / "I01_03_1.tif", nan)                # NaN pixels
  (dist / "I01_04_1.png").write_bytes(good.read_bytes()[:200])  # truncated
  args = ["score", "--metric", "psnr", "--ref", str(folders / "refs"),
          "--dist", str(dist), "--out", str(tmp_path / "o.csv")]
  assert main(args) == 2            # without --skip-bad: the first stops it
  assert "--skip-bad" in capsys.readouterr().err
  assert main(args + ["--skip-bad"]) == 0
  out, err = capsys.readouterr()
  assert "equal sizes" in err and "NaN" in err and "cannot decode" in err
  for name in ("I01_02_1.png", "I01_03_1.tif", "I01_04_1.png"):
    assert f"skipped {dist / name}" in err
  assert "3 bad pair(s) skipped" in out
  rows = _read(tmp_path / "o.csv")
  assert [r[0] for r in rows[1:]] == ["I01_01_1.png"]


@pytest.mark.parametrize("size,want", [((256, 341), (160, 213)),
                                       ((384, 512), (256, 341)),
                                       ((100, 300), (100, 300)),
                                       ((500, 200), (320, 128)),
                                       ((1000, 180), (711, 128))])
def test_official_size(size, want):
  assert preprocess.official_size(*size) == want


def test_python_and_cli_give_the_same_number(tmp_path):
  """fr.get applies the official SMIC resize by default, as the CLI does
  (a short side above 128 pixels is resized), and says how to turn it off."""
  ref = demo2d.reference("astronaut", (0, 100, 300))[:136, :160]
  dist = demo2d.distort(jax.random.key(0), ref, kind="blur", param=1.5)
  Image.fromarray(ref).save(tmp_path / "r.png")
  Image.fromarray(np.asarray(dist)).save(tmp_path / "d.png")
  out = tmp_path / "s.csv"
  assert main(["score", "--metric", "psnr_smic", "--ref",
               str(tmp_path / "r.png"), "--dist", str(tmp_path / "d.png"),
               "--out", str(out)]) == 0
  cli = read_scores(out).scores[0]
  r, d = images.read(tmp_path / "r.png")[None], images.read(
      tmp_path / "d.png")[None]
  scorer = fr.get("psnr_smic")
  assert scorer.preprocess == "smic" and "preprocess=None" in Scorer.__doc__
  assert float(scorer(r, d)[0]) == pytest.approx(cli, rel=1e-6)
  raw = fr.get("psnr_smic", preprocess=None)(r, d)[0]
  assert abs(raw - cli) > 0.1     # the resize matters at this size
  # The pure functions never resize (README runs fr.psnr_smic itself).
  assert "do not resize" in smic.__doc__


def test_unreadable_files_get_one_line_and_a_fix(folders, tmp_path, capsys):
  ref = folders / "refs" / "I01.png"
  bad = tmp_path / "I01_01_1.jpg"
  Image.open(ref).save(bad, quality=90)
  bad.write_bytes(bad.read_bytes()[:200])          # truncated JPEG
  empty = tmp_path / "e" / "I01_01_1.png"
  empty.parent.mkdir()
  empty.write_bytes(b"")
  for dist, fix in ((bad, "complete copy"), (empty, "empty (0 bytes)")):
    assert main(["score", "--metric", "psnr", "--ref", str(ref), "--dist",
                 str(dist), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(dist) in err and fix in err and "official archive" not in err


def test_no_command_exits_2(capsys):
  assert main([]) == 2
  assert "a command is required" in capsys.readouterr().err
  helptext = score_cli.__doc__
  assert "--metric" in helptext


def test_second_run_does_not_compile_again(folders, tmp_path):
  """The persistent compilation cache: run 2 on the same image sizes finds
  the metric's compiled program that run 1 stored (JAX reports every
  persistent-cache miss when asked to explain them)."""
  cache = tmp_path / "jax_cache"
  # SSIM compiles in well under iqa-jax's 0.5 s threshold: keep every
  # program here (the SMIC metrics pass it; the note measures psnr_smic).
  env = {**os.environ, "IQA_JAX_COMPILATION_CACHE": str(cache),
         "JAX_EXPLAIN_CACHE_MISSES": "1",
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  cmd = [sys.executable, "-m", "iqa_jax.cli", "score", "--metric", "ssim",
         "--ref", str(folders / "refs"), "--dist", str(folders / "dist"),
         "--overwrite", "--out", str(tmp_path / "s.csv")]
  miss = "CACHE MISS for 'jit_score'"
  first = subprocess.run(cmd, env=env, check=True, capture_output=True,
                         text=True)
  assert miss in first.stderr
  assert any(p.name.startswith("jit_score-") for p in cache.iterdir())
  second = subprocess.run(cmd, env=env, check=True, capture_output=True,
                          text=True)
  assert "TRACING CACHE MISS" in second.stderr   # misses are reported ...
  assert "PERSISTENT COMPILATION CACHE MISS" not in second.stderr  # ... none
  assert read_scores(tmp_path / "s.csv").names


def test_maps_writes_one_figure_per_pair(folders, tmp_path, capsys):
  """--maps DIR: the distortion map, the attention and their product of
  every scored pair as a PNG (Fig. 5); refused for a metric without an
  attention."""
  out, maps_dir = tmp_path / "m.csv", tmp_path / "maps"
  assert main(["score", "--metric", "psnr_mic", "--ref",
               str(folders / "refs"), "--dist", str(folders / "dist"),
               "--out", str(out), "--maps", str(maps_dir)]) == 0
  pngs = sorted(p.name for p in maps_dir.iterdir())
  assert pngs == sorted(f"{r[0]}.png" for r in _read(out)[1:])
  assert len(pngs) == 8
  with Image.open(maps_dir / pngs[0]) as im:
    w, h = im.size
    assert w > 1000 and h > 200
    px = np.asarray(im.convert("RGB"))
  assert len(np.unique(px.reshape(-1, 3), axis=0)) > 200   # maps, colour bars
  assert "8 map figure(s)" in capsys.readouterr().out
  assert main(["score", "--metric", "psnr", "--ref", str(folders / "refs"),
               "--dist", str(folders / "dist"), "--out",
               str(tmp_path / "n.csv"), "--maps", str(maps_dir)]) == 2
  assert "use its SMIC version" in capsys.readouterr().err


def test_grey_and_alpha_images_are_reported_not_silent(folders, tmp_path,
                                                       capsys):
  """Grey and RGBA files are scored as the official codes read them (PIL's
  convert("RGB")), and each is named on stderr with what was done."""
  ref = images.read(folders / "refs" / "I01.png")
  u8 = images.to_uint8(images.read(folders / "dist" / "I01_02_3.png"))
  Image.fromarray(u8).convert("L").save(tmp_path / "grey.png")
  rgba = np.concatenate([u8, np.full(u8.shape[:2] + (1,), 128, np.uint8)], -1)
  Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
  for name, word in (("grey.png", "is grey"), ("alpha.png", "alpha channel")):
    out = tmp_path / f"{name}.csv"
    assert main(["score", "--metric", "psnr", "--ref",
                 str(folders / "refs" / "I01.png"), "--dist",
                 str(tmp_path / name), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert name in err and word in err
    got = read_scores(out).scores[0]
    x = images.read(tmp_path / name)
    assert x.shape == ref.shape
    assert got == pytest.approx(float(fr.psnr(ref, x)), rel=1e-6)
  assert score_cli.image_mode_notes([folders / "refs" / "I01.png"]) == []
