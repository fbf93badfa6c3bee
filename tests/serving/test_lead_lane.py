"""The lead-scoring route's short way (`serving.lead_lane`): a plain request is answered as the
route answers it, byte for byte; anything else is answered by the route itself; a key revoked
through the API stops working at once even where checks are remembered."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from forecast import features, scoring
from forecast.data import store
from forecast.data.generator import generate_leads
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from serving.lead_lane import LeadLane
from serving.schemas import LeadScoreRequest
from tests.serving.conftest import auth, keys_of_every_role
from tests.serving.test_scores import LEAD

#: Sent as the route's own way: FastAPI reads this content type as JSON too; the lane does not.
ROUTE_ONLY = {"Content-Type": "application/json; charset=utf-8"}
PLAIN = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def lead_model():
    leads = generate_leads(1500, seed=3)
    X, _ = features.prepare_leads(leads, ["Tags"])
    return BoostedClassifier(random_state=1, n_estimators=40).fit(X, features.lead_labels(leads))


def _settings(tmp_path: Path, **extra: object) -> Settings:
    # Key checks remembered for a minute: the lane answers only keys this worker checked lately.
    return Settings(state_dir=tmp_path / "state", key_cache_seconds=60, **extra)


def _client(settings: Settings, lead_model) -> TestClient:
    app = create_app(settings)
    app.state.models.lead = scoring.Served(scoring.LEAD, select_scorer(lead_model), "4", "registry")
    return TestClient(app)


def _lane(client: TestClient) -> LeadLane:
    [lane] = [m.kwargs["lane"] for m in client.app.user_middleware if m.kwargs.get("lane")]
    return lane


def _post(client: TestClient, key: str, body: object, headers: dict[str, str]):
    return client.post(
        "/v1/leads/score", content=json.dumps(body), headers={**auth(key), **headers}
    )


def _score_log_rows(settings: Settings) -> int:
    with store.get_engine(settings).connect() as conn:
        return conn.execute(select(func.count()).select_from(store.score_log)).scalar_one()


def test_a_plain_request_is_answered_by_the_lane_exactly_as_the_route_answers_it(
    tmp_path, lead_model
):
    settings = _settings(tmp_path)
    key = keys_of_every_role(settings)["scorer"]
    body = {"id": "lead-1", "fields": LEAD}
    with _client(settings, lead_model) as client:
        lane = _lane(client)
        by_route = _post(client, key, body, ROUTE_ONLY)  # also remembers the key
        assert lane.answered == 0
        by_lane = _post(client, key, body, PLAIN)
        assert lane.answered == 1
    assert by_lane.status_code == by_route.status_code == 200
    assert by_lane.content == by_route.content
    assert by_lane.json()["id"] == "lead-1" and by_lane.json()["reasons_for"]

    def same(response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k != "x-request-id"}

    assert same(by_lane) == same(by_route)
    assert len(by_lane.headers["x-request-id"]) == 32
    assert _score_log_rows(settings) == 2  # each score logged once


def test_what_the_lane_cannot_answer_the_route_answers_as_before(tmp_path, lead_model):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    with _client(settings, lead_model) as client:
        lane = _lane(client)
        client.app.state.keys.verify(keys["viewer"])  # remembered: still refused, by the route
        missing = client.post("/v1/leads/score", json={"fields": LEAD})
        unknown = _post(client, "fk_not-a-key", {"fields": LEAD}, PLAIN)
        viewer = _post(client, keys["viewer"], {"fields": LEAD}, PLAIN)
        _post(client, keys["scorer"], {"fields": LEAD}, PLAIN)  # first check: by the route
        wrong_type = _post(client, keys["scorer"], {"fields": {"TotalVisits": [1]}}, PLAIN)
        malformed = client.post(
            "/v1/leads/score", content=b'{"fields": {', headers={**auth(keys["scorer"]), **PLAIN}
        )
        not_finite = client.post(
            "/v1/leads/score",
            content=b'{"fields": {"TotalVisits": NaN}}',
            headers={**auth(keys["scorer"]), **PLAIN},
        )
        unknown_dataset = client.post(
            "/v1/leads/score?dataset=nope", json={"fields": LEAD}, headers=auth(keys["scorer"])
        )
        assert lane.answered == 0
    assert missing.status_code == unknown.status_code == 401
    assert viewer.status_code == 403
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"].startswith("body.fields.TotalVisits")
    assert malformed.status_code == 422
    assert not_finite.status_code == 422
    assert "TotalVisits" in not_finite.json()["errors"][0]["field"]
    assert unknown_dataset.status_code == 404
    assert _score_log_rows(settings) == 1


def test_a_key_revoked_through_the_api_stops_at_once_though_checks_are_remembered(
    tmp_path, lead_model
):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    with _client(settings, lead_model) as client:
        assert _post(client, keys["scorer"], {"fields": LEAD}, PLAIN).status_code == 200
        assert _post(client, keys["scorer"], {"fields": LEAD}, PLAIN).status_code == 200
        assert _lane(client).answered == 1
        [listed] = [
            k
            for k in client.get("/v1/keys", headers=auth(keys["admin"])).json()
            if k["role"] == "scorer"
        ]
        revoked = client.delete(f"/v1/keys/{listed['id']}", headers=auth(keys["admin"]))
        assert revoked.status_code == 200
        after = _post(client, keys["scorer"], {"fields": LEAD}, PLAIN)
    assert after.status_code == 401
    assert after.json()["detail"] == "unknown or revoked API key"


def test_a_remembered_check_is_dropped_by_forget_and_a_look_up_racing_it_is_not_kept(
    tmp_path,
):
    settings = _settings(tmp_path)
    key = keys_of_every_role(settings)["scorer"]
    verifier = create_app(settings).state.keys
    record = verifier.verify(key)
    assert record is not None and verifier.remembered(key) == (record,)
    verifier.forget(record.id)
    assert verifier.remembered(key) is None
    original = verifier.engine.connect

    def connect_then_forget():  # a revoke while this look-up reads the store
        verifier.forget(record.id)
        return original()

    verifier.engine = type("E", (), {"connect": staticmethod(connect_then_forget)})()
    assert verifier.verify(key) == record  # the answer read, but not remembered
    assert verifier.remembered(key) is None


def test_lane_requests_are_counted_under_the_route_as_the_router_labels_it(tmp_path, lead_model):
    settings = _settings(tmp_path)
    key = keys_of_every_role(settings)["scorer"]
    with _client(settings, lead_model) as client:
        for _ in range(3):
            assert _post(client, key, {"fields": LEAD}, PLAIN).status_code == 200
        assert _lane(client).answered == 2
        metrics = client.get("/metrics").text
    [line] = [
        line
        for line in metrics.splitlines()
        if line.startswith("forecast_requests_total{")
        and "score" in line
        and 'status="200"' in line
    ]
    assert line.endswith(" 3.0")
    [served] = [
        line
        for line in metrics.splitlines()
        if line.startswith("forecast_score_probability_count{") and 'kind="lead"' in line
    ]
    assert served.endswith(" 3.0")


def test_with_cors_configured_every_request_takes_the_route(tmp_path, lead_model):
    settings = _settings(tmp_path, cors_origins=["https://crm.example"])
    key = keys_of_every_role(settings)["scorer"]
    with _client(settings, lead_model) as client:
        assert not [m for m in client.app.user_middleware if m.kwargs.get("lane")]
        for _ in range(2):
            answer = _post(client, key, {"fields": LEAD}, PLAIN)
            assert answer.status_code == 200
            assert "Origin" in answer.headers["vary"]


def test_score_bodies_are_rendered_as_starlettes_json_response_renders_them():
    from starlette.responses import JSONResponse

    from serving.routes.scores import ScoreJSON, render_json

    content = {
        "id": "lé-1\u2028",
        "probability": 0.21647742036449683,
        "score": 22,
        "reasons_for": [{"field": "Ville", "value": 1e-05, "contribution": -0.0, "s": True}],
        "reasons_against": [{"field": "x", "value": None, "contribution": 1e16}],
        "version": None,
        "nested": [[], {}, [1, 2.5, '"\\\n']],
    }
    assert render_json(content) == JSONResponse(content).body == ScoreJSON(content).body
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            render_json({"probability": bad})


#: Values at the edges of what a lead takes: bounds, zeros, escapes, what JSON cannot hold.
EDGES = [
    "1e15", "-1e15", "1000000000000000", "-1000000000000000", "1000000000000001", "1e15000",
    "1.0000000000000001e15", "1.0000000000000002e15", "-0.0", "-0", "0", "1E2", "0.1e1",
    "NaN", "Infinity", "[1]", "{}", '""', '"\\ud800"', '"\\ud83d\\ude00"', '"a\\u0000"',
    '"\\t\\n\\r"', '"\\u001f"', '"\\u007f"', '"\\u2028"', "true", "null",
]  # fmt: skip


def _random_body(rng: random.Random) -> bytes:
    """A lead body of random names, text (escaped or not, control characters now and then,
    beyond the BMP too), numbers written in many ways (digits, exponents, subnormals, integers)
    and values at the edges (`EDGES`)."""

    def char() -> str:
        if rng.random() < 0.02:
            return chr(rng.choice([0, 1, 9, 10, 13, 27, 31, 127]))
        return chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0xD7FF), 0x1F600]))

    def text() -> str:
        chars = "".join(char() for _ in range(rng.randint(0, 8)))
        return json.dumps(chars, ensure_ascii=rng.random() < 0.5)

    def number() -> str:
        way = rng.randrange(5)
        if way == 0:
            return repr(rng.uniform(-1e6, 1e6))
        if way == 1:  # any finite float of magnitude below 2**52, subnormals included
            return repr(struct.unpack("d", struct.pack("Q", rng.getrandbits(62) % 0x4330 << 48))[0])
        if way == 2:
            return f"{rng.uniform(-9, 9):.{rng.randint(1, 25)}e}"
        if way == 3:
            return rng.choice(EDGES)
        return str(rng.randint(-(10**15), 10**15))

    values = [number, number, text, lambda: rng.choice(["true", "false", "null"])]
    fields = ", ".join(f"{text()}: {rng.choice(values)()}" for _ in range(rng.randint(0, 8)))
    return f'{{"id": {text()}, "fields": {{{fields}}}}}'.encode()


def _repeats_a_name(body: bytes) -> bool:
    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        if len({k for k, _ in items}) < len(items):
            raise KeyError("a name repeated")
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except KeyError:
        return True
    return False


def test_the_lane_takes_and_refuses_what_the_route_does_and_reads_it_to_the_same_values():
    # The lane reads a body with LeadScoreRequest.model_validate_json (pydantic's JSON reader);
    # the route with json.loads then LeadScoreRequest.model_validate (FastAPI's way). One body
    # differs: a field named twice, whose every value the lane checks where the route sees only
    # the last (json.loads keeps it): the lane may refuse it, and hands it to the route.
    rng = random.Random(14)
    taken = refused = repeated = 0
    for _ in range(4000):
        body = _random_body(rng)
        try:
            lane: LeadScoreRequest | None = LeadScoreRequest.model_validate_json(body)
        except ValidationError:
            lane = None
        try:
            route: LeadScoreRequest | None = LeadScoreRequest.model_validate(json.loads(body))
        except ValidationError:
            route = None
        if lane is None and route is not None:
            assert _repeats_a_name(body), body
            repeated += 1
            continue
        assert (lane is None) == (route is None), body
        if lane is None or route is None:
            refused += 1
            continue
        taken += 1
        assert lane.id == route.id
        assert [(k, type(v), repr(v)) for k, v in lane.fields.items()] == [
            (k, type(v), repr(v)) for k, v in route.fields.items()
        ]
    assert taken > 1500 and refused > 1500 and repeated < 100


def test_the_lane_reads_the_usual_lead_and_leaves_what_the_route_refuses_to_the_route():
    usual = {"id": "lead-1", "fields": {**LEAD, "Notes": "two\nlines\tand a tab", "n": 10**15}}
    assert LeadScoreRequest.model_validate_json(json.dumps(usual)).fields == usual["fields"]
    for refused in ({"TotalVisits": 1e16}, {"City\t": "x"}, {"City": "a\x1bb"}, {"n": [1]}):
        with pytest.raises(ValidationError):
            LeadScoreRequest.model_validate({"fields": refused})
        with pytest.raises(ValidationError):
            LeadScoreRequest.model_validate_json(json.dumps({"fields": refused}))


@pytest.mark.parametrize(
    "body",
    [
        b'\xef\xbb\xbf{"fields": {"TotalVisits": 3}}',  # a byte-order mark: json.loads reads it
        '{"fields": {"Country": "Ind\u00eda"}}'.encode("utf-16"),
    ],
)
def test_a_body_only_json_loads_reads_is_scored_by_the_route(tmp_path, lead_model, body):
    settings = _settings(tmp_path)
    key = keys_of_every_role(settings)["scorer"]
    with _client(settings, lead_model) as client:
        lane = _lane(client)
        _post(client, key, {"fields": LEAD}, ROUTE_ONLY)  # remembers the key
        before = lane.handed_over
        answered = client.post("/v1/leads/score", content=body, headers={**auth(key), **PLAIN})
        assert (lane.answered, lane.handed_over) == (0, before + 1)
    assert answered.status_code == 200 and answered.json()["reasons_for"] is not None
