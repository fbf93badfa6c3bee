"""`forecast retrain --if-needed` judges the champion of the dataset it would retrain: another
dataset's champion, however fresh, does not stand in for it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from forecast.modeling import registry
from tests.training.conftest import Cli, parsed


def _champion_of(dataset: str, days_old: float) -> dict[str, Any]:
    created = (datetime.now() - timedelta(days=days_old)).timestamp() * 1000
    return {
        "kind": "deals",
        "dataset": dataset,
        "version": "1",
        "aliases": ["champion"],
        "created": created,
    }


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What `forecast retrain` handed to training (the data it names), instead of training."""
    from training import retrain_cli

    handed: list[str | None] = []
    monkeypatch.setattr(
        retrain_cli, "_train", lambda kind, data, *a, **k: handed.append(data) or {"ok": 1}
    )
    return handed


def test_another_datasets_champion_does_not_count(
    imported: Cli, trained: list, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(registry, "list_models", lambda settings: [_champion_of("other", 2)])
    said = parsed(imported("retrain", "deals", "--if-needed", "--max-age-days", "30", "--json"))
    assert said["dataset"] == "pipeline" and said["decision"]["retrain"] is True
    assert "no deals champion is registered for dataset 'pipeline'" in said["decision"]["reasons"]
    assert trained == ["pipeline"]


def test_the_datasets_own_champion_is_judged(
    imported: Cli, trained: list, monkeypatch: pytest.MonkeyPatch
):
    rows = [_champion_of("other", 200), _champion_of("pipeline", 2)]
    monkeypatch.setattr(registry, "list_models", lambda settings: rows)
    young = parsed(imported("retrain", "deals", "--if-needed", "--max-age-days", "30", "--json"))
    assert young["decision"]["retrain"] is False and "2 days old" in young["decision"]["checks"][0]
    rows[:] = [_champion_of("other", 2), _champion_of("pipeline", 200)]
    args = ("--data", "pipeline", "--if-needed", "--max-age-days", "30", "--json")
    old = parsed(imported("retrain", "deals", *args))
    assert old["decision"]["retrain"] is True and "200 days old" in old["decision"]["reasons"][0]
    assert trained == ["pipeline"]
