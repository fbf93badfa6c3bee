"""The dashboard's monitoring section shows the deal model of the dataset the page shows, never
another dataset's as if it were this one's; the lead models' are shown beside it."""

from __future__ import annotations

from forecast.model_monitoring import Monitoring
from serving.dashboard.routes import shown_for


def _report(kind: str, dataset: str) -> Monitoring:
    return Monitoring(kind, "1", [], None, None, dataset=dataset, source="registry")


def test_a_page_shows_its_own_datasets_deal_monitoring_and_the_lead_models():
    reports = [_report("lead", "web"), _report("deal", "a"), _report("deal", "b")]
    shown = [(r["kind"], r["dataset"]) for r in shown_for(reports, "a")]
    assert shown == [("lead", "web"), ("deal", "a")]
    assert [r["dataset"] for r in shown_for(reports, "b")] == ["web", "b"]
    assert len(shown_for(reports, None)) == 3  # no dataset shown: every model's
