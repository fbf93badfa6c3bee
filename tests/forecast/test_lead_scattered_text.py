"""A text column whose most common values (as many as a model learns) cover under half the leads
that have one, a company name on a contacts export, teaches little: most new leads' value was
never learnt and read as blank, and every such score carried a "was not learnt" note. It is left
out and said; a column of a few values (a source, a country), or of many values most leads
share, is learnt as before, and slices judge it as the whole frame does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import lead_columns


def contacts(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(n)],
            "converted": (rng.random(n) < 0.15).astype(int),
            # About 1,500 companies, each on two leads or so: no 200 of them cover half.
            "Company Name": [f"Company {i}" for i in rng.integers(0, n // 2, n)],
            # 300 cities, but the 50 big ones hold most leads: learnt.
            "City": np.where(
                rng.random(n) < 0.8,
                [f"Big {i}" for i in rng.integers(0, 50, n)],
                [f"Town {i}" for i in rng.integers(0, 250, n)],
            ),
            "Source": rng.choice(["ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"], n),
        }
    )


def test_a_scattered_text_column_is_left_out_and_a_concentrated_one_kept():
    X, cols = lead_columns.prepare_leads(contacts())
    assert "Company Name" not in cols.features and "Company Name" not in X.columns
    assert cols.scattered["Company Name"] < lead_columns.LEARNT_SHARE
    assert {"City", "Source"} <= set(cols.features) and "City" not in cols.scattered


def test_slices_judge_as_the_whole_frame():
    leads = contacts()
    names = lead_columns.attribute_names(leads)
    whole = lead_columns.decide([lead_columns.facts_of(leads)], names)
    parts = lead_columns.decide(
        [lead_columns.facts_of(leads.iloc[:1000]), lead_columns.facts_of(leads.iloc[1000:])],
        names,
    )
    assert parts.scattered == whole.scattered and parts.features == whole.features


def test_a_few_common_values_among_a_long_tail_keep_a_column():
    """A job title: "CEO", "Founder" and "VP Marketing" on about 35% of leads, the rest nearly
    all different. The model learns the common ones; the column stays an input."""
    rng = np.random.default_rng(8)
    n = 3000
    common = rng.random(n) < 0.35
    leads = contacts(n).assign(
        **{
            "Job Title": np.where(
                common,
                rng.choice(["CEO", "Founder", "VP Marketing"], n),
                [f"Title {i}" for i in rng.integers(0, 20_000, n)],
            )
        }
    )
    _, cols = lead_columns.prepare_leads(leads)
    assert "Job Title" in cols.features and "Job Title" not in cols.scattered
    assert "Company Name" in cols.scattered
