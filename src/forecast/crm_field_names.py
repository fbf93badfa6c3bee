"""What CRMs' APIs call the lead fields their exports label otherwise: a model learns the
export's labels ("Original Source", "No. of Employees"), while the CRM's integration (HubSpot's
workflow webhook, a Salesforce flow) sends its API names (`hs_analytics_source`,
`NumberOfEmployees`). Each API name is read as the label where the model has that input
(`lead_fields.LeadFields`); names alike but for case, spaces and underscores ("LeadSource",
`createdate`) need no entry."""

from __future__ import annotations

#: An API name → the labels exports have written it under (newest HubSpot label first).
LABELS: dict[str, tuple[str, ...]] = {
    # HubSpot contact properties
    "hs_analytics_source": ("Original Traffic Source", "Original Source"),
    "hs_analytics_source_data_1": (
        "Original Traffic Source Drill-Down 1",
        "Original Source Drill-Down 1",
    ),
    "hs_analytics_source_data_2": (
        "Original Traffic Source Drill-Down 2",
        "Original Source Drill-Down 2",
    ),
    "hs_latest_source": ("Latest Traffic Source", "Latest Source"),
    "hs_analytics_num_page_views": ("Number of Pageviews",),
    "hs_analytics_num_visits": ("Number of Sessions",),
    "hs_analytics_average_page_views": ("Average Pageviews",),
    "hs_analytics_num_event_completions": ("Number of event completions",),
    "num_conversion_events": ("Number of Form Submissions",),
    "num_unique_conversion_events": ("Number of Unique Forms Submitted",),
    "first_conversion_event_name": ("First Conversion",),
    "recent_conversion_event_name": ("Recent Conversion",),
    "hs_email_open": ("Marketing emails opened",),
    "hs_email_click": ("Marketing emails clicked",),
    "hs_email_delivered": ("Marketing emails delivered",),
    "numemployees": ("Number of Employees",),
    "annualrevenue": ("Annual Revenue",),
    "jobtitle": ("Job Title",),
    "country": ("Country/Region",),
    "state": ("State/Region",),
    "hubspotscore": ("HubSpot Score",),
    # Salesforce Lead fields
    "NumberOfEmployees": ("No. of Employees", "Employees"),
    "PostalCode": ("Zip/Postal Code",),
    "State": ("State/Province",),
}
