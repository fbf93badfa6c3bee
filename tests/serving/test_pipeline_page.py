"""The dashboard's pipeline movement page: last week's waterfall by default, the same figures as
the API's, a drill-down to the deals behind each bar, a CSV of every deal, and bad filters said
on the page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast.data import store
from forecast.data.importing import import_export
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, keys_of_every_role
from tests.serving.test_dashboard import sign_in, value

DATASET = "shared"


@pytest.fixture(scope="module")
def env(shared_opportunities, tmp_path_factory):
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("pipeline") / "state",
        deal_dataset=DATASET,
        key_cache_seconds=0,
    )
    engine = store.get_engine(settings)
    import_export(engine, shared_opportunities, "crm_sales_opportunities", dataset=DATASET)
    return settings, keys_of_every_role(settings)


@pytest.fixture
def viewer(env) -> Iterator[TestClient]:
    settings, keys = env
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, keys["viewer"]).status_code == 303
        yield client


def test_the_page_shows_last_weeks_movement_as_the_api_computes_it(viewer, env):
    page = viewer.get("/dashboard/pipeline")
    assert page.status_code == 200, page.text
    html = page.text
    start = re.search(r'id="from" value="([\d-]+)"', html).group(1)
    end = re.search(r'id="to" value="([\d-]+)"', html).group(1)
    assert start == "2017-12-25" and end == "2018-01-01"  # the week before the data's end
    api = viewer.get(
        "/v1/pipeline/waterfall",
        params={"from": start, "to": end},
        headers=auth(env[1]["viewer"]),
    ).json()
    assert value(html, "start") == pytest.approx(api["total"]["start"])
    assert value(html, "end") == pytest.approx(api["total"]["end"])
    for bar in ("created", "won", "lost"):
        if api["deals_total"][bar]:
            assert value(html, bar) == pytest.approx(api["total"][bar])
            assert f'id="deals-{bar}"' in html  # its drill-down list
    assert 'data-drill="deals-"' in html and 'id="waterfall-figure"' in html


def test_one_team_and_its_deals_as_csv(viewer):
    html = viewer.get("/dashboard/pipeline", params={"from": "2017-06-01", "to": "2017-07-01"}).text
    team = re.search(r'<option value="([^"]+)" >', html).group(1)
    page = viewer.get(
        "/dashboard/pipeline", params={"from": "2017-06-01", "to": "2017-07-01", "team": team}
    )
    assert page.status_code == 200 and f"· {team}" in page.text
    got = viewer.get(
        "/dashboard/pipeline.csv", params={"from": "2017-06-01", "to": "2017-07-01", "team": team}
    )
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert rows and {r["group"] for r in rows} == {team}
    assert {r["bar"] for r in rows} <= {"created", "won", "lost", "increased", "decreased"}


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"from": "2017-07-01", "to": "2017-06-01"}, "to: must be after from"),
        ({"from": "yesterday"}, "from: a date like"),
        ({"period": "2017-Q7"}, "unknown period"),
        ({"to": "2999-01-01"}, "to (2999-01-01) is more than 730 days after the data ends"),
        ({"from": "1999-01-01", "to": "2000-01-01"}, "is before the data&#39;s first deal"),
    ],
)
def test_bad_filters_are_said_on_the_page(viewer, params, said):
    page = viewer.get("/dashboard/pipeline", params=params)
    assert page.status_code == 422
    assert said in page.text and 'id="problem"' in page.text


def test_signed_out_goes_to_the_sign_in_page(env):
    with TestClient(create_app(env[0])) as client:
        got = client.get("/dashboard/pipeline", follow_redirects=False)
        assert got.status_code == 303 and got.headers["location"].startswith("/login")
