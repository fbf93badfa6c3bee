"""Which dataset's model scores a request (`ModelSet.pick`), and which datasets a load serves:
every dataset with a champion, every stored one (its fallback where it has none), and a
default per kind only where it is settled."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from forecast import model_set, scoring
from forecast.data import store
from forecast.data.generator import generate_leads, generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.errors import InvalidInput, ModelNotReady, NotFound
from forecast.modeling.registry import LoadedModel
from forecast.modeling.registry.client import current_visit
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings


def _served(kind: str, dataset: str, source: str = "registry") -> scoring.Served:
    version = None if source == "fallback" else "1"
    return scoring.Served(kind, select_scorer(None, base_rate=0.3), version, source, {}, dataset)


def _set(*served: scoring.Served, default: str | None = None) -> scoring.ModelSet:
    return scoring.ModelSet(leads={s.dataset or "": s for s in served}, default_lead=default)


def test_a_named_dataset_is_scored_by_its_own_model():
    a, b = _served("leads", "a"), _served("leads", "b")
    models = _set(a, b, default="a")
    assert models.pick("leads", "b") == ("b", b)
    assert models.pick("leads") == ("a", a) and models.lead is a
    assert b.name == "lead-qualification.b"


def test_an_unknown_dataset_is_not_found_without_naming_the_served_ones():
    """A client may be bound to one dataset: the others' names are not its to read (GET
    /v1/models lists what its key may use)."""
    models = _set(_served("leads", "a"), _served("leads", "b"), default="a")
    with pytest.raises(NotFound, match=r"'west'.*GET /v1/models") as refused:
        models.pick("leads", "west")
    assert "'a'" not in str(refused.value) and "'b'" not in str(refused.value)


def test_no_dataset_named_and_no_default_asks_for_one_naming_them():
    models = _set(_served("leads", "a"), _served("leads", "b"))
    with pytest.raises(InvalidInput, match=r"a, b.*FORECAST_LEAD_DATASET.*\?dataset="):
        models.pick("leads")


def test_nothing_served_is_not_ready_saying_why_in_plain_words():
    models = scoring.ModelSet(degraded=["deals: the registry is away"])
    with pytest.raises(ModelNotReady, match="the registry is away"):
        models.pick("deals")


def test_a_model_pinned_without_a_dataset_serves_as_the_default():
    pinned = scoring.Served("leads", select_scorer(None, base_rate=0.3), "7", "registry")
    models = scoring.ModelSet()
    models.lead = pinned
    assert models.pick("leads") == ("", pinned) and pinned.name == "lead-qualification"
    loaded = _set(_served("leads", "a"), default="a")
    loaded.lead = pinned  # pinned over a loaded set: the default dataset's model
    assert loaded.pick("leads") == ("a", pinned)


@pytest.mark.parametrize(
    ("chosen", "served", "default"),
    [
        ("b", {"a": "registry", "b": "fallback"}, "b"),
        (None, {"a": "fallback"}, "a"),
        (None, {"a": "fallback", "b": "local copy"}, "b"),
        (None, {"a": "registry", "b": "registry"}, None),
        (None, {}, None),
    ],
)
def test_the_default_is_the_chosen_else_the_only_one_else_the_only_champion(
    chosen, served, default
):
    by_name = {name: _served("leads", name, source) for name, source in served.items()}
    assert model_set._default(chosen, by_name) == default


# --- a load -----------------------------------------------------------------------------------

CHAMPION = object()  # stands in for a fitted model


@pytest.fixture
def stored(sqlite_engine: Engine) -> Engine:
    """Deals of `north` and labelled leads of `web` in the store."""
    deals = generate_pipeline(300, seed=3).opportunities.drop(columns=["status"])
    import_frame(sqlite_engine, deals, load_mapping("canonical"), dataset="north")
    leads = generate_leads(200, seed=2).drop(columns=["created_at"])
    leads = leads.rename(columns={"id": "Prospect ID", "converted": "Converted"})
    import_frame(sqlite_engine, leads, load_mapping("x_education_leads"), dataset="web")
    return sqlite_engine


@pytest.fixture
def registry_of(monkeypatch):  # noqa: ANN001, ANN201 - a registry holding the champions given
    def install(
        champions: dict[str, list[str]], versions: dict[str, str] | None = None
    ) -> list[tuple[str, str | None]]:
        """`champions` of each kind by dataset, at `versions[dataset]` (else "3"), both as they
        are when asked; the datasets whose champion was loaded, as (kind, dataset)."""
        asked: list[tuple[str, str | None]] = []
        version = ({} if versions is None else versions).get

        def load_champion(kind, settings=None, dataset=None):  # noqa: ANN001, ANN202
            asked.append((kind, dataset))
            if dataset in champions[kind]:
                served = version(dataset, "3")
                return LoadedModel(kind, served, CHAMPION, None, "registry", dataset=dataset)
            return None

        def listing(kind, settings):  # noqa: ANN001, ANN202
            return champions[kind], {d: version(d, "3") for d in champions[kind]}

        registry = model_set.registry
        monkeypatch.setattr(registry, "champion_listing", listing)
        monkeypatch.setattr(registry, "load_champion", load_champion)
        monkeypatch.setattr(registry, "show_model", lambda *a, **k: {"params": {}})
        real = model_set.select_scorer

        def select(model=None, **kwargs):  # noqa: ANN001, ANN202
            return real(None, base_rate=0.9) if model is CHAMPION else real(model, **kwargs)

        monkeypatch.setattr(model_set, "select_scorer", select)
        monkeypatch.setattr(model_set, "family_of", lambda model: "lightgbm")
        return asked

    return install


def test_every_champion_and_every_stored_dataset_is_served(stored, registry_of, tmp_path):
    asked = registry_of({"leads": ["crm-a"], "deals": ["north", "ghost"]})
    models = scoring.load_model_set(Settings(state_dir=tmp_path / "state"), stored)
    assert {n: s.source for n, s in models.leads.items()} == {
        "crm-a": "registry",
        "web": "fallback",
    }
    assert {n: s.source for n, s in models.deals.items()} == {"north": "registry"}
    assert models.leads["crm-a"].name == "lead-qualification.crm-a"
    assert models.deals["north"].scorer.label == "model close-probability.north v3 (lightgbm)"
    assert models.default_lead == "crm-a"  # two served, one of them a champion
    assert models.default_deal == "north" and models.deal_context.dataset == "north"
    assert models.degraded == []
    assert any("'ghost'" in p and "cannot be scored" in p for p in models.problems)
    assert ("deals", "ghost") not in asked  # a champion that cannot serve is not downloaded
    assert ("leads", "web") not in asked  # listed as having none: not asked again
    # What it was loaded from, for a server to notice a change: the champions as listed.
    assert models.sources is not None and models.sources.champions == {
        ("leads", "crm-a", "3"),
        ("deals", "north", "3"),
        ("deals", "ghost", "3"),
    }
    assert {(name, kind) for name, kind, _ in models.sources.datasets} == {
        ("web", "leads"),
        ("north", "opportunities"),
    }


def test_a_chosen_default_that_nothing_serves_is_degraded(stored, registry_of, tmp_path):
    registry_of({"leads": [], "deals": []})
    settings = Settings(state_dir=tmp_path / "state", lead_dataset="nowhere", deal_dataset="web")
    models = scoring.load_model_set(settings, stored)
    assert models.degraded == [scoring.LEAD_DATASET_MISSING, scoring.DATASET_MISSING]
    assert models.lead is None and models.deal is None
    assert set(models.leads) == {"web"} and set(models.deals) == {"north"}


def test_a_stored_lead_dataset_falls_back_on_its_own_base_rate(stored, registry_of, tmp_path):
    registry_of({"leads": [], "deals": []})
    models = scoring.load_model_set(Settings(state_dir=tmp_path / "state"), stored)
    labels = store.load_leads(stored, "web")["converted"].dropna()
    [score] = scoring.score(models.leads["web"], [{}])
    assert score.probability == pytest.approx(float(labels.mean()))
    assert score.method == "base_rate"


def test_with_the_registry_unread_each_stored_dataset_serves_its_local_copy_or_is_degraded(
    stored, registry_of, monkeypatch, tmp_path
):
    registry_of({"leads": [], "deals": []})
    registry = model_set.registry

    def unread(kind, settings):  # noqa: ANN001, ANN202 - as a silent registry fails
        raise current_visit().fail("the registry cannot be reached")

    def local_copy_of_web(kind, settings=None, dataset=None):  # noqa: ANN001, ANN202
        if dataset == "web":
            trained = "2024-05-01T09:30:00+00:00"  # as the local copy's pointer keeps it
            return LoadedModel(
                kind, "2", CHAMPION, None, "local copy", "timed out", dataset, trained_at=trained
            )
        raise ModelNotReady("the registry cannot be reached, and there is no local copy")

    monkeypatch.setattr(registry, "champion_listing", unread)
    monkeypatch.setattr(registry, "load_champion", local_copy_of_web)
    models = scoring.load_model_set(Settings(state_dir=tmp_path / "state"), stored)
    assert models.leads["web"].source == "local copy" and models.leads["web"].version == "2"
    # When it was trained, said with the registry unread (GET /v1/models, the model card).
    assert models.leads["web"].details["trained_at"] == "2024-05-01T09:30:00+00:00"
    assert models.deals["north"].source == "fallback"  # the stage win rates still score
    assert models.degraded == [f"deals: {scoring.REGISTRY_DOWN}"]
    assert any(p.startswith("leads: serving the local copy v2") for p in models.problems)
    assert models.sources is not None and models.sources.champions is None  # not known


# --- a reload: what did not change is kept -----------------------------------------------------


def _push(engine: Engine, dataset: str, seed: int) -> None:
    """Deals of `dataset` imported (again), as a CRM push or `forecast import` does."""
    deals = generate_pipeline(300, seed=seed).opportunities.drop(columns=["status"])
    import_frame(engine, deals, load_mapping("canonical"), dataset=dataset)


def test_a_reload_after_a_push_loads_no_champion_again_and_rebuilds_only_that_datasets_context(
    stored, registry_of, tmp_path
):
    _push(stored, "south", seed=4)
    asked = registry_of({"leads": ["crm-a"], "deals": ["north", "south"]})
    settings = Settings(state_dir=tmp_path / "state")
    serving = scoring.load_model_set(settings, stored)
    assert ("deals", "south") in asked
    asked.clear()
    _push(stored, "south", seed=6)  # a CRM pushes to south

    models = scoring.load_model_set(settings, stored, previous=serving)
    assert asked == []  # no champion downloaded nor deserialised again
    assert models.leads["crm-a"] is serving.leads["crm-a"]
    assert models.deals["north"] is serving.deals["north"]
    assert models.deal_contexts["north"] is serving.deal_contexts["north"]
    assert models.leads["web"] is serving.leads["web"]  # web's fallback: its leads unchanged
    # South's champion: the same model (what was made on it kept), on south's data as it is now.
    assert models.deals["south"].scorer is serving.deals["south"].scorer
    now = scoring.deal_context(stored, "south").history.deals
    assert models.deal_contexts["south"].history.deals.equals(now)
    assert not serving.deal_contexts["south"].history.deals.equals(now)


def test_a_reload_loads_a_champion_whose_version_changed_and_keeps_the_others(
    stored, registry_of, tmp_path
):
    versions: dict[str, str] = {}
    asked = registry_of({"leads": ["crm-a"], "deals": ["north"]}, versions)
    settings = Settings(state_dir=tmp_path / "state")
    serving = scoring.load_model_set(settings, stored)
    asked.clear()
    versions["north"] = "4"  # `forecast train deals` promoted a new one beside the server

    models = scoring.load_model_set(settings, stored, previous=serving)
    assert asked == [("deals", "north")]
    assert models.deals["north"].version == "4"
    assert models.deals["north"].scorer.label.endswith("v4 (lightgbm)")
    assert models.leads["crm-a"] is serving.leads["crm-a"]
    assert models.deal_contexts["north"] is serving.deal_contexts["north"]


def test_a_reload_loads_again_what_it_cannot_tell_is_unchanged(stored, registry_of, tmp_path):
    """A champion served from its local copy (the registry was away) is read from the registry
    once it answers, and a set not loaded from the store (a test's) keeps nothing."""
    asked = registry_of({"leads": ["crm-a"], "deals": ["north"]})
    settings = Settings(state_dir=tmp_path / "state")
    serving = scoring.load_model_set(settings, stored)
    copy = serving.leads["crm-a"]
    serving.leads["crm-a"] = scoring.Served(
        copy.kind, copy.scorer, copy.version, "local copy", {}, "crm-a"
    )
    asked.clear()
    models = scoring.load_model_set(settings, stored, previous=serving)
    assert asked == [("leads", "crm-a")] and models.leads["crm-a"].source == "registry"
    assert models.deals["north"] is serving.deals["north"]

    asked.clear()
    pinned = scoring.ModelSet(leads=dict(models.leads), deals=dict(models.deals))
    again = scoring.load_model_set(settings, stored, previous=pinned)
    assert sorted(asked) == [("deals", "north"), ("leads", "crm-a")]
    assert again.deals["north"] is not models.deals["north"]
