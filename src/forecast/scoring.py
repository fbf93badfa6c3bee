"""Scoring for serving: the champion models held in memory, one row or a batch, with reasons.

`load_model_set` reads the `champion` lead and deal models once (from the MLflow registry, or the
last local copy when it cannot be reached) plus what deal features need from the store (the
dataset's stages, the reps' and accounts' past win rates). Where no model is ready yet, the
labelled fallback scores instead: the per-stage win rate for deals, the base rate for leads.

The one-row path is built for a sub-millisecond API: no DataFrame, one LightGBM `pred_leaf` call
whose per-leaf contributions give both the reasons and, summed, the raw score (so the
probability comes from the same call).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from forecast import features as feat
from forecast import registry, store
from forecast.contributions import contributions, path_contributions
from forecast.errors import InvalidInput, ModelNotReady, NotFound
from forecast.models import MODEL, Scorer, select_scorer, to_score
from forecast.reasons import Reason, factor, top_factors
from forecast.settings import Settings
from forecast.snapshots import as_timestamp
from forecast.stages import StageSet

log = logging.getLogger("forecast.scoring")

LEAD, DEAL = "leads", "deals"
#: Grade cut points for fallback scores (a model stores its own).
FALLBACK_CUTS = (0.75, 0.5, 0.25)


@dataclass(frozen=True)
class Score:
    probability: float
    score: int
    grade: str
    reasons_for: list[dict[str, Any]]
    reasons_against: list[dict[str, Any]]
    model: str
    version: str | None
    method: str  # "model" | "stage_win_rate" | "base_rate"
    label: str  # says in words what scored it, fallback included


@dataclass
class Served:
    """One kind of model as served: the scorer and what to say about it."""

    kind: str
    scorer: Scorer
    version: str | None
    source: str  # "registry" | "local copy" | "fallback"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return registry.model_name(self.kind)


@dataclass
class DealContext:
    """What a deal's features need beyond the request: the stages and past win rates."""

    dataset: str
    stages: StageSet
    win_rates: feat.WinRates


@dataclass
class ModelSet:
    lead: Served | None
    deal: Served | None
    deal_context: DealContext | None
    loaded_at: datetime
    problems: list[str] = field(default_factory=list)


# --- loading ----------------------------------------------------------------------------------


def load_model_set(settings: Settings, engine: Engine) -> ModelSet:
    """Champions (or fallbacks) for leads and deals; what failed is said in `problems`."""
    problems: list[str] = []
    context = None
    try:
        context = _deal_context(engine, settings)
    except NotFound as exc:
        problems.append(f"deals: {exc}")
    lead = _served(LEAD, settings, engine, context, problems)
    deal = _served(DEAL, settings, engine, context, problems)
    return ModelSet(lead, deal, context, store.utcnow(), problems)


def _served(kind: str, settings: Settings, engine: Engine, context: DealContext | None,
            problems: list[str]) -> Served | None:
    try:
        loaded = registry.load_champion(kind, settings)
    except ModelNotReady as exc:
        problems.append(f"{kind}: {exc}")
        loaded = None
    if loaded is not None:
        details = {}
        try:
            details = registry.show_model(kind, loaded.version, settings)
        except Exception as exc:  # noqa: BLE001 - details are optional when serving a local copy
            log.warning("could not read %s model details: %s", kind, exc)
        scorer = select_scorer(loaded.model)
        scorer.label = f"model {registry.model_name(kind)} v{loaded.version}"
        return Served(kind, scorer, loaded.version, loaded.source, details)
    try:
        scorer = _fallback(kind, engine, context)
    except (ModelNotReady, NotFound) as exc:
        problems.append(f"{kind}: {exc}")
        return None
    return Served(kind, scorer, None, "fallback")


def _fallback(kind: str, engine: Engine, context: DealContext | None) -> Scorer:
    with engine.connect() as conn:
        if kind == DEAL:
            if context is None:
                raise ModelNotReady("no deal model and no deal history to fall back on")
            options = store.get_dataset(conn, context.dataset)["options"] or {}
            from forecast.training import fallback_stage_rates

            rates = fallback_stage_rates(
                store.load_opportunities(engine, context.dataset),
                store.load_history(engine, context.dataset), context.stages, options=options)
            return select_scorer(None, stage_rates=rates)
        name = store.resolve_dataset(conn, None, "leads")
    labels = store.load_leads(engine, name)["converted"].dropna()
    if labels.empty:
        raise ModelNotReady("no lead model and no labelled leads to fall back on")
    return select_scorer(None, base_rate=float(labels.mean()))


def _deal_context(engine: Engine, settings: Settings) -> DealContext:
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, settings.deal_dataset, "opportunities")
        stages = store.dataset_stages(conn, name)
    opportunities = store.load_opportunities(engine, name)
    now = store.utcnow()
    return DealContext(name, stages, feat.win_rates_as_of(opportunities, stages, now))


# --- scoring ----------------------------------------------------------------------------------


def _grade(scorer: Scorer, p: float) -> str:
    if scorer.method == MODEL:
        return str(scorer.model.grade(p))
    a, b, c = FALLBACK_CUTS
    return "A" if p >= a else "B" if p >= b else "C" if p >= c else "D"


def _plain(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    out = []
    for r in reasons:
        value = r.value.item() if isinstance(r.value, np.generic) else r.value
        if isinstance(value, float) and math.isnan(value):
            value = None
        out.append({"field": r.field, "value": value, "contribution": round(r.contribution, 4),
                    "sentence": r.sentence})
    return out


def _fallback_reason(served: Served, row: Mapping[str, Any], p: float) -> list[dict[str, Any]]:
    scorer = served.scorer
    if served.kind == DEAL and scorer.stage_rates is not None:
        return [{"field": "Stage", "value": row.get("stage"), "contribution": 0.0,
                 "sentence": f"Stage = {row.get('stage')}: historical win rate {p:.0%} "
                             "(no champion model yet)"}]
    return [{"field": "(all leads)", "value": None, "contribution": 0.0,
             "sentence": f"base conversion rate {p:.0%} (no champion model yet)"}]


def _result(served: Served, p: float, up: list, down: list) -> Score:
    scorer = served.scorer
    return Score(p, to_score(p), _grade(scorer, p), up, down, served.name, served.version,
                 scorer.method, scorer.label)


def score_row(served: Served, row: Mapping[str, Any], top: int = 3) -> Score:
    """One row given as field → value; fields the model does not know are ignored."""
    scorer = served.scorer
    if scorer.method != MODEL:
        p = float(scorer.score_row(row))
        return _result(served, p, _fallback_reason(served, row, p), [])
    sub = scorer.model.model_for_row(row)
    x = sub.encode_row(row)
    contrib = contributions(sub, x)[0]
    raw = contrib.sum() + path_contributions(sub).bias  # the contributions add up to it
    p = float(sub._calibrate(np.array([raw]))[0])
    up, down = top_factors(contrib, top, 1e-6)
    labels = getattr(scorer.model, "field_labels_", None) or {}
    cols, encoder = sub.encoder_.columns, sub.encoder_

    def reasons(picked: list[int]) -> list[dict[str, Any]]:
        return _plain([factor(cols[j], labels.get(cols[j], cols[j]), encoder.decode(j, x[0, j]),
                               contrib[j]) for j in picked])

    return _result(served, p, reasons(up), reasons(down))


def score_rows(served: Served, rows: Sequence[Mapping[str, Any]], top: int = 3) -> list[Score]:
    """Many rows at once: rows encoded straight into a matrix, one leaf lookup per model, the
    top factors picked with numpy, and each distinct sentence formatted once."""
    scorer = served.scorer
    if not rows:
        return []
    if scorer.method != MODEL:
        return [score_row(served, r, top) for r in rows]
    model = scorer.model
    labels = getattr(model, "field_labels_", None) or {}
    out: list[Score | None] = [None] * len(rows)
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i, row in enumerate(rows):  # per-team models: each row goes to the model that scores it
        sub = model.model_for_row(row)
        groups.setdefault(id(sub), (sub, []))[1].append(i)
    for sub, index in groups.values():
        scored = _score_group(served, sub, [rows[i] for i in index], labels, top)
        for i, result in zip(index, scored, strict=True):
            out[i] = result
    return out  # type: ignore[return-value]


def _score_group(served: Served, sub: Any, rows: Sequence[Mapping[str, Any]],
                 labels: Mapping[str, str], top: int) -> list[Score]:
    encoder = sub.encoder_
    matrix = np.column_stack([_encode_column(encoder, col, rows) for col in encoder.columns])
    contrib = contributions(sub, matrix)
    p = sub._calibrate(contrib.sum(axis=1) + path_contributions(sub).bias)
    order = np.argsort(contrib, axis=1)
    sentences: dict[tuple, dict[str, Any]] = {}

    def said(k: int, j: int) -> dict[str, Any]:
        key = (j, matrix[k, j], contrib[k, j] > 0)
        cached = sentences.get(key)
        if cached is None:
            col = encoder.columns[j]
            cached = _plain([factor(col, labels.get(col, col), encoder.decode(j, key[1]),
                                     1.0 if key[2] else -1.0)])[0]
            sentences[key] = cached
        return {**cached, "contribution": round(float(contrib[k, j]), 4)}

    results = []
    for k in range(len(rows)):
        up = [j for j in order[k, ::-1][:top] if contrib[k, j] > 1e-6]
        down = [j for j in order[k, :top] if contrib[k, j] < -1e-6]
        results.append(_result(served, float(p[k]), [said(k, j) for j in up],
                               [said(k, j) for j in down]))
    return results


def _encode_column(encoder: Any, col: str, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """One model input for many rows, as `FeatureEncoder.encode_row` would encode it."""
    codes = encoder._codes.get(col)
    values = [r.get(col) for r in rows]
    if codes is not None:
        return np.array([math.nan if v is None else codes.get(str(v), math.nan) for v in values],
                        dtype=float)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)


# --- deal rows from a CRM's request -------------------------------------------------------------


def deal_row(context: DealContext, deal: Mapping[str, Any], as_of: object = None) -> dict:
    """The deal model's inputs for an open deal sent by a CRM, as of now (or `as_of`)."""
    stage_name = deal.get("stage")
    if stage_name is None or not context.stages.is_known(str(stage_name)):
        raise InvalidInput(
            f"stage: {stage_name!r} is not a stage of dataset '{context.dataset}'; expected one "
            f"of {list(context.stages.open_stages)}")
    stage = context.stages.canonical(str(stage_name))
    if stage in (context.stages.won, context.stages.lost):
        raise InvalidInput(f"stage: {stage!r} is an outcome; only open deals are scored")
    t = as_timestamp(as_of) if as_of is not None else pd.Timestamp(store.utcnow())
    created = _when(deal.get("created_at"), "created_at")
    entered = _when(deal.get("stage_entered_at"), "stage_entered_at") or created
    row = {k: deal.get(k) for k in feat.DEAL_FEATURES if k in deal}
    row["stage"] = stage
    row["stage_index"] = context.stages.order(stage)
    row["age_days"] = (t - created).total_seconds() / 86_400 if created is not None else None
    row["days_in_stage"] = (t - entered).total_seconds() / 86_400 if entered is not None else None
    row.update(context.win_rates.lookup(deal.get("owner"), deal.get("account")))
    return row


def _when(value: object, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return as_timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{name}: {value!r} is not a date") from exc
