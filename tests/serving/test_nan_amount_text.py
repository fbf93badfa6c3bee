"""A number field sent as "NaN" or "Infinity" (text, or JSON's non-standard NaN token, which a
spreadsheet-fed CRM writes for an empty formula) is refused saying it must be a finite number:
an amount of "NaN" was refused as 'Input should be greater than or equal to 0', which sends the
CRM's developer looking for a negative amount that is not there."""

from __future__ import annotations

import json

import pytest

from tests.serving.test_crm_input_walkthrough import problems
from tests.serving.test_sync import STATE, crm, scorer, settings  # noqa: F401


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-inf"])
@pytest.mark.parametrize("field", ["amount", "rep_probability", "csat"])
def test_a_not_finite_number_as_text_is_422_saying_finite(scorer, field, value):  # noqa: F811
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, field: value}))
    said = found[f"body.{field}"]
    assert "finite number" in said and repr(value) in said, said


def test_a_json_nan_token_is_422_saying_finite(scorer):  # noqa: F811
    fields = json.dumps({"stage": STATE["stage"], "created_at": STATE["created_at"]})
    body = fields[:-1] + ', "amount": NaN}'
    response = scorer.put(
        "/v1/opportunities/D1", content=body, headers={"Content-Type": "application/json"}
    )
    said = problems(response)["body.amount"]
    assert "finite number" in said, said
