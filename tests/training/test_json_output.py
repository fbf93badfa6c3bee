"""`--json` prints exactly one JSON document on stdout, on success and on failure alike: a script
reads `ok` and `errors` instead of scraping stderr, and the exit code still says it failed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import Result

from tests.training.conftest import Cli, parsed


def failed_json(result: Result, code: int) -> dict[str, Any]:
    """The one JSON document a failed command printed on stdout (no traceback, exit `code`)."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    doc = json.loads(result.stdout)  # one document, nothing else on stdout
    assert doc["ok"] is False and doc["errors"], doc
    return doc


def test_a_rejected_import_prints_its_problems_as_json_and_exits_2(
    cli: Cli, export: Path, tmp_path: Path
):
    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    frame = pd.read_csv(bad / "opportunities.csv", dtype=str, keep_default_na=False)
    frame.loc[2, "amount"] = "lots"  # line 4 of the file
    frame.to_csv(bad / "opportunities.csv", index=False)

    result = cli("import", bad, "--json")
    doc = failed_json(result, 2)
    assert doc["errors"] == [
        {
            "field": "amount",
            "problem": "not a number",
            "file": str(bad / "opportunities.csv"),
            "row": 4,
            "value": "lots",
        }
    ]
    assert "import rejected" in doc["error"]
    assert (doc["rows_read"], doc["bad_rows"], doc["written"]) == (60, 1, False)
    assert "import rejected" in result.stderr  # the readable report goes to stderr


def test_a_successful_import_says_ok_with_no_errors(cli: Cli, export: Path):
    doc = parsed(cli("import", export, "--json"))
    assert (doc["ok"], doc["errors"], doc["rows_written"]) == (True, [], 60)


@pytest.mark.parametrize(
    "args, field, said",
    [
        (["import", "x.csv", "--on-error", "bogus", "--json"], "--on-error", "bogus"),
        (["kpis", "--json", "--no-such-flag"], "--no-such-flag", "--no-such-flag"),
        (["snapshot", "--json"], "--as-of", "--as-of"),
        (["models", "show", "nonsense", "--json"], "kind", "nonsense"),
        (["targets", "list", "--json", "--level"], "--level", "--level"),
    ],
)
def test_a_bad_argument_with_json_is_one_json_error_and_exit_2(
    cli: Cli, args: list[str], field: str | None, said: str
):
    result = cli(*args)
    doc = failed_json(result, 2)
    [error] = doc["errors"]
    assert error["field"] == field and said in error["problem"], doc
    assert said in result.stderr  # click's own message is still printed for people


def test_a_library_error_with_json_is_one_json_error(cli: Cli, export: Path, tmp_path: Path):
    missing = failed_json(cli("import", tmp_path / "nowhere.csv", "--json"), 2)
    assert "no such file or folder" in missing["error"]
    assert missing["error_type"] == "InvalidInput"
    period = failed_json(cli("revenue", "--period", "2023-Q7", "--data", export, "--json"), 2)
    assert "2023-Q7" in period["error"] and period["error_type"] == "UnknownPeriod"
    targets = tmp_path / "targets.csv"
    targets.write_text("level,name,period,amount\nteam,East,2024-Q9,1\n")
    nothing = failed_json(cli("targets", "import", targets, "--json"), 1)  # empty store
    assert nothing["error_type"] == "NotFound"


def test_even_an_unexpected_error_leaves_one_json_document(
    cli: Cli, export: Path, monkeypatch: pytest.MonkeyPatch
):
    import forecast.data.importing

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(forecast.data.importing, "import_export", broken)
    result = cli("import", export, "--json")
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["error_type"] == "RuntimeError"
    assert "disk on fire" in doc["errors"][0]["problem"]


def test_without_json_errors_stay_off_stdout(cli: Cli):
    result = cli("import", "x.csv", "--on-error", "bogus")
    assert result.exit_code == 2 and result.stdout == ""
