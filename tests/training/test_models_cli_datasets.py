"""`forecast models` and `forecast train` with one model per dataset: the list says whose each
model is, acting on one needs `--dataset` only when there are several (said plainly, no
traceback), and training a second dataset leaves the first one's champion alone."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from forecast.modeling import registry
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings, get_settings
from tests.forecast import synthetic
from tests.training.conftest import Cli, fails_cleanly, parsed

A, B = "crm-a", "crm-b"


@pytest.fixture(scope="module")
def trained() -> TrainingResult:
    return train_leads(
        synthetic.leads(1200),
        leak_columns=["Tags"],
        cross_validate=False,
        settings=Settings(lgbm_threads=2, min_converted_leads=50),
        dataset=A,
    )


@pytest.fixture
def cli(cli: Cli, state: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("FORECAST_LGBM_THREADS", "2")
    monkeypatch.setenv("FORECAST_MIN_CONVERTED_LEADS", "50")
    get_settings.cache_clear()
    return cli


def _on(result: TrainingResult, dataset: str, auc_change: float = 0.0) -> TrainingResult:
    out = copy.copy(result)
    out.dataset = dataset
    out.metrics = copy.deepcopy(result.metrics)
    out.metrics["model"]["roc_auc"] += auc_change
    out.metrics["model"]["brier"] -= auc_change
    return out


def test_models_list_shows_each_models_dataset(cli: Cli, trained: TrainingResult):
    registry.log_training(trained, get_settings())
    registry.log_training(_on(trained, B), get_settings())
    rows = parsed(cli("models", "list", "--json"))
    assert [(r["dataset"], r["name"], r["version"]) for r in rows] == [
        (A, "lead-qualification.crm-a", "1"),
        (B, "lead-qualification.crm-b", "1"),
    ]
    table = cli("models", "list")
    assert table.exit_code == 0 and "dataset" in table.stdout
    assert A in table.stdout and B in table.stdout


def test_promote_rollback_and_show_take_the_dataset(cli: Cli, trained: TrainingResult):
    settings = get_settings()
    registry.log_training(trained, settings)
    shown = parsed(cli("models", "show", "leads", "--json"))
    assert shown["dataset"] == A  # the only one
    # What training said and kept travels with the version (`models show` prints it).
    assert shown["warnings"] == trained.warnings
    assert shown["columns"]["features"] == trained.columns["features"]
    registry.log_training(_on(trained, B), settings)
    registry.log_training(
        _on(trained, A, 0.01), settings, promote=False, champion_version_scored="1"
    )
    for args in (("show",), ("promote",), ("rollback",)):
        fails_cleanly(cli("models", *args, "leads"), 2, "several datasets", A, B, "--dataset")
    promoted = cli("models", "promote", "leads", "--dataset", A)
    assert promoted.exit_code == 0 and "promoted" in promoted.stdout
    assert registry.champion_version("leads", settings, dataset=A) == "2"
    fails_cleanly(cli("models", "rollback", "leads", "--dataset", B), 2, "no earlier")
    rolled = cli("models", "rollback", "leads", "--dataset", A)
    assert rolled.exit_code == 0 and f"(dataset {A}) is now version 1" in rolled.stdout
    assert registry.champion_version("leads", settings, dataset=B) == "1"
    shown = parsed(cli("models", "show", "leads", "--dataset", B, "--json"))
    assert (shown["dataset"], shown["aliases"]) == (B, ["candidate", "champion"])


def test_training_a_second_dataset_leaves_the_first_ones_champion(
    cli: Cli, trained: TrainingResult, monkeypatch: pytest.MonkeyPatch
):
    from training import models_cli

    settings = get_settings()
    registry.log_training(trained, settings)
    row = trained.input_example.iloc[0].to_dict()
    before = registry.load_champion("leads", settings, dataset=A).model.score_row(row)
    frames = {"dataset": B, "leads": synthetic.leads(1200, seed=5), "leak_columns": ["Tags"]}
    monkeypatch.setattr(models_cli, "load_training_data", lambda *a: {**frames, "field_names": {}})

    summary = parsed(cli("train", "leads", "--data", B, "--no-cv", "--json"))
    reg = summary["registration"]
    assert (reg["dataset"], reg["name"], reg["version"]) == (B, "lead-qualification.crm-b", "1")
    assert reg["champion_before"] is None and "champion" not in summary["metrics"]
    assert registry.champion_version("leads", settings, dataset=A) == "1"
    after = registry.load_champion("leads", settings, dataset=A).model.score_row(row)
    assert after == pytest.approx(before)

    printed = cli("train", "leads", "--data", B, "--no-cv")
    assert printed.exit_code == 0, printed.output
    assert "lead-qualification.crm-b v2 (dataset crm-b)" in " ".join(printed.stdout.split())


@pytest.mark.parametrize("version", ["3", "99", "0", "abc"])
def test_a_version_the_model_does_not_have_is_bad_input(
    cli: Cli, trained: TrainingResult, version: str
):
    registry.log_training(trained, get_settings())
    said = f"model 'lead-qualification.crm-a' has no version or alias '{version}'"
    fails_cleanly(cli("models", "promote", "leads", "--version", version, "--dataset", A), 2, said)
    fails_cleanly(cli("models", "show", "leads", "--version", version), 2, said)


def test_the_time_to_close_models_are_listed_and_shown_with_the_scorers(
    cli: Cli, trained: TrainingResult
):
    from dataclasses import replace

    from tests.forecast.test_registry import _timing_result

    settings = get_settings()
    registry.log_training(trained, settings)
    registry.log_training(replace(_timing_result(0.70, 0.07), dataset=A), settings)
    rows = parsed(cli("models", "list", "--json"))
    assert [(r["kind"], r["name"], r["version"], r["aliases"]) for r in rows] == [
        ("leads", "lead-qualification.crm-a", "1", ["candidate", "champion"]),
        ("timing", "time-to-close.crm-a", "1", ["candidate", "champion"]),
    ]
    timing = rows[1]
    assert (timing["concordance"], timing["brier"], timing["roc_auc"]) == (0.70, 0.07, None)
    assert all(r["trained_at"] for r in rows)  # when each was trained, from the registry
    table = cli("models", "list")
    assert table.exit_code == 0 and "time-to-close.crm-a" in table.stdout
    shown = parsed(cli("models", "show", "timing", "--json"))
    assert (shown["name"], shown["version"]) == ("time-to-close.crm-a", "1")
    assert shown["metrics"]["model"] == {"concordance": 0.70, "brier": 0.07}
    printed = cli("models", "show", "timing")
    assert printed.exit_code == 0 and "concordance" in printed.stdout, printed.output
