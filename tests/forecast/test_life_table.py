"""Where the time-to-close model's boosters start (`timing.life_table`): each segment and age
bin's own close rate where its rows say enough, its age bin's where they do not, so early
stopping shrinks toward what the deals did, not toward one flat rate; and the size effect the
trees shrink away in the few largest deals, as a slope on log(1 + amount)."""

from __future__ import annotations

import numpy as np

from forecast.timing.life_table import amount_slope, life_table

SHAPE = (2, 1, 3, 1, 1)  # stage, size band, age bin, days-in-stage bin, week


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_a_well_filled_cell_keeps_its_own_rate_and_a_thin_one_its_age_bins():
    rng = np.random.default_rng(0)
    # Stage 0: 20,000 rows per age bin, closing at 1%, 10% and 30% as they age.
    rates = [0.01, 0.10, 0.30]
    cells, ys = [], []
    for age, rate in enumerate(rates):
        cell = np.ravel_multi_index((0, 0, age, 0, 0), SHAPE)
        cells.append(np.full(20_000, cell))
        ys.append(rng.uniform(size=20_000) < rate)
    # Stage 1: two rows only, in the last age bin, both closed.
    cells.append(np.full(2, np.ravel_multi_index((1, 0, 2, 0, 0), SHAPE)))
    ys.append(np.ones(2, dtype=bool))
    cell, y = np.concatenate(cells), np.concatenate(ys).astype(float)
    w = np.ones(len(y))

    table = life_table(SHAPE, cell, y, w, _logit(float(y.mean())))

    own = [table[np.ravel_multi_index((0, 0, a, 0, 0), SHAPE)] for a in range(3)]
    assert np.allclose(own, [_logit(r) for r in rates], atol=0.1)  # not one pooled rate
    thin = table[np.ravel_multi_index((1, 0, 2, 0, 0), SHAPE)]
    assert abs(thin - own[2]) < 0.35  # two rows, both closed, move it little from 30%


def test_the_amount_slope_finds_larger_deals_winning_less_often():
    rng = np.random.default_rng(1)
    amount = np.exp(rng.normal(9, 1, 20_000))
    p = 1 / (1 + np.exp(-(-0.5 - 0.4 * (np.log1p(amount) - 9))))
    y = (rng.uniform(size=len(p)) < p).astype(float)
    X = np.column_stack([rng.normal(size=len(y)), amount])

    fitted = amount_slope(["source", "amount"], np.full(len(y), -0.5), X, y, np.ones(len(y)))

    assert fitted is not None
    slope, column, center = fitted
    assert column == 1 and abs(center - 9) < 0.1
    assert -0.5 < slope < -0.3
    assert amount_slope(["source"], np.zeros(len(y)), X[:, :1], y, np.ones(len(y))) is None
