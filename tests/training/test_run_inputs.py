"""A training run says what data it learnt from: the data as the run's MLflow dataset input
(context "training", and "holdout"), named after the dataset, with where it was read and a
digest; the data's first and last creation dates, its as-of date and its size as params; and
`forecast models show` prints them. (A data scientist could not tell from a run which data,
of which dates, made its model.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from forecast.data.generator import generate_leads, generate_pipeline, write_export, write_leads
from forecast.settings import get_settings
from tests.training.conftest import Cli, parsed


def _run(run_id: str) -> Any:
    from mlflow import MlflowClient

    uri = get_settings().resolved_mlflow_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri).get_run(run_id)


def _inputs(run: Any) -> dict[str, Any]:
    """The run's dataset inputs by context (read with MLflow's own client)."""
    out = {}
    for entry in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in entry.tags}
        out[tags["mlflow.data.context"]] = (entry.dataset, tags)
    return out


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _shown(cli: Cli, *args: str) -> str:
    out = cli("models", "show", *args)
    assert out.exit_code == 0, out.output
    return " ".join(out.stdout.split())


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_BOOTSTRAP_RESAMPLES", "100")
    get_settings.cache_clear()


def test_a_deals_run_records_its_data_its_holdout_and_their_dates(
    cli: Cli, tmp_path: Path, settings_env: None
) -> None:
    write_export(generate_pipeline(600, seed=5), tmp_path / "export")
    deals = pd.read_csv(
        tmp_path / "export" / "opportunities.csv",
        parse_dates=["created_at", "closed_at", "updated_at"],
    )
    summary = parsed(cli("train", "deals", "--data", tmp_path / "export", "--json"))
    reg = summary["registration"]
    run = _run(reg["run_id"])

    inputs = _inputs(run)
    assert set(inputs) == {"training", "holdout"}
    trained, tags = inputs["training"]
    assert trained.name == reg["dataset"] == summary["dataset"]
    assert trained.digest == summary["fingerprint"]  # the whole data's content
    assert (tmp_path / "export").resolve().as_uri() in trained.source
    assert tags["read_from"] == (tmp_path / "export").resolve().as_uri()
    assert '"num_rows": 600' in trained.profile  # the whole data counted, no row stored
    holdout, holdout_tags = inputs["holdout"]
    assert holdout.name == trained.name and holdout.digest != trained.digest
    assert holdout_tags["cut"] == summary["split"]["cut"]
    assert f'"num_rows": {summary["rows"]["test_deals"]}' in holdout.profile

    params = run.data.params
    assert params["data_first_created"] == _iso(deals["created_at"].min())
    assert params["data_last_created"] == _iso(deals["created_at"].max())
    assert params["data_as_of"] == _iso(deals["updated_at"].max())  # the export's date
    assert params["data_deals"] == "600"

    shown = _shown(cli, "deals")
    assert (
        f"data: created {_iso(deals['created_at'].min())} to {_iso(deals['created_at'].max())}"
        in shown
    )
    assert f"as of {_iso(deals['updated_at'].max())}, 600 deals" in shown
    assert f"input {reg['dataset']} (digest {summary['fingerprint']}" in shown
    assert parsed(cli("models", "show", "deals", "--json"))["inputs"][0]["context"] == "training"


def test_a_leads_run_records_its_data_and_the_first_and_last_lead(
    cli: Cli, tmp_path: Path, settings_env: None
) -> None:
    file = write_leads(generate_leads(1500, seed=2), tmp_path / "leads.csv")
    created = pd.to_datetime(pd.read_csv(file)["created_at"])
    summary = parsed(cli("train", "leads", "--data", file, "--no-cv", "--json"))
    reg = summary["registration"]
    run = _run(reg["run_id"])

    trained, _ = _inputs(run)["training"]
    assert trained.name == reg["dataset"] and trained.digest == summary["fingerprint"]
    assert "holdout" in _inputs(run)
    params = run.data.params
    assert params["data_first_created"] == _iso(created.min())
    assert params["data_last_created"] == _iso(created.max())
    assert params["data_leads"] == "1500"
    assert "data_as_of" not in params

    shown = _shown(cli, "leads")
    assert f"data: created {_iso(created.min())} to {_iso(created.max())}, 1,500 leads" in shown
    assert f"input {reg['dataset']} (digest {summary['fingerprint']}" in shown


def test_the_same_data_trained_from_the_store_is_the_same_input_read_from_the_store(
    cli: Cli, tmp_path: Path, settings_env: None
) -> None:
    """MLflow keeps one dataset per name and digest (with the source it was first logged with):
    the run's own input tag says where it read the data."""
    write_export(generate_pipeline(600, seed=5), tmp_path / "export")
    from_file = parsed(cli("train", "deals", "--data", tmp_path / "export", "--json"))
    assert cli("import", tmp_path / "export").exit_code == 0
    stored = parsed(cli("train", "deals", "--data", from_file["dataset"], "--json"))

    first, _ = _inputs(_run(from_file["registration"]["run_id"]))["training"]
    again, tags = _inputs(_run(stored["registration"]["run_id"]))["training"]
    assert (again.name, again.digest) == (first.name, first.digest)
    assert tags["read_from"].startswith(f"dataset {from_file['dataset']!r} in sqlite:///")


def test_a_stored_datasets_source_never_holds_the_store_password() -> None:
    from forecast.modeling.registry.inputs import store_source

    source = store_source("postgresql+psycopg://crm:s3cret@db:5432/forecast", "pipeline")
    assert "s3cret" not in source.said and "crm:***@db:5432/forecast" in source.said


def test_a_version_whose_run_logged_no_data_shows_no_data_line() -> None:
    """Runs logged before inputs were (or a notebook's, without data) show as before."""
    from training.run_data import print_data

    console = Console(record=True, width=200)
    print_data({"params": {"seed": "1"}, "inputs": []}, console)
    assert console.export_text() == ""
    print_data({"params": {"data_leads": "20"}, "inputs": []}, console)
    assert console.export_text() == "data: 20 leads\n"


@pytest.mark.slow
def test_cluster_runs_record_the_data_range_an_in_process_run_does(
    cli: Cli, client: Any, tmp_path: Path, settings_env: None
) -> None:
    """Deals read by partition from a Parquet export and leads read from the store on the
    workers: the command's process never holds the rows, yet the run says their range."""
    from forecast.parquet_export import write_export as write_parquet

    address = client.scheduler.address
    data = generate_pipeline(900, seed=4)
    folder = tmp_path / "pipeline"
    write_parquet(data.opportunities, data.history, folder, row_group_rows=200)
    here = parsed(cli("train", "deals", "--data", folder, "--json"))
    there = parsed(cli("train", "deals", "--data", folder, "--json", "--cluster", address))
    keys = ("data_first_created", "data_last_created", "data_as_of", "data_deals")
    ran = [_run(s["registration"]["run_id"]) for s in (here, there)]
    assert [{k: r.data.params[k] for k in keys} for r in ran] == [
        {k: ran[0].data.params[k] for k in keys}
    ] * 2
    assert ran[1].data.params["data_first_created"] == _iso(data.opportunities["created_at"].min())
    assert _inputs(ran[1])["training"][0].digest == there["fingerprint"]

    file = write_leads(generate_leads(1500, seed=8), tmp_path / "leads.csv")
    (tmp_path / "m.yaml").write_text(
        "kind: leads\ndataset: inbound\n"
        "columns: {id: id, converted: converted, created_at: created_at}\n"
    )
    assert cli("import", file, "--mapping", tmp_path / "m.yaml").exit_code == 0
    args = ("train", "leads", "--data", "inbound", "--no-cv", "--json")
    leads = [parsed(cli(*args)), parsed(cli(*args, "--cluster", address))]
    params = [_run(s["registration"]["run_id"]).data.params for s in leads]
    created = pd.to_datetime(pd.read_csv(file)["created_at"])
    for p in params:
        assert p["data_first_created"] == _iso(created.min())
        assert p["data_last_created"] == _iso(created.max())
        assert p["data_leads"] == "1500"


def test_a_time_to_close_run_records_its_data_its_holdout_and_their_dates(
    cli: Cli, tmp_path: Path, settings_env: None
) -> None:
    """`forecast timing` learns from deals: its run logs them as a deals run does, so a data
    scientist can tell which data, of which dates, made a time-to-close model."""
    write_export(generate_pipeline(600, seed=5), tmp_path / "export")
    deals = pd.read_csv(
        tmp_path / "export" / "opportunities.csv", parse_dates=["created_at", "updated_at"]
    )
    summary = parsed(cli("timing", "--data", tmp_path / "export", "--json"))
    reg = summary["registration"]
    run = _run(reg["run_id"])

    inputs = _inputs(run)
    assert set(inputs) == {"training", "holdout"}
    trained, tags = inputs["training"]
    assert trained.name == reg["dataset"] == summary["dataset"]
    assert trained.digest == summary["fingerprint"]
    assert (tmp_path / "export").resolve().as_uri() in trained.source
    assert tags["read_from"] == (tmp_path / "export").resolve().as_uri()
    assert '"num_rows": 600' in trained.profile
    holdout, holdout_tags = inputs["holdout"]
    assert holdout.name == trained.name and holdout.digest != trained.digest
    assert (holdout_tags["split"], holdout_tags["cut"]) == ("time", summary["split"]["cut"])
    # the deals open at the test landmarks, each counted once
    assert 0 < summary["rows"]["test_deals"] <= summary["rows"]["test_rows"]
    assert f'"num_rows": {summary["rows"]["test_deals"]}' in holdout.profile

    params = run.data.params
    assert params["data_first_created"] == _iso(deals["created_at"].min())
    assert params["data_last_created"] == _iso(deals["created_at"].max())
    assert params["data_as_of"] == _iso(deals["updated_at"].max())
    assert params["data_deals"] == "600"

    shown = _shown(cli, "timing")
    assert f"as of {_iso(deals['updated_at'].max())}, 600 deals" in shown
    assert f"input {reg['dataset']} (digest {summary['fingerprint']}" in shown


def test_a_backtest_run_records_the_data_it_replayed_as_the_models_run_does(
    cli: Cli, tmp_path: Path, settings_env: None
) -> None:
    """A backtest fits and scores on the data, origin by origin: its run logs the data as a
    training run's (context "backtest"), the same MLflow dataset as a model learnt from it."""
    write_export(generate_pipeline(600, seed=5), tmp_path / "export")
    created = pd.read_csv(tmp_path / "export" / "opportunities.csv")["created_at"]
    timing = parsed(cli("timing", "--data", tmp_path / "export", "--json"))
    window = ("--from", "2024-Q3", "--to", "2024-Q3", "--every", "period")
    replay = parsed(cli("backtest", "--data", tmp_path / "export", *window, "--json"))
    run = _run(replay["mlflow_run_id"])

    inputs = _inputs(run)
    assert set(inputs) == {"backtest"}
    replayed, tags = inputs["backtest"]
    trained, _ = _inputs(_run(timing["registration"]["run_id"]))["training"]
    assert (replayed.name, replayed.digest) == (trained.name, trained.digest)
    assert replayed.digest == timing["fingerprint"] == run.data.tags["data_fingerprint"]
    assert tags["read_from"] == (tmp_path / "export").resolve().as_uri()
    assert '"num_rows": 600' in replayed.profile
    params = run.data.params
    assert params["data_first_created"] == _iso(pd.to_datetime(created).min())
    assert params["data_deals"] == "600"
    assert params["freq"] == "quarter"  # the backtest's own params stay
