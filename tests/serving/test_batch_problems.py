"""A pushed batch with several problems is answered with all of them in one 422, each with its
field's path and what was wrong: a field the schema requires missing in one deal and an unknown
stage in another (the schema's 422 hid the stage until the first was fixed), or bad values in
several deals (the push stopped at the first). Nothing is written."""

from __future__ import annotations

from forecast.data import store
from tests.serving.test_sync import STATE, crm, scorer, settings  # noqa: F401


def _errors(response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(e["field"], e["problem"]) for e in response.json()["errors"]]


def test_a_missing_field_and_an_unknown_stage_in_two_deals_are_both_said(
    scorer,  # noqa: F811
    settings,  # noqa: F811
):
    no_stage = {k: v for k, v in STATE.items() if k != "stage"}
    batch = [{"id": "A", **no_stage}, {"id": "B", **STATE, "stage": "Bogus"}]
    said = _errors(scorer.post("/v1/opportunities/batch", json={"opportunities": batch}))
    assert [field for field, _ in said] == [
        "body.opportunities.0.stage",
        "body.opportunities.1.stage",
    ]
    assert said[0][1] == "Field required"
    assert said[1][1].startswith("unknown stage 'Bogus'; the dataset's stages are Prospecting")
    ids = store.load_opportunities(store.get_engine(settings), "crm")["id"].tolist()
    assert ids == ["D1"]  # nothing written


def test_bad_values_in_several_deals_are_each_said_with_its_path(scorer):  # noqa: F811
    batch = [
        {"id": "A", **STATE, "stage": "Bogus"},
        {"id": "B", **STATE},
        {"id": "C", **STATE, "stage": "Won", "closed_at": "2024-03-05T00:00:00Z",
         "updated_at": "2024-03-06T00:00:00Z", "created_at": None},
    ]  # fmt: skip
    said = _errors(scorer.post("/v1/opportunities/batch", json={"opportunities": batch}))
    fields = [field for field, _ in said]
    assert fields == ["body.opportunities.0.stage", "body.opportunities.2.created_at"]
    assert "required for a deal the store does not hold yet ('C')" in said[1][1]


def test_one_problem_keeps_its_own_answer(scorer):  # noqa: F811
    batch = [{"id": "A", **STATE, "stage": "Bogus"}, {"id": "B", **STATE}]
    response = scorer.post("/v1/opportunities/batch", json={"opportunities": batch})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("opportunities[0].stage: unknown stage 'Bogus'")
