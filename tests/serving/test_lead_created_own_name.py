"""A lead scored under the dataset's own name for its creation date: an import whose mapping
reads `created_at` from "Lead Created Date" keeps that name with the dataset, and the API reads
the date from it where a CRM sends no `created_at` (both, differing, is a 422 naming both)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from forecast import scoring
from forecast.data import store
from forecast.data.importing import import_export
from forecast.lead_fields import LeadFields
from forecast.modeling.scorers import select_scorer
from serving.app import create_app
from tests.serving.conftest import auth
from tests.serving.test_lead_created_at import models  # noqa: F401 - the fixture

OWN = "Lead Created Date"


def test_the_import_keeps_the_mappings_own_name_for_the_creation_date(tmp_path, settings):
    (tmp_path / "leads.csv").write_text(
        f"Lead,Status,{OWN}\nA,1,2024-03-02 10:00\nB,0,2024-03-04 11:00\n"
    )
    (tmp_path / "leads.yaml").write_text(
        f"kind: leads\ndataset: signups\ncolumns: {{id: Lead, converted: Status, "
        f"created_at: {OWN}}}\n"
    )
    engine = store.get_engine(settings)
    import_export(engine, tmp_path / "leads.csv", tmp_path / "leads.yaml")
    with engine.connect() as conn:
        assert store.get_dataset(conn, "signups")["options"]["created_at_column"] == OWN


def test_the_creation_dates_own_name_is_the_column_the_file_held(tmp_path, settings):
    """A Salesforce leads report names the creation date "Created Date" (the preset reads it as
    an alias of "Create Date"): a walkthrough's CRM sending "Created Date" had it ignored, the
    lead scored as created now, since the dataset kept the preset's name, not the file's."""
    from forecast.data.importing import read_export

    (tmp_path / "report.csv").write_text(
        "Lead ID,Lead Status,Created Date\n"
        "00Q1,Closed - Converted,3/14/2024 9:05 AM\n00Q2,Closed - Not Converted,3/15/2024 4:10 PM\n"
    )
    assert read_export(tmp_path / "report.csv").options["created_at_column"] == "Created Date"
    engine = store.get_engine(settings)
    import_export(engine, tmp_path / "report.csv")
    with engine.connect() as conn:
        options = store.get_dataset(conn, "salesforce_leads")["options"]
    assert options["created_at_column"] == "Created Date"


@pytest.fixture
def client(settings, api_keys, models):  # noqa: F811 - the fixture imported above
    dated, _ = models
    application = create_app(settings)
    served = scoring.Served(scoring.LEAD, select_scorer(dated), "1", "registry")
    served.created_column = OWN
    application.state.models.lead = served
    with TestClient(application) as c:
        c.headers.update(auth(api_keys["scorer"]))
        yield c


def test_a_lead_sent_with_the_datasets_own_date_name_scores_as_with_created_at(client):
    saturday, monday = "2024-03-02T10:00:00Z", "2024-03-04T10:00:00Z"

    def p(fields: dict) -> float:
        response = client.post("/v1/leads/score", json={"id": "l", "fields": fields})
        assert response.status_code == 200, response.text
        return response.json()["probability"]

    assert p({"Channel": "web", OWN: saturday}) == p({"Channel": "web", "created_at": saturday})
    assert p({"Channel": "web", OWN: saturday}) != p({"Channel": "web", OWN: monday})
    assert p({"Channel": "web", OWN: saturday, "created_at": saturday}) == p(
        {"Channel": "web", "created_at": saturday}
    )


def test_both_names_with_different_dates_are_a_422_naming_both(client):
    fields = {"Channel": "web", OWN: "2024-03-02T10:00:00Z", "created_at": "2024-03-04"}
    response = client.post("/v1/leads/score", json={"id": "l", "fields": fields})
    assert response.status_code == 422
    assert OWN in response.text and "created_at" in response.text
    bad = client.post("/v1/leads/score", json={"id": "l", "fields": {OWN: "yesterday"}})
    assert bad.status_code == 422 and "yesterday" in bad.text and OWN in bad.text


@pytest.fixture
def marketo(settings, api_keys, models):  # noqa: F811 - the fixture imported above
    """A dataset whose own creation column, "Created At", is spelt as `created_at` loosely."""
    dated, _ = models
    application = create_app(settings)
    served = scoring.Served(scoring.LEAD, select_scorer(dated), "1", "registry")
    served.created_column = "Created At"
    application.state.models.lead = served
    with TestClient(application) as c:
        c.headers.update(auth(api_keys["scorer"]))
        yield c


def test_a_crms_spelling_of_the_creation_date_is_read_where_the_datasets_own_name_is_alike(
    marketo,
):
    """Marketo's REST API sends `createdAt`; its export's column is "Created At": both names are
    the creation date, so the lead is scored as created then, not as created now."""
    saturday = "2024-03-02T14:15:00Z"

    def scored(fields: dict) -> dict:
        response = marketo.post("/v1/leads/score", json={"id": "l", "fields": fields})
        assert response.status_code == 200, response.text
        return response.json()

    sent = scored({"Channel": "web", "createdAt": saturday})
    assert sent["notes"] == ["'createdAt' was read as 'created_at'"]
    assert sent["probability"] == scored({"Channel": "web", "created_at": saturday})["probability"]
    assert sent["probability"] == scored({"Channel": "web", "Created At": saturday})["probability"]
    said = [r["sentence"] for r in sent["reasons_for"] + sent["reasons_against"]]
    assert not any("Hour created" in s and "= 14" not in s for s in said)
    differing = {"Created At": saturday, "createdAt": "2024-03-04T09:00:00Z"}
    refused = marketo.post("/v1/leads/score", json={"id": "l", "fields": differing})
    assert refused.status_code == 422 and "Created At" in refused.text


def test_names_alike_that_are_not_all_the_creation_date_stay_ambiguous():
    both = LeadFields(["Lead Source", "lead_source", "CreatedAt"], ("created_at", "Created At"))
    [row], [notes] = both.matched([{"leadSource": "web", "created-at": "2024-03-02"}])
    assert row == {"leadSource": "web", "created-at": "2024-03-02"}
    assert "not fields the model reads, ignored: 'leadSource', 'created-at'" in notes
    dates = LeadFields(["Lead Source"], ("created_at", "Created At"))
    [row], [notes] = dates.matched([{"leadSource": "web", "created-at": "2024-03-02"}])
    assert row == {"Lead Source": "web", "created_at": "2024-03-02"}
    assert notes == [
        "'leadSource' was read as 'Lead Source'",
        "'created-at' was read as 'created_at'",
    ]
