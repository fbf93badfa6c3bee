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
    _kind,
    _mlflow,
    _registered_exists,
    current_visit,
    model_name,
    store_missing,
    trained_at,
)
from forecast.modeling.registry.datasets import only_one, registered

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
    dataset: str = ""  # the dataset the model was trained on (its registered model's)
    #: When it was trained, ISO 8601 UTC (`client.trained_at`); kept in the local copy's pointer,
    #: so a local copy says it too (None: a copy made before it was kept).
    trained_at: str | None = None


def _local_dir(settings: Settings, kind: str, dataset: str) -> Path:
    return settings.state_dir.resolve() / "models" / model_name(kind, dataset)


def _local_datasets(settings: Settings, kind: str) -> list[str]:
    """The datasets with a local copy of a `kind` champion (read from the copies' pointers; an
    earlier install's copy, without a dataset, is ignored)."""
    base = _kind(kind).model
    found = set()
    for pointer in (settings.state_dir.resolve() / "models").glob(f"{base}.*/champion.json"):
        try:
            dataset = json.loads(pointer.read_text()).get("dataset")
        except (OSError, ValueError):
            continue
        if dataset and pointer.parent.name == model_name(kind, dataset):
            found.add(str(dataset))
    return sorted(found)


def champion_datasets(kind: str, settings: Settings | None = None) -> list[str]:
    """The datasets that have a `kind` champion, sorted.

    Read from the registry; when it cannot be reached, from the local copies of champions (so a
    restart without MLflow still serves every dataset's), and with neither, `ModelNotReady`.
    Inside a `visit`, a default tracking store that does not exist yet (and no local copy)
    means nothing was trained here: no dataset.
    """
    return champion_listing(kind, settings or get_settings())[0]


def champion_listing(kind: str, settings: Settings) -> tuple[list[str], dict[str, str] | None]:
    """`champion_datasets`, and each one's champion version as the registry said it (None: the
    registry could not be read, and the datasets are those of the local copies)."""
    local = _local_datasets(settings, kind)
    try:
        versions = champion_versions(kind, settings)
    except ModelNotReady as exc:  # registry unreachable: the local copies
        if not local:
            raise ModelNotReady(f"{exc}, and there is no local copy of a champion") from exc
        log.warning("model registry unreachable (%s): %s champions of %s", exc, kind, local)
        return local, None
    return sorted(versions), versions


def champion_versions(kind: str, settings: Settings) -> dict[str, str]:
    """{dataset: version} of every `kind` champion as the registry has it now, in one call (what
    a server compares with what it serves, to notice a champion trained, promoted or rolled back
    beside it). `ModelNotReady` when the registry cannot be read. Inside a `visit`, a default
    tracking store that does not exist yet (and no local copy) means nothing was trained here:
    none."""
    _kind(kind)
    within = current_visit()
    if (
        within is not None
        and settings.mlflow_tracking_uri is None
        and store_missing(settings)
        and not _local_datasets(settings, kind)
    ):
        return {}
    try:
        with _mlflow(settings) as client:
            found = registered(client, kind)
    except Exception as exc:  # noqa: BLE001 - said as the registry being unreadable
        failed = within.failure if within is not None else None
        raise ModelNotReady(failed or f"the model registry cannot be read ({exc})") from exc
    return {
        dataset: str(rm.aliases[CHAMPION])
        for dataset, rm in found.items()
        if CHAMPION in (getattr(rm, "aliases", None) or {})
    }


def load_champion(
    kind: str, settings: Settings | None = None, dataset: str | None = None
) -> LoadedModel | None:
    """The champion of `kind` trained on `dataset` (to serve, or to score beside a new run), or
    None when there is no champion yet.

    `dataset` None: the only dataset with a `kind` champion (see `champion_datasets`); several
    are `InvalidInput` naming them. Downloads the champion's artifact once into
    `<state>/models/<registered name>/v<version>/` and points `champion.json` there; if MLflow
    cannot be reached, serves the last local copy. Inside a `visit` (serving's model-set load), a
    tracking store that does not exist is not created: the default one under the state folder
    means nothing was trained here yet (None), one named in the settings is a registry that
    cannot be read.
    """
    import mlflow

    settings = settings or get_settings()
    if dataset is None:
        dataset = only_one(kind, champion_datasets(kind, settings), "champion")
        if dataset is None:
            return None
    local = _local_dir(settings, kind, dataset)
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
            name = model_name(kind, dataset)
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
            when = trained_at(mv)
            pointer.write_text(
                json.dumps(
                    {
                        "version": str(mv.version),
                        "path": str(file),
                        "dataset": dataset,
                        "trained_at": when,
                    }
                )
            )
            model = joblib.load(file)
            return LoadedModel(
                kind, str(mv.version), model, file, "registry", dataset=dataset, trained_at=when
            )
    except Exception as exc:  # noqa: BLE001 - registry unreachable: use the local copy
        if not pointer.exists():
            failed = within.failure if within is not None else None
            reason = failed or f"the champion could not be loaded from the model registry ({exc})"
            raise ModelNotReady(f"{reason}, and there is no local copy of a champion") from exc
        meta = json.loads(pointer.read_text())
        log.warning("model registry unreachable (%s): serving local copy v%s", exc, meta["version"])
        file = Path(meta["path"])
        model = joblib.load(file)
        return LoadedModel(
            kind,
            meta["version"],
            model,
            file,
            "local copy",
            str(exc),
            dataset,
            trained_at=meta.get("trained_at"),
        )


def load_timing_champion(
    settings: Settings | None = None, dataset: str | None = None
) -> tuple[str, Any] | None:
    """(version, fitted `TimeToClose`) of `dataset`'s time-to-close champion (None: the only
    dataset's), or None when there is none.

    Loaded like the scorers' champions, so a local copy stands in when MLflow is unreachable."""
    loaded = load_champion("timing", settings, dataset)
    return (loaded.version, loaded.model) if loaded else None
