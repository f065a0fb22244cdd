"""Tests of iqa_jax.stats against SciPy and against known logistic curves."""

import math
import warnings

import numpy as np
import pytest
import scipy.stats

from iqa_jax import stats


def _random_pairs():
  rng = np.random.default_rng(0)
  for n in (2, 3, 10, 257, 5000):
    x = rng.normal(size=n)
    yield f"normal-{n}", x, 0.6 * x + rng.normal(size=n)
  # Ties in one or both inputs, and heavy ties (a 5-point rating scale).
  x = rng.integers(0, 5, 400).astype(float)
  y = x + rng.integers(0, 3, 400)
  yield "ties-both", x, y
  yield "ties-x", x, rng.normal(size=400)
  yield "ties-y", rng.normal(size=400), y
  # Anti-correlated, offset and scaled far from zero (Elo-like scores).
  x = rng.uniform(size=300)
  yield "elo", 1e4 + 1e3 * x, -x + 0.1 * rng.normal(size=300)


@pytest.mark.parametrize("name,x,y", list(_random_pairs()))
def test_correlations_equal_scipy(name, x, y):
  del name
  np.testing.assert_allclose(stats.srcc(x, y),
                             scipy.stats.spearmanr(x, y).statistic,
                             rtol=0, atol=1e-12)
  np.testing.assert_allclose(stats.krcc(x, y),
                             scipy.stats.kendalltau(x, y).statistic,
                             rtol=0, atol=1e-12)
  np.testing.assert_allclose(stats.plcc(x, y),
                             scipy.stats.pearsonr(x, y).statistic,
                             rtol=0, atol=1e-12)


def test_srcc_is_pearson_of_average_ranks():
  x = np.array([1.0, 2.0, 2.0, 3.0, 10.0])
  y = np.array([5.0, 6.0, 7.0, 7.0, 1.0])
  ranks_x = np.array([1.0, 2.5, 2.5, 4.0, 5.0])
  ranks_y = np.array([2.0, 3.0, 4.5, 4.5, 1.0])
  expected = np.corrcoef(ranks_x, ranks_y)[0, 1]
  assert stats.srcc(x, y) == pytest.approx(expected, abs=1e-14)


def test_rmse():
  x = np.array([1.0, 2.0, 4.0])
  y = np.array([1.0, 0.0, 0.0])
  assert stats.rmse(x, y) == pytest.approx(math.sqrt((0 + 4 + 16) / 3))


@pytest.mark.parametrize("fn", [stats.srcc, stats.krcc, stats.plcc])
def test_constant_input_is_nan_with_reason(fn):
  x = np.full(20, 3.0)
  y = np.arange(20.0)
  with pytest.warns(stats.UndefinedStatisticWarning, match="constant"):
    assert math.isnan(fn(x, y))
  with pytest.warns(stats.UndefinedStatisticWarning, match="y is constant"):
    assert math.isnan(fn(y, x))


def test_evaluate_constant_predictions_explains_nan():
  mos = np.linspace(1, 5, 30)
  with pytest.warns(stats.UndefinedStatisticWarning):
    ev = stats.evaluate(np.ones(30), mos)
  assert math.isnan(ev.srcc) and math.isnan(ev.krcc) and math.isnan(ev.plcc)
  assert not ev.fitted
  assert any("pred is constant" in n for n in ev.notes)
  assert any("unfitted" in n for n in ev.notes)


@pytest.mark.parametrize("bad,match", [
    (np.array([1.0, np.nan, 3.0]), "non-finite"),
    (np.array([1.0, np.inf, 3.0]), "non-finite"),
    (np.ones((3, 1)), "1-D"),
    (np.ones(4), "same length"),
])
def test_bad_input_raises(bad, match):
  with pytest.raises(ValueError, match=match):
    stats.evaluate(bad, np.array([1.0, 2.0, 3.0]))


def test_too_few_samples():
  with pytest.raises(ValueError, match="at least 2"):
    stats.srcc([1.0], [2.0])


# ----------------------------------------------------------------------------
# Logistic fits.

_TRUE_4PL = [
    (5.0, 1.0, 30.0, 3.0),      # increasing, PSNR-like predictions
    (1.0, 5.0, 0.2, 0.05),      # decreasing (a lower-is-better distance)
    (95.0, 10.0, 1500.0, 120.0),  # Elo-scale predictions, 0-100 scores
]


@pytest.mark.parametrize("true", _TRUE_4PL)
def test_4pl_recovers_known_curve(true):
  b1, b2, b3, b4 = true
  rng = np.random.default_rng(1)
  x = rng.uniform(b3 - 4 * b4, b3 + 4 * b4, 400)
  clean = stats.logistic_4pl(x, *true)
  y = clean + rng.normal(0, 0.02 * abs(b1 - b2), x.size)
  fit = stats.fit_logistic(x, y, kind="4pl")
  assert fit.fitted, fit.reason
  np.testing.assert_allclose(fit.params, true, rtol=0.05,
                             atol=0.02 * abs(b1 - b2))
  grid = np.linspace(x.min(), x.max(), 50)
  np.testing.assert_allclose(fit(grid), stats.logistic_4pl(grid, *true),
                             atol=0.03 * abs(b1 - b2))
  ev = stats.evaluate(x, y, fit="4pl")
  assert ev.plcc_fitted >= abs(ev.plcc)
  assert ev.plcc_fitted > 0.99
  assert ev.rmse_fitted == pytest.approx(stats.rmse(fit(x), y))


@pytest.mark.parametrize("true", [
    (4.0, 0.4, 30.0, 0.02, 3.0),     # increasing with a linear tail
    (-30.0, 15.0, 0.5, 5.0, 50.0),   # decreasing
])
def test_5pl_recovers_known_curve(true):
  rng = np.random.default_rng(2)
  b3 = true[2]
  width = 6.0 / abs(true[1])
  x = rng.uniform(b3 - width, b3 + width, 400)
  clean = stats.logistic_5pl(x, *true)
  span = clean.max() - clean.min()
  y = clean + rng.normal(0, 0.02 * span, x.size)
  fit = stats.fit_logistic(x, y, kind="5pl")
  assert fit.fitted, fit.reason
  grid = np.linspace(x.min(), x.max(), 50)
  np.testing.assert_allclose(fit(grid), stats.logistic_5pl(grid, *true),
                             atol=0.03 * span)
  ev = stats.evaluate(x, y, fit="5pl")
  assert ev.plcc_fitted >= abs(ev.plcc)


def test_decreasing_relation_with_lower_is_better():
  rng = np.random.default_rng(3)
  dist = rng.uniform(0, 0.6, 300)  # an LPIPS-like distance
  mos = stats.logistic_4pl(dist, 1.0, 5.0, 0.3, 0.06) + rng.normal(0, 0.1, 300)
  plain = stats.evaluate(dist, mos, fit="4pl")
  flipped = stats.evaluate(dist, mos, fit="4pl", lower_is_better=True)
  assert plain.srcc < 0 and plain.plcc < 0
  assert flipped.srcc == pytest.approx(-plain.srcc, abs=1e-15)
  assert flipped.krcc == pytest.approx(-plain.krcc, abs=1e-15)
  assert flipped.plcc == pytest.approx(-plain.plcc, abs=1e-15)
  assert flipped.fitted and flipped.plcc_fitted > 0.97
  assert flipped.plcc_fitted >= abs(flipped.plcc)
  b1, b2, _, _ = flipped.fit_params
  assert b1 < b2  # the fitted curve decreases


def test_fit_failure_is_reported_not_raised():
  rng = np.random.default_rng(4)
  x = rng.normal(size=50)
  y = x + rng.normal(size=50)
  fit = stats.fit_logistic(x, y, kind="4pl", maxfev=1)
  assert not fit.fitted and "converged" in fit.reason
  assert all(math.isnan(p) for p in fit.params)
  with pytest.raises(ValueError, match="fit failed"):
    fit(x)
  few = stats.evaluate(x[:4], y[:4], fit="4pl")
  assert not few.fitted and math.isnan(few.plcc_fitted)
  assert any("4 samples cannot determine 4 parameters" in n for n in few.notes)
  assert math.isfinite(few.plcc)


def test_fit_none():
  ev = stats.evaluate([1.0, 2.0, 3.0, 5.0], [1.0, 3.0, 2.0, 4.0], fit=None)
  assert ev.fit is None and not ev.fitted and ev.fit_params is None
  assert math.isnan(ev.plcc_fitted) and math.isnan(ev.rmse_fitted)
  assert ev.notes == ()
  with pytest.raises(ValueError, match="fit must be"):
    stats.evaluate([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], fit="3pl")


def test_evaluation_as_dict_names_parameters():
  rng = np.random.default_rng(5)
  x = rng.uniform(size=100)
  d = stats.evaluate(x, x + 0.1 * rng.normal(size=100), fit="5pl").as_dict()
  assert set(d["fit_params"]) == {"b1", "b2", "b3", "b4", "b5"}
  assert d["fit"] == "5pl" and d["n"] == 100


# ----------------------------------------------------------------------------
# Aggregation over splits.


def test_aggregate_median_mean_std():
  rng = np.random.default_rng(6)
  evs = []
  for _ in range(5):
    x = rng.uniform(size=60)
    evs.append(stats.evaluate(x, x + 0.3 * rng.normal(size=60)))
  agg = stats.aggregate(evs)
  assert set(agg) == {"srcc", "krcc", "plcc", "plcc_fitted", "rmse_fitted"}
  srccs = np.array([e.srcc for e in evs])
  assert agg["srcc"]["median"] == np.median(srccs)
  assert agg["srcc"]["mean"] == pytest.approx(srccs.mean(), abs=1e-15)
  assert agg["srcc"]["std"] == pytest.approx(srccs.std(), abs=1e-15)
  assert agg["srcc"]["n"] == 5 and agg["srcc"]["n_undefined"] == 0
  sample = stats.aggregate(evs, keys=["srcc"], ddof=1)
  assert sample["srcc"]["std"] == pytest.approx(srccs.std(ddof=1), abs=1e-15)


def test_aggregate_mappings_and_undefined_values():
  rows = [{"srcc": 0.9, "plcc": 0.8, "label": "a"},
          {"srcc": float("nan"), "plcc": 0.6, "label": "b"},
          {"srcc": 0.7, "plcc": 0.7, "label": "c"}]
  with pytest.warns(stats.UndefinedStatisticWarning, match="1 of 3"):
    agg = stats.aggregate(rows)
  assert set(agg) == {"srcc", "plcc"}
  assert agg["srcc"]["median"] == pytest.approx(0.8)
  assert agg["srcc"]["n"] == 2 and agg["srcc"]["n_undefined"] == 1
  assert agg["plcc"]["median"] == pytest.approx(0.7)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", stats.UndefinedStatisticWarning)
    empty = stats.aggregate([{"srcc": float("nan")}])
  assert math.isnan(empty["srcc"]["median"]) and empty["srcc"]["n"] == 0
  with pytest.raises(ValueError):
    stats.aggregate([])
  with pytest.raises(KeyError, match="missing"):
    stats.aggregate([{"srcc": 1.0}, {"plcc": 1.0}], keys=["srcc"])
