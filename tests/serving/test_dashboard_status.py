"""A dashboard page that shows an error instead of its view, or instead of its main section (the
forecast), answers the status the API gives that error (a bad period 422, an unknown dataset or
team 404, a period before the data 409, one past the horizon 422), still as the HTML page saying
why: a monitor, a script or a browser's history no longer takes it for a view that worked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast.errors import (
    InsufficientHistory,
    InvalidInput,
    NotFound,
    UnknownDataset,
    UnknownGroup,
)
from forecast.settings import Settings
from serving.app import create_app
from serving.dashboard.routes import page_status
from tests.serving.conftest import auth, import_generated, keys_of_every_role
from tests.serving.test_dashboard import sign_in


@pytest.fixture(scope="module")
def status_settings(tmp_path_factory) -> Settings:
    settings = Settings(state_dir=tmp_path_factory.mktemp("status") / "state", key_cache_seconds=0)
    import_generated(settings, deals=300)
    return settings


@pytest.fixture(scope="module")
def keys(status_settings: Settings) -> dict[str, dict[str, str]]:
    """Each role's API key header."""
    return {role: auth(key) for role, key in keys_of_every_role(status_settings).items()}


@pytest.fixture(scope="module")
def viewer(status_settings: Settings, keys: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(status_settings)) as client:
        assert sign_in(client, keys["viewer"]["X-API-Key"]).status_code == 303
        yield client


@pytest.mark.parametrize(
    ("query", "status", "said"),
    [
        ("period=2024-Q7", 422, "unknown period"),
        ("freq=week", 422, "freq must be one of"),
        ("team=Nobody", 404, "no team &#39;Nobody&#39;"),
        ("dataset=nope", 404, "nope"),
    ],
)
def test_the_overview_answers_the_status_of_the_error_it_shows(viewer, query, status, said):
    page = viewer.get(f"/?{query}")
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="problem"' in page.text and said in page.text


@pytest.mark.parametrize(
    ("query", "status"), [("period=2024-Q7", 422), ("team=Nobody", 404), ("dataset=nope", 404)]
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
    # A team that names nothing is an error wherever the dataset came from.
    assert page_status(UnknownGroup("team: no team 'Nobody'"), None) == 404


@pytest.mark.parametrize(
    ("query", "api"),
    [
        ("period=2015-Q1", {"period": "2015-Q1"}),  # before the data (2023–2024): 409
        ("period=2030-Q1", {"period": "2030-Q1"}),  # past the forecast horizon: 422
        ("team=Nobody", {"period": "2025-Q1", "by": "team", "group": "Nobody"}),  # 404
    ],
)
def test_the_page_answers_what_the_api_answers_for_the_same_view(viewer, query, api, keys):
    expected = viewer.get("/v1/forecast", params=api, headers=keys["viewer"])
    assert expected.status_code in (404, 409, 422), expected.text
    page = viewer.get(f"/?{query}")
    assert page.status_code == expected.status_code
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("period", "status"), [("2015-Q1", 409), ("2030-Q1", 422)])
def test_a_download_of_a_forecast_the_view_could_not_make_answers_its_status(
    viewer, period, status
):
    download = viewer.get(f"/dashboard/forecast.csv?period={period}")
    assert download.status_code == status
    assert download.headers["content-type"].startswith("text/plain")


def test_an_unknown_team_is_404_from_every_route_and_page(viewer, keys):
    asked = [
        viewer.get(
            "/v1/forecast",
            params={"period": "2025-Q1", "by": "team", "group": "Nope"},
            headers=keys["viewer"],
        ),
        viewer.get("/v1/deals/at-risk", params={"team": "Nope"}, headers=keys["viewer"]),
        viewer.get("/?team=Nope"),
        viewer.get("/dashboard/pipeline?team=Nope"),
    ]
    assert [r.status_code for r in asked] == [404] * 4, [r.text[:200] for r in asked]
    assert all("Nope" in r.text for r in asked)


@pytest.mark.parametrize("path", ["/", "/dashboard/pipeline"])
def test_an_unknown_team_lists_the_teams_by_name_not_as_a_python_list(viewer, path):
    page = viewer.get(f"{path}?team=Nobody")
    assert page.status_code == 404
    problem = page.text[page.text.index('id="problem"') :]
    problem = problem[: problem.index("</p>")]
    assert "its teams: " in problem and "[" not in problem, problem
