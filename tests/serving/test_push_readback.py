"""What a CRM pushes is what managers read back: a push shows in the KPIs the way the deal
now stands, whatever it went through on the way (a won deal reopened is an open deal)."""

from __future__ import annotations

from tests.serving.conftest import auth
from tests.serving.test_sync import STATE, crm, scorer, settings  # noqa: F401


def test_a_won_deal_reopened_by_the_crm_is_open_in_the_kpi_funnel_not_won(
    scorer,  # noqa: F811
    api_keys,
):
    """A deal pushed Won and then back to an open stage (the CRM reopened it) is one open deal
    in Closing everywhere: the funnel's last step (`won_of_created`) counts the won deals only,
    and the deal is still in its stage there, as the open pipeline has it."""
    won = {**STATE, "stage": "Won", "updated_at": "2024-03-10T09:00:00Z"}
    reopened = {**STATE, "stage": "Closing", "updated_at": "2024-03-12T09:00:00Z"}
    for body in (won, reopened):
        pushed = scorer.put("/v1/opportunities/D1", json=body)
        assert pushed.status_code == 200, pushed.text
    kpis = scorer.get("/v1/kpis?dataset=crm", headers=auth(api_keys["viewer"])).json()
    overall = kpis["overall"]
    assert (overall["won"], overall["open"]) == (0, 1)
    assert overall["won_of_created"] == 0
    still = {s["stage"]: s["still_in_stage"] for s in overall["funnel"]}
    pipeline = {s["stage"]: s["deals"] for s in overall["open_pipeline"]}
    assert still["Closing"] == pipeline["Closing"] == 1
