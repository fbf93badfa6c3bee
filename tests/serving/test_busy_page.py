"""A manager's browser that finds the server busy sees a page saying so, not JSON.

The dashboard's pages answer 503 with Retry-After as the API does, but as an HTML page in the
dashboard's style that says the view is being computed, links to try again and refreshes by
itself once Retry-After has passed; the API keeps its JSON body."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, import_generated, keys_of_every_role

PAGES = ["/", "/?period=2024-Q3&freq=quarter", "/dashboard/pipeline"]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(state_dir=tmp_path_factory.mktemp("busy"), key_cache_seconds=0)
    import_generated(settings, deals=200)
    return settings


@pytest.fixture(scope="module")
def api_keys(base: Settings) -> dict[str, str]:
    return keys_of_every_role(base)


@pytest.fixture
def client(base: Settings) -> Iterator[TestClient]:
    # A time budget of almost nothing: every expensive view runs out of it.
    busy = base.model_copy(update={"heavy_budget_seconds": 1e-9, "retry_after_seconds": 7})
    with TestClient(create_app(busy)) as test_client:
        yield test_client


def sign_in(client: TestClient, key: str) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = client.post(
        "/login", data={"api_key": key, "csrf_token": token}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text


@pytest.mark.parametrize("path", PAGES)
def test_a_busy_dashboard_page_is_an_html_page_that_retries_by_itself(client, api_keys, path):
    sign_in(client, api_keys["viewer"])

    page = client.get(path)

    assert page.status_code == 503, page.text
    assert page.headers["Retry-After"] == "7"
    assert page.headers["content-type"].startswith("text/html")
    assert "being computed" in page.text
    assert '<meta http-equiv="refresh" content="7">' in page.text
    retry = re.search(r'<a href="([^"]+)" id="retry">', page.text).group(1)
    assert retry.replace("&amp;", "&") == path
    assert '<link rel="stylesheet" href="/static/app.css">' in page.text
    assert '"type":"Busy"' not in page.text


def test_a_busy_api_route_still_answers_json(client, api_keys):
    response = client.get("/v1/kpis", headers=auth(api_keys["viewer"]))

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "7"
    assert response.json()["type"] == "Busy"
