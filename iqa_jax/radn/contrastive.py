"""Contrastive pretraining (source text 004, Sec. 3.5, Fig. 6, Eq. 7).

  groups = contrast_groups(ref_ids, dist_types)        # [[i, j, ...], ...]
  data = GroupPairs(load, groups, scores, group_size=8, n_patches=32)
  model = Siamese(net, rngs=nnx.Rngs(0))               # net: WResNet / RADN
  loss = contrastive_loss(model, batch, elo=True)

A *contrast group* is the distorted images of one reference and one
distortion category (PIPAL: 7 categories per reference). One training row
is one group: `group_size` of its images (a random subset each epoch when
it is larger, padded with invalid members when smaller), each as
`n_patches` random patch pairs. The network scores every member once (the
efficient Siamese back-propagation of RankIQA: one forward pass per image,
not per pair); every pair i < j of valid members then goes through the
comparator f(s_i, s_j) = sigmoid(Linear(ReLU(Linear([s_i, s_j])))) and the
binary cross-entropy against the ground-truth preference p_ij:

  L = mean_{i<j} -p_ij log f(s_i, s_j) - (1 - p_ij) log(1 - f(s_i, s_j)).

Eq. 7 of the paper, garbled in its extraction, reads "-p f - (1 - p)(1 -
f)"; its text says cross-entropy, which is what is used. The paper does not
say how p_ij comes from the scores. We use: for Elo scores (PIPAL's), the
Elo model's own win probability 1 / (1 + 10^(-(R_i - R_j) / 400)); for
other scores, sigmoid((y_i - y_j) / T) on the normalised scores y in
[0, 1] (higher is better), T = `temperature` (0.1 by default). The paper
gives no comparator size; `hidden` units (16) are ours. After pretraining,
the network's weights start the L2 regression (the comparator is dropped).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from iqa_jax.radn.patches import PATCH, TrainPairs

__all__ = ["contrast_groups", "GroupPairs", "Comparator", "Siamese",
           "preference", "contrastive_loss", "pair_indices"]


def contrast_groups(ref_ids, dist_types, *, min_size: int = 2):
  """Index lists of the images sharing a reference and a distortion
  category, in first-seen order; groups smaller than `min_size` are left
  out (nothing to compare)."""
  groups = defaultdict(list)
  for i, key in enumerate(zip(np.asarray(ref_ids).tolist(),
                              np.asarray(dist_types).tolist())):
    groups[key].append(i)
  return [g for g in groups.values() if len(g) >= min_size]


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
  """The C(n, 2) pairs i < j."""
  return np.triu_indices(n, 1)


def preference(y_i, y_j, *, elo: bool, temperature: float = 0.1):
  """Ground-truth probability that image i is preferred to image j."""
  if elo:
    return 1.0 / (1.0 + 10.0 ** (-(y_i - y_j) / 400.0))
  return jax.nn.sigmoid((y_i - y_j) / temperature)


class Comparator(nnx.Module):
  """f(s_i, s_j): the logit of the preference of i over j."""

  def __init__(self, hidden: int = 16, *, rngs: nnx.Rngs):
    self.fc1 = nnx.Linear(2, hidden, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, 1, rngs=rngs)

  def __call__(self, s_i: jax.Array, s_j: jax.Array) -> jax.Array:
    x = jnp.stack([s_i, s_j], axis=-1)
    return self.fc2(jax.nn.relu(self.fc1(x)))[..., 0]


class Siamese(nnx.Module):
  """The network being pretrained, shared by every member of a group, and
  the comparator."""

  def __init__(self, net, *, hidden: int = 16, rngs: nnx.Rngs):
    self.net = net
    self.comparator = Comparator(hidden, rngs=rngs)

  def scores(self, dist: jax.Array, ref: jax.Array) -> jax.Array:
    """(G, n) image scores of (G, n, P, 32, 32, 3) patch pairs: one
    forward pass per image."""
    g, n = dist.shape[:2]
    flat = lambda a: a.reshape((g * n,) + a.shape[2:])
    return self.net(flat(dist), flat(ref)).reshape(g, n)


def contrastive_loss(model: Siamese, batch: dict, *, elo: bool,
                     temperature: float = 0.1) -> jax.Array:
  """() the mean cross-entropy over the valid pairs of the batch's groups.

  batch: "dist", "ref" (G, n, P, 32, 32, 3), "y" (G, n) the ground-truth
  scores, "valid" (G, n) members present, "weight" (G,) 0 for padded
  groups."""
  s = model.scores(batch["dist"], batch["ref"])
  n = s.shape[1]
  i, j = pair_indices(n)
  logits = model.comparator(s[:, i], s[:, j])                  # G pairs
  y = jax.lax.stop_gradient(batch["y"].astype(jnp.float32))
  p = preference(y[:, i], y[:, j], elo=elo, temperature=temperature)
  valid = batch["valid"].astype(bool)
  ok = (valid[:, i] & valid[:, j]).astype(jnp.float32)
  ok = ok * batch["weight"].astype(jnp.float32)[:, None]
  ce = -(p * jax.nn.log_sigmoid(logits)
         + (1 - p) * jax.nn.log_sigmoid(-logits))
  return (ce * ok).sum() / jnp.maximum(ok.sum(), 1.0)


class GroupPairs:
  """Rows = contrast groups: {"dist", "ref": (b, n, P, 32, 32, 3),
  "y": (b, n), "valid": (b, n)}."""

  def __init__(self, load: Callable[[int], tuple], groups, scores, *,
               group_size: int = 8, n_patches: int = 32, patch: int = PATCH,
               seed: int = 0, names=None):
    self.groups = [np.asarray(g) for g in groups]
    self.scores = np.asarray(scores, np.float32)
    self.group_size, self.seed = group_size, seed
    # One patch sampler over all images (row = image index).
    self.images = TrainPairs(load, self.scores, n_patches=n_patches,
                             patch=patch, seed=seed, names=names)
    self.n_patches, self.patch = n_patches, patch
    self.epoch = 0

  def set_epoch(self, epoch: int) -> None:
    self.epoch = int(epoch)
    self.images.set_epoch(epoch)

  def __len__(self) -> int:
    return len(self.groups)

  def members(self, row: int) -> np.ndarray:
    g = self.groups[int(row)]
    if len(g) <= self.group_size:
      return g
    # Seeded by (seed, epoch, group): a resumed run draws the same members.
    rng = np.random.default_rng((self.seed, self.epoch, int(row), 7))
    return np.sort(rng.choice(g, self.group_size, replace=False))

  def __getitem__(self, rows) -> dict[str, np.ndarray]:
    rows = np.atleast_1d(np.asarray(rows))
    k, p, size = self.group_size, self.n_patches, self.patch
    dist = np.zeros((len(rows), k, p, size, size, 3), np.float32)
    ref = np.zeros_like(dist)
    y = np.zeros((len(rows), k), np.float32)
    valid = np.zeros((len(rows), k), bool)
    for a, row in enumerate(rows):
      for b, i in enumerate(self.members(row)):
        dist[a, b], ref[a, b] = self.images.pair(int(i))
        y[a, b], valid[a, b] = self.scores[i], True
    return {"dist": dist, "ref": ref, "y": y, "valid": valid}
