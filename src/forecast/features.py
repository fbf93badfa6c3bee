"""Model inputs, built as of a date: deal snapshots for training and scoring, and lead columns.

The as-of rule in code. A deal's training rows are snapshots of it while it was open: one at each
stage entry and one every `every_days` days of its life. Each row carries only what was known at
its date `as_of`: the stage entered on or before it, the deal's age and days in stage, the amount
as it stood then, the deal's fixed attributes (product, account), and the rep's and the
account's win rates over deals closed strictly *before* `as_of`. The label is whether the deal
was eventually won. Fields revealed at close (`closed_at`, `status`, `amount_estimated`, the
final amount where the dataset only learns it at close) never become features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from forecast.errors import InvalidInput
from forecast.snapshots import as_timestamp
from forecast.stages import LOST, WON, StageSet

#: Deal features by kind. Everything else in the opportunities table stays out of the model.
DEAL_CATEGORICAL: tuple[str, ...] = (
    "stage", "product", "product_series", "sector", "account_country", "region", "team",
)
DEAL_NUMERIC: tuple[str, ...] = (
    "stage_index", "age_days", "days_in_stage", "amount", "list_price", "account_employees",
    "account_revenue", "rep_win_rate", "rep_closed_deals", "account_win_rate",
    "account_closed_deals",
)
DEAL_FEATURES: tuple[str, ...] = DEAL_CATEGORICAL + DEAL_NUMERIC
#: Known only at or after close (or typed in by the rep with hindsight): never features.
REVEALED_AT_CLOSE: frozenset[str] = frozenset({
    "amount_estimated", "closed_at", "status", "csat", "rep_probability", "forecast_category",
    "expected_close_at", "updated_at", "is_open", "won",
})
#: How strongly a rep's or account's win rate is pulled toward the overall rate (pseudo-deals).
RATE_PRIOR_DEALS = 10.0

#: Readable names for the derived deal features (attributes keep their own names).
DEAL_LABELS: dict[str, str] = {
    "stage": "Stage", "stage_index": "Stage position", "age_days": "Deal age (days)",
    "days_in_stage": "Days in stage", "amount": "Amount", "list_price": "List price",
    "product": "Product", "product_series": "Product series", "sector": "Sector",
    "account_country": "Account country", "region": "Region", "team": "Team",
    "account_employees": "Account employees", "account_revenue": "Account revenue",
    "rep_win_rate": "Rep's past win rate", "rep_closed_deals": "Rep's closed deals",
    "account_win_rate": "Account's past win rate",
    "account_closed_deals": "Account's closed deals",
}


# --- deals --------------------------------------------------------------------------------------


def _closed_outcomes(opportunities: pd.DataFrame, stages: StageSet) -> pd.DataFrame:
    """Deals with an outcome and a close date: id, owner, account, closed_at, won."""
    status = opportunities["status"]
    closed = opportunities[status.isin([WON, LOST]) & opportunities["closed_at"].notna()]
    return pd.DataFrame({
        "id": closed["id"].to_numpy(),
        "owner": closed["owner"].to_numpy() if "owner" in closed else None,
        "account": closed["account"].to_numpy() if "account" in closed else None,
        "closed_at": closed["closed_at"].to_numpy(),
        "won": (closed["status"] == WON).to_numpy(dtype=float),
    })


def _time_ranks(*arrays: np.ndarray) -> list[np.ndarray]:
    """Dense ranks of datetimes over all arrays together (so they compare across arrays)."""
    values = [np.asarray(a, dtype="datetime64[us]").view("int64") for a in arrays]
    _, inverse = np.unique(np.concatenate(values), return_inverse=True)
    out, at = [], 0
    for v in values:
        out.append(inverse[at : at + len(v)].astype(np.int64))
        at += len(v)
    return out


def _counts_before(
    q_time: np.ndarray, q_key: np.ndarray, e_time: np.ndarray, e_key: np.ndarray,
    e_won: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, (wins, closed deals) among events of the same key strictly before its time.

    Keys are integer codes (-1: missing, counts nothing). Vectorised: events sorted by
    (key, time rank) as one int64, each query found with `searchsorted`.
    """
    wins, count = np.zeros(len(q_time)), np.zeros(len(q_time))
    ok_e = (e_key >= 0) & ~np.isnat(e_time)
    if not ok_e.any() or len(q_time) == 0:
        return wins, count
    q_rank, e_rank = _time_ranks(q_time, e_time[ok_e])
    e_comp = (e_key[ok_e].astype(np.int64) << 32) | e_rank
    order = np.argsort(e_comp, kind="stable")
    e_sorted = e_comp[order]
    cum = np.concatenate([[0.0], np.cumsum(e_won[ok_e][order])])
    ok_q = q_key >= 0
    key = q_key[ok_q].astype(np.int64) << 32
    upto = np.searchsorted(e_sorted, key | q_rank[ok_q], side="left")  # exact time excluded
    first = np.searchsorted(e_sorted, key, side="left")
    count[ok_q] = upto - first
    wins[ok_q] = cum[upto] - cum[first]
    return wins, count


def _codes(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.factorize(pd.Series(values), use_na_sentinel=True)[0].astype(np.int64)


def _rates_at(
    as_of: np.ndarray, deal_idx: np.ndarray, opportunities: pd.DataFrame,
    prior_deals: float = RATE_PRIOR_DEALS,
) -> dict[str, np.ndarray]:
    """Rep and account win rates (smoothed) and closed-deal counts at each (deal, as_of)."""
    status = opportunities["status"].to_numpy()
    closed_at = opportunities["closed_at"].to_numpy("datetime64[us]")
    ended = np.isin(status, [WON, LOST]) & ~np.isnat(closed_at)
    e_time, e_won = closed_at[ended], (status[ended] == WON).astype(float)
    zeros_q = np.zeros(len(as_of), dtype=np.int64)
    g_won, g_n = _counts_before(as_of, zeros_q, e_time, np.zeros(len(e_time), np.int64), e_won)
    overall = (g_won + 1.0) / (g_n + 2.0)
    out: dict[str, np.ndarray] = {}
    for key, name in (("owner", "rep"), ("account", "account")):
        if key in opportunities:
            codes = _codes(opportunities[key])
            won, n = _counts_before(as_of, codes[deal_idx], e_time, codes[ended], e_won)
        else:
            won, n = np.zeros(len(as_of)), np.zeros(len(as_of))
        out[f"{name}_win_rate"] = (won + prior_deals * overall) / (n + prior_deals)
        out[f"{name}_closed_deals"] = n
    return out


def add_past_win_rates(
    points: pd.DataFrame, opportunities: pd.DataFrame, prior_deals: float = RATE_PRIOR_DEALS
) -> pd.DataFrame:
    """`points` (id, as_of) plus rep_/account_ win rates and closed-deal counts at each as_of.

    Only deals closed strictly before `as_of` count. Rates are smoothed toward the overall win
    rate at that date (itself Laplace-smoothed), so a new rep starts at the company's rate.
    """
    opps = opportunities.drop_duplicates("id", keep="last").reset_index(drop=True)
    deal_idx = pd.Index(opps["id"]).get_indexer(points["id"])
    as_of = points["as_of"].to_numpy("datetime64[us]")
    rates = _rates_at(as_of, np.maximum(deal_idx, 0), opps, prior_deals)
    return points.assign(**rates)


def _snapshot_points(
    deals: pd.DataFrame, history: pd.DataFrame, stages: StageSet, every_days: int
) -> pd.DataFrame:
    """(id, as_of) for each deal: each open-stage entry and every `every_days` while open.

    `deals` holds id, created_at and `end` (close date, or the end of observation). Works on
    integer deal positions; one row per distinct (deal, date), grouped by deal, oldest first.
    """
    ids = deals["id"].to_numpy()
    created = deals["created_at"].to_numpy("datetime64[us]")
    end = deals["end"].to_numpy("datetime64[us]")
    pos_parts = [np.arange(len(deals))]
    time_parts = [created]
    h_pos = pd.Index(ids).get_indexer(history["opportunity_id"])
    h_time = history["entered_at"].to_numpy("datetime64[us]")
    ok = (h_pos >= 0) & history["stage"].isin(set(stages.open_stages)).to_numpy()
    ok &= ~np.isnat(h_time)
    h_pos, h_time = h_pos[ok], h_time[ok]
    inside = (h_time >= created[h_pos]) & (h_time < end[h_pos])
    pos_parts.append(h_pos[inside])
    time_parts.append(h_time[inside])
    if every_days > 0 and len(deals):
        life = (end - created) / np.timedelta64(1, "D")
        steps = np.minimum(np.maximum(np.ceil(life / every_days) - 1, 0), 1_000).astype(int)
        if steps.sum():
            reps = np.repeat(np.arange(len(deals)), steps)
            # k = 1..steps[i] for each deal, without a Python loop.
            k = np.arange(len(reps)) - np.repeat(np.cumsum(steps) - steps, steps) + 1
            pos_parts.append(reps)
            time_parts.append(created[reps] + (k * every_days).astype("timedelta64[D]"))
    pos = np.concatenate(pos_parts)
    when = np.concatenate(time_parts).astype("datetime64[us]")
    order = np.lexsort((when.view("int64"), pos))
    pos, when = pos[order], when[order]
    fresh = np.ones(len(pos), dtype=bool)
    fresh[1:] = (pos[1:] != pos[:-1]) | (when[1:] != when[:-1])
    return pd.DataFrame({"id": ids[pos[fresh]], "as_of": when[fresh]})


def deal_rows_at(
    opportunities: pd.DataFrame,
    history: pd.DataFrame,
    stages: StageSet,
    points: pd.DataFrame,
    *,
    amount_known_before_close: bool = True,
) -> pd.DataFrame:
    """Feature rows for deals at given dates: `points` holds (id, as_of), one row per pair.

    Returns id, as_of, created_at, owner, account, the features in `DEAL_FEATURES` and, for
    deals that ended, `closed_at` and `won` (bookkeeping for labels and splits, not features).
    Every feature uses only stage entries on or before `as_of` and outcomes strictly before it.
    Rows come grouped by deal (in the order of `opportunities`), oldest first within a deal.
    Built on integer deal positions with numpy, so a million deals stay within memory.
    """
    opps = opportunities.drop_duplicates("id", keep="last").reset_index(drop=True)
    index = pd.Index(opps["id"])
    deal_idx = index.get_indexer(points["id"])
    as_of = points["as_of"].to_numpy("datetime64[us]")
    keep = deal_idx >= 0
    deal_idx, as_of = deal_idx[keep], as_of[keep]
    order = np.lexsort((as_of.view("int64"), deal_idx))
    deal_idx, as_of = deal_idx[order], as_of[order]
    n = len(deal_idx)

    # Stage as of each date: the last history entry of the deal on or before it.
    h_idx = index.get_indexer(history["opportunity_id"])
    h_time = history["entered_at"].to_numpy("datetime64[us]")
    ok = (h_idx >= 0) & ~np.isnat(h_time)
    h_idx, h_time, h_stage = h_idx[ok], h_time[ok], history["stage"].to_numpy()[ok]
    created = opps["created_at"].to_numpy("datetime64[us]")[deal_idx]
    stage = np.full(n, stages.open_stages[0], dtype=object)
    entered = created.copy()
    if len(h_idx) and n:
        q_rank, h_rank = _time_ranks(as_of, h_time)
        h_comp = (h_idx.astype(np.int64) << 32) | h_rank
        h_order = np.argsort(h_comp, kind="stable")
        h_sorted = h_comp[h_order]
        pos = np.searchsorted(h_sorted, (deal_idx.astype(np.int64) << 32) | q_rank, "right") - 1
        found = pos >= 0
        found[found] = (h_sorted[pos[found]] >> 32) == deal_idx[found]
        stage[found] = h_stage[h_order][pos[found]]
        entered[found] = h_time[h_order][pos[found]]
    day = np.timedelta64(1, "D")
    cols: dict[str, object] = {
        "id": opps["id"].to_numpy()[deal_idx], "as_of": as_of, "created_at": created,
    }
    for col in ("owner", "account"):
        cols[col] = opps[col].to_numpy()[deal_idx] if col in opps else np.full(n, None)
    cols["stage"] = stage
    for col in DEAL_CATEGORICAL[1:]:
        # Kept as text even when a column is all blank (read as float), so it stays categorical.
        values = opps[col] if col in opps else pd.Series(np.full(len(opps), None))
        if is_numeric_dtype(values):
            values = values.astype(object)
        cols[col] = values.take(deal_idx).reset_index(drop=True)
    position = {s: float(i) for i, s in enumerate(stages.open_stages)}
    cols["stage_index"] = pd.Series(stage).map(position).to_numpy(dtype=float)
    cols["age_days"] = (as_of - created) / day
    cols["days_in_stage"] = (as_of - entered) / day
    for col in ("amount", "list_price", "account_employees", "account_revenue"):
        values = opps[col].to_numpy(dtype=float) if col in opps else np.full(len(opps), np.nan)
        cols[col] = values[deal_idx]
    if not amount_known_before_close and "list_price" in opps:
        # The recorded amount is the value at close: while open, only the list price was known.
        cols["amount"] = cols["list_price"]
    cols.update(_rates_at(as_of, deal_idx, opps))
    cols["closed_at"] = (opps["closed_at"].to_numpy("datetime64[us]")[deal_idx]
                         if "closed_at" in opps else np.full(n, np.datetime64("NaT"), "M8[us]"))
    if "status" in opps:
        status = opps["status"].to_numpy()[deal_idx]
        won = (status == WON).astype(float)
        won[~np.isin(status, [WON, LOST])] = np.nan
    else:
        won = np.full(n, np.nan)
    cols["won"] = won
    names = ["id", "as_of", "created_at", "owner", "account", *DEAL_FEATURES, "closed_at", "won"]
    return pd.DataFrame({c: cols[c] for c in names})


def deal_training_rows(
    opportunities: pd.DataFrame,
    history: pd.DataFrame,
    stages: StageSet,
    *,
    every_days: int = 14,
    amount_known_before_close: bool = True,
    known_before: object = None,
    created_before: object = None,
) -> pd.DataFrame:
    """As-of training rows of every deal that ended (won or lost) with a known close date.

    `known_before` keeps only deals whose outcome was known strictly before that date: the
    training side of a time holdout. `created_before` also drops deals created on or after a
    date: deals created just before the cut are there only if they closed fast (mostly lost),
    so they would teach the model that late deals lose. Each row gets `weight` = 1 / (rows of
    its deal), so each deal counts once however long it stayed open.
    """
    _require(opportunities, ("id", "status", "created_at", "closed_at"), "opportunities")
    _require(history, ("opportunity_id", "stage", "entered_at"), "stage history")
    ended = opportunities[
        opportunities["status"].isin([WON, LOST])
        & opportunities["created_at"].notna()
        & opportunities["closed_at"].notna()
    ]
    if known_before is not None:
        ended = ended[ended["closed_at"] < as_timestamp(known_before)]
    if created_before is not None:
        ended = ended[ended["created_at"] < as_timestamp(created_before)]
    deals = ended[["id", "created_at"]].assign(end=ended["closed_at"])
    deals = deals[deals["end"] >= deals["created_at"]]
    points = _snapshot_points(deals, history, stages, every_days)
    rows = deal_rows_at(
        opportunities, history, stages, points, amount_known_before_close=amount_known_before_close
    )
    return with_deal_weights(rows)


def deal_rows_after(
    opportunities: pd.DataFrame,
    history: pd.DataFrame,
    stages: StageSet,
    cut: object,
    *,
    every_days: int = 14,
    amount_known_before_close: bool = True,
) -> pd.DataFrame:
    """Test rows of a time holdout: deals that ended on or after `cut`, seen from `cut` on.

    A deal open at `cut` is scored as of `cut` (the pipeline a model fitted then would face);
    later stage entries and periodic dates add rows. Deals still open at the end of the data have
    no label yet and are left out (censored). Weighted so that each deal counts once.
    """
    t = as_timestamp(cut)
    ended = opportunities[
        opportunities["status"].isin([WON, LOST])
        & opportunities["created_at"].notna()
        & (opportunities["closed_at"] >= t)
    ]
    deals = ended[["id", "created_at"]].assign(end=ended["closed_at"])
    points = _snapshot_points(deals, history, stages, every_days)
    points = points[points["as_of"] >= t]
    open_at_cut = deals.loc[deals["created_at"] < t, ["id"]].assign(as_of=t)
    points = pd.concat([points, open_at_cut], ignore_index=True).drop_duplicates()
    points["as_of"] = points["as_of"].astype("datetime64[us]")
    rows = deal_rows_at(
        opportunities, history, stages, points, amount_known_before_close=amount_known_before_close
    )
    return with_deal_weights(rows)


def open_deal_rows(
    opportunities: pd.DataFrame,
    history: pd.DataFrame,
    stages: StageSet,
    as_of: object,
    *,
    amount_known_before_close: bool = True,
) -> pd.DataFrame:
    """Feature rows of the deals open at `as_of`, for scoring the pipeline as it stood then."""
    from forecast.snapshots import open_pipeline

    t = as_timestamp(as_of)
    pipeline = open_pipeline(opportunities, history, stages, t)
    points = pd.DataFrame({"id": pipeline["id"], "as_of": t})
    points["as_of"] = points["as_of"].astype("datetime64[us]")
    rows = deal_rows_at(
        opportunities, history, stages, points, amount_known_before_close=amount_known_before_close
    )
    # The outcome is not known at `as_of`.
    rows["won"] = np.nan
    rows["closed_at"] = pd.NaT
    return rows


def with_deal_weights(rows: pd.DataFrame) -> pd.DataFrame:
    """`weight` = 1 / number of rows of the same deal: each deal weighs one in total."""
    rows = rows.copy()
    rows["weight"] = 1.0 / rows.groupby("id")["id"].transform("size").to_numpy(dtype=float)
    return rows


def deal_features(rows: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns of deal rows, in a fixed order (nothing revealed at close)."""
    return rows[list(DEAL_FEATURES)].copy()


@dataclass
class WinRates:
    """Past win rates as of one date, for scoring single deals without rebuilding history."""

    as_of: pd.Timestamp
    overall: float
    rep: dict[str, tuple[float, float]]
    account: dict[str, tuple[float, float]]

    def lookup(self, owner: object, account: object) -> dict[str, float]:
        rep_rate, rep_n = self.rep.get(str(owner), (self.overall, 0.0))
        acc_rate, acc_n = self.account.get(str(account), (self.overall, 0.0))
        return {"rep_win_rate": rep_rate, "rep_closed_deals": rep_n,
                "account_win_rate": acc_rate, "account_closed_deals": acc_n}


def win_rates_as_of(
    opportunities: pd.DataFrame, stages: StageSet, as_of: object,
    prior_deals: float = RATE_PRIOR_DEALS,
) -> WinRates:
    """Smoothed rep and account win rates over deals closed strictly before `as_of`."""
    t = as_timestamp(as_of)
    out = _closed_outcomes(opportunities, stages)
    out = out[out["closed_at"] < t]
    overall = (out["won"].sum() + 1.0) / (len(out) + 2.0)

    def table(key: str) -> dict[str, tuple[float, float]]:
        if out[key].isna().all():
            return {}
        agg = out.groupby(key)["won"].agg(["sum", "count"])
        rate = (agg["sum"] + prior_deals * overall) / (agg["count"] + prior_deals)
        return {str(k): (float(r), float(n)) for k, r, n in zip(agg.index, rate, agg["count"],
                                                                  strict=True)}

    return WinRates(t, float(overall), table("owner"), table("account"))


# --- leads --------------------------------------------------------------------------------------

LEAD_BOOKKEEPING = ("id", "converted", "created_at", "updated_at", "dataset")


@dataclass
class LeadColumns:
    """What `prepare_leads` kept and dropped, and why (shown in training reports)."""

    features: list[str]
    leaks_excluded: list[str]
    identifiers: list[str]
    constant: list[str]


def prepare_leads(
    leads: pd.DataFrame,
    leak_columns: Sequence[str] = (),
    *,
    include_leaks: bool = False,
) -> tuple[pd.DataFrame, LeadColumns]:
    """Lead attributes ready for a model: leak columns out (unless asked), ids and constants out.

    Text columns stay text (the model encodes them); text that is all numbers becomes numeric;
    booleans become 0/1. An attribute whose every value is distinct is an identifier, not a
    property of the lead, and is dropped.
    """
    attrs = [c for c in leads.columns if c not in LEAD_BOOKKEEPING]
    leaks = [c for c in leak_columns if c in attrs] if not include_leaks else []
    frame = leads[[c for c in attrs if c not in leaks]].copy()
    identifiers, constant = [], []
    for col in list(frame.columns):
        series = frame[col]
        if is_bool_dtype(series):
            frame[col] = series.astype(float)
            series = frame[col]
        elif not is_numeric_dtype(series):
            nonnull = series.dropna()
            numbers = pd.to_numeric(nonnull, errors="coerce")
            if len(nonnull) and numbers.notna().all():
                frame[col] = pd.to_numeric(series, errors="coerce")
                series = frame[col]
        nonnull = series.dropna()
        distinct = nonnull.nunique()
        if distinct <= 1:
            constant.append(col)
        elif distinct == len(nonnull) and len(nonnull) > 50 and (
            not is_numeric_dtype(series) or (nonnull == nonnull.round()).all()
        ):
            identifiers.append(col)
    frame = frame.drop(columns=identifiers + constant)
    return frame, LeadColumns(list(frame.columns), leaks, identifiers, constant)


def lead_labels(leads: pd.DataFrame) -> pd.Series:
    """The `converted` label as 0/1 floats (missing stays missing)."""
    _require(leads, ("converted",), "leads")
    return pd.to_numeric(leads["converted"], errors="coerce").astype(float)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{what} lack required column(s) {missing}; have {list(frame.columns)}")
