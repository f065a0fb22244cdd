"""RADN's recipe (iqa_jax.radn): patches, contrastive pretraining, training
on the shared core, the experiment and `iqa-jax score --metric radn`."""

import jax
import numpy as np
import pytest
from flax import nnx

from iqa_jax import parallel, training
from iqa_jax.models import radn as radn_lib
from iqa_jax.radn import config, contrastive, patches, score, train


def test_test_grid_is_the_authors_and_patches_are_paired():
  assert len(patches.grid_positions(288, 288)) == 81      # PIPAL: 9 x 9
  # Not a multiple on one side: the last strip goes on both (10 x 7).
  pos = patches.grid_positions(256, 341)
  assert len(pos) == 70 and pos[:, 0].max() == 192 and pos[:, 1].max() == 288
  img = np.arange(40 * 50 * 3).reshape(40, 50, 3)
  got = patches.extract(img, np.array([[3, 7], [8, 18]]))
  np.testing.assert_array_equal(got[1], img[8:40, 18:50])
  rng = np.random.default_rng(0)
  pairs = [(rng.integers(0, 256, (40, 48, 3), np.uint8),) * 2
           for _ in range(3)]
  tp = patches.TrainPairs(lambda i: pairs[i], [0.1, 0.2, 0.3], n_patches=4,
                          seed=1)
  a = tp[np.arange(3)]
  assert a["dist"].shape == (3, 4, 32, 32, 3) and a["dist"].dtype == np.float32
  np.testing.assert_array_equal(a["dist"], a["ref"])   # same places
  np.testing.assert_array_equal(tp[np.arange(3)]["dist"], a["dist"])
  tp.set_epoch(1)
  assert not np.array_equal(tp[np.arange(3)]["dist"], a["dist"])
  test = patches.TestPairs(lambda i: pairs[i], 3)
  b = test[0:2]
  assert b["dist"].shape == (2, 1, 32, 32, 3) and b["mask"].all()
  with pytest.raises(ValueError, match="x.png: the distorted image is 48 x "
                     "40 and its reference 50 x 40"):
    patches.check_pair(np.zeros((40, 48, 3)), np.zeros((40, 50, 3)), "x.png")
  with pytest.raises(ValueError, match="y.png: 30 x 40 is smaller than one "
                     "32 x 32 patch"):
    patches.check_pair(np.zeros((40, 30, 3)), np.zeros((40, 30, 3)), "y.png")


def _np_contrastive(scores, y, valid, comp, elo, temperature):
  """Eq. 7 as cross-entropy, looped over the pairs, in NumPy."""
  g = lambda lin, v: v @ np.asarray(lin.kernel[...], np.float64) + \
      np.asarray(lin.bias[...], np.float64)
  total, count = 0.0, 0
  for b in range(scores.shape[0]):
    for i in range(scores.shape[1]):
      for j in range(i + 1, scores.shape[1]):
        if not (valid[b, i] and valid[b, j]):
          continue
        h = np.maximum(g(comp.fc1, np.array([scores[b, i], scores[b, j]])), 0)
        f = 1 / (1 + np.exp(-g(comp.fc2, h)[0]))
        d = y[b, i] - y[b, j]
        p = 1 / (1 + 10 ** (-d / 400)) if elo else 1 / (1 + np.exp(
            -d / temperature))
        total += -p * np.log(f) - (1 - p) * np.log(1 - f)
        count += 1
  return total / count


@pytest.fixture(scope="module")
def tiny_siamese():
  net = radn_lib.build("radn", width_divisor=16, rngs=nnx.Rngs(0))
  model = contrastive.Siamese(net, rngs=nnx.Rngs(1))
  model.eval()
  return model


def test_contrastive_loss_and_all_pairs_from_one_forward(tiny_siamese):
  model = tiny_siamese
  rng = np.random.default_rng(0)
  dist = rng.random((2, 4, 3, 32, 32, 3)).astype(np.float32)
  ref = rng.random((2, 4, 3, 32, 32, 3)).astype(np.float32)
  y = np.array([[1500, 1420, 1610, 1490], [1300, 1450, 0, 0]], np.float32)
  valid = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
  batch = {"dist": dist, "ref": ref, "y": y, "valid": valid,
           "weight": np.ones(2, np.float32)}
  scores = nnx.jit(lambda m, d, r: m.scores(d, r))
  s = np.asarray(scores(model, dist, ref), np.float64)
  for elo, temp, yy in ((True, 0.1, y), (False, 0.2, y / 2000)):
    got = float(contrastive.contrastive_loss(model, {**batch, "y": yy},
                                             elo=elo, temperature=temp))
    want = _np_contrastive(s, yy, valid, model.comparator, elo, temp)
    assert got == pytest.approx(want, rel=1e-5)
  # One forward per image equals scoring each pair of images on its own.
  for i, j in zip(*contrastive.pair_indices(4)):
    pair = scores(model, dist[:1, [i, j]], ref[:1, [i, j]])
    np.testing.assert_allclose(np.asarray(pair)[0], s[0, [i, j]], rtol=1e-5,
                               atol=1e-7)
  groups = contrastive.contrast_groups(["a", "a", "b", "a", "b", "c"],
                                       ["jpeg", "jpeg", "jpeg", "blur",
                                        "jpeg", "jpeg"])
  assert groups == [[0, 1], [2, 4]]


def _fit(mesh, steps, *, ckpt=None, hooks=()):
  rng = np.random.default_rng(3)
  ims = [(rng.integers(0, 256, (40, 40, 3), np.uint8),
          rng.integers(0, 256, (40, 40, 3), np.uint8)) for _ in range(16)]
  data = patches.TrainPairs(lambda i: ims[i], np.linspace(0.2, 1, 16),
                            n_patches=2, seed=0)
  net = radn_lib.build("radn", width_divisor=16, rngs=nnx.Rngs(0))
  net.train()
  tx = train._adam(1e-4, 0.8, 4)  # the paper's lr  # pylint: disable=protected-access
  state = training.TrainState.create(net, tx)
  return training.fit(state, data, loss_fn=train.loss_fn, tx=tx, mesh=mesh,
                      config=training.LoopConfig(batch_size=8,
                                                 max_epochs=steps // 2,
                                                 patience=0),
                      checkpoint_dir=ckpt, hooks=hooks)


def test_8_devices_equal_1_and_a_killed_run_resumes(tmp_path):
  one = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  res8 = _fit(parallel.data_mesh(), 20)
  res1 = _fit(one, 20)
  assert res8.steps == 20
  np.testing.assert_allclose(res8.losses, res1.losses, rtol=1e-4, atol=1e-6)
  for a, b in zip(jax.tree.leaves(res8.state.params),
                  jax.tree.leaves(res1.state.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)

  class Killed(Exception):
    pass

  def kill(epoch, logs):
    del logs
    if epoch == 3:
      raise Killed
  with pytest.raises(Killed):
    _fit(parallel.data_mesh(), 20, ckpt=str(tmp_path / "ck"), hooks=(kill,))
  resumed = _fit(parallel.data_mesh(), 20, ckpt=str(tmp_path / "ck"))
  for a, b in zip(jax.tree.leaves(res8.state.params),
                  jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.fixture(scope="module")
def demo_dir(demo_datasets):
  """demo2d prepared once per session (not in the user's cache)."""
  return str(demo_datasets)


def _cfg(preset="runlocal", **kw):
  c = config.get_config(preset)
  c.progress = False
  for k, v in kw.items():
    node, leaf = c, k
    if "__" in k:
      sec, leaf = k.split("__")
      node = c[sec]
    node[leaf] = v
  return c


def test_runlocal_end_to_end_and_score_cli(tmp_path, capsys, demo_dir):
  """RADN with contrastive pretraining at toy size writes every output
  (tables, curves, Fig. 8, the cross-dataset columns); `iqa-jax score
  --metric radn --checkpoint` gives the test pairs of fold 0 the
  experiment's scores; a file of another variant is refused, naming the
  variant to pass. (Table 3's five rows run the same function per row;
  the closing note gives the ablation_runlocal run.)"""
  import json
  from iqa_jax import data
  from iqa_jax.cli import main
  from iqa_jax.score_files import read_scores
  wd = tmp_path / "wd"
  out = train.run(_cfg(epochs=1, max_images=60, train_patches=2,
                       width_divisor=16, attention_maps=2, data_dir=demo_dir,
                       contrastive__group_size=3, k_folds=3,
                       val_fraction=0.5, cross_datasets=("demo2d",)),
                  wd, log=lambda s: None)
  assert [r["network"] for r in out["table"]] == ["radn + contrastive"]
  assert np.isfinite(out["table"][0]["demo2d_srcc"])
  for name in ("table.md", "table.csv", "curves.png", "results.json",
               "runs.json", "attention_radn_contrastive.png",
               "model_radn_contrastive_fold0.npz"):
    assert (wd / name).is_file(), name
  row = json.loads((wd / "runs.json").read_text())[0]
  assert np.isfinite(row["srcc"]) and row["pretrain_losses"]
  assert row["cross"]["demo2d"]["images"] == 60
  src = data.load("demo2d", data_dir=demo_dir)
  ref_dir, dist_dir = tmp_path / "ref", tmp_path / "dist"
  ref_dir.mkdir()
  dist_dir.mkdir()
  from PIL import Image
  for i in row["test"]:
    rec = src[i]
    (dist_dir / rec["name"].split("/")[-1]).write_bytes(src.raw(i)["image"])
    Image.fromarray((np.asarray(rec["reference"]) * 255).round().astype(
        np.uint8)).save(ref_dir / f"{rec['ref_id']}.png")
  model_file = wd / "model_radn_contrastive_fold0.npz"
  scores = tmp_path / "s.csv"
  assert main(["score", "--metric", "radn", "--checkpoint", str(model_file),
               "--ref", str(ref_dir), "--dist", str(dist_dir), "--out",
               str(scores)]) == 0
  got = read_scores(scores).as_dict()
  want = {src.names[i].split("/")[-1]: p for i, p in zip(row["test"],
                                                         row["pred"])}
  assert set(got) == set(want)
  for k, v in want.items():
    assert got[k] == pytest.approx(v, abs=1e-5), k
  assert main(["score", "--metric", "radn", "--checkpoint", str(model_file),
               "--variant", "wresnet", "--ref", str(ref_dir), "--dist",
               str(dist_dir), "--out", str(tmp_path / "t.csv")]) == 2
  assert "holds a radn network, not wresnet" in capsys.readouterr().err
  # A WResNet file read as RADN (an authors' state dict has no variant).
  wres = score.export(radn_lib.build("wresnet", width_divisor=16,
                                     rngs=nnx.Rngs(0)), tmp_path / "w.npz")
  state = {k: v for k, v in np.load(wres).items()
           if k not in ("variant", "width_divisor", "target_scale",
                        "config")}
  np.savez(tmp_path / "authors.npz", **state)
  assert score.load(wres)[1]["variant"] == "wresnet"
  with pytest.raises(KeyError, match="authors.npz: not a RADN state dict.*"
                     "looks like a WResNet checkpoint.*read as radn"):
    score.load(tmp_path / "authors.npz")


def test_table_3_rows_and_config_errors():
  rows = train._networks(_cfg("ablation_runlocal"))  # pylint: disable=protected-access
  assert rows == list(config.TABLE_3) and len(rows) == 5
  assert [v for _, v, _ in rows] == ["wresnet", "wresnet", "radn_deform",
                                     "radn_attention", "radn"]
  assert [c for _, _, c in rows] == [False, True, True, True, True]
  with pytest.raises(ValueError, match="variant must be one of wresnet"):
    train._networks(_cfg(variant="radnx"))  # pylint: disable=protected-access
  with pytest.raises(ValueError, match="unknown preset"):
    config.get_config("fast")
