"""Lead columns the outcome itself wrote stay out of the lead model.

A CRM's contact export carries fields filled at conversion ("Became a Customer Date", "Days To
Close"), at loss ("Lost Reason") or by the sales process ("Lead Status: Open Deal"). A model
reading them scores its holdout perfectly and every new lead, which has none of them, wrongly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.leaks import outcome_written
from forecast.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path, lgbm_threads=2, min_converted_leads=50)


def contacts(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    """A contacts export: a real signal in `Original Source` and `Pageviews`, written fields."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Referrals", "Paid Search", "Organic Search", "Direct"], n)
    views = rng.poisson(4, n).astype(float)
    logit = -1.0 + 1.2 * (source == "Referrals") + 0.2 * views + rng.normal(0, 1, n)
    won = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    days = rng.integers(5, 90, n)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 500, n)), "D")
    reasons = rng.choice(["Price", "Timing"], n)
    lost_reason = np.where(~won & (rng.uniform(size=n) < 0.5), reasons, None)
    open_statuses, closed_statuses = ["Open Deal", "Connected"], ["New", "Bad Timing"]
    status = np.where(won, rng.choice(open_statuses, n), rng.choice(closed_statuses, n))
    return pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(n)],
            "created_at": created,
            "Original Source": pd.array(source, dtype="str"),
            "Pageviews": views,
            "Became a Customer Date": pd.array(
                np.where(won, (created + pd.to_timedelta(days, "D")).strftime("%Y-%m-%d"), None),
                dtype="str",
            ),
            "Days To Close": np.where(won, days, np.nan),
            "Lost Reason": pd.array(lost_reason, dtype="str"),
            "Lead Status": pd.array(status, dtype="str"),
            "converted": pd.array(won.astype(int), dtype="Int64"),
        }
    )


WRITTEN = ["Became a Customer Date", "Days To Close", "Lost Reason", "Lead Status"]


def test_fields_written_at_conversion_or_loss_are_left_out_and_said(settings) -> None:
    leads = contacts()
    result = train_leads(leads, settings=settings, cross_validate=False)
    assert set(result.features) & set(WRITTEN) == set()
    assert {"Original Source", "Pageviews"} <= set(result.features)
    # A date written at conversion lies after the lead came in: left out as such, first.
    assert result.columns["dated_after_creation"] == ["Became a Customer Date"]
    assert sorted(result.columns["outcome_written"]) == sorted(WRITTEN[1:])
    said = " ".join(result.warnings)
    won = int(leads["converted"].sum())
    assert (
        f"'Became a Customer Date' holds a date on a later day than the lead's creation on "
        f"{won:,} of the {won:,} leads that have both"
    ) in said
    assert "'Lead Status' is set to" in said and "New" in said
    assert "'Lost Reason' is filled on" in said
    # What is left learns the real signal, not the answer.
    assert 0.6 < result.metrics["model"]["roc_auc"] < 0.95


def test_include_leaks_keeps_them_and_says_the_metrics_flatter(settings) -> None:
    result = train_leads(contacts(), include_leaks=True, settings=settings, cross_validate=False)
    assert set(WRITTEN) <= set(result.features)
    assert result.columns["outcome_written"] == []
    assert any("written by the outcome INCLUDED on request" in w for w in result.warnings)


def test_real_attributes_are_not_taken_for_written_ones() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.uniform(size=n) < 0.4).astype(float)
    frame = pd.DataFrame(
        {
            # A strong source (95% of its leads convert) is still an attribute.
            "Source": np.where(
                (y == 1) & (rng.uniform(size=n) < 0.5),
                "Partner",
                np.where((y == 0) & (rng.uniform(size=n) < 0.035), "Partner", "Web"),
            ),
            # A phone given more often by leads that convert, but by many that do not.
            "Phone": np.where(rng.uniform(size=n) < np.where(y == 1, 0.9, 0.5), "555", None),
            # A rare value seen only on converted leads: too few for chance to rule out.
            "Region": np.where((y == 1) & (np.arange(n) < 40), "Antarctica", "Earth"),
            "Visits": rng.poisson(3 + 3 * y).astype(float),
        }
    )
    assert outcome_written(frame, y) == []


@pytest.mark.parametrize("share", [0.3, 1.0])
def test_a_field_filled_only_on_lost_leads_is_written_by_the_loss(share: float) -> None:
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=3000) < 0.3).astype(float)
    reason = np.where((y == 0) & (rng.uniform(size=3000) < share), "No budget", None)
    # One converted lead with a reason: a slip in the CRM does not hide the pattern.
    reason[np.flatnonzero(y == 1)[0]] = "No budget"
    found = outcome_written(pd.DataFrame({"Lost Reason": reason}), y)
    assert [(f.column, f.outcome, f.others) for f in found] == [("Lost Reason", "not converted", 1)]


def test_young_leads_written_as_not_converted_are_warned_about(settings) -> None:
    leads = contacts(3000).drop(columns=WRITTEN)
    settled = train_leads(leads, settings=settings, cross_validate=False)
    assert not any("not an outcome yet" in w for w in settled.warnings)
    young = leads["created_at"] >= leads["created_at"].quantile(0.9)
    leads.loc[young, "converted"] = 0  # still open, exported as not converted
    open_as_lost = train_leads(leads, settings=settings, cross_validate=False)
    [said] = [w for w in open_as_lost.warnings if "not an outcome yet" in w]
    assert "(the newest tenth, 300) converted at 0.0% against" in said
    assert "missing_values" in said


def test_names_emails_and_date_times_are_identifiers_not_inputs(settings) -> None:
    leads = contacts(1000).drop(columns=WRITTEN)
    n = len(leads)
    leads["Email"] = [f"c{i % (n - 20)}@example.com" for i in range(n)]  # a few shared
    leads["Last Visit"] = leads["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    result = train_leads(leads, settings=settings, cross_validate=False)
    assert {"Email", "Last Visit"} <= set(result.columns["identifiers"])
    assert not {"Email", "Last Visit"} & set(result.features)


def test_a_persons_name_is_never_a_model_input_though_first_names_repeat(settings) -> None:
    leads = contacts(1000).drop(columns=WRITTEN)
    firsts, lasts = ["Anna", "Renée", "Ravi", "Li", "Tom"], ["O'Brien", "Patel", "Kim", "Weber"]
    leads["First Name"] = [firsts[i % len(firsts)] for i in range(len(leads))]
    leads["Nachname"] = [lasts[i % len(lasts)] for i in range(len(leads))]
    leads["Salutation"] = ["Ms." if i % 2 else "Mr." for i in range(len(leads))]
    leads["Company Name"] = [f"Firm {i % 7}" for i in range(len(leads))]
    result = train_leads(leads, settings=settings, cross_validate=False)
    assert {"First Name", "Nachname", "Salutation"} <= set(result.columns["identifiers"])
    assert not {"First Name", "Nachname", "Salutation"} & set(result.features)
    assert "Company Name" in result.features  # a company describes the lead, a person does not


def test_a_score_written_at_conversion_is_said_by_its_ranges_from_the_lowest():
    """A lead score the CRM raises at conversion: its revealing ranges read in value order."""
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.3).astype(float)
    score = np.where(y == 1, rng.choice([0, 2, 55, 58, 37, 46], 2000), rng.integers(5, 30, 2000))
    [found] = outcome_written(pd.DataFrame({"Score": score.astype(float)}), y)
    starts = [float(g.split("–")[0]) for g in found.groups if g != "blank"]
    assert starts == sorted(starts) and len(starts) > 1, found.groups


def test_a_field_written_at_a_conversion_after_the_outcome_window_is_still_caught(settings):
    """With conversion dates, a lead converted after the outcome window is learnt as not
    converted; what its conversion wrote ("Recent Deal Amount") is there all the same. The
    field is judged against each lead's own outcome, so it is still found and left out."""
    rng = np.random.default_rng(11)
    n = 3000
    created = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 600, n)), "D")
    source = rng.choice(["Referrals", "Paid Search", "Organic Search"], n)
    won = rng.uniform(size=n) < np.where(source == "Referrals", 0.3, 0.12)
    delay = rng.exponential(25, n)
    leads = pd.DataFrame(
        {
            "id": [f"H{i}" for i in range(n)],
            "created_at": created,
            "converted_at": np.where(won, created + pd.to_timedelta(delay, "D"), pd.NaT),
            "Original Source": pd.array(source, dtype="str"),
            # Filled at conversion on most converted leads (a deal amount), on no other.
            "Recent Deal Amount": np.where(
                won & (rng.uniform(size=n) < 0.7), rng.integers(1_000, 90_000, n), np.nan
            ),
            "converted": pd.array(won.astype(int), dtype="Int64"),
        }
    )
    result = train_leads(leads, settings=settings, cross_validate=False)
    assert any("outcome window" in w for w in result.warnings)  # late ones learnt as 0
    assert result.columns["outcome_written"] == ["Recent Deal Amount"]
    assert "Recent Deal Amount" not in result.features


def test_a_count_left_at_one_value_is_said_as_that_value_not_a_range() -> None:
    """HubSpot's "Number of Associated Deals" is 0 on leads that never became a deal: the
    warning said it "is set to 0–0 on 1,256 of 1,385 not converted leads"."""
    rng = np.random.default_rng(4)
    won = rng.uniform(size=1000) < 0.4
    deals = np.where(won, rng.integers(1, 4, 1000), 0).astype(float)
    X = pd.DataFrame({"Number of Associated Deals": deals, "Visits": rng.poisson(3, 1000)})
    [found] = outcome_written(X, won.astype(int))
    assert "is set to 0 on" in found.note and "0–0" not in found.note
