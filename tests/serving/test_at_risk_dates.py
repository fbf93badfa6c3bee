"""The at-risk list refuses a date it cannot be judged at, naming `as_of` and why."""

from __future__ import annotations

from tests.serving.conftest import auth, import_generated


def test_a_date_before_any_close_or_past_the_horizon_is_422_naming_as_of(
    client, settings, api_keys
):
    import_generated(settings, deals=200)
    viewer = auth(api_keys["viewer"])

    early = client.get("/v1/deals/at-risk?dataset=crm&as_of=2016-10-01", headers=viewer)
    late = client.get("/v1/deals/at-risk?dataset=crm&as_of=2099-10-01", headers=viewer)

    assert early.status_code == 422, early.text
    assert "as_of (2016-10-01) is before the first close of this dataset" in early.json()["detail"]
    assert late.status_code == 422, late.text
    assert "as_of (2099-10-01) is more than" in late.json()["detail"]
    assert "FORECAST_FORECAST_HORIZON_DAYS" in late.json()["detail"]
