"""A CRM's integration sends a lead's fields under their API names, where the model learnt the
export's labels: HubSpot's workflow webhook sends `hs_analytics_source` for "Original Source",
Salesforce's `NumberOfEmployees` for "No. of Employees". A walkthrough's HubSpot model scored
such a lead with those inputs blank ("not fields the model reads, ignored")."""

from __future__ import annotations

from forecast.lead_fields import LeadFields


def test_hubspot_and_salesforce_api_names_are_read_as_the_exports_labels() -> None:
    fields = LeadFields(
        ["Original Source", "Number of Pageviews", "No. of Employees"], ("created_at",)
    )
    sent = {
        "hs_analytics_source": "REFERRALS",
        "hs_analytics_num_page_views": "30",
        "NumberOfEmployees": 200,
    }
    [row], [notes] = fields.matched([sent])
    assert row == {
        "Original Source": "REFERRALS",
        "Number of Pageviews": "30",
        "No. of Employees": 200,
    }
    assert "'hs_analytics_source' was read as 'Original Source'" in notes
    assert not any("ignored" in n for n in notes)


def test_an_api_name_is_not_read_as_an_input_the_model_does_not_have() -> None:
    """An input of its own under the API name wins; a label the model lacks reads nothing."""
    fields = LeadFields(["hs_analytics_source", "Visits"], ("created_at",))
    [row], _ = fields.matched([{"hs_analytics_source": "ADS", "numemployees": 5}])
    assert row == {"hs_analytics_source": "ADS", "numemployees": 5}
