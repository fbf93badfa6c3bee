"""New leads have no outcome yet: a file of them without the label column is scored by the
dataset's model (the mapping that imported the labelled history reads it), and imported as
leads without an outcome, stored and scored, never learnt from."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.data import store
from forecast.data.generator import generate_leads, write_leads
from forecast.data.importing import import_export
from forecast.settings import get_settings
from tests.training.conftest import parsed
from training.cli import app

MAPPING = """kind: leads
dataset: inbound
columns: {id: id, converted: converted, created_at: created_at}
leak_columns: [Tags]
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, Path]]:
    """The labelled history, a file of new leads without `converted`, and the mapping."""
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    history = write_leads(generate_leads(400, seed=3), tmp_path / "history.csv")
    new = generate_leads(8, seed=9).drop(columns=["converted"])
    new["id"] = [f"N{i}" for i in range(8)]
    new_file = write_leads(new, tmp_path / "new.csv")
    mapping = tmp_path / "inbound.yaml"
    mapping.write_text(MAPPING)
    yield history, new_file, mapping
    get_settings.cache_clear()


def test_a_file_of_new_leads_without_the_label_column_is_scored(files, tmp_path):
    history, new_file, mapping = files
    runner = CliRunner()
    for args in (["import", history, "--mapping", mapping], ["train", "leads", "--no-cv"]):
        done = runner.invoke(app, [str(a) for a in args])
        assert done.exit_code == 0, done.output
    out = tmp_path / "scores.parquet"
    args = ["score", "--kind", "leads", "--data", new_file, "--mapping", mapping, "--out", out]
    summary = parsed(runner.invoke(app, [*map(str, args), "--json"]))
    assert summary["rows"] == 8
    scores = pd.read_parquet(out)
    assert sorted(scores["id"]) == [f"N{i}" for i in range(8)]


def test_new_leads_import_without_an_outcome_and_the_report_says_so(files):
    _, new_file, mapping = files
    result = CliRunner().invoke(app, ["import", str(new_file), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert "no 'converted' column (converted): the leads have no outcome yet" in said
    stored = store.load_leads(store.get_engine(), "inbound")
    assert len(stored) == 8 and stored["converted"].isna().all()


def test_a_later_file_without_the_outcome_column_keeps_the_outcomes_stored(files, tmp_path):
    """Leads re-exported without the label column (a scoring export of the same leads) must
    not wipe the outcomes the dataset learnt from: nothing stored is lost."""
    history, _, mapping = files
    runner = CliRunner()
    done = runner.invoke(app, ["import", str(history), "--mapping", str(mapping)])
    assert done.exit_code == 0, done.output
    before = store.load_leads(store.get_engine(), "inbound").set_index("id")["converted"]
    again = pd.read_csv(history).drop(columns=["converted"])
    again["created_at"] = pd.to_datetime(again["created_at"]) + pd.Timedelta(days=1)
    path = tmp_path / "again.csv"
    again.to_csv(path, index=False)
    done = runner.invoke(app, ["import", str(path), "--mapping", str(mapping)])
    assert done.exit_code == 0, done.output
    after = store.load_leads(store.get_engine(), "inbound").set_index("id")["converted"]
    pd.testing.assert_series_equal(after.sort_index(), before.sort_index())


def test_labels_read_from_a_conversion_date_are_stored(tmp_path, monkeypatch):
    """A mapping with `converted_at` and no `converted` column: a lead with a date converted,
    the others not; the store keeps those labels (a file with no outcome column at all is
    the one whose stored outcomes stay as they are)."""
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    file = tmp_path / "contacts.csv"
    file.write_text(
        "Record ID,Create Date,Became a Customer Date,Source\n"
        "1,2024-01-02 10:00,2024-02-01 10:00,REFERRALS\n"
        "2,2024-01-03 10:00,,DIRECT\n"
        "3,2024-01-04 10:00,,OFFLINE\n"
    )
    mapping = tmp_path / "c.yaml"
    mapping.write_text(
        "kind: leads\ndataset: c\ncolumns:\n  id: Record ID\n  created_at: Create Date\n"
        "  converted_at: Became a Customer Date\n"
    )
    done = CliRunner().invoke(app, ["import", str(file), "--mapping", str(mapping)])
    assert done.exit_code == 0, done.output
    stored = store.load_leads(store.get_engine(), "c").set_index("id")["converted"]
    assert stored.to_dict() == {"1": 1, "2": 0, "3": 0}
    get_settings.cache_clear()


def test_new_leads_without_the_conversion_date_column_a_mapping_names_are_read(tmp_path, state):
    """A mapping that reads `converted_at` (Salesforce's "Converted Date") reads a file of new
    leads that has neither that column nor the label (as `forecast score` does), and a later
    file without the date column keeps the conversion dates stored."""
    labelled = tmp_path / "labelled.csv"
    labelled.write_text(
        "Lead ID,Status,Created,Converted Date,Source\n"
        "A,1,2024-01-02,2024-01-20,Web\nB,0,2024-01-03,,Ads\n"
    )
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "kind: leads\ndataset: sf\ncolumns: {id: Lead ID, converted: Status, "
        "created_at: Created, converted_at: Converted Date}\n"
    )
    new = tmp_path / "new.csv"
    new.write_text("Lead ID,Created,Source\nN1,2024-05-02,Web\n")
    engine = store.get_engine(get_settings())
    import_export(engine, labelled, mapping)
    report = import_export(engine, new, mapping)
    said = " ".join(report.notes)
    assert "no 'Converted Date' column (converted_at)" in said
    again = tmp_path / "again.csv"
    again.write_text("Lead ID,Status,Created,Source\nA,1,2024-01-02,Web\n")
    import_export(engine, again, mapping)
    stored = store.load_leads(engine, "sf").set_index("id")
    assert stored.loc["A", "converted_at"] == pd.Timestamp("2024-01-20")
    assert pd.isna(stored.loc["N1", "converted"])


def test_with_several_lead_datasets_score_says_to_name_one_with_its_own_option(tmp_path, state):
    engine = store.get_engine(get_settings())
    for name in ("east", "west"):
        (tmp_path / f"{name}.csv").write_text("id,converted\na,1\nb,0\n")
        (tmp_path / f"{name}.yaml").write_text(
            f"kind: leads\ndataset: {name}\ncolumns: {{id: id, converted: converted}}\n"
        )
        import_export(engine, tmp_path / f"{name}.csv", tmp_path / f"{name}.yaml")
    out = tmp_path / "scores.parquet"
    done = CliRunner().invoke(app, ["score", "--kind", "leads", "--out", str(out)])
    assert done.exit_code == 2
    said = " ".join(done.output.split())
    assert "name one (--data NAME on the command line" in said


def test_a_dataset_name_that_is_also_a_folder_here_reads_the_stored_dataset(
    tmp_path, state, monkeypatch
):
    engine = store.get_engine(get_settings())
    (tmp_path / "east.csv").write_text("id,converted\na,1\nb,0\n")
    (tmp_path / "east.yaml").write_text(
        "kind: leads\ndataset: east\ncolumns: {id: id, converted: converted}\n"
    )
    import_export(engine, tmp_path / "east.csv", tmp_path / "east.yaml")
    (tmp_path / "east").mkdir()  # a folder named like the dataset, in the working directory
    monkeypatch.chdir(tmp_path)
    from training.data_arg import given_path, stored_wins

    stored_wins.cache_clear()
    assert given_path("east") is None  # the stored dataset
    assert given_path("./east") == Path("./east")  # the folder, named as a path
    assert given_path("east.csv") == Path("east.csv")


def test_batch_scores_write_numbers_in_reasons_as_the_dataset_does(files, tmp_path):
    """A dataset exported with decimal commas reads "2,50" in `forecast score`'s reasons, as the
    API writes them."""
    history, new_file, _ = files
    comma = tmp_path / "comma"
    comma.mkdir()
    for name, path in (("history.csv", history), ("new.csv", new_file)):
        pd.read_csv(path).to_csv(comma / name, sep=";", decimal=",", index=False)
    mapping = comma / "inbound.yaml"
    mapping.write_text(MAPPING + 'csv: {separator: ";", decimal: ","}\n')
    runner = CliRunner()
    for args in (
        ["import", comma / "history.csv", "--mapping", mapping],
        ["train", "leads", "--no-cv"],
    ):
        done = runner.invoke(app, [str(a) for a in args])
        assert done.exit_code == 0, done.output
    out = tmp_path / "scores.parquet"
    args = ["score", "--kind", "leads", "--data", comma / "new.csv", "--mapping", mapping]
    done = runner.invoke(app, [*map(str, args), "--out", str(out), "--reasons", "10"])
    assert done.exit_code == 0, done.output
    scores = pd.read_parquet(out)
    said = [
        r["sentence"]
        for column in ("reasons_for", "reasons_against")
        for reasons in scores[column]
        for r in json.loads(reasons)
    ]
    assert any(re.search(r"\d,\d", s) for s in said), said
    assert not any(re.search(r"\d\.\d", s) for s in said), said


def test_training_says_which_columns_it_does_not_learn_from(files, tmp_path):
    history, _, mapping = files
    frame = pd.read_csv(history)
    frame["Email"] = [f"lead{i}@example.com" for i in range(len(frame))]
    frame["Source System"] = "crm"
    path = tmp_path / "with_email.csv"
    frame.to_csv(path, index=False)
    runner = CliRunner()
    done = runner.invoke(app, ["import", str(path), "--mapping", str(mapping)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["train", "leads", "--no-cv"])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert (
        "not learnt from, identifiers (a different value on nearly every lead, or a name): " in said
    )
    assert "Email" in said.split("not learnt from, identifiers")[1]
    assert "not learnt from, one value only: Source System" in said
    shown = " ".join(runner.invoke(app, ["models", "show", "leads"]).output.split())
    assert "not learnt from, one value only: Source System" in shown


def test_a_new_lead_with_a_blank_creation_date_is_scored_as_undated_not_as_created_now(
    files, tmp_path
):
    """A blank cell is a lead whose creation date is not known: no day or hour of the run's
    clock is given as its reason, and its notes say the date was blank."""
    history, new_file, mapping = files
    new = pd.read_csv(new_file)
    new.loc[0, "created_at"] = None
    new.to_csv(new_file, index=False)
    runner = CliRunner()
    for args in (["import", history, "--mapping", mapping], ["train", "leads", "--no-cv"]):
        done = runner.invoke(app, [str(a) for a in args])
        assert done.exit_code == 0, done.output
    out = tmp_path / "scores.parquet"
    args = ["score", "--kind", "leads", "--data", new_file, "--mapping", mapping, "--out", out]
    done = runner.invoke(app, [*map(str, args), "--reasons", "20"])
    assert done.exit_code == 0, done.output
    scores = pd.read_parquet(out).set_index("id")
    [said] = json.loads(scores.loc["N0", "notes"])
    assert said.startswith("'created_at' is blank: the lead was scored as undated (")
    reasons = json.loads(scores.loc["N0", "reasons_for"]) + json.loads(
        scores.loc["N0", "reasons_against"]
    )
    dated = [r for r in reasons if r["field"].startswith(("Day of the week", "Hour created"))]
    assert dated and all(r["value"] is None for r in dated)
    assert all("is blank" not in n for n in scores.loc["N1":, "notes"])
