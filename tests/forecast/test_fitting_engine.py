"""The in-process engine (`fitting.InProcess`): rows built a slice of deals at a time equal the
rows of the whole history, and past `family_rows` the simple families see a stable sample of
whole deals while the booster sees every row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecast import dask_rows
from forecast import features as F
from forecast.history import DealHistory
from forecast.modeling.fitting import InProcess
from tests.forecast import synthetic

PLAN: dict[str, Any] = {"every_days": 14, "seed": 3}


@pytest.fixture(scope="module")
def history() -> DealHistory:
    return synthetic.deal_history(1200, seed=5)


def _dates(history: DealHistory) -> dict[str, pd.Timestamp]:
    closes = history.deals["closed_at"].dropna().sort_values()
    cut = pd.Timestamp(closes.quantile(0.8)).normalize()
    return {"cut": cut, "created_before": cut - pd.Timedelta(days=60)}


def test_rows_built_a_slice_of_deals_at_a_time_equal_the_whole_historys(
    history: DealHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    dates = _dates(history)
    whole_train = F.deal_training_rows(
        history, every_days=14, known_before=dates["cut"], created_before=dates["created_before"]
    )
    whole_test = F.deal_rows_after(history, dates["cut"], every_days=14)
    monkeypatch.setattr(dask_rows, "DEALS_PER_PARTITION", 250)  # five slices
    assert dask_rows.slice_count(len(history.deals)) == 5

    built = InProcess().deal_rows(history, **PLAN, **dates)

    pd.testing.assert_frame_equal(built.train, whole_train.reset_index(drop=True))
    holdout = built.holdout
    pd.testing.assert_frame_equal(holdout.frame(), F.deal_features(whole_test))
    np.testing.assert_array_equal(holdout.y, whole_test["won"].to_numpy(float))
    np.testing.assert_array_equal(holdout.w, whole_test["weight"].to_numpy())
    np.testing.assert_array_equal(holdout.ids, whole_test["id"].to_numpy())
    assert built.train_rows == len(whole_train) and built.sample_note is None
    labels = whole_train.drop_duplicates("id")["won"].to_numpy()
    np.testing.assert_array_equal(built.train_deal_labels, labels)


class _Recorder:
    """Stands in for a model: remembers what it was fitted on."""

    def fit(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray, groups: np.ndarray) -> Any:
        self.X, self.y, self.w, self.groups = X, y, w, groups
        return self


def test_past_family_rows_the_families_see_whole_deals_and_the_booster_every_row(
    history: DealHistory,
) -> None:
    dates = _dates(history)
    every = F.deal_training_rows(
        history, every_days=14, known_before=dates["cut"], created_before=dates["created_before"]
    )
    engine = InProcess(family_rows=len(every) // 4)

    built = engine.deal_rows(history, **PLAN, **dates)

    kept = set(built.train["id"])
    assert 0.15 < len(kept) / every["id"].nunique() < 0.35
    # Whole deals: a deal sampled comes with every one of its rows, as they are.
    pd.testing.assert_frame_equal(built.train, every[every["id"].isin(kept)].reset_index(drop=True))
    assert built.train_rows == len(every)
    assert built.sample_note and f"of the {len(every):,} training rows" in built.sample_note
    # The same seed samples the same deals.
    again = InProcess(family_rows=len(every) // 4).deal_rows(history, **PLAN, **dates)
    assert set(again.train["id"]) == kept

    sample_X = F.deal_features(built.train)
    fitted = engine.fit_boosted(_Recorder(), sample_X, np.zeros(1), None, None)
    # Text reaches the booster as categoricals (codes, not text per row) of the same values.
    booster_X = fitted.X.apply(
        lambda c: (
            c.astype(c.cat.categories.dtype) if isinstance(c.dtype, pd.CategoricalDtype) else c
        )
    )
    pd.testing.assert_frame_equal(booster_X, F.deal_features(every).reset_index(drop=True))
    np.testing.assert_array_equal(fitted.y, every["won"].to_numpy(float))
    np.testing.assert_array_equal(fitted.w, every["weight"].to_numpy())
    np.testing.assert_array_equal(fitted.groups, every["id"].to_numpy())
