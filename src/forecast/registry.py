"""The model registry: the one module that touches MLflow.

A training run logs params, metrics (the model's, each baseline's and the current champion's on
the same holdout), the data's fingerprint and row counts, plots (calibration, gain/lift, feature
importance), a signature and input example, and registers the model. The new version gets the
alias `candidate`; it becomes `champion` only when it beats the champion and every baseline on
holdout AUC and Brier (margins in settings). `rollback` hands `champion` back to the previous one.

Format: an `mlflow.pyfunc` model whose artifact is our fitted estimator saved with joblib.
MLflow 3 saves scikit-learn models with skops, which refuses to load any type not declared as
trusted: our estimator holds a LightGBM Booster, a feature encoder and calibrator tuples, so the
trusted list would have to track every internal type and break on each refactor. The pyfunc
wrapper keeps MLflow's model format (signature, input example, `mlflow models serve`) while the
artifact is exactly the object that was evaluated. Joblib/pickle is only as safe as the store it
comes from: this registry is the service's own, written only by `forecast train`.

Failure leaves nothing half-made: if any step after the run starts fails, the model version,
a registered model created for it, the logged model and the run are deleted, then the error is
raised again. The loader for serving keeps a local copy of the champion under the state folder,
so a restart can serve without reaching MLflow.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from forecast.errors import InvalidInput, ModelNotReady, NotFound
from forecast.settings import Settings, get_settings
from forecast.training import Decision, TrainingResult, decide_promotion

log = logging.getLogger(__name__)

MODEL_NAMES = {"leads": "lead-qualification", "deals": "close-probability"}
EXPERIMENTS = {"leads": "forecast-leads", "deals": "forecast-deals"}
CANDIDATE, CHAMPION = "candidate", "champion"
MODEL_FILE = "model.joblib"
HISTORY_TAG = "champion_history"


def model_name(kind: str) -> str:
    try:
        return MODEL_NAMES[kind]
    except KeyError:
        raise InvalidInput(
            f"unknown model kind {kind!r}; expected one of {list(MODEL_NAMES)}") from None


# --- MLflow plumbing ----------------------------------------------------------------------------


@contextmanager
def _fail_fast() -> Iterator[None]:
    """Give up on an unreachable tracking server in seconds, not after minutes of retries."""
    saved = {k: os.environ.get(k) for k in _FAIL_FAST}
    os.environ.update(_FAIL_FAST)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


@contextmanager
def _mlflow(settings: Settings) -> Iterator[Any]:
    """MLflow pointed at the configured tracking URI for the duration (restored afterwards)."""
    import mlflow
    from mlflow import MlflowClient

    uri = settings.resolved_mlflow_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    old_tracking = mlflow.get_tracking_uri() if previous else None
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        if old_tracking:
            mlflow.set_tracking_uri(old_tracking)


@contextmanager
def _hushed() -> Iterator[None]:
    """Silence MLflow's advice while logging our pyfunc (it warns about choices made on purpose)."""
    import warnings

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # MLflow re-enables its own UserWarnings inside; drop them at the display step too.
            warnings.showwarning = lambda *args, **kwargs: None
            yield
    finally:
        logger.setLevel(level)


def _experiment_id(client: Any, kind: str, settings: Settings) -> str:
    name = EXPERIMENTS[kind]
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    artifacts = (settings.state_dir.resolve() / "mlartifacts" / kind)
    artifacts.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=artifacts.as_uri())



def _pyfunc_class() -> type:
    import mlflow.pyfunc
    import pandas as pd

    class ForecastModel(mlflow.pyfunc.PythonModel):
        """Scores a DataFrame of the model's input columns: probability and grade per row."""

        def load_context(self, context: Any) -> None:
            self.model = joblib.load(context.artifacts["model"])

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict | None = None
        ) -> pd.DataFrame:
            p = self.model.predict_proba(model_input)[:, 1]
            return pd.DataFrame({"probability": p, "grade": self.model.grade(p)})

    return ForecastModel


# --- plots --------------------------------------------------------------------------------------


def _plots(result: TrainingResult, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from forecast import metrics as m

    paths = []
    y, w = result.y_test, result.w_test
    if y is None:
        return paths
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for name, p in result.predictions.items():
        table = m.calibration_table(y, p, w)
        ax.plot(table["predicted"], table["observed"], marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed rate", title="Calibration (holdout)")
    ax.legend(fontsize=8)
    paths.append(folder / "calibration.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax1.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random")
    for name, p in result.predictions.items():
        g = m.gain_curve(y, p, w)
        ax1.plot(np.r_[0, g["fraction"]], np.r_[0, g["gain"]], label=name)
        ax2.plot(g["fraction"], g["lift"], label=name)
    ax1.set(xlabel="share of rows, best scored first", ylabel="share of positives", title="Gain")
    ax2.axhline(1, ls="--", c="grey", lw=1)
    ax2.set(xlabel="share of rows, best scored first", ylabel="lift", title="Lift")
    ax1.legend(fontsize=8)
    paths.append(folder / "gain_lift.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    imp = result.model.importance().head(20)[::-1]
    labels = getattr(result.model, "field_labels_", {}) or {}
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(imp) + 1.5))
    ax.barh([labels.get(c, c) for c in imp.index], imp.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    paths.append(folder / "feature_importance.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths


# --- logging a run ------------------------------------------------------------------------------


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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "run_id": self.run_id,
                "version": self.version, "promoted": self.promoted, "decision": self.decision,
                "champion_before": self.champion_before, "reasons": self.reasons}


def _flat_metrics(result: TrainingResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for who, values in result.metrics.items():
        for k, v in values.items():
            if v is not None and not np.isnan(v):
                out[f"{who}_{k}"] = float(v)
    for who, values in (result.cv or {}).items():
        for k, v in values.items():
            out[f"cv_{who}_{k}"] = float(v)
    for k, v in result.rows.items():
        out[f"rows_{k}"] = float(v)
    out["train_seconds"] = float(result.seconds)
    return out


_ABSENT = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _current_alias(client: Any, name: str, alias: str) -> Any:
    """The version holding `alias`, None if none does; other errors (unreachable) propagate."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _ABSENT:
            return None
        raise


def champion_version(kind: str, settings: Settings | None = None) -> str | None:
    """The version number holding `champion`, or None."""
    with _mlflow(settings or get_settings()) as client:
        mv = _current_alias(client, model_name(kind), CHAMPION)
        return str(mv.version) if mv else None


def log_training(
    result: TrainingResult,
    settings: Settings | None = None,
    *,
    promote: bool = True,
    champion_version_scored: str | None = None,
) -> Registration:
    """Log one training run, register its model as `candidate`, and promote it if it wins.

    `champion_version_scored` is the champion version whose holdout metrics are in
    `result.metrics["champion"]` (the CLI loads the champion before training and passes both).
    """
    import mlflow
    from mlflow.models import infer_signature

    settings = settings or get_settings()
    name = model_name(result.kind)
    created_model = version = run_id = logged_model_id = None
    with _mlflow(settings) as client:
        experiment = _experiment_id(client, result.kind, settings)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                with mlflow.start_run(experiment_id=experiment) as run:
                    run_id = run.info.run_id
                    params = {k: v for k, v in result.params.items() if k != "base"}
                    params.update(seed=result.seed, split_method=result.split.get("method"),
                                  split_cut=result.split.get("cut"),
                                  n_features=len(result.features),
                                  data_fingerprint=result.fingerprint, dataset=result.dataset)
                    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                    mlflow.set_tags({"kind": result.kind, "data_fingerprint": result.fingerprint,
                                     "dataset": str(result.dataset),
                                     "champion_scored": str(champion_version_scored or "")})
                    mlflow.log_metrics(_flat_metrics(result))
                    mlflow.log_dict(result.summary(), "summary.json")
                    for path in _plots(result, folder):
                        mlflow.log_artifact(str(path), "plots")
                    model_path = folder / MODEL_FILE
                    joblib.dump(result.model, model_path)
                    example = result.input_example
                    signature = infer_signature(
                        example, result.model.predict_proba(example)[:, 1]
                    ) if example is not None else None
                    import lightgbm
                    import pandas
                    import sklearn

                    with _hushed():
                        info = mlflow.pyfunc.log_model(
                            name="model", python_model=_pyfunc_class()(),
                            artifacts={"model": str(model_path)}, signature=signature,
                            input_example=example,
                            pip_requirements=[f"lightgbm=={lightgbm.__version__}",
                                              f"scikit-learn=={sklearn.__version__}",
                                              f"pandas=={pandas.__version__}",
                                              f"numpy=={np.__version__}",
                                              f"mlflow=={mlflow.__version__}"],
                        )
                    logged_model_id = getattr(info, "model_id", None)
                    if not _registered_exists(client, name):
                        client.create_registered_model(
                            name, description=f"forecast {result.kind} model")
                        created_model = name
                    mv = client.create_model_version(name, info.model_uri, run_id=run_id)
                    version = mv.version
                    _wait_ready(client, name, version)
                    client.set_model_version_tag(name, version, "data_fingerprint",
                                                 result.fingerprint)
                    client.set_registered_model_alias(name, CANDIDATE, version)
                    champ = _current_alias(client, name, CHAMPION)
                    decision = _decide(client, name, version, result.metrics, champ,
                                       champion_version_scored, settings)
                    client.set_model_version_tag(name, version, "decision", str(decision))
                    if promote and decision.promote:
                        _make_champion(client, name, version)
                    mlflow.set_tag("decision", str(decision))
        except BaseException:
            _undo(client, name, version, created_model, run_id, logged_model_id)
            raise
    return Registration(
        result.kind, name, run_id, str(version), bool(promote and decision.promote),
        "promoted to champion" if promote and decision.promote else (
            "kept as candidate" if decision.promote else "kept as candidate (did not win)"),
        str(champ.version) if champ else None, decision.reasons,
    )


def _registered_exists(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def _wait_ready(client: Any, name: str, version: str) -> None:
    import time

    for _ in range(100):
        if client.get_model_version(name, version).status == "READY":
            return
        time.sleep(0.05)


def _undo(client: Any, name: str, version: Any, created_model: Any, run_id: Any,
          logged_model_id: Any) -> None:
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


def _run_metrics(client: Any, run_id: str) -> dict[str, dict[str, float]]:
    """{"model": {...}, "<baseline>": {...}, "champion": {...}} from a run's logged metrics."""
    run = client.get_run(run_id)
    out: dict[str, dict[str, float]] = {}
    for key, value in run.data.metrics.items():
        for metric in ("roc_auc", "brier"):
            if key.endswith("_" + metric) and not key.startswith(("cv_", "rows_")):
                who = key[: -len(metric) - 1]
                out.setdefault(who, {})[metric] = value
    return out


def _decide(
    client: Any, name: str, version: str, metrics: dict[str, dict[str, float]], champ: Any,
    scored: str | None, settings: Settings,
) -> Decision:
    metrics = dict(metrics)
    note, champ_metrics = "", None
    if champ is not None and str(champ.version) == str(version):
        return Decision(False, [f"version {version} is already the champion"])
    if champ is None:
        metrics.pop("champion", None)
    elif scored is not None and str(scored) == str(champ.version) and "champion" in metrics:
        note = f"v{champ.version}, same holdout"
    else:
        metrics.pop("champion", None)
        champ_metrics = _run_metrics(client, champ.run_id).get("model")
        note = f"v{champ.version}, its own holdout"
    return decide_promotion(
        metrics, champ_metrics, min_auc_gain=settings.promote_min_auc_gain,
        min_brier_gain=settings.promote_min_brier_gain, champion_note=note,
    )


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


def promote(kind: str, version: str | None = None, settings: Settings | None = None) -> Decision:
    """Make `version` (default: the candidate) champion if it wins; the decision says why."""
    settings = settings or get_settings()
    name = model_name(kind)
    with _mlflow(settings) as client:
        mv = _version(client, name, version or CANDIDATE)
        run = client.get_run(mv.run_id)
        scored = run.data.tags.get("champion_scored") or None
        champ = _current_alias(client, name, CHAMPION)
        decision = _decide(client, name, mv.version, _run_metrics(client, mv.run_id), champ,
                           scored, settings)
        if decision.promote:
            _make_champion(client, name, mv.version)
        client.set_model_version_tag(name, mv.version, "decision", str(decision))
        return decision


def rollback(kind: str, settings: Settings | None = None) -> str:
    """Give `champion` back to the previous champion; returns the version now champion."""
    settings = settings or get_settings()
    name = model_name(kind)
    with _mlflow(settings) as client:
        if not _registered_exists(client, name):
            raise NotFound(f"no {kind} model registered yet")
        history = _history(client, name)
        if len(history) < 2:
            raise InvalidInput(f"no earlier {kind} champion to roll back to "
                               f"(champion history: {history or 'empty'})")
        history.pop()
        previous = history[-1]
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        client.set_registered_model_alias(name, CHAMPION, previous)
        return previous


def _version(client: Any, name: str, ref: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        if str(ref).isdigit():
            return client.get_model_version(name, str(ref))
        return client.get_model_version_by_alias(name, ref)
    except MlflowException as exc:
        raise NotFound(f"model {name!r} has no version or alias {ref!r}") from exc


# --- listing ------------------------------------------------------------------------------------


def list_models(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every registered version of both models, newest first, with aliases and key metrics."""
    settings = settings or get_settings()
    rows = []
    with _mlflow(settings) as client:
        for kind, name in MODEL_NAMES.items():
            if not _registered_exists(client, name):
                continue
            aliases: dict[str, list[str]] = {}
            for alias, v in (client.get_registered_model(name).aliases or {}).items():
                aliases.setdefault(str(v), []).append(alias)
            for mv in client.search_model_versions(f"name='{name}'"):
                metrics = _run_metrics(client, mv.run_id).get("model", {})
                rows.append({
                    "kind": kind, "name": name, "version": str(mv.version),
                    "aliases": sorted(aliases.get(str(mv.version), [])),
                    "roc_auc": metrics.get("roc_auc"), "brier": metrics.get("brier"),
                    "created": mv.creation_timestamp, "run_id": mv.run_id,
                })
    return sorted(rows, key=lambda r: (r["kind"], -int(r["version"])))


def show_model(kind: str, version: str | None = None,
               settings: Settings | None = None) -> dict[str, Any]:
    """One version (default: champion, else candidate): metrics, params, tags, decision."""
    settings = settings or get_settings()
    name = model_name(kind)
    with _mlflow(settings) as client:
        if not _registered_exists(client, name):
            raise NotFound(f"no {kind} model registered yet: run `forecast train {kind}`")
        if version is None:
            mv = _current_alias(client, name, CHAMPION) or _version(client, name, CANDIDATE)
        else:
            mv = _version(client, name, version)
        run = client.get_run(mv.run_id)
        aliases = [a for a, v in (client.get_registered_model(name).aliases or {}).items()
                   if str(v) == str(mv.version)]
        return {
            "kind": kind, "name": name, "version": str(mv.version), "aliases": sorted(aliases),
            "run_id": mv.run_id, "metrics": _run_metrics(client, mv.run_id),
            "all_metrics": dict(run.data.metrics), "params": dict(run.data.params),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            "decision": (mv.tags or {}).get("decision"),
            "champion_history": _history(client, name),
        }


# --- loading for serving ------------------------------------------------------------------------


@dataclass
class LoadedModel:
    kind: str
    version: str
    model: Any
    path: Path
    source: str  # "registry" | "local copy"


def _local_dir(settings: Settings, kind: str) -> Path:
    return settings.state_dir.resolve() / "models" / model_name(kind)


def load_champion(kind: str, settings: Settings | None = None) -> LoadedModel | None:
    """The champion model object for serving, or None when there is no champion yet.

    Downloads the champion's artifact once into `<state>/models/<name>/v<version>/` and points
    `champion.json` there; if MLflow cannot be reached, serves the last local copy.
    """
    import mlflow

    settings = settings or get_settings()
    local = _local_dir(settings, kind)
    pointer = local / "champion.json"
    try:
        with _fail_fast(), _mlflow(settings) as client:
            name = model_name(kind)
            mv = _current_alias(client, name, CHAMPION) if _registered_exists(client, name) \
                else None
            if mv is None:
                return None
            target = local / f"v{mv.version}"
            file = next(target.rglob(MODEL_FILE), None) if target.exists() else None
            if file is None:
                target.mkdir(parents=True, exist_ok=True)
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{mv.version}", dst_path=str(target))
                file = next(target.rglob(MODEL_FILE))
            pointer.write_text(json.dumps({"version": str(mv.version), "path": str(file)}))
            return LoadedModel(kind, str(mv.version), joblib.load(file), file, "registry")
    except Exception as exc:  # noqa: BLE001 - registry unreachable: use the local copy
        if not pointer.exists():
            raise ModelNotReady(f"the model registry cannot be reached ({exc}) and there is no "
                                "local copy of a champion") from exc
        meta = json.loads(pointer.read_text())
        log.warning("model registry unreachable (%s): serving local copy v%s", exc,
                    meta["version"])
        file = Path(meta["path"])
        return LoadedModel(kind, meta["version"], joblib.load(file), file, "local copy")


def champion_scorer(
    kind: str, settings: Settings | None = None, *, stage_rates: Any = None,
    base_rate: float | None = None,
) -> Any:
    """A `models.Scorer`: the champion if there is one, else the labelled fallback."""
    from forecast.models import select_scorer

    loaded = load_champion(kind, settings)
    scorer = select_scorer(loaded.model if loaded else None, stage_rates=stage_rates,
                           base_rate=base_rate)
    if loaded:
        scorer.label = f"model {model_name(kind)} v{loaded.version}"
    return scorer


# --- time to close and backtests (`forecast.timing`, `forecast.backtest`) ------------------------

TIMING_KIND = "timing"
TIMING_MODEL = "time-to-close"
EXPERIMENTS.setdefault(TIMING_KIND, "forecast-timing")
EXPERIMENTS.setdefault("backtest", "forecast-backtests")


def _timing_metrics(result: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for who, values in result.metrics.items():
        for k, v in values.items():
            if v is not None and not np.isnan(v):
                out[f"{who}_{k}"] = float(v)
    for k, v in result.rows.items():
        out[f"rows_{k}"] = float(v)
    out["train_seconds"] = float(result.seconds)
    return out


def _timing_plot(result: Any, folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizons = result.split.get("horizons_days", [30, 60, 90])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, values in result.metrics.items():
        ax1.plot(horizons, [values.get(f"won_{h}d_predicted") for h in horizons], marker="o",
                 label=f"{name}: predicted")
    first = next(iter(result.metrics.values()))
    ax1.plot(horizons, [first.get(f"won_{h}d_observed") for h in horizons], marker="s", c="k",
             label="observed")
    ax1.set(xlabel="days after the landmark", ylabel="share won within",
            title="Won within 30/60/90 days (holdout)")
    ax1.legend(fontsize=8)
    ax2.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    for name, table in result.calibration.items():
        ax2.plot(table["predicted"], table["observed"], marker="o", label=name)
    ax2.set(xlabel=f"predicted P(won within {max(horizons)} days)", ylabel="observed share",
            title="Calibration (holdout)")
    ax2.legend(fontsize=8)
    path = folder / "timing_calibration.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def log_timing(
    result: Any,
    settings: Settings | None = None,
    *,
    promote: bool = True,
    champion_version_scored: str | None = None,
) -> Registration:
    """Log a time-to-close run (`timing.TimingResult`), register it as `candidate`, promote it
    to `champion` if it beats the per-stage baseline and the champion on concordance and Brier.

    Logged: params, every holdout metric of the model, the baseline and the champion
    (`<who>_won_30d_predicted`, `..._observed`, `..._brier`, `..._concordance`), row counts,
    the summary, a calibration plot and the fitted model (joblib).
    """
    import mlflow

    from forecast.timing import decide_timing_promotion

    settings = settings or get_settings()
    name = TIMING_MODEL
    created_model = version = run_id = None
    with _mlflow(settings) as client:
        experiment = _experiment_id(client, TIMING_KIND, settings)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                with mlflow.start_run(experiment_id=experiment) as run:
                    run_id = run.info.run_id
                    params = {**result.params, "seed": result.seed,
                              "split_cut": result.split.get("cut"),
                              "data_fingerprint": result.fingerprint, "dataset": result.dataset}
                    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                    mlflow.set_tags({"kind": TIMING_KIND, "dataset": str(result.dataset),
                                     "data_fingerprint": result.fingerprint,
                                     "champion_scored": str(champion_version_scored or "")})
                    mlflow.log_metrics(_timing_metrics(result))
                    mlflow.log_dict(result.summary(), "summary.json")
                    mlflow.log_artifact(str(_timing_plot(result, folder)), "plots")
                    model_path = folder / MODEL_FILE
                    joblib.dump(result.model, model_path)
                    mlflow.log_artifact(str(model_path), "model")
                    if not _registered_exists(client, name):
                        client.create_registered_model(
                            name, description="forecast time-to-close model (competing risks)")
                        created_model = name
                    mv = client.create_model_version(name, f"{run.info.artifact_uri}/model",
                                                     run_id=run_id)
                    version = mv.version
                    _wait_ready(client, name, version)
                    client.set_registered_model_alias(name, CANDIDATE, version)
                    champ = _current_alias(client, name, CHAMPION)
                    metrics = dict(result.metrics)
                    champ_metrics, note = None, ""
                    if champ is not None and str(champ.version) != str(version):
                        if str(champion_version_scored or "") == str(champ.version) \
                                and "champion" in metrics:
                            note = f"v{champ.version}, same holdout"
                        else:
                            metrics.pop("champion", None)
                            champ_metrics = _timing_run_metrics(client, champ.run_id)
                            note = f"v{champ.version}, its own holdout"
                    else:
                        metrics.pop("champion", None)
                    decision = decide_timing_promotion(metrics, champ_metrics,
                                                       champion_note=note)
                    client.set_model_version_tag(name, version, "decision", str(decision))
                    if promote and decision.promote:
                        _make_champion(client, name, version)
                    mlflow.set_tag("decision", str(decision))
        except BaseException:
            _undo(client, name, version, created_model, run_id, None)
            raise
    return Registration(
        TIMING_KIND, name, run_id, str(version), bool(promote and decision.promote),
        "promoted to champion" if promote and decision.promote else (
            "kept as candidate" if decision.promote else "kept as candidate (did not win)"),
        str(champ.version) if champ else None, decision.reasons,
    )


def _timing_run_metrics(client: Any, run_id: str) -> dict[str, float]:
    metrics = client.get_run(run_id).data.metrics
    return {k.removeprefix("model_"): v for k, v in metrics.items() if k.startswith("model_")}


def load_timing_champion(settings: Settings | None = None) -> tuple[str, Any] | None:
    """(version, fitted `TimeToClose`) of the time-to-close champion, or None when there is none."""
    import mlflow

    settings = settings or get_settings()
    with _mlflow(settings) as client:
        if not _registered_exists(client, TIMING_MODEL):
            return None
        mv = _current_alias(client, TIMING_MODEL, CHAMPION)
        if mv is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path=f"model/{MODEL_FILE}", dst_path=tmp)
            return str(mv.version), joblib.load(path)


def log_backtest(report: Any, settings: Settings | None = None,
                 params: dict[str, Any] | None = None) -> str:
    """Log a backtest (`backtest.BacktestReport`) as one run: per period and overall errors,
    WAPE and P10–P90 coverage, the full report as JSON. Returns the run id."""
    import mlflow

    settings = settings or get_settings()
    data = report.to_dict()
    with _mlflow(settings) as client:
        experiment = _experiment_id(client, "backtest", settings)
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in {
                "freq": report.freq, "by": report.by, "dataset": report.dataset,
                **(params or {})}.items()})
            mlflow.set_tags({"kind": "backtest", "dataset": str(report.dataset)})
            metrics: dict[str, float] = {"seconds": float(report.seconds)}
            for key, value in _flatten(data["overall"]).items():
                metrics[f"overall_{key}"] = value
            for step, period in enumerate(data["periods"]):
                if period["status"] != "ok":
                    continue
                mlflow.log_metrics({
                    "actual": period["actual"], "p10": period["p10"], "p90": period["p90"],
                    "in_p10_p90": float(period["in_p10_p90"]),
                    **{f"{m}_{k}": v for m, e in period["methods"].items()
                       for k, v in e.items() if v is not None},
                }, step=step)
                for m, e in period["methods"].items():
                    if e.get("abs_error") is not None:
                        metrics[f"{period['period']}_{m}_abs_error"] = e["abs_error"]
                    if e.get("pct_error") is not None:
                        metrics[f"{period['period']}_{m}_pct_error"] = e["pct_error"]
            mlflow.log_metrics({_metric_key(k): v for k, v in metrics.items()})
            mlflow.log_dict(data, "backtest.json")
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
