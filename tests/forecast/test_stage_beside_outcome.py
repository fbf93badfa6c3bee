"""An export whose outcome is a status column keeps the stage each closed deal was won or lost
in (Pipedrive's "Stage" beside "Status"): the import reads it, so the funnel knows where each
loss fell. When the deal entered that stage the export does not say: the entry is dated at the
close, a stay of no time, and before it the deal stands in the first stage."""

from __future__ import annotations

import pandas as pd

from forecast.data.importing import import_export
from forecast.history import load_deal_history
from forecast.kpis import compute_kpis

EXPORT = """\
Deal - ID,Deal - Value,Deal - Status,Deal - Stage,Deal - Created,Deal - Won time,Deal - Lost time
1,1000,won,Negotiations Started,2024-01-02 10:00:00,2024-02-01 10:00:00,
2,2000,lost,Qualified,2024-01-03 10:00:00,,2024-01-20 10:00:00
3,1500,,Contact Made,2024-01-04 10:00:00,,
4,1200,lost,Proposal Made,2024-01-05 10:00:00,,2024-02-20 10:00:00
5,900,,Qualified,2024-01-06 10:00:00,,
6,3000,won,Proposal Made,2024-01-07 10:00:00,2024-03-01 10:00:00,
"""
MAPPING = """\
kind: opportunities
dataset: deals
columns:
  id: Deal - ID
  stage: {first_of: [Deal - Status, Deal - Stage]}
  amount: Deal - Value
  created_at: Deal - Created
  closed_at: {first_of: [Deal - Won time, Deal - Lost time]}
stages:
  open: [Qualified, Contact Made, Proposal Made, Negotiations Started]
  won: won
  lost: lost
"""


def _imported(tmp_path, engine):
    (tmp_path / "deals.csv").write_text(EXPORT)
    (tmp_path / "deals.yaml").write_text(MAPPING)
    report = import_export(engine, tmp_path / "deals.csv", tmp_path / "deals.yaml")
    return report, load_deal_history(engine, "deals", check_leaks=False)


def test_the_funnel_places_each_loss_at_the_stage_the_export_shows(tmp_path, engine):
    report, history = _imported(tmp_path, engine)
    assert any("won or lost in is read from the stage column" in n for n in report.notes)
    kpis = compute_kpis(history)
    funnel = {f["stage"]: f for f in kpis.overall["funnel"]}
    # Lost at Qualified (2) and at Proposal Made (4); won from Negotiations (1) and Proposal (6).
    assert [funnel[s]["reached"] for s in funnel] == [6, 4, 3, 2]
    assert not any(f["estimated"] for f in funnel.values())
    assert not any("lost deals" in n for n in kpis.notes)


def test_the_stage_a_deal_closed_in_gives_no_time_in_stage_and_no_earlier_stage(tmp_path, engine):
    _, history = _imported(tmp_path, engine)
    before = history.as_of(pd.Timestamp("2024-01-15")).set_index("id")["stage"]
    assert before.loc["4"] == "Qualified"  # lost in Proposal Made on 2024-02-20: not known then
    times = {t["stage"]: t for t in compute_kpis(history).overall["time_in_stage"]}
    assert times["Proposal Made"]["completed_stays"] == 0
    assert times["Negotiations Started"]["completed_stays"] == 0
