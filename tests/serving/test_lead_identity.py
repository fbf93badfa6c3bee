"""Through the API, a lead's identity is not a reason for its score: renaming or renumbering a
lead leaves its score as it was.

The lead model is trained the way `forecast train leads` trains it, on leads that carry their
number and name as columns, the number even ordered by outcome. Training must drop them as
identifiers; the control model, fitted with the number kept, shows the test would see it if not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast import features, scoring
from forecast.data.generator import generate_leads
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    frame = generate_leads(1500, seed=6).drop(columns=["created_at"])
    rng = np.random.default_rng(6)
    order = np.argsort(np.argsort(frame["converted"] + rng.uniform(0, 0.7, len(frame))))
    frame["Lead Number"] = 600_000 + order  # converted leads mostly have the high numbers
    frame["Prospect Name"] = [f"Prospect {i:05d}" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def trained(leads, tmp_path_factory) -> BoostedClassifier:
    settings = Settings(state_dir=tmp_path_factory.mktemp("fit"), min_converted_leads=50)
    return train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False).model


def serving(settings: Settings, model: object, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(
        scoring,
        "load_model_set",
        lambda settings, engine: scoring.ModelSet(),
    )
    app = create_app(settings)
    app.state.models.lead = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    return TestClient(app)


def fields_of(lead: pd.Series) -> dict:
    return {
        k: (None if pd.isna(v) else v.item() if isinstance(v, np.generic) else v)
        for k, v in lead.drop(["id", "converted", "Tags"]).items()
    }


def probabilities(client: TestClient, key: str, *leads: dict) -> list[float]:
    body = {"leads": [{"fields": f} for f in leads]}
    response = client.post("/v1/leads/score/batch", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    return [s["probability"] for s in response.json()["scores"]]


def test_renaming_or_renumbering_a_lead_does_not_change_its_score(
    leads, trained, settings, api_keys, monkeypatch
):
    lowest = leads.loc[leads["Lead Number"].idxmin()]
    lead = fields_of(lowest)
    renamed = {
        **lead,
        "Lead Number": int(leads["Lead Number"].max()),
        "Prospect Name": "Prospect 99999",
    }
    with serving(settings, trained, monkeypatch) as client:
        before, after = probabilities(client, api_keys["scorer"], lead, renamed)
        one = client.post(
            "/v1/leads/score",
            json={"id": "someone else", "fields": renamed},
            headers=auth(api_keys["scorer"]),
        ).json()
    assert after == before
    assert one["probability"] == pytest.approx(before, abs=1e-12)
    reasons = one["reasons_for"] + one["reasons_against"]
    assert not {"Lead Number", "Prospect Name"} & {r["field"] for r in reasons}


def test_the_control_model_that_reads_the_number_does_change_the_score(
    leads, settings, api_keys, monkeypatch
):
    X, _ = features.prepare_leads(leads, ["Tags"])
    reads_it = BoostedClassifier(n_estimators=100, n_jobs=2, random_state=1).fit(
        X.assign(**{"Lead Number": leads["Lead Number"].astype(float)}), features.lead_labels(leads)
    )
    lead = fields_of(leads.loc[leads["Lead Number"].idxmin()])
    renamed = {**lead, "Lead Number": int(leads["Lead Number"].max())}
    with serving(settings, reads_it, monkeypatch) as client:
        before, after = probabilities(client, api_keys["scorer"], lead, renamed)
    assert after > before + 0.05
