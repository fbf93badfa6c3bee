"""The tables the forecast commands print: the revenue forecast by group, and the backtest per
horizon, per period, overall and per rep (rich tables from the commands' JSON-ready dicts)."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.table import Table

from forecast.formatting import as_of_said


def money(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:,.0f}"


def pct(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.1%}"


def _lead_reach(data: dict[str, Any]) -> dict[str | None, Any] | None:
    """Per line (the groups by name, `None` for the total), the P(target) of the forecast users
    get, where another method than ours is it and some line has a target; else None."""
    lead = data.get("headline")
    if not lead or lead.get("method") == "model":
        return None
    reach: dict[str | None, Any] = {None: lead.get("p_target")}
    reach.update({g: v.get("p_target") for g, v in (lead.get("groups") or {}).items()})
    return reach if any(v is not None for v in reach.values()) else None


def target_text(lead: dict[str, Any], total: dict[str, Any]) -> str:
    """The total's chance to reach its target by the forecast users get beside ours', where
    another method than ours is it (ours' alone is in the table); "" otherwise."""
    if lead.get("method") == "model" or lead.get("target") is None:
        return ""
    reach = lead.get("p_target")
    by = (
        f"{pct(reach)} by {lead['label']} (read off its P10/P50/P90)"
        if reach is not None
        else f"not measurable by {lead['label']} (no range)"
    )
    return (
        f"P(reach target {money(lead['target'])}): [bold]{by}[/]; "
        f"{pct(total.get('p_target'))} by our model (its own distribution)"
    )


def actual_text(data: dict[str, Any]) -> str | None:
    """What the period won beside what was forecast as of an earlier date, in one line (None
    where the data knows no more than the forecast did)."""
    actual = data.get("actual")
    if actual is None:
        return None
    won = actual["total"]
    span = "the whole period" if actual["complete"] else "so far: the data ends there"
    said = [f"{data['period']['label']} won {money(won)} (to {actual['through']}, {span})"]
    lead = data.get("headline")
    shown = [("ours", data["total"]["expected"])]
    if lead is not None and lead["method"] != "model":
        shown.append((lead["label"], lead.get("forecast")))
    for name, value in shown:
        if value is None:
            continue
        made = f"{name} forecast {money(value)} for the whole period as of {data['as_of']}"
        if actual["complete"] and won > 0:  # a part of the period is no measure of the whole
            off = value / won - 1
            made += f", {abs(off):.0%} {'above' if off > 0 else 'below'} it"
        said.append(made)
    return "; ".join(said)


def revenue_table(data: dict[str, Any]) -> Table:
    """The forecast as managers read it: one line per group, then the total; where another
    method than ours is what users get, its P(target) beside ours'."""
    per = data["period"]
    table = Table(
        title=f"Revenue forecast {per['label']} ({per['start']} – {per['end']}), "
        f"as of {as_of_said(data['as_of'])}"
        + (f", in {data['currency']}" if data.get("currency") else ""),
        box=box.SIMPLE_HEAD,
    )
    heads = [
        data["by"] or "scope",
        "open deals",
        "won so far",
        "expected",
        "from pipeline",
        "new deals",
        "P10",
        "P50",
        "P90",
        "weighted pipeline",
        "target",
        "P(target)",
    ]
    reach = _lead_reach(data)
    if reach is not None:
        heads[-1] = "P(target) ours"
        heads.append("P(target) chosen")
    actual = data.get("actual")
    if actual is not None:  # what the period won, as the data knows it now
        heads.insert(4, "won (actual)")
    for i, h in enumerate(heads):
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    rows = data["groups"] + [data["total"]]
    won: list[list[str]] = [
        [] for _ in rows
    ]  # the "won (actual)" cell of each row, where there is one
    if actual is not None:
        won = [[money(actual["groups"].get(g["group"], 0.0))] for g in data["groups"]]
        won.append([money(actual["total"])])
    for i, g in enumerate(rows):
        style = "bold" if i == len(rows) - 1 else None
        more = []
        if reach is not None:
            more = [pct(reach.get(None if i == len(rows) - 1 else g["group"]))]
        table.add_row(
            g["group"],
            f"{g['deals']:,}",
            money(g["won_so_far"]),
            money(g["expected"]),
            *won[i],
            money(g["expected_pipeline"]),
            money(g["expected_new"]),
            money(g["p10"]),
            money(g["p50"]),
            money(g["p90"]),
            money(g["weighted_pipeline"]),
            money(g["target"]),
            pct(g["p_target"]),
            *more,
            style=style,
            end_section=i == len(rows) - 2,
        )
    table.caption = (
        f"method: {data['method']}; range: exact convolution of deal outcomes; "
        "weighted pipeline: amount × stage win rate, no timing"
    )
    if reach is not None:
        table.caption += (
            f"; P(target) chosen: by {data['headline']['label']}, the forecast users get, "
            "read off its P10/P50/P90"
        )
    return table


def past_accuracy_text(past: dict[str, Any]) -> str:
    """How far the forecast shown, and ours, were off at this horizon before (the track record's
    `past_accuracy`): one line a manager reads beside the forecast."""
    shown, ours, method = past.get("shown"), past.get("model"), past.get("method")
    if shown is not None and ours is not None and shown["method"] == ours["method"]:
        ours = None  # ours is what is shown
    first = method or shown or ours or {}
    parts = []
    shown_is_ours = shown is not None and shown["method"] == "model"
    who_shown = "ours" if shown_is_ours else "as users saw it (chosen at each past date)"
    named = f"{method['label']} (shown now)" if method else ""
    for who, p in ((named, method), (who_shown, shown), ("ours", ours)):
        if p is None:
            continue
        text = f"{who} was off by a median {pct(p['median_ape'])} (WAPE {pct(p['wape'])}"
        if p is first:  # the choice weighs recent windows more: these figures do not
            text += ", every window alike"
        if p is not first and (p["n"], p["horizon_weeks_used"]) != (
            first["n"],
            first["horizon_weeks_used"],
        ):
            text += f", {p['n']} forecasts {_ahead(p)}"
        text += ")"
        cov = p.get("coverage")
        if cov and cov["n"]:
            text += f", its P10–P90 held the actual in {_share_text(cov)}"
        parts.append(text)
    return (
        f"Past accuracy {_ahead(first)}, over {first.get('n')} forecasts whose windows ended by "
        f"{first.get('windows_ended_by')}: " + "; ".join(parts)
    )


def _ahead(p: dict[str, Any]) -> str:
    used = p["horizon_weeks_used"]
    text = f"{used} week{'s' if used != 1 else ''} ahead"
    if used != p["horizon_weeks"]:
        asked = p["horizon_weeks"]
        text += (
            f" (the nearest to {asked} week{'s' if asked != 1 else ''} ahead with enough past "
            "forecasts)"
        )
    return text


METHOD_LABELS = {
    "model": "ours",
    "weighted_pipeline": "weighted pipeline",
    "stage_km": "per-stage close-time baseline",
    "run_rate": "run rate (recent won)",
    "last_period": "last period",
    "last_year": "same period last year",
    "model_recalibrated": "ours recalibrated on its past errors",
    "chosen": "chosen by past error",
}
#: Said of a method scored beside the others but never a forecast users get (`_scored_only`).
NOT_CANDIDATE = " (scored only)"


def _scored_only(method: str, horizon_weeks: int) -> bool:
    """Never shown: a baseline no served forecast makes (`backtest.SCORED_ONLY`), or a forecast
    of the open pipeline alone for a window that does not start at the forecast's date
    (`choice.PIPELINE_ONLY`)."""
    from forecast.forecasting.backtest import SCORED_ONLY
    from forecast.forecasting.choice import PIPELINE_ONLY

    return method in SCORED_ONLY or (method in PIPELINE_ONLY and horizon_weeks > 0)


def horizon_tables(scores: list[dict[str, Any]], title: str) -> list[Table]:
    """One table per horizon: each method's WAPE and bias; ours: pinball loss, P10–P90 coverage
    with its count and 95% Wilson interval, and how often it beat the best naive forecast."""
    tables = []
    for entry in scores:
        h = entry["horizon_weeks"]
        table = Table(
            title=f"{title}: {h} week{'s' if h != 1 else ''} ahead, {entry['forecasts']} forecasts",
            box=box.SIMPLE_HEAD,
        )
        for head in ("method", "n", "WAPE", "bias", "pinball P10", "pinball P50", "pinball P90"):
            table.add_column(head, justify="left" if head == "method" else "right")
        for key, label in METHOD_LABELS.items():
            m = entry.get("methods", {}).get(key)
            if not m:
                continue
            scored_only = _scored_only(key, h)
            table.add_row(
                label + (NOT_CANDIDATE if scored_only else ""),
                str(m["n"]),
                pct(m["wape"]),
                pct(m["bias"]),
                money(m.get("pinball_p10")),
                money(m.get("pinball_p50")),
                money(m.get("pinball_p90")),
            )
        beat = entry.get("beats_best_naive")
        caption = []
        for key, who in (
            ("coverage_p10_p90", "ours (model range)"),
            ("coverage_p10_p90_empirical", "ours (range from its past errors)"),
            ("coverage_p10_p90_chosen", "chosen"),
        ):
            cov = entry.get(key)
            if cov and cov["n"]:
                caption.append(f"{who}: actual inside P10–P90 in {_share_text(cov)}")
        if beat and beat["n"]:
            caption.append(f"ours beat the best naive forecast in {_share_text(beat)}")
        if entry.get("chosen_methods"):
            used = ", ".join(f"{_method_said(m)} {k}" for m, k in entry["chosen_methods"].items())
            caption.append(f"chosen (from earlier windows only): {used}")
        if any(_scored_only(k, h) for k in entry.get("methods", {})):
            caption.append(
                "scored only: never the forecast users get (the per-stage baseline is not made "
                "for a served forecast; the weighted pipeline forecasts only a window that starts "
                "on the forecast's date)"
            )
        table.caption = "; ".join(caption) or None
        tables.append(table)
    return tables


def _method_said(method: str) -> str:
    if method.startswith("model+"):
        return "mean of ours and " + METHOD_LABELS.get(method[6:], method[6:])
    return METHOD_LABELS.get(method, method)


def chosen_now_table(now: list[dict[str, Any]], dataset: str) -> Table | None:
    """What the record chooses at its end, per horizon: the forecast `forecast revenue` and the
    API would lead with, and why."""
    if not now:
        return None
    table = Table(
        title=f"What users get now ({dataset}, as of {now[0]['as_of']})", box=box.SIMPLE_HEAD
    )
    for head in ("ahead", "method", "why"):
        table.add_column(head, justify="left", overflow="fold")
    for c in now:
        said = _method_said(c["method"]) if c["method"] else "not chosen yet"
        table.add_row(f"{c['horizon_weeks']} w", said, c["reason"])
    return table


def _share_text(share: dict[str, Any]) -> str:
    lo, hi = share["wilson_95"]
    return (
        f"{share['hits']} of {share['n']} ({pct(share['share'])}, 95% Wilson {pct(lo)}–{pct(hi)})"
    )


def coverage_table(data: dict[str, Any]) -> Table | None:
    """P10–P90 coverage over every horizon's forecasts: ours with its model's range, ours with
    the range of its past errors, the chosen forecast; headline and sealed check apart."""
    rows: list[tuple[str, dict[str, Any]]] = [
        (name, c)
        for name, c in (
            ("headline", data.get("coverage")),
            ("sealed check", data.get("sealed_coverage")),
        )
        if c
    ]
    if not rows:
        return None
    table = Table(title="P10–P90 coverage over all horizons (target 70–90%)", box=box.SIMPLE_HEAD)
    for head in ("forecasts", "ours, model range", "ours, range from past errors", "chosen"):
        table.add_column(head, justify="left" if head == "forecasts" else "right")
    for name, c in rows:
        table.add_row(
            name,
            *[
                _share_text(c[k]) if c.get(k) and c[k]["n"] else "none"
                for k in ("model", "model_empirical", "chosen")
            ],
        )
    table.caption = (
        "range from past errors: P10/P90 = forecast × the spread of actual/forecast over "
        "windows ended by the origin, at the same horizon"
    )
    return table


def backtest_tables(data: dict[str, Any]) -> list[Table]:
    """Per period (calendar periods only), per horizon and overall: our forecast, the weighted
    pipeline and the naive forecasts against the actual; the sealed check apart."""
    tables = []
    if data.get("horizon_scores"):
        tables += horizon_tables(data["horizon_scores"], f"Backtest ({data['dataset']})")
    if data.get("sealed_check"):
        tables += horizon_tables(
            data["sealed_check"], f"Sealed check from {data['sealed_from']}, not in the above"
        )
    coverage = coverage_table(data)
    if coverage is not None:
        tables.append(coverage)
    now = chosen_now_table(data.get("chosen_now") or [], data["dataset"])
    if now is not None:
        tables.append(now)
    if data.get("every", "period") != "period":
        return tables
    periods = Table(title=f"Backtest by {data['freq']} ({data['dataset']})", box=box.SIMPLE_HEAD)
    for h in (
        "period",
        "actual",
        "ours",
        "error",
        "P10",
        "P90",
        "in range",
        "weighted pipeline",
        "error",
        "stage KM",
        "error",
    ):
        periods.add_column(h, justify="left" if h == "period" else "right")
    skipped = []
    for p in data["periods"]:
        if p["status"] != "ok":
            skipped.append(f"{p['period']} skipped: {p['reason']}")
            continue
        m = p["methods"]

        def cell(name: str, key: str, m: dict = m) -> str:
            e = m.get(name)
            if not e:
                return ""
            return money(e[key]) if key != "pct_error" else pct(e[key])

        periods.add_row(
            p["period"] + (f" (h={p['horizon_weeks']}w)" if p.get("horizon_weeks") else ""),
            money(p["actual"]),
            cell("model", "forecast"),
            cell("model", "pct_error"),
            money(p["p10"]),
            money(p["p90"]),
            "yes" if p["in_p10_p90"] else "no",
            cell("weighted_pipeline", "forecast"),
            cell("weighted_pipeline", "pct_error"),
            cell("stage_km", "forecast"),
            cell("stage_km", "pct_error"),
        )
    periods.caption = "\n".join(skipped) or None
    tables.insert(0, periods)
    overall = data["overall"]
    summary = Table(title="Overall", box=box.SIMPLE_HEAD)
    for h in ("forecast", "WAPE", "bias", "mean abs error"):
        summary.add_column(h, justify="left" if h == "forecast" else "right")
    for key, label in (
        ("model", "ours"),
        ("weighted_pipeline", "weighted pipeline"),
        ("stage_km", "per-stage close-time baseline"),
    ):
        if key in overall:
            o = overall[key]
            summary.add_row(label, pct(o["wape"]), pct(o["bias"]), money(o["mean_abs_error"]))
    summary.caption = (
        f"{overall.get('periods_scored', 0)} of {overall.get('periods', 0)} "
        f"periods scored; actual inside P10–P90: "
        f"{pct(overall.get('coverage_p10_p90'))}"
    )
    if "groups" in overall:
        g = overall["groups"]
        summary.caption += (
            f"; per {data['by']}: {g['forecasts']} forecasts, WAPE "
            f"{pct(g['wape_model'])} vs weighted pipeline "
            f"{pct(g.get('wape_weighted_pipeline'))}, inside P10–P90 "
            f"{pct(g['coverage_p10_p90'])}"
        )
    tables.append(summary)
    if data.get("reps"):
        reps = Table(
            title="Reps' own calls vs the model on the same open deals: error and bias "
            "per period (mean); actual: total",
            box=box.SIMPLE_HEAD,
        )
        cols = [("rep", None), ("actual", "actual")]
        for call, label in (
            ("model", "model"),
            ("rep_call", "rep p"),
            ("commit", "Commit"),
            ("best_case", "Commit+BC"),
        ):
            if f"{call}_bias" in data["reps"][0]:
                cols += [
                    (f"{label} error", f"{call}_mean_abs_error"),
                    (f"{label} bias", f"{call}_bias"),
                ]
        for label, _ in cols:
            reps.add_column(label, justify="left" if label == "rep" else "right")
        for r in data["reps"]:
            reps.add_row(r["rep"], *[money(r[k]) for _, k in cols[1:]])
        reps.caption = (
            "rep p: Σ amount × rep's probability over deals the rep expected to "
            "close in the period; BC: Best Case. bias = forecast − actual: > 0 "
            "optimistic, < 0 sandbagging"
        )
        tables.append(reps)
    return tables
