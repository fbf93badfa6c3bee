"""Leads labelled by a conversion date ("Became a Customer Date") whose lead status says
converted where the date is blank: a HubSpot contact whose "Lifecycle Stage" is "customer" but
whose date was never filled is a converted lead, not a lost one, and the import says so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.data import store
from forecast.data.importing import import_export

MAPPING = """
kind: leads
dataset: contacts
columns:
  id: Email
  created_at: Create Date
  converted_at: Became a Customer Date
"""


def _export(folder: Path) -> Path:
    rows = [
        # email, stage, source, created, converted
        ("a@x.com", "customer", "Referrals", "2025-01-02", "2025-02-01"),
        ("b@x.com", "customer", "Referrals", "2025-01-03", ""),  # the date never filled
        ("c@x.com", "evangelist", "Direct", "2025-01-04", ""),
        ("d@x.com", "lead", "Direct", "2025-01-05", ""),
        ("e@x.com", "subscriber", "Paid Search", "2025-01-06", ""),
        ("f@x.com", "", "Paid Search", "2025-01-07", ""),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "Email",
            "Lifecycle Stage",
            "Original Source",
            "Create Date",
            "Became a Customer Date",
        ],
    )
    frame.to_csv(folder / "contacts.csv", index=False)
    (folder / "contacts.yaml").write_text(MAPPING)
    return folder / "contacts.csv"


def test_a_lead_whose_status_says_converted_is_converted_though_its_date_is_blank(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate(engine)
    path = _export(tmp_path)

    report = import_export(engine, path, tmp_path / "contacts.yaml")

    leads = store.load_leads(engine, "contacts").set_index("id")
    assert leads["converted"].to_dict() == {
        "a@x.com": 1,
        "b@x.com": 1,
        "c@x.com": 1,
        "d@x.com": 0,
        "e@x.com": 0,
        "f@x.com": 0,
    }
    assert pd.isna(leads.loc["b@x.com", "converted_at"])  # converted, when is not known
    said = " ".join(report.notes)
    assert "converted: 1 also for 2 lead(s) whose 'Lifecycle Stage' says converted" in said
    # It says the outcome: not a model input.
    assert "Lifecycle Stage" not in str(leads.iloc[0].to_dict())
    assert "Original Source" in str(leads.iloc[0].to_dict())


def test_a_status_that_agrees_with_every_date_is_said_without_a_count_of_none(tmp_path):
    """A walkthrough's HubSpot export, every customer dated, was told "converted: 1 also for 0
    lead(s) whose 'Lifecycle Stage' says converted though their ... is blank"."""
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate(engine)
    path = _export(tmp_path)
    frame = pd.read_csv(path, keep_default_na=False)
    dated = frame["Became a Customer Date"] != ""
    frame[dated | ~frame["Lifecycle Stage"].isin(["customer", "evangelist"])].to_csv(
        path, index=False
    )
    said = " ".join(import_export(engine, path, tmp_path / "contacts.yaml").notes)
    assert "for 0 lead(s)" not in said
    assert "'Lifecycle Stage' says the outcome, so it is not a model input" in said
