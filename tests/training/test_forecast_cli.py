"""`forecast revenue`, `backtest` and `timing`: bad requests are refused before any model is
fitted, and the tables managers read show each group, the total and what was skipped.
(The commands' JSON on a real pipeline: tests/forecast/test_backtest.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from forecast.data.generator import generate_pipeline, write_export
from tests.training.conftest import Cli, fails_cleanly, parsed
from training.forecast_cli import forecast_app
from training.forecast_tables import backtest_tables, revenue_table


def rendered(*tables: object) -> str:
    console = Console(record=True, width=250)
    for table in tables:
        console.print(table)
    return console.export_text()


def test_an_unknown_period_is_named(imported: Cli):
    fails_cleanly(
        imported("revenue", "--period", "2024-Q7"),
        2,
        "unknown period '2024-Q7': use '2017' (a year), '2017-Q3' (a quarter)",
    )


def test_a_target_that_is_not_an_amount_is_named(imported: Cli):
    fails_cleanly(
        imported("revenue", "--period", "2024-Q4", "--target", "Team East=lots"),
        2,
        "--target 'Team East=lots': amount 'lots' is not a number (give AMOUNT or GROUP=AMOUNT)",
    )


def test_a_dataset_and_a_path_together_are_refused(cli: Cli, export: Path):
    fails_cleanly(
        cli("revenue", "--period", "2024-Q4", "--dataset", "pipeline", "--data", export),
        2,
        "give --dataset or --data, not both",
    )


def test_forecasting_an_empty_store_says_to_import_first(cli: Cli):
    for command in (("revenue", "--period", "2024-Q4"), ("backtest",), ("timing",)):
        fails_cleanly(cli(*command), 1, "run `forecast import` first")


def line(group: str, **values: float | None) -> dict:
    base = {
        "group": group,
        "deals": 0,
        "won_so_far": 0.0,
        "expected": 0.0,
        "expected_pipeline": 0.0,
        "expected_new": 0.0,
        "p10": 0.0,
        "p50": 0.0,
        "p90": 0.0,
        "weighted_pipeline": 0.0,
        "target": None,
        "p_target": None,
    }
    return {**base, **values}


def test_the_revenue_table_shows_each_group_then_the_total_with_the_chance_to_hit_target():
    forecast = {
        "period": {"label": "2024-Q4", "start": "2024-10-01", "end": "2025-01-01"},
        "as_of": "2024-10-01",
        "by": "team",
        "method": "time-to-close model",
        "groups": [
            line(
                "Team East",
                deals=12,
                expected=125_000.4,
                p10=90_000,
                p90=160_000,
                target=150_000,
                p_target=0.25,
            ),
            line("Team West", deals=3, expected=float("nan")),
        ],
        "total": line("total", deals=15, expected=125_000.4, target=None),
    }
    text = rendered(revenue_table(forecast))
    assert (
        "Revenue forecast 2024-Q4 (2024-10-01 – 2025-01-01), as of the start of 2024-10-01" in text
    )
    rows = [r for r in text.splitlines() if r.strip().startswith(("Team", "total"))]
    assert [r.split()[0:2] for r in rows] == [["Team", "East"], ["Team", "West"], ["total", "15"]]
    east = rows[0].split()
    assert "125,000" in east and "150,000" in east and "25.0%" in east
    assert "nan" not in text.lower()  # a figure that cannot be computed is left blank
    assert "method: time-to-close model" in text


def test_the_backtest_tables_say_which_periods_were_skipped_and_why():
    method = {"forecast": 90.0, "pct_error": -0.1}
    report = {
        "freq": "quarter",
        "dataset": "pipeline",
        "by": None,
        "periods": [
            {"period": "2024-Q1", "status": "skipped", "reason": "no deal had closed before"},
            {
                "period": "2024-Q2",
                "status": "ok",
                "actual": 100.0,
                "p10": 80.0,
                "p90": 120.0,
                "in_p10_p90": True,
                "methods": {"model": method, "weighted_pipeline": method},
            },
        ],
        "overall": {
            "model": {"wape": 0.1, "bias": -0.1, "mean_abs_error": 10.0},
            "periods_scored": 1,
            "periods": 2,
            "coverage_p10_p90": 1.0,
        },
    }
    text = rendered(*backtest_tables(report))
    assert "Backtest by quarter (pipeline)" in text
    assert "2024-Q1 skipped: no deal had closed before" in text
    [q2] = [r for r in text.splitlines() if r.strip().startswith("2024-Q2")]
    assert q2.split()[:5] == ["2024-Q2", "100", "90", "-10.0%", "80"]
    caption = " ".join(text.split())  # a caption wraps to its table's width
    assert "1 of 2 periods scored; actual inside P10–P90: 100.0%" in caption


def test_revenue_and_backtest_print_json_and_exit_2_on_bad_input(tmp_path):
    gen = generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31")
    write_export(gen, tmp_path)
    runner = CliRunner()
    out = runner.invoke(
        forecast_app,
        ["revenue", "--period", "2023-Q4", "--by", "region", "--data", str(tmp_path), "--json"],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["period"]["label"] == "2023-Q4" and data["groups"]
    out = runner.invoke(
        forecast_app,
        ["backtest", "--data", str(tmp_path), "--from", "2023-Q3", "--every", "period"]
        + ["--no-log", "--json"],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["periods"][0]["period"] == "2023-Q3"
    bad = runner.invoke(forecast_app, ["revenue", "--period", "2023-Q7", "--data", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown period" in bad.output


def test_backtest_with_weekly_origins_prints_a_table_per_horizon_and_refuses_bad_flags(tmp_path):
    gen = generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31")
    write_export(gen, tmp_path)
    runner = CliRunner()
    args = ["backtest", "--data", str(tmp_path), "--no-log", "--freq", "month", "--every", "week"]
    args += ["--from", "2023-08-01", "--to", "2023-09-30", "--horizons", "0,4"]
    out = runner.invoke(forecast_app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["every"] == "week" and data["horizons"] == [0, 4]
    assert [s["horizon_weeks"] for s in data["horizon_scores"]] == [0, 4]
    assert {p["horizon_weeks"] for p in data["periods"]} == {0, 4}
    text = runner.invoke(forecast_app, args)
    assert text.exit_code == 0, text.output
    flat = " ".join(text.output.split())
    assert "0 weeks ahead" in flat and "4 weeks ahead" in flat
    assert "run rate" in flat and "95% Wilson" in flat
    # What users would have seen (the method chosen on earlier windows), scored beside ours.
    assert "chosen by past error" in flat and "chosen (from earlier windows only)" in flat
    assert "P10–P90 coverage over all horizons" in flat
    assert data["coverage"]["chosen"]["n"] == sum(s["forecasts"] for s in data["horizon_scores"])
    assert all("chosen" in s["methods"] for s in data["horizon_scores"])
    # What users get now, per horizon, and why (or that the record cannot choose yet).
    assert [c["horizon_weeks"] for c in data["chosen_now"]] == [0, 4]
    assert all(c["reason"] and c["as_of"] for c in data["chosen_now"])
    assert "What users get now" in flat
    # Methods scored beside the others but never shown are marked so.
    assert "per-stage close-time baseline (scored only)" in flat
    assert "weighted pipeline (scored only)" in flat  # 4 weeks ahead
    for bad, message in (
        (["--horizons", "0,x"], "--horizons '0,x'"),
        (["--horizons", "200"], "--horizons: 200 is not between 0 and 104"),
        (["--export-date", "someday"], "--export-date"),
        (["--sealed", "-1"], "--sealed"),
    ):
        got = runner.invoke(forecast_app, ["backtest", "--data", str(tmp_path), "--no-log", *bad])
        assert got.exit_code == 2 and message in got.output, got.output
    got = runner.invoke(forecast_app, ["backtest", "--data", str(tmp_path), "--every", "day"])
    assert got.exit_code == 2 and "--every" in got.output


def test_track_keeps_the_forecast_history_and_backfills_by_week(imported: Cli):
    from tests.training.conftest import parsed

    one = parsed(imported("track", "--as-of", "2024-10-07", "--json"))
    assert one["ok"] and one["tracked"][0]["as_of"] == "2024-10-07" and one["tracked"][0]["lines"]
    weeks = parsed(imported("track", "--since", "2024-12-14", "--json"))
    assert [t["as_of"] for t in weeks["tracked"]] == ["2024-12-16", "2024-12-23", "2024-12-30"]


def test_track_refuses_a_bad_date_and_both_modes_at_once(imported: Cli):
    bad = imported("track", "--since", "2024-13-01")
    fails_cleanly(bad, 2, "since: '2024-13-01' is not a date")
    fails_cleanly(
        imported("track", "--since", "2024-10-01", "--as-of", "2024-10-07"), 2, "give one"
    )


def test_a_computed_revenue_forecast_names_its_currency_or_says_there_are_several(tmp_path):
    """Amounts in one currency: the forecast says which (as a tracked one does); in several,
    it names none and its notes say they were added unconverted."""
    import pandas as pd

    gen = generate_pipeline(600, seed=11, start="2023-01-01", end="2023-12-31")
    write_export(gen, tmp_path)
    deals = pd.read_csv(tmp_path / "opportunities.csv")
    runner = CliRunner()
    args = ["revenue", "--period", "2023-Q4", "--data", str(tmp_path), "--json"]
    for currencies, named in ((["EUR"], "EUR"), (["EUR", "USD"], None)):
        deals.assign(currency=[currencies[i % len(currencies)] for i in range(len(deals))]).to_csv(
            tmp_path / "opportunities.csv", index=False
        )
        out = runner.invoke(forecast_app, args)
        assert out.exit_code == 0, out.output
        data = json.loads(out.stdout)
        assert data["currency"] == named
        several = [n for n in data["notes"] if "currencies" in n]
        assert bool(several) == (named is None)


def test_revenue_shows_the_stored_targets_as_the_api_does(
    imported: Cli, state: Path, deals, tmp_path: Path
):
    """`forecast revenue` and `GET /v1/forecast` make the same call: the targets imported with
    `forecast targets import` show in both, with the same chance of reaching them (before: the
    command showed none)."""
    from fastapi.testclient import TestClient

    from forecast.settings import Settings
    from serving.app import create_app
    from tests.serving.conftest import auth, keys_of_every_role

    team = sorted(deals["team"].unique())[0]
    file = tmp_path / "targets.csv"
    file.write_text(
        f"level,name,period,amount\nall,total,2025-Q1,60000\nteam,{team},2025-Q1,9000\n"
    )
    assert imported("targets", "import", file).exit_code == 0

    said = parsed(imported("revenue", "--period", "2025-Q1", "--by", "team", "--json"))
    settings = Settings(state_dir=state)
    viewer = keys_of_every_role(settings)["viewer"]
    with TestClient(create_app(settings)) as client:
        response = client.get(
            "/v1/forecast", params={"period": "2025-Q1", "by": "team"}, headers=auth(viewer)
        )
    assert response.status_code == 200, response.text
    served = response.json()

    def reach(document: dict) -> dict:
        lines = [document["total"], *document["groups"]]
        return {g["group"]: (g["target"], g["p_target"]) for g in lines if g["target"] is not None}

    assert [(t["level"], t["name"], t["amount"]) for t in said["targets"]] == [
        ("all", "total", 60000.0),
        ("team", team, 9000.0),
    ]
    kept = ("level", "name", "period", "amount", "currency")
    assert [{k: t[k] for k in kept} for t in said["targets"]] == [
        {k: t[k] for k in kept} for t in served["targets"]
    ]
    assert set(reach(said)) == {"total", team}
    assert reach(said) == reach(served)
    assert said["total"]["expected"] == served["total"]["expected"]

    shown = imported("revenue", "--period", "2025-Q1", "--by", "team")
    total_row = next(r for r in shown.stdout.splitlines() if r.strip().startswith("total"))
    assert "60,000" in total_row and f"{reach(said)['total'][1]:.1%}" in total_row


def test_a_target_given_on_the_command_line_is_shown_in_place_of_the_stored_ones(
    imported: Cli, tmp_path: Path
):
    file = tmp_path / "targets.csv"
    file.write_text("level,name,period,amount\nall,total,2025-Q1,60000\n")
    assert imported("targets", "import", file).exit_code == 0
    said = parsed(imported("revenue", "--period", "2025-Q1", "--target", "75000", "--json"))
    assert [(t["level"], t["name"], t["amount"]) for t in said["targets"]] == [
        ("all", "total", 75000.0)
    ]
    assert said["total"]["target"] == 75000.0 and said["total"]["p_target"] is not None
    fails_cleanly(
        imported("revenue", "--period", "2025-Q1", "--target", "Team X=5000"),
        2,
        "target for 'Team X': a group's target needs the forecast per group",
    )


def test_a_forecast_of_a_period_already_over_is_shown_beside_what_it_won(tmp_path):
    """A manager reading 2023-Q3 after it ended sees its forecast as made at its start beside
    what it won, per team and in total, as the user's own sum of the won deals closed in it; a
    forecast as of the data's end knows nothing more and shows no actual."""
    import pandas as pd

    write_export(generate_pipeline(600, seed=11, start="2023-01-01", end="2023-12-31"), tmp_path)
    deals = pd.read_csv(tmp_path / "opportunities.csv", parse_dates=["closed_at"])
    won = deals[
        (deals["stage"] == "Won")
        & (deals["closed_at"] >= "2023-07-01")
        & (deals["closed_at"] < "2023-10-01")
    ]
    runner = CliRunner()
    args = ["revenue", "--period", "2023-Q3", "--data", str(tmp_path), "--by", "team"]
    data = json.loads(runner.invoke(forecast_app, [*args, "--json"]).stdout)
    assert data["as_of"] == "2023-07-01"
    assert data["actual"] == {
        "through": "2023-09-30",
        "complete": True,
        "total": pytest.approx(won["amount"].sum()),
        "groups": pytest.approx(won.groupby("team")["amount"].sum().to_dict()),
    }
    shown = runner.invoke(forecast_app, args)
    assert shown.exit_code == 0, shown.output
    assert "won (actual)" in shown.stdout
    off = data["total"]["expected"] / won["amount"].sum() - 1
    side = "above" if off > 0 else "below"
    assert f"2023-Q3 won {won['amount'].sum():,.0f} (to 2023-09-30, the whole period)" in (
        " ".join(shown.stdout.split())
    )
    assert f"{abs(off):.0%} {side} it" in shown.stdout

    now = runner.invoke(forecast_app, ["revenue", "--period", "2024-Q1", "--data", str(tmp_path)])
    assert now.exit_code == 0, now.output
    assert "won (actual)" not in now.stdout
    later = json.loads(
        runner.invoke(
            forecast_app, ["revenue", "--period", "2024-Q1", "--data", str(tmp_path), "--json"]
        ).stdout
    )
    assert later["actual"] is None
