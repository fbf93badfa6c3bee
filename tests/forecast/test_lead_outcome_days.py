"""An export that writes its open leads as not converted, with no conversion dates: the mapping
declares how long leads take to convert (`outcome_days`), and the leads younger than that are
scored, not learnt from, in every training of the dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from forecast.data import store
from forecast.data.importing import import_export
from forecast.data.mapping import Mapping
from forecast.errors import InvalidInput
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings
from tests.forecast.test_import_options import write
from training.models_cli import Kind
from training.training_data import load_training_data

MAPPING = """
kind: leads
dataset: crm
columns: {id: Lead, converted: Customer, created_at: Created}
"""
EXPORT = pd.Timestamp("2025-01-01")


def export_csv(n: int = 3000, seed: int = 4) -> str:
    """Leads over 400 days; 40% of referrals and 15% of the others become customers 10-50
    days after creation. A lead whose conversion would come after the export is still open and
    written "No", as a CRM's "Customer?" column writes it."""
    rng = np.random.default_rng(seed)
    created = EXPORT - pd.to_timedelta(rng.uniform(1, 400, n), "D")
    source = rng.choice(["Referral", "Web"], n)
    will = rng.uniform(size=n) < np.where(source == "Referral", 0.4, 0.15)
    won = will & (created + pd.to_timedelta(rng.uniform(10, 50, n), "D") <= EXPORT)
    lines = ["Lead,Source,Customer,Created"]
    lines += [
        f"L{i},{source[i]},{'Yes' if won[i] else 'No'},{created[i]:%Y-%m-%d}" for i in range(n)
    ]
    return "\n".join(lines)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        lgbm_threads=2,
        min_converted_leads=30,
    )


def test_leads_younger_than_the_declared_window_are_scored_not_learnt_from(tmp_path, settings):
    file = write(tmp_path, "leads.csv", export_csv())
    mapping = write(tmp_path, "m.yaml", MAPPING + "outcome_days: 60\n")
    loaded = load_training_data(str(file), str(mapping), Kind.leads, settings)
    assert loaded["outcome_days"] == 60
    leads = loaded["leads"]
    result = train_leads(
        leads, settings=settings, cross_validate=False, outcome_days=loaded["outcome_days"]
    )
    created = pd.to_datetime(leads["created_at"], utc=True).dt.tz_localize(None)
    old = created <= created.max() - pd.Timedelta(days=60)
    assert result.rows["labelled"] == int(old.sum())
    [said] = [w for w in result.warnings if w.startswith("outcome window")]
    assert "60 days (the mapping's outcome_days)" in said
    assert f"the {int((~old).sum()):,} created since had not had that time" in said
    assert result.split["outcome_window_days"] == 60
    # Learnt from leads that had the time: the rate is the one of becoming a customer at all.
    assert result.rows["converted"] / result.rows["labelled"] == pytest.approx(0.275, abs=0.03)
    # Without the declaration the open leads count as lost, and training says to declare it.
    plain = train_leads(leads, settings=settings, cross_validate=False)
    assert plain.rows["labelled"] == len(leads)
    assert any("outcome_days" in w for w in plain.warnings), plain.warnings


def test_a_stored_dataset_keeps_its_declared_window_for_every_retrain(tmp_path, settings):
    file = write(tmp_path, "leads.csv", export_csv(400))
    mapping = write(tmp_path, "m.yaml", MAPPING + "outcome_days: 45.5\n")
    import_export(store.get_engine(settings), file, mapping)
    assert load_training_data("crm", None, Kind.leads, settings)["outcome_days"] == 45.5
    plain = write(tmp_path, "plain.yaml", MAPPING.replace("dataset: crm", "dataset: other"))
    import_export(store.get_engine(settings), file, plain)
    assert load_training_data("other", None, Kind.leads, settings)["outcome_days"] is None


def test_a_declared_window_needs_creation_dates_and_leads():
    base = {"kind": "leads", "dataset": "x", "columns": {"id": "Lead", "converted": "Won"}}
    with pytest.raises(ValidationError, match="outcome_days is for leads"):
        Mapping.model_validate(
            {**base, "kind": "opportunities", "columns": {"id": "Deal"}, "outcome_days": 30}
        )
    for bad in (0, -5, 5000):
        with pytest.raises(ValidationError, match="outcome_days"):
            Mapping.model_validate({**base, "outcome_days": bad})
    leads = pd.DataFrame({"id": ["a", "b"], "converted": [1, 0], "Source": ["x", "y"]})
    with pytest.raises(InvalidInput, match="outcome_days: the leads have no creation date"):
        train_leads(leads, outcome_days=30, cross_validate=False)
