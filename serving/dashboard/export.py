"""CSV downloads: the rows behind each chart or table, as the page shows them, and as CSV text.

A text cell that a spreadsheet could read as a formula is prefixed with `'`, so a deal, account
or team name from a CRM cannot run as a formula in the manager's spreadsheet: one that starts
with a character OWASP lists for CSV injection (`=`, `+`, `-`, `@`, tab, carriage return; a line
feed and the full-width `＝＋－＠` too), also after leading spaces. Numbers are left as they are
(a negative number is not text).

A download's name says its chart, period and team. The team's name is any text a CRM sent, so
the `Content-Disposition` header carries it twice (RFC 6266): an ASCII `filename` for old
clients and the UTF-8 name, percent-encoded, as `filename*` (RFC 5987); in both, anything but
letters, digits, `_`, `.` and `-` becomes `-`, so no quote, line break, slash or bidi control
reaches the header or the saved file's name.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Any
from urllib.parse import quote

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
    "headline_method",
    "headline",
    "headline_p10",
    "headline_p90",
    "headline_p_target",
    "headline_past_wape",
    "ours_past_wape",
    "naive_run_rate",
    "naive_last_period",
    "naive_last_year",
    "past_method",
    "past_horizon_weeks",
    "past_windows_ended_by",
    "past_n",
    "past_median_ape",
    "past_wape",
    "past_bias",
    "past_coverage_hits",
    "past_coverage_n",
    "past_coverage_lo",
    "past_coverage_hi",
    "model_past_n",
    "model_past_median_ape",
    "model_past_wape",
    "model_past_bias",
    "model_past_coverage_hits",
    "model_past_coverage_n",
    "model_past_coverage_lo",
    "model_past_coverage_hi",
    "method_past_method",
    "method_past_n",
    "method_past_median_ape",
    "method_past_wape",
    "method_past_bias",
)


def csv_rows(name: str, ov: page.Overview, models: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows behind one chart or table (`models` is the page's model card); a section the
    overview could not compute raises the error it failed with (its type the status), else a
    `ForecastError` with its reason."""
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
        raise part.failure or ForecastError(part.error or f"no {name} data")
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
            "still_in_stage": f["still_in_stage"],
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
        "notes": "; ".join(d.get("notes", [])),
    }


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text (RFC 4180): one column per key, in the order first seen; missing values
    empty. Lines end in CRLF, so a cell holding a carriage return is quoted like one holding a
    line feed (a lone `\r` left bare would start a new row, and maybe a formula, in Excel)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


#: What a spreadsheet may read as the start of a formula (OWASP's list, a line feed and the
#: full-width forms some spreadsheets fold to ASCII).
FORMULA_START = frozenset("=+-@\t\r\n＝＋－＠")


def _cell(v: Any) -> Any:
    if missing(v):
        return ""
    if isinstance(v, str) and _starts_formula(v):  # no formulas in a spreadsheet
        return "'" + v
    return v


def _starts_formula(text: str) -> bool:
    if text[:1] in FORMULA_START:  # a leading tab or line break counts as it is
        return True
    first = text.lstrip(" \u00a0\u3000")[:1]
    return first != "" and first in FORMULA_START


def filename(chart: str, ov: page.Overview) -> str:
    """`<chart>_<period>[_<team>].csv` in ASCII: in the team's name, anything but ASCII letters,
    digits, `_`, `.` and `-` becomes `-` (a header holds no quote, and only latin-1)."""
    return _name(chart, ov, ascii_only=True)


def content_disposition(chart: str, ov: page.Overview) -> str:
    """The download's `Content-Disposition`: the ASCII `filename` and the full name in UTF-8 as
    `filename*` (RFC 6266 and 5987), which browsers prefer."""
    full = quote(_name(chart, ov, ascii_only=False), safe="")
    return f"attachment; filename=\"{filename(chart, ov)}\"; filename*=UTF-8''{full}"


def _name(chart: str, ov: page.Overview, *, ascii_only: bool) -> str:
    team = unicodedata.normalize("NFC", ov.view.team or "")
    team = re.sub(r"[^\w.-]", "-", team, flags=re.ASCII if ascii_only else 0)
    return "_".join(x for x in (chart, ov.view.period.label, team) if x) + ".csv"
