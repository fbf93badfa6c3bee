"""What a CRM pushes is what managers read back: a push shows in the KPIs the way the deal
now stands, whatever it went through on the way (a won deal reopened is an open deal)."""

from __future__ import annotations

import pytest

from tests.serving.conftest import auth
from tests.serving.test_sync import STATE, crm, scorer, settings, stages_of  # noqa: F401


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


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            '{"stage": "Closing", "updated_at": "2024-03-12T00:00:00Z",}',
            "Expecting property name enclosed in double quotes at line 1, column 59",
        ),
        ("{'stage': 'Closing'}", "Expecting property name enclosed in double quotes"),
        ('{"stage": "Closing",\n "amount": 10', "Expecting ',' delimiter at line 2, column 14"),
    ],
)
def test_a_body_that_is_not_json_is_422_saying_what_the_parser_found_and_where(
    scorer,  # noqa: F811
    body,
    said,
):
    """A CRM's hand-built JSON with a trailing comma, single quotes or cut short is told what is
    wrong and at which line and column, not only 'JSON decode error' at 'body.58'."""
    response = scorer.put(
        "/v1/opportunities/D1",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body" and error["type"] == "json_invalid"
    assert error["problem"].startswith("the body is not valid JSON: ")
    assert said in error["problem"]


def test_a_won_deals_close_and_history_do_not_depend_on_which_push_came_first(
    scorer,  # noqa: F811
    settings,  # noqa: F811
):
    """Won on 4 March; on 23 March the CRM sends the won deal again (an edit, no close date)
    and, at the same instant, the deal in Presentation. The same three pushes in another order
    gave another close (4 March one way, 23 March the other) and, in time order, a stage
    history ending in Presentation beside a stored Won."""
    won = {**STATE, "stage": "Won", "updated_at": "2024-03-04T00:00:00Z"}
    edit = {**STATE, "stage": "Won", "updated_at": "2024-03-23T00:00:00Z"}
    seen = {**STATE, "stage": "Presentation", "updated_at": "2024-03-23T00:00:00Z"}
    for deal, pushes in (("W1", (won, edit, seen)), ("W2", (won, seen, edit))):
        for body in pushes:
            pushed = scorer.put(f"/v1/opportunities/{deal}", json=body)
            assert pushed.status_code == 200, pushed.text
    stored = [scorer.get(f"/v1/opportunities/{d}").json() for d in ("W1", "W2")]
    assert [(s["stage"], s["closed_at"]) for s in stored] == [("Won", "2024-03-23T00:00:00Z")] * 2
    assert stages_of(settings, "W1") == stages_of(settings, "W2")
    assert stages_of(settings, "W1")[-1] == "Won"


def test_the_at_risk_list_of_a_misspelt_team_suggests_the_team_as_the_forecast_does(
    scorer,  # noqa: F811
    api_keys,
):
    """A manager asking for the deals at risk of 'east' (the team a CRM pushed as East) gets
    the 404 with the likely name, as GET /v1/forecast gives it, not only 'no deals for team'."""
    for deal, stage in (("D2", "Qualification"), ("W", "Won"), ("L", "Lost")):
        pushed = scorer.put(f"/v1/opportunities/{deal}", json={**STATE, "stage": stage})
        assert pushed.status_code == 200, pushed.text
    response = scorer.get(
        "/v1/deals/at-risk",
        params={"dataset": "crm", "team": "east"},
        headers=auth(api_keys["viewer"]),
    )
    assert response.status_code == 404, response.text
    assert response.json()["detail"].endswith("did you mean 'East'?")
