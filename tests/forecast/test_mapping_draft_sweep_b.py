"""Drafts of Close, Copper, Odoo, Keap, Zendesk Sell, monday.com, Freshsales, Agile CRM and a
German Pipedrive export find their columns and outcomes as those CRMs write them."""

from __future__ import annotations

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write


def _read(tmp_path, file):
    """The deals the drafted mapping reads from `file`, by id."""
    draft = draft_mapping(file)
    mapping = load_mapping(write(tmp_path, "draft.yaml", draft.text))
    return draft, read_export(file, mapping).opportunities.set_index("id")


def test_a_german_pipedrive_export_reads_its_phase_value_and_won_and_lost_times(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal - ID;Deal - Wert;Deal - Währung;Deal - Status;Deal - Phase;Deal - Deal erstellt;"
        "Deal - Letzte Aktualisierung;Deal - Gewonnen am;Deal - Verloren am;"
        "Deal - Voraussichtliches Abschlussdatum\n"
        "1;1.234,50;EUR;Gewonnen;Angebot erstellt;05.03.2024 10:00;01.04.2024 10:00;"
        "01.04.2024 10:00;;30.04.2024\n"
        "2;500,00;EUR;Verloren;Qualifiziert;06.03.2024 10:00;02.04.2024 10:00;;"
        "02.04.2024 10:00;30.04.2024\n"
        "3;2.000,00;EUR;Offen;Demo geplant;07.03.2024 10:00;03.04.2024 10:00;;;30.05.2024\n",
    )
    draft, deals = _read(tmp_path, file)
    assert draft.columns["amount"] == "Deal - Wert"
    assert draft.columns["currency"] == "Deal - Währung"
    assert draft.columns["created_at"] == "Deal - Deal erstellt"
    assert draft.columns["updated_at"] == "Deal - Letzte Aktualisierung"
    assert draft.columns["expected_close_at"] == "Deal - Voraussichtliches Abschlussdatum"
    assert "stage: {first_of: [Deal - Status, Deal - Phase]}" in draft.text
    assert deals.loc["3", "stage"] == "Demo geplant"  # an open deal's phase, not "Offen"
    assert deals.loc["1", "amount"] == 1234.5
    assert str(deals.loc["2", "closed_at"].date()) == "2024-04-02"


def test_keap_close_and_sell_columns_are_found_by_their_names(tmp_path):
    keap = write(
        tmp_path,
        "keap.csv",
        "Id,Stage,Date Created,Estimated Close Date,Projected Revenue Low,"
        "Projected Revenue High\n1,Won,3/5/2024,4/5/2024,80.00,100.00\n"
        "2,Lost,3/6/2024,4/6/2024,8.00,10.00\n",
    )
    assert draft_mapping(keap).columns["amount"] == "Projected Revenue High"
    close = write(
        tmp_path,
        "close.csv",
        "id,status_label,confidence,value_currency,value,date_created\n"
        "oppo_1,Won,100,EUR,100,2024-03-05T10:00:00+00:00\n"
        "oppo_2,Lost,0,EUR,100,2024-03-06T10:00:00+00:00\n",
    )
    columns = draft_mapping(close).columns
    assert (columns["rep_probability"], columns["currency"]) == ("confidence", "value_currency")
    sell = write(
        tmp_path,
        "sell.csv",
        "ID,Stage,Value,Added On\n1,Won,10,2024-03-05 10:00:00 UTC\n"
        "2,Lost,5,2024-03-06 10:00:00 UTC\n",
    )
    assert draft_mapping(sell).columns["created_at"] == "Added On"


def test_a_zendesk_sell_unqualified_deal_is_lost(tmp_path):
    file = write(
        tmp_path,
        "sell.csv",
        "ID,Stage,Value,Added On,Estimated Close Date\n"
        "1,Won,10,2024-03-05 10:00:00 UTC,2024-04-01\n"
        "2,Unqualified,5,2024-03-06 10:00:00 UTC,2024-04-02\n"
        "3,Unqualified,5,2024-03-06 10:00:00 UTC,2024-04-02\n"
        "4,Lost,7,2024-03-07 10:00:00 UTC,2024-04-03\n"
        "5,Quote,8,2024-03-08 10:00:00 UTC,2024-06-03\n",
    )
    draft, deals = _read(tmp_path, file)
    assert "lost: Lost" in draft.text  # the loss named by "Lost", the more frequent beside it
    assert "Unqualified: Lost" in draft.text
    assert deals.loc["2", "stage"] == deals.loc["4", "stage"] == "Lost"
    assert deals.loc["5", "stage"] == "Quote"
