"""What a CRM pushes is what managers read back: a push shows in the KPIs the way the deal
now stands, whatever it went through on the way (a won deal reopened is an open deal)."""

from __future__ import annotations

import pytest

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
