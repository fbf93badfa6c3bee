"""Dated leads with a conversion date: a lead's "not converted" counts only once it has had the
time leads take to convert, so the newest leads are not learnt as lost for being new."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.importing import import_export, read_export
from forecast.data.store_reads import load_leads
from forecast.errors import ImportRejected
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.outcome_window import outcome_window
from forecast.settings import Settings
from tests.forecast.test_import_options import write

MAPPING = """
kind: leads
dataset: crm
columns: {id: Lead, converted: Won, created_at: Created, converted_at: Won on}
"""
EXPORT = pd.Timestamp("2025-01-01")


def export_csv(n: int = 3000, seed: int = 2) -> str:
    """Leads over 400 days before the export; a third convert, 5 to 60 days after creation;
    one whose conversion would come after the export is written 0, as CRMs do."""
    rng = np.random.default_rng(seed)
    created = EXPORT - pd.to_timedelta(rng.uniform(1, 400, n), "D")
    source = rng.choice(["Referral", "Web"], n)
    will = rng.uniform(size=n) < np.where(source == "Referral", 0.5, 0.2)
    converted_at = created + pd.to_timedelta(rng.uniform(5, 60, n), "D")
    won = will & (converted_at <= EXPORT)
    lines = ["Lead,Source,Won,Created,Won on"]
    for i in range(n):
        on = f"{converted_at[i]:%Y-%m-%d}" if won[i] else ""
        lines.append(f"L{i},{source[i]},{int(won[i])},{created[i]:%Y-%m-%d},{on}")
    return "\n".join(lines)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path, lgbm_threads=2, min_converted_leads=30)


def test_young_leads_are_scored_not_learnt_from(tmp_path, settings):
    leads = read_export(
        write(tmp_path, "leads.csv", export_csv()), write(tmp_path, "m.yaml", MAPPING)
    ).leads
    window = outcome_window(leads, 30)
    assert window is not None and 50 < window.days < 61  # 90% of 5-60 days
    young = leads["created_at"] > window.export - pd.Timedelta(days=window.days)
    assert window.export <= EXPORT and window.young == int(young.sum()) > 0
    result = train_leads(leads, settings=settings, cross_validate=False)
    assert result.rows["labelled"] == len(leads) - window.young
    [said] = [w for w in result.warnings if w.startswith("outcome window")]
    assert f"the {window.young:,} created since had not had that time" in said
    assert result.split["outcome_window_days"] == pytest.approx(window.days, abs=0.1)
    assert "Won on" not in result.features and "converted_at" not in result.features
    # Learnt from leads that had the time: the rate is the true one of converting within the
    # window (a third convert, uniformly 5 to 60 days after creation), none cut short.
    within = 0.35 * (window.days - 5) / 55
    assert result.rows["converted"] / result.rows["labelled"] == pytest.approx(within, abs=0.03)
    plain = train_leads(
        leads.drop(columns=["converted_at"]), settings=settings, cross_validate=False
    )
    assert plain.rows["labelled"] == len(leads)


def test_the_conversion_date_is_stored_and_read_back(tmp_path, engine):
    file = write(tmp_path, "leads.csv", export_csv(200))
    import_export(engine, file, write(tmp_path, "m.yaml", MAPPING))
    stored = load_leads(engine, "crm").set_index("id").sort_index()
    read = read_export(file, tmp_path / "m.yaml").leads.set_index("id").sort_index()
    assert stored["converted_at"].equals(read["converted_at"].astype(stored["converted_at"].dtype))
    assert stored.loc[stored["converted"] == 0, "converted_at"].isna().all()


def test_a_conversion_date_is_kept_on_converted_leads_only_and_must_read(tmp_path):
    text = "Lead,Won,Created,Won on\nA,1,2024-01-01,2024-02-01\nB,0,2024-01-01,2024-02-01\n"
    leads = read_export(write(tmp_path, "l.csv", text), write(tmp_path, "m.yaml", MAPPING)).leads
    assert leads.set_index("id")["converted_at"].isna().tolist() == [False, True]
    bad = text.replace("2024-02-01\nB", "soon\nB")
    with pytest.raises(ImportRejected) as rejected:
        read_export(write(tmp_path, "bad.csv", bad), tmp_path / "m.yaml")
    [example] = rejected.value.report.examples
    assert (example.column, example.kind, example.value) == ("Won on", "unparseable date", "soon")


def test_without_a_label_a_conversion_date_is_the_label(tmp_path, settings):
    """A contacts export with "Became a Customer Date" and no outcome column of its own."""
    dated_only = MAPPING.replace("converted: Won, ", "")
    file = write(tmp_path, "leads.csv", export_csv())
    leads = read_export(file, write(tmp_path, "m.yaml", dated_only))
    labelled = read_export(file, write(tmp_path, "full.yaml", MAPPING)).leads
    assert leads.leads["converted"].tolist() == labelled["converted"].tolist()
    said = " ".join(leads.report.notes)
    assert "converted: 1 for leads with a 'Won on' date, 0 for the others" in said
    result = train_leads(leads.leads.drop(columns=["Won"]), settings=settings, cross_validate=False)
    assert any(w.startswith("outcome window") for w in result.warnings)
