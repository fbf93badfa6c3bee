"""HubSpot and Salesforce deal exports: the preset is found from the header or named in a
mapping, "Close Date" is an expected close while a deal is open and the actual close once it is
won or lost, the data never runs past the export, and a mapping's own keys beat the preset's.
Generated CRM-shaped exports (`forecast generate --format`) checked against their own CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.data import store
from forecast.data.crm_exports import crm_stages, write_crm_export
from forecast.data.generator import GeneratedPipeline, generate_pipeline
from forecast.data.importing import import_export, read_export
from forecast.data.mapping import PRESETS, load_mapping
from forecast.data.mapping_detect import detect_mapping
from forecast.errors import InvalidInput
from forecast.history import load_deal_history
from forecast.settings import get_settings
from training.cli import app

CLOSED = {"hubspot": ("Closed Won", "Closed Lost"), "salesforce": ("Closed Won", "Closed Lost")}
STAGE_COLUMN = {"hubspot": "Deal Stage", "salesforce": "Stage"}
DATE_FORMAT = {"hubspot": "ISO8601", "salesforce": "%m/%d/%Y"}


@pytest.fixture(scope="module", params=["hubspot", "salesforce"])
def crm(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def pipeline(crm: str) -> GeneratedPipeline:
    return generate_pipeline(
        400, seed=5, start="2023-01-01", end="2024-06-30", stages=crm_stages(crm)
    )


@pytest.fixture(scope="module")
def export_file(crm: str, pipeline: GeneratedPipeline, tmp_path_factory) -> Path:
    return write_crm_export(pipeline, tmp_path_factory.mktemp(crm), crm, seed=5)


def the_file(path: Path) -> pd.DataFrame:
    """The export as the user's file holds it, read without the library."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def dates(values: pd.Series, crm: str) -> pd.Series:
    parsed = pd.to_datetime(values.replace("", None), format=DATE_FORMAT[crm])
    return parsed.astype("datetime64[us]")


# --- the preset, found or named -----------------------------------------------------------------


def test_a_crm_export_is_known_by_its_header_and_reads_every_row(crm, export_file, pipeline):
    export = read_export(export_file)
    assert export.dataset == crm
    assert export.report is not None and export.report.bad_rows == 0
    assert len(export.opportunities) == len(pipeline.opportunities)
    assert set(export.opportunities["stage"]) <= set(crm_stages(crm).all_stages)


def test_naming_the_preset_in_a_mapping_reads_the_same_deals(crm, export_file, tmp_path):
    mapping = tmp_path / "mine.yaml"
    mapping.write_text(f"preset: {crm}\n")
    named = read_export(export_file, mapping).opportunities
    found = read_export(export_file).opportunities
    pd.testing.assert_frame_equal(named, found)


@pytest.mark.parametrize("preset", PRESETS)
def test_a_mapping_naming_a_preset_and_no_dataset_stores_under_its_own_name(preset, tmp_path):
    """`preset: salesforce_api` in my_sf.yaml stores as "my_sf", not the preset's name: two
    companies' mappings of one CRM keep apart, and a dataset imported before keeps its name; a
    `dataset:` of its own wins."""
    mine = write(tmp_path, "my_sf.yaml", f"preset: {preset}\n")
    assert load_mapping(mine).dataset == "my_sf" != load_mapping(preset).dataset
    named = write(tmp_path, "named.yaml", f"preset: {preset}\ndataset: acme\n")
    assert load_mapping(named).dataset == "acme"


def test_an_unknown_preset_is_an_error_naming_the_accepted_ones(tmp_path):
    mapping = tmp_path / "mine.yaml"
    mapping.write_text("preset: pipedrive\n")
    with pytest.raises(InvalidInput) as err:
        load_mapping(mapping)
    said = str(err.value)
    assert "pipedrive" in said and "hubspot" in said and "salesforce" in said


# --- the close-date rule ------------------------------------------------------------------------


def test_close_date_is_expected_for_open_deals_and_actual_for_closed_ones(crm, export_file):
    raw = the_file(export_file)
    deals = read_export(export_file).opportunities
    close = dates(raw["Close Date"], crm)
    closed = raw[STAGE_COLUMN[crm]].isin(CLOSED[crm]).to_numpy()
    assert closed.any() and (~closed).any()
    open_deals, closed_deals = deals[~closed], deals[closed]
    assert open_deals["closed_at"].isna().all()
    assert (open_deals["expected_close_at"].to_numpy() == close[~closed].to_numpy()).all()
    assert closed_deals["expected_close_at"].isna().all()
    # Same day at least: HubSpot's close has a time, and a close within the tolerance before
    # creation is moved to the creation.
    got = closed_deals["closed_at"].dt.normalize().to_numpy()
    assert (got == close[closed].dt.normalize().to_numpy()).all()
    assert (closed_deals["status"] != "open").all() and (open_deals["status"] == "open").all()


def test_the_imported_data_ends_by_the_export_date(crm, export_file, pipeline, sqlite_engine):
    raw = the_file(export_file)
    # The file looks past the export: open deals expect to close later.
    assert dates(raw["Close Date"], crm).max() > pipeline.as_of
    report = import_export(sqlite_engine, export_file)
    assert report.written
    history = load_deal_history(sqlite_engine, report.dataset)
    assert history.end <= pipeline.as_of
    assert history.now(today="2030-01-01") <= pipeline.as_of.normalize() + pd.Timedelta(days=1)


def test_the_export_date_is_the_newest_close_where_deals_closed_after_the_last_creation(
    crm, export_file, sqlite_engine, tmp_path
):
    """An export of deals created up to some day whose closes ran on: the export saw those
    closes, so a deal with no update date is as of the newest close, not the newest creation
    (the backtest and the forecast would otherwise end before deals they hold had closed)."""
    raw = the_file(export_file)
    created = dates(raw[{"hubspot": "Create Date", "salesforce": "Created Date"}[crm]], crm)
    won, lost = CLOSED[crm]
    cut = created.quantile(0.8)
    kept = raw[(created <= cut).to_numpy()]
    close = dates(kept["Close Date"], crm)
    closed = kept[STAGE_COLUMN[crm]].isin([won, lost]).to_numpy()
    assert close[closed].max() > cut  # the file: closes after its last creation
    path = tmp_path / export_file.name
    kept.drop(columns=[c for c in kept if "Modified" in c], errors="ignore").to_csv(
        path, index=False
    )
    report = import_export(sqlite_engine, path, dataset=f"late_{crm}")
    history = load_deal_history(sqlite_engine, report.dataset)
    assert history.end == close[closed].max()
    deals = history.deals
    ended = deals["closed_at"].notna()
    assert (deals.loc[ended, "updated_at"] >= deals.loc[ended, "closed_at"]).all()


def test_the_crm_stage_probabilities_are_kept_with_the_dataset(crm, export_file, sqlite_engine):
    import_export(sqlite_engine, export_file)
    with sqlite_engine.connect() as conn:
        options = store.get_dataset(conn, crm)["options"]
    probabilities = options["stage_probabilities"]
    assert probabilities["Closed Won"] == 1.0 and probabilities["Closed Lost"] == 0.0
    expected = {"hubspot": ("Contract Sent", 0.9), "salesforce": ("Negotiation/Review", 0.9)}
    stage, p = expected[crm]
    assert probabilities[stage] == p


# --- a mapping's own keys over the preset's -----------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text.strip() + "\n")
    return path


HUBSPOT = """
Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Deal Owner,Forecast category
11,Acme - Spark,closedwon,900,2024-03-01 10:00,2024-01-05 09:00,Ana Moreau,Closed won
12,Bolt - Atlas,contractsent,5000,2024-09-30,2024-02-01 11:00,Ben Okafor,Commit
13,Core - Beacon,Appointment scheduled,1200,2024-08-31,2024-02-10 15:00,Ana Moreau,Not forecasted
14,Dyn - Spark,Closed Lost,50,2024-02-20 08:00,2024-01-20 08:00,Ben Okafor,Not forecasted
"""


def test_explicit_keys_override_the_preset_and_the_rest_is_kept(tmp_path):
    file = write(tmp_path, "deals.csv", HUBSPOT)
    mapping = write(
        tmp_path,
        "mine.yaml",
        """
preset: hubspot
dataset: acme_hubspot
columns: {id: Record ID}
stage_probabilities: {Contract Sent: 0.75}
""",
    )
    export = read_export(file, mapping)
    assert export.dataset == "acme_hubspot"
    deals = export.opportunities.set_index("id")
    assert list(deals.index) == ["11", "12", "13", "14"]
    # HubSpot's internal stage values and labels in any case are its stages.
    assert list(deals["stage"]) == [
        "Closed Won",
        "Contract Sent",
        "Appointment Scheduled",
        "Closed Lost",
    ]
    assert deals.loc["12", "expected_close_at"] == pd.Timestamp("2024-09-30")
    assert pd.isna(deals.loc["12", "closed_at"])
    assert deals.loc["11", "closed_at"] == pd.Timestamp("2024-03-01 10:00")
    # "Deal Owner" is the preset's "Deal owner" told apart only by case.
    assert deals.loc["12", "owner"] == "Ben Okafor"
    assert deals.loc["11", "forecast_category"] == "Commit"
    probabilities = export.options["stage_probabilities"]
    assert probabilities["Contract Sent"] == 0.75 and probabilities["Qualified To Buy"] == 0.4
    # No "Last Modified Date" or "Associated Company": read as blank, and said.
    assert export.report is not None
    assert any("Last Modified Date" in note for note in export.report.notes)
    # ...so deals are dated by the export's own newest date, not by today.
    assert export.opportunities["updated_at"].max() <= pd.Timestamp("2024-03-01 10:00")


def test_a_mapping_with_its_own_stages_keeps_only_the_preset_probabilities_of_stages_listed(
    tmp_path,
):
    file = write(
        tmp_path,
        "report.csv",
        "Opportunity ID,Opportunity Name,Stage,Amount,Close Date,Created Date\n"
        "006A,Acme,Verbal Commit,900,3/1/2024,1/5/2024\n"
        "006B,Bolt,Closed Won,500,3/2/2024,1/6/2024\n",
    )
    mapping = write(
        tmp_path,
        "mine.yaml",
        """
preset: salesforce
stages: {open: [Prospecting, Qualification, Verbal Commit], won: Closed Won, lost: Closed Lost}
stage_probabilities: {Verbal Commit: 0.95, Qualification: null}
""",
    )
    export = read_export(file, mapping)
    assert export.options["stage_probabilities"] == {
        "Prospecting": 0.1,  # Salesforce's, for a stage still listed
        "Closed Won": 1.0,
        "Closed Lost": 0.0,
        "Verbal Commit": 0.95,  # the mapping's own; Qualification's null drops the preset's
    }
    assert export.opportunities.set_index("id").loc["006A", "stage"] == "Verbal Commit"


def test_a_hubspot_custom_pipeline_drops_the_stock_stages_and_keeps_the_outcomes_names(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Record ID,Deal Stage,Close Date,Create Date\n"
        "11,closedwon,2024-03-01,2024-01-05\n12,Demo,2024-09-30,2024-02-01\n",
    )
    mapping = write(
        tmp_path,
        "mine.yaml",
        "preset: hubspot\ncolumns: {id: Record ID}\n"
        "stages: {open: [Discovery, Demo], won: Closed Won, lost: Closed Lost}\n",
    )
    export = read_export(file, mapping)
    assert export.options["stage_probabilities"] == {"Closed Won": 1.0, "Closed Lost": 0.0}
    assert list(export.opportunities["stage"]) == ["Closed Won", "Demo"]


SALESFORCE = (
    "Opportunity ID,Opportunity Name,Stage,Amount,Close Date,Created Date,Last Modified Date,"
    "Probability (%)"
    + """
006A,Acme - Spark,Closed Won,900,3/1/2024,1/5/2024 9:05 AM,3/1/2024 4:30 PM,100%
006B,Bolt - Atlas,Negotiation/Review,"5,000.00",9/30/2024,2/1/2024 11:00 AM,3/2/2024 8:00 AM,90%
"""
)


def test_a_us_salesforce_report_with_date_times_beside_dates_is_read(tmp_path):
    deals = read_export(write(tmp_path, "report.csv", SALESFORCE)).opportunities.set_index("id")
    assert deals.loc["006A", "created_at"] == pd.Timestamp("2024-01-05 09:05")
    assert deals.loc["006A", "closed_at"] == pd.Timestamp("2024-03-01")
    assert deals.loc["006B", "updated_at"] == pd.Timestamp("2024-03-02 08:00")
    assert deals.loc["006B", "expected_close_at"] == pd.Timestamp("2024-09-30")
    assert deals.loc["006B", "amount"] == 5000.0
    assert deals["rep_probability"].tolist() == [1.0, 0.9]


def test_a_hubspot_export_with_record_ids_is_read_without_a_mapping(tmp_path):
    file = write(tmp_path, "deals.csv", HUBSPOT)
    export = read_export(file)
    assert export.dataset == "hubspot"
    assert list(export.opportunities["id"]) == ["11", "12", "13", "14"]


def test_a_folder_holding_one_hubspot_export_is_read_as_its_file(tmp_path):
    """`forecast generate --format hubspot` writes a folder with one file; a CRM's download
    unzipped is the same. A folder of several files still needs a mapping naming its main."""
    file = write(tmp_path, "deals.csv", HUBSPOT)
    export = read_export(tmp_path)
    assert export.dataset == "hubspot"
    assert export.report.files == [str(file)]
    assert list(export.opportunities["id"]) == ["11", "12", "13", "14"]
    write(tmp_path, "other.csv", HUBSPOT)
    with pytest.raises(InvalidInput, match="not a format I recognise"):
        read_export(tmp_path)


def test_a_column_the_mapping_names_itself_is_required(tmp_path):
    file = write(tmp_path, "deals.csv", HUBSPOT)
    mapping = write(
        tmp_path,
        "mine.yaml",
        "preset: hubspot\ncolumns: {id: Record ID, account: Company}",
    )
    with pytest.raises(InvalidInput, match="Company"):
        read_export(file, mapping)


def test_a_mapping_may_map_the_actual_close_itself(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Record ID,Deal Stage,Close Date,Create Date,Closed On
11,closedwon,2024-03-01,2024-01-05,2024-03-02
12,contractsent,2024-09-30,2024-02-01,
""",
    )
    mapping = write(
        tmp_path, "mine.yaml", "preset: hubspot\ncolumns: {id: Record ID, closed_at: Closed On}"
    )
    deals = read_export(file, mapping).opportunities.set_index("id")
    assert deals.loc["11", "closed_at"] == pd.Timestamp("2024-03-02")
    assert deals.loc["12", "expected_close_at"] == pd.Timestamp("2024-09-30")


# --- stage dates in a HubSpot export ------------------------------------------------------------


def test_date_entered_columns_rebuild_each_deals_stage_history(tmp_path):
    pipeline = generate_pipeline(200, seed=8, stages=crm_stages("hubspot"))
    file = write_crm_export(pipeline, tmp_path, "hubspot", durations=True, seed=8)
    raw = the_file(file)
    assert any(c.startswith("Cumulative time in ") for c in raw.columns)
    export = read_export(file)
    assert export.report is not None
    assert any("rebuilt from 5" in note for note in export.report.notes)
    open_stages = crm_stages("hubspot").open_stages
    entered = raw[[f"Date entered {s}" for s in open_stages]].ne("").sum(axis=1)
    outcome = raw["Deal Stage"].isin(["Closed Won", "Closed Lost"]).astype(int)
    ids = dict(zip(raw["Deal ID"], entered + outcome, strict=True))
    counts = export.history.groupby("opportunity_id").size()
    assert counts.to_dict() == ids


def test_a_flat_hubspot_export_says_it_has_no_stage_history(tmp_path):
    pipeline = generate_pipeline(50, seed=8, stages=crm_stages("hubspot"))
    export = read_export(write_crm_export(pipeline, tmp_path, "hubspot", seed=8))
    assert export.report is not None
    assert any("flat export" in note for note in export.report.notes)


# --- forecast generate --format ----------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()


def test_generate_writes_one_flat_crm_file_that_imports(run, tmp_path):
    out = tmp_path / "hs"
    result = run("generate", "--out", out, "--deals", 40, "--leads", 0, "--format", "hubspot")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["hubspot_deals.csv"]
    imported = run("import", out / "hubspot_deals.csv", "--json")
    assert imported.exit_code == 0, imported.output
    assert '"dataset": "hubspot"' in imported.stdout


def test_durations_are_a_hubspot_option(run, tmp_path):
    result = run(
        "generate", "--out", tmp_path, "--deals", 10, "--format", "salesforce", "--durations"
    )
    assert result.exit_code != 0
    assert "HubSpot" in result.output


def test_time_in_stage_columns_rebuild_the_stage_history_where_no_entry_date_is_given(tmp_path):
    pipeline = generate_pipeline(200, seed=8, stages=crm_stages("hubspot"))
    file = write_crm_export(pipeline, tmp_path, "hubspot", durations=True, seed=8)
    with_dates = read_export(file).history
    raw = the_file(file)
    only_times = tmp_path / "times" / "hubspot_deals.csv"
    only_times.parent.mkdir()
    raw.drop(columns=[c for c in raw if c.startswith("Date entered ")]).to_csv(
        only_times, index=False
    )
    export = read_export(only_times)
    assert export.report is not None
    assert any("rebuilt from 5 'Cumulative time in <stage>" in n for n in export.report.notes)
    # Creation plus the time spent in each stage before: the dates HubSpot gives, to the minute
    # it writes them.
    key = ["opportunity_id", "stage"]
    both = with_dates.merge(export.history, on=key, suffixes=("_given", "_rebuilt"))
    assert len(both) == len(with_dates) == len(export.history)
    apart = (both["entered_at_rebuilt"] - both["entered_at_given"]).abs()
    assert apart.max() <= pd.Timedelta(minutes=1)


def test_an_unreadable_time_in_stage_is_said_and_leaves_that_stage_undated(tmp_path):
    pipeline = generate_pipeline(30, seed=8, stages=crm_stages("hubspot"))
    file = write_crm_export(pipeline, tmp_path, "hubspot", durations=True, seed=8)
    raw = the_file(file)
    raw = raw.drop(columns=[c for c in raw if c.startswith("Date entered ")])
    column = next(c for c in raw if c.startswith("Cumulative time in "))
    filled = raw[column].ne("")
    raw.loc[filled.idxmax(), column] = "three days"
    raw.to_csv(file, index=False)
    export = read_export(file)
    assert export.report is not None
    assert any("1 time(s) in stage not read as H:mm:ss" in n for n in export.report.notes)


def test_hubspot_deals_exported_by_api_property_name_are_read(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "hs_object_id,dealname,dealstage,pipeline,amount,closedate,createdate,hs_lastmodifieddate,"
        "hubspot_owner_id,hs_forecast_category,hs_date_entered_appointmentscheduled,"
        "hs_date_entered_qualifiedtobuy,hs_v2_date_entered_closedwon\n"
        "9001,Acme,qualifiedtobuy,default,1200,2024-06-30T00:00:00Z,2024-03-01T10:00:00.000Z,"
        "2024-04-02T10:00:00.000Z,52345,PIPELINE,2024-03-01T10:00:00.000Z,"
        "2024-04-01T10:00:00.000Z,\n"
        "9002,Beta,closedwon,default,800,2024-05-15T12:00:00Z,2024-02-01T10:00:00.000Z,"
        "2024-05-15T12:00:00.000Z,52346,CLOSED,2024-02-01T10:00:00.000Z,"
        "2024-03-01T10:00:00.000Z,2024-05-15T12:00:00.000Z\n",
    )
    export = read_export(file)
    assert export.dataset == "hubspot"
    deals = export.opportunities.set_index("id")
    assert deals["stage"].tolist() == ["Qualified To Buy", "Closed Won"]
    assert deals["owner"].tolist() == ["52345", "52346"]
    assert deals["forecast_category"].tolist() == ["Pipeline", "Commit"]
    assert deals.loc["9001", "expected_close_at"] == pd.Timestamp("2024-06-30")
    assert deals.loc["9002", "updated_at"] == pd.Timestamp("2024-05-15 12:00")
    entered = export.history.groupby("opportunity_id")["stage"].apply(list).to_dict()
    assert entered == {
        "9001": ["Appointment Scheduled", "Qualified To Buy"],
        "9002": ["Appointment Scheduled", "Qualified To Buy", "Closed Won"],
    }


def test_columns_the_import_does_not_read_are_named(crm, export_file, tmp_path):
    """A user whose export has "Lead Source" must learn it was not read (and how to keep it),
    not find out from a model that never mentions it."""
    raw = the_file(export_file).assign(**{"Lead Source": "Web"})
    path = tmp_path / export_file.name
    raw.to_csv(path, index=False)
    [note] = [n for n in read_export(path).report.notes if n.startswith("not read:")]
    assert "'Lead Source'" in note and "features:" in note
    assert f"'{STAGE_COLUMN[crm]}'" not in note and "'Close Date'" not in note


def test_a_built_ins_file_under_another_name_is_not_taken_but_suggested(tmp_path):
    """Built-ins are known by their files' names: a renamed copy of the lead file is not
    guessed, but the error names the built-in whose columns its header holds."""
    file = tmp_path / "my_leads.csv"
    file.write_text("Prospect ID,Lead Source,Converted\nA1,Google,1\nA2,Direct,0\n")
    with pytest.raises(InvalidInput, match="pass --mapping x_education_leads"):
        detect_mapping(file)


def test_new_leads_in_the_projects_own_columns_are_pointed_to_its_mapping(tmp_path):
    """New leads to score have no outcome yet: a file with the project's own lead columns but
    `converted` is not recognised by its header, and the error names the mapping that reads it."""
    file = write(tmp_path, "new.csv", "id,created_at,Channel\nN1,2024-06-01 10:00:00,web\n")
    with pytest.raises(InvalidInput, match="not a format I recognise") as caught:
        read_export(file)
    assert "pass --mapping canonical_leads" in str(caught.value)


def test_new_leads_of_a_salesforce_report_are_pointed_to_its_preset(tmp_path):
    """A walkthrough scored open leads exported without "Lead Status" (no outcome yet) and its
    creation date as "Created Date" (the report's other label for it): the error listed every
    built-in and named none, where `--mapping salesforce_leads` reads the file."""
    file = write(
        tmp_path, "open.csv", "Lead ID,Lead Source,Created Date\n00Q1,Web,3/14/2024 9:05 AM\n"
    )
    with pytest.raises(InvalidInput, match="pass --mapping salesforce_leads"):
        detect_mapping(file)
    assert read_export(file, "salesforce_leads").leads["id"].tolist() == ["00Q1"]
