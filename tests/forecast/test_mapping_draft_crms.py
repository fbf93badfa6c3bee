"""Drafts of exports from more CRMs read their outcomes and dates as those CRMs write them: lead
statuses that are steps of the funnel are not conversions, a deal abandoned is lost, "Lead
Status" is a lead's outcome, Copper's and Close.io's creation dates are found, a month written
by name sits beside ISO dates, and a French spreadsheet's accents, encoding and decimal commas
are read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data.importing import read_export
from forecast.data.lead_outcomes import lead_outcome
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write


def pipedrive_export(folder: Path, plan: dict[str, tuple[int, int, int]]) -> Path:
    """A Pipedrive-like export with `plan`'s deals (stage: won, lost and open counts): each
    deal's last stage beside its status, no probabilities."""
    rows = ["Deal - ID,Deal - Stage,Deal - Status,Deal - Value,Deal - Deal created"]
    n = 0
    for stage, counts in plan.items():
        for status, k in zip(("Won", "Lost", "Open"), counts, strict=True):
            for _ in range(k):
                n += 1
                rows.append(f"{n},{stage},{status},100,2024-01-{1 + n % 28:02d}")
    return write(folder, "pipedrive.csv", "\n".join(rows))


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("Converted", "1"),
        ("Closed - Converted", "1"),
        ("Qualified", "1"),
        ("Not Qualified", "0"),
        ("Non converted", "0"),
        ("Junk Lead", "0"),
        ("Lost Lead", "0"),
        ("Disqualified", "0"),
        ("Pre-Qualified", None),
        ("Marketing Qualified", None),
        ("Sales Qualified", None),
        ("Not Contacted", None),
        ("Attempted to Contact", None),
        ("Converti", "1"),
        ("Perdu", "0"),
        ("Non qualifié", "0"),
        ("En cours", None),
        ("Ja", "1"),
        ("Nein", "0"),
        ("TRUE", "1"),
        ("false", "0"),
        ("Ganado", "1"),
        ("Cliente", "1"),
        ("Descartado", "0"),
        ("No calificado", "0"),
        ("Sin respuesta", None),
        ("Vinto", "1"),
        ("Scartato", "0"),
        ("Non qualificato", "0"),
        ("In trattativa", None),
    ],
)
def test_a_lead_status_is_a_conversion_only_where_it_says_so_as_a_whole(status, label):
    assert lead_outcome(status) == label


def test_a_lead_status_column_is_the_leads_outcome(tmp_path):
    file = write(
        tmp_path,
        "leads.csv",
        "Lead Id,Created Time,Lead Source,Lead Status\n"
        "L1,2024-01-02,Web,Converted\nL2,2024-01-03,Ads,Not Qualified\n"
        "L3,2024-01-04,Web,Pre-Qualified\nL4,2024-01-05,Ads,Junk Lead\n",
    )
    draft = draft_mapping(file)
    assert draft.kind == "leads" and draft.columns["converted"] == "Lead Status"
    assert 'Not Qualified: "0"' in draft.text and 'Converted: "1"' in draft.text
    assert 'Pre-Qualified: ""   # not known yet' in draft.text


def test_an_abandoned_deal_is_lost_and_copper_dates_are_found(tmp_path):
    file = write(
        tmp_path,
        "copper.csv",
        "Id,Name,Status,Stage,Value,Date Created,Date Modified,Close Date,Win Percentage\n"
        "1,A,Won,Negotiating,100,2024-01-02,2024-02-01,2024-02-01,100\n"
        "2,B,Lost,Qualified,50,2024-01-03,2024-02-02,2024-02-02,0\n"
        "3,C,Abandoned,Qualified,70,2024-01-04,2024-02-03,2024-02-03,0\n"
        "4,D,Open,Negotiating,90,2024-01-05,2024-02-04,2024-03-30,60\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["created_at"] == "Date Created"
    assert draft.columns["updated_at"] == "Date Modified"
    assert draft.columns["rep_probability"] == "Win Percentage"
    # Another name of the loss, not an open status.
    assert "Abandoned: Lost" in draft.text or "Lost: Abandoned" in draft.text
    assert 'Open: ""' in draft.text and 'Abandoned: ""' not in draft.text


def test_a_month_by_name_beside_iso_dates_with_utc_drafts_a_format_for_each(tmp_path):
    file = write(
        tmp_path,
        "monday.csv",
        "Item ID,Name,Stage,Deal Value,Creation Log,Last updated\n"
        '1,A,Won,100,"Jan 07, 2023 10:44 AM",2023-03-19 05:42:04 UTC\n'
        '2,B,Lost,50,"Feb 11, 2023 09:05 PM",2023-04-02 11:00:00 UTC\n'
        '3,C,Proposal,70,"Mar 01, 2023 08:00 AM",2023-04-03 12:00:00 UTC\n',
    )
    draft = draft_mapping(file)
    assert 'date_format: ["%b %d, %Y %I:%M %p", "%Y-%m-%d %H:%M:%S"]' in draft.text
    assert not any("no date format" in c for c in draft.checks)


def test_a_french_export_in_cp1252_with_decimal_commas_drafts_a_mapping_that_imports(tmp_path):
    text = (
        "ID;Compte;Responsable;Étape;Montant;Date de création;Date de clôture;Probabilité\n"
        "O1;Initech;Sophie;Gagné;19\u00a0637,59 €;03/01/2023;11/01/2023;100\n"
        "O2;Acme;Lukas;Perdu;1.234,50 €;06/01/2023;30/01/2023;0\n"
        "O3;Beta;Sophie;Proposition;7 000,00 €;13/01/2023;30/06/2023;40\n"
    )
    file = tmp_path / "opportunites.csv"
    file.write_bytes(text.encode("cp1252"))
    draft = draft_mapping(file)
    assert draft.kind == "opportunities"
    assert draft.columns["stage"] == "Étape" and draft.columns["amount"] == "Montant"
    assert draft.columns["created_at"] == "Date de création"
    # Salesforce's translated CloseDate: expected while open, actual once closed.
    assert draft.columns["close_date"] == "Date de clôture"
    assert draft.columns["owner"] == "Responsable" and draft.columns["account"] == "Compte"
    assert "won: Gagné" in draft.text and "lost: Perdu" in draft.text
    assert 'csv: {decimal: ",", thousands: "."}' in draft.text
    mapping = load_mapping(write(tmp_path, "draft.yaml", draft.text))
    export = read_export(file, mapping)
    assert export.report.ok
    deals = export.opportunities.set_index("id")
    assert deals["amount"].to_dict() == {"O1": 19637.59, "O2": 1234.5, "O3": 7000.0}
    assert pd.isna(deals.loc["O3", "closed_at"])
    assert deals.loc["O3", "expected_close_at"] == pd.Timestamp("2023-06-30")


def test_hubspot_contacts_take_their_label_from_the_customer_date(tmp_path):
    # "Lead Status" says no conversion and "Lifecycle Stage" nothing of a lead that will not
    # convert: the customer date labels both.
    header = "Record ID,Lifecycle Stage,Lead Status,Create Date,Became a Customer Date\n"
    rows = "1,customer,CONNECTED,2024-01-02,2024-02-01\n2,lead,UNQUALIFIED,2024-01-03,\n"
    draft = draft_mapping(write(tmp_path, "contacts.csv", header + rows))
    assert draft.kind == "leads" and "converted" not in draft.columns
    assert draft.columns["converted_at"] == "Became a Customer Date"
    # With the lifecycle stage alone, it is the label: customers converted, the rest not yet.
    alone = write(tmp_path, "lc.csv", "Record ID,Lifecycle Stage\n1,Customer\n2,Lead\n3,Other\n")
    draft = draft_mapping(alone)
    assert draft.columns["converted"] == "Lifecycle Stage" and 'Customer: "1"' in draft.text
    # No value says a lead did not convert: the draft says a model needs some.
    assert any("says not converted" in c for c in draft.checks)


def test_a_draft_says_the_amounts_currency_is_to_check_where_the_file_names_none(tmp_path):
    header = "Id,Stage,Amount,Created\n"
    plain = write(tmp_path, "plain.csv", header + "1,Won,100,2024-01-02\n2,Lost,5,2024-01-03\n")
    draft = draft_mapping(plain)
    assert "currency: USD   # the amounts' currency" in draft.text
    assert any("no currency in the file" in c for c in draft.checks)
    priced = write(tmp_path, "eur.csv", header + "1,Won,€100,2024-01-02\n2,Lost,€5,2024-01-03\n")
    assert "currency:" not in draft_mapping(priced).text


def test_a_german_salesforce_report_drafts_its_close_date_owner_and_change_date(tmp_path):
    header = (
        '"Verkaufschancen-Inhaber","Phase","Betrag","Schlusstermin","Erstellt am",'
        '"Verkaufschance-ID","Zuletzt geändert"\n'
    )
    row = (
        '"Anna","Geschlossen und gewonnen","1.234,50","05.02.2024","02.01.2024","X1","05.02.2024"\n'
    )
    draft = draft_mapping(write(tmp_path, "verkaufschancen.csv", header + row))
    assert draft.columns["close_date"] == "Schlusstermin"
    assert draft.columns["owner"] == "Verkaufschancen-Inhaber"
    assert draft.columns["updated_at"] == "Zuletzt geändert"


def test_columns_named_alike_are_said_and_the_first_read(tmp_path):
    file = write(
        tmp_path,
        "dup.csv",
        "Deal ID,Stage,Amount,Amount,Created,Closed At\n"
        "D1,Won,100,999,2024-01-02,2024-02-01\nD2,Lost,50,999,2024-01-03,2024-02-02\n",
    )
    draft = draft_mapping(file)
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    assert (
        "the header names a column more than once: 'Amount' 2 times (columns 3 and 4); "
        "the first of each is read, the others left out"
    ) in export.report.notes
    assert not any("Amount.1" in n for n in export.report.notes)
    assert export.opportunities["amount"].tolist() == [100.0, 50.0]


def test_whole_us_amounts_are_not_drafted_as_decimal_commas(tmp_path):
    # "5,000" may be five thousand or five: no csv: line, and the import asks which.
    header = "Id,Stage,Amount,Created\n"
    rows = '1,Won,"5,000",2024-01-02\n2,Lost,"12,500",2024-01-03\n3,Won,300,2024-01-04\n'
    draft = draft_mapping(write(tmp_path, "us.csv", header + rows))
    assert "csv:" not in draft.text


def test_a_german_lead_file_drafts_its_label_dates_and_decimal_commas_and_imports(tmp_path):
    text = (
        "Lead-Nr.;Erstellt am;Quelle;Jahresumsatz (€);Verweildauer (Min.);Konvertiert\n"
        "L-1;21.04.2023;Google Ads;9.672.657,61;3,73;Nein\n"
        "L-2;22.04.2023;Messe;316.704,06;12,5;Ja\n"
        "L-3;23.04.2023;Google Ads;1.250,00;0,5;Nein\n"
    )
    file = tmp_path / "leads.csv"
    file.write_bytes(text.encode("cp1252"))
    draft = draft_mapping(file)
    assert draft.kind == "leads"
    assert draft.columns == {
        "id": "Lead-Nr.",
        "converted": "Konvertiert",
        "created_at": "Erstellt am",
    }
    assert 'date_format: "%d.%m.%Y"' in draft.text
    assert 'csv: {decimal: ",", thousands: "."}' in draft.text
    assert "value_fixes" not in draft.text  # Ja and Nein are read as they are
    leads = read_export(file, load_mapping(write(tmp_path, "d.yaml", draft.text))).leads
    leads = leads.set_index("id")
    assert leads["converted"].to_dict() == {"L-1": 0, "L-2": 1, "L-3": 0}
    # A column of dotted dates beside the numbers does not hide their decimal comma.
    dated = tmp_path / "dated.csv"
    lines = text.splitlines()
    dated.write_bytes(
        "\n".join(
            [lines[0] + ";Letzte Aktivität"]
            + [f"{line};2{i}.05.2023" for i, line in enumerate(lines[1:])]
        ).encode("cp1252")
    )
    assert 'csv: {decimal: ",", thousands: "."}' in draft_mapping(dated).text
    assert leads.loc["L-1", "Jahresumsatz (€)"] == 9672657.61
    assert leads.loc["L-2", "created_at"] == pd.Timestamp("2023-04-22")


def test_pipedrive_and_purchase_lead_files_draft_their_label(tmp_path):
    pipedrive = write(
        tmp_path,
        "pipedrive_leads.csv",
        "Lead - ID,Lead - Title,Lead - Source,Lead - Lead created,Lead - Converted to deal\n"
        "a1,Acme lead,Web,2024-01-01 07:38:03,No\nb2,Beta lead,Ads,2024-01-02 08:00:00,Yes\n",
    )
    draft = draft_mapping(pipedrive)
    assert draft.kind == "leads"
    assert draft.columns["converted"] == "Lead - Converted to deal"
    assert draft.columns["created_at"] == "Lead - Lead created"
    shop = write(
        tmp_path,
        "shop.csv",
        "lead_id,signup_ts,utm_source,Purchased\nLD-0,2024-01-01T06:40:57+02:00,Webinar,No\n"
        "LD-1,2024-01-02T06:40:57+02:00,Ads,Yes\n",
    )
    assert draft_mapping(shop).columns == {
        "id": "lead_id",
        "converted": "Purchased",
        "created_at": "signup_ts",
    }


def test_a_true_false_label_with_stray_values_drafts_only_the_strays_as_not_known(tmp_path):
    file = write(
        tmp_path,
        "leads.csv",
        "Email,Created,Source,Converted\na@x.com,2023-01-01,Web,FALSE\nb@x.com,2023-01-01,Ads,TRUE\n"
        "c@x.com,2023-01-02,Web,maybe\nd@x.com,2023-01-02,Web,FALSE\ne@x.com,2023-01-03,Ads,2\n",
    )
    draft = draft_mapping(file)
    # Only the strays need a fix: not known yet, in the label's column alone.
    assert 'maybe: ""   # not known yet' in draft.text and '"2": ""   # not known' in draft.text
    assert "FALSE:" not in draft.text and "missing_values" not in draft.text
    leads = read_export(file, load_mapping(write(tmp_path, "d.yaml", draft.text))).leads
    assert sorted(leads["converted"].dropna().tolist()) == [0, 0, 1]


def test_qualified_beside_a_won_status_is_a_step_not_the_outcome(tmp_path):
    file = write(
        tmp_path,
        "prospectos.csv",
        "ID Prospecto;Fecha de creación;Origen;Estado\nES-1;03/07/2024;Web;Ganado\n"
        "ES-2;31/07/2024;Feria;Perdido\nES-3;01/08/2024;Web;Calificado\n"
        "ES-4;02/08/2024;Web;Cliente\n",
    )
    draft = draft_mapping(file)
    assert draft.columns == {
        "id": "ID Prospecto",
        "created_at": "Fecha de creación",
        "converted": "Estado",
    }
    assert 'Ganado: "1"' in draft.text and 'Perdido: "0"' in draft.text
    assert 'Calificado: ""   # not known yet' in draft.text


def test_a_campaign_members_export_takes_responded_as_its_label(tmp_path):
    file = write(
        tmp_path,
        "members.csv",
        "Campaign Name,Campaign Member ID,Lead Source,Member Status,Responded,Lead Status\n"
        "Q2,m1,Web,Opened,0,Working - Contacted\nQ2,m2,Ads,Responded,1,Working - Contacted\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["converted"] == "Responded" and draft.columns["id"] == "Campaign Member ID"


def test_a_contacts_export_with_no_id_is_keyed_by_its_email(tmp_path):
    """HubSpot's and Marketo's contacts carry no id: their email, each lead's own, is one, so a
    newer export updates the leads instead of adding them all again."""
    file = write(
        tmp_path,
        "contacts.csv",
        "Email,First Name,Lifecycle Stage,Create Date,Became a Customer Date\n"
        "a@x.com,Ann,customer,2024-01-02,2024-02-01\nb@x.com,Bo,lead,2024-01-03,\n"
        "c@x.com,Cy,subscriber,2024-01-04,\n",
    )
    assert draft_mapping(file).columns["id"] == "Email"
    shared = write(tmp_path, "shared.csv", file.read_text().replace("c@x.com", "B@X.com"))
    assert "id" not in draft_mapping(shared).columns  # two leads share one: no id


def test_a_column_named_as_a_reference_is_the_id(tmp_path):
    file = write(
        tmp_path,
        "prospects.csv",
        "Prospect Ref,Channel,Converted\nP-1,Web,Yes\nP-2,Ads,No\nP-3,Web,No\n",
    )
    assert draft_mapping(file).columns["id"] == "Prospect Ref"


def test_a_summary_line_at_the_end_does_not_keep_the_draft_from_hashing_an_id(tmp_path):
    """A Zoho report ends with "Grand Summary" and the sum: the draft leaves it out, as the
    import does, and hashes the deals' id from their name and creation time."""
    file = write(
        tmp_path,
        "report.csv",
        "Deal Name,Stage,Amount,Created Time,Closing Date\n"
        "Acme - licences,Closed Won,100,2024-01-02 10:00,2024-02-01\n"
        "Beta - support,Qualification,50,2024-01-03 11:00,2024-03-01\n"
        "Grand Summary,,150,,\n",
    )
    draft = draft_mapping(file)
    assert "hash_of: [Deal Name, Created Time]" in draft.text, draft.text


def test_a_dynamics_export_with_no_id_is_keyed_by_its_topic_and_creation(tmp_path):
    file = write(
        tmp_path,
        "dynamics.csv",
        "Topic,Potential Customer,Est. Revenue,Status,Pipeline Phase,Created On,Actual Close Date\n"
        "Acme renewal,Acme,100,Won,4-Close,2024-01-02 10:00,2024-02-01\n"
        "Beta licences,Beta,50,Open,2-Develop,2024-01-03 11:00,\n"
        "Gamma support,Gamma,70,Lost,1-Qualify,2024-01-04 12:00,2024-02-03\n",
    )
    assert "hash_of: [Topic, Created On]" in draft_mapping(file).text


def test_recurring_deals_beside_one_time_ones_are_said(tmp_path):
    """Close's `value_period`: a "$1,000 monthly" deal's value is one month's, which a forecast
    would add to one-time deals' whole value unless the user exports the contract value."""
    file = write(
        tmp_path,
        "close.csv",
        "id,status_type,status_label,value,value_period,date_created,date_won,date_lost\n"
        "o1,won,Won,100000,monthly,2024-01-02,2024-02-01,\n"
        "o2,lost,Lost,50000,one_time,2024-01-03,,2024-02-02\n"
        "o3,active,Demo,70000,annual,2024-01-04,,\n",
    )
    checks = " ".join(draft_mapping(file).checks)
    assert "'value_period': 2 sampled deal(s) recur (annual, monthly)" in checks


def test_a_pipedrive_drafts_funnel_order_and_stage_chances_from_its_closed_deals(tmp_path):
    """Pipedrive keeps a closed deal's last stage beside its status: deals closed from a later
    stage were won more often, which puts the stages in funnel order however many are open."""
    plan = {  # stage: (won, lost, open)
        "Negotiations Started": (8, 2, 9),
        "Contact Made": (1, 9, 3),
        "Proposal Made": (6, 4, 2),
        "Demo Scheduled": (3, 7, 1),
    }
    file = pipedrive_export(tmp_path, plan)

    text = draft_mapping(file).text
    block = text.split("open:")[1].split("won:")[0]
    assert [ln.strip("- ").strip() for ln in block.splitlines()[1:] if ln.strip()] == [
        "Contact Made",
        "Demo Scheduled",
        "Proposal Made",
        "Negotiations Started",
    ], text
    # No probabilities in the export: each stage's, estimated as the share won of the closed
    # deals that reached it (closed from it or later), which a flat export's model scores by.
    probabilities = text.split("stage_probabilities:")[1]
    assert "Contact Made: 0.45\n" in probabilities  # 18 won of 40
    assert "Demo Scheduled: 0.5667" in probabilities  # 17 of 30
    assert "Proposal Made: 0.7\n" in probabilities  # 14 of 20
    assert "Negotiations Started: 0.8\n" in probabilities  # 8 of 10


def test_each_outcome_is_named_by_its_plainest_value_not_its_most_frequent(tmp_path):
    """Zoho adds a reason to most losses ("Closed-Lost to Competition"): the lost stage is
    still "Closed Lost", and the longer values are other names of it."""
    rows = ["Deal Name,Stage,Amount,Created Time"]
    stages = (
        ["Closed-Lost to Competition"] * 6
        + ["Closed Lost"] * 2
        + ["Closed Won - Renewal"] * 4
        + ["Closed Won"] * 3
        + ["Qualification"] * 5
    )
    for i, stage in enumerate(stages):
        rows.append(f"Deal {i},{stage},100,2024-01-{1 + i % 28:02d} 10:00:00")
    text = draft_mapping(write(tmp_path, "Deals.csv", "\n".join(rows))).text
    assert "won: Closed Won\n" in text and "lost: Closed Lost\n" in text, text
    assert "Closed-Lost to Competition: Closed Lost" in text
    assert "Closed Won - Renewal: Closed Won" in text


def test_a_label_value_not_known_yet_stays_unlabelled_and_blanks_no_other_column(tmp_path):
    """Pardot's "Opportunity Status" is Won, Lost, Open, or blank where the prospect has no
    opportunity. "Open" is not known yet: blank in the label alone (the same word in another
    column is kept), and still unlabelled when blanks are read as not converted."""
    rows = ["Prospect Id,Created Date,Stage Note,Opportunity Status"]
    statuses = ["Won", "Lost", "Open", "", "Won", "Lost", "", "Open"]
    for i, status in enumerate(statuses):
        rows.append(f"P{i},2024-01-{i + 1:02d},{'Open' if i % 2 else 'Closed'},{status}")
    file = write(tmp_path, "prospects.csv", "\n".join(rows) + "\n")
    draft = draft_mapping(file)
    assert 'Open: ""   # not known yet' in draft.text and "missing_values" not in draft.text
    assert (
        "2 of 8 sampled leads have no 'Opportunity Status': read as not known yet and left out "
        'of training; where a blank means the lead did not convert, add "": "0"'
    ) in " ".join(draft.checks)
    said = 'Open: ""   # not known yet: scored, not learnt'
    blanks_not_converted = draft.text.replace(said, 'Open: ""\n    "": "0"')
    leads = read_export(file, load_mapping(write(tmp_path, "d.yaml", blanks_not_converted)))
    label = leads.leads.set_index("id")["converted"]
    assert label[["P0", "P4"]].tolist() == [1, 1] and label[["P1", "P5"]].tolist() == [0, 0]
    assert label[["P3", "P6"]].tolist() == [0, 0]  # blank: no opportunity, not converted
    assert label[["P2", "P7"]].isna().all()  # open: not known yet
    assert set(leads.leads["Stage Note"]) == {"Open", "Closed"}
