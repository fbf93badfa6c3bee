"""Train and evaluate the lead-qualification model against its baselines.

A holdout by time where leads carry dates; otherwise a stratified holdout that is stable across
runs (a hash of the lead id, so a later model is never tested on rows an earlier one trained
on), plus stratified K-fold cross-validation on the training part for the spread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from forecast import features as feat
from forecast import lead_columns
from forecast.data.fingerprint import fingerprint
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.lead_columns import LeadColumns
from forecast.modeling import lead_dates
from forecast.modeling import metrics as m
from forecast.modeling.baselines import baselines_for
from forecast.modeling.estimators import group_fractions
from forecast.modeling.families import LIGHTGBM
from forecast.modeling.fitting import (
    Engine,
    Holdout,
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

if TYPE_CHECKING:
    from forecast.data.reading import Notation

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
        "missing_values), declare the time leads take to convert (the mapping's outcome_days: "
        "leads younger than it are scored, not learnt from) or train on an export taken later"
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


class LeadSource(Protocol):
    """Where a run's leads are: in this process (`WholeLeads`) or in slices read on a
    cluster's workers (`dask_leads.ClusterLeads`). The run reads every lead's keys here, and of
    their attributes only what its steps need: the columns' facts, the inputs of (a sample of)
    the labelled leads, and the holdout and the booster's rows where the source keeps them."""

    #: Where the leads that are not in the sample are (for the run's warning).
    where: str

    def keys(self) -> pd.DataFrame:
        """Every lead's `id`, `converted` and dates (those the leads have), in order."""
        ...

    def columns(
        self,
        labelled: np.ndarray,
        hours: bool | None,
        leak_columns: Sequence[str],
        include_leaks: bool,
    ) -> LeadColumns:
        """The attributes the labelled leads' model learns from (`lead_columns.decide`)."""
        ...

    def inputs(
        self, labelled: np.ndarray, hours: bool | None, columns: LeadColumns, take: np.ndarray
    ) -> pd.DataFrame:
        """The inputs of the labelled leads where `take` (over the labelled leads)."""
        ...

    def holdout(
        self,
        labelled: np.ndarray,
        hours: bool | None,
        columns: LeadColumns,
        test: np.ndarray,
        y_test: np.ndarray,
    ) -> pd.DataFrame | Holdout:
        """The inputs of the labelled leads where `test` (labels `y_test`), where the source
        keeps them."""
        ...

    def prepare_booster(
        self,
        engine: Engine,
        labelled: np.ndarray,
        hours: bool | None,
        columns: LeadColumns,
        train: np.ndarray,
        y: np.ndarray,
    ) -> None:
        """The booster's rows (the labelled leads where `train`, labels `y`) put where the
        engine fits them, where the source keeps them (else it fits the rows it is given)."""
        ...

    def fingerprint(self) -> str: ...


class WholeLeads:
    """Leads held in this process: one frame, every step reads it."""

    where = "in this process"

    def __init__(self, leads: pd.DataFrame, date_formats: Sequence[str] = ()) -> None:
        if "id" not in leads.columns:
            leads = leads.assign(id=np.arange(len(leads)).astype(str))
        self.leads = leads
        #: The dataset's own date formats: an attribute of dates in them is a date given or not.
        self.date_formats = tuple(date_formats)

    def keys(self) -> pd.DataFrame:
        return self.leads

    def _attributes(self, labelled: np.ndarray, hours: bool | None) -> pd.DataFrame:
        return with_dates(self.leads[labelled].reset_index(drop=True), hours)

    def columns(
        self,
        labelled: np.ndarray,
        hours: bool | None,
        leak_columns: Sequence[str],
        include_leaks: bool,
    ) -> LeadColumns:
        attributes = self._attributes(labelled, hours)
        return lead_columns.decide(
            [lead_columns.facts_of(attributes, self.date_formats)],
            lead_columns.attribute_names(attributes),
            leak_columns,
            include_leaks=include_leaks,
        )

    def inputs(
        self, labelled: np.ndarray, hours: bool | None, columns: LeadColumns, take: np.ndarray
    ) -> pd.DataFrame:
        X = lead_columns.apply(self._attributes(labelled, hours), columns)
        return X if take.all() else X[take]

    def holdout(
        self,
        labelled: np.ndarray,
        hours: bool | None,
        columns: LeadColumns,
        test: np.ndarray,
        y_test: np.ndarray,
    ) -> pd.DataFrame | Holdout:
        return self.inputs(labelled, hours, columns, test)

    def prepare_booster(self, *args: Any) -> None:
        return None  # the engine fits the rows it is given: every training lead, here

    def fingerprint(self) -> str:
        return fingerprint(self.leads)


def later_note(column: str, later: int, of: int, included: bool) -> str:
    """What training says of a column of dates lying after the leads' creation."""
    said = (
        "INCLUDED on request: metrics will look better than scoring new leads can be"
        if included
        else "left out of the model (--include-leaks keeps it)"
    )
    return (
        f"column {column!r} holds a date on a later day than the lead's creation on {later:,} "
        f"of the {of:,} leads that have both: it records what happened after the lead came in, "
        f"which a lead scored as it comes in cannot have yet; {said}"
    )


def with_dates(leads: pd.DataFrame, hours: bool | None) -> pd.DataFrame:
    """Leads with their date inputs (`lead_dates.date_inputs`; none where `hours` is None: no
    lead is dated)."""
    if hours is None:
        return leads
    dates = lead_dates.date_inputs(_created(leads), hours)
    return leads.join(dates) if len(dates.columns) else leads


def train_leads(
    leads: pd.DataFrame | LeadSource,
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
    notation: Notation = None,
    date_formats: Sequence[str] = (),
    outcome_days: float | None = None,
) -> TrainingResult:
    """Fit the lead-qualification model and its baselines; evaluate on a holdout.

    `leads` has `id`, `converted` (0/1) and one column per attribute (or is a `LeadSource`:
    slices on a cluster). Columns in `leak_columns` are left out unless `include_leaks`.
    `incumbent`, the current champion, is scored on the same holdout so promotion compares like
    with like. `engine` (default: in process) fits the booster; on a Dask cluster
    (`dask_training.DaskEngine`) every other step is the same, on the labelled leads' inputs
    here, or past `family_rows` of them on a stable sample (the booster and the holdout read
    every lead where the source keeps them). `date_formats`: the dataset's own (its mapping's
    `date_format`), with ISO 8601 how an attribute of dates is told (`lead_columns.set_flags`).
    `outcome_days`: the mapping's declared outcome window (`outcome_window.windowed`).
    """
    engine = engine or InProcess()
    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    note(progress, "checking the data")
    if leads is None or (isinstance(leads, pd.DataFrame) and len(leads) == 0):
        raise InvalidInput("no leads in the data: nothing to train on")
    source = WholeLeads(leads, date_formats) if isinstance(leads, pd.DataFrame) else leads
    keys = source.keys()
    if len(keys) == 0:
        raise InvalidInput("no leads in the data: nothing to train on")
    if "converted" not in keys.columns:
        raise InvalidInput(
            f"missing target column 'converted'; the leads have {list(keys.columns)}"
        )
    window = None
    if (found := windowed(keys, settings.min_converted_leads, outcome_days)) is not None:
        window, y_all = found
    else:
        y_all = feat.lead_labels(keys)
    labelled = y_all.notna().to_numpy()
    labelled_keys = keys[labelled].reset_index(drop=True)
    y = y_all.dropna().to_numpy(dtype=float)
    if len(labelled_keys) == 0:
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
    created = _created(labelled_keys)
    hours = lead_dates.hours_vary(created) if created.notna().any() else None
    cols = source.columns(labelled, hours, leak_columns, include_leaks)
    take = _family_sample(source, labelled_keys["id"], settings)
    X = source.inputs(labelled, hours, cols, take)
    y_taken = y[take]
    warnings: list[str] = [window.note] if window is not None else []
    note(progress, "looking for columns that give the answer away")
    # A date column's 0 is its blank: a date written at conversion is said blank on the others.
    unset = {c: X[c].where(X[c] == 1) for c in cols.set_flags if c in X.columns}
    # Written by the outcome whenever it came: a lead that converted after the outcome window
    # (learnt as 0) still has what its conversion wrote, so it is judged by its own label.
    ever = y_taken if window is None else feat.lead_labels(keys).to_numpy(float)[labelled][take]
    written = outcome_written(X.assign(**unset) if unset else X, ever)
    if include_leaks and written:
        warnings.append(
            f"columns written by the outcome INCLUDED on request: {[w.column for w in written]}; "
            "metrics will look better than scoring new leads can be"
        )
    else:
        warnings += [w.note for w in written]
        X = X.drop(columns=[w.column for w in written])
        cols = replace(cols, features=list(X.columns))
    if X.shape[1] == 0:
        raise InvalidInput(
            "no attribute columns left to learn from after removing leak, "
            "outcome-written, identifier and single-valued columns"
        )
    if cols.leaks_excluded:
        warnings.append(f"leak columns excluded: {cols.leaks_excluded}")
    warnings += [later_note(c, n, of, include_leaks) for c, (n, of) in cols.dated_later.items()]
    if include_leaks and leak_columns:
        warnings.append(
            f"leak columns INCLUDED on request: {list(leak_columns)}; metrics "
            "will look better than scoring new leads can be"
        )
    warnings += leak_warnings(X, y_taken, settings.leak_warning_auc)
    if not take.all():
        warnings.append(
            f"logistic regression, naive Bayes, the baselines, the leak checks and the "
            f"cross-validation learnt from {int(take.sum()):,} of the {len(take):,} labelled "
            f"leads (a stable sample); LightGBM learnt from every training lead {source.where}"
        )

    if young := _young_leads_note(created, y):
        warnings.append(young)
    note(progress, "splitting")
    test, split = _lead_holdout(labelled_keys, y, settings.holdout_fraction)
    if window is not None:
        split["outcome_window_days"] = round(window.days, 1)
    dated = split["method"] == "time"
    if split.get("partly_dated"):
        warnings.append(split["why"])
    check_holdout(y[~test], y[test], settings.min_holdout_per_class, "leads")
    y_train, y_test = y[~test], y[test]
    X_train, y_sampled = X[~test[take]], y_taken[~test[take]]

    note(progress, "fitting the model")
    source.prepare_booster(engine, labelled, hours, cols, ~test, y_train)
    boosted = engine.fit_boosted(boosted_classifier(settings, seed), X_train, y_sampled, None, None)
    note(progress, "fitting logistic regression and naive Bayes")
    labels = {c: lead_dates.LABELS.get(c, c) for c in X.columns}
    families = fit_families(boosted, X_train, y_sampled, None, labels, warnings)
    date_flags = [c for c in cols.set_flags if c in X.columns]
    for fitted in families.values():  # inputs a request may send as yes/no (`LeadFields`)
        fitted.zero_one_inputs_ = [c for c in cols.zero_one if c in X.columns]
        # a date sent for these is 1, a blank 0 (`lead_columns.with_set_flags`)
        fitted.date_set_inputs_ = date_flags
    note(progress, "fitting the baselines")
    baselines = {name: b.fit(X_train, y_sampled) for name, b in baselines_for("leads").items()}

    note(progress, "evaluating on the holdout (bootstrap intervals)")
    X_test = X[test[take]] if take.all() else source.holdout(labelled, hours, cols, test, y_test)
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
        cv = _cross_validate(X_train, y_sampled, settings, seed)

    test_ids = labelled_keys["id"].to_numpy()[test]
    first = X_test.head(5) if isinstance(X_test, pd.DataFrame) else X_test.rows(range(5))
    return TrainingResult(
        kind="leads",
        model=model,
        metrics=metrics,
        split=split,
        rows={
            "leads": len(keys),
            "labelled": len(labelled_keys),
            "converted": converted,
            "not_converted": not_converted,
            "train": int((~test).sum()),
            "test": int(test.sum()),
            "test_converted": int(y_test.sum()),
        },
        fingerprint=source.fingerprint(),
        params={**params, "family": compared.family, **engine.params},
        seed=seed,
        features=list(X.columns),
        warnings=warnings,
        cv=cv,
        y_test=y_test,
        w_test=None,
        predictions=preds,
        input_example=first,
        examples=holdout_examples(model, X_test, preds["model"], test_ids, notation),
        columns={
            "features": list(X.columns),
            "leaks_excluded": cols.leaks_excluded,
            "outcome_written": [] if include_leaks else [w.column for w in written],
            "identifiers": cols.identifiers,
            "single_valued": cols.constant,
            "date_flags": date_flags,
            "dated_on_every_lead": cols.dated_everywhere,
            "dated_after_creation": [] if include_leaks else list(cols.dated_later),
            "scattered": list(cols.scattered),
        },
        dataset=dataset,
        seconds=time.perf_counter() - started,
        family=compared.family,
        families=compared.families,
        rivals=compared.rivals,
        gains=compared.gains,
    )


#: The sample of labelled leads the simple families learn from past `family_rows` does not
#: depend on the training seed, nor meet the holdout's draw.
SAMPLE_SALT = 20_241_203


def _family_sample(source: LeadSource, ids: pd.Series, settings: Settings) -> np.ndarray:
    """Which labelled leads the leak checks, the simple families, the baselines and the
    cross-validation read: every one in this process; on a cluster, past `family_rows`, a
    stable sample of about that many (by a hash of the id)."""
    limit = getattr(source, "family_rows", None)
    if limit is None or len(ids) <= limit:
        return np.ones(len(ids), dtype=bool)
    return group_fractions(ids.astype(str).to_numpy(), SAMPLE_SALT) < limit / len(ids)


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
