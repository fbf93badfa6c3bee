"""`forecast demo` trains a demo dataset's model unless that dataset has a champion: another
dataset's champion, or an earlier install's model registered without a dataset, does not count."""

from __future__ import annotations

import pytest

from forecast.demo import DEMO_LEADS
from forecast.modeling import registry
from forecast.modeling.registry import client as registry_client
from forecast.settings import get_settings
from tests.training.conftest import Cli


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(kind, dataset) of each model `forecast demo` trains, instead of training it; the store
    holds the demo leads only, and the demo data is already there."""
    from training import cli, models_cli

    asked: list[tuple[str, str]] = []
    monkeypatch.setattr("forecast.demo.prepare_demo", lambda settings, **kw: iter(()))
    monkeypatch.setattr(cli, "_datasets", lambda engine: {DEMO_LEADS})
    monkeypatch.setattr(
        models_cli, "train_and_report", lambda kind, data, **kw: asked.append((kind.value, data))
    )
    return asked


def _demo_champions(monkeypatch: pytest.MonkeyPatch, datasets: list[str]) -> None:
    """The registry's lead champions are those of `datasets` (deals: none)."""

    def champions(kind: str, settings: object = None) -> list[str]:
        return datasets if kind == "leads" else []

    monkeypatch.setattr(registry, "champion_datasets", champions)


def test_an_old_dataset_less_model_does_not_stop_the_demo_from_training(
    cli: Cli, trained: list[tuple[str, str]]
):
    with registry_client._mlflow(get_settings()) as client:
        client.create_registered_model("lead-qualification")  # an earlier install's single model
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert trained == [("leads", DEMO_LEADS)]


def test_another_datasets_champion_does_not_count_but_its_own_does(
    cli: Cli, trained: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
):
    _demo_champions(monkeypatch, ["crm"])
    assert cli("demo").exit_code == 0 and trained == [("leads", DEMO_LEADS)]
    _demo_champions(monkeypatch, ["crm", DEMO_LEADS])
    again = cli("demo")
    assert again.exit_code == 0 and trained == [("leads", DEMO_LEADS)]
    assert f"a leads model of '{DEMO_LEADS}' is champion already" in again.stdout
