"""Training on a Dask cluster (`forecast train ... --cluster`): the same rows, the same model
and the same registration as in process. One LocalCluster of two worker processes serves the
module; the commands reach it by its scheduler address, as they would an existing cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import dask_rows
from forecast import features as feat
from forecast.data.fingerprint import fingerprint
from forecast.data.generator import generate_pipeline, write_export
from forecast.history import DealHistory
from forecast.modeling import dask_boosting
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier
from forecast.settings import get_settings
from tests.training.conftest import Cli, parsed

pytestmark = pytest.mark.slow


def _history(n: int, seed: int) -> DealHistory:
    data = generate_pipeline(n, seed=seed)
    deals = data.opportunities.copy()
    # Some deals without a rep or account: their win rates are the overall rate.
    deals.loc[deals.index % 17 == 0, "owner"] = None
    deals.loc[deals.index % 13 == 0, "account"] = None
    return DealHistory.from_frames(deals, data.history, data.stages)


def test_rows_built_partition_by_partition_equal_the_in_process_rows(client) -> None:
    history = _history(900, seed=5)
    cut, created_before = pd.Timestamp("2024-06-01"), pd.Timestamp("2024-04-15")
    expected_train = feat.deal_training_rows(
        history, every_days=14, known_before=cut, created_before=created_before
    )
    expected_test = feat.deal_rows_after(history, cut, every_days=14)

    rows = dask_rows.build_rows(
        client, history, every_days=14, cut=cut, created_before=created_before, parts=3
    )
    sizes = [len(f.result()) for f in rows.train]
    assert len(sizes) == 3 and all(n > 0 for n in sizes)
    train = dask_rows.gather_rows(client, rows.train)
    test = dask_rows.gather_rows(client, rows.test)

    pd.testing.assert_frame_equal(train, expected_train.reset_index(drop=True))
    pd.testing.assert_frame_equal(test, expected_test.reset_index(drop=True))
    assert rows.train_rows == len(expected_train)
    labels = expected_train.drop_duplicates("id")["won"].to_numpy()
    np.testing.assert_array_equal(rows.deal_labels, labels)


def test_a_partition_sees_the_closes_of_deals_held_by_other_partitions(client) -> None:
    history = _history(300, seed=8)
    cut, created_before = pd.Timestamp("2024-09-01"), pd.Timestamp("2024-08-01")
    rows = dask_rows.build_rows(
        client, history, every_days=14, cut=cut, created_before=created_before, parts=3
    )
    last = rows.train[-1].result()
    alone = feat.deal_training_rows(
        dask_rows.split_history(history, 3)[-1],
        every_days=14,
        known_before=cut,
        created_before=created_before,
    )
    # The last slice's reps closed deals in the other slices too: counted on the cluster, not
    # when the slice is read alone.
    assert (last["rep_closed_deals"].to_numpy() > alone["rep_closed_deals"].to_numpy()).any()


def test_a_booster_fitted_on_the_cluster_from_one_partition_is_the_in_process_one(client) -> None:
    history = _history(4000, seed=2)
    rows = feat.deal_training_rows(
        history, every_days=14, known_before="2024-07-01", created_before="2024-05-15"
    )
    X, y = feat.deal_features(rows), rows["won"].to_numpy(float)
    w, groups = rows["weight"].to_numpy(), rows["id"].to_numpy()
    template = PerTeamClassifier(BoostedClassifier(n_jobs=1), min_won=150, min_lost=150)
    local = PerTeamClassifier(BoostedClassifier(n_jobs=1), min_won=150, min_lost=150).fit(
        X, y, w, groups
    )
    data = dask_boosting.scatter_matrix(client, X, y, w, groups, parts=1)
    remote = dask_boosting.fit_per_team(client, template, data)

    assert remote.global_.best_iteration_ == local.global_.best_iteration_
    assert remote.global_.calibrator_ == local.global_.calibrator_
    assert remote.team_report_ == local.team_report_
    assert any("auc_team" in e for e in local.team_report_.values())
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), rtol=1e-12)


def test_a_booster_fitted_from_one_compact_deal_part_is_the_in_process_one(client) -> None:
    """The deal rows' part kept on the workers (text as categoricals, one id object a deal) and
    its split by masks fit the booster, calibrator and team models the rows fit in process."""
    from forecast.modeling.dask_training import DaskEngine, deal_matrix_part

    history = _history(4000, seed=2)
    rows = feat.deal_training_rows(
        history, every_days=14, known_before="2024-07-01", created_before="2024-05-15"
    )
    X, y = feat.deal_features(rows), rows["won"].to_numpy(float)
    w, groups = rows["weight"].to_numpy(), rows["id"].to_numpy()
    local = PerTeamClassifier(BoostedClassifier(n_jobs=1), min_won=150, min_lost=150).fit(
        X, y, w, groups
    )
    part = deal_matrix_part(rows, frozenset())
    assert any(isinstance(part[c].dtype, pd.CategoricalDtype) for c in part)
    engine = DaskEngine(client, "test")
    [shipped] = client.scatter([rows])
    engine._matrix = engine._matrix_of([client.submit(deal_matrix_part, shipped, frozenset())])
    template = PerTeamClassifier(BoostedClassifier(n_jobs=1), min_won=150, min_lost=150)
    remote = engine.fit_boosted(template, X, y, w, groups)

    trees = [m.global_.booster_.dump_model()["tree_info"] for m in (remote, local)]
    assert trees[0] == trees[1]
    assert remote.global_.calibrator_ == local.global_.calibrator_
    assert remote.team_report_ == local.team_report_
    assert any("auc_team" in e for e in local.team_report_.values())
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), rtol=1e-12)


@pytest.fixture(scope="module")
def export_50k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deals50k")
    write_export(generate_pipeline(50_000, seed=21), folder)
    return folder


def _run_params(settings_dir: Path) -> list[dict[str, str]]:
    import mlflow

    from forecast.modeling.registry import client as registry_client

    settings = get_settings()
    assert settings.state_dir == settings_dir
    with registry_client._mlflow(settings) as mlflow_client:
        exps = [e.experiment_id for e in mlflow_client.search_experiments()]
        runs = mlflow.search_runs(exps, output_format="list")
    return [
        {"params": r.data.params, "metrics": sorted(r.data.metrics), "tags": r.data.tags}
        for r in sorted(runs, key=lambda r: r.info.start_time)
    ]


def test_training_50000_deals_on_the_cluster_matches_in_process_and_registers(
    client, cli: Cli, state: Path, export_50k: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECAST_LGBM_THREADS", "2")
    monkeypatch.setenv("FORECAST_BOOTSTRAP_RESAMPLES", "200")
    # Per-team models are compared with in-process ones above; one global booster here.
    monkeypatch.setenv("FORECAST_TEAM_MIN_WON_DEALS", "100000")
    get_settings.cache_clear()
    address = client.scheduler.address

    here = parsed(cli("train", "deals", "--data", export_50k, "--json", "--seed", "7"))
    there = parsed(
        cli("train", "deals", "--data", export_50k, "--json", "--seed", "7", "--cluster", address)
    )

    assert there["rows"] == here["rows"]
    assert there["split"] == here["split"]
    auc_here = here["families"]["lightgbm"]["roc_auc"]
    auc_there = there["families"]["lightgbm"]["roc_auc"]
    assert abs(auc_there - auc_here) <= 0.005, (auc_here, auc_there)
    assert abs(there["metrics"]["model"]["roc_auc"] - here["metrics"]["model"]["roc_auc"]) <= 0.005
    # The baselines learnt from the same rows: the same holdout scores.
    assert there["metrics"]["stage_win_rate"] == here["metrics"]["stage_win_rate"]

    assert here["registration"]["version"] == "1"
    assert there["registration"]["version"] == "2"
    assert there["registration"]["reasons"]  # the same promotion gate said why
    first, second = _run_params(state)
    assert first["params"]["engine"] == "in-process"
    assert second["params"]["engine"] == "dask"
    assert second["params"]["dask_scheduler"] == address
    # The same metric names (the second run also scored the first model, as champion).
    assert [m for m in second["metrics"] if "champion" not in m] == first["metrics"]
    assert second["tags"]["decision"] and second["tags"]["kind"] == "deals"


@pytest.fixture(scope="module")
def parquet_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A canonical Parquet export of 900 generated deals, in small row groups."""
    from forecast.parquet_export import write_export

    data = generate_pipeline(900, seed=4)
    folder = tmp_path_factory.mktemp("parquet") / "pipeline"
    write_export(data.opportunities, data.history, folder, row_group_rows=200)
    return folder


def test_a_parquet_export_read_by_partition_gives_the_in_process_rows(
    client, parquet_export: Path
) -> None:
    from forecast.data.fingerprint import fingerprint
    from forecast.parquet_export import read_partitioned, read_whole

    whole = read_whole(parquet_export)
    source = read_partitioned(client, parquet_export, parts=3)
    # Here: the deals only; the stage history stayed on the workers, slice by slice.
    assert len(source.summary.stage_log) == 0
    pieces = [part.read() for part in source.slices]  # read where a task needs them
    assert [len(p.deals) for p in pieces] == [300, 300, 300]
    logs = pd.concat([p.stage_log for p in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(logs, whole.stage_log.reset_index(drop=True))
    assert source.summary.left_out == whole.left_out
    assert source.fingerprint == fingerprint(whole.deals, whole.stage_log)

    _assert_same_rows(client, whole, source)


def test_a_partitioned_read_finds_the_leaks_of_a_whole_read(client, tmp_path: Path) -> None:
    """The export-state leak check over slices: the same fields left out with the same notes as
    on the whole export, and this process keeps four columns of the deals only."""
    from forecast.parquet_export import SUMMARY_COLUMNS, read_partitioned, read_whole, write_export

    data = generate_pipeline(1500, seed=6)
    deals = data.opportunities.copy()
    rng = np.random.default_rng(0)
    is_open = (deals["status"] == "open").to_numpy()
    # A category that names the outcome, an account blank on open deals only, and a blank
    # that says nothing (the same share of open and closed deals).
    deals["forecast_category"] = np.where(
        is_open, rng.choice(["Pipeline", "Commit"], len(deals)), "Closed"
    )
    deals["account"] = deals["account"].astype(object).where(~is_open, None)
    deals["sector"] = deals["sector"].astype(object).where(rng.random(len(deals)) > 0.2, None)
    deals["owner"] = None  # no deal has an owner: the reps' win rates would be the overall one
    folder = tmp_path / "leaky"
    write_export(deals, data.history, folder, row_group_rows=250)

    whole = read_whole(folder)
    assert {"forecast_category", "account", "owner"} <= whole.left_out
    source = read_partitioned(client, folder, parts=4)
    assert source.summary.left_out == whole.left_out
    assert source.summary.leak_notes == whole.leak_notes
    kept = [*SUMMARY_COLUMNS, "updated_at"]
    assert list(source.summary.deals.columns) == kept
    pd.testing.assert_frame_equal(source.summary.deals, whole.deals[kept])
    assert source.fingerprint == fingerprint(whole.deals, whole.stage_log)
    assert source.end == whole.end and source.has_calls  # the forecast category is a call
    # The slices read on the workers leave the same fields out of the rows.
    _assert_same_rows(client, whole, source)


def test_a_partitioned_read_takes_each_close_from_the_stage_history_as_a_whole_read(
    client, tmp_path: Path
) -> None:
    """A deals file whose close dates are not the history's (a Zoho "Closing Date" left at the
    expected date): the summary this process keeps holds the closes the slices' stage histories
    give, as a whole read's `final_deals` does, so the holdout cut and the rows agree."""
    from forecast.parquet_export import SUMMARY_COLUMNS, read_partitioned, read_whole, write_export

    data = generate_pipeline(900, seed=8)
    deals = data.opportunities.copy()
    closed = deals["status"].isin(["won", "lost"]) & (deals.index % 3 == 0)
    deals.loc[closed, "closed_at"] = deals.loc[closed, "closed_at"] + pd.Timedelta(days=45)
    folder = tmp_path / "zoho"
    write_export(deals, data.history, folder, row_group_rows=200)

    whole = read_whole(folder)
    kept = [*SUMMARY_COLUMNS, "updated_at"]
    file_close = whole.deals["closed_at"]
    moved = file_close.notna() & (whole.final_deals["closed_at"] != file_close)
    assert moved.sum() == closed.sum()  # the history's close, not the file's
    source = read_partitioned(client, folder, parts=3)
    pd.testing.assert_frame_equal(source.summary.deals, whole.final_deals[kept])
    _assert_same_rows(client, whole, source)


def test_a_deal_id_repeated_across_slices_is_refused(client, tmp_path: Path) -> None:
    from forecast.errors import InvalidInput
    from forecast.parquet_export import read_partitioned, write_export

    data = generate_pipeline(200, seed=2)
    deals = data.opportunities.copy()
    deals.loc[150, "id"] = deals.loc[10, "id"]
    folder = tmp_path / "repeated"
    write_export(deals, data.history, folder, row_group_rows=50)
    with pytest.raises(InvalidInput, match="more than once"):
        read_partitioned(client, folder, parts=2)


def test_the_holdout_is_scored_on_the_workers_as_in_process(client) -> None:
    from forecast.modeling.dask_training import DaskEngine
    from forecast.modeling.fitting import InProcess

    history = _history(900, seed=5)
    plan = {
        "every_days": 14,
        "cut": pd.Timestamp("2024-06-01"),
        "created_before": pd.Timestamp("2024-04-15"),
        "seed": 1,
    }
    here = InProcess().deal_rows(history, **plan).holdout
    there = DaskEngine(client, "test").deal_rows(history, **plan).holdout
    assert len(there.parts) > 1 and len(there) == len(here)
    model = BoostedClassifier(n_jobs=1, n_estimators=30).fit(here.frame(), here.y, here.w, here.ids)

    class Broken:
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            raise ValueError("trained on other columns")

    scored = there.scores({"model": model, "champion": Broken()})
    np.testing.assert_allclose(scored["model"], model.predict_proba(here.frame())[:, 1])
    assert isinstance(scored["champion"], ValueError)
    # Rows asked for by position come back in the order asked, across partitions.
    picks = [len(here) - 1, 0, len(here) // 2]
    pd.testing.assert_frame_equal(there.rows(picks), here.rows(picks))


def test_lead_training_on_the_cluster_fits_lightgbm_there_as_well_as_in_process(client) -> None:
    from forecast.data.generator import generate_leads
    from forecast.modeling.dask_training import DaskEngine
    from forecast.modeling.lead_fitting import train_leads
    from forecast.settings import Settings

    leads = generate_leads(4000, seed=3)
    settings = Settings(lgbm_threads=2, bootstrap_resamples=200)
    here = train_leads(leads, settings=settings, cross_validate=False)
    there = train_leads(
        leads, settings=settings, cross_validate=False, engine=DaskEngine(client, "tcp://x:1")
    )
    assert there.params["engine"] == "dask" and there.params["dask_scheduler"] == "tcp://x:1"
    assert here.params["engine"] == "in-process"
    assert there.split == here.split and there.rows == here.rows
    auc_here = here.families["lightgbm"]["roc_auc"]
    assert abs(there.families["lightgbm"]["roc_auc"] - auc_here) <= 0.005
    assert there.metrics["naive_bayes"] == here.metrics["naive_bayes"]  # the same rows


def _assert_same_rows(client, whole, source, *, by_deal: bool = False) -> None:
    """The rows a cluster builds from a partitioned read equal the in-process rows of the whole
    read: training rows, holdout inputs, labels, weights and ids (with `by_deal`, in deal
    order: slices of a store come in the database's order of ids, a whole read in its own)."""
    from forecast.modeling.dask_training import DaskEngine
    from forecast.modeling.fitting import InProcess

    plan = {
        "every_days": 14,
        "cut": pd.Timestamp("2024-06-01"),
        "created_before": pd.Timestamp("2024-04-15"),
        "seed": 1,
    }
    here = InProcess().deal_rows(whole, **plan)
    there = DaskEngine(client, "test", source=source).deal_rows(source.summary, **plan)
    trains = [rows.train.reset_index(drop=True) for rows in (there, here)]
    held = [(rows.holdout.frame(), rows.holdout) for rows in (there, here)]
    if by_deal:  # each deal's rows keep their order
        trains = [t.iloc[np.argsort(t["id"].to_numpy(), kind="stable")] for t in trains]
        orders = [np.argsort(h.ids, kind="stable") for _, h in held]
    else:
        orders = [np.arange(len(h)) for _, h in held]
    pd.testing.assert_frame_equal(
        trains[0].reset_index(drop=True), trains[1].reset_index(drop=True)
    )
    frames = [f.iloc[o].reset_index(drop=True) for (f, _), o in zip(held, orders, strict=True)]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    for name in ("y", "w", "ids"):
        np.testing.assert_array_equal(
            getattr(held[0][1], name)[orders[0]], getattr(held[1][1], name)[orders[1]]
        )
    assert there.train_rows == here.train_rows


def test_fitting_rows_read_a_block_at_a_time_are_the_encoded_matrix() -> None:
    """LightGBM reads a worker's fitting rows from `EncodedRows` by slices and, for its bins,
    by single rows: both give the rows the encoder makes of the whole part."""
    rows = feat.deal_training_rows(
        _history(600, seed=3), every_days=14, known_before="2024-07-01", created_before="2024-05-15"
    )
    frame = feat.deal_features(rows)
    encoder = FeatureEncoder(50).fit(frame)
    positions = np.flatnonzero(np.arange(len(frame)) % 3 != 0)
    whole = encoder.transform(frame.iloc[positions])
    seq = dask_boosting.EncodedRows(frame, positions, encoder)
    seq.batch_size = 97  # several blocks, the last one short

    np.testing.assert_array_equal(seq[0 : len(seq)], whole)
    np.testing.assert_array_equal(
        np.vstack([seq[a : a + seq.batch_size] for a in range(0, len(seq), seq.batch_size)]), whole
    )
    picked = [0, 5, 96, 97, 300, len(seq) - 1]
    np.testing.assert_array_equal(np.vstack([seq[i] for i in picked]), whole[picked])


def test_a_booster_fitted_across_both_workers_is_the_same_every_time(client) -> None:
    """Partitions on both workers: LightGBM's data-parallel training runs on each worker's
    partitions in partition order, so the same rows give the same trees (lightgbm.dask joined
    a worker's parts in no fixed order)."""
    history = _history(3000, seed=5)
    rows = feat.deal_training_rows(
        history, every_days=14, known_before="2024-07-01", created_before="2024-05-15"
    )
    X, y = feat.deal_features(rows), rows["won"].to_numpy(float)
    w, groups = rows["weight"].to_numpy(), rows["id"].to_numpy()
    data = dask_boosting.scatter_matrix(client, X, y, w, groups, parts=4)
    assert len({w for held in client.who_has(data.parts).values() for w in held}) == 2
    counts = dask_boosting.level_counts(client, data, None)[None]
    base = BoostedClassifier(n_jobs=1, n_estimators=60)

    fits = [dask_boosting.fit_boosted(client, base, data, counts) for _ in range(2)]
    local = BoostedClassifier(n_jobs=1, n_estimators=60).fit(X, y, w, groups)

    trees = [f.booster_.dump_model()["tree_info"] for f in fits]
    assert trees[0] == trees[1]
    assert fits[0].best_iteration_ == fits[1].best_iteration_
    assert fits[0].n_rows_ == local.n_rows_
    p_remote, p_local = fits[0].predict_proba(X)[:, 1], local.predict_proba(X)[:, 1]
    assert np.corrcoef(p_remote, p_local)[0, 1] > 0.98


def test_a_stored_dataset_read_by_partition_gives_the_whole_reads_rows(
    client, engine, tmp_path: Path
) -> None:
    """On SQLite and PostgreSQL: the workers read their slices of a stored dataset from the
    store (deals, stage and field history), and the run gets the leak findings, fingerprint
    and rows of the whole read."""
    from forecast.data.generator import write_export as write_csv
    from forecast.data.importing import import_export
    from forecast.history import load_deal_history
    from forecast.parquet_export import SUMMARY_COLUMNS
    from forecast.store_slices import read_store_partitioned

    data = generate_pipeline(900, seed=8)
    # An account blank on open deals only: a leak the check finds in the slices' counts too.
    is_open = (data.opportunities["status"] == "open").to_numpy()
    data.opportunities["account"] = data.opportunities["account"].astype(object).where(~is_open)
    write_csv(data, tmp_path / "export")
    import_export(engine, tmp_path / "export", "canonical", dataset="crm")

    whole = load_deal_history(engine, "crm")
    assert "account" in whole.left_out
    source = read_store_partitioned(client, engine, "crm")
    pieces = [part.read() for part in source.slices]
    assert len(pieces) > 1 and all(len(p.deals) for p in pieces)
    ids = pd.concat([p.deals["id"] for p in pieces])
    assert ids.is_unique and set(ids) == set(whole.deals["id"])
    assert sum(len(p.field_log) for p in pieces) == len(whole.field_log)
    assert list(source.summary.deals.columns) == [*SUMMARY_COLUMNS, "updated_at"]
    assert source.summary.left_out == whole.left_out
    assert source.summary.leak_notes == whole.leak_notes
    assert source.fingerprint == fingerprint(whole.deals, whole.stage_log)

    _assert_same_rows(client, whole, source, by_deal=True)


def test_a_partitioned_read_leaves_out_the_identifiers_a_whole_read_does(
    client, sqlite_engine, tmp_path: Path
) -> None:
    """A dataset's own column that names deals (a ticket number) is left out, with the same
    note, whether the dataset is read whole or slice by slice on the workers; one that
    describes them (a source) is kept both ways; each is typed as in the whole read."""
    from forecast.history import load_deal_history
    from forecast.store_slices import read_store_partitioned

    _store_with_features(sqlite_engine, tmp_path)
    whole = load_deal_history(sqlite_engine, "crm")
    assert "Ticket" in whole.left_out and "Source" not in whole.left_out
    source = read_store_partitioned(client, sqlite_engine, "crm")
    assert len(source.slices) > 1
    assert source.summary.left_out == whole.left_out
    assert source.summary.leak_notes == whole.leak_notes

    # "Score" holds numbers but for the last deal's "n/a": text in the whole read, and so in
    # every slice (a slice of numbers alone would have made it 3.0 where the whole says "3").
    pieces = [part.read() for part in source.slices]
    joined = pd.concat([p.deals for p in pieces]).sort_values("id", ignore_index=True)
    mine = whole.deals.sort_values("id", ignore_index=True)
    assert not pd.api.types.is_numeric_dtype(pieces[0].deals["Score"])
    assert joined["Score"].tolist() == mine["Score"].tolist()


def _store_with_features(engine, tmp_path: Path) -> None:
    """A stored dataset "crm" of 900 generated deals with three columns of its own: a ticket
    number (an identifier), a source (a category) and a score, a number but for one "n/a"."""
    from forecast.data.generator import write_export as write_csv
    from forecast.data.importing import import_export

    deals_file, _ = write_csv(generate_pipeline(900, seed=8), tmp_path / "export")
    deals = pd.read_csv(deals_file)
    rng = np.random.default_rng(1)
    deals["Ticket"] = [f"T-{i:05d}" for i in rng.permutation(len(deals))]
    deals["Source"] = rng.choice(["Organic", "Paid", "Referral"], len(deals))
    deals["Score"] = rng.integers(1, 6, len(deals)).astype(object)
    deals.loc[deals["id"].astype(str).idxmax(), "Score"] = "n/a"
    deals.to_csv(deals_file, index=False)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "kind: opportunities\ndataset: crm\nmain: opportunities.csv\n"
        "history_file: stage_history.csv\ncolumns: canonical\nstages:\n"
        "  open: [Prospecting, Qualification, Presentation, Demonstration, Closing]\n"
        "  won: Won\n  lost: Lost\nfeatures: [Ticket, Source, Score]\n"
    )
    import_export(engine, tmp_path / "export", mapping)


def test_training_a_stored_dataset_on_the_cluster_reads_it_there(
    client, cli: Cli, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`forecast train deals --data NAME --cluster ...` on a stored dataset: the workers read
    it from the store; the run learns from the rows and data an in-process run does."""
    monkeypatch.setenv("FORECAST_BOOTSTRAP_RESAMPLES", "100")
    monkeypatch.setenv("FORECAST_TEAM_MIN_WON_DEALS", "100000")
    get_settings.cache_clear()
    write_export(generate_pipeline(1500, seed=9), tmp_path / "export")
    assert (
        cli("import", tmp_path / "export", "--mapping", "canonical", "--dataset", "crm").exit_code
        == 0
    )

    here = parsed(cli("train", "deals", "--data", "crm", "--json", "--seed", "3"))
    there = parsed(
        cli(
            "train",
            "deals",
            "--data",
            "crm",
            "--json",
            "--seed",
            "3",
            "--cluster",
            client.scheduler.address,
        )
    )

    assert there["rows"] == here["rows"] and there["split"] == here["split"]
    assert there["dataset"] == here["dataset"] == "crm"
    # The same baseline on the same holdout (in another order of deals: the top decile's ties
    # fall otherwise).
    baseline = [run["metrics"]["stage_win_rate"] for run in (here, there)]
    assert {k: v for k, v in baseline[0].items() if "decile" not in k} == {
        k: v for k, v in baseline[1].items() if "decile" not in k
    }
    auc = [run["families"]["lightgbm"]["roc_auc"] for run in (here, there)]
    assert abs(auc[0] - auc[1]) <= 0.02, auc
    first, second = _run_params(state)
    assert second["params"]["engine"] == "dask"
    assert first["params"]["data_fingerprint"] == second["params"]["data_fingerprint"]
