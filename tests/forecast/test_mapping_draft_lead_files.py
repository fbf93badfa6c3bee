"""Drafts of lead exports as CRMs write them in other languages and shapes: Zoho's German,
Spanish, French, Portuguese and Italian headers name the creation time and the lead's status in
the CRM's words ("Erstellungszeit", "Estado de Posible cliente"), and the draft reads them as
the English names are read."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.errors import InvalidInput
from tests.forecast.test_import_options import write


def _imported(tmp_path, file, kind=None):
    draft = draft_mapping(file, kind)
    return draft, read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))


@pytest.mark.parametrize(
    "created",
    [
        "Erstellungszeit",
        "Erstellt am",
        "Hora de creación",
        "Fecha de creación",
        "Date de création",
        "Heure de création",
        "Data de criação",
        "Data di creazione",
        "Ora di creazione",
    ],
)
def test_a_lead_exports_creation_time_in_another_language_is_its_created_at(tmp_path, created):
    file = write(
        tmp_path,
        "leads.csv",
        f"Lead ID,Source,Converted,{created}\n"
        "L1,Web,1,2024-03-01 10:00:00\nL2,Ads,0,2024-03-02 11:00:00\n",
    )
    draft, export = _imported(tmp_path, file)
    assert draft.columns["created_at"] == created
    leads = export.leads.set_index("id")
    assert leads.loc["L2", "created_at"] == pd.Timestamp("2024-03-02 11:00:00")
    assert created not in export.leads.columns  # not an input as well


def test_a_zoho_deal_exports_creation_time_is_read_in_german_too(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal-ID,Phase,Betrag,Erstellungszeit,Änderungszeit,Schlusstermin\n"
        "1,Gewonnen,100,2024-03-01 10:00:00,2024-04-01 10:00:00,2024-04-01\n"
        "2,Verloren,50,2024-03-02 10:00:00,2024-04-02 10:00:00,2024-04-02\n",
    )
    columns = draft_mapping(file).columns
    assert (columns["created_at"], columns["updated_at"]) == ("Erstellungszeit", "Änderungszeit")


ZOHO_ES = (
    "ID de Posible cliente,Nombre,Empresa,Fuente de Posible cliente,Estado de Posible cliente,"
    "Hora de creación\n"
    "zcrm_1,Ana,A SL,Web,Contactado,2024-03-01 10:00:00\n"
    "zcrm_2,Berto,B SA,Feria,No calificado,2024-03-02 10:00:00\n"
    "zcrm_3,Carla,C SA,Web,Convertido,2024-03-03 10:00:00\n"
    "zcrm_4,Dani,D SA,Web,Posible cliente basura,2024-03-04 10:00:00\n"
    "zcrm_5,Eva,E SA,Feria,Posible cliente perdido,2024-03-05 10:00:00\n"
)


def test_a_spanish_zoho_leads_status_is_its_label_and_the_file_is_a_leads_file(tmp_path):
    draft, export = _imported(tmp_path, write(tmp_path, "export.csv", ZOHO_ES))
    assert draft.kind == "leads"  # no --kind needed: the status says it
    assert draft.columns["converted"] == "Estado de Posible cliente"
    assert draft.columns["id"] == "ID de Posible cliente"
    assert draft.columns["created_at"] == "Hora de creación"
    leads = export.leads.set_index("id")["converted"]
    # Contacted is not known yet; junk ("basura") and lost leads did not convert.
    assert pd.isna(leads["zcrm_1"])
    assert leads.drop("zcrm_1").to_dict() == {"zcrm_2": 0, "zcrm_3": 1, "zcrm_4": 0, "zcrm_5": 0}


@pytest.mark.parametrize(
    "status",
    [
        "Estado de Posible cliente",
        "Lead-Status",
        "Statut du prospect",
        "Status do lead",
        "Stato lead",
        "Estado del prospecto",
        "Interessentenstatus",
    ],
)
def test_a_lead_status_named_in_the_crms_words_is_the_label(tmp_path, status):
    file = write(
        tmp_path,
        "export.csv",
        f"Id,Source,{status}\n1,Web,Converted\n2,Ads,Unqualified\n3,Web,Working\n",
    )
    draft = draft_mapping(file)
    assert draft.kind == "leads" and draft.columns["converted"] == status


@pytest.mark.parametrize("tick", ["x", "✓", "Yes", "1"])
def test_a_label_ticked_for_converted_leads_and_blank_for_the_others_reads_blank_as_not(
    tmp_path, tick
):
    file = write(
        tmp_path,
        "leads.csv",
        f"Lead No,Source,Won\n1,web,{tick}\n2,ads,\n3,web,{tick}\n4,ads,\n5,ads,\n",
    )
    draft, export = _imported(tmp_path, file)
    assert "missing_values" not in draft.text  # neither the tick nor the blank is "not known"
    assert '    "": "0"' in draft.text
    assert any("ticked for converted leads" in c for c in draft.checks)
    assert export.leads["converted"].tolist() == [1, 0, 1, 0, 0]
    assert "Won: a blank is read as '0' (value_fixes)" in export.report.notes
    if tick in ("x", "✓"):  # a mark is fixed to 1 (a yes is read as it is), said as the value
        assert dict(export.report.fixed_values) == {f"Won: {tick}": 2}


def test_a_label_without_blanks_or_with_two_values_is_no_tick_box(tmp_path):
    every = write(tmp_path, "a.csv", "Lead No,Source,Won\n1,web,x\n2,ads,x\n")
    assert '"": "0"' not in draft_mapping(every, "leads").text
    both = write(tmp_path, "b.csv", "Lead No,Source,Won\n1,web,Yes\n2,ads,No\n3,ads,\n")
    assert '"": "0"' not in draft_mapping(both, "leads").text  # a blank is not known yet there


PIPEDRIVE_LEADS = (
    "Lead - Title,Lead - Value,Lead - Source,Lead - Labels,Lead - Owner,Person - Name,"
    "Organization - Name,Lead created\n"
    "Acme lead,1000,Web forms,Hot,Ann,Al,Acme,2024-03-01 10:00:00\n"
    "Beta lead,,Prospector,Cold,Bob,Bea,Beta,2024-03-02 11:00:00\n"
)


def test_a_pipedrive_leads_export_is_drafted_as_leads_without_kind(tmp_path):
    """Pipedrive's leads hold no outcome (a converted lead becomes a deal): its columns, named
    after the lead, say what the file is, where --kind was needed."""
    draft = draft_mapping(write(tmp_path, "leads-123.csv", PIPEDRIVE_LEADS))
    assert draft.kind == "leads" and draft.columns["created_at"] == "Lead created"
    assert "converted: ???" in draft.text  # no outcome in the file: the user says where it is


def test_a_header_named_after_deals_or_nothing_still_asks_for_the_kind(tmp_path):
    deals = PIPEDRIVE_LEADS.replace("Lead - ", "Deal - ").replace("Lead created", "Deal created")
    for text in (deals, "Title,Person - Name,Organization - Name\nA,Al,Acme\n"):
        with pytest.raises(InvalidInput, match="--kind deals or --kind leads"):
            draft_mapping(write(tmp_path, "export.csv", text))


def test_a_deal_export_with_lead_source_and_owner_but_no_stage_still_asks_for_the_kind(tmp_path):
    """ "Lead Source" and "Lead Owner" name a deal's origin: an amount and a close date make the
    file a deal export, which without a stage the draft cannot map on its own."""
    text = (
        "Opportunity ID,Account Name,Amount,Close Date,Created Date,Lead Source,Lead Owner,Type\n"
        "006A,Acme,1000,2024-04-01,2024-03-01,Web,Ann,New\n"
    )
    with pytest.raises(InvalidInput, match="--kind deals or --kind leads"):
        draft_mapping(write(tmp_path, "export.csv", text))


def test_a_label_with_a_no_past_the_sample_is_no_tick_box(tmp_path):
    """The first rows hold "1" and blanks only; a "0" later says a blank is not known yet."""
    first = [f"{i},web,{'1' if i % 2 else ''}" for i in range(6000)]
    later = [f"{i},ads,{('0', '1', '')[i % 3]}" for i in range(6000, 6300)]
    file = write(tmp_path, "leads.csv", "\n".join(["Lead No,Source,Won", *first, *later]))
    draft = draft_mapping(file, "leads")
    assert '"": "0"' not in draft.text
    assert not any("ticked for converted leads" in c for c in draft.checks)


def test_a_lead_files_last_update_and_customer_since_are_fields_not_inputs(tmp_path):
    """ActiveCampaign's "Date Updated" tells of activity after a lead came in, and "Customer
    Since" is when it converted: drafted as `updated_at` and `converted_at`, neither is left
    among the model's inputs."""
    rows = ["Contact ID,Date Created,Date Updated,Became Customer,Customer Since,Source"]
    for i in range(12):
        won = i % 3 == 0
        rows.append(
            f"{i},2024-01-{i + 1:02d},2024-03-{i + 1:02d},{'Yes' if won else ''},"
            f"{f'02/{i + 13}/2024' if won else ''},{'Ads' if i % 2 else 'Web'}"
        )
    file = write(tmp_path, "contacts.csv", "\n".join(rows) + "\n")
    draft = draft_mapping(file)
    assert draft.kind == "leads"
    assert draft.columns["updated_at"] == "Date Updated"
    assert draft.columns["converted_at"] == "Customer Since"
    assert draft.columns["converted"] == "Became Customer"
    text = draft.text.replace("???", "Contact ID")
    leads = read_export(file, load_mapping(write(tmp_path, "d.yaml", text))).leads
    assert "Date Updated" not in leads.columns and "Customer Since" not in leads.columns
    assert leads["converted"].tolist().count(1) == 4


def test_a_lead_count_column_grouped_by_commas_is_drafted_with_its_thousands(tmp_path):
    """Marketo's "Number of Employees" ("35", "1,200", "12,000"): read as text, every count
    was a category and a CRM's 1200 was never learnt. The draft proposes the grouping."""
    rows = ["Id,Created At,Number of Employees,Converted"]
    counts = ["35", "1,200", "12,000", "250", "8", "3,400"]
    for i in range(12):
        rows.append(f'{i},2024-01-{i + 1:02d},"{counts[i % len(counts)]}",{i % 2}')
    file = write(tmp_path, "leads.csv", "\n".join(rows) + "\n")
    draft = draft_mapping(file)
    assert 'csv: {thousands: ","}' in draft.text
    assert "numbers like '1,200' group thousands with a comma: check" in draft.checks
    leads = read_export(file, load_mapping(write(tmp_path, "d.yaml", draft.text))).leads
    assert sorted(set(leads["Number of Employees"])) == [8, 35, 250, 1200, 3400, 12000]
