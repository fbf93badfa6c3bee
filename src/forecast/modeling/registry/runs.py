"""Training and backtest runs: logged, registered as `candidate` of their dataset's registered
model, gated to `champion` against that dataset's champion."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecast.errors import InvalidInput
from forecast.modeling import plots, promotion
from forecast.modeling.promotion import Decision
from forecast.settings import Settings, get_settings

if TYPE_CHECKING:
    from forecast.modeling.fitting import TrainingResult
    from forecast.timing import TimingResult

from forecast.modeling.registry.client import (
    CANDIDATE,
    CHAMPION,
    DATASET_TAG,
    HISTORY_TAG,
    NO_DATASET,
    _current_alias,
    _kind,
    _log_model,
    _log_run,
    _mlflow,
    _registered_exists,
    _start_run,
    model_name,
)
from forecast.modeling.registry.inputs import BACKTEST, TrainingData, log_data, log_dataset

log = logging.getLogger("forecast.modeling.registry")


# --- logging and registering a training run ----------------------------------------------------


@dataclass
class Registration:
    """What `log_training` did: run, version, aliases, and the promotion decision."""

    kind: str
    name: str
    run_id: str
    version: str
    promoted: bool
    decision: str
    champion_before: str | None
    reasons: list[str] = field(default_factory=list)
    dataset: str = NO_DATASET  # whose registered model (`name`) the version went to

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _params(result: TrainingResult | TimingResult) -> dict[str, Any]:
    params = {k: v for k, v in result.params.items() if k != "base"}
    params.update(
        seed=result.seed,
        split_method=result.split.get("method"),
        split_cut=result.split.get("cut"),
        data_fingerprint=result.fingerprint,
        dataset=result.dataset,
    )
    features = getattr(result, "features", None)  # a TimingResult has none
    if features is not None:
        params["n_features"] = len(features)
    return params


def _flat_metrics(result: TrainingResult | TimingResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for who, values in result.metrics.items():
        for k, v in values.items():
            if v is not None and not np.isnan(v):
                out[f"{who}_{k}"] = float(v)
    # Scorer runs: each family, the naive rival the gate uses, the registered model's paired gains.
    for prefix, block in (("family", "families"), ("rival", "rivals")):
        for who, values in (getattr(result, block, None) or {}).items():
            for k, v in values.items():
                if v is not None and not np.isnan(v):
                    out[f"{prefix}_{who}_{k}"] = float(v)
    for rival, by_metric in (getattr(result, "gains", None) or {}).items():
        for metric, (gain, low, high) in by_metric.items():
            for suffix, v in (("", gain), ("_low", low), ("_high", high)):
                if v == v:  # not NaN
                    out[f"gain_{metric}_vs_{rival}{suffix}"] = float(v)
    for who, values in (getattr(result, "cv", None) or {}).items():
        for k, v in values.items():
            out[f"cv_{who}_{k}"] = float(v)
    for k, v in result.rows.items():
        out[f"rows_{k}"] = float(v)
    out["train_seconds"] = float(result.seconds)
    return out


def log_training(
    result: TrainingResult | TimingResult,
    settings: Settings | None = None,
    *,
    promote: bool = True,
    champion_version_scored: str | None = None,
    data: TrainingData | None = None,
) -> Registration:
    """Log a training run of any kind (`result.kind`), register its model as `candidate`, and
    make it `champion` if it passes the promotion gate.

    The model goes to its dataset's registered model (`result.dataset`; a result naming none,
    from a notebook or a test, to `NO_DATASET`'s) and is weighed only against that dataset's
    champion. `champion_version_scored` is the champion version whose holdout metrics are in
    `result.metrics["champion"]` (the CLI loads the dataset's champion before training and
    passes both). `data`, what the run learnt from (`inputs.TrainingData`), is logged with it:
    its range as params, the data and the holdout as the run's dataset inputs.
    """
    import mlflow

    settings = settings or get_settings()
    dataset = str(result.dataset or NO_DATASET)
    name = model_name(result.kind, dataset)
    spec = _kind(result.kind)
    created_model = version = run_id = logged_model_id = None
    champion_before: tuple[str | None, str | None] | None = None
    with _mlflow(settings) as client:
        try:
            with (
                tempfile.TemporaryDirectory() as tmp,
                _start_run(client, result.kind, settings) as run,
            ):
                run_id = run.info.run_id
                _log_run(
                    _params(result),
                    {
                        "kind": result.kind,
                        "data_fingerprint": result.fingerprint,
                        "dataset": str(result.dataset),
                        "champion_scored": str(champion_version_scored or ""),
                        "family": str(getattr(result, "family", "") or ""),
                    },
                    _flat_metrics(result),
                    {"summary.json": result.summary()},
                )
                if data is not None:
                    log_data(data, result)
                for path in plots.run_plots(result, Path(tmp)):
                    mlflow.log_artifact(str(path), "plots")
                model_uri, logged_model_id = _log_model(result, Path(tmp), spec.pyfunc, run)
                if not _registered_exists(client, name):
                    client.create_registered_model(
                        name,
                        tags={DATASET_TAG: dataset},
                        description=f"{spec.description} of dataset {dataset}",
                    )
                    created_model = name
                else:
                    _check_dataset(client, name, dataset)
                version = client.create_model_version(name, model_uri, run_id=run_id).version
                _wait_ready(client, name, version)
                client.set_model_version_tag(name, version, "data_fingerprint", result.fingerprint)
                family = getattr(result, "family", None)
                if family:
                    client.set_model_version_tag(name, version, "family", family)
                client.set_registered_model_alias(name, CANDIDATE, version)
                champion_before = _champion_state(client, name)
                decision, champ = _gate(
                    client,
                    result.kind,
                    name,
                    version,
                    result.metrics,
                    champion_version_scored,
                    settings,
                    act=promote,
                    rivals=getattr(result, "rivals", None),
                    gains=getattr(result, "gains", None),
                )
                mlflow.set_tag("decision", str(decision))
        except BaseException:
            if champion_before is not None:
                _restore_champion(client, name, champion_before)
            _undo(client, name, version, created_model, run_id, logged_model_id)
            raise
    return Registration(
        result.kind,
        name,
        run_id,
        str(version),
        bool(promote and decision.promote),
        "promoted to champion"
        if promote and decision.promote
        else ("kept as candidate" if decision.promote else "kept as candidate (did not win)"),
        str(champ.version) if champ else None,
        decision.reasons,
        dataset,
    )


def _check_dataset(client: Any, name: str, dataset: str) -> None:
    """Two datasets whose names differ only in characters MLflow refuses would share `name`:
    refuse the second rather than weigh one dataset's model against the other's."""
    owner = (client.get_registered_model(name).tags or {}).get(DATASET_TAG)
    if owner is None:
        client.set_registered_model_tag(name, DATASET_TAG, dataset)
    elif owner != dataset:
        raise InvalidInput(
            f"dataset: {dataset!r} would be registered as {name!r}, which holds dataset "
            f"{owner!r}'s models: rename one of the datasets"
        )


def _wait_ready(client: Any, name: str, version: str) -> None:
    import time

    for _ in range(100):
        if client.get_model_version(name, version).status == "READY":
            return
        time.sleep(0.05)


def _champion_state(client: Any, name: str) -> tuple[str | None, str | None]:
    """The champion version and the raw champion history tag, to put back if the run fails."""
    champ = _current_alias(client, name, CHAMPION)
    tags = client.get_registered_model(name).tags or {}
    return (str(champ.version) if champ is not None else None, tags.get(HISTORY_TAG))


def _restore_champion(client: Any, name: str, state: tuple[str | None, str | None]) -> None:
    """Give `champion` and its history back as they were before a run that failed (Ctrl-C
    while it closed) after promoting its version, which `_undo` then deletes (best effort)."""
    champion, history = state
    try:
        if history is None:
            if HISTORY_TAG in (client.get_registered_model(name).tags or {}):
                client.delete_registered_model_tag(name, HISTORY_TAG)
        else:
            client.set_registered_model_tag(name, HISTORY_TAG, history)
        if champion is not None:
            client.set_registered_model_alias(name, CHAMPION, champion)
    except Exception as exc:  # noqa: BLE001 - cleaning up after the real error
        log.warning("restoring the champion after a failed registration: %s", exc)


def _undo(
    client: Any, name: str, version: Any, created_model: Any, run_id: Any, logged_model_id: Any
) -> None:
    """Remove whatever a failed registration left behind (best effort, errors logged)."""
    steps = []
    if version is not None:
        steps.append(lambda: client.delete_model_version(name, version))
    if created_model is not None:
        steps.append(lambda: client.delete_registered_model(created_model))
    if logged_model_id is not None and hasattr(client, "delete_logged_model"):
        steps.append(lambda: client.delete_logged_model(logged_model_id))
    if run_id is not None:
        steps.append(lambda: client.set_terminated(run_id, "FAILED"))
        steps.append(lambda: client.delete_run(run_id))
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - cleaning up after the real error
            log.warning("cleanup after a failed registration: %s", exc)


# --- promotion ----------------------------------------------------------------------------------


def _run_metrics(
    client: Any,
    run_id: str,
    names: tuple[str, ...] = ("roc_auc", "brier"),
) -> dict[str, dict[str, float]]:
    """{"model": {...}, "<baseline>": {...}, "champion": {...}}: `names` from a run's metrics."""
    run = client.get_run(run_id)
    out: dict[str, dict[str, float]] = {}
    for key, value in run.data.metrics.items():
        for metric in names:
            if key.endswith("_" + metric) and not key.startswith(("cv_", "rows_")):
                who = key[: -len(metric) - 1]
                out.setdefault(who, {})[metric] = value
    return out


def _gate_metrics(kind: str, settings: Settings) -> tuple[str, ...]:
    return tuple(rule.metric for rule in promotion.rules_for(kind, settings))


def _run_rivals(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The naive rivals a scorer run was gated against ("rival_<name>" in its metrics)."""
    return {who[len("rival_") :]: v for who, v in metrics.items() if who.startswith("rival_")}


def _run_gains(client: Any, run_id: str, names: tuple[str, ...]) -> dict[str, dict[str, list]]:
    """{rival: {metric: [gain, low, high]}}: the paired bootstrap gains a run logged."""
    logged = client.get_run(run_id).data.metrics
    out: dict[str, dict[str, list]] = {}
    for metric in names:
        prefix = f"gain_{metric}_vs_"
        for key, value in logged.items():
            if key.startswith(prefix) and not key.endswith(("_low", "_high")):
                rival = key[len(prefix) :]
                low, high = logged.get(f"{key}_low"), logged.get(f"{key}_high")
                if low is not None and high is not None:
                    out.setdefault(rival, {})[metric] = [value, low, high]
    return out


def _gate(
    client: Any,
    kind: str,
    name: str,
    version: str,
    metrics: dict[str, dict[str, float]],
    scored: str | None,
    settings: Settings,
    *,
    act: bool,
    rivals: dict[str, dict[str, float]] | None = None,
    gains: dict[str, dict[str, list[float]]] | None = None,
) -> tuple[Decision, Any]:
    """Put `version` of the registered model `name` (one dataset's) through the promotion gate,
    tag it with the decision and, if it wins and `act`, make it champion of that dataset.
    Returns the decision and the champion (of that dataset) it was weighed against.

    The champion's metrics are those on the run's own holdout when the run scored that champion
    (`scored`), else the ones the champion's run recorded on its holdout (then compared by point
    estimates: no paired gain exists). A scorer run that names its naive `rivals` is weighed
    against them and the champion, by the paired `gains`, and must not be beaten for real by its
    other baselines (`promotion.decide`'s peers); a run without (timing, or logged before
    families) against every baseline.
    """
    gains = dict(gains or {})
    champ = _current_alias(client, name, CHAMPION)
    if champ is not None and str(champ.version) == str(version):
        decision = Decision(False, [f"version {version} is already the champion"])
    else:
        champion, note = None, ""
        if (
            champ is not None
            and scored is not None
            and str(scored) == str(champ.version)
            and "champion" in metrics
        ):
            champion, note = metrics["champion"], f"v{champ.version}, same holdout"
        elif champ is not None:
            recorded = _run_metrics(client, champ.run_id, _gate_metrics(kind, settings))
            champion, note = recorded.get("model"), f"v{champ.version}, its own holdout"
            gains.pop("champion", None)
        baselines = {
            k: dict(v)
            for k, v in promotion.baselines_in(metrics).items()
            if not k.startswith(("family_", "rival_"))
        }
        peers = {}
        if rivals:  # the CRM-style baselines beside the naive rival must not beat it for real
            peers = {k: v for k, v in baselines.items() if k not in rivals}
        else:
            rivals = baselines
        decision = promotion.decide(
            metrics.get("model"),
            champion,
            rivals,
            promotion.rules_for(kind, settings),
            champion_note=note,
            gains=gains,
            peers=peers,
        )
    client.set_model_version_tag(name, str(version), "decision", str(decision))
    if act and decision.promote:
        _make_champion(client, name, version)
    return decision, champ


def _history(client: Any, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except json.JSONDecodeError:
        return []


def _make_champion(client: Any, name: str, version: str) -> None:
    history = _history(client, name)
    history.append(str(version))
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-50:]))
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_model_version_tag(name, str(version), "promoted", "true")


def log_backtest(
    report: Any,
    settings: Settings | None = None,
    params: dict[str, Any] | None = None,
    *,
    data: TrainingData | None = None,
    fingerprint: str = "",
) -> str:
    """Log a backtest (`backtest.BacktestReport`) as one run: overall and per-horizon errors
    (WAPE, bias of every method; P10–P90 coverage of ours and of the forecast chosen; how often
    ours beat the best naive one), per calendar period errors, the full report as JSON. `data`,
    the data replayed, is logged as a training run's is (its range as params, the data as the
    run's input, context "backtest", digest `fingerprint`). Returns the run id."""
    import mlflow

    settings = settings or get_settings()
    doc = report.to_dict()
    metrics: dict[str, float] = {"seconds": float(report.seconds)}
    for key, value in _flatten(doc["overall"]).items():
        metrics[f"overall_{key}"] = value
    # Per horizon (headline and sealed check apart): every method's WAPE and bias, coverage.
    for block, prefix in (("horizon_scores", ""), ("sealed_check", "sealed_")):
        for entry in doc.get(block) or []:
            h = f"{prefix}h{entry['horizon_weeks']}"
            for m, score in entry["methods"].items():
                for k in ("wape", "bias"):
                    if score.get(k) is not None:
                        metrics[f"{h}_{m}_{k}"] = score[k]
            for k in ("coverage_p10_p90", "coverage_p10_p90_chosen", "beats_best_naive"):
                if (entry.get(k) or {}).get("share") is not None:
                    metrics[f"{h}_{k}"] = entry[k]["share"]
    per_period = doc.get("every", "period") == "period"  # weekly: hundreds, in the JSON only
    with _mlflow(settings) as client, _start_run(client, "backtest", settings) as run:
        for step, period in enumerate(doc["periods"]):
            if period["status"] != "ok":
                continue
            mlflow.log_metrics(
                {
                    "actual": period["actual"],
                    "p10": period["p10"],
                    "p90": period["p90"],
                    "in_p10_p90": float(period["in_p10_p90"]),
                    **{
                        f"{m}_{k}": v
                        for m, e in period["methods"].items()
                        for k, v in e.items()
                        if v is not None
                    },
                },
                step=step,
            )
            if not per_period:
                continue
            for m, e in period["methods"].items():
                if e.get("abs_error") is not None:
                    metrics[f"{period['period']}_{m}_abs_error"] = e["abs_error"]
                if e.get("pct_error") is not None:
                    metrics[f"{period['period']}_{m}_pct_error"] = e["pct_error"]
        tags = {"kind": "backtest", "dataset": str(report.dataset)}
        if fingerprint:  # as a training run's: the same data has the same one
            tags["data_fingerprint"] = fingerprint
        _log_run(
            {"freq": report.freq, "by": report.by, "dataset": report.dataset, **(params or {})},
            tags,
            {_metric_key(k): v for k, v in metrics.items()},
            {"backtest.json": doc},
        )
        if data is not None:
            log_dataset(data, fingerprint, BACKTEST)
        return run.info.run_id


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "_"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
            out[key] = float(v)
    return out


def _metric_key(key: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces only."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)
