"""Train and evaluate the lead-qualification model against its baselines.

A holdout by time where leads carry dates; otherwise a stratified holdout that is stable across
runs (a hash of the lead id, so a later model is never tested on rows an earlier one trained
on), plus stratified K-fold cross-validation on the training part for the spread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from forecast import features as feat
from forecast.data.fingerprint import fingerprint
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.modeling import lead_dates
from forecast.modeling import metrics as m
from forecast.modeling.baselines import baselines_for
from forecast.modeling.estimators import group_fractions
from forecast.modeling.families import LIGHTGBM
from forecast.modeling.fitting import (
    Engine,
    InProcess,
    Progress,
    TrainingResult,
    boosted_classifier,
    check_holdout,
    choose_family,
    fit_families,
    holdout_examples,
    note,
)
from forecast.modeling.leaks import leak_warnings, outcome_written
from forecast.modeling.outcome_window import windowed
from forecast.settings import Settings, get_settings

#: The holdout of leads without dates does not depend on the training seed: it stays put.
HOLDOUT_SALT = 20_240_601
#: Share of leads that must carry `created_at` for the holdout to be by time.
MIN_DATED_SHARE = 0.9


def _stable_stratified_holdout(ids: pd.Series, y: np.ndarray, fraction: float) -> np.ndarray:
    """Test mask: per class, the `fraction` of rows with the smallest hash of their id."""
    u = group_fractions(ids.to_numpy(), HOLDOUT_SALT)
    test = np.zeros(len(y), dtype=bool)
    for cls in (0.0, 1.0):
        idx = np.flatnonzero(y == cls)
        k = int(round(len(idx) * fraction))
        test[idx[np.argsort(u[idx], kind="stable")[:k]]] = True
    return test


def _created(leads: pd.DataFrame) -> pd.Series:
    """`created_at` as naive UTC timestamps (blank or unreadable → NaT); all NaT if absent."""
    if "created_at" not in leads.columns:
        return pd.Series(pd.NaT, index=leads.index, dtype="datetime64[us]")
    return lead_dates.created_utc(leads["created_at"])


def _young_leads_note(created: pd.Series, y: np.ndarray) -> str | None:
    """A warning when the newest tenth of dated leads converted at under half the rate of the
    older ones, beyond chance (4 standard errors): the mark of open leads written as not
    converted, whose 0 is no outcome yet (or of a real fall in lead quality: the user knows)."""
    dated = created.notna().to_numpy()
    if dated.sum() < 200:
        return None
    when, label = created[dated], y[dated]
    cut = when.quantile(0.9)
    new = (when >= cut).to_numpy()
    rate_new, rate_old, rate = label[new].mean(), label[~new].mean(), label.mean()
    se = np.sqrt(rate * (1 - rate) * (1 / new.sum() + 1 / (~new).sum()))
    if se == 0 or rate_new >= rate_old / 2 or (rate_old - rate_new) / se < 4:
        return None
    return (
        f"leads created since {cut:%Y-%m-%d} (the newest tenth, {int(new.sum()):,}) converted "
        f"at {rate_new:.1%} against {rate_old:.1%} before: if many are still open, their 0 is "
        "not an outcome yet and the model learns, and is tested on, leads that had no time to "
        "convert; leave open leads unlabelled (a blank label, or their status under "
        "missing_values) or train on an export taken later"
    )


def _lead_holdout(
    leads: pd.DataFrame, y: np.ndarray, fraction: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Test mask and how it was drawn: the newest `fraction` of leads where leads are dated.

    Scoring always meets leads newer than the training data, so a holdout by time measures what
    users get; a random one flatters when conversion drifts. Leads count as dated when at least
    `MIN_DATED_SHARE` of them carry `created_at`; the few undated ones then train (their time is
    unknown, so they cannot be shown to be older or newer) and are never tested on.
    """
    created = _created(leads)
    share = float(created.notna().mean()) if len(created) else 0.0
    if share >= MIN_DATED_SHARE:
        cut = created.quantile(1 - fraction)
        test = (created >= cut).to_numpy()
        split = {
            "method": "time",
            "cut": str(cut),
            "holdout_fraction": fraction,
            "undated_in_training": int(created.isna().sum()),
        }
        return test, split
    test = _stable_stratified_holdout(leads["id"].astype(str), y, fraction)
    split = {"method": "stratified holdout (stable, by id)", "holdout_fraction": fraction}
    if share > 0:
        split["partly_dated"] = True
        split["why"] = (
            f"only {share:.0%} of leads have a created_at date (a holdout by time needs "
            f"{MIN_DATED_SHARE:.0%}): the holdout is a stable random one, not by time"
        )
    else:
        split["why"] = "leads have no created_at dates: the holdout is a stable random one"
    return test, split


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
    engine: Engine | None = None,
) -> TrainingResult:
    """Fit the lead-qualification model and its baselines; evaluate on a holdout.

    `leads` has `id`, `converted` (0/1) and one column per attribute. Columns in `leak_columns`
    are left out unless `include_leaks`. `incumbent`, the current champion, is scored on the same
    holdout so promotion compares like with like. `engine` (default: in process) fits the
    booster; on a Dask cluster (`dask_training.DaskEngine`) every other step is the same.
    """
    engine = engine or InProcess()
    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    note(progress, "checking the data")
    if leads is None or len(leads) == 0:
        raise InvalidInput("no leads in the data: nothing to train on")
    if "converted" not in leads.columns:
        raise InvalidInput(
            f"missing target column 'converted'; the leads have {list(leads.columns)}"
        )
    if "id" not in leads.columns:
        leads = leads.assign(id=np.arange(len(leads)).astype(str))
    window = None
    if (found := windowed(leads, settings.min_converted_leads)) is not None:
        window, labels = found
        leads = leads.assign(converted=labels)
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
            f"({missing} more; setting min_converted_leads, env FORECAST_MIN_CONVERTED_LEADS). "
            "Nothing was trained or registered; lead scores fall back to the overall "
            "conversion rate"
        )
    created = _created(labelled)
    dates = lead_dates.date_inputs(created)
    attributes = labelled.join(dates) if len(dates.columns) else labelled
    X, cols = feat.prepare_leads(attributes, leak_columns, include_leaks=include_leaks)
    warnings: list[str] = [window.note] if window is not None else []
    note(progress, "looking for columns that give the answer away")
    written = outcome_written(X, y)
    if include_leaks and written:
        warnings.append(
            f"columns written by the outcome INCLUDED on request: {[w.column for w in written]}; "
            "metrics will look better than scoring new leads can be"
        )
    else:
        warnings += [w.note for w in written]
        X = X.drop(columns=[w.column for w in written])
    if X.shape[1] == 0:
        raise InvalidInput(
            "no attribute columns left to learn from after removing leak, "
            "outcome-written, identifier and single-valued columns"
        )
    if cols.leaks_excluded:
        warnings.append(f"leak columns excluded: {cols.leaks_excluded}")
    if include_leaks and leak_columns:
        warnings.append(
            f"leak columns INCLUDED on request: {list(leak_columns)}; metrics "
            "will look better than scoring new leads can be"
        )
    warnings += leak_warnings(X, y, settings.leak_warning_auc)

    if young := _young_leads_note(created, y):
        warnings.append(young)
    note(progress, "splitting")
    test, split = _lead_holdout(labelled, y, settings.holdout_fraction)
    if window is not None:
        split["outcome_window_days"] = round(window.days, 1)
    dated = split["method"] == "time"
    if split.get("partly_dated"):
        warnings.append(split["why"])
    check_holdout(y[~test], y[test], settings.min_holdout_per_class, "leads")
    X_train, X_test, y_train, y_test = X[~test], X[test], y[~test], y[test]

    note(progress, "fitting the model")
    boosted = engine.fit_boosted(boosted_classifier(settings, seed), X_train, y_train, None, None)
    note(progress, "fitting logistic regression and naive Bayes")
    labels = {c: lead_dates.LABELS.get(c, c) for c in X.columns}
    families = fit_families(boosted, X_train, y_train, None, labels, warnings)
    note(progress, "fitting the baselines")
    baselines = {name: b.fit(X_train, y_train) for name, b in baselines_for("leads").items()}

    note(progress, "evaluating on the holdout (bootstrap intervals)")
    others: dict[str, Any] = dict(baselines)
    if incumbent is not None:
        others["champion"] = incumbent
    compared = choose_family(
        "leads",
        families,
        others,
        X_test,
        y_test,
        None,
        None,
        base_rate=float(np.mean(y_train)),
        settings=settings,
        seed=seed,
        warnings=warnings,
    )
    model, metrics, preds = compared.model, compared.metrics, compared.predictions
    params = model.get_params()
    if compared.family == LIGHTGBM:
        params["best_iteration"] = model.best_iteration_

    cv = None
    if cross_validate and not dated:
        note(progress, f"cross-validating ({settings.cv_folds} stratified folds)")
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
        params={**params, "family": compared.family, **engine.params},
        seed=seed,
        features=list(X.columns),
        warnings=warnings,
        cv=cv,
        y_test=y_test,
        w_test=None,
        predictions=preds,
        input_example=X_test.head(5),
        examples=holdout_examples(model, X_test, preds["model"], test_ids),
        columns={
            "features": list(X.columns),
            "leaks_excluded": cols.leaks_excluded,
            "outcome_written": [] if include_leaks else [w.column for w in written],
            "identifiers": cols.identifiers,
            "single_valued": cols.constant,
        },
        dataset=dataset,
        seconds=time.perf_counter() - started,
        family=compared.family,
        families=compared.families,
        rivals=compared.rivals,
        gains=compared.gains,
    )


def _cross_validate(
    X: pd.DataFrame, y: np.ndarray, settings: Settings, seed: int
) -> dict[str, dict[str, float]]:
    """Mean and spread of AUC and Brier over stratified folds, for the model and baselines."""
    folds = StratifiedKFold(settings.cv_folds, shuffle=True, random_state=seed)
    scores: dict[str, dict[str, list[float]]] = {}
    for train_idx, test_idx in folds.split(X, y):
        models = {"model": boosted_classifier(settings, seed), **baselines_for("leads")}
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
