"""`forecast score` on a file says what of the model's inputs it did not get: a column the
model learnt from that the file lacks, or leaves blank in every row, is named in the summary
(every lead is scored as if it were blank); a file with none of the model's inputs is refused,
not graded; and a number column's word read as blank is said, as `forecast import` says it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.data.generator import generate_leads, write_leads
from forecast.settings import get_settings
from tests.training.conftest import parsed
from training.cli import app

MAPPING = """kind: leads
dataset: inbound
columns: {id: id, converted: converted, created_at: created_at}
leak_columns: [Tags]
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A store with a lead model trained on a generated history, and its mapping."""
    root = tmp_path_factory.mktemp("score_inputs")
    patch = pytest.MonkeyPatch()
    patch.setenv("FORECAST_STATE_DIR", str(root / "state"))
    patch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    history = write_leads(generate_leads(400, seed=3), root / "history.csv")
    mapping = root / "inbound.yaml"
    mapping.write_text(MAPPING)
    runner = CliRunner()
    for args in (["import", history, "--mapping", mapping], ["train", "leads", "--no-cv"]):
        done = runner.invoke(app, [str(a) for a in args])
        assert done.exit_code == 0, done.output
    yield root, mapping
    get_settings.cache_clear()
    patch.undo()


def _score(root: Path, mapping: Path, new: object, name: str) -> tuple[int, str, dict | None]:
    path = write_leads(new, root / f"{name}.csv")  # type: ignore[arg-type]
    args = ["score", "--kind", "leads", "--data", path, "--mapping", mapping]
    done = CliRunner().invoke(app, [*map(str, args), "--out", str(root / f"{name}.parquet")])
    as_json = CliRunner().invoke(
        app, [*map(str, args), "--out", str(root / f"{name}.parquet"), "--json"]
    )
    return done.exit_code, done.output, parsed(as_json) if done.exit_code == 0 else None


def new_leads() -> object:
    new = generate_leads(30, seed=9).drop(columns=["converted"])
    new["id"] = [f"N{i}" for i in range(30)]
    return new


def test_a_file_without_one_of_the_models_inputs_is_scored_and_the_summary_names_it(trained):
    root, mapping = trained
    new = new_leads().drop(columns=["Lead Source"])  # type: ignore[attr-defined]
    new["Specialization"] = None
    code, _, summary = _score(root, mapping, new, "missing")
    assert code == 0 and summary is not None and summary["rows"] == 30
    assert summary["reading_seconds"] > 0  # said apart from the scoring's rows/s
    [note] = [n for n in summary["notes"] if "inputs not given" in n]
    assert "'Lead Source'" in note and "'Specialization'" in note
    assert note.startswith("2 of the model's")
    # Beside them, the file's columns the model does not read: here only the leak it was told
    # to leave out (the id and creation date are read, not as inputs).
    [unread] = [n for n in summary["notes"] if "the model does not read" in n]
    assert unread.startswith("1 column of the leads the model does not read") and "'Tags'" in unread


def test_a_misspelt_input_is_named_beside_the_columns_the_model_does_not_read(trained):
    """'Lead Sorce' for 'Lead Source': the input is not given, and the file's column the model
    does not read is named beside it, so the misspelling shows."""
    root, mapping = trained
    new = new_leads().rename(columns={"Lead Source": "Lead Sorce"})  # type: ignore[attr-defined]
    code, output, summary = _score(root, mapping, new, "misspelt")
    assert code == 0 and summary is not None
    assert any("inputs not given" in n and "'Lead Source'" in n for n in summary["notes"])
    [unread] = [n for n in summary["notes"] if "the model does not read" in n]
    assert "'Lead Sorce'" in unread and "'id'" not in unread and "'created_at'" not in unread
    assert "'Lead Sorce'" in " ".join(output.split())  # the text summary says it too


def test_a_file_with_none_of_the_models_inputs_is_refused_not_graded(trained):
    root, mapping = trained
    new = new_leads()[["id", "created_at"]]  # type: ignore[index]
    new["created_at"] = None  # the mapping's one column, given blank: nothing to score by
    new["Comment"] = "call back"  # a column the model never learnt from
    code, output, _ = _score(root, mapping, new, "only_id")
    assert code == 2, output
    said = " ".join(output.split())
    assert "none of the" in said and "is it an export of the data the model learnt from?" in said
    assert not (root / "only_id.parquet").exists()


def test_a_word_in_a_number_column_read_as_blank_is_said_in_the_summary(trained):
    root, mapping = trained
    new = new_leads()
    new["TotalVisits"] = new["TotalVisits"].astype(object)  # type: ignore[index]
    new.loc[0, "TotalVisits"] = "many"  # type: ignore[attr-defined]
    code, _, summary = _score(root, mapping, new, "word")
    assert code == 0 and summary is not None
    assert any("TotalVisits" in n and "'many'" in n and "as blank" in n for n in summary["notes"])


def test_a_header_naming_a_column_twice_is_said_and_the_first_read(trained):
    """A column renamed by mistake to another's name: the copy is said, the first of the two
    read, and the input whose column was lost is named as not given."""
    root, mapping = trained
    new = new_leads()
    new.columns = ["Lead Source" if c == "TotalVisits" else c for c in new.columns]  # type: ignore[attr-defined]
    code, _, summary = _score(root, mapping, new, "twice")
    assert code == 0 and summary is not None
    assert any(
        "the header names a column more than once: 'Lead Source' 2 times (columns" in n
        and "the first of each is read, the others left out" in n
        for n in summary["notes"]
    )
    assert any("inputs not given" in n and "'TotalVisits'" in n for n in summary["notes"])


def test_a_dataset_whose_model_was_not_promoted_is_told_which_version_and_where_why(
    monkeypatch: pytest.MonkeyPatch,
):
    from forecast import batch_scoring

    rows = [
        {
            "kind": "deals",
            "dataset": "pipeline",
            "name": "close-probability.pipeline",
            "version": "2",
        },
        {"kind": "deals", "dataset": "other", "name": "close-probability.other", "version": "1"},
    ]
    monkeypatch.setattr(batch_scoring.registry, "list_models", lambda settings: rows)
    monkeypatch.setattr(batch_scoring, "store_missing", lambda settings: False)
    said = batch_scoring._no_champion("deals", "pipeline", get_settings())
    assert said == (
        "no deals model is champion for dataset 'pipeline': v2 was trained but not promoted "
        "(why: `forecast models show deals --dataset pipeline --version 2`)"
    )
    assert "run `forecast train deals`" in batch_scoring._no_champion(
        "deals", "new", get_settings()
    )


def test_a_file_is_scored_as_the_dataset_named_by_dataset_in_place_of_its_mappings(trained):
    """A file read with a mapping of another name is scored by the named dataset's champion,
    under its name, as `forecast import --dataset` would store it."""
    root, mapping = trained
    other = root / "other.yaml"
    other.write_text(MAPPING.replace("dataset: inbound", "dataset: other"))
    path = write_leads(new_leads(), root / "as_inbound.csv")  # type: ignore[arg-type]
    args = ["score", "--kind", "leads", "--data", str(path), "--mapping", str(other)]
    out = ["--out", str(root / "as_inbound.parquet"), "--json"]
    summary = parsed(CliRunner().invoke(app, [*args, "--dataset", "inbound", *out]))
    assert summary["dataset"] == "inbound" and summary["method"] == "model"
    refused = CliRunner().invoke(
        app, ["score", "--kind", "leads", "--data", "inbound", "--dataset", "x", *out]
    )
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "--data 'inbound' and --dataset 'x' name two stored datasets: give one" in said


def test_dataset_alone_names_the_stored_dataset_to_score_as_on_the_other_commands(trained):
    """`forecast score --dataset NAME` scores the stored dataset NAME, as `--data NAME` does
    (the README's synopsis, and `forecast kpis --dataset NAME`), instead of being refused."""
    import pandas as pd

    root, _ = trained
    runs = {}
    for option in ("--dataset", "--data"):
        out = root / f"stored_by{option.replace('-', '_')}.parquet"
        args = ["score", "--kind", "leads", option, "inbound", "--out", str(out), "--json"]
        runs[option] = (parsed(CliRunner().invoke(app, args)), pd.read_parquet(out))
    (by_dataset, rows), (by_data, expected) = runs["--dataset"], runs["--data"]
    assert by_dataset["dataset"] == "inbound" and by_dataset["rows"] == 400
    assert by_dataset["method"] == by_data["method"] == "model"
    pd.testing.assert_frame_equal(rows, expected)


def test_an_input_spelt_otherwise_is_read_under_its_name_as_the_api_reads_it(trained):
    """'lead source' and 'total_visits' for 'Lead Source' and 'TotalVisits': read as the inputs
    (the API reads a lead's fields so), said in the summary, and the scores those of the file
    with the model's own names."""
    import pandas as pd

    root, mapping = trained
    new = new_leads()
    code, _, own = _score(root, mapping, new, "own_names")
    assert code == 0 and own is not None
    spelt = new.rename(columns={"Lead Source": "lead source", "TotalVisits": "total_visits"})  # type: ignore[attr-defined]
    code, _, summary = _score(root, mapping, spelt, "spelt")
    assert code == 0 and summary is not None
    assert (
        "columns read as the model's inputs spelt otherwise: 'lead source' as 'Lead Source', "
        "'total_visits' as 'TotalVisits'" in summary["notes"]
    )
    assert not any("inputs not given" in n for n in summary["notes"])
    scored = pd.read_parquet(root / "spelt.parquet")
    expected = pd.read_parquet(root / "own_names.parquet")
    assert scored["score"].tolist() == expected["score"].tolist()
    for column in ("probability", "reasons_for", "reasons_against", "notes"):
        assert scored[column].tolist() == expected[column].tolist(), column


def test_training_on_a_file_without_outcomes_names_the_files_outcome_column(trained, tmp_path):
    """A lead file whose mapping names 'Became Customer' as the outcome, without that column:
    refused naming it, not the canonical 'converted' the user never wrote."""
    root, _ = trained
    new = new_leads()
    path = write_leads(new, tmp_path / "no_outcome.csv")  # type: ignore[arg-type]
    mapping = tmp_path / "acme.yaml"
    mapping.write_text(
        "kind: leads\ndataset: acme\n"
        "columns: {id: id, converted: Became Customer, created_at: created_at}\n"
    )
    done = CliRunner().invoke(
        app, ["train", "leads", "--data", str(path), "--mapping", str(mapping), "--no-cv"]
    )
    assert done.exit_code == 2, done.output
    said = " ".join(done.output.split())
    assert "no lead has a value in 'Became Customer' (converted), 0 or 1" in said
    assert "Traceback" not in done.output
