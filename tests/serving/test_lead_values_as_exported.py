"""A CRM sends a lead's values as its export writes them: the API reads a number or a date in the
dataset's own notation (its mapping's `csv: decimal/thousands` and `date_format`, kept with the
dataset at import) as the import did, and a number field sent text that is no number is said so
in the reasons instead of "is blank"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast import scoring
from forecast.data import store
from forecast.data.importing import import_export
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth

OWN = "Erstellt am"


def test_the_import_keeps_the_exports_number_notation_and_date_formats(tmp_path, settings):
    (tmp_path / "leads.csv").write_text(
        f"Lead;Konvertiert;{OWN};Umsatz\nA;1;02.03.2024;1.234,5\nB;0;04.03.2024;99,9\n"
    )
    (tmp_path / "leads.yaml").write_text(
        "kind: leads\ndataset: de\n"
        f"columns: {{id: Lead, converted: Konvertiert, created_at: {OWN}}}\n"
        'date_format: "%d.%m.%Y"\ncsv: {separator: ";", decimal: ",", thousands: "."}\n'
    )
    engine = store.get_engine(settings)
    import_export(engine, tmp_path / "leads.csv", tmp_path / "leads.yaml")
    with engine.connect() as conn:
        options = store.get_dataset(conn, "de")["options"]
    assert options["numbers"] == {"decimal": ",", "thousands": "."}
    assert options["date_formats"] == ["%d.%m.%Y"]
    assert store.load_leads(engine, "de").set_index("id").loc["A", "Umsatz"] == 1234.5


def _leads(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    """Leads that convert more the longer they stayed on the site."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    minutes = rng.uniform(0, 40, n).round(1)
    channel = rng.choice(["web", "event", "referral"], n)
    logit = -2.0 + 0.1 * minutes + 0.5 * (channel == "referral")
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Channel": channel,
            "Minutes": minutes,
        }
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("fit"), min_converted_leads=50)
    return train_leads(_leads(), settings=settings, cross_validate=False).model


@pytest.fixture
def client(settings, api_keys, model):
    application = create_app(settings)
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    served.created_column = OWN
    served.numbers = (",", ".")
    served.date_formats = ("%d.%m.%Y",)
    application.state.models.lead = served
    with TestClient(application) as c:
        c.headers.update(auth(api_keys["scorer"]))
        yield c


def _scored(client: TestClient, fields: dict) -> dict:
    response = client.post("/v1/leads/score", json={"id": "l", "fields": fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_numbers_and_dates_written_as_the_export_writes_them_score_as_the_values(client):
    as_values = _scored(client, {"Channel": "web", "Minutes": 22.5, "created_at": "2024-05-01"})
    as_export = _scored(client, {"Channel": "web", "Minutes": "22,5", OWN: "01.05.2024"})
    assert as_export["probability"] == as_values["probability"]
    grouped = _scored(client, {"Channel": "web", "Minutes": "1.234,5"})
    assert (
        grouped["probability"]
        == _scored(client, {"Channel": "web", "Minutes": 1234.5})["probability"]
    )
    # A thousands dot is no decimal point in this notation, as the import reads it.
    dotted = _scored(client, {"Channel": "web", "Minutes": "1.200"})
    assert (
        dotted["probability"] == _scored(client, {"Channel": "web", "Minutes": 1200})["probability"]
    )
    percent = _scored(client, {"Channel": "web", "Minutes": "22,5 %"})
    assert (
        percent["probability"]
        == _scored(client, {"Channel": "web", "Minutes": 22.5})["probability"]
    )


def test_text_that_is_no_number_is_said_so_not_called_blank(client):
    said = _scored(client, {"Channel": "web", "Minutes": "a while"})
    blank = _scored(client, {"Channel": "web"})
    assert said["probability"] == blank["probability"]  # scored as blank, as before
    sentences = [r["sentence"] for r in said["reasons_for"] + said["reasons_against"]]
    said = "Minutes = 'a while' (not a number: scored as blank)"
    assert any(s.startswith(said) for s in sentences)
    assert not any(s.startswith("Minutes is blank") for s in sentences)


def test_a_date_in_neither_iso_nor_the_datasets_format_is_still_a_422(client):
    response = client.post(
        "/v1/leads/score", json={"id": "l", "fields": {"Channel": "web", OWN: "May 1st"}}
    )
    assert response.status_code == 422 and OWN in response.text and "May 1st" in response.text


def test_the_same_date_under_both_names_written_two_ways_is_one_date(client):
    both = _scored(client, {"Channel": "web", "created_at": "2024-05-01", OWN: "01.05.2024"})
    assert (
        both["probability"] == _scored(client, {"Channel": "web", OWN: "01.05.2024"})["probability"]
    )
    utc = _scored(client, {"Channel": "web", OWN: "01.05.2024"})
    assert utc["probability"] == both["probability"]
    response = client.post(
        "/v1/leads/score",
        json={"id": "l", "fields": {"created_at": "2024-05-02", OWN: "01.05.2024"}},
    )
    assert response.status_code == 422 and "differ" in response.text


def test_the_served_dataset_reads_values_as_its_import_kept_them(tmp_path):
    """From the store: an import with a decimal comma and day-first dates, its model trained
    and served, and the API reading "22,5" and "01.05.2024" as the import did."""
    from forecast.modeling import registry
    from tests.serving.conftest import keys_of_every_role

    settings = Settings(
        state_dir=tmp_path / "state",
        key_cache_seconds=0,
        min_converted_leads=50,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    frame = _leads(1500)
    frame["created_at"] = pd.to_datetime(frame["created_at"]).dt.strftime("%d.%m.%Y")
    frame["Minutes"] = frame["Minutes"].map(lambda m: f"{m:.1f}".replace(".", ","))
    frame.rename(columns={"created_at": OWN}).to_csv(tmp_path / "de.csv", sep=";", index=False)
    (tmp_path / "de.yaml").write_text(
        f"kind: leads\ndataset: de\ncolumns: {{id: id, converted: converted, created_at: {OWN}}}\n"
        'date_format: "%d.%m.%Y"\ncsv: {separator: ";", decimal: ","}\n'
    )
    engine = store.get_engine(settings)
    import_export(engine, tmp_path / "de.csv", tmp_path / "de.yaml")
    leads = store.load_leads(engine, "de")
    result = train_leads(leads, settings=settings, cross_validate=False, dataset="de")
    registry.log_training(result, settings)
    keys = keys_of_every_role(settings)
    with TestClient(create_app(settings)) as c:
        c.headers.update(auth(keys["scorer"]))
        as_export = _scored(c, {"Channel": "web", "Minutes": "22,5", OWN: "01.05.2024"})
        as_values = _scored(c, {"Channel": "web", "Minutes": 22.5, "created_at": "2024-05-01"})
    assert as_export["dataset"] == "de"
    assert as_export["probability"] == as_values["probability"]


def test_a_programs_decimal_point_reads_where_the_notation_cannot_be_meant(client):
    plain = _scored(client, {"Channel": "web", "Minutes": "12.75"})
    assert (
        plain["probability"] == _scored(client, {"Channel": "web", "Minutes": 12.75})["probability"]
    )


def test_a_batch_says_which_text_is_no_number_as_one_lead_does(client):
    leads = [{"id": f"l{i}", "fields": {"Channel": "web", "Minutes": "20"}} for i in range(20)]
    leads.append({"id": "odd", "fields": {"Channel": "web", "Minutes": "a while"}})
    response = client.post("/v1/leads/score/batch", json={"leads": leads})
    assert response.status_code == 200, response.text
    odd = response.json()["scores"][-1]
    sentences = [r["sentence"] for r in odd["reasons_for"] + odd["reasons_against"]]
    assert any("'a while' (not a number: scored as blank)" in s for s in sentences)


def test_infinity_written_as_text_is_no_number(client):
    for text in ("inf", "-Infinity", "nan"):
        one = _scored(client, {"Channel": "web", "Minutes": text})
        assert one["probability"] == _scored(client, {"Channel": "web"})["probability"]
        leads = [{"id": f"l{i}", "fields": {"Channel": "web", "Minutes": text}} for i in range(20)]
        batch = client.post("/v1/leads/score/batch", json={"leads": leads})
        assert batch.status_code == 200, batch.text
        assert {s["probability"] for s in batch.json()["scores"]} == {one["probability"]}


def test_reasons_write_numbers_as_the_export_writes_them(client):
    """A German export writes 1.234,5: so do the reasons (the value field stays a number)."""
    scored = _scored(client, {"Channel": "web", "Minutes": "1.234,5"})
    [minutes] = [
        r for r in scored["reasons_for"] + scored["reasons_against"] if r["field"] == "Minutes"
    ]
    assert minutes["value"] == 1234.5
    assert minutes["sentence"].startswith("Minutes = 1.234,5: ")
    small = _scored(client, {"Channel": "web", "Minutes": "2,5"})
    [minutes] = [
        r for r in small["reasons_for"] + small["reasons_against"] if r["field"] == "Minutes"
    ]
    assert minutes["sentence"].startswith("Minutes = 2,50: ")


def test_a_date_no_form_of_the_dataset_reads_is_refused_naming_its_forms(client):
    for bad in ("31.13.2024", "31.02.2024", "2024/05/01 junk"):
        response = client.post("/v1/leads/score", json={"id": "l", "fields": {OWN: bad}})
        assert response.status_code == 422, response.text
        said = str(response.json())
        assert OWN in said and repr(bad) in said
        assert "%d.%m.%Y (08.03.2025)" in said and "ISO 8601" in said


def test_a_field_spelt_otherwise_is_read_under_the_models_name_and_said(client):
    exact = _scored(client, {"Channel": "referral", "Minutes": 22.5, OWN: "2024-05-01 10:30"})
    loose = _scored(
        client, {"channel": "referral", "MINUTES": 22.5, "erstellt_am": "2024-05-01 10:30"}
    )
    assert loose["probability"] == exact["probability"] and exact["notes"] == []
    assert set(loose["notes"]) == {
        "'channel' was read as 'Channel'",
        "'MINUTES' was read as 'Minutes'",
        f"'erstellt_am' was read as {OWN!r}",
    }


def test_a_creation_date_without_a_time_of_day_says_the_hour_was_blank(client):
    dated = _scored(client, {"Channel": "web", OWN: "01.05.2024"})
    assert dated["notes"] == [
        f"{OWN!r} has no time of day: 'Hour created (UTC)' was scored as blank"
    ]
    assert _scored(client, {"Channel": "web", OWN: "2024-05-01T09:15:00Z"})["notes"] == []
    by_its_name = _scored(client, {"Channel": "web", "created_at": "2024-05-01"})
    assert by_its_name["notes"] == [
        "'created_at' has no time of day: 'Hour created (UTC)' was scored as blank"
    ]


def test_a_field_sent_under_two_spellings_says_which_was_ignored(client):
    both = _scored(client, {"channel": "web", "CHANNEL": "referral", "Minutes": 3})
    assert both["notes"] == [
        "'channel' was read as 'Channel'",
        "'CHANNEL' is another spelling of 'Channel', sent already: ignored",
    ]
    exact = _scored(client, {"Channel": "web", "channel": "referral", "Minutes": 3})
    assert exact["notes"] == ["'channel' is another spelling of 'Channel', sent already: ignored"]
    assert exact["probability"] == _scored(client, {"Channel": "web", "Minutes": 3})["probability"]


def test_what_the_score_could_not_use_is_said_in_its_notes(client):
    misspelt = _scored(client, {"Chanel": "web", "Minutes": 5, "converted": 1})
    assert misspelt["notes"] == ["not fields the model reads, ignored: 'Chanel', 'converted'"]
    nothing = _scored(client, {})
    assert nothing["notes"] == [
        "no field the model reads was sent: every input was scored as blank (it reads "
        f"Channel, Minutes, the creation date ({OWN}))"
    ]
    # The creation date alone is an input the model reads (its day and hour).
    assert _scored(client, {OWN: "2024-05-04 10:00"})["notes"] == []
    words = _scored(client, {"Channel": "Web", "Minutes": "a while"})
    assert words["notes"] == [
        "Channel = 'Web' was not learnt in training (training has 'web'): scored as blank",
        "Minutes = 'a while' is not a number: scored as blank",
    ]


def test_a_batch_says_each_leads_notes_as_one_lead_does(client):
    odd = {"Channel": "web", "Minutes": "a while", "Chanel": "x"}
    leads = [{"id": f"l{i}", "fields": {"Channel": "web", "Minutes": "20"}} for i in range(20)]
    leads.append({"id": "odd", "fields": odd})
    response = client.post("/v1/leads/score/batch", json={"leads": leads})
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    assert [s["notes"] for s in scores[:-1]] == [[]] * 20
    assert scores[-1]["notes"] == _scored(client, odd)["notes"]
