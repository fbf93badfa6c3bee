"""A flat CRM export (current stage only, no stage dates) trains, and training says plainly that
the stage history is flat and what it did about it: with the CRM's stage probabilities, a
per-deal model at creation combined with them; without, the snapshot model, said to score every
stage the same. The same deals with stage dates get no such warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data.crm_exports import crm_stages, write_crm_export
from forecast.data.generator import generate_pipeline
from forecast.data.importing import read_export
from forecast.history import DealHistory
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.stage_prior import StagePriorClassifier
from forecast.settings import Settings


def _history(folder: Path, durations: bool, probabilities: bool = True) -> DealHistory:
    pipeline = generate_pipeline(600, seed=21, stages=crm_stages("hubspot"))
    export = read_export(
        write_crm_export(pipeline, folder, "hubspot", durations=durations, seed=21)
    )
    options = dict(export.options)
    if not probabilities:
        options.pop("stage_probabilities")
    assert export.stages is not None
    return DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=options, name="crm"
    )


def _flat(warnings: list[str]) -> list[str]:
    return [w for w in warnings if w.startswith("the stage history is flat")]


@pytest.mark.parametrize("durations", [False, True])
def test_training_on_a_flat_export_says_the_stage_history_is_flat(tmp_path, durations):
    history = _history(tmp_path, durations)
    result = train_deals(history, settings=Settings(state_dir=tmp_path / "state"), dataset="crm")
    flat = _flat(result.warnings)
    assert bool(flat) is not durations, result.warnings


def test_a_flat_export_with_stage_probabilities_trains_the_stage_prior(tmp_path):
    result = train_deals(
        _history(tmp_path, durations=False),
        settings=Settings(state_dir=tmp_path / "state"),
        dataset="crm",
    )
    assert isinstance(result.model, StagePriorClassifier)
    assert result.method["name"] == result.params["method"] == "stage_prior"
    [flat] = _flat(result.warnings)
    assert "per-deal model of what was known at each deal's creation" in flat
    assert "Contract Sent 90%" in flat
    assert any(w.startswith("method: ") for w in result.warnings)
    assert "LightGBM, one row per deal at creation" in result.summary()["method"]["holdout_auc"]


def test_a_flat_export_without_stage_probabilities_keeps_the_snapshot_model(tmp_path):
    result = train_deals(
        _history(tmp_path, durations=False, probabilities=False),
        settings=Settings(state_dir=tmp_path / "state"),
        dataset="crm",
    )
    assert not isinstance(result.model, StagePriorClassifier)
    assert result.method["name"] == "snapshots" and "method" not in result.params
    [flat] = _flat(result.warnings)
    assert "No stage probabilities are known" in flat
    assert "scores an open deal the same at every stage" in flat
    assert "CRM sync API" in flat


def test_stage_dates_train_the_snapshot_model(tmp_path):
    result = train_deals(
        _history(tmp_path, durations=True),
        settings=Settings(state_dir=tmp_path / "state"),
        dataset="crm",
    )
    assert not isinstance(result.model, StagePriorClassifier)
    assert result.method["name"] == "snapshots"


def test_a_baseline_ahead_of_the_flat_exports_model_is_said_with_why():
    from forecast.modeling.deal_fitting import _baselines_read_age

    metrics = {
        "model": {"roc_auc": 0.571},
        "logistic_regression": {"roc_auc": 0.839},
        "stage_win_rate": {"roc_auc": 0.5},
    }
    baselines = {"logistic_regression": None, "stage_win_rate": None}
    said = _baselines_read_age(metrics, baselines)
    assert said is not None and said.startswith(
        "the baselines logistic_regression beat this model on the holdout (AUC 0.839 vs 0.571): "
        "they read each deal's age"
    )
    assert _baselines_read_age({**metrics, "model": {"roc_auc": 0.9}}, baselines) is None
