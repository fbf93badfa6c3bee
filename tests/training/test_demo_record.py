"""`forecast demo` (`make run`) makes the demo's track record once, so the dashboard's first view
already says which forecast has been most accurate and how far off it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data import store
from forecast.data.generator import generate_pipeline, write_export
from forecast.demo import DEMO_DEALS
from forecast.forecasting import track_record
from forecast.settings import get_settings
from tests.training.conftest import Cli


@pytest.fixture
def demo_deals(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A year of generated deals stored as the demo's, its models not trained (not asked here)."""
    from training import models_cli

    folder = tmp_path / "export"
    write_export(generate_pipeline(800, seed=11, start="2023-01-01", end="2023-12-31"), folder)
    assert cli("import", folder, "--dataset", DEMO_DEALS).exit_code == 0
    monkeypatch.setattr("forecast.demo.prepare_demo", lambda settings, **kw: iter(()))
    monkeypatch.setattr(models_cli, "train_and_report", lambda kind, data, **kw: None)


def test_the_demo_backtests_its_deals_once_and_keeps_the_track_record(cli: Cli, demo_deals):
    first = cli("demo")
    assert first.exit_code == 0, first.output
    flat = " ".join(first.output.split())
    assert "backtesting the forecast on the demo's past quarters" in flat
    assert f"track record of {DEMO_DEALS} kept" in flat
    engine = store.get_engine(get_settings())
    kept = track_record.load(engine, DEMO_DEALS, "quarter")
    assert set(kept["horizon_weeks"]) == {0, 4, 8, 13}
    assert {"model", "run_rate", "last_period", "chosen"} <= set(kept["method"])
    made = track_record.saved_at(engine, DEMO_DEALS, "quarter")

    again = cli("demo")
    assert again.exit_code == 0, again.output
    assert "backtesting" not in again.output
    assert track_record.saved_at(engine, DEMO_DEALS, "quarter") == made
