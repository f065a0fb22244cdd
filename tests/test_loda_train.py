"""LoDa's recipe (iqa_jax.loda): the PLCC loss, crops, frozen backbones,
devices, resume, and the runlocal experiment end to end."""

import jax
import numpy as np
import pytest
from flax import nnx

from iqa_jax import losses, parallel, training
from iqa_jax.loda import config, crops, train
from iqa_jax.models import loda as loda_lib


def _authors_plcc_loss(y_pred, y):
  """The authors' plcc_loss (src/utils/loss.py) transcribed in NumPy."""
  y_pred, y = np.asarray(y_pred, np.float64), np.asarray(y, np.float64)
  y_pred = (y_pred - y_pred.mean()) / (y_pred.std() + 1e-8)
  y = (y - y.mean()) / (y.std() + 1e-8)
  loss0 = np.mean((y_pred - y) ** 2) / 4
  rho = np.mean(y_pred * y)
  loss1 = np.mean((rho * y_pred - y) ** 2) / 4
  return (loss0 + loss1) / 2


def test_plcc_loss_equals_the_authors_and_ignores_padding():
  rng = np.random.default_rng(0)
  p, y = rng.normal(size=12), 3 + 2 * rng.normal(size=12)
  assert float(losses.plcc_loss(p, y)) == pytest.approx(
      _authors_plcc_loss(p, y), rel=1e-5)
  w = np.r_[np.ones(9), np.zeros(3)]
  padded = float(losses.plcc_loss(p, y, weight=w))
  assert padded == pytest.approx(_authors_plcc_loss(p[:9], y[:9]), rel=1e-5)
  assert float(losses.plcc_loss(y, y)) == pytest.approx(0.0, abs=1e-6)
  g = jax.grad(lambda q: losses.plcc_loss(q, y))(p)
  assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_crops_are_seeded_per_epoch_and_checked():
  rng = np.random.default_rng(0)
  ims = [rng.integers(0, 256, (40, 50, 3), np.uint8) for _ in range(3)]
  tc = crops.TrainCrops(ims, [1.0, 2.0, 3.0], crops_per_image=2, crop=32,
                        seed=5)
  assert len(tc) == 6
  a = tc[np.arange(6)]
  assert a["x"].shape == (6, 32, 32, 3) and a["y"].tolist() == [1, 1, 2, 2,
                                                                3, 3]
  np.testing.assert_array_equal(tc[np.arange(6)]["x"], a["x"])
  tc.set_epoch(1)
  assert not np.array_equal(tc[np.arange(6)]["x"], a["x"])
  test = crops.TestCrops(ims, n=15, crop=32, seed=5)
  assert len(test) == 45 and test[0:15].shape == (15, 32, 32, 3)
  np.testing.assert_array_equal(test[3:5], test[0:15][3:5])
  with pytest.raises(ValueError, match="small.jpg is 20 x 50 after "
                     "resizing, smaller than the 32 x 32 crop"):
    crops.TestCrops([ims[0][:20]], crop=32, names=["small.jpg"])
  r = crops.resize_short_side(np.zeros((30, 60, 3), np.float32), 48)
  assert r.shape == (48, 96, 3) and r.dtype == np.uint8


def _arr(x):
  """A NumPy copy (typed PRNG keys as their key data)."""
  if jax.dtypes.issubdtype(getattr(x, "dtype", np.float32),
                           jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return np.array(x)


def _cfg(**kw):
  c = config.get_config("runlocal")
  c.progress = False
  for k, v in kw.items():
    c[k] = v
  return c


def _train(mesh, steps, *, cnn_bn="train", ckpt=None, hooks=()):
  cfg = _cfg(cnn_bn=cnn_bn, cnn="resnet50")   # the paper's CNN, with BN
  rng = np.random.default_rng(1)
  ims = [rng.integers(0, 256, (36, 40, 3), np.uint8) for _ in range(16)]
  data = crops.TrainCrops(ims, np.linspace(0, 1, 16), crops_per_image=1,
                          crop=32, seed=0)
  model = train.build_model(cfg, seed=0)
  model.train()
  if cnn_bn == "eval":
    model.cnn.eval()
  tx = train._optimizer(3e-4, 0.01, steps)  # pylint: disable=protected-access
  state = training.TrainState.create(model, tx, trainable=train.LEARNER)
  before = jax.tree.map(_arr, nnx.state(model))
  res = training.fit(state, data, loss_fn=train.loss_fn, tx=tx, mesh=mesh,
                     config=training.LoopConfig(batch_size=8,
                                                max_epochs=steps // 2,
                                                patience=0),
                     checkpoint_dir=ckpt, hooks=hooks)
  return before, res, state


def test_only_the_learner_trains_and_8_devices_equal_1(tmp_path):
  one = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  before, res8, state = _train(parallel.data_mesh(), 20)
  _, res1, _ = _train(one, 20)
  assert res8.steps == 20
  np.testing.assert_allclose(res8.losses, res1.losses, rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.tree.leaves(res8.state.params),
                  jax.tree.leaves(res1.state.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)
  after = nnx.state(res8.state.model())
  flat_b = dict(nnx.to_flat_state(nnx.State(before)))
  changed = {p for p, v in nnx.to_flat_state(after)
             if not np.array_equal(_arr(v.get_value()),
                                   _arr(flat_b[p].get_value()))}
  params = {p for p, _ in nnx.to_flat_state(nnx.state(res8.state.model(),
                                                      nnx.Param))}
  assert {p for p in changed & params} and all(
      "learner" in p for p in changed & params)       # frozen: bit-identical
  assert any("cnn" in p and p[-1] in ("mean", "var") for p in changed)
  # The optimiser state holds the learner's parameters only (Adam: 2 x).
  n_learner = loda_lib.trainable_parameters(train.model_config(
      _cfg(cnn="resnet50")))
  opt_leaves = [x for x in jax.tree.leaves(state.opt_state)
                if np.ndim(x) > 0]
  assert sum(np.size(x) for x in opt_leaves) == 2 * n_learner
  # With cnn_bn="eval" the ResNet's running statistics stay as they were.
  before_e, res_e, _ = _train(parallel.data_mesh(), 4, cnn_bn="eval")
  flat_e = dict(nnx.to_flat_state(nnx.State(before_e)))
  for p, v in nnx.to_flat_state(nnx.state(res_e.state.model())):
    if "cnn" in p:
      np.testing.assert_array_equal(_arr(v.get_value()),
                                    _arr(flat_e[p].get_value()))


class _Killed(Exception):
  pass


def test_killed_run_resumes_to_identical_parameters(tmp_path):
  _, full, _ = _train(parallel.data_mesh(), 8)

  def kill(epoch, logs):
    del logs
    if epoch == 2:
      raise _Killed
  with pytest.raises(_Killed):
    _train(parallel.data_mesh(), 8, ckpt=str(tmp_path / "ck"), hooks=(kill,))
  _, resumed, _ = _train(parallel.data_mesh(), 8, ckpt=str(tmp_path / "ck"))
  for a, b in zip(jax.tree.leaves(full.state.params),
                  jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(full.losses, resumed.losses)


@pytest.fixture(scope="module")
def demo_dir(demo_datasets):
  """demo2d prepared once per session (not in the user's cache)."""
  return str(demo_datasets)


def test_runlocal_end_to_end_and_score_cli(tmp_path, capsys, demo_dir):
  """runlocal's pipeline writes every output; `iqa-jax score --metric loda
  --checkpoint WORKDIR/model_split0.npz` then gives split 0's test images
  the experiment's own predictions (the file carries the tiny random ViT;
  the test crops are seeded by file name)."""
  import json
  from iqa_jax import data
  from iqa_jax.cli import main
  from iqa_jax.score_files import read_scores
  wd = tmp_path / "wd"
  out = train.run(_cfg(epochs=2, splits=1, max_images=40, data_dir=demo_dir),
                  wd, log=lambda s: None)
  assert out["trainable_parameters"] == loda_lib.trainable_parameters(
      train.model_config(_cfg()))
  assert np.isfinite(out["srcc_median"])
  for name in ("table.md", "loss.png", "scatter.png", "results.json",
               "splits.json", "fourier.png", "attention.png",
               "model_split0.npz"):
    assert (wd / name).is_file(), name
  assert "| median |" in out["markdown"]
  row = json.loads((wd / "splits.json").read_text())[0]
  src = data.load("demo2d", data_dir=demo_dir)
  folder = tmp_path / "imgs"
  folder.mkdir()
  for i in row["test"]:
    rec = src.raw(i)
    (folder / rec["name"].split("/")[-1]).write_bytes(rec["image"])
  scores = tmp_path / "s.csv"
  assert main(["score", "--metric", "loda", "--checkpoint",
               str(wd / "model_split0.npz"), "--dist", str(folder), "--out",
               str(scores)]) == 0
  got = read_scores(scores).as_dict()
  want = {src.names[i].split("/")[-1]: p for i, p in zip(row["test"],
                                                         row["pred"])}
  assert set(got) == set(want)
  for k, v in want.items():
    assert got[k] == pytest.approx(v, abs=1e-5), k
  capsys.readouterr()
  grey = tmp_path / "grey"          # a grey file is scored as RGB, and named
  grey.mkdir()
  from PIL import Image
  Image.open(next(folder.iterdir())).convert("L").save(grey / "g.png")
  assert main(["score", "--metric", "loda", "--checkpoint",
               str(wd / "model_split0.npz"), "--dist", str(grey), "--out",
               str(tmp_path / "g.csv")]) == 0
  assert "g.png is grey" in capsys.readouterr().err
  assert np.isfinite(read_scores(tmp_path / "g.csv").as_dict()["g.png"])
  assert main(["score", "--metric", "loda", "--dist", str(folder), "--out",
               str(tmp_path / "t.csv")]) == 2
  assert "needs --checkpoint" in capsys.readouterr().err
  assert main(["score", "--metric", "psnr", "--dist", str(folder), "--out",
               str(tmp_path / "u.csv")]) == 2
  assert "--ref is required" in capsys.readouterr().err


def test_weight_and_config_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="vit_weights=FILE.*"
                     "vit_base_patch16_224.augreg2"):
    train.run(config.get_config(), tmp_path / "p")
  from iqa_jax.models import resnet
  from test_resnet import _write_safetensors
  rn = tmp_path / "resnet50.safetensors"      # a file of another architecture
  _write_safetensors(rn, {k: np.zeros(s, np.float32) for k, s in
                          resnet.expected_keys().items()
                          if k.startswith("layer1.0.")})
  c = config.get_config()
  c.vit_weights = str(rn)
  with pytest.raises(KeyError, match=r"resnet50.safetensors \(given as "
                     r"vit_weights\) does not fit: not a timm ViT.*missing "
                     r"key.*Pass timm's vit_base_patch16_224"):
    train.build_model(c, seed=0)
  with pytest.raises(ValueError, match="crop=48 must equal"):
    train.run(_cfg(crop=48), tmp_path / "q")
  from iqa_jax.cli import main
  assert main(["loda", "train", "--workdir", str(tmp_path / "c")]) == 2
