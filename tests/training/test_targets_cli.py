"""`forecast targets`: set one, import a file, list them; a bad file is refused whole, each bad
row named by its line, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.training.conftest import Cli, fails_cleanly, parsed


def listed(cli: Cli, *options: str) -> list[tuple]:
    data = parsed(cli("targets", "list", "--json", *options))
    assert data["dataset"] == "pipeline"
    return [(t["period"], t["level"], t["name"], t["amount"]) for t in data["targets"]]


def test_targets_set_and_imported_are_listed_by_period(
    imported: Cli, deals: pd.DataFrame, tmp_path: Path
):
    team, rep = sorted(deals["team"].unique())[0], sorted(deals["owner"].unique())[0]
    file = tmp_path / "targets.csv"
    file.write_text(
        f"level,name,period,amount\nteam,{team},2024-Q3,250000\nall,total,2024-Q3,900000\n"
    )
    result = imported("targets", "import", file)
    assert result.exit_code == 0, result.output
    assert "pipeline: 2 new, 0 changed, 0 unchanged target(s)" in result.stdout

    one = imported(
        "targets",
        "set",
        "--level",
        "rep",
        "--name",
        rep,
        "--period",
        "2024-07",
        "--amount",
        "40000",
    )
    assert one.exit_code == 0, one.output
    assert f"pipeline: rep '{rep}' 2024-07: 40,000 USD (new)" in one.stdout
    again = imported(
        "targets",
        "set",
        "--level",
        "rep",
        "--name",
        rep,
        "--period",
        "2024-07",
        "--amount",
        "45000",
    )
    assert "45,000 USD (changed)" in again.stdout

    assert listed(imported) == [
        ("2024-07", "rep", rep, 45000.0),
        ("2024-Q3", "all", "total", 900000.0),
        ("2024-Q3", "team", team, 250000.0),
    ]
    assert listed(imported, "--period", "2024-Q3", "--level", "team") == [
        ("2024-Q3", "team", team, 250000.0)
    ]
    table = imported("targets", "list").stdout
    assert "Targets (pipeline)" in table and "900,000" in table and team in table
    reimported = parsed(imported("targets", "import", file, "--json"))
    assert (reimported["inserted"], reimported["changed"], reimported["unchanged"]) == (0, 0, 2)


def test_a_bad_targets_file_names_each_bad_line_and_writes_nothing(
    imported: Cli, deals: pd.DataFrame, tmp_path: Path
):
    team = sorted(deals["team"].unique())[0]
    file = tmp_path / "targets.csv"
    file.write_text(
        f"level,name,period,amount\nteam,{team},2024-Q3,1\n"
        f"team,{team}x,2024-Q3,1\nall,total,2024-Q9,5\n"
    )
    result = imported("targets", "import", file)
    fails_cleanly(
        result,
        2,
        "2 problem(s) in the targets; nothing was written",
        f"{file}:3: unknown team '{team}x'",
        f"did you mean '{team}'",
        f"{file}:4: unknown period '2024-Q9'",
    )
    assert listed(imported) == []


def test_a_targets_file_without_a_needed_column_says_which(imported: Cli, tmp_path: Path):
    file = tmp_path / "targets.csv"
    file.write_text("level,name,amount\nall,total,1\n")
    fails_cleanly(imported("targets", "import", file), 2, "missing column(s) ['period']")


def test_a_target_for_a_team_the_deals_do_not_have_is_refused(imported: Cli):
    result = imported(
        "targets",
        "set",
        "--level",
        "team",
        "--name",
        "Team Nobody",
        "--period",
        "2024-07",
        "--amount",
        "1",
    )
    fails_cleanly(result, 2, "unknown team 'Team Nobody'", "nothing was written")


def test_a_target_amount_the_api_refuses_is_refused_by_every_command(imported: Cli):
    """`targets set --amount`, and `revenue --target`, bound amounts as PUT /v1/targets does:
    finite, 0 to 1e15 (before: 1e20 was stored and 1e300 forecast against)."""
    for amount in ("1e20", "inf", "-1"):
        result = imported(
            "targets", "set", "--level", "all", "--period", "2024-07", "--amount", amount
        )
        fails_cleanly(result, 2, "nothing was written", "amount")
    assert listed(imported) == []
    fails_cleanly(
        imported("revenue", "--period", "2024-Q3", "--target", "1e300"),
        2,
        "--target '1e300': amount '1e300' is not finite or beyond 1e+15",
    )


def test_targets_before_any_import_say_to_import_first(cli: Cli):
    fails_cleanly(cli("targets", "list"), 1, "run `forecast import` first")
