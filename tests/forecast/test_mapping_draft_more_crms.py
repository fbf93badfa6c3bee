"""Drafts of Insightly, Bitrix24, ActiveCampaign, SugarCRM, Capsule and Nutshell exports find
their columns and outcomes as those CRMs write them."""

from __future__ import annotations

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write


def test_an_insightly_export_reads_its_state_as_the_outcome_and_finds_its_columns(tmp_path):
    file = write(
        tmp_path,
        "insightly.csv",
        "OPPORTUNITY_ID,OPPORTUNITY_STATE,BID_CURRENCY,BID_AMOUNT,ACTUAL_CLOSE_DATE,"
        "DATE_CREATED_UTC,DATE_UPDATED_UTC,PROBABILITY,FORECAST_CLOSE_DATE,OWNER_USER_ID,"
        "PIPELINE_STAGE\n"
        "1,OPEN,USD,100,,2025-05-26 17:50:19,2025-06-01 06:52:48,30,2025-08-01,7,Present\n"
        "2,ABANDONED,USD,50,2024-12-28,2024-10-07 15:22:10,2024-12-28 17:23:57,0,2024-12-28,8,"
        "Negotiate\n"
        "3,WON,USD,70,2024-11-02,2024-10-01 10:00:00,2024-11-02 10:00:00,100,2024-11-02,7,"
        "Negotiate\n"
        "4,LOST,USD,20,2024-11-03,2024-10-02 10:00:00,2024-11-03 10:00:00,0,2024-11-03,8,Qualify\n"
        "5,SUSPENDED,USD,30,,2024-10-03 10:00:00,2024-11-04 10:00:00,10,2025-01-03,8,Qualify\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["amount"] == "BID_AMOUNT"
    assert draft.columns["currency"] == "BID_CURRENCY"
    assert draft.columns["created_at"] == "DATE_CREATED_UTC"
    assert draft.columns["updated_at"] == "DATE_UPDATED_UTC"
    assert draft.columns["expected_close_at"] == "FORECAST_CLOSE_DATE"
    assert draft.columns["closed_at"] == "ACTUAL_CLOSE_DATE"
    assert draft.columns["owner"] == "OWNER_USER_ID"
    assert "stage: {first_of: [OPPORTUNITY_STATE, PIPELINE_STAGE]}" in draft.text
    assert "won: WON" in draft.text
    # ABANDONED is another name of the loss (the more frequent is the one named lost).
    assert "ABANDONED: LOST" in draft.text or "LOST: ABANDONED" in draft.text
    assert 'SUSPENDED: ""' in draft.text  # open: its stage is read
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    stages = export.opportunities.set_index("id")["stage"].to_dict()
    assert (stages["1"], stages["3"], stages["5"]) == ("Present", "WON", "Qualify")
    assert stages["2"] == stages["4"] and stages["2"] in ("LOST", "ABANDONED")
