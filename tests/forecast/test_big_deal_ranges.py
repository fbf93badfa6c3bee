"""The forecast's range when a few deals are far bigger than the rest (one enterprise deal among
hundreds of small ones): the small deals' spread is not smeared onto the big deal's scale, so
P10/P50/P90 and the chance of reaching a target stay right. Oracles are exact (binomial and
Poisson mixtures) or simulated, never this code."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, poisson

from forecast.forecasting.distribution import (
    COARSE,
    MAX_OUTCOMES,
    group_distributions,
    outsized_bar,
)

SMALL, N, P = 1000.0, 1000, 0.5
SD = SMALL * (N * P * (1 - P)) ** 0.5  # the small deals' spread: 15,811


def _one(amount, prob, new_amount=None, new_rate=None, lattice=4096):
    """The total over every deal at once, as the revenue forecast computes it."""
    new_group = None if new_rate is None else np.zeros(len(new_rate), dtype=np.int64)
    return group_distributions(
        np.asarray(amount, dtype=float),
        np.asarray(prob, dtype=float),
        np.zeros(len(amount), dtype=np.int64),
        1,
        new_amount,
        new_rate,
        new_group,
        group_lattice=lattice,
    )[0]


def _quantile(values, cdf, q):
    """The smallest value whose cumulative chance reaches q."""
    return float(values[np.searchsorted(cdf, q - 1e-12)])


def _small_with_one_big(big, p_big):
    """Exact: the small deals' binomial total, plus the big deal with chance p_big."""
    k = np.arange(N + 1)
    body = binom.pmf(k, N, P)
    values = np.concatenate([k * SMALL, k * SMALL + big])
    masses = np.concatenate([body * (1 - p_big), body * p_big])
    order = np.argsort(values)
    return values[order], np.cumsum(masses[order])


@pytest.mark.parametrize("lattice", [512, 2048, 4096])
@pytest.mark.parametrize(("big", "p_big"), [(1e8, 0.05), (1e9, 0.01)])
def test_one_big_deal_does_not_blur_the_range_of_the_small_ones(big, p_big, lattice):
    amount = np.r_[np.full(N, SMALL), big]
    prob = np.r_[np.full(N, P), p_big]
    dist = _one(amount, prob, lattice=lattice)
    values, cdf = _small_with_one_big(big, p_big)
    for q in (0.1, 0.5, 0.9):
        assert dist.quantile(q) == pytest.approx(_quantile(values, cdf, q), abs=0.1 * SD)
    assert dist.quantile(0.1) > 470_000  # it was 346k (1e8 at 5%) and 0 (1e9 at 1%)
    # 400k is six standard deviations below the small deals' mean: reached almost surely
    assert dist.prob_at_least(400_000) == pytest.approx(1.0, abs=1e-6)
    # 510k is a possible total: the lattice reads it between P(total > 510k) and P(total ≥ 510k)
    above = 1 - cdf[np.searchsorted(values, 510_000, side="right") - 1]
    at_least = 1 - cdf[np.searchsorted(values, 510_000, side="left") - 1]
    assert above - 0.005 <= dist.prob_at_least(510_000) <= at_least + 0.005
    assert dist.mean == pytest.approx(N * SMALL * P + big * p_big, rel=1e-9)


def test_a_pipeline_of_equal_deals_keeps_the_range_it_had():
    dist = _one(np.full(N, SMALL), np.full(N, P))
    assert len(dist.values) == 1  # one lattice: nothing kept apart
    # the figures before big deals were kept apart (a lattice step is 7.7)
    assert [dist.quantile(q) for q in (0.1, 0.5, 0.9)] == pytest.approx(
        [479_635.86, 499_944.54, 520_378.58], abs=0.01
    )
    assert dist.prob_at_least(500_000) == pytest.approx(0.5015160539, abs=1e-9)
    k = np.arange(N + 1)
    values, cdf = k * SMALL, binom.cdf(k, N, P)
    for q in (0.1, 0.5, 0.9):
        assert dist.quantile(q) == pytest.approx(_quantile(values, cdf, q), abs=SMALL)


def test_a_big_new_deal_stream_does_not_blur_the_range_of_the_open_deals():
    """A recently created 1e15 deal stands for new deals like it, with a small Poisson rate."""
    big, rate = 1e15, 0.03
    dist = _one(np.full(N, SMALL), np.full(N, P), np.array([big]), np.array([rate]))
    k = np.arange(N + 1)
    counts = np.arange(6)
    values = (k[None, :] * SMALL + counts[:, None] * big).ravel()
    masses = np.outer(poisson.pmf(counts, rate), binom.pmf(k, N, P)).ravel()
    order = np.argsort(values)
    values, cdf = values[order], np.cumsum(masses[order])
    for q in (0.1, 0.5, 0.9):
        assert dist.quantile(q) == pytest.approx(_quantile(values, cdf, q), abs=0.1 * SD)
    assert dist.prob_at_least(1e15) == pytest.approx(1 - np.exp(-rate), rel=1e-6)
    assert dist.prob_at_least(400_000) == pytest.approx(1.0, abs=1e-6)
    assert dist.mean == pytest.approx(N * SMALL * P + big * rate, rel=1e-9)


def test_groups_and_their_total_agree_with_simulation_when_one_group_holds_a_big_deal():
    rng = np.random.default_rng(5)
    a = np.r_[rng.lognormal(7, 0.5, 900), 5e7, 2e7]
    p = np.r_[rng.uniform(0.2, 0.8, 900), 0.08, 0.04]
    g = np.r_[rng.integers(0, 3, 900), 1, 2]
    na, nr, ng = rng.lognormal(7, 0.5, 20), rng.uniform(0, 0.5, 20), rng.integers(0, 3, 20)
    dists = group_distributions(a, p, g, 3, na, nr, ng)
    total = _one(a, p, na, nr)
    draws = 40_000
    sims = np.zeros((draws, 3))
    for k in range(3):
        won = rng.random((draws, int((g == k).sum()))) < p[g == k]
        sims[:, k] = (won * a[g == k]).sum(1)
        sims[:, k] += (rng.poisson(nr[ng == k], (draws, int((ng == k).sum()))) * na[ng == k]).sum(1)
    assert total.mean == pytest.approx(sum(d.mean for d in dists), rel=1e-9)
    assert total.mean == pytest.approx(float(a @ p + na @ nr), rel=1e-9)
    for k, dist in [*enumerate(dists), (3, total)]:
        sim = sims.sum(1) if k == 3 else sims[:, k]
        for q in (0.1, 0.5, 0.9):  # the chance below each quantile is right (not smeared)
            assert (sim <= dist.quantile(q)).mean() == pytest.approx(q, abs=0.015)
        target = float(np.quantile(sim, 0.3))
        assert dist.prob_at_least(target) == pytest.approx((sim >= target).mean(), abs=0.02)


def test_drift_widens_the_small_deals_range_without_blurring_it():
    sigma = 0.1
    amount = np.r_[np.full(N, SMALL), 1e9]
    prob = np.r_[np.full(N, P), 0.01]
    dist = _one(amount, prob).scaled(sigma)
    rng = np.random.default_rng(2)
    draws = 200_000
    total = rng.binomial(N, P, draws) * SMALL + (rng.random(draws) < 0.01) * 1e9
    total *= rng.lognormal(-(sigma**2) / 2, sigma, draws)
    for q in (0.1, 0.5, 0.9):
        assert dist.quantile(q) == pytest.approx(np.quantile(total, q), rel=0.01)
    assert dist.prob_at_least(450_000) == pytest.approx((total >= 450_000).mean(), abs=0.02)


def test_many_big_deals_cost_a_bounded_number_of_outcomes():
    """Hundreds of deals each far bigger than the next: no request may grow the work past the
    cap; beyond it the remaining ones stay on the lattice (the range as before)."""
    amount = np.r_[np.full(N, SMALL), 10.0 ** np.arange(6, 15, 0.05)]
    prob = np.r_[np.full(N, P), np.full(len(amount) - N, 0.3)]
    dist = _one(amount, prob)
    assert len(dist.values) <= MAX_OUTCOMES
    assert dist.mean == pytest.approx(float(amount @ prob), rel=1e-6)
    assert 0 < dist.quantile(0.1) < dist.quantile(0.5) < dist.quantile(0.9)


def test_a_wide_drift_still_reads_the_whole_distribution():
    """A drift measured on a past window that held one huge deal can be several hundred percent:
    a total divided by a tiny factor lies far past the lattice's end, and is counted as below."""
    dist = _one(np.full(N, SMALL), np.full(N, P))
    assert dist.cdf(np.array([1e30, -1.0, 1e6])) == pytest.approx([1.0, 0.0, 1.0])
    wide = dist.scaled(5.0)
    assert wide.quantile(0.9) > 0
    assert wide.prob_at_least(0.0) == pytest.approx(1.0)


@pytest.mark.parametrize(("big", "p_big"), [(1e8, 0.05), (1e9, 0.01), (2e5, 0.5)])
def test_the_outsized_bar_is_the_rule_the_range_holds_deals_apart_by(big, p_big):
    """Measures that must not be swung by one outcome (forecast drift, the value per new deal)
    read `outsized_bar`: the deals above it are those the range holds apart, and no other."""
    amount = np.r_[np.full(N, SMALL), big]
    prob = np.r_[np.full(N, P), p_big]
    var = amount * amount * prob * (1 - prob)
    bar = outsized_bar(amount, var)
    held = len(_one(amount, prob).values) > 1  # a row per outcome of a deal held apart
    assert (big > bar) == held
    assert bar == pytest.approx(4096 / COARSE * (SD if held else float(np.sqrt(var.sum()))))
    assert outsized_bar(np.full(3, SMALL), np.zeros(3)) == np.inf  # nothing varies
