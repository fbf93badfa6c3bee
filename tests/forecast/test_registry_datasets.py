"""One registered model per dataset: a second CRM's model never replaces or is weighed against
the first one's, each dataset's champion is served (from its local copy when MLflow is down),
and acting without naming a dataset works only when there is one.

Each test gets its own MLflow SQLite file through a settings override.
"""

from __future__ import annotations

import copy

import pytest

from forecast.errors import InvalidInput, ModelNotReady, NotFound
from forecast.modeling import promotion, registry
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.registry import client as registry_client
from forecast.settings import Settings
from tests.forecast import synthetic

A, B = "crm-a", "hubspot/b:2"  # B's name holds the characters MLflow refuses in a model name


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        lgbm_threads=2,
        min_converted_leads=50,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )


@pytest.fixture(scope="module")
def trained() -> TrainingResult:
    return train_leads(
        synthetic.leads(1200),
        leak_columns=["Tags"],
        cross_validate=False,
        settings=Settings(lgbm_threads=2, min_converted_leads=50),
        dataset=A,
    )


def _on(result: TrainingResult, dataset: str, auc_change: float = 0.0) -> TrainingResult:
    """`result` as if trained on `dataset`, its holdout AUC moved by `auc_change`."""
    out = copy.copy(result)
    out.dataset = dataset
    out.metrics = copy.deepcopy(result.metrics)
    out.metrics["model"]["roc_auc"] += auc_change
    return out


def _offline(settings: Settings) -> Settings:
    return settings.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9/nowhere"})


def test_the_model_name_is_per_dataset_and_safe_for_mlflow():
    assert registry.model_name("leads", A) == "lead-qualification.crm-a"
    assert registry.model_name("deals", B) == "close-probability.hubspot_b_2"
    with pytest.raises(InvalidInput, match="dataset"):
        registry.model_name("leads", " ")


def test_a_second_dataset_neither_replaces_nor_is_weighed_against_the_first(settings, trained):
    first = registry.log_training(trained, settings)
    assert first.promoted and first.dataset == A
    row = trained.input_example.iloc[0].to_dict()
    before = registry.load_champion("leads", settings, dataset=A).model.score_row(row)

    # A worse model on B: against A's champion it would lose; B has no champion, so it wins B.
    second = registry.log_training(_on(trained, B, -0.02), settings)
    assert second.promoted and second.version == "1" and second.champion_before is None
    assert second.name == "lead-qualification.hubspot_b_2" and second.dataset == B
    assert promotion.NO_CHAMPION in second.reasons
    assert not any("champion (v" in reason for reason in second.reasons)

    assert registry.champion_version("leads", settings, dataset=A) == "1"
    loaded = registry.load_champion("leads", settings, dataset=A)
    assert loaded.dataset == A and loaded.model.score_row(row) == pytest.approx(before)
    assert registry.load_champion("leads", settings, dataset=B).dataset == B
    assert registry.champion_datasets("leads", settings) == sorted([A, B])
    assert registry.champion_datasets("deals", settings) == []
    assert registry.champion_versions("leads", settings) == {A: "1", B: "1"}
    rows = registry.list_models(settings)
    assert [(r["dataset"], r["version"], r["aliases"]) for r in rows] == sorted(
        [(A, "1", ["candidate", "champion"]), (B, "1", ["candidate", "champion"])]
    )
    with registry_client._mlflow(settings) as client:
        tag = client.get_registered_model(second.name).tags["dataset"]
    assert tag == B  # the exact name, read from the tag


def test_a_new_model_is_weighed_against_its_own_datasets_champion(settings, trained):
    registry.log_training(trained, settings)
    registry.log_training(_on(trained, B, -0.02), settings)
    worse_on_a = registry.log_training(_on(trained, A, -0.001), settings)
    assert not worse_on_a.promoted and worse_on_a.champion_before == "1"
    assert worse_on_a.name == registry.model_name("leads", A)
    assert registry.champion_version("leads", settings, dataset=B) == "1"


def test_without_a_dataset_the_only_one_is_meant_and_several_are_named(settings, trained):
    assert registry.load_champion("leads", settings) is None
    assert registry.champion_version("leads", settings) is None
    with pytest.raises(NotFound, match="no leads model registered yet"):
        registry.show_model("leads", settings=settings)
    registry.log_training(trained, settings)
    assert registry.load_champion("leads", settings).dataset == A
    assert registry.show_model("leads", settings=settings)["dataset"] == A
    registry.log_training(_on(trained, B), settings)
    for act in (
        lambda: registry.load_champion("leads", settings),
        lambda: registry.champion_version("leads", settings),
        lambda: registry.show_model("leads", settings=settings),
        lambda: registry.promote("leads", settings=settings),
        lambda: registry.rollback("leads", settings),
    ):
        with pytest.raises(InvalidInput, match=r"several datasets .*pass --dataset") as err:
            act()
        assert A in str(err.value) and B in str(err.value)
    with pytest.raises(NotFound, match="registered for dataset 'nope'"):
        registry.promote("leads", settings=settings, dataset="nope")


def test_promote_and_rollback_act_on_one_dataset(settings, trained):
    registry.log_training(trained, settings)
    registry.log_training(_on(trained, B), settings)
    better = _on(trained, A, 0.01)
    better.metrics["model"]["brier"] -= 0.01
    assert not registry.log_training(
        better, settings, promote=False, champion_version_scored="1"
    ).promoted
    assert registry.promote("leads", settings=settings, dataset=A).promote
    assert registry.champion_version("leads", settings, dataset=A) == "2"
    assert registry.champion_version("leads", settings, dataset=B) == "1"
    with pytest.raises(InvalidInput, match="no earlier leads champion of dataset"):
        registry.rollback("leads", settings, dataset=B)
    assert registry.rollback("leads", settings, dataset=A) == "1"
    assert registry.champion_version("leads", settings, dataset=A) == "1"
    assert registry.champion_version("leads", settings, dataset=B) == "1"


def test_every_datasets_local_copy_serves_when_the_registry_is_unreachable(settings, trained):
    registry.log_training(trained, settings)
    registry.log_training(_on(trained, B), settings)
    for dataset in (A, B):
        assert registry.load_champion("leads", settings, dataset=dataset).source == "registry"
    gone = _offline(settings)
    assert registry.champion_datasets("leads", gone) == sorted([A, B])
    for dataset in (A, B):
        offline = registry.load_champion("leads", gone, dataset=dataset)
        assert (offline.source, offline.dataset, offline.version) == ("local copy", dataset, "1")
    with pytest.raises(InvalidInput, match="several datasets"):
        registry.load_champion("leads", gone)
    with pytest.raises(ModelNotReady, match="no local copy"):
        registry.champion_datasets("deals", gone)


def test_a_serving_visit_reads_the_local_copies_once_the_registry_fails(settings, trained):
    registry.log_training(trained, settings)
    registry.load_champion("leads", settings, dataset=A)
    gone = _offline(settings).model_copy(
        update={"mlflow_timeout_seconds": 0.2, "mlflow_max_retries": 0}
    )
    with registry_client.visit(gone) as within:
        assert registry.champion_datasets("leads", gone) == [A]
        assert within.failure is not None  # the registry is not asked again in this visit
        assert registry.load_champion("leads", gone).source == "local copy"


def test_a_dataset_less_model_of_an_earlier_install_is_ignored(settings, trained):
    with registry_client._mlflow(settings) as client:
        client.create_registered_model("lead-qualification")  # the old single name
        client.create_registered_model("lead-qualification.untagged")  # no dataset tag
    assert registry.list_models(settings) == []
    assert registry.champion_datasets("leads", settings) == []
    assert registry.load_champion("leads", settings) is None
    assert registry.log_training(trained, settings).promoted
    assert [r["dataset"] for r in registry.list_models(settings)] == [A]


def test_two_datasets_that_would_share_a_name_are_refused(settings, trained):
    registry.log_training(_on(trained, "crm/x"), settings)
    with pytest.raises(InvalidInput, match="'crm:x' would be registered as"):
        registry.log_training(_on(trained, "crm:x"), settings)
    assert [r["dataset"] for r in registry.list_models(settings)] == ["crm/x"]


def test_each_dataset_has_its_own_timing_champion(settings):
    from tests.forecast.test_registry import _timing_result

    good, worse = _timing_result(0.72, 0.070), _timing_result(0.71, 0.075)
    good.dataset, worse.dataset = A, B
    assert registry.log_training(good, settings).promoted
    on_b = registry.log_training(worse, settings)  # worse than A's: judged against B's (none)
    assert on_b.promoted and on_b.champion_before is None
    assert on_b.name == "time-to-close.hubspot_b_2"
    assert registry.load_timing_champion(settings, dataset=A)[0] == "1"
    assert registry.load_timing_champion(settings, dataset=B)[0] == "1"
    with pytest.raises(InvalidInput, match="several datasets"):
        registry.load_timing_champion(settings)
