"""A deal's date sent in a CRM's display form ("11/2/2017", "2017-11-02 10:22 AM") is refused
naming the forms the API reads and showing the text sent, as `forecast` refuses a date option
(a date is never guessed: 11/2 is 2 November or 11 February). The 422 said only 'Input should
be a valid datetime or date, input is too short', which names no form to send instead."""

from __future__ import annotations

import pytest

from tests.serving.test_crm_input_walkthrough import problems
from tests.serving.test_sync import STATE, crm, scorer, settings  # noqa: F401


@pytest.mark.parametrize("value", ["11/2/2017", "02.11.2017", "Nov 2, 2017"])
def test_a_date_in_another_form_is_422_naming_the_iso_form(scorer, value):  # noqa: F811
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, "created_at": value}))
    said = found["body.created_at"]
    assert "YYYY-MM-DD" in said and repr(value) in said, said


def test_a_scored_deal_date_in_another_form_names_the_iso_form(scorer):  # noqa: F811
    body = {"id": "d1", "stage": STATE["stage"], "created_at": "11/2/2017"}
    said = problems(scorer.post("/v1/deals/score", json=body))["body.created_at"]
    assert "YYYY-MM-DD" in said and "'11/2/2017'" in said, said


def test_an_iso_date_and_date_time_still_read(scorer):  # noqa: F811
    for value in ("2024-03-01", "2024-03-01T10:22:00Z", "2024-03-01T10:22:00+01:00"):
        response = scorer.put("/v1/opportunities/D1", json={**STATE, "created_at": value})
        assert response.status_code == 200, response.text


def test_an_iso_date_that_is_no_day_keeps_its_own_reason(scorer):  # noqa: F811
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, "created_at": "2024-02-30"}))
    assert "YYYY-MM-DD" not in found["body.created_at"]
