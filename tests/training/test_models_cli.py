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


@pytest.mark.parametrize("args, said", [
    (("models", "show", "leads"), "no leads model registered yet: run `forecast train leads`"),
    (("models", "rollback", "deals"), "no deals model registered yet"),
    (("models", "promote", "leads"), "lead-qualification"),
])
def test_acting_on_a_model_that_does_not_exist_is_one_error_line(cli: Cli, args, said):
    fails_cleanly(cli(*args), 1, said)


def test_training_leads_on_an_opportunities_export_says_which_command_to_use(cli: Cli,
                                                                             export: Path):
    fails_cleanly(cli("train", "leads", "--data", export), 2,
                  "holds opportunities, not leads: use `forecast train deals`")


def test_training_on_an_empty_store_says_to_import_first(cli: Cli):
    fails_cleanly(cli("train", "deals"), 1, "run `forecast import` first")
    fails_cleanly(cli("train", "leads", "--data", "nope"), 1, "no dataset named 'nope'")
