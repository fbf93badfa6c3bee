"""Drafts of Close, Copper, Odoo, Keap, Zendesk Sell, monday.com, Freshsales, Agile CRM and a
German Pipedrive export find their columns and outcomes as those CRMs write them."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from forecast.data import store
from forecast.data.importing import import_export, read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.errors import ImportRejected
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


def test_an_odoo_export_reads_an_archived_deal_at_probability_0_as_lost(tmp_path):
    file = write(
        tmp_path,
        "crm.lead.csv",
        "ID,Stage,Expected Revenue,Probability,Created on,Closed Date,Active\n"
        "__export__.crm_lead_1,Won,1000.00,100,2024-03-05 10:00:00,2024-04-01 10:00:00,True\n"
        "__export__.crm_lead_2,Qualified,500.00,0,2024-03-06 10:00:00,2024-04-02 10:00:00,False\n"
        "__export__.crm_lead_3,Qualified,700.00,30.5,2024-03-07 10:00:00,,True\n"
        "__export__.crm_lead_4,New,200.00,10,2024-03-08 10:00:00,,True\n",
    )
    draft, deals = _read(tmp_path, file)
    assert draft.columns["amount"] == "Expected Revenue"  # the deal's amount, kept when lost
    assert "stage: {first_of: [Active, Stage]}" in draft.text
    stages = deals["stage"].to_dict()
    assert stages == {
        "__export__.crm_lead_1": "Won",
        "__export__.crm_lead_2": "Lost",
        "__export__.crm_lead_3": "Qualified",
        "__export__.crm_lead_4": "New",
    }
    assert deals.loc["__export__.crm_lead_2", "amount"] == 500.0


def test_a_salesforce_expected_revenue_is_not_an_amount(tmp_path):
    file = write(
        tmp_path,
        "report.csv",
        "Opportunity ID,Stage,Expected Revenue,Probability (%),Close Date\n"
        "1,Closed Won,1000,100,2024-04-01\n2,Closed Lost,0,0,2024-04-02\n"
        "3,Prospecting,100,10,2024-05-01\n",
    )
    assert "amount" not in draft_mapping(file).columns


def test_a_close_export_reads_its_value_in_cents(tmp_path):
    file = write(
        tmp_path,
        "close.csv",
        "id,status_label,value,value_currency,value_formatted,date_created,date_won\n"
        'oppo_1,Won,123456,USD,"$1,234.56",2024-03-05T10:00:00+00:00,2024-04-01\n'
        'oppo_2,Lost,500000,USD,"$5,000",2024-03-06T10:00:00+00:00,2024-04-02\n'
        "oppo_3,Demo,9900,USD,$99,2024-03-07T10:00:00+00:00,2024-06-02\n",
    )
    draft, deals = _read(tmp_path, file)
    assert "amount: {in_cents: true}" in draft.text
    assert deals["amount"].to_dict() == {"oppo_1": 1234.56, "oppo_2": 5000.0, "oppo_3": 99.0}
    plain = write(
        tmp_path,
        "plain.csv",
        'id,status_label,value,value_formatted\noppo_1,Won,1234,"$1,234"\noppo_2,Lost,5,$5\n',
    )
    assert "in_cents" not in draft_mapping(plain).text


MONDAY = (
    "Deals\n\nActive Deals\n"
    "Name,Item ID,Deal Stage,Deal Value,Creation Log,Actual Close Date\n"
    "A,101,Proposal,100,2024-03-05 10:00:00 UTC,\n"
    "B,102,Discovery,200,2024-03-06 10:00:00 UTC,\n\n"
    "Closed Won\n"
    "Name,Item ID,Deal Stage,Deal Value,Creation Log,Actual Close Date\n"
    "C,103,Won,300,2024-03-07 10:00:00 UTC,2024-04-01\n\n"
    "Closed Lost\n"
    "Name,Item ID,Deal Stage,Deal Value,Creation Log,Actual Close Date\n"
    "D,104,Lost,400,2024-03-08 10:00:00 UTC,{close}\n"
)


def test_a_monday_board_export_reads_every_group_under_its_title(tmp_path):
    file = write(tmp_path, "board.csv", MONDAY.format(close="2024-04-02"))
    draft, deals = _read(tmp_path, file)
    assert (draft.columns["id"], draft.columns["stage"]) == ("Item ID", "Deal Stage")
    assert deals["stage"].to_dict() == {
        "101": "Proposal",
        "102": "Discovery",
        "103": "Won",
        "104": "Lost",
    }
    assert "Name" not in deals["stage"].tolist()  # no group's header copy read as a deal


def test_a_monday_board_problem_names_its_line_in_the_file(tmp_path):
    file = write(tmp_path, "board.csv", MONDAY.format(close="someday"))
    draft = draft_mapping(write(tmp_path, "ok.csv", MONDAY.format(close="2024-04-02")))
    mapping = load_mapping(write(tmp_path, "draft.yaml", draft.text))
    with pytest.raises(ImportRejected) as caught:
        read_export(file, mapping)
    [problem] = caught.value.report.examples
    assert problem.row == 14  # its line in the file, under the title and the groups' lines


def test_a_freshsales_export_without_ids_hashes_one_from_name_and_creation(tmp_path):
    text = (
        "Name,Deal value,Deal stage,Closed date,Created at\n"
        "Big Win,100,Won,04/01/2024,03/05/2024 10:00 AM\n"
        "Renewal,50,Lost,04/02/2024,03/06/2024 10:00 AM\n"
        "Renewal,70,Demo,,03/07/2024 10:00 AM\n"
    )
    draft, deals = _read(tmp_path, write(tmp_path, "deals.csv", text))
    assert "id: {hash_of: [Name, Created at]}" in draft.text
    assert len(deals) == 3 and deals.index.is_unique
    again = read_export(write(tmp_path, "again.csv", text), load_mapping(tmp_path / "draft.yaml"))
    assert set(again.opportunities["id"]) == set(deals.index)  # the same deals on a re-import
    twice = write(tmp_path, "twice.csv", text + "Renewal,70,Demo,,03/07/2024 10:00 AM\n")
    assert "id: ???" in draft_mapping(twice).text  # two deals alike: the draft asks


def test_dates_of_either_order_draft_every_column_s_format(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "ID,Stage,Closed date,Created at\n1,Won,04/01/2024,03/05/2024 10:00 AM\n"
        "2,Lost,04/02/2024,03/06/2024 10:00 AM\n3,Demo,,03/07/2024 10:00 AM\n",
    )
    draft, deals = _read(tmp_path, file)
    assert 'date_format: ["%m/%d/%Y %I:%M %p", "%m/%d/%Y"]   # or the other order' in draft.text
    assert str(deals.loc["1", "closed_at"].date()) == "2024-04-01"  # the date-only close read


def test_a_won_date_given_on_every_deal_is_the_one_close_date(tmp_path):
    file = write(
        tmp_path,
        "close.csv",
        "id,status_label,value,date_created,date_won\n"
        "oppo_1,Won,100,2024-03-05T10:00:00+00:00,2024-04-01\n"
        "oppo_2,Lost,100,2024-03-06T10:00:00+00:00,2024-04-02\n"
        "oppo_3,Demo,100,2024-03-07T10:00:00+00:00,2024-06-30\n",
    )
    draft, deals = _read(tmp_path, file)
    assert draft.columns["close_date"] == "date_won"  # Close's: expected while open
    assert pd.isna(deals.loc["oppo_3", "closed_at"])
    assert str(deals.loc["oppo_3", "expected_close_at"].date()) == "2024-06-30"
    assert str(deals.loc["oppo_2", "closed_at"].date()) == "2024-04-02"


def test_a_french_export_reads_feminine_outcomes_its_numero_and_montant_ht(tmp_path):
    file = write(
        tmp_path,
        "opportunites.csv",
        "Numéro;Statut;Étape;Montant HT;Date de création;Échéance;Date de clôture\n"
        "OPP-1;Gagnée;Négociation;1\u202f234,50 €;05/03/2024;30/04/2024;01/04/2024\n"
        "OPP-2;Perdue;Découverte;500,00 €;06/03/2024;30/04/2024;02/04/2024\n"
        "OPP-3;Annulée;Découverte;700,00 €;07/03/2024;30/04/2024;03/04/2024\n"
        "OPP-4;En cours;Découverte;900,00 €;08/03/2024;30/05/2024;\n",
    )
    draft, deals = _read(tmp_path, file)
    assert (draft.columns["id"], draft.columns["amount"]) == ("Numéro", "Montant HT")
    assert draft.columns["expected_close_at"] == "Échéance"
    assert "stage: {first_of: [Statut, Étape]}" in draft.text
    stages = deals["stage"].to_dict()
    assert stages["OPP-1"] == "Gagnée" and stages["OPP-4"] == "Découverte"
    assert stages["OPP-2"] == stages["OPP-3"]  # a cancelled deal is lost too
    assert stages["OPP-2"] in ("Perdue", "Annulée")
    assert deals.loc["OPP-1", "amount"] == 1234.5


def test_an_odoo_export_in_french_finds_its_columns(tmp_path):
    file = write(
        tmp_path,
        "crm_fr.csv",
        "ID,Client,Vendeur,Équipe commerciale,Étape,Revenu espéré,Probabilité,Clôture prévue,"
        "Créé le,Dernière mise à jour le,Date de fermeture,Actif\n"
        "l1,A,Léa,Ventes,Gagné,1000.00,100,2024-04-30,2024-03-05 10:00:00,"
        "2024-04-01 10:00:00,2024-04-01 10:00:00,True\n"
        "l2,B,Léa,Ventes,Qualifié,500.00,0,2024-04-30,2024-03-06 10:00:00,"
        "2024-04-02 10:00:00,2024-04-02 10:00:00,False\n"
        "l3,C,Paul,Ventes,Nouveau,700.00,10,2024-05-30,2024-03-07 10:00:00,"
        "2024-04-03 10:00:00,,True\n",
    )
    draft, deals = _read(tmp_path, file)
    assert {f: draft.columns.get(f) for f in ("amount", "owner", "team", "created_at")} == {
        "amount": "Revenu espéré",
        "owner": "Vendeur",
        "team": "Équipe commerciale",
        "created_at": "Créé le",
    }
    assert draft.columns["closed_at"] == "Date de fermeture"
    assert draft.columns["expected_close_at"] == "Clôture prévue"
    assert draft.columns["updated_at"] == "Dernière mise à jour le"
    assert deals["stage"].to_dict() == {"l1": "Gagné", "l2": "Lost", "l3": "Nouveau"}


def test_close_s_renamed_statuses_read_their_outcome_from_status_type(tmp_path):
    file = write(
        tmp_path,
        "close.csv",
        "id,status_label,status_type,value,date_created,date_won\n"
        "oppo_1,Signed,won,100,2024-03-05T10:00:00+00:00,2024-04-01\n"
        "oppo_2,Not Interested,lost,100,2024-03-06T10:00:00+00:00,2024-04-02\n"
        "oppo_3,Demo,active,100,2024-03-07T10:00:00+00:00,2024-06-30\n"
        "oppo_4,Proposal,active,100,2024-03-08T10:00:00+00:00,\n",
    )
    draft, deals = _read(tmp_path, file)
    assert "stage: {first_of: [status_type, status_label]}" in draft.text
    assert "Signed" not in draft.text.split("stages:")[1]  # a won deal's label: no open stage
    assert deals["stage"].to_dict() == {
        "oppo_1": "won",
        "oppo_2": "lost",
        "oppo_3": "Demo",
        "oppo_4": "Proposal",
    }
    # date_won is given on a lost deal too: the one close date, expected while open
    assert draft.columns["close_date"] == "date_won"
    assert pd.isna(deals.loc["oppo_3", "closed_at"])


def test_an_export_read_again_at_the_same_time_says_which_deals_kept_their_stored_values(
    engine, tmp_path
):
    rows = "".join(
        f"oppo_{i},{'Won' if i % 2 else 'Lost'},{i + 1}0000,2024-03-0{i + 1},2024-04-01\n"
        for i in range(8)
    )
    file = write(tmp_path, "close.csv", "id,status_label,value,date_created,date_won\n" + rows)
    dollars = (
        "kind: opportunities\ndataset: c\ncolumns: {id: id, stage: status_label, amount: value, "
        "created_at: date_created, closed_at: date_won}\n"
        "stages: {open: [Demo], won: Won, lost: Lost}\n"
    )
    cents = dollars + "amount: {in_cents: true}\n"
    import_export(engine, file, load_mapping(write(tmp_path, "a.yaml", dollars)))
    fixed = import_export(engine, file, load_mapping(write(tmp_path, "b.yaml", cents)))
    with engine.connect() as conn:
        rows_ = conn.execute(select(store.opportunities.c.id, store.opportunities.c.amount)).all()
    stored = {i: a for i, a in rows_}
    kept = sum(1 for amount in stored.values() if amount >= 10000)  # the first reading's
    assert 0 < kept < 8  # a tie goes either way: both are seen here
    assert fixed.rows_written + kept == 8
    said = [n for n in fixed.notes if "same update time" in n]
    assert [n.split(" deal(s)")[0] for n in said] == ([str(kept)] if kept else [])
