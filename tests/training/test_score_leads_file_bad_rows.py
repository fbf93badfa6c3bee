"""`forecast score --kind leads --data FILE` does not die on one bad row of the file: the rest is
scored, and the summary says how many rows were left out and why, with an example."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.settings import get_settings
from tests.training.conftest import parsed
from training.cli import app

MAPPING = """kind: leads
dataset: inbound
columns:
  id: Lead Id
  converted: Converted
  created_at: Lead Created Date
"""


@pytest.fixture
def leads_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    dates = [f"2024-03-{1 + i % 28:02d} 10:00:00" for i in range(40)]
    dates[5], dates[9] = "yesterday", "2024-02-30"
    frame = pd.DataFrame(
        {
            "Lead Id": [f"L{i}" for i in range(40)],
            "Converted": [i % 2 for i in range(40)],
            "Lead Created Date": dates,
            "Channel": ["web", "event"] * 20,
        }
    )
    path, mapping = tmp_path / "leads.csv", tmp_path / "inbound.yaml"
    frame.to_csv(path, index=False)
    mapping.write_text(MAPPING)
    yield path, mapping
    get_settings.cache_clear()


def test_a_leads_file_with_unreadable_dates_is_scored_and_the_summary_says_so(leads_file, tmp_path):
    path, mapping = leads_file
    out = tmp_path / "scores.parquet"
    args = ["score", "--kind", "leads", "--data", path, "--mapping", mapping, "--out", out]
    summary = parsed(CliRunner().invoke(app, [*map(str, args), "--json"]))
    assert summary["rows"] == 38  # every readable row
    [note] = [n for n in summary["notes"] if "not scored" in n]
    assert note.startswith("2 row(s) of leads.csv not scored")
    assert "'yesterday'" in note and "Lead Created Date" in note
    assert "L5" not in set(pd.read_parquet(out)["id"])


def _score(*args: object) -> object:
    return CliRunner().invoke(app, ["score", "--kind", "leads", *map(str, args)])


def _stored_rows() -> int:
    from sqlalchemy import text

    from forecast.data import store

    with store.get_engine(get_settings()).connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM batch_scores")).scalar_one())


def test_an_empty_parquet_file_is_refused_and_the_stored_batch_kept(leads_file, tmp_path):
    path, mapping = leads_file
    out = tmp_path / "scores.parquet"
    assert _score("--data", path, "--mapping", mapping, "--out", out, "--store").exit_code == 0
    assert _stored_rows() == 38
    empty = tmp_path / "empty.parquet"
    pd.read_csv(path).iloc[:0].to_parquet(empty)
    result = _score("--data", empty, "--mapping", mapping, "--out", out, "--store")
    assert result.exit_code == 2 and "the file has no rows" in result.output
    assert _stored_rows() == 38  # a header-only CSV is refused alike


def test_blank_text_in_a_parquet_file_reads_as_a_csv_blank_cell(leads_file, tmp_path):
    path, mapping = leads_file
    frame = pd.read_csv(path, dtype=str)
    frame.loc[3, "Lead Created Date"] = ""  # undated, as an empty CSV cell: scored, not dropped
    frame.loc[4, "Lead Created Date"] = "yesterday"
    parquet = tmp_path / "leads.parquet"
    frame.to_parquet(parquet)
    out = tmp_path / "scores.parquet"
    args = ["--data", parquet, "--mapping", mapping, "--out", out, "--json"]
    summary = parsed(_score(*args))
    assert summary["rows"] == 37 and "L3" in set(pd.read_parquet(out)["id"])
    [note] = [n for n in summary["notes"] if "not scored" in n]
    # A Parquet file has no header line: its first record is row 1, L4 row 5.
    assert "row 5, Lead Created Date (unparseable date): 'yesterday'" in note


def test_every_row_not_scored_is_named_and_a_lead_twice_keeps_its_readable_copy(
    leads_file, tmp_path
):
    path, mapping = leads_file
    frame = pd.read_csv(path, dtype=str)
    again = frame.iloc[[5]].assign(**{"Lead Created Date": "2024-03-06 10:00:00"})
    twice = frame.iloc[[7]]
    pd.concat([frame, again, twice]).to_csv(path, index=False)
    out = tmp_path / "scores.parquet"
    args = ["--data", path, "--mapping", mapping, "--out", out, "--json"]
    summary = parsed(_score(*args))
    # L5's first copy has no date it can read: its second is the lead. L7 twice, both readable:
    # the second is the duplicate.
    assert summary["rows"] == 39 and {"L5", "L7"} <= set(pd.read_parquet(out)["id"])
    [note] = [n for n in summary["notes"] if "not scored" in n]
    assert note.startswith("3 row(s) of leads.csv not scored")
    assert "row 7, Lead Created Date (unparseable date): 'yesterday'" in note
    assert "row 11, Lead Created Date (unparseable date): '2024-02-30'" in note
    assert "row 43, Lead Id (duplicate id): 'L7'" in note


def test_the_scores_never_replace_the_file_or_folder_read(leads_file, tmp_path):
    path, mapping = leads_file
    parquet = tmp_path / "leads.parquet"
    pd.read_csv(path).to_parquet(parquet)
    before = parquet.read_bytes()
    result = _score("--data", parquet, "--mapping", mapping, "--out", parquet)
    assert result.exit_code == 2 and "is the file --data reads" in result.output
    assert parquet.read_bytes() == before
    written = path.read_bytes()  # a CSV out may no more be the CSV read than a Parquet one
    same = _score("--data", path, "--mapping", mapping, "--out", path)
    assert same.exit_code == 2 and "is the file --data reads" in same.output
    assert path.read_bytes() == written
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "leads.csv").write_bytes(path.read_bytes())
    inside = _score("--data", folder, "--mapping", mapping, "--out", folder / "s.parquet")
    assert inside.exit_code == 2 and "lies in the export folder --data reads" in inside.output
    inside = _score("--data", folder, "--mapping", mapping, "--out", folder / "s.csv")
    assert inside.exit_code == 2 and "lies in the export folder --data reads" in inside.output


def test_a_dataset_the_store_does_not_hold_is_named_as_bad_input(leads_file, tmp_path):
    path, mapping = leads_file
    unlabelled = tmp_path / "new.csv"
    pd.read_csv(path).drop(columns="Converted").to_csv(unlabelled, index=False)
    out = tmp_path / "scores.parquet"
    result = _score("--data", unlabelled, "--mapping", mapping, "--dataset", "nosuch", "--out", out)
    assert result.exit_code == 2
    assert "--dataset: no dataset named 'nosuch'; the store has" in result.output
    assert "no lead model and no labelled leads" in result.output


def test_a_column_mostly_of_numbers_is_not_said_read_as_text_when_scoring(leads_file, tmp_path):
    """What training on the file would learn is not what the served model reads: it reads
    each input as it learnt it, so the import's note on such a column is not the summary's."""
    path, mapping = leads_file
    frame = pd.read_csv(path, dtype=str)
    frame["Visits"] = [str(i) for i in range(38)] + ["51-200", "lots"]
    frame.to_csv(path, index=False)
    out = tmp_path / "scores.parquet"
    summary = parsed(_score("--data", path, "--mapping", mapping, "--out", out, "--json"))
    assert summary["rows"] == 38
    assert not [n for n in summary["notes"] if "each value a category of its own" in n]


@pytest.mark.parametrize("date_format", [None, '"%Y-%m-%d %H:%M:%S"'])
def test_a_date_left_unread_is_never_said_to_have_been_read(leads_file, tmp_path, date_format):
    """A walkthrough's new leads file, its mapping without a date_format, was told "Create
    Date: dates like '06/15/2025 10:00' read with the mapping's date_format: [...]" and then
    that the row was not scored (unparseable date). The note now says the date was not read,
    where the formats it missed come from, and which date_format would read it; the rows not
    scored are said beside it."""
    path, mapping = leads_file
    frame = pd.read_csv(path)
    frame.loc[[5, 9], "Lead Created Date"] = "2024-03-10 10:00:00"  # the fixture's own bad ones
    frame.loc[3, "Lead Created Date"] = "06/15/2024 10:00"  # a US date among ISO 8601 ones
    frame.to_csv(path, index=False)
    if date_format is not None:
        mapping.write_text(MAPPING + f"date_format: {date_format}\n")
    out = tmp_path / "scores.parquet"
    summary = parsed(_score("--data", path, "--mapping", mapping, "--out", out, "--json"))
    notes = " ".join(summary["notes"])
    assert "would be read with the mapping's date_format" not in notes
    [hint] = [n for n in summary["notes"] if n.startswith("Lead Created Date: dates like")]
    assert (
        "'06/15/2024 10:00' are not read: they are in no format the mapping reads (its "
        "date_format, or ISO 8601 where it gives none)"
    ) in hint
    assert 'set date_format: ["%m/%d/%Y %H:%M"' in hint  # one that reads it: month first
    assert "row 5, Lead Created Date (unparseable date): '06/15/2024 10:00'" in notes
    assert "L3" not in set(pd.read_parquet(out)["id"])


def test_a_parquet_lead_with_no_id_is_left_out_and_said_not_a_traceback(leads_file, tmp_path):
    path, mapping = leads_file
    frame = pd.read_csv(path)  # typed as a program writes Parquet: Converted a number column
    frame["Lead Id"] = frame["Lead Id"].astype("string")
    frame.loc[3, "Lead Id"] = None
    parquet = tmp_path / "leads.parquet"
    frame.to_parquet(parquet)
    out = tmp_path / "scores.parquet"
    args = ["--data", parquet, "--mapping", mapping, "--out", out, "--json"]
    summary = parsed(_score(*args))
    assert summary["rows"] == 37  # L5 and L9 have unreadable dates, L3 no id
    [note] = [n for n in summary["notes"] if "not scored" in n]
    assert "row 4, Lead Id (missing id)" in note


def test_a_lead_id_longer_than_the_store_keeps_is_left_out_and_said(leads_file, tmp_path):
    path, mapping = leads_file
    frame = pd.read_csv(path, dtype=str)
    frame.loc[3, "Lead Id"] = "L" * 250  # past the store's ids: --store could not keep it
    frame.to_csv(path, index=False)
    out = tmp_path / "scores.parquet"
    summary = parsed(_score("--data", path, "--mapping", mapping, "--out", out, "--json"))
    assert summary["rows"] == 37
    [note] = [n for n in summary["notes"] if "not scored" in n]
    assert "row 5, Lead Id (id longer than 100 characters)" in note
