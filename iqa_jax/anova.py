"""Multi-factor ANOVA with type-II sums of squares (source text 001, Fig. 4).

  rows = anova_type2(cells, "plcc", categorical=("sampler", "distance"),
                     continuous=("log_rate", "log_h"))
  # [{"factor": "sampler", "sum_sq": .., "df": 2, "F": .., "p": ..}, ...,
  #  {"factor": "Residual", ...}]

The model is the main-effects linear model y ~ C(a) + C(b) + x1 + x2 (each
categorical factor treatment-coded, each continuous one a single column),
fitted by least squares. The type-II sum of squares of a factor is the
increase of the residual sum of squares when that factor's columns are
removed from the full model; F = (SS / df) / (RSS / df_resid) and p the
upper tail of F(df, df_resid). Without interactions this is what
statsmodels' `anova_lm(ols(...).fit(), typ=2)` reports (the tests check it
to 1e-8). A factor with a single level (one sampler only) carries no
information and is left out, listed under `dropped`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.stats

__all__ = ["anova_type2", "design"]


def _column(rows, name):
  try:
    return [r[name] for r in rows]
  except KeyError:
    raise KeyError(f"anova: no column {name!r} in the rows; columns: "
                   f"{sorted(rows[0])}.") from None


def design(rows: Sequence[Mapping], *, categorical: Sequence[str] = (),
           continuous: Sequence[str] = ()):
  """(X (N, p) with an intercept column, {factor: its column indices},
  dropped factors)."""
  cols = [np.ones(len(rows))]
  blocks, dropped = {}, []
  for name in categorical:
    values = [str(v) for v in _column(rows, name)]
    levels = sorted(set(values))
    if len(levels) < 2:
      dropped.append(name)
      continue
    idx = []
    for level in levels[1:]:           # treatment coding, first level base
      idx.append(len(cols))
      cols.append(np.array([v == level for v in values], np.float64))
    blocks[name] = idx
  for name in continuous:
    x = np.asarray(_column(rows, name), np.float64)
    if not np.all(np.isfinite(x)):
      raise ValueError(f"anova: column {name!r} has NaN or inf values.")
    if np.ptp(x) == 0:
      dropped.append(name)
      continue
    blocks[name] = [len(cols)]
    cols.append(x)
  return np.stack(cols, 1), blocks, dropped


def _rss(x, y):
  beta, *_ = np.linalg.lstsq(x, y, rcond=None)
  r = y - x @ beta
  return float(r @ r), int(np.linalg.matrix_rank(x))


def anova_type2(rows: Sequence[Mapping], response: str, *,
                categorical: Sequence[str] = (),
                continuous: Sequence[str] = ()) -> dict:
  """The type-II ANOVA table of `response` over the factors.

  Args:
    rows: one mapping per observation (for example the cells of
      distill360), holding `response` and every factor.
    categorical / continuous: factor names of each kind.

  Returns:
    {"table": [{"factor", "sum_sq", "df", "F", "p"}, ..., the "Residual"
    row], "dropped": single-level factors left out, "n": observations}.
  """
  y = np.asarray(_column(rows, response), np.float64)
  rows = [r for r, v in zip(rows, y) if np.isfinite(v)]
  y = y[np.isfinite(y)]
  x, blocks, dropped = design(rows, categorical=categorical,
                              continuous=continuous)
  rss_full, rank_full = _rss(x, y)
  df_resid = len(y) - rank_full
  if df_resid <= 0:
    raise ValueError(f"anova: {len(y)} observations cannot fit "
                     f"{rank_full} parameters; add cells or drop factors.")
  table = []
  for name, idx in blocks.items():
    keep = [j for j in range(x.shape[1]) if j not in idx]
    rss, rank = _rss(x[:, keep], y)
    df = rank_full - rank
    ss = rss - rss_full
    f = (ss / df) / (rss_full / df_resid) if df > 0 else np.nan
    p = float(scipy.stats.f.sf(f, df, df_resid)) if df > 0 else np.nan
    table.append({"factor": name, "sum_sq": ss, "df": df, "F": f, "p": p})
  table.append({"factor": "Residual", "sum_sq": rss_full, "df": df_resid,
                "F": np.nan, "p": np.nan})
  return {"table": table, "dropped": dropped, "n": len(y)}
