"""Model monitoring: how the served scores turned out, and whether the inputs moved.

Two questions a holdout metric cannot answer once a model is serving:

* **Realised accuracy.** Scores in the score log joined with the outcomes that came later: a deal
  scored by id against its stored status (won or lost) when it closed after the score; a lead
  against `converted` when its row was updated after the score. Each subject counts once per
  month of scoring (its last score that month), so a deal scored daily does not weigh thirty
  times. Per month: n, realised AUC (None with one class), Brier, mean predicted vs observed.
* **Feature drift.** PSI per model input between a reference sample (what the model learnt from)
  and what it scores now: numeric inputs in 10 quantile bins of the reference, categorical ones
  as the reference's top categories plus "other"; missing values are a bin of their own. Inputs
  that move as history accumulates (a rep's closed deals, the win rates shrunk toward the
  overall one by that count) are shown but never count as drift: a year on they have moved
  whatever happened, and retraining would not bring them back.
  PSI > 0.1 is "moderate", > 0.2 "shifted".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, and_, select

from forecast import features as feat
from forecast.data import store
from forecast.data.stages import LOST, WON
from forecast.errors import ForecastError, InvalidInput
from forecast.history import DealHistory, as_timestamp

MODERATE_PSI = 0.1
SHIFTED_PSI = 0.2
#: The status of an input that moves as history accumulates (`feat.GROWS_WITH_HISTORY`).
GROWS = "grows with history"
#: Fewer logged inputs than this in the window and drift is measured on the open pipeline.
MIN_LOGGED_ROWS = 30
BINS = 10
TOP_CATEGORIES = 10
_EPS = 1e-4  # a bin empty on one side would make PSI infinite


@dataclass
class Accuracy:
    """Realised accuracy of the scores made in one month (`month` "all" for every month)."""

    month: str
    n: int
    auc: float | None
    brier: float
    mean_predicted: float
    observed_rate: float


@dataclass
class FeatureDrift:
    feature: str
    psi: float
    status: str  # stable | moderate | shifted | grows with history

    @property
    def counts(self) -> bool:
        """Whether this input's PSI is a drift signal (see `feat.GROWS_WITH_HISTORY`)."""
        return self.status != GROWS


@dataclass
class Drift:
    """PSI per input between a reference sample and the current one, each said in words."""

    reference: str
    current: str
    n_reference: int
    n_current: int
    features: list[FeatureDrift]

    @property
    def max_psi(self) -> float | None:
        """The largest PSI of the inputs that count as drift signals."""
        return max((f.psi for f in self.features if f.counts), default=None)


@dataclass
class Monitoring:
    """What is known about one served model (a kind, a dataset): realised accuracy and drift."""

    kind: str  # "deal" | "lead" (the score log's)
    version: str | None
    by_month: list[Accuracy]
    overall: Accuracy | None
    drift: Drift | None
    notes: list[str] = field(default_factory=list)
    #: The dataset the model scores (None: a model pinned with no dataset of its own).
    dataset: str | None = None
    #: Where the model came from: "registry", "local copy" or "fallback".
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.drift is not None:
            out["drift"]["max_psi"] = self.drift.max_psi
        return out


# --- realised accuracy ------------------------------------------------------------------------


def scored_outcomes(
    engine: Engine,
    kind: str,
    dataset: str,
    *,
    version: str | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """Logged scores of `kind` on `dataset` whose outcome came after them: one row per subject
    and month of scoring (its last score before the outcome), with `probability`, `outcome`
    (1/0), `scored_at` and `month`. Outcomes known before a score are never used."""
    log = store.score_log
    where = [log.c.kind == kind, log.c.dataset == dataset, log.c.subject_id.is_not(None)]
    if version is not None:
        where.append(log.c.model_version == version)
    if since is not None:
        where.append(log.c.scored_at >= since)
    if kind == "deal":
        deals = store.opportunities
        query = (
            select(
                log.c.subject_id,
                log.c.probability,
                log.c.scored_at,
                (deals.c.status == WON).label("outcome"),
            )
            .join(deals, and_(deals.c.dataset == log.c.dataset, deals.c.id == log.c.subject_id))
            .where(
                *where,
                deals.c.status.in_([WON, LOST]),
                deals.c.closed_at.is_not(None),
                deals.c.closed_at > log.c.scored_at,
            )
        )
    else:
        leads = store.leads
        query = (
            select(
                log.c.subject_id,
                log.c.probability,
                log.c.scored_at,
                leads.c.converted.label("outcome"),
            )
            .join(leads, and_(leads.c.dataset == log.c.dataset, leads.c.id == log.c.subject_id))
            .where(*where, leads.c.converted.is_not(None), leads.c.updated_at > log.c.scored_at)
        )
    with engine.connect() as conn:
        frame = pd.DataFrame(
            conn.execute(query).all(), columns=["subject_id", "probability", "scored_at", "outcome"]
        )
    if frame.empty:
        return frame.assign(month=pd.Series(dtype=str))
    frame["scored_at"] = pd.to_datetime(frame["scored_at"])
    frame["outcome"] = frame["outcome"].astype(int).clip(0, 1)
    frame["month"] = frame["scored_at"].dt.strftime("%Y-%m")
    frame = frame.sort_values("scored_at").drop_duplicates(["subject_id", "month"], keep="last")
    return frame.reset_index(drop=True)


def accuracy(frame: pd.DataFrame, month: str = "all") -> Accuracy | None:
    """Realised accuracy of scored outcomes (`probability`, `outcome`); None when empty."""
    if frame.empty:
        return None
    p = frame["probability"].to_numpy(float)
    y = frame["outcome"].to_numpy(int)
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    return Accuracy(
        month=month,
        n=len(frame),
        auc=auc,
        brier=float(np.mean((p - y) ** 2)),
        mean_predicted=float(p.mean()),
        observed_rate=float(y.mean()),
    )


def accuracy_by_month(frame: pd.DataFrame) -> list[Accuracy]:
    out = []
    for month, part in frame.groupby("month", sort=True):
        found = accuracy(part, str(month))
        if found is not None:
            out.append(found)
    return out


# --- drift ------------------------------------------------------------------------------------


def psi(reference: pd.Series, current: pd.Series) -> float:
    """Population stability index of `current` against `reference` (bins from the reference)."""
    ref_bins, cur_bins = _binned(reference, current)
    labels = sorted(set(ref_bins) | set(cur_bins), key=str)
    r = ref_bins.value_counts(normalize=True).reindex(labels, fill_value=0).to_numpy(float)
    c = cur_bins.value_counts(normalize=True).reindex(labels, fill_value=0).to_numpy(float)
    r, c = np.clip(r, _EPS, None), np.clip(c, _EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _binned(reference: pd.Series, current: pd.Series) -> tuple[pd.Series, pd.Series]:
    ref_num = pd.to_numeric(reference, errors="coerce")
    if is_numeric_dtype(reference) or (ref_num.notna().sum() == reference.notna().sum() > 0):
        cur_num = pd.to_numeric(current, errors="coerce")
        present = ref_num.dropna()
        quantiles = np.quantile(present, np.linspace(0, 1, BINS + 1)) if len(present) else []
        inner = np.unique(np.asarray(quantiles, dtype=float))[1:-1]

        def bins(values: pd.Series) -> pd.Series:
            codes = np.searchsorted(inner, values.to_numpy(float), side="right").astype(str)
            return pd.Series(np.where(values.isna(), "missing", codes))

        return bins(ref_num), bins(cur_num)
    top = reference.dropna().astype(str).value_counts().index[:TOP_CATEGORIES]

    def categories(values: pd.Series) -> pd.Series:
        text = values.astype(object).where(values.notna(), None)
        return pd.Series(
            ["missing" if v is None else (str(v) if str(v) in top else "other") for v in text]
        )

    return categories(reference), categories(current)


def drift_status(value: float) -> str:
    if value > SHIFTED_PSI:
        return "shifted"
    return "moderate" if value > MODERATE_PSI else "stable"


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]
) -> list[FeatureDrift]:
    """PSI of each column present in both samples, most shifted first."""
    out = []
    for column in columns:
        if column not in reference or column not in current or reference[column].isna().all():
            continue
        value = psi(reference[column], current[column])
        status = GROWS if column in feat.GROWS_WITH_HISTORY else drift_status(value)
        out.append(FeatureDrift(column, round(value, 4), status))
    return sorted(out, key=lambda f: (not f.counts, -f.psi))


def logged_inputs(
    engine: Engine, kind: str, dataset: str, since: datetime, version: str | None = None
) -> pd.DataFrame:
    """The model inputs logged with the scores of `kind` on `dataset` since a date."""
    log = store.score_log
    query = select(log.c.inputs).where(
        log.c.kind == kind,
        log.c.dataset == dataset,
        log.c.scored_at >= since,
        log.c.inputs.is_not(None),
    )
    if version is not None:
        query = query.where(log.c.model_version == version)
    with engine.connect() as conn:
        rows = [r.inputs for r in conn.execute(query) if isinstance(r.inputs, dict)]
    return pd.DataFrame(rows)


def deal_drift(
    engine: Engine,
    history: DealHistory,
    *,
    trained_on_before: object = None,
    every_days: int = 14,
    window_days: int = 30,
    version: str | None = None,
    now: object = None,
) -> Drift:
    """Drift of the deal model's inputs: the open pipeline when its training data ends
    (`trained_on_before`; else, or with too few deals then, its training rows) against the inputs
    it scored in the last `window_days`, or, with too few logged, the dataset's open deals now.
    Pipeline against pipeline: counts that only grow (a rep's closed deals) and the ages of a
    pipeline are compared with their like, not with snapshots of deals long closed."""
    columns = feat.history_features(history)  # the dataset's own columns too
    reference = pd.DataFrame()
    if trained_on_before is not None:  # like for like: the open pipeline when training data ends
        cut = as_timestamp(trained_on_before)
        reference = feat.open_deal_rows(history, cut)
        reference_says = f"open deals as of {cut:%Y-%m-%d} (where the model's training data ends)"
    if len(reference) < MIN_LOGGED_ROWS:
        reference = feat.deal_training_rows(
            history, every_days=every_days, known_before=trained_on_before
        )
        cut_text = "" if trained_on_before is None else f" before {cut:%Y-%m-%d}"
        reference_says = (
            f"training rows: deals ended{cut_text}, as of every {every_days} days while open"
        )
    t = as_timestamp(now) if now is not None else pd.Timestamp(store.utcnow())
    since = (t - pd.Timedelta(days=window_days)).to_pydatetime().replace(tzinfo=None)
    current = logged_inputs(engine, "deal", dataset_of(history), since, version)
    current_says = f"deal inputs scored in the last {window_days} days"
    if len(current) < MIN_LOGGED_ROWS:
        as_of = history.now(t)
        current = feat.open_deal_rows(history, as_of)
        current_says = (
            f"open deals as of {as_of:%Y-%m-%d} (fewer than {MIN_LOGGED_ROWS} scores logged "
            f"in the last {window_days} days)"
        )
    drifts = feature_drift(reference, current, columns)
    return Drift(reference_says, current_says, len(reference), len(current), drifts)


def lead_drift(
    engine: Engine, dataset: str, *, window_days: int = 30, version: str | None = None
) -> Drift | None:
    """Drift of lead inputs: the dataset's stored leads against the leads scored lately (None
    with too few logged: there is no open pipeline of leads to stand in)."""
    since = store.utcnow() - timedelta(days=window_days)
    current = logged_inputs(engine, "lead", dataset, since, version)
    if len(current) < MIN_LOGGED_ROWS:
        return None
    reference = store.load_leads(engine, dataset)
    columns = [c for c in current.columns if c in reference and c not in feat.LEAD_BOOKKEEPING]
    return Drift(
        f"stored leads of '{dataset}'",
        f"lead inputs scored in the last {window_days} days",
        len(reference),
        len(current),
        feature_drift(reference, store.infer_types(current), columns),
    )


# --- together ---------------------------------------------------------------------------------


def dataset_of(history: DealHistory) -> str:
    if not history.name:
        raise InvalidInput("the deal history names no dataset: load it from the store")
    return history.name


def monitor_deals(
    engine: Engine,
    history: DealHistory,
    *,
    version: str | None = None,
    trained_on_before: object = None,
    every_days: int = 14,
    window_days: int = 30,
    now: object = None,
) -> Monitoring:
    """Realised accuracy and drift of the deal model serving `version` (None: every version)."""
    joined = scored_outcomes(engine, "deal", dataset_of(history), version=version)
    notes = [] if len(joined) else ["no logged deal score has an outcome after it yet"]
    drift = deal_drift(
        engine,
        history,
        trained_on_before=trained_on_before,
        every_days=every_days,
        window_days=window_days,
        version=version,
        now=now,
    )
    return Monitoring("deal", version, accuracy_by_month(joined), accuracy(joined), drift, notes)


def monitor_leads(
    engine: Engine, dataset: str, *, version: str | None = None, window_days: int = 30
) -> Monitoring:
    joined = scored_outcomes(engine, "lead", dataset, version=version)
    notes = [] if len(joined) else ["no logged lead score has an outcome after it yet"]
    drift = lead_drift(engine, dataset, window_days=window_days, version=version)
    if drift is None:
        notes.append(f"fewer than {MIN_LOGGED_ROWS} lead scores with inputs logged lately")
    return Monitoring("lead", version, accuracy_by_month(joined), accuracy(joined), drift, notes)


def training_cut(details: dict[str, Any] | None) -> object:
    """Where a registered model's training data ends: its holdout cut (the training side is the
    deals known to have ended before it), else when it was trained; None when unknown."""
    details = details or {}
    params = details.get("params") or {}
    return params.get("split_cut") or details.get("trained_at") or None


#: What a fallback's entry says: a stage's (or the overall) win rate, or the base rate, learnt
#: from no training rows, so there is no model whose accuracy or inputs could drift.
FALLBACK_NOTE = (
    "a fallback, not a trained model: nothing to monitor (its scores are a historical rate, "
    "with no training data to compare inputs with); train a model for this dataset to monitor it"
)


def monitor_served(engine: Engine, models: Any, *, every_days: int = 14) -> list[Monitoring]:
    """One entry per model a `scoring.ModelSet` serves, leads then deals, by dataset, each naming
    its kind, dataset and source. A fallback's entry says it has nothing to monitor."""
    out = []
    for key, served in sorted(models.leads.items()):
        dataset = key or _lead_dataset(engine, served)
        if served.source == "fallback":
            out.append(_fallback("lead", dataset))
            continue
        if not dataset:
            report = Monitoring("lead", served.version, [], None, None)
            report.notes.append("the lead model names no dataset: its scores cannot be found")
        else:
            report = monitor_leads(engine, dataset, version=served.version)
        out.append(_named(report, dataset, served.source))
    for key, served in sorted(models.deals.items()):
        if served.source == "fallback":
            out.append(_fallback("deal", key or None))
            continue
        context = models.deal_contexts.get(key)
        if context is None:
            report = Monitoring("deal", served.version, [], None, None)
            report.notes.append("the dataset's deal history is not loaded: nothing to compare")
        else:
            report = monitor_deals(
                engine,
                context.history,
                version=served.version,
                trained_on_before=training_cut(served.details),
                every_days=every_days,
            )
        out.append(_named(report, key or None, served.source))
    return out


def _named(report: Monitoring, dataset: str | None, source: str) -> Monitoring:
    report.dataset, report.source = dataset, source
    return report


def _fallback(kind: str, dataset: str | None) -> Monitoring:
    return Monitoring(kind, None, [], None, None, [FALLBACK_NOTE], dataset, "fallback")


def _lead_dataset(engine: Engine, served: Any) -> str | None:
    """The dataset of a lead model pinned with none: its training's, else the store's only one."""
    dataset = ((served.details or {}).get("params") or {}).get("dataset")
    if dataset:
        return str(dataset)
    try:
        with engine.connect() as conn:
            return store.resolve_dataset(conn, None, "leads")
    except ForecastError:  # none, or several and no way to tell which
        return None


# --- when to retrain --------------------------------------------------------------------------

#: Fewer scored outcomes than this and the realised AUC is too noisy to retrain on.
MIN_REALISED_N = 30


@dataclass
class RetrainRule:
    """When a champion is due for retraining; a threshold left None is not checked."""

    max_age_days: float | None = None
    min_auc: float | None = None
    max_psi: float | None = None
    min_n: int = MIN_REALISED_N


@dataclass
class RetrainDecision:
    """Whether to retrain, and why: `reasons` are what called for it, `checks` what was fine."""

    retrain: bool
    reasons: list[str]
    checks: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retrain_decision(
    report: Monitoring | None,
    trained_at: datetime | None,
    rule: RetrainRule,
    now: datetime | None = None,
) -> RetrainDecision:
    """Apply `rule` to a champion trained at `trained_at` and its monitoring report."""
    reasons: list[str] = []
    checks: list[str] = []
    now = now or store.utcnow()
    if rule.max_age_days is not None:
        if trained_at is None:
            checks.append("the champion's age is unknown: not judged on age")
        else:
            age = (now - trained_at).total_seconds() / 86_400
            said = f"the champion is {age:.0f} days old (limit {rule.max_age_days:g})"
            (reasons if age > rule.max_age_days else checks).append(said)
    overall = report.overall if report is not None else None
    if rule.min_auc is not None:
        if overall is None or overall.auc is None or overall.n < rule.min_n:
            n = overall.n if overall is not None else 0
            checks.append(
                f"realised AUC not judged: {n} scored outcomes with both classes needed "
                f"(at least {rule.min_n})"
            )
        else:
            said = f"realised AUC {overall.auc:.3f} on {overall.n} scored outcomes"
            if overall.auc < rule.min_auc:
                reasons.append(f"{said}, below {rule.min_auc:g}")
            else:
                checks.append(f"{said} (minimum {rule.min_auc:g})")
    if rule.max_psi is not None:
        drift = report.drift if report is not None else None
        if drift is None or not drift.features:
            checks.append("drift not measured: no inputs to compare")
        else:
            over = [f for f in drift.features if f.counts and f.psi > rule.max_psi]
            if over:
                shown = ", ".join(f"{f.feature} {f.psi:.2f}" for f in over)
                reasons.append(f"inputs drifted past PSI {rule.max_psi:g}: {shown}")
            else:
                checks.append(f"largest PSI {drift.max_psi:.2f} (limit {rule.max_psi:g})")
    return RetrainDecision(bool(reasons), reasons, checks)
