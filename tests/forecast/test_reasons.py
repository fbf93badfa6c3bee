"""Reasons: LightGBM's own contributions, in the user's fields and words.

The serving path (rows as mappings) is tested with the scoring service in `test_scoring.py`; here,
the shared pieces and `explain` on a frame (training reports).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import features as F
from forecast.modeling.contributions import contributions, path_contributions
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.reasons import Wording, as_dicts, explain, format_value, top_factors
from tests.forecast import synthetic


@pytest.fixture(scope="module")
def fitted() -> tuple[BoostedClassifier, pd.DataFrame]:
    leads = synthetic.leads(1500)
    X, _ = F.prepare_leads(leads, ["Tags"])
    return BoostedClassifier(n_jobs=2).fit(X, F.lead_labels(leads)), X


def one(row: dict) -> pd.DataFrame:
    return pd.DataFrame([row])


def test_reasons_say_the_field_and_value_and_add_up_to_the_raw_score(fitted) -> None:
    model, X = fitted
    row = {"Lead Source": "Reference", "TotalVisits": 8.0, "Country": "India", "Do Not Email": "No"}
    out = explain(model, one(row), top=3)[0]
    sentences = [r.sentence for r in out["for"]]
    assert "Lead Source = Reference: raises the score" in sentences
    assert all(r.contribution > 0 for r in out["for"])
    assert all(r.contribution < 0 for r in out["against"])
    x = model.encode(one(row))
    every = contributions(model, x)[0]
    raw = model.booster_.predict(x, raw_score=True)[0]
    assert every.sum() + path_contributions(model).bias == pytest.approx(raw, abs=1e-9)
    listed = {r.field: r.contribution for r in out["for"] + out["against"]}
    cols = model.encoder_.columns
    for field, c in listed.items():
        assert c == pytest.approx(every[cols.index(field)])


def test_exact_shap_reasons_are_lightgbms_pred_contrib(fitted) -> None:
    model, _ = fitted
    row = one({"Lead Source": "Reference", "TotalVisits": 8.0, "Country": "India"})
    out = explain(model, row, top=3, method="shap")[0]
    contrib = model.booster_.predict(model.encode(row), pred_contrib=True)[0]
    cols = model.encoder_.columns
    for r in out["for"] + out["against"]:
        assert r.contribution == pytest.approx(contrib[cols.index(r.field)])


def test_olark_chat_lowers_the_score(fitted) -> None:
    model, _ = fitted
    out = explain(model, one({"Lead Source": "Olark Chat", "TotalVisits": 3.0}), top=5)[0]
    assert "Lead Source = Olark Chat: lowers the score" in [r.sentence for r in out["against"]]


def test_a_row_explained_alone_reads_as_it_does_inside_a_frame(fitted) -> None:
    model, X = fitted
    frame = X.head(5)
    batch = explain(model, frame, top=2)
    for i in range(len(frame)):
        alone = explain(model, frame.iloc[[i]], top=2)[0]
        assert alone == batch[i]
        assert len(batch[i]["for"]) <= 2 and len(batch[i]["against"]) <= 2


def test_top_factors_are_the_largest_first_and_skip_the_negligible() -> None:
    contrib = np.array(
        [
            [0.5, -0.2, 0.0, 0.3, -0.9, 1e-8],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        ]
    )
    up, down = top_factors(contrib, 3)
    assert up == [[0, 3], [], [5, 4, 3]]
    assert down == [[4, 1], [], []]
    assert top_factors(contrib, 0) == ([[], [], []], [[], [], []])


def test_each_sentence_is_made_once_and_carries_its_own_contribution(fitted) -> None:
    model, _ = fitted
    wording = Wording(model.encoder_, {"Lead Source": "Source"})
    j = model.encoder_.columns.index("Lead Source")
    code = float(model.encoder_.levels["Lead Source"].index("Reference"))
    first, second = wording.plain(j, code, 0.51234), wording.plain(j, code, 0.2)
    assert first == {
        "field": "Source",
        "value": "Reference",
        "contribution": 0.5123,
        "sentence": "Source = Reference: raises the score",
    }
    assert second["contribution"] == 0.2 and second["sentence"] == first["sentence"]
    assert wording.reason(j, code, -0.3).sentence == "Source = Reference: lowers the score"
    assert wording.reason(j, np.nan, 0.1).sentence == "Source is blank: raises the score"


def test_blank_values_are_said_as_blank_and_values_read_well(fitted) -> None:
    model, _ = fitted
    out = explain(model, one({"Lead Source": None, "TotalVisits": None}), top=10)[0]
    blanks = [r.sentence for r in out["for"] + out["against"] if r.value is None]
    assert any(s.startswith("Lead Source is blank:") for s in blanks)
    assert format_value("rep_win_rate", 0.625) == "62%"
    assert format_value("amount", 12000.0) == "12,000"


@pytest.mark.parametrize(
    ("notation", "said"),
    [
        (None, ["1,234,567", "1,234.5", "2.50", "62%"]),
        ((".", None), ["1,234,567", "1,234.5", "2.50", "62%"]),
        ((",", "."), ["1.234.567", "1.234,5", "2,50", "62%"]),
        ((",", " "), ["1 234 567", "1 234,5", "2,50", "62%"]),
        ((",", None), ["1234567", "1234,5", "2,50", "62%"]),
        ((".", "'"), ["1'234'567", "1'234.5", "2.50", "62%"]),
    ],
)
def test_numbers_in_reasons_are_written_as_the_dataset_writes_them(notation, said) -> None:
    values = [("amount", 1234567.0), ("amount", 1234.5), ("amount", 2.5), ("rep_win_rate", 0.625)]
    assert [format_value(f, v, notation) for f, v in values] == said


def test_a_value_the_model_never_learnt_is_said_with_that_value_not_as_blank(fitted) -> None:
    model, _ = fitted
    new = explain(model, one({"Lead Source": "Carrier pigeon", "TotalVisits": None}), top=10)[0]
    blank = explain(model, one({"Lead Source": None, "TotalVisits": None}), top=10)[0]
    said = {r.field: r for r in new["for"] + new["against"]}
    assert said["Lead Source"].value == "Carrier pigeon"
    assert said["Lead Source"].sentence.startswith(
        "Lead Source = Carrier pigeon (not among the values the model learnt: scored as blank): "
    )
    # Scored as a blank is: the same contribution.
    as_blank = {r.field: r for r in blank["for"] + blank["against"]}
    assert said["Lead Source"].contribution == as_blank["Lead Source"].contribution


def test_labels_map_model_columns_to_the_users_own_field_names(fitted) -> None:
    model, X = fitted
    model.field_labels_ = {"Lead Source": "Source of the lead"}
    try:
        out = explain(model, X.head(1))[0]
        fields = [r.field for r in out["for"] + out["against"]]
        assert "Lead Source" not in fields
    finally:
        model.field_labels_ = {}


def test_json_form_has_no_numpy_types(fitted) -> None:
    model, X = fitted
    plain = as_dicts(explain(model, X.head(1))[0])
    for r in plain["for"] + plain["against"]:
        assert type(r["contribution"]) is float
        assert not isinstance(r["value"], np.generic)
