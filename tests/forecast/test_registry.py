"""The registry: runs, candidate and champion, promotion only on a win, rollback, clean failure.

Each test gets its own MLflow SQLite file through a settings override.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from forecast.errors import InsufficientHistory, InvalidInput
from forecast.modeling import registry
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.registry import client as registry_client
from forecast.modeling.registry import runs as registry_runs
from forecast.settings import Settings
from forecast.timing import TimingResult
from tests.forecast import synthetic


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        lgbm_threads=2,
        min_converted_leads=50,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )


@pytest.fixture(scope="module")
def trained() -> TrainingResult:
    return train_leads(
        synthetic.leads(1200),
        leak_columns=["Tags"],
        cross_validate=False,
        settings=Settings(lgbm_threads=2, min_converted_leads=50),
    )


def _worse(result: TrainingResult) -> TrainingResult:
    worse = copy.copy(result)
    worse.metrics = copy.deepcopy(result.metrics)
    worse.metrics["model"]["roc_auc"] -= 0.001
    worse.metrics["champion"] = dict(result.metrics["model"])
    return worse


def _runs(settings: Settings) -> list:
    import mlflow

    with registry_client._mlflow(settings) as client:
        exps = [e.experiment_id for e in client.search_experiments()]
        return mlflow.search_runs(exps, output_format="list") if exps else []


def test_a_first_winning_model_becomes_champion_with_everything_logged(settings, trained):
    reg = registry.log_training(trained, settings)
    assert reg.version == "1" and reg.promoted and reg.champion_before is None
    info = registry.show_model("leads", settings=settings)
    assert set(info["aliases"]) == {"candidate", "champion"}
    metrics = info["all_metrics"]
    for key in (
        "model_roc_auc",
        "model_brier",
        "model_ece",
        "model_top_decile_lift",
        "naive_bayes_roc_auc",
        "logistic_regression_brier",
        "rows_train",
        "rows_test",
    ):
        assert key in metrics
    assert info["tags"]["data_fingerprint"] == trained.fingerprint
    with registry_client._mlflow(settings) as client:
        names = {a.path for a in client.list_artifacts(reg.run_id, "plots")}
    assert names == {"plots/calibration.png", "plots/gain_lift.png", "plots/feature_importance.png"}


def test_a_model_that_does_not_beat_the_champion_stays_candidate(settings, trained):
    registry.log_training(trained, settings)
    reg = registry.log_training(_worse(trained), settings, champion_version_scored="1")
    assert not reg.promoted and reg.version == "2"
    assert any("does not beat champion (v1, same holdout)" in r for r in reg.reasons)
    rows = {r["version"]: r["aliases"] for r in registry.list_models(settings)}
    assert rows == {"2": ["candidate"], "1": ["champion"]}
    decision = registry.promote("leads", settings=settings)
    assert not decision.promote and "does not beat champion" in str(decision)


def test_promote_and_rollback(settings, trained):
    registry.log_training(trained, settings)
    better = copy.copy(trained)
    better.metrics = copy.deepcopy(trained.metrics)
    better.metrics["model"]["roc_auc"] += 0.01
    better.metrics["model"]["brier"] -= 0.01
    better.metrics["champion"] = dict(trained.metrics["model"])  # v1, on the same holdout
    reg = registry.log_training(better, settings, promote=False, champion_version_scored="1")
    assert not reg.promoted and registry.champion_version("leads", settings) == "1"
    assert registry.promote("leads", settings=settings).promote
    assert registry.champion_version("leads", settings) == "2"
    assert registry.rollback("leads", settings) == "1"
    assert registry.champion_version("leads", settings) == "1"
    with pytest.raises(InvalidInput, match="no earlier"):
        registry.rollback("leads", settings)


def test_a_version_is_promoted_later_only_against_the_champion_its_run_weighed_it_against(
    settings, trained
):
    """A walkthrough's case: a model kept as candidate, then promoted by hand once the champion
    had changed, won on figures from two different holdouts, though a model of the same data had
    lost to that champion on the same rows. It is refused, saying why and how to weigh it; the
    champion it was weighed against back in place, it may be promoted."""
    registry.log_training(trained, settings)
    better = copy.copy(trained)
    better.metrics = copy.deepcopy(trained.metrics)
    better.metrics["model"]["roc_auc"] += 0.01
    better.metrics["model"]["brier"] -= 0.01
    better.metrics["champion"] = dict(trained.metrics["model"])
    kept = registry.log_training(better, settings, promote=False, champion_version_scored="1")
    assert registry.log_training(better, settings, champion_version_scored="1").promoted  # v3
    decision = registry.promote("leads", version=kept.version, settings=settings)
    assert not decision.promote
    assert "not weighed against champion v3: its run scored v1 on its holdout" in str(decision)
    assert "forecast train leads --data" in str(decision)
    assert registry.champion_version("leads", settings) == "3"
    assert registry.rollback("leads", settings) == "1"
    assert registry.promote("leads", version=kept.version, settings=settings).promote


def test_a_failure_midway_leaves_nothing_in_the_registry(settings, trained, monkeypatch):
    import mlflow

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mlflow.pyfunc, "log_model", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        registry.log_training(trained, settings)
    assert registry.list_models(settings) == []
    assert _runs(settings) == []
    monkeypatch.undo()
    calls = {"n": 0}
    real = registry_runs._make_champion

    def fail_on_alias(*args, **kwargs):
        calls["n"] += 1
        raise RuntimeError("lost the database")

    monkeypatch.setattr(registry_runs, "_make_champion", fail_on_alias)
    with pytest.raises(RuntimeError, match="lost the database"):
        registry.log_training(trained, settings)
    assert calls["n"] == 1 and registry.list_models(settings) == [] and _runs(settings) == []
    monkeypatch.setattr(registry_runs, "_make_champion", real)


def test_ctrl_c_after_a_promotion_leaves_the_previous_champion_in_place(settings, trained):
    """A walkthrough's case: Ctrl-C on `forecast train` once the new version was made champion
    (its run still closing) deleted that version, and with it the champion alias: the dataset
    had no champion, and its history named a version that no longer existed."""
    import mlflow

    registry.log_training(trained, settings)
    better = copy.copy(trained)
    better.metrics = copy.deepcopy(trained.metrics)
    better.metrics["model"]["roc_auc"] += 0.01
    better.metrics["model"]["brier"] -= 0.01
    better.metrics["champion"] = dict(trained.metrics["model"])
    real = mlflow.set_tag

    def interrupted(key, value):
        if key == "decision":
            raise KeyboardInterrupt
        return real(key, value)

    mlflow.set_tag = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            registry.log_training(better, settings, champion_version_scored="1")
    finally:
        mlflow.set_tag = real
    assert registry.champion_version("leads", settings) == "1"
    assert [r["version"] for r in registry.list_models(settings)] == ["1"]
    with pytest.raises(InvalidInput, match=r"champion history: \['1'\]"):
        registry.rollback("leads", settings)


def test_too_little_history_registers_nothing(settings):
    with pytest.raises(InsufficientHistory):
        train_leads(
            synthetic.leads(100), settings=settings.model_copy(update={"min_converted_leads": 500})
        )
    assert registry.list_models(settings) == []


def _between(text: str | None, start: datetime, end: datetime) -> bool:
    """`text` is an ISO 8601 time in UTC between `start` and `end` (to the second)."""
    assert text is not None
    when = datetime.fromisoformat(text)
    assert when.utcoffset() == timedelta(0), text
    return start.replace(microsecond=0) <= when <= end


def test_the_champion_loads_for_serving_and_a_local_copy_survives_the_registry(
    settings, trained, tmp_path
):
    assert registry.load_champion("leads", settings) is None
    start = datetime.now(UTC)
    registry.log_training(trained, settings)
    end = datetime.now(UTC)
    loaded = registry.load_champion("leads", settings)
    assert loaded.version == "1" and loaded.source == "registry"
    # When it was trained, from the registry: what /v1/models and the dashboard say.
    assert _between(loaded.trained_at, start, end)
    assert registry.show_model("leads", settings=settings)["trained_at"] == loaded.trained_at
    assert loaded.path.is_relative_to(settings.state_dir.resolve())
    row = trained.input_example.iloc[0].to_dict()
    assert loaded.model.score_row(row) == pytest.approx(trained.model.score_row(row))
    gone = settings.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9/nowhere"})
    offline = registry.load_champion("leads", gone)
    assert offline.source == "local copy" and offline.version == "1"
    assert offline.trained_at == loaded.trained_at  # kept with the local copy


def test_the_logged_model_serves_through_mlflow_pyfunc(settings, trained):
    import mlflow

    registry.log_training(trained, settings)
    with registry_client._mlflow(settings):
        name = registry.model_name("leads", registry.NO_DATASET)
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    out = model.predict(trained.input_example)
    assert list(out.columns) == ["probability", "grade"] and len(out) == len(trained.input_example)


def _timing_result(model_concordance: float, model_brier: float) -> TimingResult:
    """A hand-made time-to-close run: the registry only reads its fields, never refits."""

    def scores(concordance: float, brier: float) -> dict[str, float]:
        return {
            "concordance": concordance,
            "brier": brier,
            "won_30d_predicted": 0.1,
            "won_30d_observed": 0.12,
            "brier_won_30d": brier,
        }

    return TimingResult(
        model={"a fitted": "time-to-close model"},
        baseline=None,
        metrics={"model": scores(model_concordance, model_brier), "stage_km": scores(0.60, 0.080)},
        calibration={
            "model": {"predicted": [0.1, 0.3], "observed": [0.12, 0.28], "count": [50.0, 20.0]}
        },
        split={"method": "time", "cut": "2024-01-01", "horizons_days": [30]},
        rows={"train_rows": 400, "test_rows": 70},
        params={"bucket_days": 7},
        seed=1,
        fingerprint="abc",
    )


def test_the_timing_model_goes_through_the_same_register_and_gate_path(settings):
    first = registry.log_training(_timing_result(0.70, 0.070), settings)
    assert first.kind == "timing" and first.promoted
    assert first.name == "time-to-close.default" and first.dataset == registry.NO_DATASET
    assert registry.load_timing_champion(settings) == ("1", {"a fitted": "time-to-close model"})
    # v1 could not score this run's holdout: weighed by its own recorded figures.
    second = registry.log_training(
        _timing_result(0.72, 0.085), settings, champion_version_scored="1"
    )
    assert not second.promoted and second.champion_before == "1"
    assert any(
        r.startswith("does not beat stage_km: concordance 0.7200 vs 0.6000, Brier 0.0850")
        for r in second.reasons
    )
    assert any("champion (v1, its own holdout)" in r for r in second.reasons)
    decision = registry.promote("timing", settings=settings)
    assert not decision.promote and "does not beat stage_km" in str(decision)
    info = registry.show_model("timing", "2", settings)
    assert info["aliases"] == ["candidate"] and info["decision"] == str(decision)
    assert info["metrics"]["model"] == {"concordance": 0.72, "brier": 0.085}
    assert info["tags"]["kind"] == "timing" and info["params"]["bucket_days"] == "7"
    with registry_client._mlflow(settings) as client:
        names = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert names == {"plots/timing_calibration.png"}
    assert registry.champion_version("timing", settings) == "1"


def test_the_family_intervals_and_paired_gains_are_logged_and_listed(settings, trained):
    reg = registry.log_training(trained, settings)
    info = registry.show_model("leads", settings=settings)
    assert info["family"] == trained.family == info["tags"]["family"]
    metrics = info["all_metrics"]
    for key in (
        "model_roc_auc_ci_low",
        "model_roc_auc_ci_high",
        "model_brier_ci_low",
        "naive_bayes_roc_auc_ci_high",
        "family_lightgbm_roc_auc",
        "family_logistic_regression_roc_auc_ci_low",
        "family_naive_bayes_brier",
        "rival_base_rate_roc_auc",
        "gain_roc_auc_vs_base_rate",
        "gain_roc_auc_vs_base_rate_low",
        "gain_brier_vs_base_rate_high",
    ):
        assert key in metrics
    assert metrics["model_roc_auc_ci_low"] < metrics["model_roc_auc"]
    assert any("95% CI" in r for r in reg.reasons)
    [row] = registry.list_models(settings)
    assert row["family"] == trained.family
    low, high = row["roc_auc_ci"]
    assert low < row["roc_auc"] < high


def test_promoting_later_reads_the_paired_gains_back(settings, trained):
    noisy = copy.copy(trained)
    noisy.gains = copy.deepcopy(trained.gains)
    gain = noisy.gains["base_rate"]["roc_auc"][0]
    noisy.gains["base_rate"]["roc_auc"] = [gain, -0.01, gain + 0.05]  # the gain could be nothing
    reg = registry.log_training(noisy, settings, promote=False)
    assert not reg.promoted
    decision = registry.promote("leads", settings=settings)
    assert not decision.promote
    assert "does not beat base_rate" in str(decision) and "95% CI -0.0100" in str(decision)
    registry.log_training(trained, settings, promote=False)
    assert registry.promote("leads", settings=settings).promote
