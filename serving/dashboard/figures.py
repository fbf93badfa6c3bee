"""Plotly figure specs for the dashboard: the library's numbers, placed, never recomputed."""

from __future__ import annotations

import json
from typing import Any

from forecast.forecasting import choice
from forecast.formatting import pct
from serving.dashboard import page

LAYOUT: dict[str, Any] = {
    "margin": {"l": 70, "r": 20, "t": 10, "b": 40},
    "height": 340,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "legend": {"orientation": "h", "y": -0.15},
    "hovermode": "x unified",
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


#: How each naive forecast's line is drawn: thin, muted and broken, so ours stands out.
NAIVE_DASHES = ("dot", "dashdot", "longdashdot")
NAIVE_COLOURS = ("#8c564b", "#7f7f7f", "#9467bd")


def band(x: list[Any], p10: list[Any], p90: list[Any]) -> list[dict[str, Any]]:
    """A P10–P90 band: an invisible P10 line and the P90 line filled down to it."""
    edge = {"type": "scatter", "x": x, "mode": "lines", "line": {"width": 0}}
    return [
        {**edge, "name": "P10", "y": p10, "showlegend": False, "hoverinfo": "skip"},
        {
            **edge,
            "name": "P10–P90",
            "y": p90,
            "fill": "tonexty",
            "fillcolor": "rgba(31,119,180,0.18)",
        },
    ]


def forecast_figure(fc: page.Section) -> dict[str, Any]:
    """Won revenue per period as bars; for the periods ahead, the forecast users get (`shown`:
    the method most accurate at each period's horizon, else ours) with its P10–P90 band, ours
    as a line of its own where another method is shown, the weighted pipeline and the naive
    forecasts (dotted); the target, where one is stored, as a marker. Hovering a point says
    which method it is and its past WAPE at that horizon."""
    rows = fc.data["rows"]  # type: ignore[index]
    x = [r["period"] for r in rows]
    ahead = [r for r in rows if r.get("expected") is not None]
    xa = [r["period"] for r in ahead]
    traces = [
        {
            "type": "bar",
            "name": "Won (actual)",
            "x": x,
            "y": [r["actual_won"] for r in rows],
            "marker": {"color": "#9db4c0"},
        },
        *band(xa, [_shown(r, "p10") for r in ahead], [_shown(r, "p90") for r in ahead]),
        {
            "type": "scatter",
            "name": "Expected",
            "x": xa,
            "y": [_shown(r, "") for r in ahead],
            "text": [_said(r.get("shown_method"), r, "shown_past_wape") for r in ahead],
            "hovertemplate": "%{y:,.0f}: %{text}",
            "mode": "lines+markers",
            "line": {"color": "#1f77b4", "width": 3},
        },
    ]
    if any(not r.get("shown_is_ours", True) for r in ahead):
        traces.append(
            {
                "type": "scatter",
                "name": "Our model",
                "x": xa,
                "y": [r["expected"] for r in ahead],
                "text": [
                    _said(choice.LABELS[choice.MODEL], r, "model_shown_past_wape") for r in ahead
                ],
                "hovertemplate": "%{y:,.0f}: %{text}",
                "mode": "lines+markers",
                "line": {"color": "#1f77b4", "width": 1.5},
                "marker": {"size": 5, "symbol": "circle-open"},
            }
        )
    traces.append(
        {
            "type": "scatter",
            "name": "Weighted pipeline",
            "x": xa,
            "y": [r["weighted_pipeline"] for r in ahead],
            "mode": "lines+markers",
            "line": {"color": "#ff7f0e", "dash": "dash"},
        }
    )
    for method, dash, colour in zip(page.NAIVE_LINES, NAIVE_DASHES, NAIVE_COLOURS, strict=True):
        ys = [r.get(f"naive_{method}") for r in ahead]
        if any(y is not None for y in ys):
            traces.append(
                {
                    "type": "scatter",
                    "name": choice.label_of(method),
                    "x": xa,
                    "y": ys,
                    "mode": "lines+markers",
                    "line": {"color": colour, "dash": dash, "width": 1.5},
                    "marker": {"size": 5},
                }
            )
    if any(r.get("target") is not None for r in rows):
        traces.append(
            {
                "type": "scatter",
                "name": "Target",
                "x": x,
                "y": [r.get("target") for r in rows],
                "mode": "markers",
                "marker": {
                    "symbol": "line-ew",
                    "size": 60,
                    "line": {"color": "#d62728", "width": 3},
                },
            }
        )
    layout = {
        **LAYOUT,
        "yaxis": {"title": {"text": "revenue"}, "tickformat": ",.0f", "rangemode": "tozero"},
        "xaxis": {"type": "category"},
    }
    return {"data": traces, "layout": layout}


def _shown(row: dict[str, Any], which: str) -> Any:
    """The forecast shown for a row (`which`: "" for the point, "p10", "p90"), ours on a row
    built without it."""
    key = f"shown_{which}" if which else "shown"
    return row[key] if key in row else row.get(which or "expected")


def _said(method: str | None, row: dict[str, Any], wape_key: str) -> str:
    """A point's hover: the method and its past WAPE at the row's horizon, where known."""
    name = method or choice.LABELS[choice.MODEL]
    wape = row.get(wape_key)
    if wape is None:
        return f"{name} (no past error yet)"
    weeks = row.get("shown_horizon_weeks")
    ahead = f" {weeks} weeks ahead" if weeks is not None else ""
    return f"{name}, past WAPE {pct(wape)}{ahead}"


def funnel_figure(fn: page.Section) -> dict[str, Any]:
    """Deals created in the period reaching each stage of its funnel, with the conversion
    onwards (of the deals that left the stage) and how many are still in it; the last step is
    those of them won (`won_of_created`), not the deals won in the period (the tiles' count)."""
    row = fn.data["row"]  # type: ignore[index]
    steps = row["funnel"]
    names = [s["stage"] for s in steps] + [steps[-1]["next_stage"] if steps else "Won"]
    values = [s["reached"] for s in steps] + [row["won_of_created"]]
    text = [
        f"{s['reached']:,} · {pct(s['conversion'])} on · {s['still_in_stage']:,} still in"
        for s in steps
    ] + [f"{row['won_of_created']:,} won"]
    trace = {
        "type": "funnel",
        "y": names,
        "x": values,
        "text": text,
        "textinfo": "text",
        "marker": {"color": "#1f77b4"},
    }
    return {
        "data": [trace],
        "layout": {
            **LAYOUT,
            "height": 60 + 55 * len(names),
            "margin": {"l": 110, "r": 20, "t": 10, "b": 20},
        },
    }


def figure_json(figure: dict[str, Any]) -> str:
    """A figure as JSON safe to place inside `<script type="application/json">`: `<`, `>` and
    `&` escaped, so a stage or period name holding `</script>` cannot end the element."""
    text = json.dumps(figure)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def waterfall_figure(line: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The pipeline waterfall: the start, each bar (up or down) and the end. `line`:
    `Waterfall.to_dict()`; a bar's label is what a click opens the deals of."""
    from forecast.waterfall import BARS

    x = ["Start", *(labels[b] for b, _ in BARS), "End"]
    y = [line["start"], *(s * line[b] for b, s in BARS), line["end"]]
    return {
        "data": [
            {
                "type": "waterfall",
                "x": x,
                "y": y,
                "measure": ["absolute", *("relative" for _ in BARS), "total"],
                "customdata": ["start", *(b for b, _ in BARS), "end"],
                "connector": {"line": {"color": "#bbb"}},
                "increasing": {"marker": {"color": "#2e7d32"}},
                "decreasing": {"marker": {"color": "#c62828"}},
                "totals": {"marker": {"color": "#35617a"}},
                "hovertemplate": "%{x}: %{y:,.0f}<extra></extra>",
            }
        ],
        "layout": {**LAYOUT, "showlegend": False, "hovermode": "closest"},
    }


def history_figure(points: list[dict[str, Any]], target: float | None) -> dict[str, Any]:
    """The forecast over time: as it stood on each tracked date, its P10–P90 band, won to date,
    the reps' own call (Σ amount × probability, and Commit) where it was known, and the target;
    how revenue teams read a quarter."""
    x = [p["as_of"] for p in points]
    traces: list[dict[str, Any]] = [
        *band(x, [p["p10"] for p in points], [p["p90"] for p in points]),
        {
            "type": "scatter",
            "name": "Forecast then",
            "x": x,
            "y": [p["expected"] for p in points],
            "mode": "lines+markers",
            "line": {"color": "#1f77b4", "width": 3},
        },
        {
            "type": "scatter",
            "name": "Won to date",
            "x": x,
            "y": [p["won_so_far"] for p in points],
            "mode": "lines+markers",
            "line": {"color": "#2e7d32"},
        },
    ]
    for key, name, dash in (("rep_call", "Reps' call", "dot"), ("rep_commit", "Commit", "dashdot")):
        if any(p.get(key) is not None for p in points):  # only dates whose calls were known
            traces.append(
                {
                    "type": "scatter",
                    "name": name,
                    "x": x,
                    "y": [p.get(key) for p in points],
                    "mode": "lines+markers",
                    "connectgaps": False,
                    "line": {"color": "#6a1b9a", "dash": dash},
                }
            )
    if target is not None:
        traces.append(
            {
                "type": "scatter",
                "name": "Target",
                "x": [x[0], x[-1]],
                "y": [target, target],
                "mode": "lines",
                "line": {"color": "#c62828", "dash": "dash"},
            }
        )
    return {"data": traces, "layout": {**LAYOUT, "xaxis": {"type": "date"}}}


#: The forecast waterfall's bars as the dashboard names them (`forecast_waterfall.BARS`).
MOVE_LABELS = {
    "won": "Won",
    "lost": "Lost",
    "won_before_period": "Won before the period",
    "lost_before_period": "Lost before the period",
    "slipped": "Slipped out",
    "new_deals": "New deals",
    "amount_changes": "Amount changes",
    "probability_changes": "Probability changes",
    "not_yet_created": "Deals not yet created",
}


def move_bars(moved: dict[str, Any]) -> dict[str, float]:
    """Each bar's change, in the dashboard's order; 0 for a bar a run stored before it existed
    lacks (such a run counted its deals in another bar, so its bars still add up)."""
    return {b: float(moved["bars"].get(b, 0.0)) for b in MOVE_LABELS}


def forecast_moves_figure(moved: dict[str, Any]) -> dict[str, Any]:
    """Why the forecast moved: the forecast then, each bar, the forecast now
    (`ForecastWaterfall.to_dict()`, or one stored by an earlier version)."""
    changes = move_bars(moved)
    bars = list(changes)
    x = [f"Forecast {moved['from']}", *(MOVE_LABELS[b] for b in bars), f"Forecast {moved['to']}"]
    y = [moved["expected_from"], *changes.values(), moved["expected_to"]]
    return {
        "data": [
            {
                "type": "waterfall",
                "x": x,
                "y": y,
                "measure": ["absolute", *("relative" for _ in bars), "total"],
                "connector": {"line": {"color": "#bbb"}},
                "increasing": {"marker": {"color": "#2e7d32"}},
                "decreasing": {"marker": {"color": "#c62828"}},
                "totals": {"marker": {"color": "#35617a"}},
                "hovertemplate": "%{x}: %{y:,.0f}<extra></extra>",
            }
        ],
        "layout": {
            **LAYOUT,
            "showlegend": False,
            "hovermode": "closest",
            "margin": {**LAYOUT["margin"], "b": 110, "r": 70},  # the slanted names in full
            "height": 400,
        },
    }
