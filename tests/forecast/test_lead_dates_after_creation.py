"""A lead column of dates lying after the lead came in ("Last Activity Date" in a HubSpot
contacts export) is hindsight: a lead scored as it comes in has none yet, so a model that learnt
"is set" from it scores every new lead as if it never acted. Such a column is left out of the
lead model, and training says why; a date on or before the creation day (a sign-up, a first
visit) is learnt as before, and `--include-leaks` keeps the later ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import lead_columns


def contacts(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """Leads whose "Last Activity Date" is set on every converted lead and on four in five of
    the others, days to months after creation; "Signed Up" is the creation day, on half."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 300, n), unit="D")
    converted = rng.random(n) < 0.15
    active = converted | (rng.random(n) < 0.8)
    later = created + pd.to_timedelta(rng.integers(2, 90, n), unit="D")
    signed = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(n)],
            "converted": converted.astype(int),
            "created_at": created.strftime("%Y-%m-%d %H:%M"),
            "Last Activity Date": np.where(active, later.strftime("%Y-%m-%d %H:%M"), None),
            "Signed Up": np.where(signed, created.strftime("%Y-%m-%d"), None),
            "Source": rng.choice(["ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"], n),
        }
    )


def test_a_column_of_dates_after_the_creation_is_left_out_and_said():
    leads = contacts()
    X, cols = lead_columns.prepare_leads(leads)
    assert "Last Activity Date" not in cols.features and "Last Activity Date" not in X.columns
    later, of = cols.dated_later["Last Activity Date"]
    dated = leads["Last Activity Date"].notna().sum()
    assert later == of == dated  # every such date lies on a later day
    assert "Signed Up" in cols.features and cols.set_flags == ("Signed Up",)
    assert "Signed Up" not in cols.dated_later


def test_include_leaks_keeps_a_later_column_as_is_set():
    X, cols = lead_columns.prepare_leads(contacts(), include_leaks=True)
    assert "Last Activity Date" in cols.features and set(X["Last Activity Date"]) == {0.0, 1.0}


def test_without_creation_dates_nothing_is_judged_later():
    leads = contacts().drop(columns=["created_at"])
    _, cols = lead_columns.prepare_leads(leads)
    assert "Last Activity Date" in cols.features and not cols.dated_later


def test_slices_judge_as_the_whole_frame():
    leads = contacts()
    names = lead_columns.attribute_names(leads)
    whole = lead_columns.decide([lead_columns.facts_of(leads)], names)
    halves = [leads.iloc[:250], leads.iloc[250:]]
    parts = lead_columns.decide([lead_columns.facts_of(h) for h in halves], names)
    assert parts.dated_later == whole.dated_later and parts.features == whole.features


def test_training_says_the_column_left_out(tmp_path):
    from forecast.modeling.lead_fitting import train_leads
    from forecast.settings import Settings

    settings = Settings(state_dir=tmp_path, min_converted_leads=30)
    result = train_leads(contacts(1200, seed=4), settings=settings, cross_validate=False)
    said = [w for w in result.warnings if "'Last Activity Date'" in w]
    assert len(said) == 1 and "after the lead came in" in said[0] and "left out" in said[0]
    assert result.columns["dated_after_creation"] == ["Last Activity Date"]
    assert "Last Activity Date" not in result.columns["features"]


def test_a_date_the_next_day_is_later_and_the_same_day_in_a_zone_ahead_is_not():
    """A call back the next day is after the lead came in; a date-only value that is the next
    day only as a zone ahead of UTC dates the creation (a lead in at 20:00 UTC is the next
    morning in Sydney) is the same day."""
    n = 200
    created = pd.Timestamp("2024-03-04 09:00") + pd.to_timedelta(np.arange(n) * 7, unit="D")
    leads = pd.DataFrame(
        {
            "id": [f"N{i}" for i in range(n)],
            "converted": np.arange(n) % 5 == 0,
            "created_at": created.strftime("%Y-%m-%d %H:%M"),
            "First Call": np.where(
                np.arange(n) % 2 == 0, (created + pd.Timedelta(days=1)).strftime("%Y-%m-%d"), None
            ),
            "Signed Up (Sydney)": np.where(
                np.arange(n) % 2 == 0,
                (created + pd.Timedelta(hours=11)).strftime("%Y-%m-%d"),
                None,
            ),
        }
    )
    sydney = np.where(
        np.arange(n) % 2 == 0, (created + pd.Timedelta(hours=22)).strftime("%Y-%m-%d"), None
    )
    evening = leads.assign(
        created_at=(created + pd.Timedelta(hours=11)).strftime("%Y-%m-%d %H:%M"),
        **{"Signed Up (Sydney)": sydney},
    )
    _, cols = lead_columns.prepare_leads(leads)
    assert "First Call" in cols.dated_later and "Signed Up (Sydney)" not in cols.dated_later
    _, late = lead_columns.prepare_leads(evening.drop(columns=["First Call"]))
    # Created 20:00 UTC; the Sydney date is the next calendar day: the same day there.
    assert "Signed Up (Sydney)" not in late.dated_later
