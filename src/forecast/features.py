"""Model inputs: deal rows as of a date (for training, holdouts and scoring), and lead columns.

A deal's training rows are snapshots of it while it was open: one just after its creation, one
just after each stage entry and one every `every_days` days of its life. Each row is the deal as
`DealHistory.rows_at` says it was known at the row's `as_of` (stage, age, days in stage, every
field at its value then, left-out fields blank) plus the rep's and the account's win rates over
deals closed strictly *before* `as_of`. The label is whether the deal was eventually won (as far
as the history given knows). Fields revealed at close (`closed_at`, `status`,
`amount_estimated`, CSAT) never become features.

A dataset's own columns kept as model inputs (`DealHistory.attributes`, its mapping's
`features:`) follow `DEAL_FEATURES` in the rows under their own names (which no canonical name
takes), so reasons name them as the user does: "Original Traffic Source = Organic search".
They are static attributes, known from creation like a flat export's `sector`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from forecast.data.stages import LOST, WON
from forecast.errors import InvalidInput
from forecast.history import DEAL_VALUE, JUST_AFTER, DealHistory, as_timestamp
from forecast.lead_columns import (  # noqa: F401 - named here too: `feat.prepare_leads`
    LEAD_BOOKKEEPING,
    LeadColumns,
    prepare_leads,
)

#: Deal features by kind. Everything else in the opportunities table stays out of the model.
DEAL_CATEGORICAL: tuple[str, ...] = (
    "stage",
    "product",
    "product_series",
    "sector",
    "account_country",
    "region",
    "team",
)
DEAL_NUMERIC: tuple[str, ...] = (
    "stage_index",
    "age_days",
    "days_in_stage",
    "amount",
    "list_price",
    "account_employees",
    "account_revenue",
    "rep_win_rate",
    "rep_closed_deals",
    "account_win_rate",
    "account_closed_deals",
)
DEAL_FEATURES: tuple[str, ...] = DEAL_CATEGORICAL + DEAL_NUMERIC
#: What deal rows carry besides inputs: never features, and never a custom feature's name.
ROW_BOOKKEEPING: tuple[str, ...] = (
    "id",
    "as_of",
    "created_at",
    "owner",
    "account",
    "closed_at",
    "won",
    "weight",
    DEAL_VALUE,
)
#: Inputs that move as history accumulates whatever else happens: counts of past closes, and
#: the win rates shrunk toward the overall one by those counts (`RATE_PRIOR_DEALS`).
GROWS_WITH_HISTORY: frozenset[str] = frozenset(
    {"rep_closed_deals", "account_closed_deals", "rep_win_rate", "account_win_rate"}
)
#: Known only at or after close (or typed in by the rep with hindsight): never features.
REVEALED_AT_CLOSE: frozenset[str] = frozenset(
    {
        "amount_estimated",
        "closed_at",
        "status",
        "csat",
        "rep_probability",
        "forecast_category",
        "expected_close_at",
        "updated_at",
        "is_open",
        "won",
    }
)
#: Derived features and the field each is computed from.
DERIVED_FROM: dict[str, str] = {
    "rep_win_rate": "owner",
    "rep_closed_deals": "owner",
    "account_win_rate": "account",
    "account_closed_deals": "account",
}
#: The derived past win rates: a higher one never lowers a deal's score (the boosted model is
#: fitted monotone increasing in each, `BoostedClassifier.monotone_increasing`).
PAST_WIN_RATES: tuple[str, ...] = tuple(c for c in DERIVED_FROM if c.endswith("_win_rate"))
#: How strongly a rep's or account's win rate is pulled toward the overall rate (pseudo-deals).
RATE_PRIOR_DEALS = 10.0

#: Readable names for the derived deal features (attributes keep their own names).
DEAL_LABELS: dict[str, str] = {
    "stage": "Stage",
    "stage_index": "Stage position",
    "age_days": "Deal age (days)",
    "days_in_stage": "Days in stage",
    "amount": "Amount",
    "list_price": "List price",
    "product": "Product",
    "product_series": "Product series",
    "sector": "Sector",
    "account_country": "Account country",
    "region": "Region",
    "team": "Team",
    "account_employees": "Account employees",
    "account_revenue": "Account revenue",
    "rep_win_rate": "Rep's past win rate",
    "rep_closed_deals": "Rep's closed deals",
    "account_win_rate": "Account's past win rate",
    "account_closed_deals": "Account's closed deals",
}


# --- deals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KeyedCloses:
    """Closes of one key (rep, account or all) sorted by (key, time), with running counts."""

    keys: pd.Index  # the key's values; a value's position is its code
    packed: np.ndarray  # sorted (code << 32) | rank of the close instant
    run_won: np.ndarray
    run_n: np.ndarray

    @classmethod
    def build(cls, values: np.ndarray, rank: np.ndarray, won: np.ndarray) -> _KeyedCloses:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        ok = codes >= 0
        code, r, w = codes[ok].astype(np.int64), rank[ok], won[ok]
        # Time order within each key; closes at the same instant keep their given order.
        order = np.lexsort((r, code))
        code, r, w = code[order], r[order], w[order]
        start = np.r_[True, code[1:] != code[:-1]] if len(code) else np.zeros(0, bool)
        group_start = np.maximum.accumulate(np.where(start, np.arange(len(code)), 0))
        cum_won = np.cumsum(w)
        run_won = cum_won - np.r_[0.0, cum_won][group_start]
        run_n = np.arange(len(code)) - group_start + 1.0
        return cls(pd.Index(uniques, dtype=object), (code << 32) | r, run_won, run_n)

    def counts_before(self, values: np.ndarray, q_rank: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per query, (wins, closes) of its key with a close instant ranked before `q_rank`."""
        wins, count = np.zeros(len(q_rank)), np.zeros(len(q_rank))
        if len(self.packed) == 0 or len(q_rank) == 0:
            return wins, count
        q_code = self.keys.get_indexer(pd.Index(values, dtype=object)).astype(np.int64)
        ok = q_code >= 0
        at = np.searchsorted(self.packed, (q_code[ok] << 32) | q_rank[ok], "left") - 1
        hit = at >= 0
        hit[hit] = (self.packed[at[hit]] >> 32) == q_code[ok][hit]
        w, n = np.zeros(ok.sum()), np.zeros(ok.sum())
        w[hit], n[hit] = self.run_won[at[hit]], self.run_n[at[hit]]
        wins[ok], count[ok] = w, n
        return wins, count


@dataclass(frozen=True)
class PastCloses:
    """Every close (`DealHistory.closed_outcomes`), indexed once for the reps' and accounts'
    win rates as of any instant. Built once per batch of rows in process; on a cluster built once
    from every close and shared by all partitions, so a partition's rates equal the in-process
    ones whichever deals it holds."""

    instants: np.ndarray  # distinct close instants (int64 µs), sorted
    overall: _KeyedCloses
    rep: _KeyedCloses
    account: _KeyedCloses
    prior_deals: float = RATE_PRIOR_DEALS

    @classmethod
    def from_outcomes(
        cls, outcomes: pd.DataFrame, prior_deals: float = RATE_PRIOR_DEALS
    ) -> PastCloses:
        when = outcomes["closed_at"].to_numpy("datetime64[us]")
        dated = ~np.isnat(when)
        t = when[dated].view("int64")
        won = outcomes["won"].to_numpy(dtype=float)[dated]
        instants = np.unique(t)
        rank = np.searchsorted(instants, t).astype(np.int64)
        keyed = {
            key: _KeyedCloses.build(outcomes[key].to_numpy(dtype=object)[dated], rank, won)
            for key in ("owner", "account")
        }
        overall = _KeyedCloses.build(np.zeros(len(t), dtype=object), rank, won)
        return cls(instants, overall, keyed["owner"], keyed["account"], prior_deals)

    def rates_at(
        self, as_of: np.ndarray, owner: np.ndarray, account: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Rep and account win rates (smoothed toward the overall rate) and closed-deal counts
        at each (owner, account, as_of), over deals closed strictly before as_of."""
        q = np.asarray(as_of, dtype="datetime64[us]")
        q_rank = np.searchsorted(self.instants, q.view("int64"), "left").astype(np.int64)
        q_rank[np.isnat(q)] = 0
        g_won, g_n = self.overall.counts_before(np.zeros(len(q), dtype=object), q_rank)
        overall = (g_won + 1.0) / (g_n + 2.0)
        out: dict[str, np.ndarray] = {}
        for values, table, name in ((owner, self.rep, "rep"), (account, self.account, "account")):
            won, n = table.counts_before(np.asarray(values, dtype=object), q_rank)
            out[f"{name}_win_rate"] = (won + self.prior_deals * overall) / (n + self.prior_deals)
            out[f"{name}_closed_deals"] = n
        return out


def snapshot_points(history: DealHistory, deals: pd.DataFrame, every_days: int) -> pd.DataFrame:
    """(id, as_of) for each deal while open: just after its creation and each open-stage entry,
    and every `every_days` days. `deals` holds id, created_at and `end` (close, or the end of
    observation). One row per distinct (deal, date), grouped by deal, oldest first."""
    ids = deals["id"].to_numpy()
    created = deals["created_at"].to_numpy("datetime64[us]")
    end = deals["end"].to_numpy("datetime64[us]")
    step = JUST_AFTER.to_timedelta64()
    pos_parts = [np.arange(len(deals))]
    time_parts = [created + step]
    log = history.stage_log
    h_pos = pd.Index(ids).get_indexer(log["opportunity_id"])
    h_time = log["entered_at"].to_numpy("datetime64[us]")
    ok = (h_pos >= 0) & log["stage"].isin(set(history.stages.open_stages)).to_numpy()
    ok &= ~np.isnat(h_time)
    h_pos, h_time = h_pos[ok], h_time[ok]
    pos_parts.append(h_pos)
    time_parts.append(h_time + step)
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
    inside = (when > created[pos]) & (when < end[pos])
    pos, when = pos[inside], when[inside]
    order = np.lexsort((when.view("int64"), pos))
    pos, when = pos[order], when[order]
    fresh = np.ones(len(pos), dtype=bool)
    fresh[1:] = (pos[1:] != pos[:-1]) | (when[1:] != when[:-1])
    return pd.DataFrame({"id": ids[pos[fresh]], "as_of": when[fresh]})


def deal_rows_at(
    history: DealHistory, points: pd.DataFrame, closes: PastCloses | None = None
) -> pd.DataFrame:
    """Feature rows for deals at given instants: `points` holds (id, as_of), one row per pair.

    Returns id, as_of, created_at, owner, account, the features in `DEAL_FEATURES` and, for
    deals that ended (as far as `history` knows), `closed_at` and `won`: bookkeeping for labels
    and splits, never features. Rows come grouped by deal (in the order of `history.deals`),
    oldest first within a deal. Built on integer positions with numpy: a million deals fit.
    `closes` (default: built from `history`) gives the win rates; a part of a history passes
    the whole history's.
    """
    pos = history.positions(points["id"])
    when = points["as_of"].to_numpy("datetime64[us]")
    order = np.lexsort((when.view("int64"), pos))
    ordered = pd.DataFrame({"id": points["id"].to_numpy()[order], "as_of": when[order]})
    rows = history.rows_at(ordered, for_models=True)
    n = len(rows)
    as_of = rows["as_of"].to_numpy("datetime64[us]")
    day = np.timedelta64(1, "D")
    cols: dict[str, object] = {
        "id": rows["id"].to_numpy(),
        "as_of": as_of,
        "created_at": rows["created_at"].to_numpy("datetime64[us]"),
    }
    for col in ("owner", "account"):
        cols[col] = rows[col].to_numpy(dtype=object) if col in rows else np.full(n, None)
    stage = rows["stage"].to_numpy(dtype=object)
    cols["stage"] = stage
    for col in DEAL_CATEGORICAL[1:]:
        # Kept as text even when a column is all blank, so it stays categorical.
        values = rows[col] if col in rows else pd.Series(np.full(n, None))
        cols[col] = (
            values.astype(object).where(values.notna(), None).reset_index(drop=True)
            if is_numeric_dtype(values)
            else values.reset_index(drop=True)
        )
    position = {s: float(i) for i, s in enumerate(history.stages.open_stages)}
    cols["stage_index"] = pd.Series(stage).map(position).to_numpy(dtype=float)
    cols["age_days"] = (as_of - cols["created_at"]) / day
    cols["days_in_stage"] = (as_of - rows["stage_entered_at"].to_numpy("datetime64[us]")) / day
    for col in ("amount", "list_price", "account_employees", "account_revenue"):
        cols[col] = rows[col].to_numpy(dtype=float) if col in rows else np.full(n, np.nan)
    value = [DEAL_VALUE] if DEAL_VALUE in rows else []  # the money of a blanked amount
    if value:
        cols[DEAL_VALUE] = rows[DEAL_VALUE].to_numpy(dtype=float)
    owner, account = cast(np.ndarray, cols["owner"]), cast(np.ndarray, cols["account"])
    if closes is None:
        closes = PastCloses.from_outcomes(history.closed_outcomes())
    cols.update(closes.rates_at(as_of, owner, account))
    at = history.positions(rows["id"])
    final = history.final_deals  # a close as the snapshots read it
    cols["closed_at"] = final["closed_at"].to_numpy("datetime64[us]")[at]
    status = final["status"].to_numpy()[at]
    won = (status == WON).astype(float)
    won[~np.isin(status, [WON, LOST])] = np.nan
    cols["won"] = won
    for col in history.attributes:  # numbers stay numbers; text stays text, blank or not
        values = rows[col].reset_index(drop=True)
        cols[col] = values if is_numeric_dtype(values) else values.astype(object)
    names = [
        "id",
        "as_of",
        "created_at",
        "owner",
        "account",
        *DEAL_FEATURES,
        *history.attributes,
        *value,
        "closed_at",
        "won",
    ]
    return pd.DataFrame({c: cols[c] for c in names})


def _ended(history: DealHistory) -> pd.DataFrame:
    """The deals won or lost with a creation and a close (`DealHistory.final_deals`': a deal's
    rows stop at the close the snapshots read, and a holdout cut sorts it by that close)."""
    deals = history.final_deals
    return deals[
        deals["status"].isin([WON, LOST]) & deals["created_at"].notna() & deals["closed_at"].notna()
    ]


def deal_training_rows(
    history: DealHistory,
    *,
    every_days: int = 14,
    known_before: object = None,
    created_before: object = None,
    closes: PastCloses | None = None,
) -> pd.DataFrame:
    """As-of training rows of every deal that ended (won or lost) with a known close date.

    `known_before` keeps only deals whose outcome was known strictly before that date: the
    training side of a time holdout. `created_before` also drops deals created on or after a
    date: deals created just before the cut are there only if they closed fast (mostly lost),
    so they would teach the model that late deals lose. Each row weighs one
    (`with_snapshot_weights`).
    """
    points = deal_training_points(
        history, every_days=every_days, known_before=known_before, created_before=created_before
    )
    return with_snapshot_weights(deal_rows_at(history, points, closes))


def deal_training_points(
    history: DealHistory,
    *,
    every_days: int = 14,
    known_before: object = None,
    created_before: object = None,
) -> pd.DataFrame:
    """(id, as_of) of `deal_training_rows`, one per row: what they count without building them
    (a cluster run sizes the simple families' sample before the rows are built)."""
    ended = _ended(history)
    if known_before is not None:
        ended = ended[ended["closed_at"] < as_timestamp(known_before)]
    if created_before is not None:
        ended = ended[ended["created_at"] < as_timestamp(created_before)]
    deals = ended[["id", "created_at"]].assign(end=ended["closed_at"])
    deals = deals[deals["end"] >= deals["created_at"]]
    return snapshot_points(history, deals, every_days)


def deal_rows_after(
    history: DealHistory, cut: object, *, every_days: int = 14, closes: PastCloses | None = None
) -> pd.DataFrame:
    """Test rows of a time holdout: deals that ended on or after `cut`, seen from `cut` on.

    A deal open at `cut` is scored as of `cut` (the pipeline a model fitted then would face);
    later stage entries and periodic dates add rows. Deals still open at the end of the data have
    no label yet and are left out (censored). Each row weighs one, as in training.
    """
    t = as_timestamp(cut)
    ended = _ended(history)
    ended = ended[ended["closed_at"] >= t]
    deals = ended[["id", "created_at"]].assign(end=ended["closed_at"])
    points = snapshot_points(history, deals, every_days)
    points = points[points["as_of"] >= t]
    open_at_cut = deals.loc[deals["created_at"] < t, ["id"]].assign(as_of=t)
    points = pd.concat([points, open_at_cut], ignore_index=True).drop_duplicates()
    points["as_of"] = points["as_of"].astype("datetime64[us]")
    return with_snapshot_weights(deal_rows_at(history, points, closes))


def open_deal_rows(
    history: DealHistory, as_of: object, closes: PastCloses | None = None
) -> pd.DataFrame:
    """Feature rows of the deals open at `as_of` (as known then): the pipeline to score or
    forecast. The outcome is not known at `as_of`, so `won` and `closed_at` are blank.
    `closes`: as `deal_rows_at` (a slice of a history passes the whole history's)."""
    t = as_timestamp(as_of)
    pipeline = history.open_at(t)
    points = pd.DataFrame(
        {
            "id": pipeline["id"].to_numpy(),
            "as_of": np.full(len(pipeline), t.to_datetime64(), "datetime64[us]"),
        }
    )
    rows = deal_rows_at(history, points, closes)
    rows["won"] = np.nan
    rows["closed_at"] = pd.NaT
    return rows.reset_index(drop=True)


def deal_values(frame: pd.DataFrame) -> pd.Series:
    """Each deal's amount, else its list price; NaN where neither is known (from model rows
    too, where the leak check blanked them as inputs: `DEAL_VALUE`)."""
    if DEAL_VALUE in frame:
        return frame[DEAL_VALUE].astype(float)
    amount = frame["amount"].astype(float) if "amount" in frame else pd.Series(np.nan, frame.index)
    if "list_price" in frame:
        amount = amount.fillna(frame["list_price"].astype(float))
    return amount


def deal_amounts(frame: pd.DataFrame) -> np.ndarray:
    """What a won deal is worth in a forecast: its value (`deal_values`), else 0."""
    return deal_values(frame).fillna(0.0).clip(lower=0).to_numpy(dtype=float)


def with_snapshot_weights(rows: pd.DataFrame) -> pd.DataFrame:
    """`weight` = 1 for every snapshot.

    A close probability is asked of an open deal at any moment, so the rows it is calibrated and
    judged on are the open deals as met at each snapshot: a deal open for a year is met more
    often than one lost in a week. Weighing each deal one in total (1 / its rows) made a won
    deal, which stays open longer, count less in every stage: early-stage probabilities came
    out a third of the share won. The booster alone still weighs each deal one in its trees
    (`estimators.per_group_weights`), so long deals do not dominate what it learns."""
    rows = rows.copy()
    rows["weight"] = 1.0
    return rows


def model_features(
    left_out: frozenset[str] | set[str] = frozenset(), attributes: Sequence[str] = ()
) -> list[str]:
    """`DEAL_FEATURES` and the dataset's own `attributes`, without the fields the leak check
    left out and what is derived from them (with no account, an "account's past win rate" is
    only the overall rate: not a reason)."""
    # A stage left out (`export_leaks`: a flat export's) is the time-to-close model's matter
    # (`TimeToClose.one_stage`): the deal model meets a flat history with the CRM's stage odds.
    left_out = set(left_out) - {"stage"}
    canonical = [
        c for c in DEAL_FEATURES if c not in left_out and DERIVED_FROM.get(c) not in left_out
    ]
    return canonical + [c for c in attributes if c not in left_out]


def history_features(history: DealHistory) -> list[str]:
    """The deal model's inputs for this history: `model_features` with its own attributes."""
    return model_features(history.left_out, history.attributes)


def custom_columns(rows: pd.DataFrame) -> list[str]:
    """The dataset's own attributes among deal rows' columns (what `deal_rows_at` adds after
    `DEAL_FEATURES`: any column that is neither an input nor bookkeeping)."""
    known = {*DEAL_FEATURES, *ROW_BOOKKEEPING, *REVEALED_AT_CLOSE}
    return [str(c) for c in rows.columns if c not in known]


def deal_features(
    rows: pd.DataFrame, left_out: frozenset[str] | set[str] = frozenset()
) -> pd.DataFrame:
    """The model's input columns of deal rows, in a fixed order (nothing revealed at close):
    the canonical inputs, then the dataset's own attributes the rows carry."""
    return rows[model_features(left_out, custom_columns(rows))].copy()


def blank_everywhere(X: pd.DataFrame) -> list[str]:
    """The inputs of `X` blank in every row: no deal of the data has them, so a model could
    learn nothing of them, and would only expect them (and say they were not given) when it
    scores."""
    return [str(c) for c in X.columns if X[c].isna().all()]


@dataclass
class WinRates:
    """Past win rates as of one date, for scoring single deals without rebuilding history."""

    as_of: pd.Timestamp
    overall: float
    rep: Mapping[str, tuple[float, float]]  # (smoothed rate, closes) per rep, as text
    account: Mapping[str, tuple[float, float]]

    def lookup(self, owner: object, account: object) -> dict[str, float]:
        rep_rate, rep_n = self.rep.get(str(owner), (self.overall, 0.0))
        acc_rate, acc_n = self.account.get(str(account), (self.overall, 0.0))
        return {
            "rep_win_rate": rep_rate,
            "rep_closed_deals": rep_n,
            "account_win_rate": acc_rate,
            "account_closed_deals": acc_n,
        }


def win_rates_as_of(
    history: DealHistory,
    as_of: object,
    prior_deals: float = RATE_PRIOR_DEALS,
) -> WinRates:
    """Smoothed rep and account win rates over deals closed strictly before `as_of`."""
    t = as_timestamp(as_of)
    out = history.closed_outcomes()
    out = out[out["closed_at"] < t]
    overall = (out["won"].sum() + 1.0) / (len(out) + 2.0)

    def table(key: str) -> dict[str, tuple[float, float]]:
        if out[key].isna().all():
            return {}
        agg = out.groupby(key)["won"].agg(["sum", "count"])
        rate = (agg["sum"] + prior_deals * overall) / (agg["count"] + prior_deals)
        return {
            str(k): (float(r), float(n))
            for k, r, n in zip(agg.index, rate, agg["count"], strict=True)
        }

    return WinRates(t, float(overall), table("owner"), table("account"))


# --- leads --------------------------------------------------------------------------------------


def lead_labels(leads: pd.DataFrame) -> pd.Series:
    """The `converted` label as 0/1 floats (missing stays missing)."""
    _require(leads, ("converted",), "leads")
    return pd.to_numeric(leads["converted"], errors="coerce").astype(float)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{what} lack required column(s) {missing}; have {list(frame.columns)}")
