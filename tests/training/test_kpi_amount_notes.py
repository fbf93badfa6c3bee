"""`forecast kpis` on a CRM export where some won deals have a blank amount: the manager is told
how many, beside the tables and in the JSON, since won revenue and the average sale value leave
them out while the win rate counts them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.training.conftest import Cli, parsed


def test_kpis_say_how_many_won_deals_of_the_export_have_no_amount(
    cli: Cli, export: Path, tmp_path: Path
):
    folder = tmp_path / "blank_amounts"
    shutil.copytree(export, folder)
    deals = pd.read_csv(folder / "opportunities.csv")
    won = deals.index[deals["stage"] == "Won"]
    deals.loc[won[:3], "amount"] = None
    deals.to_csv(folder / "opportunities.csv", index=False)
    assert cli("import", folder).exit_code == 0

    said = f"3 of the {len(won)} won deals have no amount"
    result = cli("kpis")
    assert result.exit_code == 0, result.output
    assert said in " ".join(result.stderr.split())
    data = parsed(cli("kpis", "--json"))
    assert data["overall"]["won"] == len(won) and data["overall"]["won_without_amount"] == 3
    recorded = deals.loc[won[3:], "amount"]
    assert data["overall"]["won_revenue"] == pytest.approx(recorded.sum())
    assert [n for n in data["notes"] if said in n] == [
        f"{said}: they count in the win rate and the deal counts, not in won revenue or the "
        "average sale value"
    ]
