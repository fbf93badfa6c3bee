"""The pipeline waterfall: start + created + pulled in + increased − decreased − pushed out − lost
before the period − won before the period − lost − won = end, to the cent, in total and per
group, with every deal in the bars its history says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import waterfall
from forecast.data.importing import import_export
from forecast.data.stages import WON
from forecast.errors import InvalidInput
from forecast.history import DealHistory, load_deal_history
from forecast.periods import parse_period
from tests.forecast.synthetic import STAGES

T = pd.Timestamp
START = T("2024-01-01")
TEAMS = ("North", "South", "East")


def random_history(seed: int, n: int = 300) -> DealHistory:
    """Deals that change amount, expected close and team while open, some closing won or lost,
    amounts with cents."""
    rng = np.random.default_rng(seed)
    deals, stages, fields = [], [], []
    for i in range(n):
        created = START + pd.Timedelta(hours=float(rng.uniform(0, 24 * 200)))
        outcome = rng.choice(["open", "won", "lost"], p=[0.3, 0.35, 0.35])
        closed = created + pd.Timedelta(hours=float(rng.uniform(1, 24 * 120)))
        stage = {"open": STAGES.open_stages[1], "won": STAGES.won, "lost": STAGES.lost}[outcome]
        deals.append(
            {
                "id": f"D{i}",
                "created_at": created,
                "stage": stage,
                "status": outcome,
                "closed_at": closed if outcome != "open" else pd.NaT,
            }
        )
        stages.append(
            {
                "opportunity_id": f"D{i}",
                "stage": STAGES.open_stages[1],
                "entered_at": created + (closed - created) / 3,
            }
        )
        if outcome != "open":
            stages.append({"opportunity_id": f"D{i}", "stage": stage, "entered_at": closed})
        for k in range(int(rng.integers(1, 5))):
            seen = created + pd.Timedelta(hours=float(rng.uniform(0, 24 * 150))) * int(k > 0)
            fields.append(
                {
                    "opportunity_id": f"D{i}",
                    "observed_at": seen,
                    "amount": round(float(rng.uniform(100, 50_000)), 2),
                    "expected_close_at": created + pd.Timedelta(days=float(rng.uniform(5, 150))),
                    "team": TEAMS[int(rng.integers(0, len(TEAMS)))],
                }
            )
    frame = pd.DataFrame(deals)
    log = pd.DataFrame(stages)
    return DealHistory.from_frames(
        frame, log, STAGES, field_log=pd.DataFrame(fields), check_leaks=False
    )


def cents(values: pd.Series) -> int:
    return int((pd.to_numeric(values).fillna(0) * 100).round().astype(np.int64).sum())


@pytest.mark.parametrize("seed", range(6))
def test_every_waterfall_balances_to_the_cent_in_total_and_per_group(seed):
    history = random_history(seed)
    rng = np.random.default_rng(100 + seed)
    seen: set[str] = set()
    for _ in range(4):
        t0 = START + pd.Timedelta(days=float(rng.uniform(10, 180)))
        t1 = t0 + pd.Timedelta(days=float(rng.uniform(1, 60)))
        q, later = pd.Period(t0, "Q"), pd.Period(t0, "Q") + 1  # later: deals close before it
        for period in (None, *(parse_period(f"{p.year}-Q{p.quarter}") for p in (q, later))):
            found = waterfall.pipeline_waterfall(history, t0, t1, period=period, by="team")
            seen.update(b for b, v in found.total.bars_cents.items() if v)
            assert found.total.balanced and all(g.balanced for g in found.groups)
            per_bar = {
                bar: sum(g.bars_cents[bar] for g in found.groups) for bar, _ in waterfall.BARS
            }
            for bar, _ in waterfall.BARS:  # the groups add up to the total, bar by bar
                if bar not in ("moved_in", "moved_out"):
                    assert per_bar[bar] == found.total.bars_cents[bar]
            assert per_bar["moved_in"] == per_bar["moved_out"]  # moves cancel in the total
    assert {"won_before_period", "lost_before_period", "pushed_out"} <= seen


@pytest.mark.parametrize("seed", range(3))
def test_start_end_and_won_are_what_the_history_says_at_each_date(seed):
    history = random_history(seed)
    t0, t1 = START + pd.Timedelta(days=60), START + pd.Timedelta(days=95)
    period = parse_period("2024-Q2")
    found = waterfall.pipeline_waterfall(history, t0, t1, period=period)
    before, after = history.as_of(t0), history.as_of(t1)

    def pipeline(state: pd.DataFrame) -> pd.DataFrame:
        return state[state["is_open"] & period.contains(state["expected_close_at"])]

    assert found.total.start_cents == cents(pipeline(before)["amount"])
    assert found.total.end_cents == cents(pipeline(after)["amount"])
    newly_won = after[
        (after["status"] == WON)
        & ~after["id"].isin(before.loc[~before["is_open"], "id"])
        & period.contains(after["closed_at"])
    ]
    assert found.total.bars_cents["won"] == cents(newly_won["amount"])
    created = found.deals[found.deals["bar"] == "created"]
    assert set(created["id"]) <= set(after["id"]) - set(before["id"])


def _one_deal(fields: list[dict], stages: list[dict] | None = None, **deal) -> DealHistory:
    row = {"id": "A", "created_at": T("2024-01-05"), "stage": "Prospecting", "status": "open"}
    row.setdefault("closed_at", pd.NaT)
    row.update(deal)
    log = pd.DataFrame(stages or [], columns=["opportunity_id", "stage", "entered_at"])
    log = log.astype({"entered_at": "datetime64[us]"})
    obs = pd.DataFrame([{"opportunity_id": "A", **f} for f in fields])
    return DealHistory.from_frames(
        pd.DataFrame([row]), log, STAGES, field_log=obs, check_leaks=False
    )


def test_a_deal_whose_expected_close_slips_out_of_the_quarter_is_pushed_out_at_its_amount():
    history = _one_deal(
        [
            {
                "observed_at": T("2024-01-06"),
                "amount": 1000.5,
                "expected_close_at": T("2024-03-20"),
            },
            {
                "observed_at": T("2024-02-10"),
                "amount": 1200.0,
                "expected_close_at": T("2024-04-15"),
            },
        ]
    )
    found = waterfall.pipeline_waterfall(
        history, "2024-02-01", "2024-02-20", period=parse_period("2024-Q1")
    )
    assert found.total.start_cents == 100050 and found.total.end_cents == 0
    assert found.total.bars_cents["pushed_out"] == 100050
    assert found.deals[["id", "bar"]].values.tolist() == [["A", "pushed_out"]]


def test_a_won_deal_leaves_at_the_amount_won_with_its_change_shown():
    history = _one_deal(
        [
            {
                "observed_at": T("2024-01-06"),
                "amount": 1000.0,
                "expected_close_at": T("2024-03-20"),
            },
            {
                "observed_at": T("2024-02-10"),
                "amount": 1500.0,
                "expected_close_at": T("2024-02-10"),
            },
        ],
        [{"opportunity_id": "A", "stage": "Won", "entered_at": T("2024-02-10")}],
        stage="Won",
        status="won",
        closed_at=T("2024-02-10"),
    )
    found = waterfall.pipeline_waterfall(
        history, "2024-02-01", "2024-02-20", period=parse_period("2024-Q1")
    )
    assert found.total.bars_cents["increased"] == 50000
    assert found.total.bars_cents["won"] == 150000
    assert found.total.end_cents == 0


def _closed_early(status: str, closed: pd.Timestamp, amount_then: float) -> DealHistory:
    """Deal A, expected in 2024-Q2 (1000.00 on Jan 6), closed `status` on `closed`."""
    return _one_deal(
        [
            {
                "observed_at": T("2024-01-06"),
                "amount": 1000.0,
                "expected_close_at": T("2024-05-20"),
            },
            {"observed_at": closed, "amount": amount_then, "expected_close_at": closed},
        ],
        [{"opportunity_id": "A", "stage": status.title(), "entered_at": closed}],
        stage=status.title(),
        status=status,
        closed_at=closed,
    )


@pytest.mark.parametrize(
    ("status", "bar", "amount_then", "leaves_at"),
    [("won", "won_before_period", 1250.0, 125000), ("lost", "lost_before_period", 900.0, 100000)],
)
def test_a_deal_closed_before_its_period_is_not_pushed_out(status, bar, amount_then, leaves_at):
    """A deal expected in Q2 and closed in February left the Q2 pipeline earlier, not later:
    its own bar, which a manager does not read as "moved to a later period"."""
    history = _closed_early(status, T("2024-02-10"), amount_then)
    found = waterfall.pipeline_waterfall(
        history, "2024-02-01", "2024-02-20", period=parse_period("2024-Q2")
    )
    assert found.total.start_cents == 100000 and found.total.end_cents == 0
    assert found.total.bars_cents["pushed_out"] == 0
    assert found.total.bars_cents[bar] == leaves_at
    assert found.total.bars_cents["increased"] == (25000 if status == "won" else 0)
    assert found.total.balanced
    assert found.deals.loc[found.deals["bar"] != "increased", ["id", "bar"]].values.tolist() == [
        ["A", bar]
    ]


def test_a_deal_closed_after_its_period_is_pushed_out():
    history = _closed_early("won", T("2024-07-10"), 1000.0)  # expected in Q2, won in Q3
    found = waterfall.pipeline_waterfall(
        history, "2024-06-01", "2024-07-20", period=parse_period("2024-Q2")
    )
    assert found.deals[["id", "bar"]].values.tolist() == [["A", "pushed_out"]]
    assert found.total.bars_cents["pushed_out"] == 100000


def test_a_deal_handed_to_another_team_moves_between_groups_and_not_in_the_total():
    history = _one_deal(
        [
            {"observed_at": T("2024-01-06"), "amount": 800.0, "team": "North"},
            {"observed_at": T("2024-02-10"), "amount": 800.0, "team": "South"},
        ]
    )
    found = waterfall.pipeline_waterfall(history, "2024-02-01", "2024-02-20", by="team")
    groups = {g.group: g for g in found.groups}
    assert groups["North"].bars_cents["moved_out"] == 80000 and groups["North"].end_cents == 0
    assert groups["South"].bars_cents["moved_in"] == 80000 and groups["South"].end_cents == 80000
    assert found.total.start_cents == found.total.end_cents == 80000


def test_bad_dates_and_groups_are_refused_naming_the_field():
    history = random_history(0, n=20)
    with pytest.raises(InvalidInput, match="to: must be after from"):
        waterfall.pipeline_waterfall(history, "2024-03-01", "2024-02-01")
    with pytest.raises(InvalidInput, match="by: must be one of"):
        waterfall.pipeline_waterfall(history, "2024-02-01", "2024-03-01", by="colour")


def test_the_shared_data_balances_week_by_week_per_team(shared_opportunities, tmp_path):
    from forecast.data import store
    from forecast.settings import Settings

    engine = store.get_engine(Settings(state_dir=tmp_path / "state"))
    import_export(engine, shared_opportunities, "crm_sales_opportunities", dataset="shared")
    history = load_deal_history(engine, "shared")
    for t0 in pd.date_range("2017-04-03", "2017-12-18", freq="7W-MON"):
        found = waterfall.pipeline_waterfall(history, t0, t0 + pd.Timedelta(days=7), by="rep")
        assert found.total.balanced and all(g.balanced for g in found.groups)
        assert found.total.bars_cents["won"] > 0
        closed = history.deals[
            (history.deals["status"] == WON)
            & (history.deals["closed_at"] >= t0)
            & (history.deals["closed_at"] < t0 + pd.Timedelta(days=7))
        ]
        assert found.total.bars_cents["won"] == cents(closed["amount"])
