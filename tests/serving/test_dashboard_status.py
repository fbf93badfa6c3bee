"""A dashboard page that shows an error instead of its view answers the error's status (a bad
period or team 422, an unknown dataset 404), still as the HTML page saying why: a monitor, a
script or a browser's history no longer takes it for a view that worked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast.errors import InsufficientHistory, InvalidInput, NotFound, UnknownDataset
from serving.app import create_app
from serving.dashboard.routes import page_status
from tests.serving.conftest import import_generated, keys_of_every_role
from tests.serving.test_dashboard import sign_in


@pytest.fixture(scope="module")
def viewer(tmp_path_factory) -> Iterator[TestClient]:
    from forecast.settings import Settings

    settings = Settings(state_dir=tmp_path_factory.mktemp("status") / "state", key_cache_seconds=0)
    import_generated(settings, deals=300)
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, keys_of_every_role(settings)["viewer"]).status_code == 303
        yield client


@pytest.mark.parametrize(
    ("query", "status", "said"),
    [
        ("period=2024-Q7", 422, "unknown period"),
        ("freq=week", 422, "freq must be one of"),
        ("team=Nobody", 422, "no team &#39;Nobody&#39;"),
        ("dataset=nope", 404, "nope"),
    ],
)
def test_the_overview_answers_the_status_of_the_error_it_shows(viewer, query, status, said):
    page = viewer.get(f"/?{query}")
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="problem"' in page.text and said in page.text


@pytest.mark.parametrize(
    ("query", "status"), [("period=2024-Q7", 422), ("team=Nobody", 422), ("dataset=nope", 404)]
)
def test_a_download_answers_the_same_status_in_plain_text(viewer, query, status):
    download = viewer.get(f"/dashboard/forecast.csv?{query}")
    assert download.status_code == status
    assert download.headers["content-type"].startswith("text/plain")


def test_the_pipeline_page_answers_404_for_an_unknown_dataset(viewer):
    page = viewer.get("/dashboard/pipeline?dataset=nope")
    assert page.status_code == 404 and 'id="problem"' in page.text
    assert viewer.get("/dashboard/pipeline?period=2024-Q7").status_code == 422


def test_a_view_that_works_is_still_200(viewer):
    assert viewer.get("/").status_code == 200
    assert viewer.get("/dashboard/pipeline").status_code == 200


def test_each_error_gets_the_status_the_api_gives_it():
    assert page_status(None, "crm") == 200
    assert page_status(InvalidInput("period"), "crm") == 422
    assert page_status(UnknownDataset("no dataset"), "crm") == 404
    assert page_status(InsufficientHistory("too little"), "crm") == 409


def test_a_store_to_pick_a_dataset_from_or_to_import_into_is_no_error_where_none_was_asked():
    # The landing page lists the datasets to open, or says which import to run: 200.
    assert page_status(UnknownDataset("several datasets: name one"), None) == 200
    assert page_status(NotFound("the store holds no opportunities yet"), None) == 200
