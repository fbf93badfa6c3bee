"""Input the models or the store cannot take is answered at the edge: a 422 naming the field,
never a 500. Non-finite or huge numbers (Python's json reads `Infinity`, `NaN` and 400-digit
integers), control characters (PostgreSQL rejects NUL in text) and lone surrogates (no UTF-8 text
holds one) are refused; ordinary values, and tabs and newlines in free text, still go through.
KPIs of amounts up to the bound are numbers; a figure that overflows (data past the bound) is an
error naming it, never a null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput
from forecast.formatting import rounded
from forecast.history import DealHistory
from forecast.kpis import compute_kpis
from forecast.settings import Settings
from tests.serving.conftest import auth
from tests.serving.test_scores import DEAL, LEAD, app, scorer_client, trained  # noqa: F401
from tests.serving.test_sync import STATE

HUGE_INT = 10**400
NaN = float("nan")
NOT_FINITE = [float("inf"), float("-inf"), NaN]
NOT_SANE = [*NOT_FINITE, HUGE_INT, 1e308]


def short(value: object) -> str:
    """A value for a failure message: a 400-digit integer by its size."""
    if isinstance(value, int) and abs(value) > 1e300:
        return ("-" if value < 0 else "") + f"10**{len(str(abs(value))) - 1}"
    return repr(value)


@pytest.fixture
def settings(tmp_path: Path, engine: Engine, mlflow_uri: str) -> Settings:  # noqa: F811
    """The app on a fresh store: every test here runs on SQLite and on PostgreSQL."""
    return Settings(
        state_dir=tmp_path / "state",
        database_url=engine.url.render_as_string(hide_password=False),
        max_body_bytes=20_000,
        key_cache_seconds=0,
        mlflow_tracking_uri=mlflow_uri,
    )


@pytest.fixture
def crm_client(client: TestClient, api_keys: dict[str, str], settings: Settings) -> TestClient:
    """A scorer's client on a store holding one open deal, D1, in dataset 'crm'."""
    frame = pd.DataFrame(
        [{**STATE, "id": "D1", "stage": "Prospecting", "updated_at": "2024-03-01"}]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    client.headers.update(auth(api_keys["scorer"]))
    return client


def send(client: TestClient, method: str, url: str, body: object) -> Response:
    """The body as Python's json writes it: `Infinity`, `NaN` and huge integers as they are
    (httpx's own encoder refuses them)."""
    return client.request(
        method, url, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def problems(response: Response) -> dict[str, str]:
    """The 422's bad fields and what is wrong with each."""
    assert response.status_code == 422, response.text
    return {e["field"]: e["problem"] for e in response.json()["errors"]}


# --- lead fields --------------------------------------------------------------------------------


def test_a_lead_field_that_is_not_a_sane_number_is_422_naming_it(scorer_client):  # noqa: F811
    for value in [*NOT_SANE, -HUGE_INT, 10**15 + 1, -1e16]:
        lead = {"id": "L1", "fields": {**LEAD, "TotalVisits": value}}
        one = problems(send(scorer_client, "POST", "/v1/leads/score", lead))
        assert list(one) == ["body.fields.TotalVisits"], short(value)
        assert "finite number between -1e15 and 1e15" in one["body.fields.TotalVisits"]
        batch = send(scorer_client, "POST", "/v1/leads/score/batch", {"leads": [lead]})
        assert list(problems(batch)) == ["body.leads.0.fields.TotalVisits"], short(value)


def test_a_lead_field_of_no_type_a_lead_takes_is_one_422_naming_it(scorer_client):  # noqa: F811
    for value in ([1], {}, {"a": 1}):
        found = problems(scorer_client.post("/v1/leads/score", json={"fields": {"n": value}}))
        assert list(found) == ["body.fields.n"], value
        assert found["body.fields.n"].startswith("must be text, true, false, null or a finite")


def test_a_lead_id_too_long_or_not_text_is_422_saying_so(scorer_client):  # noqa: F811
    long = problems(scorer_client.post("/v1/leads/score", json={"id": "x" * 201, "fields": {}}))
    assert long == {"body.id": "String should have at most 200 characters"}
    for odd in (7.5, True, [7], {"id": 7}):
        found = problems(scorer_client.post("/v1/leads/score", json={"id": odd, "fields": {}}))
        assert found == {
            "body.id": "must be text or a whole number (a numeric id is read as its text)"
        }
    assert scorer_client.post("/v1/leads/score", json={"id": "x" * 200, "fields": {}}).is_success


def test_a_lead_with_control_characters_in_an_id_name_or_value_is_422(scorer_client):  # noqa: F811
    cases = [
        ({"id": "L\x001", "fields": LEAD}, "body.id"),
        ({"fields": {**LEAD, "Country": "In\x00dia"}}, "body.fields.Country"),
        ({"fields": {**LEAD, "Country": "India\x1b[0m"}}, "body.fields.Country"),
        ({"fields": {**LEAD, "Cou\x00ntry": "India"}}, "body.fields.Cou\x00ntry.[key]"),
        ({"fields": {**LEAD, "Cou\tntry": "India"}}, "body.fields.Cou\tntry.[key]"),
    ]
    for lead, field in cases:
        found = problems(scorer_client.post("/v1/leads/score", json=lead))
        assert list(found) == [field]
        assert "control character" in found[field]
    batch = scorer_client.post("/v1/leads/score/batch", json={"leads": [cases[1][0]]})
    assert list(problems(batch)) == ["body.leads.0.fields.Country"]


def test_ordinary_leads_and_free_text_with_tabs_and_newlines_are_scored(scorer_client):  # noqa: F811
    fields = {**LEAD, "TotalVisits": 10**15, "Notes": "called twice\nline two\tindented\r\n"}
    assert scorer_client.post("/v1/leads/score", json={"id": "L1", "fields": fields}).is_success
    batch = scorer_client.post("/v1/leads/score/batch", json={"leads": [{"fields": LEAD}]})
    assert batch.status_code == 200 and len(batch.json()["scores"]) == 1


# --- deals to score -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["amount", "list_price", "account_employees", "account_revenue"])
def test_a_deal_number_that_is_not_a_sane_number_is_422_naming_it(scorer_client, field):  # noqa: F811
    for value in [*NOT_SANE, -1.0]:
        deal = {**DEAL, field: value}
        one = send(scorer_client, "POST", "/v1/deals/score", deal)
        assert list(problems(one)) == [f"body.{field}"], short(value)
        batch = send(scorer_client, "POST", "/v1/deals/score/batch", {"deals": [DEAL, deal]})
        assert list(problems(batch)) == [f"body.deals.1.{field}"], short(value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "D\x009"}, "body.id"),
        ({"owner": "Ana\x00Moreau"}, "body.owner"),
        ({"stage": "Demo\x07nstration"}, "body.stage"),
        ({"team": "Team\nCosta"}, "body.team"),
    ],
)
def test_a_deal_with_a_control_character_in_a_name_is_422(scorer_client, change, field):  # noqa: F811
    assert field in problems(scorer_client.post("/v1/deals/score", json={**DEAL, **change}))


@pytest.mark.parametrize(
    ("change", "field", "said"),
    [
        ({"created_at": "2230-12-01"}, "body.created_at", "future"),
        ({"stage_entered_at": "2230-12-01T00:00:00Z"}, "body.stage_entered_at", "future"),
        (
            {"created_at": "2024-12-01", "stage_entered_at": "2024-11-01"},
            "body.stage_entered_at",
            "stage_entered_at (2024-11-01T00:00:00) is before created_at",
        ),
    ],
)
def test_a_deal_dated_in_the_future_or_in_a_stage_before_it_existed_is_422(
    scorer_client,  # noqa: F811
    change,
    field,
    said,
):
    found = problems(scorer_client.post("/v1/deals/score", json={**DEAL, **change}))
    assert field in found and said in found[field]


def test_a_deal_at_the_largest_amount_is_still_scored(scorer_client):  # noqa: F811
    response = scorer_client.post("/v1/deals/score", json={**DEAL, "amount": 1e15})
    assert response.status_code == 200 and 0 <= response.json()["probability"] <= 1


# --- CRM sync -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("amount", [*NOT_SANE, -1.0]),
        ("list_price", NOT_SANE),
        ("account_employees", NOT_SANE),
        ("account_revenue", NOT_SANE),
        ("csat", [*NOT_SANE, -HUGE_INT]),
        ("rep_probability", NOT_FINITE),
    ],
)
def test_a_pushed_number_that_is_not_a_sane_number_is_422_naming_it(crm_client, field, values):
    for value in values:
        one = send(crm_client, "PUT", "/v1/opportunities/D1", {**STATE, field: value})
        assert list(problems(one)) == [f"body.{field}"], short(value)
        batch = {"opportunities": [{"id": "D1", **STATE}, {"id": "D2", **STATE, field: value}]}
        answer = send(crm_client, "POST", "/v1/opportunities/batch", batch)
        assert list(problems(answer)) == [f"body.opportunities.1.{field}"], short(value)


@pytest.mark.parametrize(
    ("change", "field", "said"),
    [
        ({"created_at": "0001-01-01T00:00:00Z"}, "body.created_at", "is before 1900"),
        ({"created_at": "0001-01-01T00:00:00+01:00"}, "body.created_at", "is before 1900"),
        ({"closed_at": "1899-12-31"}, "body.closed_at", "is before 1900"),
        (
            {"created_at": "2025-06-25T00:00:00Z", "updated_at": "2025-06-20T00:00:00Z"},
            "body.updated_at",
            "updated_at (2025-06-20T00:00:00+00:00) is before created_at",
        ),
    ],
)
def test_a_pushed_deal_with_a_placeholder_date_or_dates_out_of_order_is_422(
    crm_client, change, field, said
):
    found = problems(send(crm_client, "PUT", "/v1/opportunities/D9", {**STATE, **change}))
    assert field in found and said in found[field], found


def test_a_refused_huge_amount_leaves_the_pipeline_value_a_number(crm_client, api_keys):
    huge = send(crm_client, "PUT", "/v1/opportunities/D1", {**STATE, "amount": 1e308})
    assert huge.status_code == 422
    assert crm_client.put("/v1/opportunities/D2", json={**STATE, "amount": 1e15}).is_success
    kpis = crm_client.get("/v1/kpis?dataset=crm", headers=auth(api_keys["viewer"]))
    assert kpis.status_code == 200, kpis.text
    assert kpis.json()["overall"]["open_value"] == pytest.approx(1e15 + 1000.0)


def _pipeline(amounts: list[float]) -> DealHistory:
    """Open deals of team North with these amounts, and one won deal of 500."""
    stages = StageSet(open_stages=("Lead", "Proposal"))
    day = pd.Timestamp("2024-03-01")
    deals = [
        {"id": f"D{i}", "team": "North", "amount": a, "stage": "Proposal", "status": "open"}
        for i, a in enumerate(amounts)
    ] + [{"id": "W", "team": "North", "amount": 500.0, "stage": "Won", "status": "won"}]
    opps = pd.DataFrame(deals).assign(
        created_at=day, closed_at=[pd.NaT] * len(amounts) + [day + pd.Timedelta(days=9)]
    )
    log = pd.DataFrame(
        [{"opportunity_id": d["id"], "stage": "Lead", "entered_at": day} for d in deals]
        + [{"opportunity_id": "W", "stage": "Won", "entered_at": day + pd.Timedelta(days=9)}]
    )
    return DealHistory.from_frames(opps, log, stages, check_leaks=False)


def test_kpis_of_many_deals_at_the_largest_amount_are_numbers():
    report = compute_kpis(_pipeline([1e15] * 5000), by="team", period="quarter").to_dict()
    assert report["overall"]["open_value"] == pytest.approx(5e18)
    (north,) = report["groups"]
    assert north["open_value"] == pytest.approx(5e18)
    assert north["open_pipeline"][1]["value"] == pytest.approx(5e18)
    assert north["pipeline_velocity_per_day"] == pytest.approx(5000 * 0.5 * 500 / 9 * 2)


def test_a_kpi_sum_that_overflows_is_an_error_naming_it_not_a_null():
    report = compute_kpis(_pipeline([1e308, 1e308]), by="team")
    with pytest.raises(InvalidInput, match="the open_value of all deals is too large") as refused:
        report.to_dict()
    assert "below 1e15" in str(refused.value)
    with pytest.raises(InvalidInput, match="the open_value of North is too large"):
        report.row("North")


def test_a_json_figure_that_overflowed_is_refused_and_a_missing_one_is_null():
    assert rounded(float("nan"), 2) is None
    assert rounded(1e15 * 5000 + 0.004, 2) == 5e18
    for overflowed in (float("inf"), float("-inf"), np.float64(1e308) * 10):
        with pytest.raises(InvalidInput, match="pipeline_value is too large"):
            rounded(overflowed, 2, "pipeline_value")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": "Ana\x00Moreau"}, "owner"),
        ({"stage": "Qualifi\x00cation"}, "stage"),
        ({"account": "Lumgen\x1fGroup"}, "account"),
        ({"region": "East\t"}, "region"),
    ],
)
def test_a_pushed_name_with_a_control_character_is_422(crm_client, settings, change, field):
    one = crm_client.put("/v1/opportunities/D1", json={**STATE, **change})
    assert f"body.{field}" in problems(one)
    batch = {"opportunities": [{"id": "D2", **STATE}, {"id": "D3", **STATE, **change}]}
    batch_problems = problems(crm_client.post("/v1/opportunities/batch", json=batch))
    assert f"body.opportunities.1.{field}" in batch_problems
    ids = store.load_opportunities(store.get_engine(settings), "crm")["id"].tolist()
    assert ids == ["D1"]  # nothing was written


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": "\ud800"}, "owner"),
        ({"team": "Team\udfff"}, "team"),
        ({"account": "x\udbff"}, "account"),
    ],
)
def test_a_pushed_name_with_a_lone_surrogate_is_422_and_nothing_is_written(
    crm_client, settings, change, field
):
    before = store.load_opportunities(store.get_engine(settings), "crm")
    found = problems(send(crm_client, "PUT", "/v1/opportunities/D1", {**STATE, **change}))
    assert list(found) == [f"body.{field}"]
    assert "lone surrogate" in found[f"body.{field}"]
    batch = {"opportunities": [{"id": "D2", **STATE}, {"id": "D3", **STATE, **change}]}
    assert f"body.opportunities.1.{field}" in problems(
        send(crm_client, "POST", "/v1/opportunities/batch", batch)
    )
    after = store.load_opportunities(store.get_engine(settings), "crm")
    pd.testing.assert_frame_equal(after, before)  # nothing was written


def test_a_lead_or_deal_with_a_lone_surrogate_is_422_naming_the_field(scorer_client):  # noqa: F811
    lead = {"id": "L1", "fields": {**LEAD, "Country": "In\ud800dia"}}
    found = problems(send(scorer_client, "POST", "/v1/leads/score", lead))
    assert (
        list(found) == ["body.fields.Country"] and "lone surrogate" in found["body.fields.Country"]
    )
    deal = {**DEAL, "owner": "Ana\udc00"}
    assert list(problems(send(scorer_client, "POST", "/v1/deals/score", deal))) == ["body.owner"]


def test_a_pushed_id_with_a_nul_is_422(crm_client):
    batch = {"opportunities": [{"id": "D\x002", **STATE}]}
    assert "body.opportunities.0.id" in problems(
        crm_client.post("/v1/opportunities/batch", json=batch)
    )


def test_a_deal_id_sent_as_a_whole_number_is_read_as_its_text(crm_client, scorer_client, settings):  # noqa: F811
    # HubSpot's deal ids are numbers, and its API sends them as JSON numbers.
    batch = {"opportunities": [{"id": 8801, **STATE}]}
    assert crm_client.post("/v1/opportunities/batch", json=batch).is_success
    ids = store.load_opportunities(store.get_engine(settings), "crm")["id"].tolist()
    assert "8801" in ids
    scored = send(scorer_client, "POST", "/v1/deals/score", {**DEAL, "id": 8801})
    assert scored.status_code == 200 and scored.json()["id"] == "8801"
    said = "must be text or a whole number (a numeric id is read as its text)"
    for odd in (7.5, True, [7]):
        batch = {"opportunities": [{"id": odd, **STATE}]}
        found = problems(crm_client.post("/v1/opportunities/batch", json=batch))
        assert found == {"body.opportunities.0.id": said}


def test_a_dataset_name_with_a_control_character_is_422(crm_client):
    for name in ("cr\x00m", "crm\n"):
        response = crm_client.put("/v1/opportunities/D1", params={"dataset": name}, json=STATE)
        assert "query.dataset" in problems(response)
    ok = crm_client.put("/v1/opportunities/D1", params={"dataset": "crm"}, json=STATE)
    assert ok.status_code == 200 and ok.json()["stage"] == "Qualification"


def test_an_ordinary_push_still_works(crm_client):
    response = crm_client.put("/v1/opportunities/D1", json={**STATE, "csat": 2.5})
    assert response.status_code == 200 and response.json()["outcome"] == "changed"
    batch = {"opportunities": [{"id": "D2", **STATE, "amount": 1e15}]}
    assert crm_client.post("/v1/opportunities/batch", json=batch).json()["inserted"] == 1


# --- API keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CRM\x00prod", "CRM\x07", "CRM\nprod"])
def test_a_key_name_with_a_control_character_is_422(client, api_keys, name):
    admin = auth(api_keys["admin"])
    response = client.post("/v1/keys", json={"role": "scorer", "name": name}, headers=admin)
    assert "control character" in problems(response)["body.name"]
    ok = client.post("/v1/keys", json={"role": "scorer", "name": "CRM prod"}, headers=admin)
    assert ok.status_code == 201 and ok.json()["name"] == "CRM prod"


def test_a_control_character_in_the_deal_id_of_the_url_is_422(crm_client):
    response = crm_client.put(
        "/v1/opportunities/D%001",
        json={"stage": "Prospecting", "updated_at": "2024-03-01", "created_at": "2024-03-01"},
    )
    assert response.status_code == 422
    assert "opportunity_id" in response.text


def test_a_deal_batch_with_an_unknown_stage_names_the_row(scorer_client):  # noqa: F811
    body = {"deals": [{**DEAL, "id": "a"}, {**DEAL, "id": "b", "stage": "Bogus"}]}
    response = scorer_client.post("/v1/deals/score/batch", json=body)
    assert response.status_code == 422
    assert "row 1 (counting from 0)" in response.text and "Bogus" in response.text


def test_a_body_sent_as_form_fields_is_told_to_be_json(scorer_client):  # noqa: F811
    """A webhook (ActiveCampaign's) posts form fields: the 422 says what to send instead."""
    response = scorer_client.post(
        "/v1/leads/score",
        content="email=a%40x.com&tags=trial",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    [problem] = response.json()["errors"]
    assert problem["field"] == "body"
    assert problem["problem"] == (
        "the body must be a JSON object, sent with Content-Type: application/json; this one was "
        "sent as 'application/x-www-form-urlencoded'"
    )
    # JSON of the wrong shape keeps pydantic's own words.
    wrong = scorer_client.post("/v1/leads/score", json=["a", "list"])
    assert wrong.status_code == 422 and "JSON object" not in wrong.text
