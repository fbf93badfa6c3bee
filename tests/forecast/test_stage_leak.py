"""A flat export records an open deal's current stage, which stands from its creation, and only
the outcome of a closed deal: replayed, every deal that will stay open sits past the first stage
and every deal that will close sits in it, so a model reading the stage learns which deals stay
open. The export-state leak check finds such a stage and models then read every open deal in its
first stage since creation; what managers read (the pipeline as it stood) keeps the stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import export_leaks as el
from forecast import timing as tm
from forecast.dask_rows import split_history
from forecast.features import history_features
from forecast.history import DealHistory
from forecast.settings import Settings
from tests.forecast.synthetic import deals as synthetic_deals


def _flat(log: pd.DataFrame, opps: pd.DataFrame, stages) -> pd.DataFrame:
    """The stage history a flat export gives: an open deal's current stage from its creation
    (its sighting standing in), a closed deal's outcome at its close, nothing else."""
    is_open = opps["status"] == "open"
    current = pd.DataFrame(
        {
            "opportunity_id": opps["id"][is_open],
            "stage": opps["stage"][is_open],
            "entered_at": opps["created_at"][is_open],
        }
    )
    outcomes = log[log["stage"].isin([stages.won, stages.lost])]
    return pd.concat([current, outcomes], ignore_index=True)


@pytest.fixture(scope="module")
def flat():
    opps, log, stages, end = synthetic_deals(n=1500, seed=5)
    history = DealHistory.from_frames(opps, _flat(log, opps, stages), stages)
    return history, opps, log, stages, end


def test_a_stage_only_open_deals_show_is_left_out_of_model_inputs(flat):
    history, *_ = flat
    assert "stage" in history.left_out
    note = next(n for n in history.leak_notes if n.startswith("stage:"))
    assert "0% of closed deals" in note and "first stage" in note


def test_the_timing_model_reads_every_open_deal_in_its_first_stage_since_creation(flat):
    history, _, _, stages, end = flat
    t = end - pd.Timedelta(days=5)
    pipeline = tm.pipeline_rows(history, t)  # what the deal model, KPIs and lists read
    assert (pipeline["stage"] != stages.open_stages[0]).any()
    model, baseline = tm.fit_timing(history, t, settings=Settings(timing_min_closed_deals=20))
    assert model.one_stage and baseline.one_stage
    as_first = pipeline.assign(
        stage=stages.open_stages[0], stage_index=0.0, days_in_stage=pipeline["age_days"]
    )
    for fitted in (model, baseline):
        read = tm.window_probabilities(fitted, pipeline, 0.0, 91.0)["won"]
        first = tm.window_probabilities(fitted, as_first, 0.0, 91.0)["won"]
        np.testing.assert_allclose(read, first)
    # The deal model keeps the stage: it meets a flat history with the CRM's stage odds.
    assert "stage" in history_features(history)


def test_a_full_stage_history_keeps_the_stage(flat):
    _, opps, log, stages, _ = flat
    assert "stage" not in DealHistory.from_frames(opps, log, stages).left_out


def test_closed_deals_at_their_stage_from_creation_keep_the_stage(flat):
    # Pipedrive keeps the stage a deal was won or lost in: read as it stood since creation,
    # closed deals stand past the first stage as open ones do, and nothing leaks.
    _, opps, log, stages, _ = flat
    closed = opps["status"] != "open"
    last_open = log[~log["stage"].isin([stages.won, stages.lost])].groupby("opportunity_id").last()
    at_close = pd.DataFrame(
        {
            "opportunity_id": opps["id"][closed],
            "stage": opps["id"][closed].map(last_open["stage"]),
            "entered_at": opps["created_at"][closed],
        }
    )
    both = pd.concat([_flat(log, opps, stages), at_close], ignore_index=True)
    assert "stage" not in DealHistory.from_frames(opps, both, stages).left_out


@pytest.mark.parametrize("parts", [1, 3])
def test_the_check_over_slices_finds_the_stage_as_the_whole_check_does(flat, parts):
    _, opps, log, stages, _ = flat
    history = DealHistory.from_frames(opps, _flat(log, opps, stages), stages, check_leaks=False)
    whole = el.find_export_leaks(history)
    assert "stage" in [f.field for f in whole]
    pieces = split_history(history, parts)
    dates = [el.slice_dates(p) for p in pieces]
    bands = el.slice_bands(dates)
    counts = [el.slice_counts(p, el.bands_of(bands, i)) for i, p in enumerate(pieces)]
    assert el.leaks_from_counts([el.without_dates(d) for d in dates], counts) == whole


def test_deals_created_into_a_later_stage_with_a_dated_history_keep_the_stage(flat):
    # A real history where a quarter of the deals are logged straight into the last stage at
    # creation and close within days: closed deals stand past the first stage more often than
    # open ones, which no flat export shows.
    _, opps, log, stages, _ = flat
    rng = np.random.default_rng(2)
    fast = (opps["status"] != "open") & (rng.random(len(opps)) < 0.5)
    moved = log["opportunity_id"].isin(opps["id"][fast])
    log = log.copy()
    first_entry = moved & (log["stage"] == stages.open_stages[0])
    log.loc[first_entry, "stage"] = stages.open_stages[-1]
    assert "stage" not in DealHistory.from_frames(opps, log, stages).left_out
