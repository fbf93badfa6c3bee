"""Train and evaluate the close-probability model on as-of snapshots against its baselines.

A holdout by time: the model and baselines learn from deals whose outcome was known before the
cut date (`features`' as-of snapshots) and are tested on deals that closed after it, seen from
the cut on, each deal weighing one. Every family (LightGBM per team, logistic regression, naive
Bayes) is fitted; the one registered is the best that really beats the per-stage win rate on
the holdout (`fitting.choose_family`, resampling whole deals for its intervals).

Where the stage history is flat (an export of current stages only: `FLAT_STAGE_SHARE` of the
training snapshots in one stage) and the dataset's stage probabilities are known, a snapshot
model could not rank stages; each family is then fitted as a per-deal model on one row per training
deal as known at its creation and combined in odds with the stage probabilities
(`stage_prior.StagePriorClassifier`), and the run's `method` says so, with the holdout AUC
beside a LightGBM of the creation rows. Without stage probabilities the snapshot model stays and
the warning says it cannot rank stages.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import features as feat
from forecast.data.stages import LOST, WON
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.history import DealHistory, as_timestamp
from forecast.history_inputs import undated_closes_note
from forecast.modeling import metrics as m
from forecast.modeling import unlearnt_blanks
from forecast.modeling.baselines import baselines_for
from forecast.modeling.estimators import PerTeamClassifier
from forecast.modeling.families import FAMILIES, LIGHTGBM, family_model, held_at_zero_note
from forecast.modeling.fitting import (
    DealRows,
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
from forecast.modeling.leaks import leak_warnings
from forecast.modeling.memory import give_back
from forecast.modeling.seen_ranges import largest_seen
from forecast.modeling.stage_prior import (
    METHOD,
    StagePriorClassifier,
    creation_rows,
    fit_prior_families,
    said_of,
    stage_probabilities,
)
from forecast.settings import Settings, get_settings

if TYPE_CHECKING:
    from forecast.data.reading import Notation

#: Training deals must be created this quantile of sales-cycle length before the cut.
MATURITY_QUANTILE = 0.9


#: A stage holding this share of the training snapshots or more means no stage history.
FLAT_STAGE_SHARE = 0.95


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


def _flat_stage_note(
    stage: pd.Series | None, history: DealHistory, prior: dict[str, float] | None
) -> str | None:
    """Said when nearly every training snapshot sits in one stage (`stage`: the training rows'
    stages): an export that gives each deal's current stage only (no stage dates) leaves a
    snapshot model nothing to learn about stage, and the stage-rate baseline becomes a
    constant. What is trained instead depends on whether the dataset's stage probabilities (a
    preset's, the mapping's, or estimated from the data) are known (`prior`)."""
    stages = stage.dropna() if stage is not None else pd.Series(dtype=object)
    if len(stages) == 0 or len(history.stages.open_stages) < 2:
        return None
    shares = stages.value_counts(normalize=True)
    if shares.iloc[0] < FLAT_STAGE_SHARE:
        return None
    flat = (
        f"the stage history is flat: {shares.iloc[0]:.0%} of the training snapshots are in "
        f"stage {shares.index[0]!r}, because the data gives each deal's current stage only (no "
        "stage dates), and the stage-rate baseline is a constant. "
    )
    fix = (
        "Import the export's 'Date entered <stage>' or time-in-stage columns, or push stage "
        "changes through the CRM sync API (they build a real stage history from then on), and "
        "the model learns stage from the data"
    )
    if prior is None:
        return flat + (
            "No stage probabilities are known for this dataset (a preset's, or `stage_"
            "probabilities` in the mapping), so the model is the usual snapshot model: it "
            "cannot learn how a deal's stage changes its odds and scores an open deal the same "
            "at every stage. Give the CRM's stage probabilities in the mapping to rank stages, "
            "or: " + fix
        )
    said = ", ".join(f"{s} {p:.0%}" for s, p in prior.items())
    origin = history.options.stage_probabilities_from
    return flat + (
        "So the deal model is a per-deal model of what was known at each deal's creation "
        "(its attributes and the rep's and account's past win rates then; no stage, no age), "
        f"combined in odds with {said_of(origin)} ({said}): a later stage they "
        "rate higher scores higher, and nothing after creation is read. The holdout is at "
        "the first stage only, so it measures the per-deal part. " + fix
    )


def train_deals(
    history: DealHistory,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
    incumbent: Any = None,
    field_names: dict[str, str] | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
    notation: Notation = None,
) -> TrainingResult:
    """Fit the close-probability model on as-of snapshots; test on deals that closed later.

    Where the dataset only learns amounts at close (`history.options`), the list price stands in
    while a deal is open; fields the export-state leak check left out are not used.
    `field_names` maps canonical fields to the export's own column names, for reasons in the
    user's words. `engine` (default: in process) builds the rows and fits the booster; on a
    Dask cluster (`dask_training.DaskEngine`) every other step is the same. A flat stage history
    with the dataset's stage probabilities trains the stage-prior model (module docstring); its
    creation rows are built in process, from the training deals the engine gathered.
    """
    engine = engine or InProcess()
    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    amount_known = history.options.amount_known_before_close
    opportunities = history.final_deals  # the holdout cut sorts deals by the snapshots' close
    note(progress, "checking the data")
    if len(opportunities) == 0:
        raise InvalidInput("no deals in the data: nothing to train on")
    # The three columns read here only: a copy of every column of the ended deals was held
    # for the whole run (270 MiB at a million deals, and as much again for `before`).
    ended = opportunities.loc[
        opportunities["status"].isin([WON, LOST])
        & opportunities["closed_at"].notna()
        & opportunities["created_at"].notna(),
        ["status", "created_at", "closed_at"],
    ]
    won, lost = int((ended["status"] == WON).sum()), int((ended["status"] == LOST).sum())
    if won + lost == 0:
        raise InvalidInput(
            f"none of the {len(opportunities)} deals has ended (won or lost with "
            "dates): there is no outcome to learn from"
        )
    if undated := undated_closes_note(opportunities, "a deal's chance to close"):
        raise InvalidInput(undated)
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
            f"{settings.min_lost_deals} ({need_won} won and {need_lost} lost more; settings "
            "min_won_deals and min_lost_deals, env FORECAST_MIN_WON_DEALS and "
            "FORECAST_MIN_LOST_DEALS). Nothing was trained or registered; deal scores fall back "
            "to the per-stage win rate"
        )

    # Before the rows and models take memory: hashing the data as text peaks with it (issue 14).
    fingerprint = engine.fingerprint(history)
    note(progress, "building as-of snapshots")
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
    del before, closes, ended
    maturity = float(np.ceil(cycle.quantile(MATURITY_QUANTILE))) if len(cycle) else 0.0
    mature_before = cut - pd.Timedelta(days=maturity)
    built: DealRows = engine.deal_rows(
        history, every_days=every, cut=cut, created_before=mature_before, seed=seed
    )
    n_train_rows, sample_note = built.train_rows, built.sample_note
    train_rows, holdout = built.train, built.holdout
    # Copies, not views of the rows' blocks, so that the rows can be freed below.
    y_train = train_rows["won"].to_numpy(float, copy=True)
    y_test, w_test, test_ids = holdout.y, holdout.w, holdout.ids
    deals_train = built.train_deal_labels
    deals_test = y_test[~pd.Series(test_ids).duplicated().to_numpy()]
    check_holdout(deals_train, deals_test, settings.min_holdout_per_class, "deals")
    X_train = feat.deal_features(train_rows, history.left_out)
    blank = feat.blank_everywhere(X_train)  # no row has them: nothing to learn, or to expect
    X_train = X_train.drop(columns=blank)
    w_train = train_rows["weight"].to_numpy(float, copy=True)
    groups = train_rows["id"].to_numpy()
    stages = train_rows["stage"].copy() if "stage" in train_rows else None
    # The rows' other columns are not read again: free them before the models take memory.
    del built, train_rows
    still_open = int((opportunities["status"] == "open").sum())
    split = {
        "method": "time",
        "cut": str(cut.date()),
        "holdout_fraction": settings.holdout_fraction,
        "train": "deals created a sales cycle (90th percentile) before the cut and closed "
        "before it, snapshots while open",
        "test": "deals closed on or after the cut, seen from the cut on; each snapshot weighs one",
        "censored_open_deals": still_open,
        "snapshot_every_days": every,
        "train_created_before": str(mature_before.date()),
        "maturity_days": maturity,
        "amount_known_before_close": amount_known,
    }
    labels = _deal_labels(field_names)
    warnings: list[str] = list(history.leak_notes)
    if blank:
        warnings.append(_blank_note(blank, labels))
    if sample_note:
        warnings.append(sample_note)
    if not amount_known:
        warnings.append(
            "amounts are only known at close in this data: open deals carry the "
            "list price as their amount"
        )
    prior = stage_probabilities(history.stages.open_stages, history.options.stage_probabilities)
    flat = _flat_stage_note(stages, history, prior)
    if flat:
        warnings.append(flat)
    else:
        prior = None
    note(progress, "looking for columns that give the answer away")
    warnings += leak_warnings(X_train, y_train, settings.leak_warning_auc, w_train, groups)

    if prior is not None:
        origin = history.options.stage_probabilities_from
        note(progress, f"fitting per-deal models at creation, with {said_of(origin)}")
        created = creation_rows(history, groups)
        bases = {f: _boosted(settings, seed) if f == LIGHTGBM
                 else family_model(f, feat.PAST_WIN_RATES) for f in FAMILIES}  # fmt: skip
        at_creation = feat.deal_features(created, history.left_out)
        at_creation = at_creation.drop(columns=blank, errors="ignore")
        if blank_then := feat.blank_everywhere(at_creation):
            warnings.append(_blank_note(blank_then, labels, "at its creation"))
        blank += blank_then
        at_creation = at_creation.drop(columns=blank_then)
        families: dict[str, Any] = fit_prior_families(
            at_creation,
            created["won"].to_numpy(float),
            prior,
            bases,
            labels,
            warnings,
            origin,
            history,
        )
        del created
        if not families:
            raise InvalidInput("no per-deal model could be fitted on the deals' creation rows")
        warnings += [n for m in families.values() if (n := held_at_zero_note(m, labels))]
        for fitted in families.values():  # a blank it never learnt from: neutral when scored
            unlearnt_blanks.remember(fitted, at_creation)
    else:
        note(progress, "fitting the model (global and per team)")
        boosted = engine.fit_boosted(
            PerTeamClassifier(
                base=_boosted(settings, seed),
                team_column="team",
                min_won=settings.team_min_won_deals,
                min_lost=settings.team_min_lost_deals,
            ),
            X_train,
            y_train,
            w_train,
            groups,
        )
        note(progress, "fitting logistic regression and naive Bayes")
        families = fit_families(
            boosted, X_train, y_train, w_train, labels, warnings, feat.PAST_WIN_RATES
        )
        seen = largest_seen(X_train)
        for fitted in families.values():  # a deal scored beyond these is said (`seen_ranges`)
            fitted.largest_seen_ = seen
            unlearnt_blanks.remember(fitted, X_train, w_train, groups)
    note(progress, "fitting the baselines")
    baselines = {
        name: b.fit(X_train, y_train, sample_weight=w_train)
        for name, b in baselines_for("deals").items()
    }

    features = [c for c in X_train.columns if c not in blank]  # none blank in every deal
    base_rate = float(np.average(y_train, weights=w_train))
    # The training rows are not read again: free them before the holdout comparison, where a
    # million-deal run peaked with them still held (issue 14).
    del X_train, y_train, w_train, groups, stages
    give_back()

    note(progress, "evaluating on the holdout (bootstrap intervals)")
    others: dict[str, Any] = dict(baselines)
    if incumbent is not None:
        others["champion"] = incumbent
    compared = choose_family(
        "deals",
        families,
        others,
        holdout,
        y_test,
        w_test,
        test_ids,
        base_rate=base_rate,
        settings=settings,
        seed=seed,
        warnings=warnings,
    )
    model, metrics, preds = compared.model, compared.metrics, compared.predictions
    if prior is not None:
        method = _prior_report(families, model, holdout.frame(), y_test, w_test, prior, origin)
        warnings.append(
            f"method: {compared.family.replace('_', ' ')} per-deal model at creation with the "
            "CRM's stage probabilities (flat stage history); holdout AUC "
            + ", ".join(f"{k} {v:.3f}" for k, v in method["holdout_auc"].items())
        )
        if said := _baselines_read_age(metrics, baselines):
            warnings.append(said)
        params = {"method": METHOD, **_params(model.base_), "stage_probabilities": prior}
    else:
        method = {"name": "snapshots", "why": "stage history present: as-of snapshots"}
        params = _params(boosted.global_ if compared.family == LIGHTGBM else model)
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
            "train_rows": n_train_rows,
            "train_deals": int(len(deals_train)),
            "test_rows": len(test_ids),
            "test_deals": int(len(deals_test)),
            "test_won": int(deals_test.sum()),
        },
        fingerprint=fingerprint,
        params={
            **params,
            "family": compared.family,
            "snapshot_every_days": every,
            "team_min_won": settings.team_min_won_deals,
            "team_min_lost": settings.team_min_lost_deals,
            **engine.params,
        },
        seed=seed,
        features=features,
        warnings=warnings,
        y_test=y_test,
        w_test=w_test,
        predictions=preds,
        input_example=holdout.rows(range(min(5, len(holdout)))),
        examples=holdout_examples(model, holdout, preds["model"], test_ids, notation),
        teams=getattr(model, "team_report_", {}),
        dataset=dataset,
        seconds=time.perf_counter() - started,
        columns={
            "features": features,
            "never_features": sorted(feat.REVEALED_AT_CLOSE),
            "blank_everywhere": blank,
        },
        family=compared.family,
        method=method,
        families=compared.families,
        rivals=compared.rivals,
        gains=compared.gains,
    )


def _boosted(settings: Settings, seed: int) -> Any:
    """The unfitted boosted model, its score never lowered by a higher past win rate (a noise
    split made "Account's past win rate = 66%" lower a score that 25% raised); the logistic
    regression is given the same rates (`family_model`)."""
    return boosted_classifier(settings, seed).set_params(monotone_increasing=feat.PAST_WIN_RATES)


def _blank_note(columns: list[str], labels: dict[str, str], when: str = "") -> str:
    """Said of the inputs blank in every training deal (`when`: at its creation), left out."""
    named = ", ".join(labels.get(c, c) for c in columns)
    then = f" {when}" if when else ""
    return (
        f"not learnt from, blank in every training deal{then}: {named}. No deal of the data "
        "has them, so the model neither reads them nor expects them when it scores"
    )


def _params(model: Any) -> dict[str, Any]:
    """A fitted model's parameters as the run logs them (LightGBM: with its best iteration)."""
    params = model.get_params()
    if hasattr(model, "best_iteration_"):
        params["best_iteration"] = model.best_iteration_
    return params


def _baselines_read_age(metrics: dict[str, Any], baselines: dict[str, Any]) -> str | None:
    """Said where a baseline beats the flat export's model on the holdout: the two are not
    scored on the same inputs (a walkthrough's user saw two "logistic" rows, 0.84 and 0.57,
    and a model never promoted, with nothing saying why)."""
    ours = metrics["model"]["roc_auc"]
    ahead = [b for b in baselines if metrics.get(b, {}).get("roc_auc", 0.0) > ours]
    if not ahead:
        return None
    return (
        f"the baselines {', '.join(ahead)} beat this model on the holdout (AUC "
        + ", ".join(f"{metrics[b]['roc_auc']:.3f}" for b in ahead)
        + f" vs {ours:.3f}): they read each deal's age at the holdout date, which the flat "
        "export's model cannot (without stage dates, a deal's age cannot be told from its "
        "progress). Until it wins, what serves keeps serving (with no champion, the dataset's "
        "stage probabilities); an export with stage dates, or stage changes pushed through the "
        "CRM sync API, lets the snapshot model learn from age and stage both"
    )


def _prior_report(
    families: dict[str, Any],
    model: StagePriorClassifier,
    X: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray,
    prior: dict[str, float],
    origin: str,
) -> dict[str, Any]:
    """The stage-prior run's method and why, with the holdout AUC of the deal model, of its
    per-deal part alone and of a LightGBM on one row per deal at creation (the issue's
    comparison; on a flat holdout every deal is in the first stage, so the first two match)."""
    auc = {
        "deal model": m.evaluate(y, model.predict_proba(X)[:, 1], w)["roc_auc"],
        "per-deal model alone": m.evaluate(y, model.per_deal_proba(X), w)["roc_auc"],
    }
    if LIGHTGBM in families:
        lgbm = families[LIGHTGBM].per_deal_proba(X)
        auc["LightGBM, one row per deal at creation"] = m.evaluate(y, lgbm, w)["roc_auc"]
    return {
        "name": METHOD,
        "why": f"flat stage history and {said_of(origin)} known",
        "stage_probabilities": prior,
        "holdout_auc": {k: round(float(v), 4) for k, v in auc.items()},
    }
