"""A deal export that keeps deleted deals (Pipedrive's "Status": open, won, lost, deleted) drafts a
mapping that leaves them out: a deleted deal is neither open nor lost, and read as open it
swelled the open pipeline by every deal ever deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write
from training.cli import app

HEADER = (
    "Deal - ID,Deal - Title,Deal - Value,Deal - Currency,Deal - Owner,Deal - Stage,"
    "Deal - Status,Deal - Deal created,Deal - Won time,Deal - Lost time"
)


def _export(folder: Path, deleted: str = "Deleted") -> Path:
    """Two open deals worth 300, one won, one lost, and two deleted deals worth 9,000 whose
    stages are open ones."""
    rows = [
        "1,A,100,USD,Ann,Qualified,Open,2024-01-01 10:00:00,,",
        "2,B,200,USD,Bob,Proposal Made,Open,2024-01-02 10:00:00,,",
        "3,C,700,USD,Ann,Proposal Made,Won,2024-01-03 10:00:00,2024-02-01 10:00:00,",
        "4,D,500,USD,Bob,Qualified,Lost,2024-01-04 10:00:00,,2024-02-02 10:00:00",
        f"5,E,4000,USD,Ann,Qualified,{deleted},2024-01-05 10:00:00,,",
        f"6,F,5000,USD,Bob,Proposal Made,{deleted},2024-01-06 10:00:00,,",
    ]
    return write(folder, "pipedrive_deals.csv", "\n".join([HEADER, *rows]))


def test_a_drafted_pipedrive_mapping_leaves_deleted_deals_out_of_the_open_pipeline(tmp_path):
    file = _export(tmp_path)
    draft = draft_mapping(file)
    assert "skip_rows:" in draft.text and "Deal - Status: [Deleted]" in draft.text
    assert "Deleted:" not in draft.text  # not a value fixed to blank: that reads the stage
    said = [c for c in draft.checks if "deleted" in c]
    assert len(said) == 1 and "2 deal(s)" in said[0] and "skip_rows" in said[0]
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    deals = export.opportunities.set_index("id")
    assert sorted(deals.index) == ["1", "2", "3", "4"]
    assert deals.loc[deals["status"] == "open", "amount"].sum() == 300
    assert any("left out by skip_rows" in note for note in export.report.notes)


@pytest.mark.parametrize("word", ["deleted", "Gelöscht", "Supprimé", "Eliminado", "Removed"])
def test_a_deleted_status_in_another_case_or_language_is_left_out_too(tmp_path, word):
    draft = draft_mapping(_export(tmp_path, word))
    assert "skip_rows:" in draft.text
    export = read_export(
        _export(tmp_path, word), load_mapping(write(tmp_path, "draft.yaml", draft.text))
    )
    assert len(export.opportunities) == 4


def test_an_export_without_deleted_deals_drafts_no_skip_rows(tmp_path):
    file = _export(tmp_path, "Open")
    draft = draft_mapping(file)
    assert "skip_rows" not in draft.text
    assert not any("deleted" in c for c in draft.checks)


def test_draft_mapping_says_how_many_deleted_deals_it_leaves_out(tmp_path):
    file = _export(tmp_path)
    result = CliRunner().invoke(app, ["draft-mapping", str(file)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "2 deal(s) whose 'Deal - Status' is 'Deleted': deleted" in said
    assert "as drafted: 4 rows read, 0 with problems" in said


def test_a_newer_export_naming_a_stored_open_deal_deleted_says_it_stays_open(
    tmp_path, sqlite_engine
):
    """Weekly Pipedrive exports: deal 1, open last week, is deleted in this one. `skip_rows`
    leaves its row out, so the store keeps it open, in the pipeline, forecast and at-risk
    list; the import said only "row(s) left out by skip_rows". It names the stored open deals
    left so and how to take them out."""
    from forecast.data.importing import import_export

    first = tmp_path / "week1"
    first.mkdir()
    draft = draft_mapping(_export(first))
    mapping = load_mapping(write(tmp_path, "draft.yaml", draft.text))
    import_export(sqlite_engine, first / "pipedrive_deals.csv", mapping)
    second = tmp_path / "week2"
    second.mkdir()
    text = (first / "pipedrive_deals.csv").read_text()
    write(second, "pipedrive_deals.csv", text.replace("Qualified,Open,", "Qualified,Deleted,"))
    report = import_export(sqlite_engine, second / "pipedrive_deals.csv", mapping)
    said = [n for n in report.notes if "stored open" in n]
    assert len(said) == 1, report.notes
    assert "1 deal(s)" in said[0] and "'1'" in said[0] and "--replace" in said[0]
