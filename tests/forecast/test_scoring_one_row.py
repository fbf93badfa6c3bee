"""The API's row (a batch of one) takes shorter steps than a batch: it is encoded as one flat
line, its leaves are summed in one gather, its few reasons are said in one pass. These tests
hold those steps to the batch's results, value for value, whatever the row sends.

Expected values come from the encoder's own `transform` of a frame and from rows scored inside
a batch (which take the column-by-column encoding and the sparse sum), never from the one-row
steps themselves.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.reasons import Wording
from forecast.modeling.scorers import select_scorer
from tests.forecast.test_scoring import hand_made_leads, records

#: Values a CRM may send that are not what the model learnt: each must score as the batch does.
ODD_VALUES = [None, "never seen", "7", "lots", 3, 2.5, True, [1, 2], math.nan]


@pytest.fixture(scope="module")
def served() -> scoring.Served:
    X, y = hand_made_leads(1500, seed=5)
    model = BoostedClassifier(n_estimators=60, n_jobs=1, random_state=0).fit(X, y)
    return scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")


@pytest.fixture(scope="module")
def odd_rows() -> list[dict]:
    """Rows of plain leads where one field at a time takes an odd value, or is left out."""
    rows = records(hand_made_leads(40, seed=6)[0])
    out = []
    for i, row in enumerate(rows):
        field = list(row)[i % len(row)]
        changed = dict(row)
        if i % 5 == 4:
            del changed[field]
        else:
            changed[field] = ODD_VALUES[i % len(ODD_VALUES)]
        out.append(changed)
    return rows + out


def test_a_row_alone_scores_bit_for_bit_as_inside_a_big_batch(served, odd_rows):
    # 20 copies: the batch is encoded column by column and summed through the sparse product.
    batch = odd_rows * 20
    assert len(batch) >= scoring.BY_COLUMN_FROM
    in_batch = scoring.score(served, batch)[: len(odd_rows)]
    for row, expected in zip(odd_rows, in_batch, strict=True):
        [alone] = scoring.score(served, [row])
        assert alone == expected  # the probability to the last bit, reasons and their texts


def test_a_row_alone_is_encoded_as_the_encoder_encodes_a_frame():
    frame = pd.DataFrame(
        {"source": ["Google", "Reference", None, "Google"], "visits": [1.0, 2.0, np.nan, 4.0]}
    )
    encoder = FeatureEncoder().fit(frame)
    for row in records(frame):
        expected = encoder.transform(pd.DataFrame([row], columns=frame.columns))
        np.testing.assert_array_equal(scoring._encode(encoder, [row]), expected)
    odd = {"source": "never seen", "visits": "lots", "other": 1}
    np.testing.assert_array_equal(scoring._encode(encoder, [odd]), [[np.nan, np.nan]])
    np.testing.assert_array_equal(scoring._encode(encoder, [{"visits": "7"}]), [[np.nan, 7.0]])


@pytest.mark.parametrize("leave_one_out", [False, True])
def test_a_batch_is_encoded_value_for_value_as_its_rows_alone(leave_one_out):
    # A text input sent a number, a flag, a list, NaN, pandas' NA or numpy's text, a number
    # input sent text: the batch's column-by-column path gives what each row alone gives.
    frame = pd.DataFrame(
        {"source": ["Google", "Reference", None, "7", "True"], "visits": [1.0, 2.0, np.nan, 4, 5]}
    )
    encoder = FeatureEncoder().fit(frame)
    odd = [*ODD_VALUES, pd.NA, np.str_("Google"), 7, "Reference"]
    rows = [{"source": a, "visits": b} for a in odd for b in [*ODD_VALUES, "4", " 5 ", pd.NA]]
    if leave_one_out:  # one row without an input: every row read the slower way
        del rows[3]["visits"]
    hashable = [r for r in rows if not isinstance(r["source"], list)]
    numbers = [r for r in hashable if not isinstance(r["source"], str | None)]
    one_input = FeatureEncoder().fit(frame[["source"]])
    with_none = FeatureEncoder().fit(pd.DataFrame({"source": ["None", "7", "Google"]}))
    for batch in (rows, hashable, numbers):
        assert len(batch) >= scoring.BY_COLUMN_FROM
        for enc in (encoder, one_input, with_none):
            alone = np.vstack([scoring._encode(enc, [row]) for row in batch])
            np.testing.assert_array_equal(scoring._encode(enc, batch), alone)
            assert not np.isnan(alone[:, 0]).all()


def test_an_encoder_fitted_again_is_read_with_its_new_inputs():
    encoder = FeatureEncoder().fit(pd.DataFrame({"source": ["Google", "Reference"]}))
    row = {"source": "Reference", "visits": 3}
    np.testing.assert_array_equal(scoring._encode(encoder, [row]), [[1.0]])
    encoder.fit(pd.DataFrame({"visits": [1.0, 2.0], "source": ["Reference", "Google"]}))
    np.testing.assert_array_equal(scoring._encode(encoder, [row]), [[3.0, 0.0]])


def test_a_few_factors_are_said_as_many_are(served):
    model = served.scorer.model
    wording = Wording(model.encoder_, {})
    columns = [0, 1, 2, 3, 0, 1]
    codes = [0.0, 4.0, math.nan, 1.0, 2.0, 0.0]
    contribs = [0.123456789, -0.00004999, 1e-7, -2.5, 0.33335, -0.1]
    few = wording.plains(columns, codes, contribs)
    many = Wording(model.encoder_, {}).plains(
        np.array(columns * 10), np.array(codes * 10), np.array(contribs * 10)
    )
    assert few == many[: len(columns)]
    assert [r["contribution"] for r in few] == [round(c, 4) for c in contribs]
