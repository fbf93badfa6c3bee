"""`owner`, the data's and the mappings' name for a rep's field, groups as `rep` does in the
library calls the command line and the API share (`forecast.groups`), and is said as `rep`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from forecast import waterfall
from forecast.data.generator import generate_pipeline, write_export
from forecast.data.importing import import_export
from forecast.groups import canonical_group
from forecast.history import DealHistory, load_deal_history
from forecast.kpis import compute_kpis


@pytest.fixture
def history(sqlite_engine: Engine, tmp_path: Path) -> DealHistory:
    write_export(generate_pipeline(120, seed=5), tmp_path)
    import_export(sqlite_engine, tmp_path, dataset="pipeline")
    return load_deal_history(sqlite_engine, "pipeline")


def test_owner_is_another_name_for_rep_and_other_names_pass_through_unchanged():
    assert canonical_group("owner") == "rep"
    assert [canonical_group(g) for g in ("rep", "team", None, "nobody")] == [
        "rep",
        "team",
        None,
        "nobody",
    ]


def test_the_kpis_by_owner_are_the_kpis_by_rep(history: DealHistory):
    by_owner, by_rep = compute_kpis(history, by="owner"), compute_kpis(history, by="rep")
    assert by_owner.by == "rep" and by_owner.to_dict() == by_rep.to_dict()
    owners = set(history.deals["owner"].dropna().astype(str))
    assert {g["group"] for g in by_owner.to_dict()["groups"]} == owners and len(owners) > 1


def test_the_pipeline_waterfall_by_owner_is_the_one_by_rep(history: DealHistory):
    end = history.end.normalize()
    start = end - pd.Timedelta(days=60)
    by_owner = waterfall.pipeline_waterfall(history, start, end, by="owner").to_dict()
    assert by_owner == waterfall.pipeline_waterfall(history, start, end, by="rep").to_dict()
    assert by_owner["by"] == "rep"


def test_the_api_and_the_command_line_take_every_group_and_alias_and_nothing_else():
    from typing import get_args

    from forecast.groups import GROUP_ALIASES, GROUP_COLUMNS, GroupBy, GroupName

    names = set(GROUP_COLUMNS) | set(GROUP_ALIASES)
    assert set(get_args(GroupName)) == names == {g.value for g in GroupBy}
