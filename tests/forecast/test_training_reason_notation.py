"""Training's example reasons write numbers as the dataset's export writes them, as the API's
reasons do: a German export's managers read "7,81", not "7.81"."""

from __future__ import annotations

import re

import pytest

from forecast.data.generator import generate_leads
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.reasons import explain
from forecast.settings import Settings
from tests.forecast.test_import_options import write
from training.models_cli import Kind
from training.training_data import load_training_data

GERMAN = (",", ".")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path, lgbm_threads=2)


def test_example_reasons_write_decimals_in_the_datasets_notation(settings):
    leads = generate_leads(1500, seed=3)
    result = train_leads(
        leads,
        leak_columns=["Tags"],
        notation=GERMAN,
        cross_validate=False,
        seed=1,
        settings=settings,
    )
    said = [r for e in result.examples for side in ("for", "against") for r in e[side]]
    decimals = [r for r in said if isinstance(r["value"], float) and not r["value"].is_integer()]
    for reason in decimals:
        assert f"{reason['value']:.2f}".replace(".", ",") in reason["sentence"], reason
    # Every input of a few leads with a decimal value: the decimal comma, never a point.
    rows = leads[leads["Page Views Per Visit"] % 1 > 0].head(5).drop(columns=["converted"])
    sentences = [
        r.sentence
        for row in explain(result.model, rows, top=40, notation=GERMAN)
        for r in row["for"] + row["against"]
        if r.field == "Page Views Per Visit"
    ]
    assert sentences and all(re.search(r"= \d+,\d\d:", s) for s in sentences), sentences


def test_a_file_read_for_training_carries_its_number_notation(tmp_path, settings):
    text = "Lead-Nr.;Erstellt am;Quelle;Umsatz;Konvertiert\n" + "".join(
        f"L-{i};{1 + i % 28:02d}.04.2023;Messe;{i}.250,5;{'Ja' if i % 3 else 'Nein'}\n"
        for i in range(30)
    )
    file = write(tmp_path, "leads.csv", text)
    mapping = write(
        tmp_path,
        "m.yaml",
        "kind: leads\ncolumns: {id: Lead-Nr., converted: Konvertiert, created_at: Erstellt am}\n"
        'date_format: "%d.%m.%Y"\ncsv: {separator: ";", decimal: ",", thousands: "."}\n',
    )
    loaded = load_training_data(str(file), str(mapping), Kind.leads, settings)
    assert loaded["notation"] == GERMAN
    assert loaded["leads"]["Umsatz"].iloc[1] == 1250.5
