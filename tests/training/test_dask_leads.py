"""Lead training on a Dask cluster from a stored dataset read slice by slice on the workers
(`forecast train leads --data NAME --cluster`): the same run as in process over the same leads,
with the booster fitted there and the holdout scored there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data import store
from forecast.data.generator import generate_leads, write_leads
from forecast.data.importing import import_export
from forecast.settings import Settings, get_settings
from tests.training.conftest import Cli, parsed

pytestmark = pytest.mark.slow

MAPPING = """kind: leads
dataset: inbound
columns: {id: id, converted: converted, created_at: created_at}
leak_columns: [Tags]
"""
SETTINGS = Settings(lgbm_threads=2, bootstrap_resamples=200)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[object]]:
    """6,000 generated leads imported into a store of their own (a file the workers open): at
    half that, two fits of `lightgbm.dask` on the same rows differ by more than 0.005 AUC."""
    folder = tmp_path_factory.mktemp("leads")
    leads = generate_leads(6000, seed=5).sort_values("id", ignore_index=True)
    # A number added late: blank on every lead of the later id ranges (slices read it as
    # blank text, a whole read as a number column).
    leads["Score"] = np.where(np.arange(len(leads)) < 3000, np.arange(len(leads)) % 7, np.nan)
    file = write_leads(leads, folder / "leads.csv")
    (folder / "m.yaml").write_text(MAPPING)
    engine = store.get_engine(Settings(database_url=f"sqlite:///{folder / 'store.db'}"))
    import_export(engine, file, folder / "m.yaml")
    return engine, []


def _slices(client, engine) -> list[object]:
    from forecast.store_slices import lead_slices

    return lead_slices(client, engine, "inbound")


def test_lead_training_from_slices_on_the_workers_is_the_run_in_process(client, stored) -> None:
    from forecast.modeling.dask_leads import ClusterLeads
    from forecast.modeling.dask_training import DaskEngine
    from forecast.modeling.lead_fitting import train_leads

    engine, _ = stored
    slices = _slices(client, engine)
    assert len(slices) > 1
    whole = store.load_leads(engine, "inbound")  # a whole read: in the order of ids, as slices
    assert pd.api.types.is_numeric_dtype(whole["Score"])
    here = train_leads(whole, leak_columns=["Tags"], settings=SETTINGS, cross_validate=False)
    there = train_leads(
        ClusterLeads(client, slices),
        leak_columns=["Tags"],
        settings=SETTINGS,
        cross_validate=False,
        engine=DaskEngine(client, "tcp://x:1"),
    )
    assert there.params["engine"] == "dask"
    assert there.rows == here.rows and there.split == here.split
    assert there.columns == here.columns and there.features == here.features
    assert "Score" in there.features and "Score" not in there.model.encoder_.levels  # a number
    assert there.fingerprint == here.fingerprint
    assert there.warnings == here.warnings
    for family in ("logistic_regression", "naive_bayes"):
        assert there.families[family] == here.families[family]  # the same rows, here
    auc_here = here.families["lightgbm"]["roc_auc"]
    assert abs(there.families["lightgbm"]["roc_auc"] - auc_here) <= 0.005
    np.testing.assert_array_equal(there.y_test, here.y_test)
    assert [e["id"] for e in there.examples] == [e["id"] for e in here.examples]


def test_past_family_rows_the_simple_families_learn_from_a_stable_sample(client, stored) -> None:
    """The command's process holds a sample of the labelled leads; LightGBM learns from every
    training lead on the workers and every model is scored on the whole holdout there."""
    from forecast.modeling.dask_leads import ClusterLeads
    from forecast.modeling.dask_training import DaskEngine
    from forecast.modeling.lead_fitting import train_leads

    engine, _ = stored
    source = ClusterLeads(client, _slices(client, engine), family_rows=1000)
    run = train_leads(
        source,
        leak_columns=["Tags"],
        settings=SETTINGS,
        cross_validate=False,
        engine=DaskEngine(client, "tcp://x:1"),
    )
    [said] = [w for w in run.warnings if "a stable sample" in w]
    assert "of the 6,000 labelled leads" in said
    assert run.rows["test"] == len(run.y_test) and run.rows["train"] + run.rows["test"] == 6000
    assert len(run.predictions["model"]) == run.rows["test"]
    assert run.families["lightgbm"]["roc_auc"] > 0.7


def test_train_leads_on_a_cluster_reads_a_stored_dataset_on_the_workers(
    cli: Cli, client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command reads no lead itself: a whole read in its process is refused here."""
    file = write_leads(generate_leads(1500, seed=8), tmp_path / "leads.csv")
    (tmp_path / "m.yaml").write_text(MAPPING)
    assert cli("import", file, "--mapping", tmp_path / "m.yaml").exit_code == 0

    def whole_read(*args: object, **kwargs: object) -> pd.DataFrame:
        raise AssertionError("the command's process read every lead")

    monkeypatch.setattr(store, "load_leads", whole_read)
    address = client.scheduler.address  # type: ignore[attr-defined]
    args = ("train", "leads", "--data", "inbound", "--no-cv", "--cluster", address, "--json")
    summary = parsed(cli(*args))
    assert summary["params"]["engine"] == "dask" and summary["rows"]["leads"] == 1500
    assert summary["registration"]["dataset"] == "inbound"
    get_settings.cache_clear()
