"""A seeded generator of realistic sales pipelines and inbound leads.

So the demo (`make run`), the fast tests and the benchmarks never need outside data. What makes
it realistic enough to learn from and to forecast:

- ~30 reps in 5 teams over 3 regions; 6 products in 3 series, list prices from 55 to 26,000;
  300 accounts with sector, size and country;
- seasonality: more deals are created late in each quarter, and deals due near a quarter's end
  are often signed (or written off) in its last days;
- long-tailed amounts: list price × quantity × a lognormal factor, less a discount;
- win chances that depend on the rep's skill, the product, the account's size and sector, the
  discount and the amount, so a model can learn more than the stage;
- a narrowing funnel: a deal advances stage by stage or is lost where it stops; lost deals die
  faster than won ones close; deals still open at the export date are censored;
- reps' own calls: each rep has a bias (optimists, sandbaggers), visible in `rep_probability`,
  `forecast_category` and `expected_close_at`; some won deals carry a CSAT score (1–5).

Two optional scenarios make data a forecast must adapt to (both off by default, and then the
data is the same, byte for byte, as without them for the same seed):
- `win_rate_change=(date, factor)`: deals created on or after the date are won `factor` times as
  often (0.5 halves the win rate): a regime change a backtest should see its forecasts miss;
- `seasonality=a`: an annual pattern in how many deals are created, weight × (1 + a·cos(2π(day
  of year − `SEASONAL_PEAK_DAY`)/365)): most in mid-November (Q4 high), fewest in mid-May
  (Q2 low), and so in won revenue a few weeks later.
Everything is vectorised with numpy: a million deals take seconds. Text columns are built from
a few shared string objects (or Arrow strings), so a million deals fit in well under 2 GB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from forecast.data.stages import DEFAULT_STAGES, StageSet
from forecast.errors import InvalidInput
from forecast.history import as_timestamp

PRODUCTS = pd.DataFrame(
    {
        "product": ["Spark", "Spark Plus", "Beacon", "Beacon Pro", "Atlas", "Atlas Enterprise"],
        "product_series": ["Spark", "Spark", "Beacon", "Beacon", "Atlas", "Atlas"],
        "list_price": [55.0, 550.0, 1_100.0, 3_400.0, 4_800.0, 26_000.0],
        "weight": [0.22, 0.24, 0.2, 0.15, 0.13, 0.06],
        "effect": [0.35, 0.2, 0.05, -0.1, -0.2, -0.45],
    }
)
SECTORS = [
    "technology",
    "finance",
    "retail",
    "medical",
    "manufacturing",
    "services",
    "telecom",
    "energy",
]
SECTOR_EFFECT = [0.25, 0.0, -0.15, 0.1, -0.1, 0.05, -0.05, 0.15]
COUNTRIES = ["United States", "Germany", "United Kingdom", "France", "Japan", "Brazil"]
REGIONS = ["East", "Central", "West"]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jon",
    "Kemi",
    "Liam",
    "Mara",
    "Noah",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
LAST = [
    "Moreau",
    "Okafor",
    "Lindqvist",
    "Haddad",
    "Tanaka",
    "Silva",
    "Novak",
    "Keller",
    "Brennan",
    "Costa",
    "Ito",
    "Fischer",
]
DAY = np.timedelta64(1, "D")
HOUR = 3_600  # seconds: the least time a deal spends in a stage
#: Day of the year (1 = 1 January) when the seasonal pattern creates the most deals: 15
#: November, the middle of Q4; the fewest half a year away, mid-May (Q2).
SEASONAL_PEAK_DAY = 319


@dataclass
class GeneratedPipeline:
    """A generated export: deals as they stand at `as_of`, and every stage entry up to it."""

    opportunities: pd.DataFrame
    history: pd.DataFrame
    as_of: pd.Timestamp
    stages: StageSet


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _text(names: object, codes: np.ndarray) -> pd.Series:
    """A text column from codes into a few names: rows share the name objects, not copies."""
    return pd.Series(np.asarray(names, dtype=object)[codes]).astype("str")


def _quarter_end_rush(rng: np.random.Generator, close: np.ndarray, won: np.ndarray) -> np.ndarray:
    """Closes due in a quarter's last two weeks are often pulled to its last days.

    Buyers wait for the end-of-quarter price and reps clean their pipeline before the books
    close: half the wins and a third of the losses due then are dated in the last ~2 days.
    Only ever later, so the stage entries before the close stay in order.
    """
    month = close.astype("datetime64[M]")
    next_quarter = (month - month.astype(np.int64) % 3 + 3).astype("datetime64[s]")
    target = next_quarter - (rng.uniform(0.05, 2.5, close.size) * 86_400).astype("timedelta64[s]")
    rush = (
        (next_quarter - close < 14 * DAY)
        & (target > close)
        & (rng.random(close.size) < np.where(won, 0.5, 0.3))
    )
    return np.where(rush, target, close)


def _reps(rng: np.random.Generator, n_teams: int = 5, per_team: int = 6) -> pd.DataFrame:
    n = n_teams * per_team
    names = [f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}" for i in range(n)]
    team = np.repeat(np.arange(n_teams), per_team)
    managers = [
        f"{FIRST[(i * 3 + 11) % len(FIRST)]} {LAST[(i * 5 + 3) % len(LAST)]}"
        for i in range(n_teams)
    ]
    return pd.DataFrame(
        {
            "owner": names,
            "team": [f"Team {managers[t].split()[1]}" for t in team],
            "region": [REGIONS[t % len(REGIONS)] for t in team],
            "skill": rng.normal(0.0, 0.45, n),
            "bias": rng.normal(0.0, 0.6, n),  # > 0 optimist, < 0 sandbagger (log-odds)
            "timing_bias": rng.normal(-4.0, 6.0, n),  # days: optimists expect earlier closes
        }
    )


def _accounts(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    syllables = [
        "ac",
        "bel",
        "cor",
        "dyn",
        "ex",
        "flo",
        "gen",
        "hex",
        "ion",
        "jet",
        "kin",
        "lum",
        "mer",
        "nov",
        "opt",
        "pro",
        "qua",
        "ray",
        "sol",
        "tek",
    ]
    picks = rng.integers(0, len(syllables), (n, 2))
    suffix = rng.choice(["Labs", "Corp", "Group", "Systems", "Works", "Holdings"], n)
    names = [
        f"{syllables[a].title()}{syllables[b]} {s} {i}"
        for i, ((a, b), s) in enumerate(zip(picks, suffix, strict=True))
    ]
    sector = rng.integers(0, len(SECTORS), n)
    employees = np.round(np.exp(rng.normal(6.0, 1.4, n))) + 5
    return pd.DataFrame(
        {
            "account": names,
            "sector": np.array(SECTORS)[sector],
            "sector_effect": np.array(SECTOR_EFFECT)[sector],
            "account_employees": employees,
            "account_revenue": np.round(employees * np.exp(rng.normal(-1.6, 0.5, n)), 2),
            "account_country": rng.choice(COUNTRIES, n, p=[0.45, 0.12, 0.12, 0.1, 0.11, 0.1]),
        }
    )


def _creation_times(
    rng: np.random.Generator,
    n: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seasonality: float = 0.0,
) -> np.ndarray:
    """Creation dates with more deals late in each quarter (and, with `seasonality`, in the
    months around `SEASONAL_PEAK_DAY`), plus a random time of day."""
    days = pd.date_range(start, end, freq="D")
    in_quarter = (days - days.to_period("Q").start_time).days.to_numpy() / 91.0
    weight = (1.0 + 0.8 * in_quarter**2) * np.where(days.day_of_week < 5, 1.0, 0.25)
    if seasonality:
        angle = 2 * np.pi * (days.day_of_year.to_numpy() - SEASONAL_PEAK_DAY) / 365.0
        weight = weight * (1.0 + seasonality * np.cos(angle))
    picked = rng.choice(len(days), n, p=weight / weight.sum())
    seconds = rng.integers(8 * 3600, 19 * 3600, n)
    return (days.to_numpy()[picked] + seconds.astype("timedelta64[s]")).astype("datetime64[s]")


def generate_pipeline(
    n_deals: int = 5000,
    *,
    seed: int = 42,
    start: object = "2023-01-01",
    end: object = "2024-12-31",
    stages: StageSet = DEFAULT_STAGES,
    win_rate_change: tuple[object, float] | None = None,
    seasonality: float = 0.0,
) -> GeneratedPipeline:
    """`n_deals` deals created between `start` and `end`, exported as of `end`.

    `win_rate_change=(date, factor)`: deals created on or after `date` are won `factor` times
    as often (their chance to advance at each stage follows; a chance above 1 is capped), and
    reps' calls follow the new chance. `seasonality` (0 to <1): the amplitude of the annual
    pattern in deal creation, peaking at `SEASONAL_PEAK_DAY`.
    """
    t_start, t_end = _day(start, "--start"), _day(end, "--end")
    if t_start >= t_end:
        raise InvalidInput(f"--start ({t_start.date()}) must be before --end ({t_end.date()})")
    change = _win_rate_change(win_rate_change, t_start, t_end)
    if not 0.0 <= float(seasonality) < 1.0:
        raise InvalidInput(f"--seasonality must be at least 0 and below 1, got {seasonality}")
    rng = np.random.default_rng(seed)
    export = np.datetime64(t_end + pd.Timedelta(hours=23, minutes=59), "s")
    reps, accounts = _reps(rng), _accounts(rng)
    k = len(stages.open_stages)

    rep = rng.integers(0, len(reps), n_deals)
    acct = rng.integers(0, len(accounts), n_deals)
    prod = rng.choice(len(PRODUCTS), n_deals, p=PRODUCTS["weight"].to_numpy())
    created = _creation_times(rng, n_deals, t_start, t_end, float(seasonality))

    list_price = PRODUCTS["list_price"].to_numpy()[prod]
    quantity = 1 + rng.geometric(0.55, n_deals) - 1
    discount = np.clip(rng.beta(2.0, 9.0, n_deals), 0, 0.6)
    amount = np.round(
        list_price * quantity * np.exp(rng.normal(0, 0.22, n_deals)) * (1 - discount), 2
    )
    employees = accounts["account_employees"].to_numpy()[acct]
    # Some effects interact (a rep is strong on some series only; big accounts buy the top
    # series), so a model of the deal learns more than an additive score would.
    series_code = pd.factorize(PRODUCTS["product_series"])[0][prod]
    rep_series = rng.normal(0, 0.5, (len(reps), 3))[rep, series_code]
    logit = (
        -0.85
        + reps["skill"].to_numpy()[rep]
        + rep_series
        + PRODUCTS["effect"].to_numpy()[prod]
        + accounts["sector_effect"].to_numpy()[acct]
        + 0.5 * np.tanh(np.log(employees) - 6.0) * np.where(series_code == 2, 1.5, -0.5)
        + 3.0 * np.minimum(discount, 0.25)
        - 0.25 * np.log(quantity)
        + rng.normal(0, 0.5, n_deals)
    )
    p_win = _sigmoid(logit)
    if change is not None:  # only then: the default data stays byte for byte the same
        after = created >= change[0]
        p_win = np.where(after, np.minimum(p_win * change[1], 1.0), p_win)
        changed = np.clip(p_win, 1e-9, 1 - 1e-9)
        logit = np.where(after, np.log(changed / (1 - changed)), logit)  # for the reps' calls

    # The funnel: advance through each open stage with p_win^(1/k), else lost in that stage.
    advance = rng.random((n_deals, k)) < p_win[:, None] ** (1.0 / k)
    reached_end = cast(np.ndarray, advance.all(axis=1))  # one flag per deal (not a scalar)
    stop = np.where(reached_end, k - 1, np.argmin(advance, axis=1))  # stage where it ends
    won = reached_end

    # Days in each stage: bigger deals move slower; a deal that is lost dies sooner.
    mean_days = np.array([6.0, 9.0, 12.0, 14.0, 10.0])[:k] if k <= 5 else np.full(k, 10.0)
    size = np.clip(np.log10(amount + 10) / 3.0, 0.5, 2.0)[:, None]
    durations = rng.gamma(2.0, mean_days[None, :] * size / 2.0)
    stage_idx = np.arange(k)[None, :]
    durations = np.where(
        stage_idx == stop[:, None],
        np.where(won[:, None], durations * 1.3, durations * 0.55),
        durations,
    )
    # At least an hour in each stage, so a deal's entries are strictly increasing.
    seconds = np.maximum(np.round(durations * 86_400), HOUR).astype(np.int64)
    offsets = np.zeros((n_deals, k + 1), dtype=np.int64)
    np.cumsum(seconds, axis=1, out=offsets[:, 1:])
    entered = created[:, None] + offsets.astype("timedelta64[s]")
    del durations, seconds, offsets
    close_time = _quarter_end_rush(rng, entered[np.arange(n_deals), stop + 1], won)
    entered[np.arange(n_deals), stop + 1] = close_time
    closed = close_time <= export

    # Where each deal stands at the export: its stage (index into all_stages) and entries.
    reached = np.arange(k + 1)[None, :] <= (stop + 1)[:, None]
    visible = reached & (entered <= export)
    last_col = visible.sum(axis=1) - 1
    final_stage = np.where(closed, np.where(won, k, k + 1), last_col)
    names = stages.all_stages

    # The reps' own calls: biased, noisy views of the true chance and timing.
    bias = reps["bias"].to_numpy()[rep]
    rep_p = np.round(_sigmoid(logit + bias + rng.normal(0, 0.5, n_deals)), 2)
    category = np.select([rep_p >= 0.75, rep_p >= 0.45, rep_p >= 0.1], [0, 1, 2], 3)
    expected = close_time + (
        reps["timing_bias"].to_numpy()[rep] + rng.normal(0, 9, n_deals)
    ).astype("timedelta64[D]")
    expected = np.maximum(expected, created).astype("datetime64[D]")
    csat = np.where(
        won & closed & (rng.random(n_deals) < 0.6),
        np.clip(
            np.round(3.9 + 0.6 * PRODUCTS["effect"].to_numpy()[prod] + rng.normal(0, 0.8, n_deals)),
            1,
            5,
        ),
        np.nan,
    )

    ids = np.char.add("D", np.char.zfill(np.arange(1, n_deals + 1).astype(str), 7))
    ids = ids.astype(object)  # one string per deal, shared by its history rows
    last_entry = entered[np.arange(n_deals), np.where(closed, stop + 1, last_col)]
    status = np.where(closed, np.where(won, 1, 2), 0)
    opportunities = pd.DataFrame(
        {
            "id": pd.Series(ids).astype("str"),
            "account": _text(accounts["account"], acct),
            "owner": _text(reps["owner"], rep),
            "team": _text(reps["team"], rep),
            "region": _text(reps["region"], rep),
            "product": _text(PRODUCTS["product"], prod),
            "product_series": _text(PRODUCTS["product_series"], prod),
            "list_price": list_price,
            "amount": amount,
            "amount_estimated": False,
            "currency": _text(["USD"], np.zeros(n_deals, dtype=np.int64)),
            "stage": _text(names, final_stage),
            "status": _text(["open", "won", "lost"], status),
            "created_at": created.astype("datetime64[us]"),
            "created_estimated": False,
            "closed_at": np.where(closed, close_time, np.datetime64("NaT")).astype(
                "datetime64[us]"
            ),
            "updated_at": last_entry.astype("datetime64[us]"),
            "expected_close_at": expected.astype("datetime64[us]"),
            "rep_probability": rep_p,
            "forecast_category": _text(["Commit", "Best Case", "Pipeline", "Omitted"], category),
            "csat": csat,
            "sector": _text(accounts["sector"], acct),
            "account_employees": employees,
            "account_revenue": accounts["account_revenue"].to_numpy()[acct],
            "account_country": _text(accounts["account_country"], acct),
        }
    )

    # History: every open stage entered, then the outcome at close.
    rows, cols = np.nonzero(visible)
    is_outcome = cols == stop[rows] + 1
    stage_of = np.where(is_outcome, np.where(won[rows], k, k + 1), cols)
    keep = ~is_outcome | closed[rows]
    rows, cols, stage_of = rows[keep], cols[keep], stage_of[keep]
    history = pd.DataFrame(
        {
            "opportunity_id": _text(ids, rows),
            "stage": _text(names, stage_of),
            "entered_at": entered[rows, cols].astype("datetime64[us]"),
        }
    )
    return GeneratedPipeline(opportunities, history, pd.Timestamp(export), stages)


def _day(value: object, name: str) -> pd.Timestamp:
    """A day given for `name`, read as every date a user gives is (`history.as_timestamp`:
    YYYY-MM-DD, never a guessed day/month order)."""
    try:
        return as_timestamp(value)
    except (ValueError, TypeError, InvalidInput):
        raise InvalidInput(f"{name}: {value!r} is not a date (use e.g. 2024-01-01)") from None


def _win_rate_change(
    value: tuple[object, float] | None, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[np.datetime64, float] | None:
    """The change's date (as the creation times' type) and factor, checked."""
    if value is None:
        return None
    try:
        when, factor = value
    except (TypeError, ValueError):
        raise InvalidInput(
            f"--win-rate-change must be a date and a factor (e.g. 2024-01-01:0.5), got {value!r}"
        ) from None
    day = _day(when, "--win-rate-change")
    if not start < day <= end:
        raise InvalidInput(
            f"--win-rate-change: {day.date()} must fall after the first day ({start.date()}) "
            f"and by the last ({end.date()}), so that deals are created on both sides of it"
        )
    try:
        ratio = float(factor)
    except (TypeError, ValueError):
        ratio = float("nan")
    if not (np.isfinite(ratio) and ratio > 0):
        raise InvalidInput(
            f"--win-rate-change: the factor must be a finite number above 0 (0.5 halves the win "
            f"rate), got {factor!r}"
        )
    return np.datetime64(day.to_datetime64(), "s"), ratio


def write_export(pipeline: GeneratedPipeline, folder: str | Path) -> list[Path]:
    """The canonical export `forecast import` reads: opportunities.csv + stage_history.csv."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deals = pipeline.opportunities.drop(columns=["status"])
    deals_file, history_file = folder / "opportunities.csv", folder / "stage_history.csv"
    _to_csv(deals, deals_file)
    _to_csv(pipeline.history, history_file)
    return [deals_file, history_file]


def _to_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with ISO 8601 timestamps (`2024-03-29T14:05:00`), formatted in C, not row by row."""
    out = frame.copy(deep=False)
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            values = out[col].to_numpy().astype("datetime64[s]")
            text = np.datetime_as_string(values, unit="s").astype(object)
            text[np.isnat(values)] = ""
            out[col] = text
    out.to_csv(path, index=False)


LEAD_SOURCES = [
    "Google",
    "Direct Traffic",
    "Organic Search",
    "Reference",
    "Referral Sites",
    "Olark Chat",
    "Welingak Website",
    "Facebook",
]
SOURCE_EFFECT = [0.0, -0.2, 0.1, 1.6, 0.2, -0.6, 1.9, -0.5]
OCCUPATIONS = ["Unemployed", "Working Professional", "Student", "Businessman", "Other"]
OCCUPATION_EFFECT = [-0.2, 1.6, -0.4, 0.5, 0.0]
ORIGINS = ["Landing Page Submission", "API", "Lead Add Form", "Lead Import"]
ORIGIN_EFFECT = [0.0, -0.3, 1.8, -0.6]
SPECIALIZATIONS = [
    "Finance Management",
    "Human Resource Management",
    "Marketing Management",
    "Operations Management",
    "IT Projects Management",
    None,
]


def generate_leads(n: int = 5000, *, seed: int = 42) -> pd.DataFrame:
    """Inbound leads whose conversion (~35%) depends on their attributes, with noise.

    `Tags` is what sales wrote after contacting the lead, so it gives the label away (each tag
    belongs to one outcome, bar ~1.5% mis-tagged leads): leak handling must drop it.
    """
    rng = np.random.default_rng(seed + 1)
    source = rng.choice(len(LEAD_SOURCES), n, p=[0.3, 0.26, 0.12, 0.06, 0.04, 0.15, 0.02, 0.05])
    occupation = rng.choice(len(OCCUPATIONS), n, p=[0.55, 0.15, 0.12, 0.03, 0.15])
    origin = rng.choice(len(ORIGINS), n, p=[0.55, 0.35, 0.08, 0.02])
    visits = rng.poisson(3.0, n) * (rng.random(n) > 0.2)
    time_on_site = np.round(np.where(visits > 0, rng.gamma(2.0, 250.0, n), 0))
    pages = np.round(np.where(visits > 0, 1 + rng.gamma(1.5, 1.0, n), 0), 2)
    no_email = rng.random(n) < 0.08
    # Effects that are not additive on the log-odds scale (saturating engagement, a sweet spot
    # of visits, a source that only works for professionals), as in real funnels.
    professional = occupation == 1
    logit = (
        -1.6
        + np.array(SOURCE_EFFECT)[source]
        + np.array(OCCUPATION_EFFECT)[occupation]
        + np.array(ORIGIN_EFFECT)[origin]
        + 2.4 * np.tanh((time_on_site - 300) / 400)
        + 0.6 * ((visits >= 2) & (visits <= 5))
        - 1.0 * no_email
        + 1.5 * (professional & (source == 2))
        - 1.2 * (~professional & (source == 5))
        + rng.normal(0, 0.5, n)
    )
    converted = (rng.random(n) < _sigmoid(logit)).astype(int)
    tags = np.where(
        converted == 1,
        rng.choice(["Closed by sales", "Will revert after reading the email"], n, p=[0.8, 0.2]),
        rng.choice(
            ["Ringing", "Interested in other courses", "Already a student", "Switched off"],
            n,
            p=[0.4, 0.25, 0.2, 0.15],
        ),
    )
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        np.sort(rng.integers(0, 365 * 86_400, n)), unit="s"
    )
    frame = pd.DataFrame(
        {
            "id": [f"L{i:07d}" for i in range(1, n + 1)],
            "created_at": created,
            "Lead Origin": np.array(ORIGINS)[origin],
            "Lead Source": np.array(LEAD_SOURCES)[source],
            "Do Not Email": np.where(no_email, "Yes", "No"),
            "Country": rng.choice(
                np.array(
                    ["India", "United States", "United Arab Emirates", "Singapore", None],
                    dtype=object,
                ),
                n,
                p=[0.7, 0.05, 0.05, 0.03, 0.17],
            ),
            "What is your current occupation": np.array(OCCUPATIONS)[occupation],
            "Specialization": rng.choice(np.array(SPECIALIZATIONS, dtype=object), n),
            "TotalVisits": visits.astype(float),
            "Total Time Spent on Website": time_on_site,
            "Page Views Per Visit": pages,
            "Tags": tags,
            "converted": converted,
        }
    )
    # Drawn last so the other columns do not depend on it: a few leads carry the wrong tag.
    mistagged = rng.random(n) < 0.015
    frame.loc[mistagged, "Tags"] = np.where(converted[mistagged] == 1, "Ringing", "Closed by sales")
    return frame


def write_leads(frame: pd.DataFrame, path: str | Path) -> Path:
    """Leads as one CSV (ISO timestamps), the shape `forecast import` reads with a leads mapping."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _to_csv(frame, path)
    return path
