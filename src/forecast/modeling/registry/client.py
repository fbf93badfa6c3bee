"""MLflow plumbing: the model kinds, a client that fails fast (the settings' timeout and retries;
in a bounded `visit`, one deadline and no second wait on a server that does not answer), runs
and logged models."""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import joblib
import numpy as np

from forecast.errors import InvalidInput, ModelNotReady
from forecast.settings import Settings

if TYPE_CHECKING:
    pass

log = logging.getLogger("forecast.modeling.registry")


@dataclass(frozen=True)
class _Kind:
    model: str  # the base of its registered models' names: `<model>.<dataset>`
    experiment: str
    description: str
    pyfunc: bool  # a row scorer, logged as an MLflow pyfunc model (else a joblib artifact)


_KINDS = {
    "leads": _Kind("lead-qualification", "forecast-leads", "forecast leads model", True),
    "deals": _Kind("close-probability", "forecast-deals", "forecast deals model", True),
    "timing": _Kind(
        "time-to-close", "forecast-timing", "forecast time-to-close model (competing risks)", False
    ),
}
MODEL_NAMES = {kind: k.model for kind, k in _KINDS.items() if k.pyfunc}  # the row scorers' bases
#: Every kind of registered model: the row scorers and the time-to-close model.
KINDS = tuple(_KINDS)
EXPERIMENTS = {
    **{kind: k.experiment for kind, k in _KINDS.items()},
    "backtest": "forecast-backtests",
}
CANDIDATE, CHAMPION = "candidate", "champion"
MODEL_FILE = "model.joblib"
HISTORY_TAG = "champion_history"
#: The registered model's tag holding its dataset's exact name (the name itself is sanitised).
DATASET_TAG = "dataset"
#: Where a training result that names no dataset (a notebook, a test) is registered.
NO_DATASET = "default"
_MISSING = "RESOURCE_DOES_NOT_EXIST"
_ABSENT = (_MISSING, "INVALID_PARAMETER_VALUE")
# MLflow refuses "/" and ":" in a name; quotes would break the filter strings the registry sends.
_UNSAFE = str.maketrans({c: "_" for c in "/:'\"\\"})


def _kind(kind: str) -> _Kind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise InvalidInput(f"unknown model kind {kind!r}; expected one of {list(_KINDS)}") from None


def model_name(kind: str, dataset: str) -> str:
    """The registered model of `kind` trained on `dataset`: one per dataset, so a candidate is
    only ever weighed against its own dataset's champion. Characters MLflow refuses become "_";
    the exact dataset name is the registered model's `dataset` tag."""
    if not str(dataset).strip():
        raise InvalidInput("dataset: a model's dataset name must not be empty")
    return f"{_kind(kind).model}.{str(dataset).translate(_UNSAFE)}"


# --- MLflow plumbing ----------------------------------------------------------------------------


def _apply_http_limits(settings: Settings) -> None:
    """Hand MLflow the settings' timeout and retries; it reads them from the environment at each
    HTTP call. Its own defaults wait 120 s per attempt over 7 retries with backoff: minutes per
    call against a server that does not answer. MLflow reads whole seconds, so the timeout is
    rounded up (at least 1 s). A server's Retry-After is not obeyed, so one call stays bounded
    by timeout x (retries + 1) plus the backoff between retries."""
    os.environ.update(
        {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(settings.mlflow_timeout_seconds))),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow_max_retries),
            "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
        }
    )


# --- a bounded visit: what serving reads from the registry --------------------------------------

#: A visit waits on the registry at most as long as this many calls may take (timeout x attempts).
VISIT_CALLS = 6


class Visit:
    """One bounded, read-only visit to the registry: a model-set load for serving.

    Every MLflow call in it is checked against one deadline, and the first failure to get an
    answer ends the visit: the calls after it fail at once instead of each waiting out its own
    timeout (a server that does not answer is waited on once per load, not once per call). A
    visit never creates a tracking store it is pointed at: a missing local store is a failure.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.failure: str | None = None  # why the registry could not be read, as seen here

    def check(self) -> None:
        """Raise `ModelNotReady` if the visit has failed or its time is up."""
        if self.failure is None and time.monotonic() > self.deadline:
            self.failure = f"the model registry did not answer within {self.seconds:g} s"
        if self.failure is not None:
            raise ModelNotReady(self.failure)

    def fail(self, reason: str) -> ModelNotReady:
        self.failure = self.failure or reason
        return ModelNotReady(self.failure)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` within the visit: not tried after a failure or the deadline; a
        failure to get an answer (unlike an answer such as "no such model") ends the visit."""
        self.check()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not _answered(exc):
                self.fail(f"the model registry cannot be reached ({exc})")
            raise


_visit: ContextVar[Visit | None] = ContextVar("registry_visit", default=None)


@contextmanager
def visit(settings: Settings) -> Iterator[Visit]:
    """A bounded visit (see `Visit`) for everything read from the registry inside the block;
    its deadline allows `VISIT_CALLS` calls, each with its timeout and retries."""
    attempts = settings.mlflow_max_retries + 1
    within = Visit(VISIT_CALLS * settings.mlflow_timeout_seconds * attempts)
    token = _visit.set(within)
    try:
        yield within
    finally:
        _visit.reset(token)


def current_visit() -> Visit | None:
    return _visit.get()


def _answered(exc: BaseException) -> bool:
    """Whether the registry answered (a 4xx: no such model, no permission) rather than failed
    to (no connection, a timeout, a 5xx, a broken local store)."""
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException) and 400 <= exc.get_http_status_code() < 500


class _Guarded:
    """An MlflowClient whose every call goes through a visit."""

    def __init__(self, client: Any, within: Visit) -> None:
        self._client = client
        self._visit = within

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        return functools.partial(self._visit.call, attr) if callable(attr) else attr


def local_store(uri: str) -> Path | None:
    """The file (SQLite) or folder (file store) of a tracking store on this machine; None for a
    server."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///").split("?")[0])
    parsed = urlparse(uri)
    if uri == "databricks":
        return None
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    return Path(uri) if parsed.scheme == "" else None


def store_missing(settings: Settings) -> bool:
    """Whether the tracking store is a local one that does not exist yet (or is empty)."""
    path = local_store(settings.resolved_mlflow_uri)
    if path is None or str(path) in ("", ":memory:"):
        return False
    if path.is_dir():
        return not any(path.iterdir())
    return not path.is_file() or path.stat().st_size == 0


def _private_dir(folder: Path) -> None:
    """Make `folder` (and any missing parents) if absent; the folder itself mode 700."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private_file(path: Path) -> None:
    """Create an absent SQLite file with mode 600 (in a 700 folder if the folder is new) before
    MLflow opens it; an existing file is left alone (closing it would drop SQLite's locks)."""
    if str(path) in ("", ".", ":memory:"):
        return
    _private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


@contextmanager
def _mlflow(settings: Settings) -> Iterator[Any]:
    """MLflow pointed at the configured tracking URI for the duration (restored afterwards), with
    the settings' HTTP timeout and retries; inside a `visit`, a client bound by that visit."""
    import mlflow
    from mlflow import MlflowClient

    _apply_http_limits(settings)
    uri = settings.resolved_mlflow_uri
    within = _visit.get()
    if within is not None:
        within.check()
        if store_missing(settings):
            raise within.fail(f"the tracking store {uri} does not exist or is empty")
    elif uri.startswith("sqlite:///"):
        _private_file(Path(uri.removeprefix("sqlite:///").split("?")[0]))
    # The local copies of champions (`<state>/models`, filled by `champions.load_champion`).
    _private_dir(settings.state_dir.resolve() / "models")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    old_tracking = mlflow.get_tracking_uri() if previous else None
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        yield client if within is None else _Guarded(client, within)
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


def _start_run(client: Any, experiment: str, settings: Settings) -> Any:
    """`mlflow.start_run` in one of `EXPERIMENTS`, created on first use (artifacts in state)."""
    import mlflow

    name = EXPERIMENTS[experiment]
    found = client.get_experiment_by_name(name)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        _private_dir(settings.state_dir.resolve() / "mlartifacts")
        artifacts = settings.state_dir.resolve() / "mlartifacts" / experiment
        artifacts.mkdir(parents=True, exist_ok=True)
        experiment_id = client.create_experiment(name, artifact_location=artifacts.as_uri())
    return mlflow.start_run(experiment_id=experiment_id)


def _log_run(
    params: dict[str, Any],
    tags: dict[str, str],
    metrics: dict[str, float],
    documents: dict[str, Any],
) -> None:
    """Log into the active run: params (each cut to 500 characters), tags, metrics, JSON files."""
    import mlflow

    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
    mlflow.set_tags(tags)
    mlflow.log_metrics(metrics)
    for file, document in documents.items():
        mlflow.log_dict(document, file)


def _pyfunc_class() -> type:
    import pandas as pd
    from mlflow.pyfunc import PythonModel

    class ForecastModel(PythonModel):
        """Scores a DataFrame of the model's input columns: probability and grade per row."""

        def load_context(self, context: Any) -> None:
            self.model = joblib.load(context.artifacts["model"])

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict | None = None
        ) -> pd.DataFrame:
            p = self.model.predict_proba(model_input)[:, 1]
            return pd.DataFrame({"probability": p, "grade": self.model.grade(p)})

    return ForecastModel


def _log_model(result: Any, folder: Path, pyfunc: bool, run: Any) -> tuple[str, str | None]:
    """Log the fitted model into the active run: (URI to register, logged model id or None)."""
    import mlflow

    model_path = folder / MODEL_FILE
    joblib.dump(result.model, model_path)
    if not pyfunc:
        mlflow.log_artifact(str(model_path), "model")
        return f"{run.info.artifact_uri}/model", None
    import lightgbm
    import pandas
    import sklearn
    from mlflow.models import infer_signature

    example = result.input_example
    signature = (
        infer_signature(example, result.model.predict_proba(example)[:, 1])
        if example is not None
        else None
    )
    with _hushed():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_class()(),
            artifacts={"model": str(model_path)},
            signature=signature,
            input_example=example,
            pip_requirements=[
                f"lightgbm=={lightgbm.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pandas.__version__}",
                f"numpy=={np.__version__}",
                f"mlflow=={mlflow.__version__}",
            ],
        )
    return info.model_uri, getattr(info, "model_id", None)


def _or_none(call: Any, *args: str, absent: tuple[str, ...] = _ABSENT) -> Any:
    """`call(*args)`, or None when MLflow says there is no such thing; other errors (such as an
    unreachable server) propagate."""
    from mlflow.exceptions import MlflowException

    try:
        return call(*args)
    except MlflowException as exc:
        if exc.error_code in absent:
            return None
        raise


def _current_alias(client: Any, name: str, alias: str) -> Any:
    """The version holding `alias`, or None if none does."""
    return _or_none(client.get_model_version_by_alias, name, alias)


def trained_at(mv: Any) -> str | None:
    """When a registered version was trained, ISO 8601 UTC (2024-05-01T09:30:00+00:00): the
    version's `creation_timestamp`. A version is registered as soon as training logged its
    model, so its creation is when it was trained, and it comes with the version, without the
    run's own read (its start and end times would say the same within the logging)."""
    created = getattr(mv, "creation_timestamp", None)
    if not created:
        return None
    return datetime.fromtimestamp(created / 1000, UTC).isoformat(timespec="seconds")


def _registered_exists(client: Any, name: str) -> bool:
    return _or_none(client.get_registered_model, name, absent=(_MISSING,)) is not None
