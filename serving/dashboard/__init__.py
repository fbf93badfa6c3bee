"""The managers' dashboard: one server-rendered page, sign-in and sign-out, CSV downloads.

The figures come from `serving.dashboard.page`, which calls the functions the API serves them with
(`GET /v1/forecast`, `/v1/kpis`, `/v1/deals/at-risk`, `/v1/models`), so page and API agree.
This package only arranges them:

- `routes`: sign-in and sign-out, the page, the CSV downloads and the Plotly bundle (shipped
  inside the `plotly` package and served from here: no CDN, no internet);
- `overviews`: the overview of one view, computed once per dataset version, filters and served
  models, and kept in the app's cache;
- `figures`: Plotly figure specs as JSON, drawn by `static/dashboard.js`;
- `export`: the rows behind each chart or table, and those rows as CSV text.

Templates and static files stay in `serving/templates` and `serving/static`.
"""
