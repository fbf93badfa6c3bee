"""Train and evaluate a model against its baselines, honestly. No MLflow here (see `registry`).

- Deals: as-of snapshots (`features`), a holdout by time: the model and baselines learn from
  deals whose outcome was known before the cut date and are tested on deals that closed after it,
  seen from the cut on, each deal weighing one.
- Leads: a holdout by time where leads carry dates; otherwise a stratified holdout that is stable
  across runs (a hash of the lead id, so a later model is never tested on rows an earlier one
  trained on), plus stratified K-fold cross-validation on the training part for the spread.

The registered model is the one evaluated: it is not refitted on the holdout afterwards.

Errors: bad input → `InvalidInput` (empty data, missing target column, one class, too few rows
for a holdout); too little history → `InsufficientHistory` saying how much is missing. Both are
raised before anything is fitted, so nothing half-made reaches the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from forecast import features as feat
from forecast.data.fingerprint import fingerprint
from forecast.data.stages import LOST, WON
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.history import DealHistory, as_timestamp
from forecast.modeling import metrics as m
from forecast.modeling.baselines import baselines_for
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier, group_fractions
from forecast.modeling.reasons import as_dicts, explain
from forecast.settings import Settings, get_settings

Progress = Callable[[str], None]
#: The holdout of leads without dates does not depend on the training seed: it stays put.
HOLDOUT_SALT = 20_240_601
#: Training deals must be created this quantile of sales-cycle length before the cut.
MATURITY_QUANTILE = 0.9
#: Metrics the promotion rule compares.
PROMOTION_METRICS = ("roc_auc", "brier")


@dataclass
class TrainingResult:
    """Everything a run produced: the model, its and the baselines' holdout metrics, and why."""

    kind: str
    model: BoostedClassifier | PerTeamClassifier
    metrics: dict[str, dict[str, float]]
    split: dict[str, Any]
    rows: dict[str, int]
    fingerprint: str
    params: dict[str, Any]
    seed: int
    features: list[str]
    warnings: list[str] = field(default_factory=list)
    cv: dict[str, dict[str, float]] | None = None
    y_test: np.ndarray | None = None
    w_test: np.ndarray | None = None
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    input_example: pd.DataFrame | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    teams: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    dataset: str | None = None
    seconds: float = 0.0

    @property
    def baselines(self) -> list[str]:
        return [k for k in self.metrics if k not in ("model", "champion")]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what the CLI prints with --json and the registry logs."""
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "seed": self.seed,
            "split": self.split,
            "rows": self.rows,
            "fingerprint": self.fingerprint,
            "metrics": {k: {n: _plain(v) for n, v in d.items()} for k, d in self.metrics.items()},
            "cv": self.cv,
            "warnings": self.warnings,
            "teams": self.teams,
            "columns": self.columns,
            "params": self.params,
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
        }


def _plain(v: object) -> object:
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if np.isnan(f) else round(f, 6)
    return v


def _note(progress: Progress | None, step: str) -> None:
    if progress is not None:
        progress(step)


# --- checks -------------------------------------------------------------------------------------


def _bin_codes(series: pd.Series, bins: int = 20) -> np.ndarray:
    """Integer codes: numbers in quantile bins, text by value; missing gets a code of its own."""
    if is_numeric_dtype(series):
        values = series.to_numpy(dtype=float)
        known = values[~np.isnan(values)]
        if len(known) > 200_000:
            known = np.random.default_rng(0).choice(known, 200_000, replace=False)
        edges = (
            np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(known)
            else np.array([])
        )
        codes = np.searchsorted(edges, values, side="right")
        codes[np.isnan(values)] = len(edges) + 1
        return codes
    codes = pd.factorize(series, use_na_sentinel=True)[0]
    codes[codes < 0] = codes.max() + 1
    return codes


def single_column_auc(
    X: pd.DataFrame, y: np.ndarray, weight: np.ndarray | None = None, groups: object = None
) -> dict[str, float]:
    """How well each column alone separates the outcomes (AUC, flipped to be ≥ 0.5).

    Each column's values (numbers in 20 quantile bins, missing as a value) are scored by their
    outcome rate, learned on one half of the rows and applied to the other (cross-fitted, so a
    column of many distinct values does not look perfect by memorising).
    """
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    if len(np.unique(y)) < 2:
        return {}
    half = group_fractions(np.arange(len(y)) if groups is None else np.asarray(groups), 7) < 0.5
    prior = float(np.average(y, weights=w))
    out: dict[str, float] = {}
    for col in X.columns:
        codes = _bin_codes(X[col])
        k = int(codes.max()) + 1
        score = np.empty(len(y))
        for learn in (half, ~half):
            yw = np.bincount(codes[learn], weights=(y * w)[learn], minlength=k)
            ww = np.bincount(codes[learn], weights=w[learn], minlength=k)
            rate = (yw + prior) / (ww + 1.0)
            score[~learn] = rate[codes[~learn]]
        auc = m.roc_auc(y, score, w)
        out[str(col)] = max(auc, 1 - auc)
    return out


def leak_warnings(
    X: pd.DataFrame,
    y: np.ndarray,
    threshold: float,
    weight: np.ndarray | None = None,
    groups: object = None,
) -> list[str]:
    """A warning per column that alone predicts the label almost perfectly."""
    aucs = single_column_auc(X, y, weight, groups)
    return [
        f"column {col!r} alone predicts the label almost perfectly (AUC {auc:.3f}): it may be "
        "filled in after the outcome is known; declare it a leak column if so"
        for col, auc in sorted(aucs.items(), key=lambda kv: -kv[1])
        if auc >= threshold
    ]


def _check_holdout(y_train: np.ndarray, y_test: np.ndarray, n_min: int, unit: str) -> None:
    for name, y in (("holdout", y_test), ("training part", y_train)):
        pos, neg = int(np.sum(y == 1)), int(np.sum(y == 0))
        need = n_min if name == "holdout" else 1
        if pos < need or neg < need:
            raise InvalidInput(
                f"too few rows for a holdout: the {name} has {pos} positive and {neg} negative "
                f"{unit}; each needs at least {need}. Give more history or lower "
                "FORECAST_HOLDOUT_FRACTION / FORECAST_MIN_HOLDOUT_PER_CLASS"
            )


# --- fitting and evaluating ---------------------------------------------------------------------


def _boosted(settings: Settings, seed: int) -> BoostedClassifier:
    return BoostedClassifier(n_jobs=settings.lgbm_threads, random_state=seed)


def _evaluate(
    models: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray | None,
    warnings: list[str],
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    metrics, preds = {}, {}
    for name, model in models.items():
        try:
            p = np.asarray(model.predict_proba(X))[:, 1]
        except Exception as exc:  # noqa: BLE001 - a champion trained on other columns
            if name != "champion":
                raise
            warnings.append(
                f"the current champion could not score this holdout ({exc}); "
                "it is compared by its own recorded metrics instead"
            )
            continue
        preds[name] = p
        metrics[name] = m.evaluate(y, p, w)
    return metrics, preds


def _examples(model: Any, X: pd.DataFrame, p: np.ndarray, ids: Sequence[object]) -> list[dict]:
    """Reasons for the highest- and lowest-scored holdout rows (for the report)."""
    if len(X) == 0:
        return []
    picks = list(dict.fromkeys([int(np.argmax(p)), int(np.argmin(p))]))
    reasons = explain(model, X.iloc[picks], top=3)
    return [
        {"id": str(ids[i]), "probability": round(float(p[i]), 4), **as_dicts(r)}
        for i, r in zip(picks, reasons, strict=True)
    ]


# --- leads --------------------------------------------------------------------------------------


def _stable_stratified_holdout(ids: pd.Series, y: np.ndarray, fraction: float) -> np.ndarray:
    """Test mask: per class, the `fraction` of rows with the smallest hash of their id."""
    u = group_fractions(ids.to_numpy(), HOLDOUT_SALT)
    test = np.zeros(len(y), dtype=bool)
    for cls in (0.0, 1.0):
        idx = np.flatnonzero(y == cls)
        k = int(round(len(idx) * fraction))
        test[idx[np.argsort(u[idx], kind="stable")[:k]]] = True
    return test


def train_leads(
    leads: pd.DataFrame,
    *,
    leak_columns: Sequence[str] = (),
    include_leaks: bool = False,
    settings: Settings | None = None,
    seed: int | None = None,
    incumbent: Any = None,
    cross_validate: bool = True,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Fit the lead-qualification model and its baselines; evaluate on a holdout.

    `leads` has `id`, `converted` (0/1) and one column per attribute. Columns in `leak_columns`
    are left out unless `include_leaks`. `incumbent`, the current champion, is scored on the same
    holdout so promotion compares like with like.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    _note(progress, "checking the data")
    if leads is None or len(leads) == 0:
        raise InvalidInput("no leads in the data: nothing to train on")
    if "converted" not in leads.columns:
        raise InvalidInput(
            f"missing target column 'converted'; the leads have {list(leads.columns)}"
        )
    if "id" not in leads.columns:
        leads = leads.assign(id=np.arange(len(leads)).astype(str))
    y_all = feat.lead_labels(leads)
    labelled = leads[y_all.notna().to_numpy()].reset_index(drop=True)
    y = y_all.dropna().to_numpy(dtype=float)
    if len(labelled) == 0:
        raise InvalidInput("no lead has a 'converted' value (0 or 1): nothing to learn from")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InvalidInput("'converted' must be 0 or 1")
    converted, not_converted = int(y.sum()), int(len(y) - y.sum())
    if converted == 0 or not_converted == 0:
        only = "converted" if converted else "unconverted"
        raise InvalidInput(
            f"one class only: all {len(y)} labelled leads are {only}; a model needs both outcomes"
        )
    if converted < settings.min_converted_leads:
        missing = settings.min_converted_leads - converted
        raise InsufficientHistory(
            f"{converted} converted leads; training needs {settings.min_converted_leads} "
            f"({missing} more). Nothing was trained or registered; lead scores fall back to "
            "the overall conversion rate"
        )
    X, cols = feat.prepare_leads(labelled, leak_columns, include_leaks=include_leaks)
    if X.shape[1] == 0:
        raise InvalidInput(
            "no attribute columns left to learn from after removing leak, "
            "identifier and single-valued columns"
        )
    warnings: list[str] = []
    if cols.leaks_excluded:
        warnings.append(f"leak columns excluded: {cols.leaks_excluded}")
    if include_leaks and leak_columns:
        warnings.append(
            f"leak columns INCLUDED on request: {list(leak_columns)}; metrics "
            "will look better than scoring new leads can be"
        )
    _note(progress, "looking for columns that give the answer away")
    warnings += leak_warnings(X, y, settings.leak_warning_auc)

    _note(progress, "splitting")
    dated = "created_at" in labelled and labelled["created_at"].notna().all()
    if dated:
        created = pd.to_datetime(labelled["created_at"])
        cut = created.quantile(1 - settings.holdout_fraction)
        test = (created >= cut).to_numpy()
        split = {"method": "time", "cut": str(cut), "holdout_fraction": settings.holdout_fraction}
    else:
        test = _stable_stratified_holdout(labelled["id"].astype(str), y, settings.holdout_fraction)
        split = {
            "method": "stratified holdout (stable, by id)",
            "holdout_fraction": settings.holdout_fraction,
        }
    _check_holdout(y[~test], y[test], settings.min_holdout_per_class, "leads")
    X_train, X_test, y_train, y_test = X[~test], X[test], y[~test], y[test]

    _note(progress, "fitting the model")
    model = _boosted(settings, seed).fit(X_train, y_train)
    model.field_labels_ = {c: c for c in X.columns}
    _note(progress, "fitting the baselines")
    baselines = {name: b.fit(X_train, y_train) for name, b in baselines_for("leads").items()}

    _note(progress, "evaluating on the holdout")
    candidates: dict[str, Any] = {"model": model, **baselines}
    if incumbent is not None:
        candidates["champion"] = incumbent
    metrics, preds = _evaluate(candidates, X_test, y_test, None, warnings)

    cv = None
    if cross_validate and not dated:
        _note(progress, f"cross-validating ({settings.cv_folds} stratified folds)")
        cv = _cross_validate(X_train, y_train, settings, seed)

    test_ids = labelled["id"].to_numpy()[test]
    return TrainingResult(
        kind="leads",
        model=model,
        metrics=metrics,
        split=split,
        rows={
            "leads": len(leads),
            "labelled": len(labelled),
            "converted": converted,
            "not_converted": not_converted,
            "train": int((~test).sum()),
            "test": int(test.sum()),
            "test_converted": int(y_test.sum()),
        },
        fingerprint=fingerprint(leads),
        params={**model.get_params(), "best_iteration": model.best_iteration_},
        seed=seed,
        features=list(X.columns),
        warnings=warnings,
        cv=cv,
        y_test=y_test,
        w_test=None,
        predictions=preds,
        input_example=X_test.head(5),
        examples=_examples(model, X_test, preds["model"], test_ids),
        columns={
            "features": cols.features,
            "leaks_excluded": cols.leaks_excluded,
            "identifiers": cols.identifiers,
            "single_valued": cols.constant,
        },
        dataset=dataset,
        seconds=time.perf_counter() - started,
    )


def _cross_validate(
    X: pd.DataFrame, y: np.ndarray, settings: Settings, seed: int
) -> dict[str, dict[str, float]]:
    """Mean and spread of AUC and Brier over stratified folds, for the model and baselines."""
    folds = StratifiedKFold(settings.cv_folds, shuffle=True, random_state=seed)
    scores: dict[str, dict[str, list[float]]] = {}
    for train_idx, test_idx in folds.split(X, y):
        models = {"model": _boosted(settings, seed), **baselines_for("leads")}
        for name, est in models.items():
            fitted = clone(est).fit(X.iloc[train_idx], y[train_idx])
            p = fitted.predict_proba(X.iloc[test_idx])[:, 1]
            entry = scores.setdefault(name, {"roc_auc": [], "brier": []})
            entry["roc_auc"].append(m.roc_auc(y[test_idx], p))
            entry["brier"].append(m.brier(y[test_idx], p))
    return {
        name: {
            f"{k}_{stat}": round(float(fn(v)), 6)
            for k, v in d.items()
            for stat, fn in (("mean", np.mean), ("std", np.std))
        }
        for name, d in scores.items()
    }


# --- deals --------------------------------------------------------------------------------------


def _deal_labels(field_names: dict[str, str] | None) -> dict[str, str]:
    labels = dict(feat.DEAL_LABELS)
    for canonical, original in (field_names or {}).items():
        if canonical in labels and canonical in feat.DEAL_CATEGORICAL + (
            "list_price",
            "account_employees",
            "account_revenue",
        ):
            labels[canonical] = original
    return labels


def train_deals(
    history: DealHistory,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
    incumbent: Any = None,
    field_names: dict[str, str] | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Fit the close-probability model on as-of snapshots; test on deals that closed later.

    Where the dataset only learns amounts at close (`history.options`), the list price stands in
    while a deal is open; fields the export-state leak check left out are not used.
    `field_names` maps canonical fields to the export's own column names, for reasons in the
    user's words.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    amount_known = history.options.amount_known_before_close
    opportunities = history.deals
    _note(progress, "checking the data")
    if len(opportunities) == 0:
        raise InvalidInput("no deals in the data: nothing to train on")
    ended = opportunities[
        opportunities["status"].isin([WON, LOST])
        & opportunities["closed_at"].notna()
        & opportunities["created_at"].notna()
    ]
    won, lost = int((ended["status"] == WON).sum()), int((ended["status"] == LOST).sum())
    if won + lost == 0:
        raise InvalidInput(
            f"none of the {len(opportunities)} deals has ended (won or lost with "
            "dates): there is no outcome to learn from"
        )
    if won == 0 or lost == 0:
        only = "won" if won else "lost"
        raise InvalidInput(
            f"one class only: all {won + lost} ended deals were {only}; a model needs both outcomes"
        )
    if won < settings.min_won_deals or lost < settings.min_lost_deals:
        need_won = max(0, settings.min_won_deals - won)
        need_lost = max(0, settings.min_lost_deals - lost)
        raise InsufficientHistory(
            f"{won} won and {lost} lost deals; training needs {settings.min_won_deals} and "
            f"{settings.min_lost_deals} ({need_won} won and {need_lost} lost more). Nothing was "
            "trained or registered; deal scores fall back to the per-stage win rate"
        )

    _note(progress, "building as-of snapshots")
    closes = ended["closed_at"].sort_values()
    cut = as_timestamp(closes.quantile(1 - settings.holdout_fraction)).normalize()
    if cut <= closes.iloc[0]:
        cut = closes.iloc[0] + pd.Timedelta(days=1)
    every = settings.snapshot_every_days
    # Maturity window: a deal created less than a usual sales cycle before the cut is in the
    # training part only if it closed fast (mostly lost); leaving those out avoids teaching the
    # model that recent deals lose. The cycle is measured on deals closed before the cut.
    before = ended[ended["closed_at"] < cut]
    cycle = (before["closed_at"] - before["created_at"]).dt.total_seconds() / 86_400
    maturity = float(np.ceil(cycle.quantile(MATURITY_QUANTILE))) if len(cycle) else 0.0
    mature_before = cut - pd.Timedelta(days=maturity)
    train_rows = feat.deal_training_rows(
        history, every_days=every, known_before=cut, created_before=mature_before
    )
    test_rows = feat.deal_rows_after(history, cut, every_days=every)
    y_train = train_rows["won"].to_numpy(float)
    y_test = test_rows["won"].to_numpy(float)
    deals_train = train_rows.drop_duplicates("id")["won"].to_numpy()
    deals_test = test_rows.drop_duplicates("id")["won"].to_numpy()
    _check_holdout(deals_train, deals_test, settings.min_holdout_per_class, "deals")
    X_train = feat.deal_features(train_rows, history.left_out)
    X_test = feat.deal_features(test_rows, history.left_out)
    w_train, w_test = train_rows["weight"].to_numpy(), test_rows["weight"].to_numpy()
    groups = train_rows["id"].to_numpy()
    still_open = int((opportunities["status"] == "open").sum())
    split = {
        "method": "time",
        "cut": str(cut.date()),
        "holdout_fraction": settings.holdout_fraction,
        "train": "deals created a sales cycle (90th percentile) before the cut and closed "
        "before it, snapshots while open",
        "test": "deals closed on or after the cut, seen from the cut on; each deal weighs one",
        "censored_open_deals": still_open,
        "snapshot_every_days": every,
        "train_created_before": str(mature_before.date()),
        "maturity_days": maturity,
        "amount_known_before_close": amount_known,
    }
    warnings: list[str] = list(history.leak_notes)
    if not amount_known:
        warnings.append(
            "amounts are only known at close in this data: open deals carry the "
            "list price as their amount"
        )
    _note(progress, "looking for columns that give the answer away")
    warnings += leak_warnings(X_train, y_train, settings.leak_warning_auc, w_train, groups)

    _note(progress, "fitting the model (global and per team)")
    model = PerTeamClassifier(
        base=_boosted(settings, seed),
        team_column="team",
        min_won=settings.team_min_won_deals,
        min_lost=settings.team_min_lost_deals,
    ).fit(X_train, y_train, w_train, groups)
    labels = _deal_labels(field_names)
    model.field_labels_ = labels
    _note(progress, "fitting the baselines")
    baselines = {
        name: b.fit(X_train, y_train, sample_weight=w_train)
        for name, b in baselines_for("deals").items()
    }

    _note(progress, "evaluating on the holdout")
    candidates: dict[str, Any] = {"model": model, **baselines}
    if incumbent is not None:
        candidates["champion"] = incumbent
    metrics, preds = _evaluate(candidates, X_test, y_test, w_test, warnings)
    return TrainingResult(
        kind="deals",
        model=model,
        metrics=metrics,
        split=split,
        rows={
            "deals": len(opportunities),
            "won": won,
            "lost": lost,
            "open": still_open,
            "train_rows": len(train_rows),
            "train_deals": int(len(deals_train)),
            "test_rows": len(test_rows),
            "test_deals": int(len(deals_test)),
            "test_won": int(deals_test.sum()),
        },
        fingerprint=fingerprint(opportunities, history.stage_log),
        params={
            **model.global_.get_params(),
            "best_iteration": model.global_.best_iteration_,
            "snapshot_every_days": every,
            "team_min_won": settings.team_min_won_deals,
            "team_min_lost": settings.team_min_lost_deals,
        },
        seed=seed,
        features=list(X_train.columns),
        warnings=warnings,
        y_test=y_test,
        w_test=w_test,
        predictions=preds,
        input_example=X_test.head(5),
        examples=_examples(model, X_test, preds["model"], test_rows["id"].to_numpy()),
        teams=model.team_report_,
        dataset=dataset,
        seconds=time.perf_counter() - started,
        columns={
            "features": list(X_train.columns),
            "never_features": sorted(feat.REVEALED_AT_CLOSE),
        },
    )
