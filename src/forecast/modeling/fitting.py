"""A training run's result, and the steps the lead and deal runs share. No MLflow here.

`lead_fitting.train_leads` and `deal_fitting.train_deals` each fit a model and its baselines and
evaluate them on a holdout by time (or, for leads without dates, a stable stratified holdout);
both return a `TrainingResult`, which `registry` logs. Each run fits every model family
(LightGBM, logistic regression, naive Bayes: `families`) beside the baselines, and the one
registered is the best family on the holdout that really beats the naive rival, the fallback
that serves without a model (`choose_family`); the registered model is the one evaluated: it is
not refitted on the holdout afterwards. Every AUC and Brier carries a bootstrap 95% interval.

Where the rows are built and the booster fitted is the run's `engine`: `InProcess` (the default)
or, on a Dask cluster, `dask_training.DaskEngine`; every other step is the same code for both.

Errors: bad input → `InvalidInput` (empty data, missing target column, one class, too few rows
for a holdout); too little history → `InsufficientHistory` saying how much is missing. Both are
raised before anything is fitted, so nothing half-made reaches the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from forecast.errors import InvalidInput
from forecast.formatting import rounded
from forecast.modeling import bootstrap
from forecast.modeling import metrics as m
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.families import (
    FAMILIES,
    LIGHTGBM,
    LOGISTIC,
    NAIVE_BAYES,
    SCORE_ROWS,
    family_model,
    held_at_zero_note,
)
from forecast.modeling.memory import give_back
from forecast.modeling.promotion import TIE, rules_for
from forecast.modeling.reasons import as_dicts, explain
from forecast.settings import Settings

if TYPE_CHECKING:
    from forecast.data.reading import Notation
    from forecast.history import DealHistory

Progress = Callable[[str], None]
#: Metrics the promotion rule compares.
PROMOTION_METRICS = ("roc_auc", "brier")
#: The rival a family must really beat to be served: what serves without a model.
NAIVE_RIVALS = {"deals": "stage_win_rate", "leads": "base_rate"}


@dataclass
class TrainingResult:
    """Everything a run produced: the model, its and the baselines' holdout metrics, and why."""

    kind: str
    model: Any  # BoostedClassifier | PerTeamClassifier | a `families` model
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
    family: str = LIGHTGBM
    #: How the model was trained and why (deals: as-of snapshots, or the stage prior on a flat
    #: export, with its holdout comparison); empty where there is one way only.
    method: dict[str, Any] = field(default_factory=dict)
    #: Each family's holdout metrics (with intervals), and whether it beat the naive rival.
    families: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The naive rival's holdout metrics, by name (the promotion gate's baseline).
    rivals: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The registered model's paired gains over each rival and the champion scored.
    gains: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def baselines(self) -> list[str]:
        return [k for k in self.metrics if k not in ("model", "champion")]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what the CLI prints with --json and the registry logs."""
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "family": self.family,
            "method": self.method,
            "seed": self.seed,
            "split": self.split,
            "rows": self.rows,
            "fingerprint": self.fingerprint,
            "metrics": {
                k: {n: rounded(v, 6) for n, v in d.items()} for k, d in self.metrics.items()
            },
            "families": {
                k: {n: rounded(v, 6) for n, v in d.items()} for k, d in self.families.items()
            },
            "rivals": {k: {n: rounded(v, 6) for n, v in d.items()} for k, d in self.rivals.items()},
            "gains": {
                k: {n: [rounded(x, 6) for x in v] for n, v in d.items()}
                for k, d in self.gains.items()
            },
            "cv": self.cv,
            "warnings": self.warnings,
            "teams": self.teams,
            "columns": self.columns,
            "params": self.params,
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
        }


def note(progress: Progress | None, step: str) -> None:
    """Tell `progress` (the CLI's spinner) which step the run is on, if anyone listens."""
    if progress is not None:
        progress(step)


# --- engines: where the rows are built and the booster is fitted -------------------------------


class Holdout(Protocol):
    """A run's holdout rows where the engine keeps them: their labels, weights and deals here,
    their inputs in process (`LocalHoldout`) or on the workers (`dask_training`), so a cluster
    run gathers predictions, not rows."""

    y: np.ndarray
    w: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int: ...

    def scores(self, models: dict[str, Any]) -> dict[str, np.ndarray | Exception]:
        """Each model's P(positive) per row, in row order (`score_models`), or what it raised."""
        ...

    def rows(self, positions: Sequence[int]) -> pd.DataFrame:
        """The inputs of the rows at `positions`, in that order."""
        ...

    def frame(self) -> pd.DataFrame:
        """Every row's inputs, here."""
        ...


def score_models(models: dict[str, Any], X: pd.DataFrame) -> dict[str, np.ndarray | Exception]:
    """Each model's P(positive) on `X`, or the exception it raised (a champion trained on other
    columns may not score these): the caller decides which failures stop the run."""
    out: dict[str, np.ndarray | Exception] = {}
    for name, model in models.items():
        try:
            out[name] = _positive_in_parts(model, X)
        except Exception as exc:  # noqa: BLE001 - reported, or raised, by `evaluate_on_holdout`
            out[name] = exc
    return out


def _positive_in_parts(model: Any, X: pd.DataFrame) -> np.ndarray:
    """P(positive) `SCORE_ROWS` rows at a time. A row's score is its own, so the values are
    those of all rows at once, while no model's input matrix of a million-row holdout (floats
    per row and field, the per-team booster's copies of its teams' rows) is ever whole: it was
    the peak of in-process training at a million deals (issue 14)."""
    if len(X) == 0:  # a partition of a holdout with none of its rows (leads by time)
        return np.zeros(0)
    if len(X) <= SCORE_ROWS:
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.concatenate(
        [
            np.asarray(model.predict_proba(X.iloc[i : i + SCORE_ROWS]))[:, 1]
            for i in range(0, len(X), SCORE_ROWS)
        ]
    )


@dataclass
class LocalHoldout:
    """Holdout rows held in this process."""

    X: pd.DataFrame
    y: np.ndarray
    w: np.ndarray
    ids: np.ndarray

    @classmethod
    def of_deal_rows(cls, rows: pd.DataFrame, left_out: frozenset[str]) -> LocalHoldout:
        from forecast import features as feat

        return cls(
            feat.deal_features(rows, left_out),
            rows["won"].to_numpy(float, copy=True),
            rows["weight"].to_numpy(float, copy=True),
            rows["id"].to_numpy(),
        )

    def __len__(self) -> int:
        return len(self.X)

    def scores(self, models: dict[str, Any]) -> dict[str, np.ndarray | Exception]:
        return score_models(models, self.X)

    def rows(self, positions: Sequence[int]) -> pd.DataFrame:
        return self.X.iloc[list(positions)]

    def frame(self) -> pd.DataFrame:
        return self.X


@dataclass
class DealRows:
    """A deal run's snapshot rows as the shared steps need them in this process.

    `train` is what the leak check, the simple families and the baselines learn from: every
    training row, unless there are more than the engine's `family_rows`, then a stable sample
    of whole deals (`sample_note` says so); the booster learns from every row, which the engine
    keeps. `holdout` is every holdout row, where the engine keeps it.
    """

    train: pd.DataFrame
    holdout: Holdout
    #: Training rows in all (on a cluster: over every partition).
    train_rows: int
    #: Each training deal's label (1 won, 0 lost), over every training deal.
    train_deal_labels: np.ndarray
    sample_note: str | None = None


class Engine(Protocol):
    """Where a run's snapshot rows are built and its booster fitted; the rest is shared."""

    #: Logged with the run (MLflow params): which engine, and where.
    params: dict[str, Any]

    def deal_rows(
        self,
        history: DealHistory,
        *,
        every_days: int,
        cut: pd.Timestamp,
        created_before: pd.Timestamp,
        seed: int,
    ) -> DealRows:
        """Training rows (deals closed before `cut`, created before `created_before`) and
        holdout rows (deals closed on or after `cut`, seen from it on; their inputs without
        the fields `history` leaves out)."""
        ...

    def fit_boosted(
        self, model: Any, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, groups: Any
    ) -> Any:
        """`model` (a `BoostedClassifier` or `PerTeamClassifier`) fitted on the run's training
        rows: `X`, `y`, `w`, `groups` in process; on a cluster, the rows there."""
        ...

    def fingerprint(self, history: DealHistory) -> str:
        """The data's fingerprint (`data.fingerprint`): deals and stage history."""
        ...


#: Training rows the leak check, the simple families and the baselines learn from; past it, a
#: stable sample of whole deals of about this many rows (the booster still learns from every
#: row). Their few dozen parameters are settled long before this many rows, while their
#: encoded designs grow with the rows: a logistic regression took 351 MiB above the rows at
#: 391,000 of them (issue 14).
FAMILY_ROWS = 500_000


def family_sample_note(kept: int, total: int, fraction: float, where: str) -> str | None:
    """The run's warning when the simple families learnt from a sample of the training rows."""
    if fraction >= 1.0:
        return None
    return (
        f"logistic regression, naive Bayes, the baselines and the leak check learnt from "
        f"{kept:,} of the {total:,} training rows (whole deals, a stable sample of "
        f"{fraction:.1%}); LightGBM learnt from every row {where}"
    )


class InProcess:
    """The default engine: rows built and the booster fitted in this process.

    Rows are built a slice of deals at a time (`dask_rows.history_slices`, every close indexed
    once), so the working memory of building them is a slice's, and the rows equal those of the
    whole history at once. Each slice is cut at once to what is read later (`slice_rows`): the
    holdout's inputs, and past `family_rows` the booster's inputs of every row, kept here for
    `fit_boosted` (and dropped after it), beside a stable sample of whole deals for the simple
    families, as on a cluster.
    """

    def __init__(self, family_rows: int = FAMILY_ROWS) -> None:
        self.family_rows = family_rows
        self.params: dict[str, Any] = {"engine": "in-process"}
        self._booster_rows: tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray] | None = None

    def deal_rows(
        self,
        history: DealHistory,
        *,
        every_days: int,
        cut: pd.Timestamp,
        created_before: pd.Timestamp,
        seed: int,
    ) -> DealRows:
        from forecast import dask_rows
        from forecast import features as feat
        from forecast.modeling.slice_rows import DealSample, InputColumns

        give_back()  # what reading the data freed, before the rows take memory
        closes = feat.PastCloses.from_outcomes(history.closed_outcomes())
        parts = dask_rows.slice_count(len(history.deals))
        sample = DealSample(self.family_rows, seed)
        every = InputColumns(history.left_out, compact=True)
        tested, labels, apart = InputColumns(history.left_out), [], False
        for piece in dask_rows.history_slices(history, parts):
            rows = dask_rows.training_rows_part(piece, closes, every_days, cut, created_before)
            tested.add(dask_rows.holdout_rows_part(piece, closes, every_days, cut))
            labels.append(rows.drop_duplicates("id")["won"].to_numpy())
            if sample.total + len(rows) > self.family_rows:  # past it, the booster's rows apart
                for whole in [] if apart else sample.whole():  # the slices so far, all whole
                    every.add(whole)
                every.add(rows)
                apart = True
            sample.add(rows)
            del rows, piece
            give_back()  # the slice's working memory
        del closes
        holdout = LocalHoldout(*tested.take())
        del tested
        total, fraction = sample.total, sample.fraction
        train = sample.rows()
        self._booster_rows = every.take() if fraction < 1.0 else None
        del every
        give_back()
        note = family_sample_note(len(train), total, fraction, "in this process")
        labels_all = np.concatenate(labels) if labels else np.zeros(0)
        return DealRows(train, holdout, total, labels_all, note)

    def fit_boosted(
        self, model: Any, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, groups: Any
    ) -> Any:
        if self._booster_rows is not None:  # deals: every training row, kept by `deal_rows`
            X, y, w, groups = self._booster_rows
            self._booster_rows = None
        give_back()
        fitted = model.fit(X, y, w) if groups is None else model.fit(X, y, w, groups)
        del X, y, w, groups
        give_back()
        return fitted

    def fingerprint(self, history: DealHistory) -> str:
        from forecast.data.fingerprint import fingerprint

        return fingerprint(history.deals, history.stage_log)


# --- shared steps -------------------------------------------------------------------------------


def check_holdout(y_train: np.ndarray, y_test: np.ndarray, n_min: int, unit: str) -> None:
    """`InvalidInput` unless the holdout has `n_min` of each class and the training part one."""
    for name, y in (("holdout", y_test), ("training part", y_train)):
        pos, neg = int(np.sum(y == 1)), int(np.sum(y == 0))
        need = n_min if name == "holdout" else 1
        if pos < need or neg < need:
            raise InvalidInput(
                f"too few rows for a holdout: the {name} has {pos} positive and {neg} negative "
                f"{unit}; each needs at least {need}. Give more history or lower "
                "FORECAST_HOLDOUT_FRACTION / FORECAST_MIN_HOLDOUT_PER_CLASS"
            )


def boosted_classifier(settings: Settings, seed: int) -> BoostedClassifier:
    """The unfitted model both runs train, with the configured threads and the run's seed."""
    return BoostedClassifier(n_jobs=settings.lgbm_threads, random_state=seed)


def evaluate_on_holdout(
    models: dict[str, Any],
    X: pd.DataFrame | Holdout,
    y: np.ndarray,
    w: np.ndarray | None,
    warnings: list[str],
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics and predictions per candidate on the holdout (`X`: its inputs, or a `Holdout`
    that scores them where they are).

    A champion that cannot score these columns is skipped with a warning (appended to
    `warnings`); any other candidate's failure is raised.
    """
    scored = score_models(models, X) if isinstance(X, pd.DataFrame) else X.scores(models)
    metrics, preds = {}, {}
    for name in models:
        p = scored[name]
        if isinstance(p, Exception):
            if name != "champion":
                raise p
            warnings.append(
                f"the current champion could not score this holdout ({p}); "
                "it is compared by its own recorded metrics instead"
            )
            continue
        preds[name] = p
        metrics[name] = m.evaluate(y, p, w)
    return metrics, preds


def holdout_examples(
    model: Any,
    X: pd.DataFrame | Holdout,
    p: np.ndarray,
    ids: Sequence[object] | np.ndarray,
    notation: Notation = None,
) -> list[dict]:
    """Reasons for the highest- and lowest-scored holdout rows (for the report), numbers
    written in the dataset's `notation` as the API writes them."""
    if len(X) == 0:
        return []
    picks = list(dict.fromkeys([int(np.argmax(p)), int(np.argmin(p))]))
    rows = X.iloc[picks] if isinstance(X, pd.DataFrame) else X.rows(picks)
    reasons = explain(model, rows, top=3, notation=notation)
    return [
        {"id": str(ids[i]), "probability": round(float(p[i]), 4), **as_dicts(r)}
        for i, r in zip(picks, reasons, strict=True)
    ]


def fit_families(
    boosted: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray | None,
    labels: dict[str, str],
    warnings: list[str],
    monotone_increasing: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The fitted LightGBM (`boosted`) beside a logistic regression and a naive Bayes fitted on
    the same rows, each knowing the user's field names. A simple family that cannot be fitted on
    these rows is left out with a warning rather than stopping the run. `monotone_increasing`:
    inputs whose rise may never lower the logistic regression's score (said where it held one
    at zero)."""
    families: dict[str, Any] = {LIGHTGBM: boosted}
    for family in (LOGISTIC, NAIVE_BAYES):
        try:
            model = family_model(family, monotone_increasing)
            families[family] = model.fit(X, y, sample_weight=w)
        except (InvalidInput, ValueError) as exc:
            warnings.append(f"{family} could not be fitted ({exc}): left out of the comparison")
        if held := held_at_zero_note(families.get(family), labels):
            warnings.append(held)
    for fitted in families.values():
        fitted.field_labels_ = labels
    return families


@dataclass
class Compared:
    """The holdout comparison of a run: the family chosen and every scorer's metrics."""

    family: str
    model: Any
    metrics: dict[str, dict[str, float]]
    predictions: dict[str, np.ndarray]
    families: dict[str, dict[str, float]]
    rivals: dict[str, dict[str, float]]
    gains: dict[str, dict[str, list[float]]]


def choose_family(
    kind: str,
    families: dict[str, Any],
    others: dict[str, Any],
    X: pd.DataFrame | Holdout,
    y: np.ndarray,
    w: np.ndarray | None,
    groups: np.ndarray | None,
    *,
    base_rate: float,
    settings: Settings,
    seed: int,
    warnings: list[str],
) -> Compared:
    """Score every family and every other scorer (baselines, champion) on the holdout; the
    family registered is the best by AUC among those whose paired bootstrap gain over the naive
    rival (`NAIVE_RIVALS`) clears every rule's margin and that no CRM-style baseline beats for
    real (the gate's peers), else the best of those that beat the rival, else the best by AUC
    (it will not pass the gate). Resampling is by `groups` (a deal's snapshots go together),
    seeded."""
    fam_metrics, fam_preds = evaluate_on_holdout(families, X, y, w, warnings)
    metrics, preds = evaluate_on_holdout(others, X, y, w, warnings)
    rival = NAIVE_RIVALS[kind]
    if rival not in preds:  # leads: the overall conversion rate, what serves without a model
        preds[rival] = np.full(len(y), base_rate)
        rival_metrics = m.evaluate(y, preds[rival], w)
    else:
        rival_metrics = metrics[rival]
    draws = bootstrap.replicates(
        y,
        {**{f"family {f}": p for f, p in fam_preds.items()}, **preds},
        w,
        groups,
        resamples=settings.bootstrap_resamples,
        seed=seed,
    )
    rules = rules_for(kind, settings)

    def gains_over(family: str, other: str, theirs: dict[str, float]) -> dict[str, list[float]]:
        found = bootstrap.gain(draws[f"family {family}"], draws[other], fam_metrics[family], theirs)
        return {k: v.as_list() for k, v in found.items()}

    def wins(family: str) -> bool:
        found = gains_over(family, rival, rival_metrics)
        return all(found[r.metric][1] > r.margin for r in rules)

    # Best AUC first; a tie goes to the simpler family (listed later in FAMILIES).
    ranked = sorted(
        fam_metrics,
        key=lambda f: (-np.nan_to_num(fam_metrics[f]["roc_auc"], nan=-1.0), -FAMILIES.index(f)),
    )

    def survives(family: str) -> bool:
        """Not beaten for real by a CRM-style baseline (the gate's peers, `promotion.decide`)."""
        for peer in (o for o in metrics if o not in (rival, "champion")):
            found = gains_over(family, peer, metrics[peer])
            if any(found[r.metric][2] < -TIE for r in rules):
                return False
        return True

    winners = [f for f in ranked if wins(f)]
    kept = [f for f in winners if survives(f)]
    chosen = kept[0] if kept else winners[0] if winners else ranked[0]
    gains = {rival: gains_over(chosen, rival, rival_metrics)}
    # The champion, and the CRM-style baselines the gate weighs it against (`promotion.decide`).
    for other in metrics:
        if other != rival:
            gains[other] = gains_over(chosen, other, metrics[other])
    fam_out = {
        f: {**bootstrap.with_intervals(v, draws[f"family {f}"]), "beats_naive": float(f in winners)}
        for f, v in fam_metrics.items()
    }
    metrics = {k: bootstrap.with_intervals(v, draws[k]) for k, v in metrics.items()}
    model_metrics = bootstrap.with_intervals(fam_metrics[chosen], draws[f"family {chosen}"])
    preds_out = {"model": fam_preds[chosen], **{k: v for k, v in preds.items() if k in metrics}}
    return Compared(
        family=chosen,
        model=families[chosen],
        metrics={"model": model_metrics, **metrics},
        predictions=preds_out,
        families=fam_out,
        rivals={rival: bootstrap.with_intervals(rival_metrics, draws[rival])},
        gains=gains,
    )
