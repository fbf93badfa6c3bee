"""What a CRM's pushes leave stored agrees with itself: the deal's state with its histories,
its dates in order across pushes, its close where it closed; and a deal deleted in the CRM can
be removed, as a deal left out of an export is."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from tests.serving.conftest import auth


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        key_cache_seconds=0,
        max_batch_size=5,
        mlflow_tracking_uri=mlflow_uri,
    )


@pytest.fixture
def scorer(client, api_keys, settings):
    frame = pd.DataFrame(
        [
            {
                "id": "D0",
                "stage": "Prospecting",
                "created_at": "2024-12-01",
                "updated_at": "2024-12-01",
                "amount": 10.0,
            }
        ]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    client.headers.update(auth(api_keys["scorer"]))
    return client


TIE = {
    "stage": "Closing",
    "created_at": "2024-12-20T00:00:00Z",
    "updated_at": "2024-12-29T12:00:00Z",
    "owner": "Tie Rep",
    "team": "Team Novak",
    "amount": 100,
}


def stored(settings: Settings, deal: str) -> pd.Series:
    return store.load_opportunities(store.get_engine(settings), "crm").set_index("id").loc[deal]


def observed(settings: Settings, deal: str) -> pd.DataFrame:
    fields = store.load_field_history(store.get_engine(settings), "crm")
    return fields[fields["opportunity_id"] == deal]


def stages_of(settings: Settings, deal: str) -> list[tuple[str, str]]:
    history = store.load_history(store.get_engine(settings), "crm")
    mine = history[history["opportunity_id"] == deal]
    return [(s, str(t.date())) for s, t in zip(mine["stage"], mine["entered_at"], strict=True)]


# --- 1. two pushes of one updated_at ------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"amount": 100}, {"amount": 200}),
        ({"amount": 200}, {"amount": 100}),
        ({"amount": 100, "owner": "Ana"}, {"amount": 200, "owner": "Bo"}),
        ({"amount": 200, "owner": "Bo"}, {"amount": 100, "owner": "Ana"}),
    ],
)
def test_two_pushes_of_one_time_leave_state_and_field_history_agreeing_in_either_order(
    scorer, settings, first, second
):
    """The KPIs read the state, the forecast the field history: at one `updated_at` both keep
    the same push's values whichever came first, and a push not kept is told so."""
    finals = []
    for n, order in enumerate([(first, second), (second, first)]):
        deal = f"TIE-{n}"
        scorer.put(f"/v1/opportunities/{deal}", json={**TIE, **order[0]})
        answer = scorer.put(f"/v1/opportunities/{deal}", json={**TIE, **order[1]}).json()
        state, fields = stored(settings, deal), observed(settings, deal)
        assert len(fields) == 1
        assert fields["amount"].iloc[0] == state["amount"]
        assert fields["owner"].iloc[0] == state["owner"]
        finals.append((state["amount"], state["owner"]))
        assert answer["outcome"] == "tie"
        kept = [f for f in ("amount", "owner") if state[f] != {**TIE, **order[1]}[f]]
        assert sorted(answer["kept_stored"]) == kept
    assert finals[0] == finals[1]  # the same values kept in both orders


def test_at_one_time_the_later_stage_is_kept_and_the_fields_as_their_history(scorer, settings):
    """Closing at 12:00 and Won at 12:00: the deal is won in its state as in its stage
    history, whatever the order; its other fields are those its field history keeps."""
    won = {"stage": "Won", "closed_at": "2024-12-29T12:00:00Z", "amount": 50}
    for n, order in enumerate([({}, won), (won, {})]):
        deal = f"TIE-S{n}"
        scorer.put(f"/v1/opportunities/{deal}", json={**TIE, **order[0]})
        scorer.put(f"/v1/opportunities/{deal}", json={**TIE, **order[1]})
        state = stored(settings, deal)
        assert (state["stage"], state["status"]) == ("Won", "won")
        assert stages_of(settings, deal)[-1][0] == "Won"
        assert observed(settings, deal)["amount"].iloc[0] == state["amount"]


def test_the_same_push_twice_is_unchanged_not_a_tie(scorer):
    scorer.put("/v1/opportunities/T", json=TIE)
    again = scorer.put("/v1/opportunities/T", json=TIE).json()
    assert (again["outcome"], again["kept_stored"]) == ("unchanged", [])


def test_a_batch_counts_its_ties(scorer):
    scorer.put("/v1/opportunities/T", json=TIE)
    body = scorer.post(
        "/v1/opportunities/batch", json={"opportunities": [{"id": "T", **TIE, "amount": 7}]}
    ).json()
    assert body["tie"] == 1 and body["deals"][0]["outcome"] == "tie"


# --- 2. a push's dates against the stored deal ------------------------------------------------


NEG = {
    "stage": "Won",
    "created_at": "2024-12-20T00:00:00Z",
    "closed_at": "2024-12-21T00:00:00Z",
    "updated_at": "2024-12-29T09:00:00Z",
    "owner": "Neg Two",
}


def test_a_creation_after_the_stored_close_is_422_naming_it_and_writes_nothing(scorer, settings):
    assert scorer.put("/v1/opportunities/NEG-2", json=NEG).status_code == 200
    later = {**NEG, "created_at": "2024-12-28T00:00:00Z", "updated_at": "2024-12-29T10:00:00Z"}
    del later["closed_at"]
    response = scorer.put("/v1/opportunities/NEG-2", json=later)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("created_at: 2024-12-28T00:00:00 is after")
    assert "2024-12-21T00:00:00" in detail
    state = stored(settings, "NEG-2")
    assert str(state["created_at"]) == "2024-12-20 00:00:00"
    assert str(state["updated_at"]) == "2024-12-29 09:00:00"
    kpis = scorer.get("/v1/kpis", params={"dataset": "crm"})
    if kpis.status_code == 200:  # the KPI route's own rules aside, no close before creation
        assert "-" not in str(kpis.json().get("time_to_close", ""))


def test_a_creation_after_the_stored_first_stage_entry_is_422(scorer):
    scorer.put("/v1/opportunities/N3", json={**TIE, "stage": "Prospecting"})
    moved = {**TIE, "updated_at": "2024-12-30T00:00:00Z", "created_at": "2024-12-29T13:00:00Z"}
    # a sighting at 12-29 12:00 shows the deal existed then: a creation an hour later is skew
    assert scorer.put("/v1/opportunities/N3", json=moved).status_code == 200
    late = {**moved, "updated_at": "2025-01-05T00:00:00Z", "created_at": "2025-01-03T00:00:00Z"}
    response = scorer.put("/v1/opportunities/N3", json=late)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("created_at: 2025-01-03T00:00:00 is after")


def test_a_push_dated_before_the_stored_creation_is_422_and_adds_no_stage(scorer, settings):
    scorer.put("/v1/opportunities/N4", json=TIE)
    before = stages_of(settings, "N4")
    early = scorer.put(
        "/v1/opportunities/N4", json={"stage": "Prospecting", "updated_at": "2024-12-10T00:00:00Z"}
    )
    assert early.status_code == 422, early.text
    detail = early.json()["detail"]
    assert detail.startswith("updated_at: 2024-12-10T00:00:00 is before")
    assert "created_at (2024-12-20T00:00:00)" in detail
    closed = scorer.put(
        "/v1/opportunities/N4",
        json={"stage": "Lost", "updated_at": "2024-12-30", "closed_at": "2024-12-05"},
    )
    assert closed.status_code == 422, closed.text
    assert closed.json()["detail"].startswith("closed_at: 2024-12-05T00:00:00 is before")
    assert stages_of(settings, "N4") == before
    within_skew = {"stage": "Qualification", "updated_at": "2024-12-19T12:00:00Z"}
    assert scorer.put("/v1/opportunities/N4", json=within_skew).status_code == 200


def test_a_late_push_that_adds_a_stage_says_so(scorer, settings):
    """A push older than the stored state is stale, yet its stage joins the history: counted."""
    scorer.put("/v1/opportunities/N5", json={**TIE, "stage": "Prospecting"})
    scorer.put("/v1/opportunities/N5", json={**TIE, "stage": "Closing", "updated_at": "2024-12-30"})
    before = stages_of(settings, "N5")
    late = scorer.put(
        "/v1/opportunities/N5",
        json={**TIE, "stage": "Presentation", "updated_at": "2024-12-29T18:00:00Z"},
    ).json()
    assert late["outcome"] == "stale"
    assert late["history_added"] == len(stages_of(settings, "N5")) - len(before) == 1


def test_a_late_push_that_dates_a_stage_earlier_says_so(scorer, settings):
    """Closing seen at 12-29, then a late push shows it in Closing since 12-25: the history's
    Closing entry is now the 12-25 one, which this call added, though the count of stays is
    the same."""
    scorer.put(
        "/v1/opportunities/N7", json={**TIE, "stage": "Prospecting", "updated_at": "2024-12-20"}
    )
    scorer.put("/v1/opportunities/N7", json=TIE)
    late = scorer.put("/v1/opportunities/N7", json={**TIE, "updated_at": "2024-12-25"}).json()
    assert stages_of(settings, "N7") == [("Prospecting", "2024-12-20"), ("Closing", "2024-12-25")]
    assert (late["outcome"], late["history_added"]) == ("stale", 1)


# --- 3. close dates -----------------------------------------------------------------------------


def test_an_open_deal_sent_with_a_close_date_is_422_naming_it(scorer, settings):
    response = scorer.put("/v1/opportunities/N6", json={**TIE, "closed_at": "2024-12-29T00:00:00Z"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("closed_at: ") and "expected_close_at" in detail
    assert "N6" not in store.load_opportunities(store.get_engine(settings), "crm")["id"].tolist()


def test_a_won_deal_pushed_again_without_its_close_keeps_the_stored_close(scorer, settings):
    won = {**TIE, "stage": "Won", "closed_at": "2024-12-22T00:00:00Z"}
    scorer.put("/v1/opportunities/W1", json=won)
    edit = {**TIE, "stage": "Won", "updated_at": "2024-12-30T00:00:00Z", "amount": 120}
    assert scorer.put("/v1/opportunities/W1", json=edit).status_code == 200
    state = stored(settings, "W1")
    assert (state["amount"], str(state["closed_at"])) == (120, "2024-12-22 00:00:00")
    lost = {**edit, "stage": "Lost", "updated_at": "2024-12-31T00:00:00Z"}
    scorer.put("/v1/opportunities/W1", json=lost)  # another outcome: closed when it was recorded
    assert str(stored(settings, "W1")["closed_at"]) == "2024-12-31 00:00:00"


def test_a_won_deals_close_is_the_same_whichever_push_came_first(scorer, settings):
    """Won pushed on the 22nd, then edited on the 26th (no close date sent): closed on the
    22nd, as its stage history says, whether or not the edit arrived first."""
    won = {**TIE, "stage": "Won", "updated_at": "2024-12-22T00:00:00Z"}
    edit = {**won, "updated_at": "2024-12-26T00:00:00Z", "amount": 150}
    for deal, order in (("O1", (won, edit)), ("O2", (edit, won))):
        for push in order:
            assert scorer.put(f"/v1/opportunities/{deal}", json=push).status_code == 200
        state = stored(settings, deal)
        assert (str(state["closed_at"]), state["amount"]) == ("2024-12-22 00:00:00", 150)


# --- 4. removing a deal, reading it back --------------------------------------------------------


def test_a_deal_deleted_in_the_crm_is_removed_with_its_histories_not_its_scores(scorer, settings):
    engine = store.get_engine(settings)
    scorer.put("/v1/opportunities/GONE", json=TIE)
    scorer.put("/v1/opportunities/GONE", json={**TIE, "stage": "Won", "updated_at": "2024-12-30"})
    with engine.begin() as conn:
        conn.execute(
            insert(store.score_log).values(
                request_id="r1",
                kind="deal",
                model="m",
                model_version="1",
                inputs_fingerprint="f",
                probability=0.5,
                score=50,
                scored_at=store.utcnow(),
                subject_id="GONE",
                dataset="crm",
            )
        )
    response = scorer.delete("/v1/opportunities/GONE", params={"dataset": "crm"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dataset"], body["id"], body["stage"]) == ("crm", "GONE", "Won")
    assert body["stage_observations_removed"] >= 2 and body["field_observations_removed"] == 2
    assert "GONE" not in store.load_opportunities(engine, "crm")["id"].tolist()
    assert stages_of(settings, "GONE") == [] and observed(settings, "GONE").empty
    with engine.connect() as conn:
        scores = conn.execute(
            select(func.count()).where(store.score_log.c.subject_id == "GONE")
        ).scalar()
    assert scores == 1
    assert "D0" in store.load_opportunities(engine, "crm")["id"].tolist()  # the others stay
    again = scorer.delete("/v1/opportunities/GONE")
    assert again.status_code == 404 and "'GONE'" in again.json()["detail"]


def test_only_a_pushing_key_may_delete(client, api_keys, scorer):
    viewer = client.delete("/v1/opportunities/D0", headers=auth(api_keys["viewer"]))
    assert viewer.status_code == 403
    assert client.get("/v1/opportunities/D0", headers=auth(api_keys["viewer"])).status_code == 403


def test_a_crm_reads_back_what_it_pushed(scorer):
    scorer.put("/v1/opportunities/R1", json={**TIE, "expected_close_at": "2025-01-31"})
    body = scorer.get("/v1/opportunities/R1").json()
    assert body["id"] == "R1" and body["dataset"] == "crm"
    assert (body["stage"], body["status"], body["amount"], body["owner"]) == (
        "Closing",
        "open",
        100,
        "Tie Rep",
    )
    assert body["updated_at"] == "2024-12-29T12:00:00Z"
    assert body["created_at"] == "2024-12-20T00:00:00Z"
    assert body["closed_at"] is None
    missing = scorer.get("/v1/opportunities/NOPE")
    assert missing.status_code == 404 and "'NOPE'" in missing.json()["detail"]
