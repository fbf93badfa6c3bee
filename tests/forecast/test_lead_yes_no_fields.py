"""A lead's yes/no field sent as a CRM's API sends it is read as its export wrote it.

A checkbox is exported as a word ("TRUE"/"FALSE" by Freshsales and Salesforce reports, "Sí"/"No"
by a Spanish Zoho, "x" and blank by a spreadsheet) and the model learns those words; the same
CRM's API sends a JSON `true`. Matched as text, `true` found no learnt value and the field was
scored as blank. `LeadFields` (built with the model's learnt values) spells each such value as
training learnt it. An input the model learnt as a 0/1 number (an export's 1/0 flag, or
booleans) reads a yes-word as 1 and a no-word as 0 (before: "Yes" was scored as blank), and text
that is neither ("N/A", a CRM's placeholder) is scored as blank with a note, as any number's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import scoring
from forecast.lead_fields import LeadFields, yes_no_spelling
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings

LEVELS = {
    "Subscribed": ["TRUE", "FALSE"],
    "Exclusión de correo": ["No", "Sí"],
    "Newsletter": ["x"],
    "Source": ["Referral", "Web"],
    "Only no": ["No"],
}


def fields() -> LeadFields:
    return LeadFields([*LEVELS, "Visits"], ["created_at"], LEVELS)


def test_a_boolean_or_another_yes_no_word_is_read_as_the_learnt_word() -> None:
    sent = [
        {"Subscribed": True, "Exclusión de correo": False, "Newsletter": True},
        {"Subscribed": "false", "Exclusión de correo": "yes", "Newsletter": False},
        {"Subscribed": 1, "Exclusión de correo": "Sí", "Newsletter": "X"},
    ]
    rows = [fields().spelt_as_learnt(row) for row in sent]
    _, notes = fields().matched(sent)
    assert rows == [
        {"Subscribed": "TRUE", "Exclusión de correo": "No", "Newsletter": "x"},
        {"Subscribed": "FALSE", "Exclusión de correo": "Sí", "Newsletter": None},
        {"Subscribed": "TRUE", "Exclusión de correo": "Sí", "Newsletter": "x"},
    ]
    assert notes == [[], [], []]


def test_other_text_inputs_and_values_are_left_as_sent() -> None:
    row = {"Source": "Referral", "Visits": 3, "Subscribed": "maybe", "Only no": True}
    assert (
        fields().spelt_as_learnt(row) == row
    )  # not yes/no values, or an input that never learnt a yes


def test_only_inputs_whose_values_are_a_yes_and_a_no_are_yes_no() -> None:
    assert yes_no_spelling(["Ja", "Nein"]) == {1: "Ja", 0: "Nein"}
    assert yes_no_spelling(["x"]) == {1: "x", 0: None}
    assert yes_no_spelling(["Yes", "No", "Maybe"]) == {}
    assert yes_no_spelling(["Yes", "Y", "No"]) == {}  # two spellings of yes: left alone
    assert yes_no_spelling(["No"]) == {}
    assert LeadFields(["Subscribed"], ["created_at"]).spelt_as_learnt({"Subscribed": True}) == {
        "Subscribed": True
    }


def test_a_served_model_scores_a_boolean_as_the_word_its_export_wrote(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 1500
    subscribed = rng.random(n) < 0.5
    leads = pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": (rng.random(n) < np.where(subscribed, 0.5, 0.1)).astype(int),
            "created_at": (
                pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 300, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "Subscribed": np.where(subscribed, "TRUE", "FALSE"),
            "Visits": rng.integers(0, 9, n),
        }
    )
    settings = Settings(state_dir=tmp_path, min_converted_leads=50)
    model = train_leads(leads, settings=settings, cross_validate=False).model
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    as_word, as_bool = scoring.score(
        served,
        [{"Subscribed": "TRUE", "Visits": 3}, {"Subscribed": True, "Visits": 3}],
        as_sent=True,
    )
    assert as_bool.probability == as_word.probability
    assert not as_bool.notes


def test_a_yes_or_no_sent_for_an_input_learnt_as_0_1_is_read_as_1_or_0() -> None:
    flags = LeadFields([*LEVELS, "Opted In", "Visits"], ["created_at"], LEVELS, ["Opted In"])
    sent = ["Yes", "no", True, "FALSE", "Sí", "x", 1, 0.0, "1", None]
    rows = [flags.spelt_as_learnt({"Opted In": v, "Visits": 3}) for v in sent]
    assert [r["Opted In"] for r in rows] == [1, 0, 1, 0, 1, 1, 1, 0, 1, None]
    visits = flags.spelt_as_learnt({"Visits": "yes"})  # a count is no 0/1: left as sent
    assert visits == {"Visits": "yes"}


def test_text_that_is_no_yes_or_no_for_an_input_learnt_as_0_1_is_left_as_sent() -> None:
    flags = LeadFields(["Opted In", "Visits"], ["created_at"], {}, ["Opted In"])
    sent = [{"Opted In": v} for v in ("maybe", "N/A", "-", "2", " ")]
    rows = [flags.spelt_as_learnt(row) for row in sent]
    assert rows == sent  # the encoding says what it cannot read


def test_a_served_model_scores_a_yes_for_a_0_1_input_as_its_1(tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 1500
    opted = rng.integers(0, 2, n)
    leads = pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": (rng.random(n) < np.where(opted == 1, 0.5, 0.1)).astype(int),
            "Opted In": opted,
            "Visits": rng.integers(0, 9, n),
        }
    )
    settings = Settings(state_dir=tmp_path, min_converted_leads=50)
    model = train_leads(leads, settings=settings, cross_validate=False).model
    assert model.zero_one_inputs_ == ["Opted In"]  # "Visits" counts: not a 0/1
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    rows = [{"Opted In": v, "Visits": 3} for v in (1, "Yes", 0, "No")]
    one, yes, zero, no = scoring.score(served, rows, as_sent=True)
    assert yes.probability == one.probability and no.probability == zero.probability
    assert one.probability > zero.probability  # the flag matters, so "Yes" read as 1 shows it
    assert not yes.notes and not no.notes
    # A placeholder a CRM sends for an empty field: scored as blank, said, never a refusal.
    blank, placeholder = scoring.score(
        served, [{"Opted In": None, "Visits": 3}, {"Opted In": "N/A", "Visits": 3}], as_sent=True
    )
    assert placeholder.probability == blank.probability
    assert any("Opted In" in n and "N/A" in n for n in placeholder.notes)
    # A batch (read column by column) reads them the same, and still says what it cannot read.
    many = [{"Opted In": v, "Visits": 3} for v in (1, "Yes", 0, "No", "N/A")] * 8
    many[-1] = {"Opted In": "Yes", "Visits": "many"}
    scores = scoring.score(served, many, as_sent=True)
    expected = [one.probability, one.probability, zero.probability, zero.probability]
    assert [s.probability for s in scores[:4]] == expected
    assert scores[4].probability == blank.probability and scores[4].notes
    assert not any(s.notes for s in scores[:4])
    assert any("Visits" in n and "many" in n for n in scores[-1].notes)
    assert not any("Opted In" in n for n in scores[-1].notes)
    assert [s.probability for s in scoring.score(served, many)] == [s.probability for s in scores]
