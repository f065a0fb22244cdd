"""The type-II ANOVA of distill360's factors (source text 001, Fig. 4)."""

import numpy as np
import pytest

from iqa_jax import anova


def _cells(seed=0):
  """Synthetic cells: a strong sampler and rate effect, none of distance
  or h."""
  rng = np.random.default_rng(seed)
  rows = []
  for s, effect in (("erp", 0.0), ("lat", 0.04), ("sp", 0.08)):
    for d in ("euclidean", "manhattan", "mahalanobis"):
      for r in (0.1, 0.3, 0.5, 0.7, 0.9):
        for h in (1, 5, 10, 50):
          for _ in range(2):
            rows.append({"sampler": s, "distance": d, "rate": r, "h": h,
                         "log_rate": np.log(r), "log_h": np.log(h),
                         "plcc": 0.6 + effect + 0.05 * np.log(r)
                         + rng.normal(0, 0.02)})
  return rows


def test_equals_statsmodels_type2():
  sm = pytest.importorskip("statsmodels.api")
  ols = pytest.importorskip("statsmodels.formula.api").ols
  pd = pytest.importorskip("pandas")
  rows = _cells()
  got = anova.anova_type2(rows, "plcc", categorical=("sampler", "distance"),
                          continuous=("log_rate", "log_h"))
  ref = sm.stats.anova_lm(ols("plcc ~ C(sampler) + C(distance) + log_rate"
                              " + log_h", pd.DataFrame(rows)).fit(), typ=2)
  names = {"sampler": "C(sampler)", "distance": "C(distance)",
           "log_rate": "log_rate", "log_h": "log_h", "Residual": "Residual"}
  for row in got["table"]:
    r = ref.loc[names[row["factor"]]]
    np.testing.assert_allclose(row["sum_sq"], r["sum_sq"], rtol=1e-8)
    assert row["df"] == r["df"]
    if row["factor"] != "Residual":
      np.testing.assert_allclose(row["F"], r["F"], rtol=1e-8)
      np.testing.assert_allclose(row["p"], r["PR(>F)"], rtol=1e-8,
                                 atol=1e-300)


def test_effects_are_found_and_null_factors_are_not():
  out = anova.anova_type2(_cells(1), "plcc",
                          categorical=("sampler", "distance"),
                          continuous=("log_rate", "log_h"))
  p = {r["factor"]: r["p"] for r in out["table"]}
  assert p["sampler"] < 1e-20 and p["log_rate"] < 1e-20
  assert p["distance"] > 0.05
  assert out["n"] == 360 and out["dropped"] == []


def test_single_level_factor_is_dropped_and_errors_name_the_column():
  rows = [r for r in _cells() if r["sampler"] == "erp"]
  out = anova.anova_type2(rows, "plcc", categorical=("sampler", "distance"),
                          continuous=("log_rate",))
  assert out["dropped"] == ["sampler"]
  assert [r["factor"] for r in out["table"]] == ["distance", "log_rate",
                                                 "Residual"]
  with pytest.raises(KeyError, match="no column 'srcc'"):
    anova.anova_type2(rows, "srcc", continuous=("log_rate",))
  with pytest.raises(ValueError, match="observations cannot fit"):
    anova.anova_type2([rows[0], rows[2], rows[8]], "plcc",
                      continuous=("log_rate", "log_h"))
