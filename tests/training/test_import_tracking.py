"""An import of deals tracks the forecast at once, and `forecast revenue` then reads the tracked
forecast (the same figures as computing it) until the data changes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from forecast.data.generator import generate_pipeline, write_export
from forecast.settings import get_settings
from tests.training.conftest import Cli


@pytest.fixture(scope="module")
def deals(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("deals")
    write_export(generate_pipeline(800, seed=13, start="2023-01-01", end="2023-12-31"), folder)
    return folder


def _revenue(cli: Cli, *args: str) -> dict:
    out = cli("revenue", "--period", "2024-Q1", "--by", "team", "--json", *args)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_an_import_tracks_and_revenue_reads_the_tracked_forecast(cli: Cli, deals: Path):
    out = cli("import", deals, "--dataset", "crm", "--track", "--json")
    assert out.exit_code == 0, out.output
    tracked = json.loads(out.stdout)["tracked"]
    assert tracked["ok"] and tracked["as_of"] == "2024-01-01" and tracked["lines"] > 0

    stored = _revenue(cli)
    assert stored["stored"]["as_of"] == "2024-01-01"
    computed = _revenue(cli, "--target", "1")  # targets given here: computed, not read
    assert computed.get("stored") is None
    for key in ("expected", "p10", "p50", "p90", "deals", "pipeline_value"):
        assert stored["total"][key] == pytest.approx(computed["total"][key], rel=1e-9), key
    assert [g["group"] for g in stored["groups"]] == [g["group"] for g in computed["groups"]]


def test_an_import_without_tracking_leaves_revenue_to_compute(cli: Cli, deals: Path):
    out = cli("import", deals, "--dataset", "crm", "--no-track", "--json")
    assert out.exit_code == 0 and "tracked" not in json.loads(out.stdout)
    assert _revenue(cli).get("stored") is None


def test_a_dataset_too_small_to_forecast_is_imported_and_says_why_it_is_not_tracked(
    cli: Cli, tmp_path: Path
):
    made = generate_pipeline(60, seed=1, start="2023-01-01", end="2023-06-30")
    still_open = made.opportunities[made.opportunities["status"] == "open"]
    history = made.history[made.history["opportunity_id"].isin(still_open["id"])]
    write_export(replace(made, opportunities=still_open, history=history), tmp_path)
    out = cli("import", tmp_path, "--dataset", "tiny", "--track", "--json")
    assert out.exit_code == 0, out.output
    tracked = json.loads(out.stdout)["tracked"]
    assert tracked["ok"] is False and tracked["message"].startswith("not tracked: ")


def test_an_export_imported_again_unchanged_is_not_tracked_again(
    cli: Cli, deals: Path, monkeypatch: pytest.MonkeyPatch
):
    """Tracking after an import is on (FORECAST_TRACK_AFTER_IMPORT): the nightly export read
    again with no change keeps the dataset's version and its tracked forecast, and is not
    tracked again (which would log the same runs again); asked for (--track), it is."""
    monkeypatch.setenv("FORECAST_TRACK_AFTER_IMPORT", "true")
    get_settings.cache_clear()
    first = json.loads(cli("import", deals, "--dataset", "crm", "--json").stdout)
    assert first["changed"] is True and first["tracked"]["ok"]
    again = cli("import", deals, "--dataset", "crm", "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["changed"] is False and second["rows_written"] == 0
    assert "tracked" not in second
    assert _revenue(cli)["stored"]["as_of"] == "2024-01-01"  # the first tracking still served
    said = cli("import", deals, "--dataset", "crm")
    assert "nothing changed, not run again" in said.output
    asked = json.loads(cli("import", deals, "--dataset", "crm", "--track", "--json").stdout)
    assert asked["changed"] is False and asked["tracked"]["ok"]
