"""`forecast revenue` leads with the method most accurate on the dataset's track record, and
`forecast backtest` keeps that record: what a manager reads first is what has been right."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.data import store
from forecast.data.generator import generate_pipeline, write_export
from forecast.forecasting import track_record
from forecast.settings import get_settings
from tests.forecast import synthetic
from tests.training.conftest import Cli, parsed


def made_up_record(errors: dict[str, float]) -> pd.DataFrame:
    return synthetic.track_record(errors, "2023-01-02", actual=200_000.0)


def test_revenue_leads_with_the_most_accurate_method_and_says_why(cli: Cli, tmp_path: Path):
    folder = tmp_path / "export"
    write_export(generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31"), folder)
    assert cli("import", folder).exit_code == 0
    engine = store.get_engine(get_settings())
    without = parsed(cli("revenue", "--period", "2023-Q4", "--dataset", "pipeline", "--json"))
    first = without["headline"]  # no record: the naive forecast first, until ours beats it
    assert first["method"] == "run_rate" and first["choice"]["wape"] is None

    track_record.save(
        engine, "pipeline", "quarter", made_up_record({"model": 0.3, "run_rate": 0.02})
    )
    data = parsed(cli("revenue", "--period", "2023-Q4", "--dataset", "pipeline", "--json"))
    lead = data["headline"]
    assert lead["method"] == "run_rate" and lead["choice"]["n"] == 12
    assert lead["p10"] <= lead["forecast"] <= lead["p90"]
    text = cli("revenue", "--period", "2023-Q4", "--dataset", "pipeline")
    flat = " ".join(text.output.split())
    assert "run rate of recent won revenue" in flat and "most accurate" in flat


def test_a_backtest_keeps_the_track_record_the_forecast_reads(cli: Cli, tmp_path: Path):
    folder = tmp_path / "export"
    write_export(generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31"), folder)
    assert cli("import", folder).exit_code == 0
    args = ["backtest", "--data", "pipeline", "--no-log", "--freq", "month", "--every", "week"]
    args += ["--from", "2023-08-01", "--to", "2023-09-30", "--horizons", "0,4", "--json"]
    data = parsed(cli(*args))
    kept = track_record.load(store.get_engine(get_settings()), "pipeline", "month")
    assert data["track_record_saved"] == len(kept) > 0
    assert set(kept["horizon_weeks"]) == {0, 4} and "model" in set(kept["method"])


def test_a_file_backtest_or_a_narrower_run_leaves_the_track_record_and_says_why(
    cli: Cli, tmp_path: Path
):
    folder = tmp_path / "export"
    write_export(generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31"), folder)
    assert cli("import", folder).exit_code == 0
    window = ["--no-log", "--freq", "month", "--from", "2023-08-01", "--to", "2023-09-30"]
    first = parsed(cli("backtest", "--data", "pipeline", *window, "--horizons", "0,4", "--json"))
    engine = store.get_engine(get_settings())
    kept = track_record.load(engine, "pipeline", "month")
    assert first["track_record_saved"] == len(kept) > 0

    narrower = parsed(cli("backtest", "--data", "pipeline", *window, "--horizons", "0", "--json"))
    assert (
        narrower["track_record_saved"] == 0 and "--replace-record" in narrower["track_record_note"]
    )
    from_file = parsed(cli("backtest", "--data", folder, *window, "--horizons", "0,4", "--json"))
    assert from_file["track_record_saved"] == 0
    assert "forecast import" in from_file["track_record_note"]
    after = track_record.load(engine, "pipeline", "month")
    assert len(after) == len(kept) and set(after["horizon_weeks"]) == {0, 4}

    forced = ("--horizons", "0", "--replace-record", "--json")
    replaced = parsed(cli("backtest", "--data", "pipeline", *window, *forced))
    assert replaced["track_record_saved"] > 0
    assert set(track_record.load(engine, "pipeline", "month")["horizon_weeks"]) == {0}


def test_with_too_few_past_forecasts_the_run_rate_is_shown_and_the_reason_is_said(
    cli: Cli, tmp_path: Path
):
    folder = tmp_path / "export"
    write_export(generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31"), folder)
    assert cli("import", folder).exit_code == 0
    record = synthetic.track_record({"model": 0.3, "run_rate": 0.02}, "2023-01-02", windows=4)
    track_record.save(store.get_engine(get_settings()), "pipeline", "quarter", record)
    text = cli("revenue", "--period", "2023-Q4", "--dataset", "pipeline")
    flat = " ".join(text.output.split())
    assert text.exit_code == 0
    assert "run rate of recent won revenue:" in flat
    assert "fewer than the 9 needed" in flat
    assert "until ours has beaten the naive forecasts on past windows" in flat
    assert "None" not in flat and "most accurate on this dataset" not in flat
