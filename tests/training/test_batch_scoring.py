"""`forecast score`: every open deal or lead scored in one batch, in process or on a Dask cluster.

One store per module (a generated export of deals and generated leads, imported with the CLI)
and one `LocalCluster` of two worker processes. The deal champion is a small LightGBM model
fitted here and handed to the loader in place of the registry's (training and registering one
through MLflow takes a minute); leads have no champion, so the API's fallback scores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from forecast import batch_output, batch_scoring
from forecast import features as feat
from forecast.batch_scoring import COLUMNS
from forecast.data.generator import generate_leads, generate_pipeline, write_export, write_leads
from forecast.history import DealHistory
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.registry import LoadedModel
from forecast.settings import get_settings
from tests.training.conftest import fails_cleanly, parsed
from training.cli import app

LEADS_MAPPING = """\
kind: leads
dataset: gen_leads
columns:
  id: id
  converted: converted
  created_at: created_at
leak_columns: [Tags]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Dask cluster of two worker processes; its scheduler's address."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated deal export (300 deals) and generated leads (600), as a user's files."""
    folder = tmp_path_factory.mktemp("exports")
    write_export(generate_pipeline(300, seed=11), folder / "deals")
    write_leads(generate_leads(600, seed=5), folder / "leads" / "leads.csv")
    (folder / "leads.yaml").write_text(LEADS_MAPPING)
    return {
        "deals": folder / "deals",
        "leads": folder / "leads" / "leads.csv",
        "leads_mapping": folder / "leads.yaml",
    }


def _champion(files: dict[str, Path]) -> BoostedClassifier:
    """A small LightGBM deal model fitted on the export's as-of training rows."""
    g = generate_pipeline(300, seed=11)
    history = DealHistory.from_frames(g.opportunities, g.history, g.stages)
    rows = feat.deal_training_rows(history)
    model = BoostedClassifier(n_estimators=60, min_child_samples=10, n_jobs=1, random_state=0)
    return model.fit(feat.deal_features(rows, history.left_out), rows["won"], rows["weight"])


@pytest.fixture(scope="module")
def cli(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]
) -> Iterator[tuple[CliRunner, Path]]:
    """A store of this module's own holding both exports, with a deal champion; `run(...)`."""
    state = tmp_path_factory.mktemp("state")
    model = _champion(files)

    def load_champion(
        kind: str, settings: object = None, dataset: str | None = None
    ) -> LoadedModel | None:
        if kind == "deals" and dataset == "pipeline":  # the champion of the dataset scored
            path = state / "model.joblib"
            return LoadedModel("deals", "7", model, path, "registry", dataset=dataset)
        return None

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECAST_STATE_DIR", str(state))
        mp.delenv("FORECAST_DASK_SCHEDULER", raising=False)
        mp.setattr(batch_scoring.registry, "load_champion", load_champion)
        get_settings.cache_clear()
        runner = CliRunner()
        for args in (
            ["import", str(files["deals"])],
            ["import", str(files["leads"]), "--mapping", str(files["leads_mapping"])],
        ):
            done = runner.invoke(app, args)
            assert done.exit_code == 0, done.output
        yield runner, state
    get_settings.cache_clear()


def run(cli: tuple[CliRunner, Path], *args: object) -> Result:
    return cli[0].invoke(app, [str(a) for a in args])


def _scores(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def test_deals_scored_on_the_cluster_equal_those_scored_in_process_row_for_row(
    cli, cluster, files, tmp_path
):
    here, there = tmp_path / "here.parquet", tmp_path / "there.parquet"
    a = parsed(run(cli, "score", "--kind", "deals", "--out", here, "--json"))
    b = parsed(
        run(
            cli,
            *("score", "--kind", "deals", "--out", there, "--json"),
            *("--cluster", cluster, "--partition-rows", 4),
        )
    )
    assert a["where"] == "in process" and b["where"] == "on a Dask cluster of 2 workers"
    assert b["partitions"] > 2  # the store read by slices of deals on the workers
    assert a["as_of"] == b["as_of"] and a["rows"] == b["rows"]
    _assert_same_scores(here, there)


def _assert_same_scores(here: Path, there: Path) -> None:
    """Both files hold the same rows, whatever their order (a cluster reading the store by
    partition takes the deals in the database's order of ids)."""
    mine, theirs = (_scores(p).sort_values("id", ignore_index=True) for p in (here, there))
    assert list(mine.columns) == list(COLUMNS)
    assert mine["id"].tolist() == theirs["id"].tolist()
    np.testing.assert_allclose(mine["probability"], theirs["probability"], rtol=0, atol=1e-12)
    for col in ("score", "grade", "model", "version", "method", "reasons_for", "reasons_against"):
        assert mine[col].tolist() == theirs[col].tolist(), col


@pytest.mark.parametrize("name", ["pipeline", "elsewhere"])
def test_a_parquet_export_is_read_and_scored_by_partition_on_the_cluster(
    cli, cluster, tmp_path, name
):
    """The workers read the export's slices and build and score their open deals there: the
    rows an in-process run scores, by the champion or (a dataset without one) by the per-stage
    win rates summed over the slices."""
    from forecast.parquet_export import write_export as write_parquet

    g = generate_pipeline(300, seed=11)
    write_parquet(g.opportunities, g.history, tmp_path / name, row_group_rows=50)
    here, there = tmp_path / "here.parquet", tmp_path / "there.parquet"
    args = ("score", "--kind", "deals", "--data", tmp_path / name, "--json")
    a = parsed(run(cli, *args, "--out", here))
    b = parsed(run(cli, *args, "--out", there, "--cluster", cluster))
    assert b["where"] == "on a Dask cluster of 2 workers" and b["partitions"] > 2
    assert a["as_of"] == b["as_of"] and a["rows"] == b["rows"] > 10
    assert a["method"] == b["method"] == ("model" if name == "pipeline" else "stage_win_rate")
    _assert_same_scores(here, there)


def test_every_deal_open_at_the_datas_end_is_scored_by_the_champion_with_reasons(
    cli, files, tmp_path
):
    out = tmp_path / "deals.parquet"
    summary = parsed(run(cli, "score", "--kind", "deals", "--out", out, "--reasons", 2, "--json"))
    deals = pd.read_csv(files["deals"] / "opportunities.csv")
    still_open = deals.loc[deals["closed_at"].isna(), "id"].astype(str)
    scores = _scores(out)
    assert sorted(scores["id"]) == sorted(still_open) and len(still_open) > 10
    assert summary["as_of"].startswith("2025-01-01")  # the day after the export's last record
    assert set(scores["model"]) == {"close-probability.pipeline"}
    assert set(scores["version"]) == {"7"}
    assert set(scores["method"]) == {"model"}
    assert scores["probability"].between(0, 1).all()
    assert scores["score"].between(0, 100).all()
    reasons = [json.loads(r) for r in scores["reasons_for"]] + [
        json.loads(r) for r in scores["reasons_against"]
    ]
    assert all(len(r) <= 2 for r in reasons)
    assert any(r and {"field", "sentence", "contribution"} <= set(r[0]) for r in reasons)


def test_without_reasons_every_row_has_none(cli, tmp_path):
    out = tmp_path / "bare.parquet"
    parsed(run(cli, "score", "--kind", "deals", "--out", out, "--reasons", 0, "--json"))
    scores = _scores(out)
    assert len(scores) and set(scores["reasons_for"]) == set(scores["reasons_against"]) == {"[]"}


def test_leads_without_a_champion_are_scored_by_the_apis_fallback_and_it_says_so(
    cli, cluster, files, tmp_path
):
    out = tmp_path / "leads.parquet"
    summary = parsed(
        run(cli, "score", "--kind", "leads", "--out", out, "--cluster", cluster, "--json")
    )
    leads = pd.read_csv(files["leads"])
    scores = _scores(out)
    assert scores["id"].tolist() == leads["id"].astype(str).tolist()
    assert set(scores["method"]) == {"base_rate"} and scores["version"].isna().all()
    np.testing.assert_allclose(scores["probability"], leads["converted"].mean(), atol=1e-12)
    assert "fallback" in summary["label"]
    assert any("no leads model is registered as champion" in n for n in summary["notes"])
    # One rate for every lead ranks nothing: no grade, and each row and the summary say why.
    said = "no model yet: every lead has the base rate; no grade"
    assert scores["grade"].isna().all()
    assert set(scores["notes"]) == {json.dumps([said])}
    assert any(said in n for n in summary["notes"])


def test_store_keeps_one_batch_per_dataset_and_kind_the_latest(cli, tmp_path):
    from forecast.data import store

    first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
    parsed(run(cli, "score", "--kind", "deals", "--out", first, "--store", "--json"))
    again = parsed(
        run(cli, "score", "--kind", "deals", "--out", second, "--store", "--reasons", 0, "--json")
    )
    engine = store.get_engine(get_settings())
    kept = batch_output.stored_batch(engine, "pipeline", "deals")
    assert again["stored"] == len(kept) == len(_scores(second))
    assert kept["id"].tolist() == _scores(second)["id"].tolist()
    assert set(kept["reasons_for"]) == {"[]"}  # the second batch's, not the first's
    assert kept["notes"].tolist() == _scores(second)["notes"].tolist()
    assert all(isinstance(json.loads(n), list) for n in kept["notes"])


def test_a_csv_out_holds_the_parquets_rows_for_a_spreadsheet_and_is_stored_alike(cli, tmp_path):
    """A sales user asked for scores.csv and was refused: it now holds what the Parquet file
    holds (the same columns, a header row, UTF-8; reasons and notes the same JSON text), a
    blank cell where there is no grade, and `--store` keeps its rows."""
    from forecast.data import store

    parquet, csv = tmp_path / "scores.parquet", tmp_path / "scores.csv"
    parsed(run(cli, "score", "--kind", "deals", "--out", parquet, "--reasons", 2, "--json"))
    summary = parsed(
        run(cli, "score", "--kind", "deals", "--out", csv, "--reasons", 2, "--store", "--json")
    )
    assert summary["out"] == str(csv)
    text = csv.read_text(encoding="utf-8")
    assert text.splitlines()[0].replace('"', "").split(",") == list(COLUMNS)
    # Read as a spreadsheet or pandas would read it, not by the code that wrote it.
    read = pd.read_csv(csv, dtype={"id": str, "version": str})
    assert len(read) == summary["rows"] == summary["stored"] > 10
    pd.testing.assert_frame_equal(read, _scores(parquet), check_dtype=False)
    assert any(json.loads(r) for r in read["reasons_for"])
    kept = batch_output.stored_batch(store.get_engine(get_settings()), "pipeline", "deals")
    assert kept["id"].tolist() == read["id"].tolist()
    assert kept["reasons_for"].tolist() == read["reasons_for"].tolist()
    # A batch without grades (the leads' one rate) leaves the cell blank, as in the Parquet.
    leads = tmp_path / "leads.csv"
    parsed(run(cli, "score", "--kind", "leads", "--out", leads, "--json"))
    assert pd.read_csv(leads)["grade"].isna().all()


def test_bad_inputs_name_the_option_without_a_traceback(cli, tmp_path):
    out = tmp_path / "x.parquet"
    fails_cleanly(
        run(cli, "score", "--kind", "deals", "--out", out, "--data", "nope"),
        2,
        "--data: no dataset named 'nope'",
    )
    fails_cleanly(
        run(cli, "score", "--kind", "deals", "--out", out, "--data", tmp_path / "gone.parquet"),
        2,
        "--data: no file or folder at",
    )
    fails_cleanly(
        run(cli, "score", "--kind", "leads", "--out", out, "--data", "pipeline"),
        2,
        "--kind leads: dataset 'pipeline' holds opportunities; use --kind deals",
    )
    fails_cleanly(
        run(cli, "score", "--kind", "deals", "--out", tmp_path / "x.xlsx"),
        2,
        "--out: ",
        "is neither a .parquet nor a .csv file name",
    )
    fails_cleanly(
        run(cli, "score", "--kind", "deals", "--out", out, "--cluster", "nowhere"),
        2,
        "--cluster / FORECAST_DASK_SCHEDULER: 'nowhere' is neither 'local' nor",
    )
    wrong = run(cli, "score", "--kind", "opportunities", "--out", out)
    assert wrong.exit_code == 2 and "--kind" in wrong.output and "Traceback" not in wrong.output
    assert not out.exists()


def test_no_model_and_nothing_to_fall_back_on_is_said(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()
    leads = generate_leads(50, seed=2).assign(converted=np.nan)
    write_leads(leads, tmp_path / "unlabelled" / "leads.csv")
    (tmp_path / "m.yaml").write_text(LEADS_MAPPING)
    runner = CliRunner()
    monkeypatch.setattr(batch_scoring.registry, "load_champion", lambda *a, **k: None)
    result = runner.invoke(
        app,
        [
            *("score", "--kind", "leads", "--out", str(tmp_path / "s.parquet")),
            *("--data", str(tmp_path / "unlabelled" / "leads.csv")),
            *("--mapping", str(tmp_path / "m.yaml")),
        ],
    )
    get_settings.cache_clear()
    fails_cleanly(result, 1, "no lead model and no labelled leads to fall back on")


def test_a_parquet_file_of_leads_is_scored_without_being_imported(cli, files, tmp_path):
    leads = pd.read_csv(files["leads"]).head(40)
    leads.to_parquet(tmp_path / "leads.parquet")
    out = tmp_path / "from_file.parquet"
    summary = parsed(
        run(
            cli,
            *("score", "--kind", "leads", "--data", tmp_path / "leads.parquet"),
            *("--mapping", files["leads_mapping"], "--out", out, "--json"),
        )
    )
    assert summary["rows"] == 40 and summary["dataset"] == "gen_leads"
    assert _scores(out)["id"].tolist() == leads["id"].astype(str).tolist()


def test_stored_leads_are_read_and_scored_by_slice_on_the_cluster(
    cli, cluster, tmp_path, monkeypatch
):
    """`forecast score --kind leads --cluster ...` on a stored leads dataset: the workers read
    their slices of leads from the store and score them there, the command's process never
    reads them whole, and the rows are those an in-process run scores, reasons included."""
    from forecast.data import store
    from forecast.modeling.lead_fitting import train_leads

    leads = store.load_leads(store.get_engine(get_settings()), "gen_leads")
    model = train_leads(leads, leak_columns=["Tags"], cross_validate=False).model
    others = batch_scoring.registry.load_champion

    def load_champion(kind: str, settings: object = None, dataset: str | None = None):
        if kind == "leads":
            return LoadedModel("leads", "3", model, tmp_path / "m", "registry", dataset=dataset)
        return others(kind, settings, dataset)

    monkeypatch.setattr(batch_scoring.registry, "load_champion", load_champion)
    here, there = tmp_path / "here.parquet", tmp_path / "there.parquet"
    args = ("score", "--kind", "leads", "--data", "gen_leads", "--reasons", 3, "--json")
    a = parsed(run(cli, *args, "--out", here))

    from forecast.data import store_reads

    real, reading = store_reads.load_leads, [True]

    def refused(engine: object, dataset: str, ids: object = None, **kw: Any) -> Any:
        if reading[0] and ids is None:
            raise AssertionError("the leads were read whole in the command's process")
        return real(engine, dataset, ids, **kw)  # a slice, or after this test

    monkeypatch.setattr(store, "load_leads", refused)
    monkeypatch.setattr(store_reads, "load_leads", refused)
    b = parsed(run(cli, *args, "--out", there, "--cluster", cluster))
    assert b["where"] == "on a Dask cluster of 2 workers" and b["partitions"] > 1
    assert a["rows"] == b["rows"] == 600 and a["method"] == b["method"] == "model"
    assert a["version"] == b["version"] == "3"
    reading[0] = False
    _assert_same_scores(here, there)


def test_slices_of_stored_leads_are_typed_as_the_whole_dataset_is(cli, cluster):
    """An attribute that holds only numbers in one slice and text in another is text in every
    slice, as in a whole read (a category read as 3.0 in one slice and "3" in another would be
    two values to the model)."""
    from distributed import Client

    from forecast.data import store
    from forecast.data.tables import leads as leads_table
    from forecast.store_slices import lead_slices

    engine = store.get_engine(get_settings())
    with engine.begin() as conn:  # one lead (the last id) says "n/a" for its visits
        last = conn.execute(
            leads_table.select()
            .where(leads_table.c.dataset == "gen_leads")
            .order_by(leads_table.c.id.desc())
            .limit(1)
        ).one()
        attributes = {**last.attributes, "TotalVisits": "n/a"}
        conn.execute(
            leads_table.update()
            .where(leads_table.c.dataset == "gen_leads", leads_table.c.id == last.id)
            .values(attributes=attributes)
        )
    try:
        whole = store.load_leads(engine, "gen_leads")
        with Client(cluster) as client:
            slices = lead_slices(client, engine, "gen_leads")
        pieces = [part.read() for part in slices]
        assert len(pieces) > 1 and "TotalVisits" in slices[0].text
        assert pd.api.types.is_numeric_dtype(pieces[0]["TotalVisits"]) is False
        joined = pd.concat(pieces, ignore_index=True).sort_values("id", ignore_index=True)
        mine = whole.sort_values("id", ignore_index=True)[list(joined.columns)]
        pd.testing.assert_frame_equal(joined, mine, check_dtype=False)
    finally:
        with engine.begin() as conn:
            conn.execute(
                leads_table.update()
                .where(leads_table.c.dataset == "gen_leads", leads_table.c.id == last.id)
                .values(attributes=last.attributes)
            )
