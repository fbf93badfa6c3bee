"""A backtest on a Dask cluster gives the report it gives in process: the same forecasts at the
same origins, the same fits, the same chosen method; origins are grouped by refit.

One `LocalCluster` of two worker processes and one in-process backtest serve the module: a
generated export of 200 deals, monthly windows every week from November, at horizons 0 and 4
weeks, refitted every two weeks, per team (the first origins measure drift in sample, later ones
read the probes of earlier origins, which is what could differ if parts ran out of order).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.data.generator import generate_pipeline, write_export
from forecast.forecasting.backtest import backtest
from forecast.forecasting.backtest_report import BacktestReport
from forecast.forecasting.replay import refit_groups
from forecast.settings import get_settings

OPTIONS: dict[str, Any] = {
    "freq": "month",
    "every": "week",
    "horizons": (0, 4),
    "refit_weeks": 2,
    "sealed": 0,
    "by": "team",
    "start": "2024-11-04",
}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    write_export(generate_pipeline(200, seed=5), folder)
    return folder


def _history(export: Path) -> Any:
    """The export as `forecast backtest --data` reads it."""
    from training.forecast_cli import _load

    return _load(str(export), None, get_settings())["history"]


@pytest.fixture(scope="module")
def in_process(export: Path) -> BacktestReport:
    return backtest(_history(export), dataset="pipeline", **OPTIONS)


def _plain(report: dict[str, Any]) -> str:
    """A report as JSON, without how long it took."""
    return json.dumps({k: v for k, v in report.items() if k != "seconds"}, default=str)


def test_a_backtest_on_the_cluster_equals_the_one_in_process(client, export, in_process):
    on_cluster = backtest(_history(export), dataset="pipeline", client=client, **OPTIONS)
    table = in_process.forecast_table()
    assert len(table) and table["origin"].nunique() > 4
    pd.testing.assert_frame_equal(on_cluster.forecast_table(), table, check_exact=True)
    assert on_cluster.origins_fitted == in_process.origins_fitted < table["origin"].nunique()
    chosen = [p.chosen for p in in_process.periods]
    assert [p.chosen for p in on_cluster.periods] == chosen and any(chosen)
    assert _plain(on_cluster.to_dict()) == _plain(in_process.to_dict())


def test_the_backtest_command_on_a_cluster_prints_the_in_process_report(
    client, export, in_process, tmp_path, monkeypatch
):
    from training.cli import app

    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    args = [
        *("backtest", "--data", str(export), "--freq", "month", "--every", "week"),
        *("--horizons", "0,4", "--refit-weeks", "2", "--sealed", "0", "--by", "team"),
        *("--from", "2024-11-04", "--no-log", "--json"),
        *("--cluster", client.scheduler.address),
    ]
    result = CliRunner().invoke(app, args)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    for extra in ("mlflow_run_id", "track_record_saved", "track_record_note"):
        printed.pop(extra)
    assert _plain(printed) == _plain(json.loads(json.dumps(in_process.to_dict(), default=str)))


def test_origins_share_a_fit_until_it_is_refit_weeks_old():
    week = pd.Timedelta(days=7)
    start = pd.Timestamp("2024-01-01")
    origins = [start + k * week for k in (0, 1, 2, 3, 4, 9, 10)]
    assert refit_groups(origins, 1) == [[o] for o in origins]
    assert refit_groups(origins, 2) == [origins[0:2], origins[2:4], [origins[4]], origins[5:7]]
    assert refit_groups(origins, 8) == [origins[0:5], origins[5:7]]
    assert refit_groups([], 4) == []


def _close(a: Any, b: Any) -> bool:
    """`a == b`, numbers within a relative 1e-4 (at any depth of dicts and lists)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return a == pytest.approx(b, rel=1e-4)
    return a == b


@pytest.fixture
def no_whole_read_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to make a whole read of a dataset in this (the command's) process fail until the
    test ends; a slice read (the workers', in their own processes) goes through. A module that
    binds a reader on import while the test runs keeps the real one afterwards."""
    import forecast.history
    import forecast.parquet_export

    active = [False]

    def refusing(real: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            if active[0] and kwargs.get("ids") is None:
                raise AssertionError("the whole dataset was read in the command's process")
            return real(*args, **kwargs)

        return read

    def refuse() -> None:
        active[0] = True
        monkeypatch.setattr(
            forecast.parquet_export, "read_whole", refusing(forecast.parquet_export.read_whole)
        )
        monkeypatch.setattr(
            forecast.history, "load_deal_history", refusing(forecast.history.load_deal_history)
        )

    yield refuse
    active[0] = False


def test_a_parquet_export_is_backtested_on_the_workers_without_reading_it_here(
    client, tmp_path, no_whole_read_here
):
    """A canonical Parquet export on a cluster: the workers read it whole themselves; this
    process holds the deals' status and dates only, and the report is the in-process one."""
    from forecast.parquet_export import read_partitioned, read_whole, write_export

    data = generate_pipeline(200, seed=5)
    folder = tmp_path / "pipeline"
    write_export(data.opportunities, data.history, folder, row_group_rows=40)
    here = backtest(read_whole(folder), dataset="pipeline", **OPTIONS)

    no_whole_read_here()
    source = read_partitioned(client, folder)
    assert len(source.slices) > 1
    assert set(source.summary.deals.columns) <= {"status", "created_at", "closed_at", "updated_at"}
    there = backtest(source.summary, dataset="pipeline", client=client, source=source, **OPTIONS)
    table = here.forecast_table()
    assert len(table) and table["origin"].nunique() > 4
    pd.testing.assert_frame_equal(there.forecast_table(), table, check_exact=True)
    assert _plain(there.to_dict()) == _plain(here.to_dict())


def test_a_stored_dataset_is_backtested_on_the_workers_that_read_it_from_the_store(
    client, export, tmp_path, monkeypatch, no_whole_read_here
):
    """`forecast backtest --data NAME --cluster ...`: the workers read the stored dataset from
    the database; the command's process never reads it whole; the report is the in-process
    one's."""
    from training.cli import app

    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    cli = CliRunner()
    imported = cli.invoke(
        app, ["import", str(export), "--mapping", "canonical", "--dataset", "crm"]
    )
    assert imported.exit_code == 0, imported.output
    args = [
        *("backtest", "--data", "crm", "--freq", "month", "--every", "week"),
        *("--horizons", "0,4", "--refit-weeks", "2", "--sealed", "0", "--by", "team"),
        *("--from", "2024-11-04", "--no-log", "--json"),
    ]
    here = cli.invoke(app, args)
    assert here.exit_code == 0, here.output
    no_whole_read_here()
    there = cli.invoke(app, [*args, "--cluster", client.scheduler.address])
    get_settings.cache_clear()
    assert there.exit_code == 0, there.output
    printed = [json.loads(r.stdout) for r in (here, there)]
    for report in printed:
        for extra in ("mlflow_run_id", "track_record_saved", "track_record_note", "seconds"):
            report.pop(extra)
    # The same report, but for the last digits of a range: the store's whole read gives the deals
    # in its own order, the slices in the order of ids, and sums over deals round otherwise.
    assert printed[1]["periods"] and _close(printed[1], printed[0])
