"""`--by owner`: the mapping and the data call a rep's field `owner`, so the commands that group
by rep take that name too, and answer as they do to `--by rep` (the group is said as `rep`)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.training.conftest import Cli, fails_cleanly, parsed


def test_kpis_by_owner_are_the_kpis_by_rep(imported: Cli):
    by_owner = parsed(imported("kpis", "--by", "owner", "--json"))
    by_rep = parsed(imported("kpis", "--by", "rep", "--json"))
    assert by_owner == by_rep and by_owner["by"] == "rep"
    assert len(by_owner["groups"]) > 1  # one row per rep, not the total alone
    table = imported("kpis", "--by", "owner")
    assert table.exit_code == 0, table.output
    assert re.search(r"┃ rep +┃", table.stdout)  # the table's group column


@pytest.mark.parametrize("tracked", [False, True], ids=["computed", "tracked"])
def test_revenue_by_owner_is_the_revenue_by_rep(imported: Cli, tracked: bool):
    """Computed from the deals, or read from the forecast `forecast track` kept for `rep`."""
    now = pd.Timestamp(parsed(imported("kpis", "--json"))["data_end"]).normalize()
    now += pd.Timedelta(days=1)  # the forecast's "now": the day after the data ends
    if tracked:
        assert parsed(imported("track", "--json"))["tracked"][0]["as_of"] == str(now.date())
    args = ("revenue", "--period", f"{now.year}-Q{now.quarter}", "--json")
    by_owner = parsed(imported(*args, "--by", "owner"))
    by_rep = parsed(imported(*args, "--by", "rep"))
    assert by_owner["by"] == "rep" and len(by_owner["groups"]) > 1
    assert bool(by_owner.get("stored")) == tracked
    assert by_owner == by_rep


def test_an_unknown_group_still_names_the_groups_taken(imported: Cli):
    fails_cleanly(imported("kpis", "--by", "seller"), 2, "owner")
