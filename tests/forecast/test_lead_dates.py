"""Dated leads are tested on the newest leads (a holdout by time); undated ones keep the stable
random holdout; the run's MLflow params say which holdout was used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.generator import generate_leads
from forecast.modeling import registry
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.lead_fitting import _lead_holdout, train_leads
from forecast.modeling.registry import client as registry_client
from forecast.settings import Settings

RANDOM = "stratified holdout (stable, by id)"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        lgbm_threads=2,
        min_converted_leads=50,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )


@pytest.fixture(scope="module")
def dated() -> pd.DataFrame:
    """Generated leads, shuffled so that file order says nothing about age."""
    leads = generate_leads(1500, seed=7)
    return leads.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _train(leads: pd.DataFrame, settings: Settings) -> TrainingResult:
    return train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)


def test_dated_leads_are_tested_on_the_newest_ones(dated) -> None:
    y = dated["converted"].to_numpy(dtype=float)
    test, split = _lead_holdout(dated, y, 0.2)
    created = pd.to_datetime(dated["created_at"])
    assert split["method"] == "time"
    assert created[test].min() > created[~test].max()
    assert abs(test.mean() - 0.2) < 0.01
    assert created[~test].max() < pd.Timestamp(split["cut"]) <= created[test].min()


def test_training_on_dated_leads_uses_the_time_holdout(dated, settings) -> None:
    result = _train(dated, settings)
    created = pd.to_datetime(dated["created_at"])
    newest = created >= pd.Timestamp(result.split["cut"])
    assert result.split["method"] == "time"
    assert result.rows["test"] == int(newest.sum())
    assert result.rows["train"] == int((~newest).sum())
    assert "created_at" not in result.features


def test_a_few_blank_dates_still_give_a_time_holdout_and_train_on_the_blank_ones(dated) -> None:
    leads = dated.astype({"created_at": "object"})
    blank = np.arange(len(leads)) % 20 == 0  # 5% blank
    leads.loc[blank, "created_at"] = None
    test, split = _lead_holdout(leads, leads["converted"].to_numpy(dtype=float), 0.2)
    assert split["method"] == "time"
    assert not test[blank].any()
    assert split["undated_in_training"] == int(blank.sum())


def test_undated_leads_keep_the_stable_random_holdout(dated, settings) -> None:
    undated = dated.drop(columns=["created_at"])
    result = _train(undated, settings)
    assert result.split["method"] == RANDOM
    assert "cut" not in result.split
    y = undated["converted"].to_numpy(dtype=float)
    test, _ = _lead_holdout(undated, y, 0.2)
    # The random holdout takes old and new leads alike.
    created = pd.to_datetime(dated["created_at"])
    assert created[test].min() < created[~test].max()


def test_mostly_undated_leads_keep_the_random_holdout_and_say_why(dated, settings) -> None:
    leads = dated.astype({"created_at": "object"})
    leads.loc[np.arange(len(leads)) % 2 == 0, "created_at"] = ""
    result = _train(leads, settings)
    assert result.split["method"] == RANDOM
    assert any("created_at" in w and "not by time" in w for w in result.warnings)


def test_the_run_params_say_which_holdout_was_used(dated, settings) -> None:
    import mlflow

    timed = _train(dated, settings)
    random = _train(dated.drop(columns=["created_at"]), settings)
    for result in (timed, random):
        registry.log_training(result, settings, promote=False)
    with registry_client._mlflow(settings) as client:
        exps = [e.experiment_id for e in client.search_experiments()]
        runs = mlflow.search_runs(exps, output_format="list")
    params = [r.data.params for r in runs]
    assert {p["split_method"] for p in params} == {"time", RANDOM}
    by_method = {p["split_method"]: p for p in params}
    assert by_method["time"]["split_cut"] == timed.split["cut"]
