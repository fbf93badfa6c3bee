"""Small data, honest decisions: a small CRM trains, says how unsure it is, and the family that
really wins is the one served."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.errors import InsufficientHistory
from forecast.modeling import registry
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.families import FAMILIES, LinearClassifier
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from tests.forecast import synthetic


def _linear_leads(n: int = 800, seed: int = 3) -> pd.DataFrame:
    """Conversion linear in six numbers: what a logistic regression is made for."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 6))
    leads = pd.DataFrame(z, columns=[f"f{i}" for i in range(6)])
    leads["id"] = [f"L{i}" for i in range(n)]
    logit = -0.7 + z @ np.array([1.0, 0.8, 0.6, 0.5, 0.4, 0.3])
    leads["converted"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return leads


def test_a_small_crm_trains_with_the_default_minimums_and_says_how_unsure_it_is() -> None:
    history = synthetic.deal_history(150, seed=1)  # about 65 won and 80 lost
    result = train_deals(history, settings=Settings(lgbm_threads=2))
    assert result.family in FAMILIES
    assert result.rows["test_deals"] < 50
    for family, values in result.families.items():
        width = values["roc_auc_ci_high"] - values["roc_auc_ci_low"]
        assert width > 0.05, family  # a few dozen test deals: the AUC is known to several points
    gain, low, high = result.gains["stage_win_rate"]["roc_auc"]
    assert low < gain < high
    summary = result.summary()
    assert summary["family"] == result.family and set(summary["families"]) == set(FAMILIES)


def test_the_refusal_names_the_settings_and_their_env_vars() -> None:
    history = synthetic.deal_history(40, seed=1)  # fewer than 30 won or lost
    with pytest.raises(InsufficientHistory) as err:
        train_deals(history, settings=Settings(lgbm_threads=2))
    assert "FORECAST_MIN_WON_DEALS" in str(err.value) and "min_lost_deals" in str(err.value)
    leads = _linear_leads(60)
    with pytest.raises(InsufficientHistory, match="FORECAST_MIN_CONVERTED_LEADS"):
        train_leads(leads, settings=Settings(lgbm_threads=2, min_converted_leads=100))


def test_where_logistic_regression_wins_it_is_registered_served_and_explained(tmp_path) -> None:
    settings = Settings(
        state_dir=tmp_path / "state",
        lgbm_threads=2,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    result = train_leads(_linear_leads(), settings=settings, cross_validate=False)
    assert result.family == "logistic_regression"
    assert (
        result.families["logistic_regression"]["roc_auc"] > result.families["lightgbm"]["roc_auc"]
    )
    reg = registry.log_training(result, settings)
    assert reg.promoted
    assert registry.list_models(settings)[0]["family"] == "logistic_regression"
    loaded = registry.load_champion("leads", settings)
    assert loaded is not None and isinstance(loaded.model, LinearClassifier)
    served = scoring.Served("leads", select_scorer(loaded.model), loaded.version, loaded.source)
    high, low = scoring.score(served, [{"f0": 2.0, "f1": 1.0}, {"f0": -2.0, "f1": -1.0}])
    assert high.probability > low.probability
    assert high.reasons_for[0]["field"] == "f0" and low.reasons_against[0]["field"] == "f0"
