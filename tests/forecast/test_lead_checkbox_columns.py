"""A checkbox a CRM exports as one mark and blank ("x" or "Yes" where ticked, nothing where
not) is two states, not one value: the lead model learns from it.

Zoho's and many a spreadsheet's exports write a ticked box as "x" (or "Yes", or 1) and leave an
unticked one blank. Counting only the values present, such a column had one value and was left
out as constant ("not learnt from, one value only"), whatever it said of the outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import lead_columns
from forecast.data.generator import generate_leads
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings


def with_checkbox(n: int, seed: int) -> pd.DataFrame:
    """Generated leads with a "Newsletter" box ticked ("x") by 70% of converted leads and 20%
    of the others, blank otherwise; "Region" is "EU" on every lead."""
    leads = generate_leads(n, seed=seed).drop(columns=["created_at"])
    rng = np.random.default_rng(seed)
    ticked = rng.uniform(size=n) < np.where(leads["converted"] == 1, 0.7, 0.2)
    leads["Newsletter"] = np.where(ticked, "x", None)
    leads["Opted In"] = np.where(ticked, 1.0, np.nan)
    leads["Region"] = "EU"
    return leads


def test_a_mark_or_blank_column_is_kept_and_one_value_on_every_lead_is_not() -> None:
    leads = with_checkbox(400, seed=3)
    _, cols = lead_columns.prepare_leads(leads)
    assert {"Newsletter", "Opted In"} <= set(cols.features)
    assert "Region" in cols.constant and "Newsletter" not in cols.constant


def test_slices_decide_a_checkbox_as_the_whole_frame_does() -> None:
    """On a cluster each slice gives its facts: a slice where every lead ticked the box (or
    none has the column) still makes it two states over the whole."""
    leads = with_checkbox(400, seed=4)
    names = lead_columns.attribute_names(leads)
    ticked = leads["Newsletter"].notna()
    slices = [leads[ticked], leads[~ticked].drop(columns=["Newsletter", "Opted In"])]
    found = [lead_columns.facts_of(part) for part in slices]
    whole = lead_columns.decide([lead_columns.facts_of(leads)], names)
    assert lead_columns.decide(found, names).features == whole.features
    assert "Newsletter" in whole.features


def test_a_ticked_box_that_goes_with_converting_raises_the_score(tmp_path) -> None:
    leads = with_checkbox(1500, seed=5)
    settings = Settings(state_dir=tmp_path, min_converted_leads=50)
    result = train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)
    some = leads.drop(columns=["id", "converted", "Tags"]).head(200)
    ticked = result.model.predict_proba(some.assign(Newsletter="x", **{"Opted In": 1.0}))[:, 1]
    blank = result.model.predict_proba(some.assign(Newsletter=None, **{"Opted In": np.nan}))[:, 1]
    assert (ticked > blank).mean() > 0.9
