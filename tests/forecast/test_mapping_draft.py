"""An export no built-in mapping knows gets a drafted mapping: its columns matched to the fields
by name, the stages with the outcomes picked out (or a lead file's statuses read as the label),
the date format. The draft imports as it is where the names say enough, and says what to check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.data.crm_exports import crm_stages, write_crm_export
from forecast.data.generator import generate_pipeline
from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.errors import InvalidInput
from tests.forecast.test_import_options import write
from training.cli import app

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "crm_sales_opportunities"


def _imported(file: Path, kind: str | None = None):
    draft = draft_mapping(file, kind)
    mapping = write(file.parent, "draft.yaml", draft.text)
    return draft, read_export(file, load_mapping(mapping))


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared CRM data is not beside the checkout")
def test_the_shared_crm_pipeline_file_drafts_a_mapping_that_imports_every_row(tmp_path):
    file = tmp_path / "pipeline.csv"
    file.write_bytes((SHARED / "sales_pipeline.csv").read_bytes())
    draft, export = _imported(file)
    assert draft.kind == "opportunities"
    assert draft.columns["id"] == "opportunity_id" and draft.columns["stage"] == "deal_stage"
    assert (export.stages.won, export.stages.lost) == ("Won", "Lost")
    assert set(export.stages.open_stages) == {"Engaging", "Prospecting"}  # beyond the sample too
    assert len(export.opportunities) == 8800 and export.report.ok
    assert any("funnel order" in c for c in draft.checks)


def test_a_crm_report_drafts_its_fields_date_format_and_percent_probabilities(tmp_path):
    pipeline = generate_pipeline(300, seed=4, stages=crm_stages("salesforce"))
    file = write_crm_export(pipeline, tmp_path, "salesforce")
    renamed = file.with_name("opps.csv")  # not known by its header: renamed columns
    frame = pd.read_csv(file, dtype=str).rename(columns={"Opportunity Name": "Title"})
    frame.to_csv(renamed, index=False)
    draft, export = _imported(renamed)
    assert 'date_format: "%m/%d/%Y"' in draft.text and "rep_probability_scale: 100" in draft.text
    assert draft.columns["owner"] == "Opportunity Owner"
    assert draft.columns["close_date"] == "Close Date"
    assert (export.stages.won, export.stages.lost) == ("Closed Won", "Closed Lost")
    assert export.report.ok and len(export.opportunities) == 300
    assert export.opportunities["rep_probability"].max() <= 1
    # The CRM's stage probabilities, as its deals show them, kept: a flat export scores by them.
    open_deals = frame[~frame["Stage"].isin(["Closed Won", "Closed Lost"])]
    shown = (
        pd.to_numeric(open_deals["Probability (%)"])
        .groupby(open_deals["Stage"])
        .agg(lambda p: p.mode().iloc[0] / 100)
    )
    mapping = load_mapping(write(tmp_path, "again.yaml", draft.text))
    assert mapping.stage_probabilities == pytest.approx(shown.to_dict())


def test_a_lead_file_with_a_status_drafts_its_label_and_what_is_not_known_yet(tmp_path):
    file = write(
        tmp_path,
        "leads.csv",
        "lead_id,source,industry,employees,created_date,status\n"
        "L1,Webinar,Retail,120,03/01/2024,Converted\n"
        "L2,Ads,Finance,15,03/02/2024,Not Converted\n"
        "L3,Referral,Retail,40,03/15/2024,Converted\n"
        "L4,Ads,Health,,03/20/2024,Working\n",
    )
    draft, export = _imported(file)
    assert draft.kind == "leads" and draft.columns["id"] == "lead_id"
    leads = export.leads.set_index("id")
    assert leads["converted"].tolist()[:3] == [1, 0, 1] and pd.isna(leads.loc["L4", "converted"])
    assert leads.loc["L3", "created_at"] == pd.Timestamp("2024-03-15")
    assert any("'status' holds" in c for c in draft.checks)
    # Dated leads with a label and no conversion date: the draft offers the outcome window.
    assert "# outcome_days: 60" in draft.text


def test_a_draft_offers_the_outcome_window_only_where_it_can_apply(tmp_path):
    dated = "Lead,Created,Source,Converted\nL1,2024-01-02,Web,Yes\nL2,2024-01-03,Ads,No\n"
    draft = draft_mapping(write(tmp_path, "dated.csv", dated), "leads")
    uncommented = draft.text.replace("# outcome_days", "outcome_days")
    assert load_mapping(write(tmp_path, "m.yaml", uncommented)).outcome_days == 60
    undated = "Lead,Source,Converted\nL1,Web,Yes\nL2,Ads,No\n"
    assert "outcome_days" not in draft_mapping(write(tmp_path, "u.csv", undated), "leads").text


def test_a_file_that_names_no_stage_nor_conversion_asks_for_the_kind(tmp_path):
    file = write(tmp_path, "x.csv", "a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="--kind deals or --kind leads"):
        draft_mapping(file)


def test_the_command_writes_the_draft_beside_the_file_and_never_over_one(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID,Stage,Amount,Close Date\nD1,Won,10,2024-01-05\nD2,Open,5,\nD3,Lost,1,2024-02-01\n",
    )
    runner = CliRunner()
    result = runner.invoke(app, ["draft-mapping", str(file)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "deals.mapping.yaml"
    said = " ".join(result.output.split())
    assert "lost: Lost" in written.read_text() and "3 rows read, 0 with problems" in said
    again = runner.invoke(app, ["draft-mapping", str(file)])
    assert again.exit_code != 0 and "exists" in again.output
    unknown = runner.invoke(app, ["import", str(file)])
    assert "forecast draft-mapping" in " ".join(unknown.output.split())


def test_a_draft_says_what_the_file_lacks(tmp_path):
    file = write(tmp_path, "deals.csv", "Deal ID,Stage,Amount\nD1,Won,10\nD2,Open,5\nD3,Lost,7\n")
    draft = draft_mapping(file)
    assert any("no close date column" in c for c in draft.checks)
    result = CliRunner().invoke(app, ["draft-mapping", str(file)])
    said = " ".join(result.output.split())
    assert "2 with problems: closed deal without close date (2)" in said
    # An outcome the file never shows is left blank, and the import says so, naming it.
    only_won = write(tmp_path, "won.csv", "Deal ID,Stage,Amount\nD1,Won,10\nD2,Open,5\n")
    result = CliRunner().invoke(app, ["draft-mapping", str(only_won)])
    said = " ".join(result.output.split())
    assert "lost: ???" in said and "leaves ['stages.lost'] as '???'" in said


PIPEDRIVE_COLUMNS = (
    "ID,Title,Value,Currency,Status,Stage,Owner,Organization,Expected close date,"
    "Deal created,Won time,Lost time"
)


@pytest.mark.parametrize("prefixed", [False, True], ids=["plain", "deal - prefixed"])
def test_a_pipedrive_export_drafts_outcomes_from_status_and_closes_from_won_and_lost_times(
    tmp_path, prefixed
):
    """Pipedrive writes "Deal - Value", "Organization - Name": the field's name is matched."""
    header = PIPEDRIVE_COLUMNS
    if prefixed:
        names = [f"Deal - {c}" for c in header.split(",")]
        header = ",".join(names).replace("Deal - Organization", "Organization - Name")
    file = write(
        tmp_path,
        "deals.csv",
        header + "\n"
        "1,A,1000,USD,won,Negotiation,Ann,Acme,2024-02-01,2024-01-01 10:00:00,"
        "2024-02-03 10:00:00,\n"
        "2,B,500,USD,open,Qualified,Bob,Beta,2024-03-01,2024-01-05 10:00:00,,\n"
        "3,C,700,USD,lost,Proposal Made,Ann,Gamma,2024-03-01,2024-01-07 10:00:00,,"
        "2024-02-10 10:00:00\n",
    )
    draft, export = _imported(file)
    p = "Deal - " if prefixed else ""
    assert f"stage: {{first_of: [{p}Status, {p}Stage]}}" in draft.text
    assert f"closed_at: {{first_of: [{p}Won time, {p}Lost time]}}" in draft.text
    assert draft.columns["account"] == ("Organization - Name" if prefixed else "Organization")
    deals = export.opportunities.set_index("id")
    assert deals["stage"].tolist() == ["won", "Qualified", "lost"]
    assert deals["status"].tolist() == ["won", "open", "lost"]
    assert deals.loc["3", "closed_at"] == pd.Timestamp("2024-02-10 10:00")
    assert export.report.ok


def test_a_draft_lists_a_format_per_date_column_where_date_times_sit_beside_dates(tmp_path):
    # More date-times than one sample holds: the close dates must still be seen.
    rows = [
        f"Z{i},{'Closed Won' if i % 2 else 'Closed Lost'},{100 + i},"
        f"{1 + i % 28:02d}-Mar-2025,{1 + i % 28:02d}-Jan-2025 {i % 24:02d}:{i % 60:02d}:07"
        for i in range(150)
    ]
    file = write(tmp_path, "zoho.csv", "Record Id,Stage,Amount,Closing Date,Created Time\n")
    file.write_text(file.read_text() + "\n".join(rows) + "\n")
    draft, export = _imported(file)
    assert 'date_format: ["%d-%b-%Y %H:%M:%S", "%d-%b-%Y"]' in draft.text
    assert export.report.ok and len(export.opportunities) == 150
    assert export.opportunities.set_index("id").loc["Z1", "closed_at"] == pd.Timestamp("2025-03-02")


def test_a_draft_that_reads_no_row_says_why_without_a_traceback(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID,Stage,Amount,Close Date\nD1,Won,10,05.Jan.2024\nD2,Lost,5,07.Feb.2024\n",
    )
    result = CliRunner().invoke(app, ["draft-mapping", str(file)])
    assert result.exit_code == 0 and result.exception is None, result.output
    said = " ".join(result.output.split())
    assert "as drafted it does not import yet: no row of deals.csv could be imported" in said
    assert "unparseable date" in said and "'05.Jan.2024'" in said
    assert (tmp_path / "deals.mapping.yaml").is_file()


def test_a_lead_file_with_a_conversion_date_drafts_its_label_from_it(tmp_path):
    file = write(
        tmp_path,
        "contacts.csv",
        "Record ID,Create Date,Became a Customer Date,Source\n"
        "1,2024-01-02,2024-02-01,REFERRALS\n2,2024-01-03,,DIRECT\n3,2024-01-04,,OFFLINE\n",
    )
    draft, export = _imported(file, "leads")
    assert "???" not in draft.text and draft.columns["converted_at"] == "Became a Customer Date"
    assert export.leads.set_index("id")["converted"].to_dict() == {"1": 1, "2": 0, "3": 0}


def test_a_draft_blank_left_in_a_mapping_is_refused_naming_the_field(tmp_path):
    file = write(tmp_path, "leads.csv", "Lead,Source\nL1,Web\nL2,Ads\n")
    mapping = write(
        tmp_path, "m.yaml", "kind: leads\ndataset: d\ncolumns:\n  id: Lead\n  converted: ???\n"
    )
    with pytest.raises(InvalidInput, match=r"\['converted'\] as '\?\?\?'"):
        read_export(file, load_mapping(mapping))


def test_a_deals_own_prefixed_columns_win_over_its_organisations():
    """Pipedrive lists the deal's columns, then the person's and the organisation's: "Deal -
    ID" is the id and "Deal - Owner" the owner, never "Organization - ID" / "- Owner"."""
    from forecast.data.draft_names import DEAL_NAMES
    from forecast.data.draft_names import matched as _matched

    names = [
        "Deal - Title",
        "Deal - ID",
        "Deal - Owner",
        "Organization - ID",
        "Organization - Owner",
    ]
    found = _matched(names, DEAL_NAMES)
    assert found["id"] == "Deal - ID" and found["owner"] == "Deal - Owner"


def test_a_file_that_is_no_text_is_refused_as_such_and_utf16_text_is_drafted(tmp_path) -> None:
    picture = tmp_path / "deals.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(InvalidInput, match="not a text file"):
        draft_mapping(picture)
    text = "Deal Name,Stage,Amount,Close Date\nA,Closed Won,100,2024-01-05\n"
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(text.encode("utf-16"))  # NUL bytes, after its byte-order mark
    assert "stage" in draft_mapping(utf16).text


#: A Salesforce Opportunity export by API field name (Data Loader, a SOQL query), with a custom
#: field: the owner and the account by id, the region as `Region__c`.
SALESFORCE_API = (
    "Id,Name,AccountId,OwnerId,StageName,Amount,CloseDate,CreatedDate,Probability,"
    "ForecastCategoryName,IsClosed,IsWon,LastModifiedDate,Region__c,Type,LeadSource\n"
    "0061,Acme,0011,0051,Prospecting,1000,2024-03-01,2024-01-01T10:00:00.000Z,10,Pipeline,"
    "false,false,2024-02-01T10:00:00.000Z,EMEA,New Business,Web\n"
    "0062,Beta,0012,0052,Closed Won,2000,2024-02-01,2024-01-02T10:00:00.000Z,100,Closed,"
    "true,true,2024-02-01T10:00:00.000Z,AMER,New Business,Partner\n"
    "0063,Gamma,0013,0051,Closed Lost,3000,2024-02-15,2024-01-03T10:00:00.000Z,0,Omitted,"
    "true,false,2024-02-15T10:00:00.000Z,APAC,Existing Business,Web\n"
)


def test_a_salesforce_api_export_drafts_its_owner_account_and_custom_region(tmp_path):
    """A user drafting a mapping for Salesforce's API names gets the owner from OwnerId, the
    account from AccountId and the region from the custom field Region__c, while "Id" stays
    the deal's id; the draft says the owner and account are ids, and it imports."""
    file = write(tmp_path, "opportunities.csv", SALESFORCE_API)
    draft, export = _imported(file)
    assert draft.columns["id"] == "Id"
    assert draft.columns["owner"] == "OwnerId" and draft.columns["account"] == "AccountId"
    assert draft.columns["region"] == "Region__c"
    assert any("'OwnerId' read as the owner: an id" in c for c in draft.checks)
    assert not any("no column found for owner" in c for c in draft.checks)
    deals = export.opportunities.set_index("id")
    assert deals.loc["0061", "owner"] == "0051" and deals.loc["0063", "region"] == "APAC"
    assert export.report.ok


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("Owner Id", "owner"),
        ("owner_id", "owner"),
        ("OwnerId", "owner"),
        ("OWNER_ID", "owner"),
        ("Deal Owner", "owner"),
        ("Region", "region"),
        ("Region__c", "region"),
        ("Sales_Region__c", "region"),
        ("Sales Region", "region"),
        ("AccountId", "account"),
        ("Account ID", "account"),
    ],
)
def test_owner_region_and_account_columns_are_matched_however_the_crm_spells_them(column, field):
    from forecast.data.draft_names import DEAL_NAMES
    from forecast.data.draft_names import matched as _matched

    found = _matched(["Id", "Stage", column], DEAL_NAMES)
    assert found.get(field) == column and found["id"] == "Id"


@pytest.mark.parametrize(
    "names",
    [
        ["Id", "OwnerId", "Owner.Name", "AccountId", "Account.Name", "Stage"],
        ["Id", "Owner.Name", "OwnerId", "Account.Name", "AccountId", "Stage"],
        ["Owner ID", "Deal Owner", "Account ID", "Account Name", "Id", "Stage"],
    ],
    ids=["ids first", "names first", "report labels"],
)
def test_an_owners_and_an_accounts_name_win_over_their_ids(names):
    """Figures per owner read better by name: an id column is the owner only where no column
    names the owner, wherever it stands in the header; neither id is taken as the deal's."""
    from forecast.data.draft_names import DEAL_NAMES
    from forecast.data.draft_names import matched as _matched

    found = _matched(names, DEAL_NAMES)
    assert found["owner"] in ("Owner.Name", "Deal Owner")
    assert found["account"] in ("Account.Name", "Account Name")
    assert found["id"] == "Id"


def test_a_column_ending_in_id_is_no_owner_unless_its_name_names_one():
    """Ids of other records ("CreatedById", "CampaignId", "StageId") are not the owner, the
    account, nor a stage."""
    from forecast.data.draft_names import DEAL_NAMES
    from forecast.data.draft_names import matched as _matched

    names = ["Id", "StageName", "StageId", "CreatedById", "CampaignId", "ContactId"]
    found = _matched(names, DEAL_NAMES)
    assert found == {"id": "Id", "stage": "StageName"}
