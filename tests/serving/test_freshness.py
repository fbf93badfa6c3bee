"""A running server serves what the CLI wrote beside it, without `POST /v1/admin/reload`: a
dataset imported, a dataset imported again, a champion trained (its registry made meanwhile);
it does not reload while nothing changed, keeps a model pinned before start-up, and does not
load again and again a change whose set it refused. A reload loads only what changed: the
champions serving and the other datasets' dashboard views stay as they were."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from forecast import model_sources, scoring
from forecast.model_sources import Sources
from forecast.modeling import registry
from forecast.modeling.contributions import path_contributions
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving import freshness
from serving.app import create_app
from serving.dashboard import page as overview
from tests.forecast import synthetic
from tests.serving.conftest import auth, import_generated, keys_of_every_role
from tests.serving.test_dashboard import sign_in

DEAL = {"stage": "Demonstration", "created_at": "2024-11-01T00:00:00", "amount": 5000}
LEAD = {"Lead Source": "Reference", "TotalVisits": 5, "Country": "India", "Do Not Email": "No"}
CHECK = 0.2  # seconds between checks in these tests
PATIENCE = 60.0  # a loaded CI machine: what a check and a reload may take at most
#: A served model's stand-in where only its version and source matter.
SCORER = SimpleNamespace(label="model", method="model")


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        **{
            "state_dir": tmp_path / "state",
            "key_cache_seconds": 0,
            "lgbm_threads": 2,
            "min_converted_leads": 50,
            "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "reload_check_seconds": CHECK,
            **changes,
        }
    )


def _until(ask: Callable[[], Response], ok: Callable[[Response], bool]) -> Response:
    """`ask()` again until its answer is `ok` (or `PATIENCE` runs out): the last answer."""
    deadline = time.monotonic() + PATIENCE
    while True:
        answer = ask()
        if ok(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def _score_deal(client: TestClient, key: str, dataset: str | None = None) -> Response:
    query = f"?dataset={dataset}" if dataset else ""
    return client.post(f"/v1/deals/score{query}", json=DEAL, headers=auth(key))


def _loaded_at(client: TestClient, key: str) -> str:
    return client.get("/v1/models", headers=auth(key)).json()["loaded_at"]


def test_a_deal_dataset_imported_after_the_server_started_is_scored_without_a_reload(tmp_path):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    with TestClient(create_app(settings)) as client:
        assert _score_deal(client, keys["scorer"]).status_code == 503  # nothing imported yet
        import_generated(settings)  # `forecast import`, beside the server

        scored = _until(lambda: _score_deal(client, keys["scorer"]), lambda r: r.is_success)
        assert scored.status_code == 200, scored.text
        assert scored.json()["dataset"] == "crm" and "fallback" in scored.json()["label"]
        served = client.get("/v1/models", headers=auth(keys["viewer"])).json()["models"]
        assert [(m["kind"], m["dataset"]) for m in served] == [("deals", "crm")]


def test_a_second_dataset_imported_after_start_is_scored_by_name(tmp_path):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    import_generated(settings)
    with TestClient(create_app(settings)) as client:
        assert _score_deal(client, keys["scorer"], "crm").status_code == 200
        assert _score_deal(client, keys["scorer"], "second").status_code == 404
        _import_as(settings, "second")

        scored = _until(
            lambda: _score_deal(client, keys["scorer"], "second"), lambda r: r.is_success
        )
        assert scored.status_code == 200 and scored.json()["dataset"] == "second"


def _import_as(settings: Settings, dataset: str, deals: int = 300, seed: int = 11) -> None:
    from forecast.data import store
    from forecast.data.generator import generate_pipeline
    from forecast.data.importing import import_frame
    from forecast.data.mapping import load_mapping

    frame = generate_pipeline(deals, seed=seed).opportunities.drop(columns=["status"])
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset=dataset)


def test_a_dataset_imported_again_is_scored_as_a_server_started_now_scores_it(tmp_path):
    """The deal context (stages, the per-stage and the reps' past win rates) follows the data."""
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    import_generated(settings, deals=300, seed=5)
    with TestClient(create_app(settings)) as client:
        before = _score_deal(client, keys["scorer"]).json()["probability"]
        loaded = _loaded_at(client, keys["viewer"])
        _import_as(settings, "crm", deals=900, seed=8)  # more deals, other outcomes

        _until(
            lambda: client.get("/v1/models", headers=auth(keys["viewer"])),
            lambda r: r.json()["loaded_at"] != loaded,
        )
        after = _score_deal(client, keys["scorer"]).json()["probability"]
    with TestClient(create_app(settings.model_copy(update={"reload_check_seconds": 0}))) as fresh:
        started_now = _score_deal(fresh, keys["scorer"]).json()["probability"]
    assert started_now != before  # the import changed what a deal of this stage scores
    assert after == started_now


@pytest.fixture(scope="module")
def lead_result():  # noqa: ANN201 - a fitted lead model, not yet registered
    return train_leads(
        synthetic.leads(1200, seed=0),
        leak_columns=["Tags"],
        cross_validate=False,
        settings=Settings(lgbm_threads=2, min_converted_leads=50),
        dataset="web",
    )


def test_a_lead_champion_trained_after_the_server_started_is_served_without_a_reload(
    tmp_path, lead_result
):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    score = lambda: client.post(  # noqa: E731
        "/v1/leads/score?dataset=web", json={"fields": LEAD}, headers=auth(keys["scorer"])
    )
    with TestClient(create_app(settings)) as client:
        assert score().status_code == 404  # no model serves dataset web yet
        registry.log_training(lead_result, settings)  # `forecast train leads`, beside it

        scored = _until(score, lambda r: r.is_success)
        assert scored.status_code == 200, scored.text
        assert scored.json()["model"] == "lead-qualification.web"
        assert scored.json()["version"] == "1"
        assert client.get("/readyz").status_code == 200


def test_nothing_is_reloaded_while_nothing_changes(tmp_path):
    settings = _settings(tmp_path)
    import_generated(settings)
    with TestClient(create_app(settings)) as client:
        serving = client.app.state.models
        assert serving.sources is not None and serving.any_served
        time.sleep(10 * CHECK)
        assert client.app.state.models is serving


def test_a_model_pinned_before_start_up_is_kept_by_a_reload(tmp_path, lead_result):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    app = create_app(settings)
    pinned = scoring.Served(scoring.LEAD, select_scorer(lead_result.model), "7", "registry")
    app.state.models.lead = pinned
    with TestClient(app) as client:
        loaded = _loaded_at(client, keys["viewer"])
        import_generated(settings)
        _until(lambda: _score_deal(client, keys["scorer"]), lambda r: r.is_success)
        assert _loaded_at(client, keys["viewer"]) != loaded
        assert app.state.models.lead is pinned


def test_a_change_whose_set_would_serve_worse_is_not_loaded_again_and_again(tmp_path, monkeypatch):
    """A registry away while a dataset changes: one load, refused (the serving set keeps
    serving and says so), and the next checks wait for something else to change or for
    `reload_retry_seconds` to pass."""
    # Nothing trained (no tracking store of its own): the fallback serves, and is not degraded.
    settings = _settings(tmp_path, mlflow_tracking_uri=None, reload_check_seconds=0)
    # Checked by hand here.
    keys = keys_of_every_role(settings)
    import_generated(settings)
    with TestClient(create_app(settings)) as client:
        serving = client.app.state.models
        loads: list[int] = []

        def worse(settings, engine, previous=None):  # noqa: ANN001, ANN202 - the registry away
            loads.append(1)
            return scoring.ModelSet(degraded=["deals: worse"], sources=serving.sources)

        now = Sources(frozenset({("crm", "opportunities", "later")}), None)
        monkeypatch.setattr(scoring, "load_model_set", worse)
        monkeypatch.setattr(freshness, "current_sources", lambda settings, engine: now)
        check = freshness.Freshness()
        assert client.portal.call(check.check, client.app.state) is True
        assert client.portal.call(check.check, client.app.state) is False
        assert len(loads) == 1
        assert client.app.state.models.deal is serving.deal
        assert _score_deal(client, keys["scorer"]).status_code == 200
        detailed = client.get("/readyz", headers=auth(keys["viewer"])).json()
        assert any(p.startswith(freshness.NOT_APPLIED) for p in detailed["problems"])
        check.retry_at = 0.0  # `reload_retry_seconds` later: a registry timeout may have healed
        check.not_before = 0.0  # and past the wait after the last reload, however slow it ran
        assert client.portal.call(check.check, client.app.state) is True
        assert len(loads) == 2
        check.retry_at = 0.0

        now = Sources(frozenset({("crm", "opportunities", "later still")}), None)
        check.not_before = 0.0  # past the wait after the last reload
        assert client.portal.call(check.check, client.app.state) is True
        assert len(loads) == 3


def test_a_dataset_that_keeps_changing_waits_its_turn_but_a_new_champion_does_not(
    tmp_path, monkeypatch
):
    """A reload that took T seconds is followed by one for a dataset's change alone no sooner
    than T / RELOAD_SHARE after it started: a CRM pushing without pause does not keep the
    server reloading."""
    settings = _settings(tmp_path, mlflow_tracking_uri=None, reload_check_seconds=0)
    import_generated(settings)
    with TestClient(create_app(settings)) as client:
        loads: list[Sources] = []

        def slow(settings, engine, previous=None):  # noqa: ANN001, ANN202 - a slow reload
            time.sleep(0.5)  # the next may start no sooner than 5 s after this one started
            loads.append(now)
            return scoring.ModelSet(sources=now)

        def pushed(version: str, champions: frozenset = frozenset()) -> Sources:
            return Sources(frozenset({("crm", "opportunities", version)}), champions)

        now = pushed("1")
        monkeypatch.setattr(scoring, "load_model_set", slow)
        monkeypatch.setattr(freshness, "current_sources", lambda settings, engine: now)
        check = freshness.Freshness()
        assert client.portal.call(check.check, client.app.state) is True
        now = pushed("2")  # pushed to again, at once
        assert client.portal.call(check.check, client.app.state) is False
        now = pushed("2", frozenset({("deals", "crm", "1")}))  # `forecast train deals`
        assert client.portal.call(check.check, client.app.state) is True
        assert [s.datasets for s in loads] == [pushed("1").datasets, pushed("2").datasets]


def _reloaded(client: TestClient, key: str, loaded: str) -> None:
    """Wait for a set loaded after `loaded` to serve."""
    _until(
        lambda: client.get("/v1/models", headers=auth(key)),
        lambda r: r.json()["loaded_at"] != loaded,
    )
    assert _loaded_at(client, key) != loaded


def test_a_push_to_a_dataset_keeps_the_champions_loaded_and_their_compiled_trees(
    tmp_path, lead_result, monkeypatch
):
    """A CRM pushing to one dataset costs that dataset's context: no champion is asked of the
    registry again, and the one serving keeps its model and the trees compiled for it."""
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    registry.log_training(lead_result, settings)
    import_generated(settings)
    with TestClient(create_app(settings)) as client:
        served = client.app.state.models.leads["web"]
        model = served.scorer.model
        compiled = path_contributions(model).compile(model.booster_)  # seconds, once per model
        context = client.app.state.models.deal_contexts["crm"]
        loads: list[str | None] = []
        load_champion = registry.load_champion

        def counted(kind, settings=None, dataset=None):  # noqa: ANN001, ANN202
            loads.append(dataset)
            return load_champion(kind, settings, dataset)

        monkeypatch.setattr(registry, "load_champion", counted)
        loaded = _loaded_at(client, keys["viewer"])
        _import_as(settings, "crm", deals=400, seed=9)  # a push to crm

        _reloaded(client, keys["viewer"], loaded)
        models = client.app.state.models
        assert loads == []
        assert models.leads["web"] is served
        assert path_contributions(model).compile(model.booster_) is compiled  # not made again
        assert models.deal_contexts["crm"] is not context  # crm's own context follows its data
        scored = client.post(
            "/v1/leads/score?dataset=web", json={"fields": LEAD}, headers=auth(keys["scorer"])
        )
        assert scored.status_code == 200 and scored.json()["version"] == "1"


def test_a_reload_for_one_dataset_keeps_the_other_datasets_dashboard_views(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    keys = keys_of_every_role(settings)
    import_generated(settings)
    _import_as(settings, "second")
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, keys["viewer"]).status_code == 303
        assert client.get("/?dataset=second").status_code == 200
        built: list[str] = []
        build = overview.build_overview

        def counted(engine, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            built.append(data.name)
            return build(engine, data, *args, **kwargs)

        monkeypatch.setattr(overview, "build_overview", counted)
        loaded = _loaded_at(client, keys["viewer"])
        _import_as(settings, "crm", seed=9)  # a push to crm

        _reloaded(client, keys["viewer"], loaded)
        assert client.get("/?dataset=second").status_code == 200
        assert built == []  # second's view, from the cache
        assert client.get("/?dataset=crm").status_code == 200
        assert built == ["crm"]


def test_a_champion_served_from_a_local_copy_is_tried_again_later(tmp_path, monkeypatch):
    """The registry lists v3, but its artifact would not download and the local copy serves:
    the set records v3 as not loaded, so the check loads again, once a retry is due (not at
    every check), and stops once v3 serves."""
    listed = {"leads": {"crm": "3"}, "deals": {}}
    local = scoring.Served("leads", SCORER, "2", "local copy", dataset="crm")  # type: ignore[arg-type]
    fresh = scoring.Served("leads", SCORER, "3", "registry", dataset="crm")  # type: ignore[arg-type]
    recorded = model_sources.loaded_champions(listed, {"leads": {"crm": local}})
    assert recorded == frozenset({("leads", "crm", "3" + model_sources.NOT_LOADED)})
    assert model_sources.loaded_champions(listed, {"leads": {"crm": fresh}}) == frozenset(
        {("leads", "crm", "3")}
    )

    settings = _settings(tmp_path, mlflow_tracking_uri=None, reload_check_seconds=0)
    now = Sources(frozenset(), model_sources.champions_of(listed))
    loads: list[scoring.Served] = []
    results = [local, fresh]

    def load(settings, engine, previous=None):  # noqa: ANN001, ANN202 - the download fails once
        served = results[len(loads)]
        loads.append(served)
        made = scoring.ModelSet(sources=None)
        made.leads["crm"] = served
        made.sources = Sources(
            frozenset(), model_sources.loaded_champions(listed, {"leads": {"crm": served}})
        )
        return made

    with TestClient(create_app(settings)) as client:
        state = client.app.state
        state.models = scoring.ModelSet(sources=Sources(frozenset(), recorded))
        monkeypatch.setattr(scoring, "load_model_set", load)
        monkeypatch.setattr(freshness, "current_sources", lambda settings, engine: now)
        check = freshness.Freshness()
        assert client.portal.call(check.check, state) is True  # v3 not loaded: try it
        assert client.portal.call(check.check, state) is False  # failed again: wait
        assert loads == [local]
        check.retry_at = 0.0  # a minute later
        assert client.portal.call(check.check, state) is True
        assert state.models.leads["crm"] is fresh
        assert client.portal.call(check.check, state) is False  # v3 serves: nothing to do
        assert loads == [local, fresh]
