"""A Salesforce leads report is read without a mapping: its closed statuses are the label, its
open ones leave a lead unlabelled (scored, not learnt from), and the fields written at
conversion are never model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.importing import read_export
from forecast.errors import ImportRejected
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings
from tests.forecast.test_import_options import write

HEADER = (
    '"Lead ID","Lead Owner","Lead Status","Lead Source","Industry","No. of Employees",'
    '"Create Date","Converted","Converted Date"\n'
)
REPORT = HEADER + (
    '"00Q1","Ann Lee","Closed - Converted","Web","Retail","120","1/5/2024","1","2/1/2024"\n'
    '"00Q2","Ann Lee","Closed - Not Converted","Trade Show","Finance","15","1/6/2024","0",""\n'
    '"00Q3","Bo Wu","Working - Contacted","Web","Retail","40","3/1/2024 9:05 AM","0",""\n'
    '"00Q4","Bo Wu","Open - Not Contacted","Partner","","","3/2/2024","0",""\n'
    "\n"
    '"Confidential Information - Do Not Distribute"\n'
    '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\n'
)


def test_a_leads_report_is_known_by_its_header_and_open_leads_stay_unlabelled(tmp_path):
    export = read_export(write(tmp_path, "report.csv", REPORT))
    assert (export.kind, export.dataset) == ("leads", "salesforce_leads")
    leads = export.leads.set_index("id")
    assert leads["converted"].tolist()[:2] == [1, 0]
    assert leads["converted"].iloc[2:].isna().all()
    assert leads.loc["00Q3", "created_at"] == pd.Timestamp("2024-03-01 09:05")
    assert "Converted" in export.leak_columns
    assert leads["converted_at"].tolist()[0] == pd.Timestamp("2024-02-01")
    assert leads["converted_at"].iloc[1:].isna().all()
    said = " ".join(export.report.notes)
    assert "2 lead(s) have no Lead Status value" in said and "report footer" in said


def test_an_orgs_own_status_is_named_and_a_mapping_adds_it_to_the_presets_statuses(tmp_path):
    custom = REPORT.replace("Closed - Not Converted", "Disqualified")
    file = write(tmp_path, "report.csv", custom)
    with pytest.raises(ImportRejected) as caught:
        read_export(file)
    assert any('"Disqualified"' in n and "value_fixes" in n for n in caught.value.report.notes)
    mapping = write(
        tmp_path,
        "mine.yaml",
        "preset: salesforce_leads\nvalue_fixes: {Lead Status: {Disqualified: 0}}\n",
    )
    leads = read_export(file, mapping).leads.set_index("id")  # added to the preset's statuses
    assert leads["converted"].tolist()[:2] == [1, 0]


def test_fields_written_at_conversion_are_not_model_inputs(tmp_path):
    rng = np.random.default_rng(4)
    rows = []
    for i in range(600):
        source = rng.choice(["Web", "Partner", "Trade Show"])
        won = rng.uniform() < (0.6 if source == "Partner" else 0.25)
        status = "Closed - Converted" if won else "Closed - Not Converted"
        created = pd.Timestamp("2024-01-01") + pd.Timedelta(days=i % 300)
        on = f"{created + pd.Timedelta(days=10):%m/%d/%Y}" if won else ""
        rows.append(
            f'"00Q{i}","Ann Lee","{status}","{source}","Retail","{rng.integers(5, 500)}",'
            f'"{created:%m/%d/%Y}","{int(won)}","{on}"\n'
        )
    export = read_export(write(tmp_path, "report.csv", HEADER + "".join(rows)))
    settings = Settings(state_dir=tmp_path, lgbm_threads=2, min_converted_leads=50)
    result = train_leads(
        export.leads, leak_columns=export.leak_columns, settings=settings, cross_validate=False
    )
    assert "Lead Source" in result.features
    assert not {"Converted", "Converted Date"} & set(result.features)
    assert result.columns["leaks_excluded"] == ["Converted"]


def test_a_leads_reports_counts_grouped_by_commas_are_numbers(tmp_path):
    """A US-locale report writes 1,000 employees as "1,000": a walkthrough's report had its
    "No. of Employees" read as text ("'1,000' is ambiguous"), each count a category of its
    own, and a CRM sending 1000 got "'1000' was not learnt in training: scored as blank"."""
    report = REPORT.replace('"120"', '"1,000"').replace('"15"', '"5,000"')
    export = read_export(write(tmp_path, "report.csv", report))
    employees = export.leads.set_index("id")["No. of Employees"]
    assert employees.loc["00Q1"] == 1000 and employees.loc["00Q3"] == 40
    assert not any("ambiguous" in note for note in export.report.notes)
    assert export.options["numbers"] == {"decimal": ".", "thousands": ","}


def test_a_mapping_giving_its_own_decimal_mark_drops_the_reports_comma_grouping(tmp_path):
    """A report of another locale read with the preset and `csv: {decimal: ","}` is not
    refused for the preset's comma grouping ("thousands and decimal are both ','")."""
    from forecast.data.mapping import load_mapping

    mapping = write(tmp_path, "m.yaml", 'preset: salesforce_leads\ncsv: {decimal: ","}\n')
    csv = load_mapping(mapping).csv
    assert (csv.decimal, csv.thousands) == (",", None)
