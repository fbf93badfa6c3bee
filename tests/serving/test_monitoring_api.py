"""Model monitoring through the API: a deal scored by id is logged with its id, dataset and
inputs; GET /v1/models/monitoring joins the scores with the outcomes that came after them and
flags inputs unlike the training data; /metrics shows the same as gauges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from forecast import scoring
from forecast.data import store
from forecast.history import load_deal_history
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, import_generated, keys_of_every_role


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> tuple[Settings, dict[str, str], scoring.Served]:  # noqa: ANN001
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("monitoring-api") / "state", key_cache_seconds=0
    )
    import_generated(settings, deals=500, seed=7)
    history = load_deal_history(store.get_engine(settings), "crm")
    result = train_deals(history, settings=settings, dataset="crm")
    details = {"params": {"split_cut": result.split["cut"], "dataset": "crm"}}
    served = scoring.Served(scoring.DEAL, select_scorer(result.model), "1", "registry", details)
    return settings, keys_of_every_role(settings), served


@pytest.fixture
def client(env, monkeypatch) -> Iterator[TestClient]:  # noqa: ANN001
    settings, _, served = env
    with store.get_engine(settings).begin() as conn:
        conn.execute(store.score_log.delete())

    def load(settings: Settings, engine):  # noqa: ANN001, ANN202
        context = scoring.deal_context(engine, "crm")
        return scoring.ModelSet.of(deal=served, deal_context=context)

    monkeypatch.setattr(scoring, "load_model_set", load)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _deals(settings: Settings, status: str) -> list[dict]:
    engine = store.get_engine(settings)
    history = load_deal_history(engine, "crm")
    deals = history.deals[history.deals["status"] == status]
    stage = history.stages.open_stages[0]
    fields = ["product", "owner", "account", "sector", "region", "team", "amount"]
    return [
        {
            "id": d["id"],
            "stage": stage,
            "created_at": str(d["created_at"]),
            **{k: d[k] for k in fields if isinstance(d[k], (str, float)) and d[k] == d[k]},
        }
        for d in deals.to_dict("records")
    ]


def _score(client: TestClient, keys: dict[str, str], deals: list[dict]) -> None:
    response = client.post(
        "/v1/deals/score/batch", json={"deals": deals}, headers=auth(keys["scorer"])
    )
    assert response.status_code == 200, response.text
    client.app.state.recorder.flush()


def _monitoring(client: TestClient, keys: dict[str, str]) -> dict:
    response = client.get("/v1/models/monitoring", headers=auth(keys["viewer"]))
    assert response.status_code == 200, response.text
    [deal] = [m for m in response.json()["models"] if m["kind"] == "deal"]
    assert (deal["dataset"], deal["source"]) == ("crm", "registry")
    return deal


def test_a_deal_scored_by_id_is_logged_with_its_id_dataset_and_inputs(env, client):
    settings, keys, _ = env
    [deal] = _deals(settings, "open")[:1]
    _score(client, keys, [deal])
    with store.get_engine(settings).connect() as conn:
        [row] = conn.execute(select(store.score_log)).mappings().all()
    assert row["subject_id"] == deal["id"] and row["dataset"] == "crm"
    assert row["inputs"]["amount"] == deal["amount"] and row["inputs"]["stage"] == deal["stage"]


def test_monitoring_joins_only_outcomes_that_came_after_the_score(env, client):
    settings, keys, _ = env
    still_open = _deals(settings, "open")
    closed_before = _deals(settings, "won")[:5]  # closed in 2024: long before these scores
    _score(client, keys, still_open + closed_before)
    later = store.utcnow() + timedelta(days=1)
    won, lost = still_open[::2], still_open[1::2]
    engine = store.get_engine(settings)
    try:
        with engine.begin() as conn:
            deals = store.opportunities
            for part, status in ((won, "won"), (lost, "lost")):
                ids = [d["id"] for d in part]
                conn.execute(
                    update(deals)
                    .where(deals.c.dataset == "crm", deals.c.id.in_(ids))
                    .values(status=status, closed_at=later)
                )
        deal = _monitoring(client, keys)
    finally:
        with engine.begin() as conn:  # the module's store is shared: put the deals back
            conn.execute(
                update(store.opportunities)
                .where(store.opportunities.c.id.in_([d["id"] for d in still_open]))
                .values(status="open", closed_at=None)
            )
    assert deal["overall"]["n"] == len(still_open)  # not the 5 that had closed before
    assert deal["overall"]["observed_rate"] == pytest.approx(len(won) / len(still_open))
    assert deal["version"] == "1"


def test_deals_scored_with_amounts_ten_times_larger_show_amount_shifted(env, client):
    settings, keys, _ = env
    sent = [
        {**d, "id": f"sent-{i}", "amount": d["amount"] * 10}
        for i, d in enumerate(_deals(settings, "lost")[:150])
        if "amount" in d
    ]
    _score(client, keys, sent)
    deal = _monitoring(client, keys)
    assert "scored in the last" in deal["drift"]["current"]
    amount = next(f for f in deal["drift"]["features"] if f["feature"] == "amount")
    assert amount["status"] == "shifted" and amount["psi"] > 0.2
    assert deal["drift"]["max_psi"] >= amount["psi"]

    # /metrics never waits: the first scrape starts the refresh, a later one shows the gauges.
    client.app.state.monitoring.models = None  # the API's figures are not reused
    client.get("/metrics")
    for _ in range(100):
        text = client.get("/metrics").text
        if 'forecast_feature_psi{dataset="crm",feature="amount",kind="deal"}' in text:
            break
        time.sleep(0.1)
    assert 'forecast_feature_psi{dataset="crm",feature="amount",kind="deal"}' in text


def test_monitoring_needs_a_viewer_key(env, client):
    assert client.get("/v1/models/monitoring").status_code == 401
