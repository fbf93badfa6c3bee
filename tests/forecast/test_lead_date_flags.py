"""A lead attribute of dates ("Trial Started", "Last Activity Date") is learnt as whether a lead
has one, not as text.

As text, every date was a value of its own: a new lead's date was never among the values the
model learnt and was scored as blank, so a lead that started a trial scored as one that did not
(an ActiveCampaign export's "Trial Started", m/d/Y on 45% of leads, lowered the score of the
leads that had it). A column whose present values are dates (ISO 8601 or the dataset's own
formats) is now a 0/1 input, 1 where a date is given and 0 where blank, in training and in
scoring alike: any date sent reads as 1. A model trained before keeps scoring as it did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import lead_columns, scoring
from forecast.modeling import reasons
from forecast.modeling.lead_fitting import train_leads, with_dates
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings

FORMATS = ["%Y-%m-%d %H:%M:%S", "%m/%d/%Y"]


def with_trial_dates(n: int, seed: int) -> pd.DataFrame:
    """Leads of which about 45% started a trial ("Trial Started", m/d/Y); those convert at 45%,
    the others at 8%. Every trial date is its own; "Last Seen" (a date-time) and "Date Added" (a
    date, shared by a few leads a day) are given on every lead."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 300, n), unit="D")
    trial = rng.random(n) < 0.45
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": (rng.random(n) < np.where(trial, 0.45, 0.08)).astype(int),
            "created_at": created,
            "Trial Started": np.where(trial, created.strftime("%m/%d/%Y"), None),
            "Last Seen": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Date Added": created.strftime("%m/%d/%Y"),
            "Role": rng.choice(["Owner", "Agency", "Student"], n),
        }
    )


def test_a_column_of_dates_becomes_is_set_and_a_column_of_words_stays_text() -> None:
    leads = with_trial_dates(400, seed=1)
    leads.loc[:3, "Trial Started"] = "n/a"  # a stray placeholder does not undo the dates
    X, cols = lead_columns.prepare_leads(leads, date_formats=FORMATS)
    assert cols.set_flags == ("Trial Started",)
    assert set(X["Trial Started"]) == {0.0, 1.0}
    assert (X["Trial Started"] == 1).tolist() == leads["Trial Started"].notna().tolist()
    assert "Role" in cols.features and "Role" not in cols.set_flags
    # A date on every lead says nothing set or blank: left out (date-times that all differ as
    # identifiers, as before; dates that repeat said as dated on every lead).
    assert "Last Seen" in cols.identifiers and "Date Added" in cols.dated_everywhere
    assert not {"Last Seen", "Date Added"} & set(cols.features)
    # Without the dataset's formats, m/d/Y is no date: text, as before.
    assert lead_columns.prepare_leads(leads)[1].set_flags == ()


def test_iso_dates_need_no_format_and_slices_decide_as_the_whole_frame() -> None:
    leads = with_trial_dates(400, seed=2)
    iso = pd.to_datetime(leads["Trial Started"], format="%m/%d/%Y").dt.strftime("%Y-%m-%d")
    leads["Trial Started"] = iso.where(leads["Trial Started"].notna(), None)
    names = lead_columns.attribute_names(leads)
    whole = lead_columns.decide([lead_columns.facts_of(leads)], names)
    assert whole.set_flags == ("Trial Started",)
    started = leads["Trial Started"].notna()
    slices = [leads[started], leads[~started].drop(columns=["Trial Started"])]
    parts = lead_columns.decide([lead_columns.facts_of(s) for s in slices], names)
    assert parts.set_flags == whole.set_flags and parts.features == whole.features


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    leads = with_trial_dates(1500, seed=5)
    settings = Settings(state_dir=tmp_path_factory.mktemp("state"), min_converted_leads=50)
    return train_leads(leads, settings=settings, cross_validate=False, date_formats=FORMATS)


def test_the_model_learns_the_flag_and_the_report_says_the_column_was_read_as_dates(
    trained,
) -> None:
    assert trained.model.date_set_inputs_ == ["Trial Started"]
    assert trained.columns["date_flags"] == ["Trial Started"]
    said = [
        r["sentence"] for ex in trained.examples for side in ("for", "against") for r in ex[side]
    ]
    assert not any("not among the values" in s for s in said)
    assert not any("Trial Started =" in s for s in said)
    # The report's reasons say the flag as the API does.
    rows = pd.DataFrame({"Trial Started": [1.0, 0.0], "Role": "Owner"})
    up, down = (reasons.explain(trained.model, rows, top=4)[i] for i in (0, 1))
    assert "Trial Started is set: raises the score" in [r.sentence for r in up["for"]]
    assert "Trial Started is blank: lowers the score" in [r.sentence for r in down["against"]]


def test_any_date_scores_as_set_and_a_blank_as_not(trained) -> None:
    served = scoring.Served(scoring.LEAD, select_scorer(trained.model), "1", "registry")
    base = {"Role": "Owner", "created_at": "2024-11-20T10:00:00"}
    sent = ["12/31/2029", "02/17/2024", "2025-03-01", "soon", "", None]
    rows = [{**base, "Trial Started": v} for v in sent] + [base]
    scores = scoring.score(served, rows, as_sent=True)
    p = [s.probability for s in scores]
    assert p[0] == p[1] == p[2] == p[3]  # any value given, a date never seen too: set
    assert p[4] == p[5] == p[6] < p[0]  # blank, or not sent: not set, and it scores lower
    assert not any(s.notes for s in scores)
    assert "Trial Started is set: raises the score" in [
        r["sentence"] for r in scores[0].reasons_for
    ]
    against = [r["sentence"] for r in scores[4].reasons_against]
    assert "Trial Started is blank: lowers the score" in against
    # A batch (read column by column) scores the same.
    batch = scoring.score(served, rows * 4, strict_dates=False)
    assert [s.probability for s in batch] == p * 4


def test_a_model_trained_with_the_dates_as_text_scores_as_before(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lead_columns, "DATE_SHARE", 2.0)  # no column is dates: the old way
    leads = with_trial_dates(1500, seed=6)
    settings = Settings(state_dir=tmp_path, min_converted_leads=50)
    model = train_leads(leads, settings=settings, cross_validate=False, date_formats=FORMATS).model
    del model.date_set_inputs_  # as pickled before it existed
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    assert served.set_inputs == ()
    learnt = model.encoder_.levels["Trial Started"][0]
    rows = [
        {"Role": "Owner", "created_at": "2024-11-20T10:00:00", "Trial Started": v}
        for v in (learnt, "12/31/2029", None)
    ]
    scores = scoring.score(served, rows, as_sent=True)
    frame = pd.DataFrame(rows).assign(created_at=pd.to_datetime([r["created_at"] for r in rows]))
    expected = model.predict_proba(with_dates(frame, hours=True))[:, 1]
    assert [s.probability for s in scores] == pytest.approx(expected.tolist(), abs=1e-12)
    # A new date is said as a value never learnt where the trees read the input at all (as
    # text each date is its own value, seldom split on: then no value of it moves the score).
    at = list(model.encoder_.columns).index("Trial Started")
    reads = model.booster_.feature_importance("split")[at] > 0
    assert any("was not learnt in training" in n for n in scores[1].notes) == reads
