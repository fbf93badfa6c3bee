"""The command line as a user runs it: each test on a fresh state folder (store, MLflow, keys)
named by FORECAST_STATE_DIR, a small generated export, and checks on what was printed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from forecast.data.generator import generate_pipeline, write_export
from forecast.settings import get_settings
from training.cli import app

Cli = Callable[..., Result]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state folder of this test's own, read through the settings as a user's would be."""
    folder = tmp_path / "state"
    monkeypatch.setenv("FORECAST_STATE_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def cli(state: Path) -> Cli:
    """`cli("kpis", "--json")` runs `forecast kpis --json` against this test's state folder."""
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A canonical export of 60 generated deals: opportunities.csv and stage_history.csv."""
    folder = tmp_path_factory.mktemp("export")
    write_export(generate_pipeline(60, seed=3), folder)
    return folder


@pytest.fixture(scope="session")
def deals(export: Path) -> pd.DataFrame:
    """The export's deals as the user's file holds them, read without the library."""
    return pd.read_csv(export / "opportunities.csv", parse_dates=["created_at", "closed_at"])


@pytest.fixture
def imported(cli: Cli, export: Path) -> Cli:
    """`cli` on a store holding the export as dataset 'pipeline'."""
    result = cli("import", export)
    assert result.exit_code == 0, result.output
    return cli


def parsed(result: Result) -> Any:
    """The JSON a command printed on stdout (and it succeeded)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fails_cleanly(result: Result, code: int, *said: str) -> None:
    """The command stopped on purpose with exit `code` (no exception escaped: no traceback) and
    said each of `said` on stderr (compared with the console's line wrapping undone)."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    stderr = " ".join(result.stderr.split())
    for text in said:
        assert text in stderr, result.stderr


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A Dask client of a LocalCluster of two worker processes, for a module's cluster runs."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as connected,
    ):
        yield connected
