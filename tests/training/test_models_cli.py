"""`forecast models` and `forecast train` where no model exists yet: said plainly, no traceback.
(Training itself is tested in tests/forecast; these stop before fitting anything.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.settings import get_settings
from tests.training.conftest import Cli, fails_cleanly, parsed


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store for the module: these tests only read it, and making one costs seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def cli(cli: Cli, empty_registry: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("FORECAST_MLFLOW_TRACKING_URI", empty_registry)
    get_settings.cache_clear()
    return cli


def test_an_empty_registry_lists_no_models_and_says_how_to_get_one(cli: Cli):
    result = cli("models", "list")
    assert result.exit_code == 0, result.output
    assert "no models registered yet: run `forecast train leads|deals`" in result.stdout
    assert parsed(cli("models", "list", "--json")) == []


@pytest.mark.parametrize(
    "args, said",
    [
        (("models", "show", "leads"), "no leads model registered yet: run `forecast train leads`"),
        (("models", "rollback", "deals"), "no deals model registered yet"),
        (("models", "promote", "leads"), "no leads model registered yet"),
        # `forecast train timing` does not exist: the time-to-close model is `forecast timing`'s
        (("models", "show", "timing"), "no timing model registered yet: run `forecast timing"),
    ],
)
def test_acting_on_a_model_that_does_not_exist_is_one_error_line(cli: Cli, args, said):
    fails_cleanly(cli(*args), 1, said)


def test_naming_a_dataset_without_a_model_is_bad_input_saying_which_have_one(cli: Cli):
    said = "registered for dataset 'crm' yet (leads models are registered for no dataset)"
    fails_cleanly(cli("models", "promote", "leads", "--dataset", "crm"), 2, said)


def test_training_leads_on_an_opportunities_export_says_which_command_to_use(
    cli: Cli, export: Path
):
    fails_cleanly(
        cli("train", "leads", "--data", export),
        2,
        "holds opportunities, not leads: use `forecast train deals`",
    )


def test_training_on_an_empty_store_says_to_import_first(cli: Cli):
    fails_cleanly(cli("train", "deals"), 1, "run `forecast import` first")
    fails_cleanly(cli("train", "leads", "--data", "nope"), 2, "no dataset named 'nope'")
    # --dataset names a stored dataset as `forecast kpis` and `revenue` take it
    fails_cleanly(cli("train", "deals", "--dataset", "nope"), 2, "no dataset named 'nope'")


@pytest.mark.slow
def test_the_cli_trains_the_shared_leads_and_prints_json(tmp_path, monkeypatch, shared_leads):
    import json

    from typer.testing import CliRunner

    from forecast.settings import get_settings
    from training.models_cli import models_app, train_app

    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("FORECAST_LGBM_THREADS", "2")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(
            train_app, ["leads", "--data", str(shared_leads), "--json", "--no-cv", "--seed", "3"]
        )
        assert out.exit_code == 0, out.output
        summary = json.loads(out.stdout)
        assert summary["seed"] == 3 and summary["registration"]["version"] == "1"
        assert {"model", "naive_bayes", "logistic_regression"} == set(summary["metrics"])
        listed = runner.invoke(models_app, ["list", "--json"])
        assert json.loads(listed.stdout)[0]["aliases"] == ["candidate", "champion"]
        bad = runner.invoke(train_app, ["deals", "--data", str(shared_leads)])
        assert bad.exit_code == 2 and "holds leads" in bad.output
    finally:
        get_settings.cache_clear()


def test_a_mapping_given_with_a_stored_dataset_is_refused_not_ignored(imported: Cli):
    """A walkthrough's case: `forecast train deals --data pipeline --mapping mine.yaml` trained
    and registered a model read by the import's mapping, the one given left unread and unsaid
    (`--mapping nope`, no such mapping, too)."""
    fails_cleanly(
        imported("train", "deals", "--data", "pipeline", "--mapping", "nope"),
        2,
        "mapping: reads a file, and 'pipeline' is a dataset in the store",
    )


@pytest.mark.parametrize(
    "args",
    [
        ("train", "deals", "--data", "pipeline"),
        ("train", "leads", "--data", "pipeline"),
        ("generate", "--deals", "10", "--leads", "0"),
    ],
)
def test_a_negative_seed_is_bad_input_not_a_traceback(imported: Cli, args, tmp_path: Path):
    """A walkthrough's case: `forecast train leads --seed -5` fitted for a while, then printed
    numpy's traceback ('expected non-negative integer'); so did `forecast generate`."""
    out = ("--out", tmp_path / "gen") if args[0] == "generate" else ()
    fails_cleanly(imported(*args, *out, "--seed", "-5"), 2, "Invalid value for '--seed'")


def test_a_bad_setting_in_the_environment_is_one_error_line_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
):
    """A walkthrough's case: FORECAST_PORT=abc (or FORECAST_SEED=-1) made every command print
    pydantic's traceback ('1 validation error for Settings')."""
    monkeypatch.setenv("FORECAST_PORT", "abc")
    get_settings.cache_clear()
    try:
        result = cli("models", "list")
    finally:
        monkeypatch.delenv("FORECAST_PORT")
        get_settings.cache_clear()
    fails_cleanly(result, 2, "setting FORECAST_PORT", "'abc'", "valid integer")


def test_training_on_a_file_that_is_not_there_says_so(cli: Cli, tmp_path: Path):
    """A walkthrough's case: a mistyped path to `forecast train --data` was answered "no dataset
    named '/tmp/x/leads.csv'; the store has [...]", never saying the file was not there."""
    missing = tmp_path / "leeds.csv"
    for kind in ("leads", "deals"):
        fails_cleanly(
            cli("train", kind, "--data", missing), 2, f"--data: no file or folder at {missing}"
        )


def test_timing_and_backtest_on_a_file_that_is_not_there_say_so(cli: Cli, tmp_path: Path):
    missing = tmp_path / "deels.csv"
    for command in ("timing", "backtest"):
        fails_cleanly(cli(command, "--data", missing), 2, f"--data: no file or folder at {missing}")
