"""Scoring for CRMs: a lead or a deal scored with reasons, fast paths equal to batch paths,
fallbacks labelled, every score recorded, and bad input answered clearly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from forecast import scoring
from forecast.data import store
from forecast.data.generator import generate_leads, generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.history import DealHistory
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from serving.schemas import DealScoreRequest, OpportunityState
from tests.serving.conftest import auth

SMALL = {"min_won_deals": 50, "min_lost_deals": 50, "min_converted_leads": 50}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A lead model and a deal model fitted in memory (no registry needed)."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("fit"), **SMALL)
    leads = generate_leads(2500, seed=4).drop(columns=["created_at"])
    lead = train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)
    pipeline = generate_pipeline(2500, seed=4)
    history = DealHistory.from_frames(pipeline.opportunities, pipeline.history, pipeline.stages)
    deal = train_deals(history, settings=settings)
    return lead.model, deal.model, pipeline


@pytest.fixture
def app(settings, trained):
    lead_model, deal_model, pipeline = trained
    canonical = load_mapping("canonical")
    import_frame(
        store.get_engine(settings),
        pipeline.opportunities.drop(columns=["status"]),
        canonical,
        dataset="crm",
    )
    application = create_app(settings)
    models = application.state.models
    models.lead = scoring.Served(scoring.LEAD, select_scorer(lead_model), "7", "registry")
    models.deal = scoring.Served(scoring.DEAL, select_scorer(deal_model), "3", "registry")
    return application


@pytest.fixture
def scorer_client(app, api_keys):
    with TestClient(app) as test_client:
        test_client.headers.update(auth(api_keys["scorer"]))
        yield test_client


LEAD = {
    "Lead Origin": "Lead Add Form",
    "Lead Source": "Reference",
    "TotalVisits": 3,
    "Total Time Spent on Website": 800,
    "What is your current occupation": "Working Professional",
}
DEAL = {
    "stage": "Demonstration",
    "created_at": "2024-11-01T00:00:00",
    "amount": 5000,
    "product": "Atlas",
    "owner": "Ana Moreau",
    "team": "Team Costa",
    "sector": "finance",
}


def test_a_lead_is_scored_with_reasons_in_the_users_words(scorer_client):
    body = scorer_client.post("/v1/leads/score", json={"id": "L1", "fields": LEAD}).json()
    assert body["id"] == "L1" and 0 <= body["probability"] <= 1
    assert body["score"] == round(100 * body["probability"])
    assert body["grade"] in "ABCD" and body["method"] == "model"
    assert body["model"] == "lead-qualification" and body["version"] == "7"
    sentences = [r["sentence"] for r in body["reasons_for"] + body["reasons_against"]]
    assert sentences and all(
        ": raises the score" in s or ": lowers the score" in s for s in sentences
    )
    fields = {r["field"] for r in body["reasons_for"] + body["reasons_against"]}
    assert fields <= set(LEAD) | {
        "Do Not Email",
        "Country",
        "Specialization",
        "Page Views Per Visit",
    }


def test_unknown_values_and_missing_fields_are_scored_not_rejected(scorer_client):
    odd = {**LEAD, "Lead Source": "Carrier pigeon", "Not a field": "x"}
    assert scorer_client.post("/v1/leads/score", json={"fields": odd}).status_code == 200
    assert scorer_client.post("/v1/leads/score", json={"fields": {}}).status_code == 200


def test_more_time_on_the_site_does_not_lower_a_leads_score_on_average(trained):
    lead_model = trained[0]
    served = scoring.Served(scoring.LEAD, select_scorer(lead_model), "1", "registry")
    leads = generate_leads(300, seed=9).to_dict("records")
    low = [
        s.probability
        for s in scoring.score(served, [{**r, "Total Time Spent on Website": 50} for r in leads])
    ]
    high = [
        s.probability
        for s in scoring.score(served, [{**r, "Total Time Spent on Website": 1500} for r in leads])
    ]
    assert sum(high) > sum(low)


def test_the_batch_route_gives_the_same_scores_as_one_by_one(scorer_client):
    leads = [{"id": str(i), "fields": {**LEAD, "TotalVisits": i}} for i in range(5)]
    batch = scorer_client.post("/v1/leads/score/batch", json={"leads": leads}).json()["scores"]
    for lead, scored in zip(leads, batch, strict=True):
        one = scorer_client.post("/v1/leads/score", json=lead).json()
        assert scored["probability"] == pytest.approx(one["probability"], abs=1e-9)
        assert scored["reasons_for"] == one["reasons_for"]


def test_an_open_deal_is_scored_from_its_stage_age_and_history(scorer_client):
    body = scorer_client.post("/v1/deals/score", json={"id": "D9", **DEAL}).json()
    assert body["method"] == "model" and body["model"] == "close-probability"
    assert body["id"] == "D9" and 0 <= body["probability"] <= 1
    batch = scorer_client.post(
        "/v1/deals/score/batch", json={"deals": [DEAL, {**DEAL, "stage": "Closing"}]}
    ).json()
    assert batch["scores"][0]["probability"] == pytest.approx(body["probability"], abs=1e-9)


def test_a_deal_far_older_than_any_the_model_learnt_from_is_scored_with_a_note(scorer_client):
    """Its probability comes with a note on how far to trust it, alone and in a batch."""
    old = {**DEAL, "created_at": "1990-01-01T00:00:00"}
    body = scorer_client.post("/v1/deals/score", json=old).json()
    assert 0 <= body["probability"] <= 1
    [note] = [n for n in body["notes"] if n.startswith("age ")]
    assert "days is beyond the oldest open deal the model learnt from" in note
    batch = scorer_client.post("/v1/deals/score/batch", json={"deals": [old]}).json()
    assert batch["scores"][0]["notes"] == body["notes"]


def test_a_deal_is_scored_as_of_the_date_asked_and_told_when_now_is_long_past_its_data(
    scorer_client, settings
):
    """The dataset ends in 2024: scored as of now, the deal's age and days in stage count to
    today, which its notes say; `?as_of=` scores it as the data knew it at that date's end
    (age, days in stage, the rep's and account's past win rates), alone and in a batch, as the
    library's row as of then."""
    deal = {**DEAL, "stage_entered_at": "2024-12-01T00:00:00"}
    now = scorer_client.post("/v1/deals/score", json=deal).json()
    [said] = [n for n in now["notes"] if n.startswith("scored as of now")]
    assert "after dataset 'crm' ends (2024-12-3" in said and "?as_of=YYYY-MM-DD" in said
    then = scorer_client.post("/v1/deals/score?as_of=2024-12-31", json=deal).json()
    assert not any(n.startswith("scored as of now") for n in then["notes"])
    models = scorer_client.app.state.models  # the route's row, as the library makes it:
    context = models.deal_contexts["crm"]
    row = scoring.deal_row(context, deal, "2025-01-01")  # 2024-12-31 at its end
    assert row["age_days"] == 61 and row["days_in_stage"] == 31
    [direct] = scoring.score(models.deal, [row])
    assert then["probability"] == pytest.approx(direct.probability, abs=1e-12)
    batch = scorer_client.post(
        "/v1/deals/score/batch?as_of=2024-12-31", json={"deals": [deal, DEAL]}
    ).json()
    assert batch["scores"][0]["probability"] == pytest.approx(then["probability"], abs=1e-12)
    # A deal created that day is known by its end; a time is taken as it is.
    today = {**DEAL, "created_at": "2024-12-31T10:00:00"}
    assert scorer_client.post("/v1/deals/score?as_of=2024-12-31", json=today).status_code == 200
    timed = "as_of=2024-12-31T12:00:00%2B02:00"  # 10:00 UTC: the deal is two hours old
    assert scorer_client.post(f"/v1/deals/score?{timed}", json=today).status_code == 200
    # The rep's past win rate is as of the date too: only deals closed before it count.
    early = scoring.deal_row(context, {**DEAL, "created_at": "2023-01-10"}, "2023-01-12")
    assert early["rep_win_rate"] != row["rep_win_rate"]
    assert early["rep_closed_deals"] < row["rep_closed_deals"]
    for query, words in (
        ("as_of=yesterday", "as_of: 'yesterday' is not a date"),
        ("as_of=2024", "as_of: '2024' is not a date"),
        ("as_of=2024-12-31T10:00:00+02:00", "is not a date"),  # '+' unescaped reads as a space
        ("as_of=2999-01-01", "as_of: 2999-01-01 is in the future"),
        ("as_of=2024-11-15", "stage_entered_at: 2024-12-01T00:00:00 is after as_of"),
        ("as_of=2024-12-31&as_of=2024-10-01", "'as_of' (2 times) given more than once"),
        ("asof=2024-12-31", "asof"),
    ):
        for path, body in (("score", deal), ("score/batch", {"deals": [DEAL, deal]})):
            response = scorer_client.post(f"/v1/deals/{path}?{query}", json=body)
            assert response.status_code == 422 and words in response.json()["detail"]
    refused = scorer_client.post(
        "/v1/deals/score/batch?as_of=2024-11-15", json={"deals": [DEAL, deal]}
    )
    assert "row 1 (counting from 0)" in refused.json()["detail"]
    # Without dates sent, nothing counts to today: no note.
    undated = {k: v for k, v in DEAL.items() if k != "created_at"}
    plain = scorer_client.post("/v1/deals/score", json=undated).json()
    assert not any(n.startswith("scored as of now") for n in plain["notes"])


#: What a CRM pushes for the deal beyond its inputs (`PUT /v1/opportunities` takes these).
PUSHED = {
    "updated_at": "2024-12-01T10:00:00Z",
    "expected_close_at": "2025-02-28",
    "currency": "EUR",
    "rep_probability": 0.4,
    "forecast_category": "best_case",
    "csat": 4.5,
}


def test_a_deal_sent_as_the_crm_pushes_it_is_scored_and_what_is_not_read_is_said(scorer_client):
    """Every field the push route takes is taken here: those the model does not read (the
    rep's call, the CRM's dates) change nothing and are named in the notes, alone and in a
    batch."""
    accepted = set(DealScoreRequest.model_fields)
    assert set(OpportunityState.model_fields) <= accepted
    plain = scorer_client.post("/v1/deals/score", json=DEAL).json()
    body = scorer_client.post("/v1/deals/score", json={**DEAL, **PUSHED}).json()
    assert body["probability"] == pytest.approx(plain["probability"], abs=1e-12)
    said = [[r["sentence"] for r in b["reasons_for"]] for b in (body, plain)]  # age moves on
    assert said[0] == said[1]
    assert body["notes"] == [
        "not fields the model reads, ignored: 'updated_at', 'expected_close_at', 'currency', "
        "'rep_probability', 'forecast_category', 'csat'",
        "amounts are scored as sent, not converted from 'EUR'",
        *plain["notes"],  # what else is said of the deal (its age here) as before
    ]
    assert not any("ignored" in n for n in plain["notes"])
    batch = scorer_client.post(
        "/v1/deals/score/batch", json={"deals": [DEAL, {**DEAL, **PUSHED}]}
    ).json()
    assert [s["notes"] for s in batch["scores"]] == [plain["notes"], body["notes"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rep_probability": -0.5}, "body.rep_probability"),  # beyond any dataset's scale
        ({"rep_probability": "likely"}, "body.rep_probability"),
        ({"expected_close_at": "2025-02-30"}, "body.expected_close_at"),
        ({"expected_close_at": "0001-01-01"}, "body.expected_close_at"),
        ({"forecast_category": "Maybe"}, "body.forecast_category"),
        ({"currency": "euro"}, "body.currency"),
        ({"csat": 1e16}, "body.csat"),
        ({"closed_at": "2024-01-01"}, "body.closed_at"),  # before created_at, as a push is
        ({"expected_close_at": "2024-01-01"}, "body.expected_close_at"),  # refused
        ({"rep_probability": True}, "body.rep_probability"),  # not a 100% call
        ({"colour": "red"}, "body.colour"),  # what no push takes is still refused
    ],
)
def test_a_pushed_field_with_a_bad_value_is_422_naming_it_as_the_push_route_does(
    scorer_client, change, field
):
    response = scorer_client.post("/v1/deals/score", json={**DEAL, **change})
    assert response.status_code == 422
    problems = {e["field"]: e["problem"] for e in response.json()["errors"]}
    assert field in problems
    pushed = scorer_client.put("/v1/opportunities/D1", json={**DEAL, **PUSHED, **change})
    assert pushed.status_code == 422
    assert {e["field"]: e["problem"] for e in pushed.json()["errors"]} == problems
    batch = scorer_client.post("/v1/deals/score/batch", json={"deals": [DEAL, {**DEAL, **change}]})
    assert batch.status_code == 422
    assert [e["field"] for e in batch.json()["errors"]] == [
        f"body.deals.1{f.removeprefix('body')}" for f in problems
    ]


@pytest.mark.parametrize(
    "stage, message", [("Negotiation", "not a stage of dataset 'crm'"), ("Won", "is an outcome")]
)
def test_a_deal_in_an_unknown_or_closed_stage_is_422_naming_it(scorer_client, stage, message):
    response = scorer_client.post("/v1/deals/score", json={**DEAL, "stage": stage})
    assert response.status_code == 422 and message in response.json()["detail"]


def test_wrong_types_are_422_with_the_field_path(scorer_client):
    response = scorer_client.post("/v1/deals/score", json={**DEAL, "amount": "lots"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.amount"
    response = scorer_client.post("/v1/leads/score", json={"fields": {"a": [1, 2]}})
    assert response.status_code == 422


def test_a_batch_over_the_limit_is_refused_clearly(scorer_client, app):
    app.state.settings = app.state.settings.model_copy(update={"max_batch_size": 3})
    leads = [{"fields": LEAD}] * 4
    response = scorer_client.post("/v1/leads/score/batch", json={"leads": leads})
    assert response.status_code == 422 and "the limit is 3" in response.json()["detail"]


def test_a_viewer_key_may_not_score(scorer_client, api_keys):
    response = scorer_client.post(
        "/v1/leads/score", json={"fields": LEAD}, headers=auth(api_keys["viewer"])
    )
    assert response.status_code == 403


def test_without_a_model_the_fallback_scores_and_says_so(settings, api_keys, trained):
    _, _, pipeline = trained
    import_frame(
        store.get_engine(settings),
        pipeline.opportunities.drop(columns=["status"]),
        load_mapping("canonical"),
        dataset="crm",
    )
    with TestClient(create_app(settings)) as client:
        body = client.post("/v1/deals/score", json=DEAL, headers=auth(api_keys["scorer"])).json()
        assert body["method"] == "stage_win_rate" and body["version"] is None
        assert "fallback" in body["label"]
        # Current stages only (no stage history): the overall win rate, said as such.
        assert "overall win rate" in body["reasons_for"][0]["sentence"]
        assert "the stage history is flat" in body["label"]
        served = client.get("/v1/models", headers=auth(api_keys["viewer"])).json()
        assert {m["source"] for m in served["models"]} == {"fallback"}


def test_every_score_is_recorded_for_monitoring(scorer_client, app, settings):
    for _ in range(3):
        scorer_client.post(
            "/v1/leads/score", json={"fields": LEAD}, headers={"X-Request-ID": "req-42"}
        )
    app.state.recorder.flush()
    with store.get_engine(settings).connect() as conn:
        rows = conn.execute(select(store.score_log)).mappings().all()
    assert len(rows) == 3 and {r["request_id"] for r in rows} == {"req-42"}
    assert {r["model_version"] for r in rows} == {"7"}
    assert len({r["inputs_fingerprint"] for r in rows}) == 1
    metrics = scorer_client.get("/metrics").text
    assert 'forecast_score_probability_count{kind="lead",model="lead-qualification"} 3.0' in metrics


def test_reloading_swaps_models_without_failing_requests_in_flight(
    scorer_client, app, api_keys, monkeypatch
):
    def slow_load(settings, engine):  # noqa: ANN001, ANN202 - stands in for the registry
        time.sleep(0.3)
        current = app.state.models
        return scoring.ModelSet.of(current.lead, current.deal, current.deal_context)

    monkeypatch.setattr(scoring, "load_model_set", slow_load)
    failures: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            status = scorer_client.post("/v1/leads/score", json={"fields": LEAD}).status_code
            if status != 200:
                failures.append(status)

    old = app.state.models
    worker = threading.Thread(target=hammer)
    worker.start()
    response = scorer_client.post("/v1/admin/reload", headers=auth(api_keys["admin"]))
    stop.set()
    worker.join(timeout=timedelta(seconds=30).total_seconds())
    assert response.status_code == 200 and app.state.models is not old
    assert failures == []


def test_models_route_says_what_is_served(scorer_client, api_keys):
    body = scorer_client.get("/v1/models", headers=auth(api_keys["viewer"])).json()
    kinds = {m["kind"]: m for m in body["models"]}
    assert kinds["leads"]["version"] == "7" and kinds["deals"]["method"] == "model"


def test_readiness_says_which_models_serve_and_from_where(scorer_client, api_keys):
    body = scorer_client.get("/readyz", headers=auth(api_keys["viewer"])).json()
    assert body["ready"] is True
    assert body["models"]["leads"] == {"version": "7", "source": "registry", "label": "model"}


@pytest.mark.parametrize(
    ("headers", "scoring", "listing_keys"),
    [
        ({}, 401, 401),
        ({"X-API-Key": "fk_not-a-key"}, 401, 401),
        ({"X-API-Key": "  {scorer}  "}, 200, 403),
        ({"Authorization": "Bearer {scorer}"}, 200, 403),
        ({"Authorization": "bearer   {scorer} "}, 200, 403),
        ({"Authorization": "Basic {scorer}"}, 401, 401),
        ({"Authorization": "Bearer"}, 401, 401),
        ({"Authorization": "Bearer {scorer}", "X-API-Key": "fk_not-a-key"}, 401, 401),
        ({"X-API-Key": "{scorer}", "Authorization": "Bearer fk_not-a-key"}, 200, 403),
        ({"X-API-Key": "{viewer}"}, 403, 403),
        ({"Authorization": "Bearer {admin}"}, 200, 200),
    ],
)
def test_the_scoring_routes_read_a_key_as_every_other_route_does(
    app, api_keys, headers, scoring, listing_keys
):
    """The scoring routes read the key from the headers themselves; /v1/keys (admin only)
    through the security schemes: the same headers are taken the same way by both."""
    sent = {name: value.format(**api_keys) for name, value in headers.items()}
    with TestClient(app) as client:
        for path, body in (("/v1/leads/score", {"fields": LEAD}), ("/v1/deals/score", DEAL)):
            assert client.post(path, json=body, headers=sent).status_code == scoring, path
        assert client.get("/v1/keys", headers=sent).status_code == listing_keys


def test_a_scoring_request_without_a_key_is_refused_before_its_body_is_read(app):
    with TestClient(app) as client:
        response = client.post("/v1/leads/score", json={"fields": "not an object"})
    assert response.status_code == 401 and "missing API key" in response.json()["detail"]
