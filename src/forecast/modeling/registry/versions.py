"""The registered versions by hand: list, show, promote, roll back, each within one dataset's
registered model. `dataset` None means the only dataset with a model of that kind (several:
`InvalidInput` naming them, to pass `--dataset`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from forecast.errors import InvalidInput, UnknownDataset, UnknownName
from forecast.modeling.promotion import Decision
from forecast.modeling.registry.client import (
    CANDIDATE,
    CHAMPION,
    HISTORY_TAG,
    KINDS,
    _current_alias,
    _mlflow,
    _registered_exists,
    model_name,
    trained_at,
)
from forecast.modeling.registry.datasets import only_one, registered, resolve, with_champion
from forecast.modeling.registry.runs import (
    _gate,
    _gate_metrics,
    _history,
    _run_gains,
    _run_metrics,
    _run_rivals,
)
from forecast.settings import Settings, get_settings

#: The run param a training with `--include-leaks` logs ("True"): its leak columns were kept.
LEAKS_PARAM = "include_leaks"


def leaks_kept(params: dict[str, str]) -> bool:
    """Whether a run kept the leak columns (`--include-leaks`): its holdout figures then read
    values a new lead does not have yet, so they flatter it; marked wherever it is listed."""
    return str(params.get(LEAKS_PARAM, "")).strip().lower() == "true"


def leaks_warning(kind: str, version: str) -> str:
    """What `promote` says first of a version trained with its leak columns kept."""
    what = "new leads" if kind == "leads" else "open deals"
    return (
        f"v{version} was trained with --include-leaks: the leak columns were kept, so its "
        f"holdout figures (and its gains below) look better than scoring {what} can be"
    )


def champion_version(
    kind: str, settings: Settings | None = None, dataset: str | None = None
) -> str | None:
    """The version holding `champion` in `dataset`'s `kind` model (None: the only dataset with a
    champion), or None."""
    with _mlflow(settings or get_settings()) as client:
        if dataset is None:
            dataset = only_one(kind, with_champion(registered(client, kind)), "champion")
            if dataset is None:
                return None
        mv = _current_alias(client, model_name(kind, dataset), CHAMPION)
        return str(mv.version) if mv else None


def _existing(client: Any, kind: str, dataset: str | None) -> tuple[str, str]:
    """(dataset, registered name) of a `kind` model that exists, else `NotFound`; a dataset
    named that has no model is `UnknownDataset`, saying which datasets have one."""
    dataset, name = resolve(client, kind, dataset)
    if not _registered_exists(client, name):
        others = list(registered(client, kind))
        raise UnknownDataset(
            f"no {kind} model registered for dataset {dataset!r} yet "
            f"({kind} models are registered for {others or 'no dataset'}): "
            f"run `forecast train {kind} --data {dataset}`"
        )
    return dataset, name


def promote(
    kind: str,
    version: str | None = None,
    settings: Settings | None = None,
    dataset: str | None = None,
) -> Decision:
    """Make `version` (default: the candidate) of `dataset`'s model champion if it wins against
    that dataset's champion; the decision says why."""
    settings = settings or get_settings()
    with _mlflow(settings) as client:
        dataset, name = _existing(client, kind, dataset)
        mv = _version(client, name, version or CANDIDATE)
        run = client.get_run(mv.run_id).data
        scored = run.tags.get("champion_scored") or None
        warned = [leaks_warning(kind, str(mv.version))] if leaks_kept(run.params) else []
        unweighed = _not_weighed(client, name, mv.version, scored, kind, dataset)
        if unweighed is not None:
            return _warned(client, name, str(mv.version), unweighed, warned)
        names = _gate_metrics(kind, settings)
        metrics = _run_metrics(client, mv.run_id, names)
        decision = _gate(
            client,
            kind,
            name,
            mv.version,
            metrics,
            scored,
            settings,
            act=True,
            rivals=_run_rivals(metrics),
            gains=_run_gains(client, mv.run_id, names),
        )[0]
        return _warned(client, name, str(mv.version), decision, warned)


def _warned(
    client: Any, name: str, version: str, decision: Decision, warned: list[str]
) -> Decision:
    """`decision` with `warned` said first, in the version's `decision` tag too (what `models
    show` reads), so a leaky champion says so wherever its promotion is read."""
    if not warned:
        return decision
    decision.warnings[:0] = warned
    client.set_model_version_tag(name, version, "decision", str(decision))
    return decision


def _not_weighed(
    client: Any, name: str, version: str, scored: str | None, kind: str, dataset: str
) -> Decision | None:
    """Refused (and tagged so) where the dataset's champion changed since the version's run
    scored one on its holdout: that run weighed it against another champion (or none), and two
    holdouts' figures do not compare (a model that lost to the champion on the same rows won
    on its own). None: the run weighed it against the champion now."""
    champ = _current_alias(client, name, CHAMPION)
    if champ is None or str(champ.version) in (str(version), str(scored or "")):
        return None
    before = f"v{scored}" if scored else "no champion"
    decision = Decision(
        False,
        [
            f"not weighed against champion v{champ.version}: its run scored {before} on its "
            f"holdout, and figures from two holdouts do not compare; train again "
            f"(`forecast train {kind} --data {dataset}`) to weigh a model against "
            f"v{champ.version} on the same rows"
        ],
    )
    client.set_model_version_tag(name, str(version), "decision", str(decision))
    return decision


def rollback(kind: str, settings: Settings | None = None, dataset: str | None = None) -> str:
    """Give `champion` of `dataset`'s model back to its previous champion; returns the version
    now champion."""
    settings = settings or get_settings()
    with _mlflow(settings) as client:
        dataset, name = _existing(client, kind, dataset)
        history = _history(client, name)
        if len(history) < 2:
            raise InvalidInput(
                f"no earlier {kind} champion of dataset {dataset!r} to roll back to "
                f"(champion history: {history or 'empty'})"
            )
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
        raise UnknownName(f"model {name!r} has no version or alias {ref!r}") from exc


def list_models(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every registered version of every kind (leads, deals, timing) and dataset, by kind and
    dataset, newest first, with aliases, when trained and key metrics (a time-to-close model
    has a concordance where the scorers have a ROC AUC)."""
    settings = settings or get_settings()
    rows = []
    with _mlflow(settings) as client:
        for kind in KINDS:
            for dataset, rm in registered(client, kind).items():
                aliases = _aliases(client, rm.name)
                for mv in client.search_model_versions(f"name='{rm.name}'"):
                    names = ("roc_auc", "brier", "concordance")
                    metrics = _run_metrics(client, mv.run_id, names).get("model", {})
                    logged = client.get_run(mv.run_id).data
                    rows.append(
                        {
                            "kind": kind,
                            "dataset": dataset,
                            "name": rm.name,
                            "version": str(mv.version),
                            "aliases": aliases.get(str(mv.version), []),
                            "family": logged.tags.get("family") or _default_family(kind),
                            "leaks_kept": leaks_kept(logged.params),
                            "roc_auc": metrics.get("roc_auc"),
                            "roc_auc_ci": _ci(logged.metrics, "model_roc_auc"),
                            "brier": metrics.get("brier"),
                            "concordance": metrics.get("concordance"),
                            "created": mv.creation_timestamp,
                            "trained_at": trained_at(mv),
                            "run_id": mv.run_id,
                        }
                    )
    return sorted(rows, key=lambda r: (r["kind"], r["dataset"], -int(r["version"])))


def _default_family(kind: str) -> str | None:
    """A scorer logged before families existed was LightGBM; timing has no family."""
    return "lightgbm" if kind in ("leads", "deals") else None


def _ci(metrics: dict[str, float], key: str) -> list[float] | None:
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    return None if low is None or high is None else [low, high]


def _aliases(client: Any, name: str) -> dict[str, list[str]]:
    """Version -> its aliases, sorted."""
    out: dict[str, list[str]] = {}
    for alias, version in sorted((client.get_registered_model(name).aliases or {}).items()):
        out.setdefault(str(version), []).append(alias)
    return out


def show_model(
    kind: str,
    version: str | None = None,
    settings: Settings | None = None,
    dataset: str | None = None,
    *,
    notes: bool = False,
) -> dict[str, Any]:
    """One version (default: champion, else candidate) of `dataset`'s model: when it was trained
    (`client.trained_at`), metrics, params, tags, decision, and with `notes` what training said
    (one more read of the run)."""
    settings = settings or get_settings()
    with _mlflow(settings) as client:
        dataset, name = _existing(client, kind, dataset)
        if version is None:
            mv = _current_alias(client, name, CHAMPION) or _version(client, name, CANDIDATE)
        else:
            mv = _version(client, name, version)
        run = client.get_run(mv.run_id)
        return {
            "kind": kind,
            "dataset": dataset,
            "name": name,
            "version": str(mv.version),
            "aliases": _aliases(client, name).get(str(mv.version), []),
            "trained_at": trained_at(mv),
            "run_id": mv.run_id,
            "family": run.data.tags.get("family") or _default_family(kind),
            "leaks_kept": leaks_kept(run.data.params),
            "metrics": _run_metrics(client, mv.run_id, _gate_metrics(kind, settings)),
            "all_metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            "decision": (mv.tags or {}).get("decision"),
            "champion_history": _history(client, name),
            **(_training_notes(client, mv.run_id) if notes else {}),
        }


def _training_notes(client: Any, run_id: str) -> dict[str, Any]:
    """What training said (columns left out and why, the outcome window, leak warnings) and
    which columns it kept, from the run's summary; nothing for a run that logged none."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "summary.json", tmp)
            summary = json.loads(Path(path).read_text())
    except Exception:  # noqa: BLE001 - an older run, or its artifact store is gone: say nothing
        return {}
    return {"warnings": summary.get("warnings", []), "columns": summary.get("columns", {})}
