"""Drafts of Insightly, Bitrix24, ActiveCampaign, SugarCRM, Capsule and Nutshell exports find
their columns and outcomes as those CRMs write them."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.header_encoding import encoding_hint, garbled_header
from forecast.data.importing import read_export
from forecast.data.mapping import CsvOptions, load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.errors import InvalidInput
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


def test_a_bitrix24_failure_stage_is_a_loss(tmp_path):
    file = write(
        tmp_path,
        "bitrix.csv",
        '"ID";"Stage";"Probability, %";"Income";"Currency";"Created";"Closed"\n'
        '"1";"Deal lost";"0";"10";"EUR";"2024-01-02";"Yes"\n'
        '"2";"Analyze failure";"0";"20";"EUR";"2024-01-03";"Yes"\n'
        '"3";"Deal won";"100";"30";"EUR";"2024-01-04";"Yes"\n'
        '"4";"New";"";"40";"EUR";"2024-01-05";"No"\n'
        '"5";"Shelved";"0";"50";"EUR";"2024-01-06";"Yes"\n'
        '"6";"Deal lost";"0";"60";"EUR";"2024-01-07";"Yes"\n',
    )
    draft = draft_mapping(file)
    assert "lost: Deal lost" in draft.text and "Analyze failure: Deal lost" in draft.text
    # Closed ("Yes") at 0% in every deal: another name of the loss.
    assert "Shelved: Deal lost" in draft.text
    assert "- Analyze failure" not in draft.text and "- Shelved" not in draft.text


def test_a_stage_whose_every_deal_is_closed_at_probability_0_is_drafted_lost(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Id,Stage,Amount,Probability,Created,Closed At\n"
        "1,Won,10,100,2024-01-02,2024-02-02\n"
        "2,Archived,20,0,2024-01-03,2024-02-03\n"
        "3,Archived,25,0,2024-01-03,2024-02-04\n"
        "4,Proposal,30,40,2024-01-04,\n"
        "5,Intake,40,10,2024-01-05,\n",
    )
    draft = draft_mapping(file)
    assert "lost: Archived" in draft.text
    assert "- Archived" not in draft.text
    assert any("'Archived'" in c and "drafted as lost" in c for c in draft.checks)


def test_a_stage_at_probability_0_with_no_close_said_is_named_in_a_check(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Id,Stage,Amount,Probability,Created\n"
        "1,Won,10,100,2024-01-02\n2,Lost,15,0,2024-01-02\n"
        "3,Archived,20,0,2024-01-03\n4,Proposal,30,40,2024-01-04\n",
    )
    draft = draft_mapping(file)
    assert "- Archived" in draft.text
    assert any("'Archived'" in c and "probability 0" in c for c in draft.checks)


def test_deal_and_opportunity_named_fields_are_matched_as_the_field(tmp_path):
    file = write(
        tmp_path,
        "activecampaign.csv",
        "Deal ID,Deal Value,Deal Currency,Deal Stage,Deal Owner,Deal Status,Deal Create Date,"
        "Deal Updated Date,Deal Close Date\n"
        "1,100,usd,Proposal,Ava,Won,2024-01-02,2024-02-01,2024-02-01\n"
        "2,50,usd,Follow Up,Ben,Lost,2024-01-03,2024-02-02,2024-02-02\n"
        "3,70,usd,Proposal,Ava,Open,2024-01-04,2024-02-03,2024-03-30\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["amount"] == "Deal Value"
    assert draft.columns["currency"] == "Deal Currency"
    assert draft.columns["owner"] == "Deal Owner"
    assert draft.columns["created_at"] == "Deal Create Date"
    assert draft.columns["updated_at"] == "Deal Updated Date"
    assert draft.columns["close_date"] == "Deal Close Date"
    assert "stage: {first_of: [Deal Status, Deal Stage]}" in draft.text
    assert "won: Won" in draft.text and "lost: Lost" in draft.text
    assert not any("no close date" in c or "no currency" in c for c in draft.checks)
    sugar = write(
        tmp_path,
        "sugar.csv",
        "ID,Opportunity Amount,Sales Stage,Deal Last Updated,Opportunity Created Date\n"
        "1,100,Closed Won,2024-02-01,2024-01-01\n2,50,Prospecting,2024-02-02,2024-01-02\n",
    )
    draft = draft_mapping(sugar)
    assert draft.columns["amount"] == "Opportunity Amount"
    assert draft.columns["updated_at"] == "Deal Last Updated"
    assert draft.columns["created_at"] == "Opportunity Created Date"


def test_a_sugarcrm_time_with_pm_glued_to_the_minutes_drafts_a_format_that_imports(tmp_path):
    file = write(
        tmp_path,
        "sugar.csv",
        '"ID","Opportunity Amount","Sales Stage","Date Closed","Date Created"\n'
        '"1","100","Closed Won","01/13/2024","10/06/2023 06:46pm"\n'
        '"2","50","Closed Lost","04/21/2024","01/05/2024 12:55am"\n'
        '"3","70","Prospecting","","02/05/2024 05:46PM"\n',
    )
    draft = draft_mapping(file)
    assert 'date_format: ["%m/%d/%Y %I:%M%p", "%m/%d/%Y"]' in draft.text
    assert not any("no date format" in c for c in draft.checks)
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    created = export.opportunities.set_index("id")["created_at"]
    assert created["1"] == pd.Timestamp("2023-10-06 18:46")
    assert created["2"] == pd.Timestamp("2024-01-05 00:55")


def test_a_capsule_export_reads_its_milestone_as_the_stage_and_its_party_as_the_account(
    tmp_path,
):
    file = write(
        tmp_path,
        "capsule.csv",
        "ID,Name,Party,Milestone,Value,Currency,Closed On,Created\n"
        "1,A,Wayne Corp,Lost,300,GBP,2024-11-17,2024-09-26\n"
        "2,B,Acme,Won,400,USD,2024-08-01,2024-06-06\n"
        "3,C,Acme,Proposal,500,USD,,2024-06-07\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["stage"] == "Milestone" and draft.columns["account"] == "Party"
    assert "won: Won" in draft.text and "lost: Lost" in draft.text


def test_a_file_named_leads_with_a_deals_columns_is_drafted_as_deals(tmp_path):
    # Nutshell calls its deals "leads": a status, a value and a close are a deal's.
    file = write(
        tmp_path,
        "nutshell_leads.csv",
        "Id,Name,Status,Value,Owner,Created,Closed\n"
        "1,A,Won,100,Lucas,01/28/2025,04/12/2025\n"
        "2,B,Lost,200,Ethan,04/23/2025,06/05/2025\n"
        "3,C,Open,300,Ethan,04/24/2025,\n",
    )
    draft = draft_mapping(file)
    assert draft.kind == "opportunities"
    assert draft.columns["closed_at"] == "Closed"  # its values are dates
    # Without a close, the name still breaks the tie.
    file = write(
        tmp_path,
        "web_leads.csv",
        "Id,Name,Status,Value,Created\n1,A,Won,100,2025-01-28\n2,B,Lost,200,2025-04-23\n",
    )
    assert draft_mapping(file).kind == "leads"


def test_a_lead_file_with_a_deal_value_and_an_expected_close_stays_leads(tmp_path):
    """A lead's status words ("Converted", "Unqualified") say leads, whatever deal-like columns
    sit beside them (Freshsales' "Deal value", "Deal expected close date")."""
    file = write(
        tmp_path,
        "export.csv",
        "Lead ID,Status,Deal value,Deal expected close date,Created at\n"
        "1,Converted,100,2025-03-01,2025-01-28\n2,Unqualified,200,2025-04-01,2025-01-29\n"
        "3,New,300,2025-05-01,2025-01-30\n4,Contacted,50,2025-05-02,2025-01-31\n",
    )
    draft = draft_mapping(file)
    assert draft.kind == "leads"
    assert "converted: Status" in draft.text


def test_a_closed_flag_is_not_drafted_as_a_close_date(tmp_path):
    file = write(
        tmp_path,
        "report.csv",
        "Opportunity ID,Stage,Amount,Created Date,Closed\n"
        "1,Closed Won,100,2024-01-02,true\n2,Prospecting,200,2024-01-03,false\n",
    )
    draft = draft_mapping(file)
    assert "Closed" not in draft.columns.values()


RUSSIAN = (
    '"ID";"Стадия сделки";"Сумма";"Дата создания"\n'
    '"1";"Сделка успешна";"100";"21.12.2023"\n"2";"Новая";"200";"22.12.2023"\n'
)


def test_a_cp1251_export_is_drafted_in_its_encoding_and_says_so(tmp_path):
    file = tmp_path / "bitrix_ru.csv"
    file.write_bytes(RUSSIAN.encode("cp1251"))
    draft = draft_mapping(file, kind="opportunities")
    assert draft.columns["id"] == "ID"
    assert "csv: {encoding: cp1251}" in draft.text
    assert "another encoding" in draft.checks[0] and "cp1251" in draft.checks[0]
    with pytest.raises(InvalidInput, match="another encoding.*cp1251"):
        draft_mapping(file)  # no column it knows: the error says the encoding too


def test_a_mappings_columns_missing_from_a_header_in_another_encoding_name_it(tmp_path):
    file = tmp_path / "bitrix_ru.csv"
    file.write_bytes(RUSSIAN.encode("cp1251"))
    mapping = write(
        tmp_path,
        "ru.yaml",
        "kind: opportunities\ndataset: ru\ncolumns:\n  id: ID\n  stage: Стадия сделки\n"
        "  amount: Сумма\n  created_at: Дата создания\ndate_format: '%d.%m.%Y'\n"
        "stages:\n  open: [Новая]\n  won: Сделка успешна\n  lost: Сделка провалена\n",
    )
    with pytest.raises(InvalidInput, match="another encoding.*csv: encoding: cp1251"):
        read_export(file, load_mapping(mapping))


def test_a_french_header_in_cp1252_is_not_said_garbled():
    assert not garbled_header(["Qualité", "Région", "Étape", "Montant", "Date de clôture"])
    assert encoding_hint(["Ñòàäèÿ ñäåëêè", "ID"], CsvOptions(encoding="cp1252")).endswith(
        "csv: encoding: cp1251 (or the right one)"
    )


def test_both_outcomes_left_blank_are_named_as_the_drafts_blanks(tmp_path):
    file = write(tmp_path, "deals.csv", "Id,Stage,Created\n1,Proposal,2024-01-02\n")
    mapping = write(
        tmp_path,
        "draft.yaml",
        "kind: opportunities\ndataset: d\ncolumns:\n  id: Id\n  stage: Stage\n"
        "  created_at: Created\nstages:\n  open:\n    - Proposal\n  won: ???\n  lost: ???\n",
    )
    with pytest.raises(InvalidInput, match=r"leaves \['stages.won', 'stages.lost'\] as '\?\?\?'"):
        read_export(file, load_mapping(mapping))


def test_a_lead_files_decimal_commas_are_drafted_beside_a_column_of_phone_numbers(tmp_path):
    file = write(
        tmp_path,
        "leads_es.csv",
        "Nombre;Teléfono;Fecha de creación;Estado;Presupuesto\n"
        "Diego;+34 668017409;08/11/2024;Convertido;209,01\n"
        "Carlos;+34 692556482;28/04/2024;Descartado;2.692,16\n"
        "Pablo;+34 654649978;13/11/2024;Calificado;563,68\n",
    )
    draft = draft_mapping(file)
    assert draft.kind == "leads"
    assert 'csv: {decimal: ",", thousands: "."}' in draft.text


def test_a_salesforce_lead_report_drafts_its_status_not_its_converted_flag(tmp_path):
    file = write(
        tmp_path,
        "sf_leads_report.csv",
        "Lead ID,Company,Lead Status,Create Date,Converted\n"
        "00Q1,Red,Closed - Converted,9/6/2024 3:14 PM,1\n"
        "00Q2,Blue,Closed - Not Converted,3/18/2024 10:21 AM,0\n"
        "00Q3,Green,Working - Contacted,3/19/2024 10:21 AM,0\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["converted"] == "Lead Status"
    assert "leak_columns: [Converted]" in draft.text
    assert 'Working - Contacted: ""   # not known yet' in draft.text
    # The file is one a built-in mapping reads with no mapping given: said first.
    assert "salesforce_leads" in draft.checks[0] and "forecast import" in draft.checks[0]
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    leads = export.leads.set_index("id")["converted"]
    assert leads["00Q1"] == 1 and leads["00Q2"] == 0 and pd.isna(leads["00Q3"])


def test_a_lead_file_a_built_in_mapping_cannot_read_is_not_said_to_be_read_by_it(tmp_path):
    """A Zoho lead file has a Salesforce report's "Lead Id" and "Lead Status", not its
    statuses: the preset's name matches, its reading fails, and the draft does not send the
    user to it."""
    file = write(
        tmp_path,
        "leads_zoho.csv",
        "Lead Id,Lead Status,Annual Revenue,Lead Source,Created Time\n"
        "1,Contacted,100000,Web,2024-01-01\n2,Junk Lead,200000,Ads,2024-01-02\n"
        "3,Converted,50000,Web,2024-01-03\n",
    )
    draft = draft_mapping(file)
    assert not any("built-in mapping" in c for c in draft.checks), draft.checks


def test_a_converted_flag_beside_a_status_of_outcomes_only_stays_the_label(tmp_path):
    file = write(
        tmp_path,
        "leads.csv",
        "Lead,Status,Converted\n1,Won,1\n2,Lost,0\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["converted"] == "Converted"
    assert not any("built-in mapping" in c for c in draft.checks)


def test_the_one_close_date_a_crm_calls_expected_is_drafted_as_the_close_date(tmp_path):
    """SugarCRM has no column of when a deal closed: its "Expected Close Date" is the one close
    date (expected while open, actual once won or lost), and the draft imports every deal."""
    file = write(
        tmp_path,
        "sugar.csv",
        "ID,Opportunity Amount,Sales Stage,Expected Close Date,Date Created\n"
        "1,100,Closed Won,2024-01-13,2023-10-06\n2,50,Closed Lost,2024-04-21,2024-01-05\n"
        "3,70,Prospecting,2024-09-30,2024-02-05\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["close_date"] == "Expected Close Date"
    assert "expected_close_at" not in draft.columns
    assert not any("no close date" in c for c in draft.checks)
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    assert len(export.opportunities) == 3
    # With a column of actual closes beside it, the expected one stays the expected one.
    both = write(
        tmp_path,
        "both.csv",
        "ID,Amount,Stage,Expected Close Date,Actual Close Date,Created\n"
        "1,100,Closed Won,2024-01-10,2024-01-13,2023-10-06\n"
        "2,70,Prospecting,2024-09-30,,2024-02-05\n",
    )
    assert draft_mapping(both).columns["expected_close_at"] == "Expected Close Date"


@pytest.mark.parametrize("label", ["Converted To Paid", "is_customer", "Became Customer"])
def test_a_trial_signup_files_conversion_flag_is_its_label(tmp_path, label):
    file = write(
        tmp_path,
        "trials.csv",
        f"Email,Plan,Signup Date,{label}\n"
        "a@x.io,pro,2024-03-05,TRUE\nb@x.io,free,2024-03-06,FALSE\nc@x.io,pro,2024-03-07,FALSE\n",
    )
    draft = draft_mapping(file)
    assert draft.kind == "leads" and draft.columns["converted"] == label
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    assert export.leads["converted"].tolist() == [1, 0, 0]


def test_a_garbled_header_no_encoding_reads_is_said_without_a_guess(monkeypatch):
    """Where no other encoding reads the header as one alphabet, the hint shows the header as
    it is and still names csv: encoding (no encoding named "" is looked up)."""
    from forecast.data import header_encoding

    monkeypatch.setattr(header_encoding, "other_reading", lambda header, encoding: "")
    said = header_encoding.encoding_hint(["Ãàëþ Ôûâ", "ÀÁÂÃ ÄÅÆ"])
    assert "('Ãàëþ Ôûâ')" in said and "csv: encoding: cp1251" in said
