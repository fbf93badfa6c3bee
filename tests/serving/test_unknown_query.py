"""A query parameter a page or a GET route does not read is refused (422 naming it, those the
route takes, and what was likely meant), never ignored: ignored, `/v1/forecast?team=X` answered
the company's total as if it were team X's. What the dashboard's own links and forms send is
still taken."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.serving.conftest import auth, import_generated
from tests.serving.test_dashboard import sign_in

UNKNOWN = "not_a_parameter"


def test_a_team_asked_for_by_a_name_the_forecast_does_not_read_is_refused_with_its_filter(
    client, api_keys
):
    response = client.get(
        "/v1/forecast",
        params={"period": "2024-Q1", "team": "Team Costa"},
        headers=auth(api_keys["viewer"]),
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "unknown query parameter 'team'" in detail
    for taken in ("period", "by", "group", "as_of", "new_deals", "dataset"):
        assert taken in detail
    assert "by=team&group=Team Costa" in detail  # the forecast's real filter for one team


def test_a_misspelt_parameter_is_named_with_the_one_meant(client, api_keys):
    response = client.get("/v1/deals/at-risk?limt=5&datset=crm", headers=auth(api_keys["viewer"]))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "unknown query parameters 'limt', 'datset'" in detail
    assert "did you mean 'limit'?" in detail and "did you mean 'dataset'?" in detail


#: The dashboard's pages and downloads (not in the OpenAPI spec).
DASHBOARD_GETS = (
    "/",
    "/login",
    "/dashboard/pipeline",
    "/dashboard/pipeline.csv",
    "/dashboard/forecast.csv",
    "/assets/plotly.min.js",
)


def test_every_get_route_under_v1_and_every_dashboard_page_refuses_an_unknown_parameter(
    client, api_keys
):
    spec = client.get("/openapi.json").json()["paths"]
    api = [path for path, ops in spec.items() if path.startswith("/v1/") and "get" in ops]
    assert {"/v1/forecast", "/v1/kpis", "/v1/keys", "/v1/targets"} <= set(api)
    for path in [*api, *DASHBOARD_GETS]:
        url = re.sub(r"\{\w+\}", "x", path)  # a path parameter: any value
        response = client.get(
            f"{url}?{UNKNOWN}=1", headers=auth(api_keys["admin"]), follow_redirects=False
        )
        assert response.status_code == 422, path
        assert f"unknown query parameter '{UNKNOWN}'" in unescape(response.text), path


def test_a_dashboard_page_says_it_on_a_page_and_a_download_in_plain_text(client, api_keys):
    page = client.get(f"/?teem=x&{UNKNOWN}=1")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "did you mean &#39;team&#39;?" in page.text and 'href="/"' in page.text
    download = client.get(f"/dashboard/forecast.csv?{UNKNOWN}=1")
    assert download.status_code == 422 and download.headers["content-type"].startswith("text/")
    assert "takes dataset, freq, period, team" in download.text


def test_known_parameters_are_still_taken(client, api_keys):
    assert client.get("/login?next=/").status_code == 200
    viewer = auth(api_keys["viewer"])
    # No data: the route itself answers (404, nothing imported), not the parameter check.
    response = client.get(
        "/v1/forecast?period=2024-Q1&by=team&group=A&as_of=2024-01-01&new_deals=false&dataset=x",
        headers=viewer,
    )
    assert "unknown query parameter" not in response.text
    # The scoring routes read their `dataset` themselves; it is still theirs to read.
    scored = client.post("/v1/leads/score?dataset=nope", json={}, headers=auth(api_keys["scorer"]))
    assert "unknown query parameter" not in scored.text


@pytest.mark.slow
def test_every_link_and_form_of_the_dashboard_pages_is_taken(client, settings, api_keys):
    import_generated(settings)
    assert sign_in(client, api_keys["viewer"]).status_code == 303
    checked = 0
    for start in ("/", "/dashboard/pipeline"):
        html = client.get(start).text
        assert "unknown query parameter" not in html
        for url in _links_and_forms(html):
            response = client.get(url, follow_redirects=False)
            assert "unknown query parameter" not in response.text, url
            assert response.status_code in (200, 303), (url, response.status_code)
            checked += 1
    assert checked >= 8  # the CSV links, the pipeline link, both filter forms


def _links_and_forms(html: str) -> list[str]:
    """Every same-site link with a query string, and each GET form submitted with its fields."""
    urls = [unescape(h) for h in re.findall(r'href="(/[^"]*\?[^"]*)"', html)]
    for action, body in re.findall(r'<form method="get" action="([^"]+)"(.*?)</form>', html, re.S):
        fields = re.findall(r'<(?:select|input)[^>]*\bname="([^"]+)"', body)
        urls.append(f"{action}?{urlencode({name: '' for name in fields})}")
    return [u for u in urls if parse_qsl(urlsplit(u).query, keep_blank_values=True)]
