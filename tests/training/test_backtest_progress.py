"""`forecast backtest` shows it is moving: with `--progress` (the default when stderr is a
terminal) a line per fitted origin on stderr, numbered against the total, while stdout (the
JSON or the tables) is what it is without."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from forecast.data.generator import generate_pipeline, write_export
from training.forecast_cli import forecast_app

TIMED = re.compile(r"^\[ *\d+\.\d s\] ")


def test_progress_lines_go_to_stderr_and_leave_the_json_alone(tmp_path):
    gen = generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31")
    write_export(gen, tmp_path)
    args = ["backtest", "--data", str(tmp_path), "--no-log", "--freq", "month", "--every", "week"]
    args += ["--from", "2023-08-01", "--to", "2023-09-30", "--horizons", "0,4", "--json"]
    runner = CliRunner()

    shown = runner.invoke(forecast_app, [*args, "--progress"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)  # stdout is still exactly one JSON document
    lines = shown.stderr.splitlines()
    assert lines and all(TIMED.match(line) for line in lines), lines
    fits = [line for line in lines if " fit " in line]
    total = len(fits)
    assert total > 1
    assert [re.search(r"fit (\d+) of (\d+):", f).groups() for f in fits] == [
        (str(i), str(total)) for i in range(1, total + 1)
    ]
    assert all("as of 20" in f and "forecasts" in f for f in fits)

    # Not a terminal and not asked for: nothing on stderr, the same document on stdout.
    plain = runner.invoke(forecast_app, args)
    assert plain.exit_code == 0, plain.output
    assert "fit 1 of" not in plain.stderr
    again = json.loads(plain.stdout)
    assert again.keys() == data.keys()
    assert again["periods"] == data["periods"]
    assert again["horizon_scores"] == data["horizon_scores"]
