"""LoDa's architecture (iqa_jax.models.loda) and its ViT (models.vit)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import special

from iqa_jax.models import loda, vit


@pytest.fixture(scope="module")
def tiny():
  """The toy LoDa in eval mode (built once for the module)."""
  model = loda.LoDa(loda.TINY, rngs=nnx.Rngs(0))
  model.eval()
  return model


def test_trainable_parameter_counts():
  """The authors' code gives 8,927,488 trainable parameters (notes, s. 2:
  extractor 393,472, down 640,512, cross-attention 197,376, up 7,686,144,
  scale 9,216, head 768); the ablations' counts follow from the shapes."""
  assert loda.trainable_parameters() == 8_927_488
  counts = {
      "r=48": loda.LodaConfig(latent=48), "r=80": loda.LodaConfig(latent=80),
      "heads=2": loda.LodaConfig(heads=2), "heads=8": loda.LodaConfig(heads=8),
      "N=3": loda.LodaConfig(interactions=3),
      "N=6": loda.LodaConfig(interactions=6),
      "vgg16": loda.LodaConfig(cnn="vgg16")}
  got = {k: loda.trainable_parameters(c) for k, c in counts.items()}
  # r enters every learner matrix; heads none; N multiplies the injectors.
  per_injector = 53_376 + 16_448 + 640_512 + 768
  assert got["N=3"] == 8_927_488 - 9 * per_injector
  assert got["N=6"] == 8_927_488 - 6 * per_injector
  assert got["heads=2"] == got["heads=8"] == 8_927_488
  r = 48
  want = (sum(c * r + r + 9 * r * r for c in (256, 512, 1024, 2048))
          + 12 * ((768 * r + r + r * r + r) + (4 * r * r + r)
                  + (r * 768 + 768 + 768 * 768 + 768) + 768) + 768)
  assert got["r=48"] == want
  assert got["vgg16"] == 8_927_488 - 64 * (256 + 512 + 1024 + 2048) + 64 * (
      128 + 256 + 512 + 512)
  with pytest.raises(ValueError, match="must divide the ViT depth"):
    loda.LodaConfig(interactions=5)
  with pytest.raises(ValueError, match="not divisible by heads"):
    loda.LodaConfig(latent=50, heads=4)


def _np_layernorm(x, w, b):
  m = x.mean(-1, keepdims=True)
  v = ((x - m) ** 2).mean(-1, keepdims=True)
  return (x - m) / np.sqrt(v + 1e-6) * w + b


def _np_vit(model, x):
  """timm's ViT forward transcribed in NumPy (float64) from our weights."""
  p = model.patch
  n, h, w, _ = x.shape
  k = np.asarray(model.patch_embed.kernel[...], np.float64)   # p p 3 d
  patches = x.reshape(n, h // p, p, w // p, p, 3).transpose(0, 1, 3, 2, 4, 5)
  t = patches.reshape(n, -1, p * p * 3) @ k.reshape(p * p * 3, -1)
  t = t + np.asarray(model.patch_embed.bias[...])
  cls = np.broadcast_to(np.asarray(model.cls_token[...]), (n, 1, t.shape[-1]))
  t = np.concatenate([cls, t], 1) + np.asarray(model.pos_embed[...])
  g = lambda a: np.asarray(a[...], np.float64)
  for b in model.blocks:
    y = _np_layernorm(t, g(b.norm1.scale), g(b.norm1.bias))
    qkv = y @ g(b.attn.qkv.kernel) + g(b.attn.qkv.bias)
    hds = b.attn.heads
    d = t.shape[-1]
    qkv = qkv.reshape(n, -1, 3, hds, d // hds).transpose(2, 0, 3, 1, 4)
    a = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) * (d // hds) ** -0.5
    a = np.exp(a - a.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    o = (a @ qkv[2]).transpose(0, 2, 1, 3).reshape(n, -1, d)
    t = t + o @ g(b.attn.proj.kernel) + g(b.attn.proj.bias)
    y = _np_layernorm(t, g(b.norm2.scale), g(b.norm2.bias))
    y = y @ g(b.mlp.fc1.kernel) + g(b.mlp.fc1.bias)
    y = 0.5 * y * (1 + special.erf(y / np.sqrt(2)))
    t = t + y @ g(b.mlp.fc2.kernel) + g(b.mlp.fc2.bias)
  return _np_layernorm(t, g(model.norm.scale), g(model.norm.bias))[:, 0]


def test_vit_equals_a_numpy_transcription_and_takes_timm_names():
  cfg = dict(image_size=32, patch=8, dim=48, depth=2, heads=4, mlp_ratio=4,
             num_classes=5)
  model = vit.VisionTransformer(**cfg, rngs=nnx.Rngs(1))
  x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
  got = np.asarray(model(jnp.asarray(x), pre_logits=True))
  np.testing.assert_allclose(got, _np_vit(model, x.astype(np.float64)),
                             atol=2e-4)
  # A state dict in timm's names and torch layouts round-trips.
  keys = vit.expected_keys(**cfg)
  assert keys["patch_embed.proj.weight"] == (48, 3, 8, 8)
  assert keys["blocks.1.attn.qkv.weight"] == (144, 48)
  rng = np.random.default_rng(2)
  state = {k: rng.normal(size=s).astype(np.float32) for k, s in keys.items()}
  loaded = vit.VisionTransformer.from_state_dict(state, **cfg)
  np.testing.assert_array_equal(
      np.asarray(loaded.blocks[1].attn.qkv.kernel[...]),
      state["blocks.1.attn.qkv.weight"].T)
  np.testing.assert_array_equal(np.asarray(loaded.patch_embed.kernel[...]),
                                state["patch_embed.proj.weight"].transpose(
                                    2, 3, 1, 0))
  with pytest.raises(KeyError, match="missing key.*blocks.0.norm1.weight"):
    vit.VisionTransformer.from_state_dict(
        {k: v for k, v in state.items() if k != "blocks.0.norm1.weight"},
        **cfg)
  bad = dict(state, pos_embed=np.zeros((1, 10, 48), np.float32))
  with pytest.raises(ValueError, match="pos_embed: expected shape"):
    vit.VisionTransformer.from_state_dict(bad, **cfg)
  with pytest.raises(ValueError, match="takes 32 x 32 input"):
    model(jnp.zeros((1, 48, 48, 3)))


def test_adaptive_avg_pool_equals_torch_rule():
  x = np.random.default_rng(0).normal(size=(1, 10, 13, 2)).astype(np.float32)
  got = np.asarray(loda.adaptive_avg_pool(jnp.asarray(x), 4))
  for i in range(4):
    for j in range(4):
      r0, r1 = (i * 10) // 4, -((-(i + 1) * 10) // 4)
      c0, c1 = (j * 13) // 4, -((-(j + 1) * 13) // 4)
      np.testing.assert_allclose(got[0, i, j], x[0, r0:r1, c0:c1].mean((0, 1)),
                                 atol=1e-6)


def test_zero_scale_makes_loda_the_plain_vit_and_cross_attention(tiny):
  """With s = 0 the injectors add nothing: LoDa's features are the frozen
  ViT's class token. The cross-attention equals its NumPy transcription."""
  model = nnx.clone(tiny)
  x = jax.random.normal(jax.random.key(1), (3, 32, 32, 3))
  model.learner.scale_factor[...] = jnp.zeros_like(
      model.learner.scale_factor[...])
  np.testing.assert_allclose(np.asarray(model.features(x)),
                             np.asarray(model.vit(x, pre_logits=True)),
                             atol=1e-5)
  s = np.asarray(model(x))
  assert s.shape == (3,) and np.all(np.abs(s) <= 1 + 1e-6)
  ca = model.learner.cross_attn[0]
  q = np.random.default_rng(0).normal(size=(2, 5, 16))
  kv = np.random.default_rng(1).normal(size=(2, 7, 16))
  g = lambda a: np.asarray(a[...], np.float64)
  qq = (q @ g(ca.q.kernel)).reshape(2, 5, 4, 4).transpose(0, 2, 1, 3)
  kk = (kv @ g(ca.kv.kernel)).reshape(2, 7, 2, 4, 4).transpose(2, 0, 3, 1, 4)
  a = qq @ kk[0].transpose(0, 1, 3, 2) / 2.0
  a = np.exp(a - a.max(-1, keepdims=True))
  a /= a.sum(-1, keepdims=True)
  want = (a @ kk[1]).transpose(0, 2, 1, 3).reshape(2, 5, 16)
  want = want @ g(ca.proj.kernel) + g(ca.proj.bias)
  np.testing.assert_allclose(np.asarray(ca(jnp.asarray(q, jnp.float32),
                                           jnp.asarray(kv, jnp.float32))),
                             want, atol=1e-4)


def test_cnn_tokens_and_attention_of_the_class_token(tiny):
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  tokens = tiny.cnn_tokens(x)
  assert tokens.shape == (2, 4 * 2 * 2, 16)
  cls, attn = tiny.features(x, return_attention=True)
  assert cls.shape == (2, 64) and attn.shape == (2, 4, 17, 17)
  np.testing.assert_allclose(np.asarray(attn.sum(-1)), 1.0, atol=1e-5)


def test_bfloat16_backbones_keep_the_learner_in_float32(tiny):
  """dtype="bfloat16": the frozen ViT and CNN in bfloat16, the learner and
  the score in float32, gradients reach the learner, scores near float32."""
  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  forward = nnx.jit(lambda m, v: m(v))
  want = np.asarray(forward(tiny, x))
  model = loda.set_backbone_dtype(nnx.clone(tiny), "bfloat16")
  dtypes = lambda m: {v.dtype for v in jax.tree.leaves(nnx.state(m,
                                                                 nnx.Param))}
  assert dtypes(model.vit) == dtypes(model.cnn) == {jnp.dtype("bfloat16")}
  assert dtypes(model.learner) == {jnp.dtype("float32")}
  got = forward(model, x)
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(got), want, atol=0.03)
  assert not np.allclose(np.asarray(got), want, atol=1e-6)  # really bf16

  def loss(learner):
    m = nnx.clone(model)
    nnx.update(m.learner, nnx.state(learner))
    return jnp.sum(m(x))
  grads = nnx.jit(nnx.grad(loss))(model.learner)
  leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
  assert {g.dtype for g in leaves} == {jnp.dtype("float32")}
  assert all(np.isfinite(np.asarray(g)).all() for g in leaves)
  assert any(np.abs(np.asarray(g)).max() > 0 for g in leaves)
  with pytest.raises(ValueError, match="dtype must be"):
    loda.LodaConfig(dtype="float16")


def test_resnet_batch_norm_in_training_mode_is_torchs():
  """Batch statistics normalise; running statistics move 0.1 towards the
  batch mean and the unbiased variance (torch's BatchNorm2d)."""
  from iqa_jax.models.resnet import BatchNorm
  bn = BatchNorm(3)
  x = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 5, 5, 3))
  x = jnp.asarray(x, jnp.float32)
  bn.use_running_average = False
  y = np.asarray(bn(x))
  xf = np.asarray(x, np.float64).reshape(-1, 3)
  np.testing.assert_allclose(y.reshape(-1, 3), (xf - xf.mean(0)) / np.sqrt(
      xf.var(0) + 1e-5), atol=1e-4)
  np.testing.assert_allclose(np.asarray(bn.mean[...]), 0.1 * xf.mean(0),
                             rtol=1e-5)
  np.testing.assert_allclose(np.asarray(bn.var[...]),
                             0.9 + 0.1 * xf.var(0, ddof=1), rtol=1e-5)
  model = nnx.eval_shape(lambda: loda.LoDa(loda.TINY, rngs=nnx.Rngs(0)))
  model.train()
  assert model.cnn.bn1.use_running_average is False
  model.eval()
  assert model.cnn.bn1.use_running_average is True


def test_authors_checkpoint_round_trip_and_errors(tmp_path):
  """A synthetic checkpoint in the authors' names ("learner" state dict,
  "bn_buffer" running statistics) loads every tensor; a missing or
  misshaped key is refused by name."""
  from iqa_jax.models import resnet
  keys = loda.learner_keys(loda.TINY)
  assert keys["conv.0.0.weight"] == (16, 256 // 16, 1, 1)
  assert keys["cross_attn.3.kv.weight"] == (32, 16)
  assert keys["head.weight"] == (64, 1)
  full = loda.learner_keys()
  assert sum(int(np.prod(s)) for s in full.values()) == 8_927_488
  rng = np.random.default_rng(0)
  model = loda.LoDa(loda.TINY, rngs=nnx.Rngs(0))
  flat = {f"learner.{k}": rng.normal(size=s).astype(np.float32)
          for k, s in keys.items()}
  for name, (var, _) in resnet._targets(model.cnn):  # pylint: disable=protected-access
    if name.endswith(("running_mean", "running_var")):
      flat[f"bn_buffer.{name}"] = rng.uniform(0.5, 2, var.shape).astype(
          np.float32)
  flat["bn_buffer.bn1.num_batches_tracked"] = np.array(7)
  np.savez(tmp_path / "ckpt.npz", **flat)
  state = loda.read_authors_checkpoint(tmp_path / "ckpt.npz")
  loda.load_authors_state(model, state)
  np.testing.assert_array_equal(
      np.asarray(model.learner.conv[1].conv2.kernel[...]),
      flat["learner.conv.1.2.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(
      np.asarray(model.learner.up_proj[2].fc2.kernel[...]),
      flat["learner.up_proj.2.fc2.weight"].T)
  np.testing.assert_array_equal(np.asarray(model.learner.head[...]),
                                flat["learner.head.weight"])
  np.testing.assert_array_equal(np.asarray(model.cnn.layers[0][0].bn2.var[...]),
                                flat["bn_buffer.layer1.0.bn2.running_var"])
  nested = {"learner": {k[8:]: v for k, v in flat.items()
                        if k.startswith("learner.")}}
  loda.load_authors_state(loda.LoDa(loda.TINY, rngs=nnx.Rngs(1)), nested)
  broken = dict(nested["learner"])
  del broken["cross_attn.2.q.weight"]
  with pytest.raises(KeyError, match=r"missing key.*cross_attn.2.q.weight"):
    loda.load_authors_state(model, {"learner": broken}, source="x.pt")
  other = loda.LoDa(loda.dataclasses.replace(loda.TINY, latent=8),
                    rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match=r"learner.conv.0.0.weight has shape "
                     r"\(16, 16, 1, 1\), this model \(r=8.*needs "
                     r"\(8, 16, 1, 1\)"):
    loda.load_authors_state(other, nested, source="ckpt.npz")
  with pytest.raises(FileNotFoundError, match="github.com/NeosXu/LoDa"):
    loda.read_authors_checkpoint(tmp_path / "absent.pt")


def test_fourier_analysis_and_class_token_attention():
  from iqa_jax.loda import analysis
  g, c = 8, 3
  yy, xx = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
  checker = ((-1.0) ** (yy + xx))[..., None] * np.ones(c)
  smooth = np.cos(np.pi * yy / g)[..., None] * np.ones(c) + 2
  def tokens(grid):
    return np.concatenate([np.zeros((1, 1, c)), grid.reshape(1, g * g, c)],
                          1)
  f, rel = analysis.relative_log_amplitude(tokens(checker))
  assert f[0] == 0 and f[-1] == pytest.approx(np.pi) and len(f) == g // 2 + 1
  assert rel[0] == 0 and rel[-1] > 20        # all energy at pi
  _, rel_s = analysis.relative_log_amplitude(tokens(smooth))
  assert rel_s[-1] < -20                      # none at pi
  with pytest.raises(ValueError, match="square grid"):
    analysis.relative_log_amplitude(np.zeros((1, 11, 2)))
  attn = jax.nn.softmax(jax.random.normal(jax.random.key(0), (2, 4, 17, 17)))
  a = analysis.class_token_attention(attn)
  assert a.shape == (2, 4, 4)
  np.testing.assert_allclose(a.sum((1, 2)),
                             1 - np.asarray(attn[:, :, 0, 0]).mean(1),
                             atol=1e-5)


def test_export_and_load_rebuild_a_random_backbone_model(tiny, tmp_path):
  """A model with random backbones (runlocal's, here with the toy ResNet)
  survives export -> load: the same scores."""
  from iqa_jax.loda import config, score
  cfg = config.get_config("runlocal")
  cfg.cnn = "resnet50"
  path = score.export(tiny, tmp_path / "m.npz", config=cfg, crop_seed=11)
  back, back_cfg = score.load(path)
  assert back_cfg.seed == 11 and back_cfg.cnn == "resnet50"
  x = jax.random.normal(jax.random.key(3), (2, 32, 32, 3))
  np.testing.assert_allclose(np.asarray(back(x)), np.asarray(tiny(x)),
                             atol=1e-5)

