"""`forecast import`, `datasets`, `snapshot`, `kpis`, `keys`, `generate` and `serve`: what a user
sees printed, what lands in the store, and errors said in one line with a non-zero exit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from forecast.data import store
from forecast.keys import KeyVerifier
from tests.training.conftest import Cli, fails_cleanly, parsed

REPO = Path(__file__).resolve().parents[2]


# --- import -------------------------------------------------------------------------------------


def test_importing_an_export_prints_a_report_of_what_was_written(cli: Cli, export: Path):
    result = cli("import", export)
    assert result.exit_code == 0, result.output
    report = result.stdout
    assert "Import into dataset 'pipeline'" in report
    assert "opportunities.csv" in report and "stage_history.csv" in report
    assert re.search(r"rows read\s*│\s*60\s", report)
    assert re.search(r"rows with problems\s*│\s*0\s", report)
    assert re.search(r"written\s*│\s*yes\s", report)


def test_import_json_parses_and_a_second_import_of_the_same_file_changes_nothing(
    cli: Cli, export: Path
):
    first = parsed(cli("import", export, "--json"))
    assert (first["dataset"], first["rows_read"], first["rows_written"]) == ("pipeline", 60, 60)
    assert first["written"] is True and first["bad_rows"] == 0
    again = parsed(cli("import", export, "--json"))
    assert (again["rows_read"], again["rows_written"], again["history_rows_written"]) == (60, 0, 0)


def test_a_blank_dataset_name_is_refused_not_taken_for_the_mappings(cli: Cli, export: Path):
    fails_cleanly(
        cli("import", export, "--dataset", " "),
        2,
        "dataset: ' ' is no name; give one, or leave it out to store the export as its "
        "mapping's 'pipeline'",
    )
    assert parsed(cli("datasets", "--json")) in ([], {"datasets": []})


def test_an_import_with_a_preset_mapping_says_its_dataset_and_how_to_choose_another(
    cli: Cli, tmp_path: Path
):
    """`preset: salesforce_api` in my_sf.yaml stores under the mapping's name, "my_sf", and the
    report says so and how to store elsewhere."""
    from tests.forecast.test_mapping_draft import SALESFORCE_API

    deals = tmp_path / "Opportunity.csv"
    deals.write_text(SALESFORCE_API)
    mapping = tmp_path / "my_sf.yaml"
    mapping.write_text("preset: salesforce_api\n")
    result = cli("import", deals, "--mapping", mapping, "--no-track")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.replace("│", " ").split())
    assert "Import into dataset 'my_sf'" in said
    assert "dataset my_sf (another name: --dataset NAME, or dataset: in the mapping)" in said
    assert [d["name"] for d in parsed(cli("datasets", "--json"))] == ["my_sf"]


def test_import_with_replace_rewrites_the_dataset_and_says_what_it_removed(cli: Cli, export: Path):
    parsed(cli("import", export, "--json", "--no-track"))
    again = parsed(cli("import", export, "--replace", "--json", "--no-track"))
    assert (again["rows_read"], again["rows_written"]) == (60, 60)
    [said] = [n for n in again["notes"] if n.startswith("--replace")]
    assert "60 deal(s)" in said and "stage entries" in said


def test_a_bad_value_rejects_the_file_naming_its_row_and_column(
    cli: Cli, export: Path, tmp_path: Path
):
    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    frame = pd.read_csv(bad / "opportunities.csv", dtype=str, keep_default_na=False)
    frame.loc[2, "amount"] = "lots"  # data row 2 is line 4 of the file (line 1 is the header)
    frame.to_csv(bad / "opportunities.csv", index=False)

    result = cli("import", bad)
    fails_cleanly(result, 2, "import rejected", "nothing was written")
    [example] = [line for line in result.stderr.splitlines() if "lots" in line]
    cells = [c.strip() for c in re.split(r"[│┃|]", example) if c.strip()]
    assert cells == ["opportunities.csv", "4", "amount", "not a number", "lots"]
    # A rejected import shows no counts of rows "inserted" or deals "moved": nothing was stored.
    shown = result.stdout + result.stderr
    assert "rows inserted or changed" not in shown and "deals that moved stage" not in shown
    assert parsed(cli("datasets", "--json")) == []


def test_skipping_bad_rows_writes_the_good_ones(cli: Cli, export: Path, tmp_path: Path):
    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    frame = pd.read_csv(bad / "opportunities.csv", dtype=str, keep_default_na=False)
    frame.loc[2, "amount"] = "lots"
    frame.to_csv(bad / "opportunities.csv", index=False)
    report = parsed(cli("import", bad, "--on-error", "skip", "--json"))
    assert (report["rows_read"], report["bad_rows"], report["rows_written"]) == (60, 1, 59)


def test_skipping_bad_rows_refuses_a_file_where_no_row_is_good(cli: Cli, tmp_path: Path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "kind: opportunities\ndataset: dd\n"
        "columns: {id: Id, stage: Stage, amount: Amount, closed_at: Closed}\n"
        "stages: {open: [New], won: Won, lost: Lost}\n"
    )
    deals = tmp_path / "deals.csv"
    deals.write_text("Id,Stage,Amount,Closed\nD1,Won,5,24-Jun-2025\nD2,Lost,7,04-Feb-2025\n")
    result = cli("import", deals, "--mapping", mapping, "--on-error", "skip")
    fails_cleanly(result, 2, "no row of deals.csv could be imported", "nothing was written")
    assert "unparseable date" in " ".join(result.stderr.split())
    assert parsed(cli("datasets", "--json")) == []


def test_a_semicolon_export_imports_and_the_report_says_how_it_was_read(cli: Cli, tmp_path: Path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "kind: opportunities\ndataset: eu\n"
        "columns: {id: {hash_of: [Name, Created]}, stage: Stage, amount: Amount, "
        "created_at: Created, closed_at: Closed}\n"
        'csv: {decimal: ","}\nstages: {open: [New], won: Won, lost: Lost}\n'
    )
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "Name;Stage;Amount;Created;Closed\n"
        "Acme renewal;Won;1250,5;2024-03-01T16:00;2024-03-01T10:00\n"
        "Beta pilot;New;80;2024-03-02;\n"
    )
    result = cli("import", deals, "--mapping", mapping)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "columns separated by ';', detected from the header line" in text
    assert "1 deal(s) closed up to 1 day before they were created" in text
    assert re.search(r"rows inserted or changed\s*│\s*2\s", result.stdout)
    stored = store.load_opportunities(store.get_engine(), "eu").set_index("stage")
    assert stored.loc["Won", "amount"] == 1250.5
    assert stored["id"].str.fullmatch(r"[0-9a-f]{16}").all()


@pytest.mark.parametrize(
    "content, said",
    [
        (None, "no such file or folder"),
        ("a,b\n1,2\n", "not a format I recognise"),
        ("", "export.csv: the file is empty"),  # not 'draft a mapping' for a file of nothing
        ("\n\n", "export.csv: the file is empty"),
    ],
)
def test_a_file_it_cannot_read_is_one_error_line(cli: Cli, tmp_path: Path, content, said):
    path = tmp_path / "export.csv"
    if content is not None:
        path.write_text(content)
    fails_cleanly(cli("import", path), 2, said)


def test_the_leads_file_forecast_generate_writes_imports_without_a_mapping(cli: Cli, tmp_path):
    """Any file with an `id` and a `converted` column is the project's own leads format: its
    other columns are the leads' attributes, a blank `converted` a lead not known yet."""
    from forecast.data.generator import generate_leads, write_leads

    path = tmp_path / "leads" / "leads.csv"
    write_leads(generate_leads(300, seed=2), path)
    frame = pd.read_csv(path)
    frame.loc[:9, "converted"] = None  # ten leads still being worked
    frame.to_csv(path, index=False)
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert re.search(r"rows inserted or changed\s*│\s*300\s", result.stdout)
    leads = store.load_leads(store.get_engine(), "leads")
    assert len(leads) == 300 and leads["converted"].isna().sum() == 10
    assert {"Lead Source", "TotalVisits", "created_at"} <= set(leads.columns)
    assert leads["created_at"].notna().all()
    # A lead file has no stages, amounts or close dates: the summary says nothing of them.
    assert "stage-history" not in result.stdout and "list price" not in result.stdout


def test_draft_is_a_name_for_draft_mapping(cli: Cli, tmp_path):
    path = tmp_path / "signups.csv"
    path.write_text(
        "lead_id,signup_ts,utm_source,Purchased\nA,2024-01-01,Web,No\nB,2024-01-02,Ads,Yes\n"
    )
    result = cli("draft", path)
    assert result.exit_code == 0, result.output
    assert "converted: Purchased" in result.stdout
    assert (tmp_path / "signups.mapping.yaml").exists()


# --- datasets, snapshot, kpis -------------------------------------------------------------------


def test_datasets_lists_what_the_store_holds(cli: Cli, export: Path):
    empty = cli("datasets")
    assert empty.exit_code == 0 and "The store is empty" in empty.stdout
    cli("import", export)
    assert re.match(r"pipeline\s+\(opportunities, updated \d{4}-\d\d-\d\d", cli("datasets").stdout)
    [dataset] = parsed(cli("datasets", "--json"))
    assert dataset["name"] == "pipeline" and dataset["kind"] == "opportunities"
    assert (dataset["stages"]["won"], dataset["stages"]["lost"]) == ("Won", "Lost")


def test_a_snapshot_counts_the_deals_created_and_open_on_that_date(
    imported: Cli, deals: pd.DataFrame, tmp_path: Path
):
    as_of = pd.Timestamp("2024-06-30")
    created = deals[deals["created_at"] < as_of]
    still_open = created["closed_at"].isna() | (created["closed_at"] >= as_of)

    out = tmp_path / "snapshot.csv"
    data = parsed(imported("snapshot", "--as-of", "2024-06-30", "--json", "--out", out))
    assert (data["as_of"], data["deals"], data["open_deals"]) == (
        "2024-06-30",
        len(created),
        int(still_open.sum()),
    )
    assert sum(s["deals"] for s in data["stages"]) == len(created)
    closed = created[~still_open]
    by_stage = {s["stage"]: s["deals"] for s in data["stages"]}
    assert (by_stage["Won"], by_stage["Lost"]) == (
        int((closed["stage"] == "Won").sum()),
        int((closed["stage"] == "Lost").sum()),
    )
    assert set(pd.read_csv(out)["id"]) == set(created["id"])

    table = imported("snapshot", "--as-of", "2024-06-30").stdout
    assert "Pipeline as of 2024-06-30" in table
    assert f"{int(still_open.sum())} open of {len(created)} deals created by then" in table


def test_a_snapshot_date_that_is_not_a_date_is_named(imported: Cli):
    fails_cleanly(
        imported("snapshot", "--as-of", "last tuesday"),
        2,
        "--as-of",
        "'last tuesday' is not a date",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["snapshot", "--as-of"],
        ["kpis", "--as-of"],
        ["revenue", "--period", "2024-Q3", "--as-of"],
        ["track", "--as-of"],
        ["track", "--since"],
        ["backtest", "--from"],
    ],
)
@pytest.mark.parametrize("day", ["07/01/2024", "30/06/2024", "Jul 1 2024"])
def test_every_date_option_refuses_a_day_month_order_it_would_have_to_guess(
    imported: Cli, command: list[str], day: str
):
    """07/01/2024 is the 7th of January to some and the 1st of July to others: every command
    asks for YYYY-MM-DD, as revenue and kpis did (before: snapshot read it month-first)."""
    result = imported(*command, day)
    fails_cleanly(result, 2, repr(day))


def test_import_and_generate_dates_are_read_only_year_first(cli: Cli, export: Path, tmp_path):
    fails_cleanly(
        cli("import", export, "--export-date", "07/01/2025"),
        2,
        "--export-date: '07/01/2025' is not a date",
    )
    for option in ("--start", "--end", "--win-rate-change"):
        given = "07/01/2024:0.5" if option == "--win-rate-change" else "07/01/2024"
        result = cli("generate", "--out", tmp_path / "gen", "--deals", "5", option, given)
        fails_cleanly(result, 2, f"{option}: '07/01/2024' is not a date")


def test_kpis_by_team_as_json_add_up_to_the_file(imported: Cli, deals: pd.DataFrame):
    data = parsed(imported("kpis", "--by", "team", "--json"))
    assert data["dataset"] == "pipeline" and data["by"] == "team"
    overall = data["overall"]
    assert (overall["deals"], overall["won"], overall["lost"]) == (
        len(deals),
        int((deals["stage"] == "Won").sum()),
        int((deals["stage"] == "Lost").sum()),
    )
    assert overall["win_rate"] == pytest.approx(overall["won"] / (overall["won"] + overall["lost"]))
    groups = {g["group"]: g for g in data["groups"]}
    assert set(groups) == set(deals["team"])
    for team, g in groups.items():
        assert g["deals"] == int((deals["team"] == team).sum())
        assert g["won"] == int(((deals["team"] == team) & (deals["stage"] == "Won")).sum())


def test_kpis_print_a_table_per_view(imported: Cli, deals: pd.DataFrame):
    result = imported("kpis", "--by", "team")
    assert result.exit_code == 0, result.output
    assert all(team in result.stdout for team in deals["team"].unique())


@pytest.mark.parametrize(
    "command",
    [
        ["kpis", "--dataset"],
        ["snapshot", "--as-of", "2024-01-01", "--dataset"],
        ["revenue", "--period", "2024-Q1", "--dataset"],
        ["revenue", "--period", "2024-Q1", "--data"],
        ["backtest", "--data"],
        ["track", "--dataset"],
        ["targets", "list", "--dataset"],
        ["targets", "set", "--level", "all", "--period", "2024-Q1", "--amount", "5", "--dataset"],
        ["score", "--kind", "deals", "--out", "scores.parquet", "--data"],
        ["train", "deals", "--data"],
        ["train", "leads", "--data"],
        ["timing", "--data"],
        ["retrain", "--data"],
        ["models", "show", "deals", "--dataset"],
    ],
    ids=" ".join,
)
def test_every_command_given_an_unknown_dataset_names_it_as_bad_input(
    imported: Cli, command: list[str]
):
    """A mistyped dataset name is bad input like any other (exit 2), whichever command."""
    fails_cleanly(imported(*command, "nope"), 2, "'nope'")


def test_an_unknown_dataset_with_json_is_one_json_error_naming_the_known_ones(imported: Cli):
    result = imported("kpis", "--dataset", "nope", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["error_type"] == "UnknownDataset"
    assert doc["error"] == "no dataset named 'nope'; the store has ['pipeline']"


def test_kpis_of_a_leads_dataset_say_it_holds_leads(cli: Cli, tmp_path: Path):
    from forecast.data.generator import generate_leads, write_leads

    leads = write_leads(generate_leads(30, seed=2), tmp_path / "leads.csv")
    assert cli("import", leads, "--dataset", "people").exit_code == 0
    fails_cleanly(cli("kpis", "--dataset", "people"), 2, "'people' holds leads, not opport")


def test_kpis_as_of_a_date_out_of_the_datas_reach_is_refused_as_the_api_refuses_it(
    imported: Cli,
):
    """A typo (2999 for 2024) gave the data's end's figures dated then, and a date before the
    first deal every figure blank: both are bad input naming `as_of`, as GET /v1/kpis says."""
    fails_cleanly(imported("kpis", "--as-of", "2999-01-01"), 2, "as_of (2999-01-01) is more than")
    fails_cleanly(imported("kpis", "--as-of", "1990-01-01"), 2, "before the data's first deal")


def test_kpis_before_any_import_say_to_import_first(cli: Cli):
    fails_cleanly(cli("kpis", "--by", "team"), 1, "run `forecast import` first")


# --- keys ---------------------------------------------------------------------------------------


def test_a_key_is_shown_once_listed_without_itself_and_stops_working_when_revoked(cli: Cli):
    made = parsed(cli("keys", "create", "--role", "scorer", "--name", "HubSpot", "--json"))
    assert (made["role"], made["name"]) == ("scorer", "HubSpot")
    plain = made["key"]
    verifier = KeyVerifier(store.get_engine(), ttl_seconds=0)
    assert verifier.verify(plain).role == "scorer"

    text = cli("keys", "create", "--role", "viewer", "--name", "Managers").stdout
    assert "Store it now: it cannot be shown again." in text

    listed = cli("keys", "list")
    assert listed.exit_code == 0 and plain not in listed.stdout
    assert re.search(rf"{made['id']}\s+scorer\s+\S+…\s+HubSpot\s+\(active\)", listed.stdout)
    rows = parsed(cli("keys", "list", "--json"))
    assert [(r["role"], r["name"]) for r in rows] == [("scorer", "HubSpot"), ("viewer", "Managers")]
    assert plain not in cli("keys", "list", "--json").stdout

    revoked = cli("keys", "revoke", made["id"])
    assert revoked.exit_code == 0
    assert f"revoked key {made['id']} (scorer, HubSpot)" in revoked.stdout
    assert verifier.verify(plain) is None
    assert re.search(r"HubSpot\s+\(revoked \d{4}-\d\d-\d\d\)", cli("keys", "list").stdout)


def test_bad_key_requests_are_one_error_line(cli: Cli):
    fails_cleanly(
        cli("keys", "create", "--role", "god", "--name", "x"),
        2,
        "role must be one of ['scorer', 'viewer', 'admin'], got 'god'",
    )
    fails_cleanly(cli("keys", "revoke", "99"), 2, "no API key with id 99")


# --- generate, serve, the installed command -----------------------------------------------------


def test_generated_data_imports_as_it_is_written(cli: Cli, tmp_path: Path):
    out = tmp_path / "gen"
    result = cli("generate", "--out", out, "--deals", "30", "--leads", "20")
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.csv"))
    assert written == ["leads/leads.csv", "opportunities.csv", "stage_history.csv"]
    assert len(pd.read_csv(out / "leads" / "leads.csv")) == 20
    assert parsed(cli("import", out, "--json"))["rows_written"] == 30
    assert cli("generate", "--out", out, "--deals", "0").exit_code == 2  # at least one deal


def test_serve_refuses_a_port_out_of_range_before_starting(cli: Cli):
    fails_cleanly(cli("serve", "--port", "70000"), 2, "--port must be 1–65535, got 70000")


def test_the_installed_command_prints_an_error_without_a_traceback(tmp_path: Path):
    env = {**os.environ, "FORECAST_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "keys", "revoke", "99"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # bad input, as click's usage errors
    assert done.stderr.strip() == "error: no API key with id 99"
    assert done.stdout == ""
