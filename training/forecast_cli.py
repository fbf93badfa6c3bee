"""`forecast revenue`, `forecast backtest` and `forecast timing`: the revenue forecast commands.

One typer app, `forecast_app`, whose commands are meant to be mounted at the top level of the
`forecast` CLI. The logic lives in `forecast.forecasting.revenue`, `forecast.forecasting.backtest`,
`forecast.timing` and `forecast.modeling.registry` (MLflow); this module reads options and prints
tables (`training.forecast_tables`) or JSON.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from forecast.errors import InvalidInput
from forecast.formatting import moment
from forecast.groups import GroupBy
from forecast.settings import Settings, get_settings
from training.console import (
    console,
    err_console,
    handles_errors,
    print_json,
    print_notes,
    stderr_progress,
)
from training.data_arg import given_path
from training.forecast_tables import (
    actual_text,
    backtest_tables,
    money,
    past_accuracy_text,
    pct,
    revenue_table,
    target_text,
)

forecast_app = typer.Typer(
    help="Revenue forecast, backtests and the time-to-close model",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class Freq(StrEnum):
    month = "month"
    quarter = "quarter"


class Every(StrEnum):
    period = "period"
    week = "week"


class TrackEvery(StrEnum):
    day = "day"
    week = "week"


DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data", help="A path to an export file or folder, or a dataset name in the store"
    ),
]
DatasetOpt = Annotated[
    str | None, typer.Option("--dataset", "-d", help="Dataset in the store (default: the only one)")
]
MappingOpt = Annotated[
    str | None,
    typer.Option(help="Built-in mapping name or YAML file, for a path (default: detect)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="local (a LocalCluster on this machine) or a Dask scheduler address "
        "tcp://HOST:8786 (default: FORECAST_DASK_SCHEDULER, else in process)",
    ),
]


IncludeLeaksOpt = Annotated[
    bool,
    typer.Option(
        "--include-leaks",
        help="Keep fields the export-state leak check leaves out (fields whose "
        "blankness or values give away which deals were open at the export)",
    ),
]


def _load(
    data: str | None, mapping: str | None, settings: Settings, include_leaks: bool = False
) -> dict[str, Any]:
    from training.data_arg import check_not_a_path
    from training.models_cli import Kind, load_training_data

    check_not_a_path(data, settings)
    loaded = load_training_data(data, mapping, Kind.deals, settings)
    if include_leaks:
        loaded["history"] = loaded["history"].keeping_all()
    return loaded


def _parse_targets(values: list[str] | None) -> dict[str, float] | None:
    """`--target 250000` (the total) or `--target "Team East=250000"` (a group), each amount
    bounded as a stored target's is (`targets.target_amount`)."""
    from forecast.forecasting.targets import target_amount

    if not values:
        return None
    out: dict[str, float] = {}
    for raw in values:
        group, sep, amount = raw.rpartition("=")
        key = group.strip() if sep else "total"
        try:
            out[key] = target_amount(amount)
        except InvalidInput as exc:
            raise InvalidInput(f"--target {raw!r}: {exc} (give AMOUNT or GROUP=AMOUNT)") from None
    return out


@forecast_app.command("revenue")
@handles_errors
def revenue(
    period: Annotated[str, typer.Option(help="2017 (year), 2017-Q3 (quarter) or 2017-07 (month)")],
    by: Annotated[
        GroupBy | None, typer.Option(help="One line per team, rep, product or region")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Forecast as of this date (default: the period start if it is over, else "
            "now: today, or the day after the data ends)",
        ),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="Target: AMOUNT for the total, or GROUP=AMOUNT (repeatable), in place of the "
            "stored targets (`forecast targets`), which are shown otherwise"
        ),
    ] = None,
    dataset: DatasetOpt = None,
    data: DataOpt = None,
    mapping: MappingOpt = None,
    no_new_deals: Annotated[
        bool, typer.Option("--no-new-deals", help="Leave out deals not yet created")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Expected won revenue for a period, with its range and the chance to hit targets.

    Per group: expected won revenue (open deals, plus deals not yet created as a separate line),
    P10/P50/P90, the weighted pipeline beside it and P(target) for each stored target of the
    period (`forecast targets import`), as `GET /v1/forecast` gives. Models are fitted on what was
    known at the as-of date; a stored dataset's tracked forecast (`forecast track`) is read
    instead while nothing it was made from changed.
    """
    settings = get_settings()
    if dataset and data:
        raise InvalidInput("give --dataset or --data, not both")
    stored = _stored(data or dataset, period, by, as_of, target, no_new_deals, settings)
    if stored is not None:
        _print_revenue(stored, json_)
        return
    from forecast.data import store
    from forecast.forecasting.service import forecast_against_targets  # models: read only now

    loaded = _load(data or dataset, mapping, settings)
    given = _parse_targets(target)
    if given is None and not loaded.get("stored"):
        given = {}  # a file's data: the store holds no targets for it
    # The API's call (`GET /v1/forecast`), so both show the same targets: a stored dataset's
    # own, unless --target gives others.
    result = forecast_against_targets(
        store.get_engine(settings),
        period,
        by=by.value if by else None,
        as_of=as_of,
        include_new_deals=not no_new_deals,
        settings=settings,
        history=loaded["history"],
        targets=given,
    )
    _print_revenue(result.to_dict(), json_)


def _stored(
    data: str | None,
    period: str,
    by: GroupBy | None,
    as_of: str | None,
    target: list[str] | None,
    no_new_deals: bool,
    settings: Settings,
) -> dict[str, Any] | None:
    """The tracked forecast of a stored dataset that answers this command (`forecast track`,
    the server's schedule), or None: compute it. Targets given here are not the stored ones."""

    from forecast.data import store
    from forecast.forecasting.stored_forecasts import find

    if target or given_path(data, settings) is not None:
        return None
    return find(
        store.get_engine(settings),
        period,
        dataset=data,
        by=by.value if by else None,
        as_of=as_of,
        include_new_deals=not no_new_deals,
        settings=settings,
    )


def _print_revenue(document: dict[str, Any], json_: bool) -> None:
    """A forecast as `GET /v1/forecast` gives it (tracked or computed), for people or scripts."""
    if json_:
        print_json(document)
        return
    if document.get("stored"):
        err_console.print(
            f"[dim]the forecast tracked on {document['stored']['as_of']} "
            f"(run at {moment(document['stored']['run_at'])}): the data has not changed since[/]"
        )
    lead, past = document["headline"], document["past_accuracy"]
    if lead is not None:
        choice = lead["choice"]
        shown = (
            f"[bold]{lead['label']}[/]: {money(lead['forecast'])} "
            f"(P10–P90 {money(lead['p10'])} – {money(lead['p90'])})"
        )
        if choice["wape"] is None:  # nothing compared yet: ours stands, the reason says why
            console.print(f"{shown}: {choice['reason']}")
        else:
            ours = f", ours {pct(choice['model_wape'])}" if lead["method"] != "model" else ""
            console.print(
                f"{shown}, the most accurate on this dataset's track record "
                f"{choice['horizon_weeks_used']} weeks ahead: WAPE {pct(choice['wape'])} over "
                f"{choice['n']} past forecasts (recent windows weigh more){ours}"
            )
        reach = target_text(lead, document["total"])
        if reach:
            console.print(reach)
    if past is not None:
        console.print(past_accuracy_text(past))
    console.print(revenue_table(document))
    said = actual_text(document)
    if said:
        console.print(said)
    print_notes(document["notes"])


@forecast_app.command("backtest")
@handles_errors
def backtest_cmd(
    data: DataOpt = None,
    freq: Annotated[Freq, typer.Option(help="Forecast each past month or quarter")] = Freq.quarter,
    start: Annotated[
        str | None, typer.Option("--from", help="First period (date or 2017-01 / 2017-Q1)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last period (date or 2017-12 / 2017-Q4)")
    ] = None,
    by: Annotated[
        GroupBy | None, typer.Option(help="Also score each team, rep, product or region")
    ] = None,
    mapping: MappingOpt = None,
    every: Annotated[
        Every,
        typer.Option(
            help="period: each calendar period; week: rolling windows of the period's length "
            "starting every Monday (dozens of forecasts per horizon)"
        ),
    ] = Every.week,
    horizons: Annotated[
        str | None,
        typer.Option(
            help="Weeks before each window starts to forecast it, comma-separated "
            "(default: 0,4,8,13 with --every week; 0 with --every period)"
        ),
    ] = None,
    export_date: Annotated[
        str | None,
        typer.Option(
            "--export-date",
            help="When the data was exported (default: its newest updated_at); windows "
            "ending after it are not scored",
        ),
    ] = None,
    sealed: Annotated[
        int | None,
        typer.Option(
            help="Last complete periods scored apart as a sealed check, outside the headline "
            "figures (default: 2 with --every week, 0 with --every period)"
        ),
    ] = None,
    refit_weeks: Annotated[
        int,
        typer.Option(
            "--refit-weeks",
            help="Refit the models once the last fit is this many weeks old (1: at every "
            "origin); in between, the last fit forecasts each origin's pipeline. 4 replays "
            "a monthly retraining and takes about a quarter of the time on large data",
        ),
    ] = 1,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Log the run to MLflow")] = True,
    replace_record: Annotated[
        bool,
        typer.Option(
            "--replace-record",
            help="Replace the dataset's track record even with a narrower run (fewer horizons "
            "or forecasts than the record holds)",
        ),
    ] = False,
    include_leaks: IncludeLeaksOpt = False,
    cluster: ClusterOpt = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Print a line to stderr as each origin is fitted, with the time so far "
            "(default: when stderr is a terminal); stdout and --json are the same either way",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Replay history: forecast past windows at several horizons and compare with what was won.

    Each window is forecast h weeks before it starts with models fitted only on what was known
    then (one fit per origin); the weighted pipeline, the per-stage baseline and naive forecasts
    (run rate, last period, same period last year) get the same origin. Prints (and logs to
    MLflow) per horizon WAPE, bias, pinball loss, P10–P90 coverage with its Wilson interval and
    how often ours beat the best naive forecast; scores reps' own calls where the data has them.
    Adds "chosen by past error": at each origin, the method (or mean of ours and a naive one)
    with the lowest WAPE over windows ended by then, with the range of its past errors; and
    coverage of ours with such a range beside its model's. With `--cluster`, the origins are
    fitted and forecast as tasks on a Dask cluster (the same results).
    """
    from forecast.cluster import dask_client
    from forecast.forecasting.backtest import backtest
    from training.training_data import partitioned_deals

    steps = _parse_horizons(horizons)
    settings = get_settings()
    show = sys.stderr.isatty() if progress is None else progress
    # The lines replace the spinner: a live spinner on the same terminal would garble them.
    quiet = json_ or show
    status = console.status("backtesting", spinner="dots") if not quiet else nullcontext()
    tick = stderr_progress() if show else None
    if tick:
        tick("loading the data")
    with status, dask_client(cluster) as client:
        source = partitioned_deals(client, data) if client is not None else None
        if source is not None:
            loaded = _summary_of(source, data, include_leaks)
        else:
            loaded = _load(data, mapping, settings, include_leaks)
        report = backtest(
            loaded["history"],
            freq=freq.value,
            start=start,
            end=end,
            by=by.value if by else None,
            settings=settings,
            dataset=loaded["dataset"],
            horizons=steps,
            every=every.value,
            export_date=export_date,
            sealed=sealed,
            refit_weeks=refit_weeks,
            client=client,
            source=source,
            progress=tick,
        )
    run_id = None
    if log:
        from forecast.modeling.registry import log_backtest
        from training.models_cli import _quiet_mlflow
        from training.run_data import replayed

        if tick:
            tick("logging the run to MLflow")
        _quiet_mlflow()
        replay, digest = replayed(loaded, data, source)  # the data, as a deals run logs it
        run_id = log_backtest(report, settings, data=replay, fingerprint=digest)
    kept, why_not = keep_track_record(
        report, freq.value, settings, stored=bool(loaded.get("stored")), replace=replace_record
    )
    out = report.to_dict()
    if json_:
        print_json(
            {
                **out,
                "mlflow_run_id": run_id,
                "track_record_saved": kept,
                "track_record_note": why_not or None,
            }
        )
        return
    for table in backtest_tables(out):
        console.print(table)
    print_notes(report.notes)
    if run_id:
        console.print(f"logged to MLflow: run {run_id}")
    if why_not:
        console.print(why_not)
        return
    console.print(record_kept_note(report.dataset, report.forecast_table(), out))


def record_kept_note(dataset: str, table: Any, out: dict[str, Any]) -> str:
    """What keeping the track record does for users: the past forecasts kept (each with every
    method's figure), and whether the record already chooses what users get or not yet."""
    forecasts = len(table[["origin", "horizon_weeks", "window"]].drop_duplicates())
    methods = table["method"].nunique()
    kept = f"track record of {dataset} kept: {forecasts:,} past forecasts ({methods} methods each)"
    if any(c.get("method") for c in out.get("chosen_now") or []):
        return (
            f"{kept}; `forecast revenue` and the API now lead with the method most accurate on it"
        )
    return (
        f"{kept}; no method is chosen by it yet (see 'What users get now'): `forecast revenue` "
        "and the API lead with the most accurate one once enough of its windows have ended"
    )


def _summary_of(source: Any, data: str | None, include_leaks: bool) -> dict[str, Any]:
    """What `_load` gives, for a dataset read by partition: its summary as the history."""
    from forecast.parquet_export import is_parquet_export

    history = source.summary.keeping_all() if include_leaks else source.summary
    path = given_path(data)
    stored = not (path is not None and is_parquet_export(path))
    return {"history": history, "dataset": history.name, "stored": stored}


def keep_track_record(
    report: Any, freq: str, settings: Settings, *, stored: bool, replace: bool
) -> tuple[int, str]:
    """Save the backtest's forecasts as the dataset's track record (`forecasting.track_record`),
    replacing the one before for this frequency, where `record_keeping` says it may: the count
    saved, or 0 and why not."""
    from forecast.data import store
    from forecast.forecasting import track_record
    from forecast.forecasting.record_keeping import keeping

    table = report.forecast_table()
    engine = store.get_engine(settings)
    kept = track_record.load(engine, report.dataset, freq) if stored else table.iloc[:0]
    decision = keeping(table, kept, dataset=report.dataset, stored=stored, replace=replace)
    if not decision.keep:
        return 0, decision.reason
    return track_record.save(engine, report.dataset, freq, table), ""


def _parse_horizons(text: str | None) -> list[int] | None:
    """`--horizons 0,4,8,13` → [0, 4, 8, 13] (the range is checked by the backtest)."""
    if text is None:
        return None
    out = []
    for part in text.split(","):
        try:
            out.append(int(part.strip()))
        except ValueError:
            raise InvalidInput(
                f"--horizons {text!r}: give whole weeks before the window starts, "
                "comma-separated (e.g. 0,4,8,13)"
            ) from None
    return out


@forecast_app.command("timing")
@handles_errors
def timing_cmd(
    data: DataOpt = None,
    mapping: MappingOpt = None,
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Make the new model champion if it wins")
    ] = True,
    include_leaks: IncludeLeaksOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Train the time-to-close model, log it to MLflow, promote it if it wins.

    It is compared with the per-stage close-time baseline (and the champion) on a time holdout:
    share won within 30/60/90 days, predicted vs observed, Brier and concordance.
    """
    from forecast.modeling.registry import NO_DATASET, load_timing_champion, log_training
    from forecast.timing import train_timing
    from training.models_cli import Kind, _quiet_mlflow
    from training.run_data import described

    settings = get_settings()
    loaded = _load(data, mapping, settings, include_leaks)
    _quiet_mlflow()
    # Weighed against this dataset's champion only: each dataset has its own timing model.
    champion = load_timing_champion(settings, dataset=loaded["dataset"] or NO_DATASET)
    result = train_timing(
        loaded["history"],
        settings=settings,
        incumbent=champion[1] if champion else None,
        dataset=loaded["dataset"],
    )
    reg = log_training(
        result,
        settings,
        promote=promote,
        champion_version_scored=champion[0] if champion else None,
        data=described(Kind.deals, loaded, data, None),  # as a deals run's: what it learnt from
    )
    if json_:
        print_json({**result.summary(), "registration": reg.to_dict()})
        return
    table = Table(title=f"time to close: holdout from {result.split['cut']}", box=box.SIMPLE_HEAD)
    horizons = result.split["horizons_days"]
    table.add_column("model", no_wrap=True)
    table.add_column("concordance", justify="right")
    table.add_column("Brier (won)", justify="right")
    for h in horizons:
        table.add_column(f"won ≤{h}d pred/obs", justify="right")
    for name, m in result.metrics.items():
        table.add_row(
            name,
            f"{m['concordance']:.3f}",
            f"{m['brier']:.4f}",
            *[f"{m[f'won_{h}d_predicted']:.3f} / {m[f'won_{h}d_observed']:.3f}" for h in horizons],
        )
    console.print(table)
    console.print(f"{reg.name} v{reg.version} (dataset {reg.dataset}): {reg.decision}")
    for reason in reg.reasons:
        console.print(f"  {reason}")


@forecast_app.command("track")
@handles_errors
def track_cmd(
    dataset: DatasetOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="Track as of this date (default: the data's now)")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Back-fill: every day or week from this date, as forecast then"),
    ] = None,
    every: Annotated[
        TrackEvery, typer.Option(help="With --since: week (Mondays) or day")
    ] = TrackEvery.week,
    freq: Annotated[Freq, typer.Option(help="Forecast periods")] = Freq.quarter,
    json_: JsonOpt = False,
) -> None:
    """Keep the forecast history: the current and next period's forecast, in total and per team
    and rep, stored for the date (a date tracked again is replaced). For cron; the server also
    runs it on a schedule (FORECAST_TRACK_EVERY_HOURS)."""
    from forecast.data import store
    from forecast.forecasting import forecast_runs
    from forecast.history import load_deal_history

    settings = get_settings()
    engine = store.get_engine(settings)
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
    history = load_deal_history(engine, name)
    if since is not None and as_of is not None:
        raise InvalidInput("--since and --as-of: give one (a back-fill, or one date)")
    tracked: list[dict[str, Any]] = []
    if since is not None:
        dates = forecast_runs.backfill_dates(history, since, every=every.value)
        for t in dates:
            n = forecast_runs.track(engine, history, name, t, freq=freq.value, settings=settings)
            tracked.append({"as_of": str(t.date()), "lines": n})
            if not json_:
                err_console.print(f"[dim]{t.date()}: {n} forecast lines[/]")
    else:
        t = history.now() if as_of is None else forecast_runs.date_of(as_of, "--as-of")
        n = forecast_runs.track(engine, history, name, t, freq=freq.value, settings=settings)
        tracked.append({"as_of": str(t.date()), "lines": n})
    if json_:
        print_json({"ok": True, "dataset": name, "tracked": tracked})
        return
    lines = sum(r["lines"] for r in tracked)
    console.print(
        f"forecast history of {name}: {len(tracked)} date(s) tracked, {lines} lines "
        f"(the dashboard and GET /v1/forecast/history read them)"
    )
