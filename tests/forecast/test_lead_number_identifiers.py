"""Whole numbers that differ on every lead are a running number (a record id) only where they
count up as one does: amounts that happen to all differ are inputs."""

from __future__ import annotations

import numpy as np

from forecast import lead_columns
from forecast.data.generator import generate_leads


def test_whole_amounts_that_all_differ_are_inputs_and_running_numbers_are_not() -> None:
    """'Annual Revenue' in whole dollars from $1,000 to $2,000,000 differs on every lead, as a
    record number does: it was left out as an identifier. A running number (by ones, by a
    CRM's step, or any within one order of magnitude) still is one."""
    leads = generate_leads(600, seed=8).drop(columns=["created_at"])
    rng = np.random.default_rng(8)
    leads["Annual Revenue"] = rng.permutation(np.linspace(1_000, 2_000_000, 600).round())
    leads["Lead No"] = np.arange(1, 601)
    leads["Record ID"] = rng.permutation(np.arange(600)) * 51 + 1_001
    leads["Account Number"] = rng.choice(np.arange(5_000_000, 9_000_000), 600, replace=False)
    _, cols = lead_columns.prepare_leads(leads)
    assert "Annual Revenue" in cols.features
    assert {"Lead No", "Record ID", "Account Number"} <= set(cols.identifiers)


def test_ids_with_gaps_are_identifiers_where_their_header_names_an_id() -> None:
    """A filtered or sharded export's ids spread over orders of magnitude, as amounts do: the
    header ("Record ID", "Marketo Id", "Lead #") says what they are."""
    leads = generate_leads(600, seed=9).drop(columns=["created_at"])
    rng = np.random.default_rng(9)
    for name in ("Record ID", "Marketo Id", "Lead #"):
        leads[name] = rng.choice(np.arange(51, 40_000_000), 600, replace=False)
    leads["Annual Revenue"] = rng.choice(np.arange(51, 40_000_000), 600, replace=False)
    _, cols = lead_columns.prepare_leads(leads)
    assert {"Record ID", "Marketo Id", "Lead #"} <= set(cols.identifiers)
    assert "Annual Revenue" in cols.features


def test_codes_written_with_a_leading_zero_stay_text(tmp_path) -> None:
    """Zip codes ("02134") are digits but no number: read as one, the zero goes and reasons
    said "Zip = 2,134". A column with a value written with a leading zero stays text, in the
    import and in training; a column of plain numbers beside it is still numbers."""
    from forecast.data.importing import read_export
    from forecast.data.mapping import load_mapping
    from tests.forecast.test_import_options import write

    rows = ["Lead,Converted,Zip,Visits"]
    zips = ["02134", "10001", "94105", "02139", "60601", "00501"]
    for i in range(60):
        rows.append(f"L{i},{i % 2},{zips[i % len(zips)]},{i % 7}")
    file = write(tmp_path, "leads.csv", "\n".join(rows) + "\n")
    mapping = write(tmp_path, "m.yaml", "kind: leads\ncolumns: {id: Lead, converted: Converted}\n")
    leads = read_export(file, load_mapping(mapping)).leads
    assert set(leads["Zip"]) == set(zips)
    _, cols = lead_columns.prepare_leads(leads)
    assert "Zip" in cols.features and "Zip" not in cols.as_numbers
    assert "Visits" in cols.as_numbers or leads["Visits"].dtype.kind in "if"
