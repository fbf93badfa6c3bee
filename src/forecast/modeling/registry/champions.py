"""The champions as serving loads them, with a local copy for when MLflow cannot be reached."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

from forecast.errors import ModelNotReady
from forecast.settings import Settings, get_settings

if TYPE_CHECKING:
    pass

from forecast.modeling.registry.client import (
    CHAMPION,
    MODEL_FILE,
    _current_alias,
    _mlflow,
    _registered_exists,
    current_visit,
    model_name,
    store_missing,
)

log = logging.getLogger("forecast.modeling.registry")


# --- loading for serving ------------------------------------------------------------------------


@dataclass
class LoadedModel:
    kind: str
    version: str
    model: Any
    path: Path
    source: str  # "registry" | "local copy"
    reason: str | None = None  # why a local copy serves: what failed in the registry


def _local_dir(settings: Settings, kind: str) -> Path:
    return settings.state_dir.resolve() / "models" / model_name(kind)


def load_champion(kind: str, settings: Settings | None = None) -> LoadedModel | None:
    """The champion model object (to serve, or to score beside a new run), or None when there
    is no champion yet.

    Downloads the champion's artifact once into `<state>/models/<name>/v<version>/` and points
    `champion.json` there; if MLflow cannot be reached, serves the last local copy. Inside a
    `visit` (serving's model-set load), a tracking store that does not exist is not created: the
    default one under the state folder means nothing was trained here yet (None), one named in
    the settings is a registry that cannot be read.
    """
    import mlflow

    settings = settings or get_settings()
    local = _local_dir(settings, kind)
    pointer = local / "champion.json"
    within = current_visit()
    if (
        within is not None
        and settings.mlflow_tracking_uri is None
        and store_missing(settings)
        and not pointer.exists()
    ):
        return None
    try:
        with _mlflow(settings) as client:
            name = model_name(kind)
            mv = (
                _current_alias(client, name, CHAMPION) if _registered_exists(client, name) else None
            )
            if mv is None:
                return None
            target = local / f"v{mv.version}"
            file = next(target.rglob(MODEL_FILE), None) if target.exists() else None
            if file is None:
                target.mkdir(parents=True, exist_ok=True)
                download = mlflow.artifacts.download_artifacts
                uri, dst = f"models:/{name}/{mv.version}", str(target)
                if within is None:
                    download(artifact_uri=uri, dst_path=dst)
                else:
                    within.call(download, artifact_uri=uri, dst_path=dst)
                file = next(target.rglob(MODEL_FILE))
            pointer.write_text(json.dumps({"version": str(mv.version), "path": str(file)}))
            return LoadedModel(kind, str(mv.version), joblib.load(file), file, "registry")
    except Exception as exc:  # noqa: BLE001 - registry unreachable: use the local copy
        if not pointer.exists():
            failed = within.failure if within is not None else None
            reason = failed or f"the champion could not be loaded from the model registry ({exc})"
            raise ModelNotReady(f"{reason}, and there is no local copy of a champion") from exc
        meta = json.loads(pointer.read_text())
        log.warning("model registry unreachable (%s): serving local copy v%s", exc, meta["version"])
        file = Path(meta["path"])
        return LoadedModel(kind, meta["version"], joblib.load(file), file, "local copy", str(exc))


def load_timing_champion(settings: Settings | None = None) -> tuple[str, Any] | None:
    """(version, fitted `TimeToClose`) of the time-to-close champion, or None when there is none.

    Loaded like the scorers' champions, so a local copy stands in when MLflow is unreachable."""
    loaded = load_champion("timing", settings)
    return (loaded.version, loaded.model) if loaded else None
