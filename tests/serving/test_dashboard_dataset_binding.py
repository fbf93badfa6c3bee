"""A manager signed in to the dashboard with a key bound to one dataset sees that dataset only,
as the key would through the API: by default, in the dataset picker, on every page and in every
download; another dataset's page is a 403 page, its download a plain 403. A key bound to no
dataset opens any, as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast import keys
from forecast.data import store
from forecast.data.generator import generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.model_set import Problem
from forecast.settings import Settings
from serving.app import create_app
from serving.dashboard.export import CHARTS
from tests.serving.test_busy_page import sign_in

PAGES = ["/", "/?freq=month", "/dashboard/pipeline", "/dashboard/pipeline?period=all"]
DOWNLOADS = [f"/dashboard/{chart}.csv" for chart in CHARTS] + ["/dashboard/pipeline.csv"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("bound"), key_cache_seconds=0, track_every_hours=0
    )
    engine = store.get_engine(settings)
    for name, seed in (("demo", 5), ("other", 6)):
        frame = generate_pipeline(200, seed=seed).opportunities.drop(columns=["status"])
        import_frame(engine, frame, load_mapping("canonical"), dataset=name)
    return settings


@pytest.fixture(scope="module")
def viewer_keys(settings: Settings) -> dict[str, str]:
    with store.get_engine(settings).begin() as conn:
        return {
            "bound": keys.create_key(conn, "viewer", "demo's", dataset="demo")[1],
            "unbound": keys.create_key(conn, "viewer", "anyone's")[1],
        }


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def bound(client: TestClient, viewer_keys: dict[str, str]) -> TestClient:
    sign_in(client, viewer_keys["bound"])
    return client


def with_dataset(path: str, dataset: str) -> str:
    return path + ("&" if "?" in path else "?") + f"dataset={dataset}"


def test_a_bound_session_sees_its_own_dataset_by_default(bound):
    overview = bound.get("/")
    pipeline = bound.get("/dashboard/pipeline")

    assert overview.status_code == 200, overview.text
    assert "dataset <strong>demo</strong>" in overview.text
    assert pipeline.status_code == 200, pipeline.text
    assert '<input type="hidden" name="dataset" value="demo">' in pipeline.text


@pytest.mark.parametrize("path", DOWNLOADS)
def test_a_bound_session_downloads_its_own_dataset_by_default(bound, path):
    default = bound.get(path)
    explicit = bound.get(with_dataset(path, "demo"))

    assert (default.status_code, default.text) == (explicit.status_code, explicit.text)
    # The default view is the quarter ahead of the data (2025-Q1): nothing was created or closed
    # in it yet, so its funnel has no row to download (409, saying so).
    assert default.status_code == (409 if path.endswith("funnel.csv") else 200), default.text


@pytest.mark.parametrize("path", PAGES)
def test_another_datasets_page_is_a_403_page_naming_both(bound, path):
    page = bound.get(with_dataset(path, "other"))

    assert page.status_code == 403, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert '<link rel="stylesheet" href="/static/app.css">' in page.text
    assert "bound to dataset &#39;demo&#39;" in page.text
    assert "dataset &#39;other&#39;" in page.text
    assert 'id="own-dataset"' in page.text and "dataset=demo" in page.text


@pytest.mark.parametrize("path", DOWNLOADS)
def test_another_datasets_download_is_a_plain_403(bound, path):
    download = bound.get(with_dataset(path, "other"))

    assert download.status_code == 403
    assert download.headers["content-type"].startswith("text/plain")
    assert download.text == "this key is bound to dataset 'demo'; it may not use dataset 'other'"


def test_the_dataset_picker_lists_only_the_bound_dataset(bound):
    html = bound.get("/").text

    assert 'value="other"' not in html and "dataset=other" not in html
    assert 'value="demo"' in html


def test_a_bound_sessions_model_card_names_only_its_datasets_models(bound, client):
    card = bound.get("/dashboard/models.csv").text

    assert "close-probability.demo" in card
    assert "other" not in card


def test_a_bound_sessions_model_card_says_only_its_datasets_problems(bound, client):
    client.app.state.models.problems.extend(
        [
            Problem("deals: dataset 'other': the champion would not load", "other"),
            Problem("deals: dataset 'demo': the champion would not load", "demo"),
        ]
    )

    html = bound.get("/").text

    assert "dataset &#39;demo&#39;: the champion would not load" in html
    assert "&#39;other&#39;" not in html


def test_an_unbound_sessions_model_card_names_every_datasets_models(client, viewer_keys):
    sign_in(client, viewer_keys["unbound"])

    card = client.get("/dashboard/models.csv?dataset=demo").text

    assert "close-probability.demo" in card and "close-probability.other" in card


def test_an_unbound_session_still_opens_and_picks_any_dataset(client, viewer_keys):
    sign_in(client, viewer_keys["unbound"])

    assert client.get("/?dataset=other").status_code == 200
    assert client.get("/dashboard/pipeline?dataset=other").status_code == 200
    assert client.get("/dashboard/forecast.csv?dataset=other").status_code == 200
    html = client.get("/?dataset=demo").text
    assert '<option value="demo" selected>' in html and '<option value="other" >' in html
