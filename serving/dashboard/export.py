"""CSV downloads: the rows behind each chart or table, as the page shows them, and as CSV text.

A cell that would start a spreadsheet formula (`=`, `+`, `-`, `@`) is prefixed with `'`, so a
deal or account name from a CRM cannot run as a formula in the manager's spreadsheet. Numbers
are left as they are (a negative number is not text).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from forecast.errors import ForecastError
from forecast.formatting import missing
from serving.dashboard import page

CHARTS = ("forecast", "funnel", "teams", "reps", "risk", "models")
FORECAST_COLUMNS = (
    "period",
    "start",
    "end",
    "actual_won",
    "expected",
    "p10",
    "p50",
    "p90",
    "weighted_pipeline",
    "target",
    "p_target",
    "as_of",
)


def csv_rows(name: str, ov: page.Overview, models: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows behind one chart or table (`models` is the page's model card); a section the
    overview could not compute raises `ForecastError` with its reason."""
    if name == "models":
        return _model_rows(models)
    part = {
        "forecast": ov.forecast,
        "funnel": ov.funnel,
        "teams": ov.table,
        "reps": ov.table,
        "risk": ov.risk,
    }[name]
    if not part.ok:
        raise ForecastError(part.error or f"no {name} data")
    data = part.data or {}
    if name == "forecast":
        return [{k: r.get(k) for k in FORECAST_COLUMNS} for r in data["rows"]]
    if name == "funnel":
        return _funnel_rows(data["row"])
    if name == "teams":
        return [*data["teams"], data["total"]]
    if name == "reps":
        return data["reps"]
    return [_risk_row(d) for d in data["deals"]]


def _model_rows(models: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in models["models"]:
        for who, metrics in (m.get("holdout") or {"(none)": {}}).items():
            base = {
                "kind": m["kind"],
                "name": m["name"],
                "version": m["version"],
                "source": m["source"],
                "method": m["method"],
                "trained_at": m["trained_at"],
                "compared": who,
            }
            out.append({**base, **metrics} if metrics else base)
    return out


def _funnel_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "period": row["period"],
            "team": row["group"],
            "stage": f["stage"],
            "reached": f["reached"],
            "next_stage": f["next_stage"],
            "conversion": f["conversion"],
            "median_days_in_stage": t["median_days"],
            "open_deals": p["deals"],
            "open_value": p["value"],
        }
        for f, t, p in zip(row["funnel"], row["time_in_stage"], row["open_pipeline"], strict=True)
    ]


def _risk_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d["id"],
        "account": d["account"],
        "owner": d["owner"],
        "team": d["team"],
        "stage": d["stage"],
        "amount": d["amount"],
        "probability": d["probability"],
        "probability_before": d["probability_before"],
        "days_in_stage": d["days_in_stage"],
        "flags": " ".join(d["flags"]),
        "why": "; ".join(d["why"]),
        "reasons_against": "; ".join(r["sentence"] for r in d["reasons_against"]),
    }


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text: one column per key, in the order first seen; missing values empty."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(v: Any) -> Any:
    if missing(v):
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):  # no formulas in a spreadsheet
        return "'" + v
    return v


def filename(chart: str, ov: page.Overview) -> str:
    """`<chart>_<period>[_<team>].csv`; in the team's name, anything but ASCII letters, digits,
    `_`, `.` and `-` becomes `-` (a header holds no quote, and only latin-1)."""
    team = re.sub(r"[^\w.-]", "-", ov.view.team or "", flags=re.ASCII)
    return "_".join(x for x in (chart, ov.view.period.label, team) if x) + ".csv"
