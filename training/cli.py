"""`forecast`: the command line. Each command parses its options and calls the library."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from forecast.data import store
from forecast.errors import InvalidInput
from forecast.formatting import moment
from forecast.groups import GroupBy
from forecast.history import load_deal_history
from forecast.settings import Settings, get_settings
from training.console import (
    JsonErrorsGroup,
    console,
    err_console,
    handles_errors,
    print_json,
    print_notes,
)
from training.forecast_cli import forecast_app
from training.models_cli import models_app, train_app
from training.reports import import_json, print_import_report, print_snapshot, snapshot_summary
from training.retrain_cli import retrain
from training.score_cli import score
from training.targets_cli import targets_app

app = typer.Typer(
    help="Lead scoring and sales-pipeline forecasting.",
    cls=JsonErrorsGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class ExportFormat(StrEnum):
    canonical = "canonical"
    hubspot = "hubspot"
    salesforce = "salesforce"
    salesforce_api = "salesforce_api"


class OnError(StrEnum):
    reject = "reject"
    skip = "skip"


DatasetOpt = Annotated[
    str | None, typer.Option("--dataset", "-d", help="Dataset in the store (default: the only one)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]


@app.command("import")
@handles_errors
def import_(
    path: Annotated[Path, typer.Argument(help="Export file or folder (CSV or Parquet)")],
    mapping: Annotated[
        str | None, typer.Option(help="Built-in mapping name or YAML file (default: detect)")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Store under this dataset name")] = None,
    on_error: Annotated[
        OnError, typer.Option(help="reject: write nothing if any row is bad; skip: write the good")
    ] = OnError.reject,
    export_date: Annotated[
        str | None, typer.Option(help="When the export was taken (default: its newest date)")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="First remove what the dataset holds (its deals and their histories, or its "
            "leads; pushes too; the backtest record of the old data), in the same transaction: "
            "to read an export again with a corrected mapping. Models, targets and keys stay; "
            "bad rows reject the import",
        ),
    ] = False,
    track: Annotated[
        bool | None,
        typer.Option(
            "--track/--no-track",
            help="Deals: track the forecast at once, so the API and the dashboard serve it "
            "(default: FORECAST_TRACK_AFTER_IMPORT, on, where the import changed the data)",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Load a CRM export into the store (idempotent; stage changes go to the history)."""
    from forecast.data.importing import import_export
    from forecast.forecasting.forecast_runs import date_of

    settings = get_settings()
    engine = store.get_engine(settings)
    report = import_export(
        engine,
        path,
        mapping,
        dataset=dataset,
        on_error=on_error.value,
        export_date=date_of(export_date, "--export-date") if export_date else None,
        chunk_rows=settings.import_chunk_rows,
        replace=replace,
    )
    # An export imported again unchanged is tracked already (its version kept), unless asked.
    wanted = settings.track_after_import and report.changed if track is None else track
    tracked = _track_import(engine, report.dataset, settings) if wanted else None
    if json_:
        print_json({**import_json(report, ok=True), **({"tracked": tracked} if tracked else {})})
        return
    print_import_report(report, console)
    if tracked is not None:
        err_console.print(f"[dim]forecast tracking: {tracked['message']}[/]")
    elif track is None and settings.track_after_import and not report.changed:
        err_console.print("[dim]forecast tracking: nothing changed, not run again (--track)[/]")


class DraftKind(StrEnum):
    deals = "deals"
    leads = "leads"


@app.command("draft-mapping")
@app.command("draft", hidden=True)  # the name a user tries first
@handles_errors
def draft_mapping_(
    path: Annotated[Path, typer.Argument(help="The export (CSV or Parquet) to draft for")],
    kind: Annotated[
        DraftKind | None, typer.Option(help="What it holds (default: told from its columns)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write it (default: beside it, .mapping.yaml)")
    ] = None,
) -> None:
    """Draft a mapping for an export no built-in mapping knows: its columns matched to the
    fields by name, the stages and outcomes, the date format. Read it, correct it, then import."""
    from forecast.data.importing import read_export
    from forecast.data.mapping import load_mapping
    from forecast.data.mapping_draft import draft_mapping
    from forecast.errors import ForecastError, ImportRejected

    if not path.is_file():
        raise InvalidInput(f"{path}: no such file (give the export file itself)")
    wanted = None if kind is None else "leads" if kind is DraftKind.leads else "opportunities"
    draft = draft_mapping(path, wanted)
    target = out or path.with_name(path.name.split(".")[0] + ".mapping.yaml")
    if target.exists():
        raise InvalidInput(f"{target} exists: give another --out (nothing was written)")
    target.write_text(draft.text, encoding="utf-8")
    # As written: "[subscriber, lead]" is YAML, not console markup.
    console.print(draft.text, markup=False, highlight=False)
    console.print(f"wrote {target}")
    for check in draft.checks:
        console.print(f"  check: {check}", markup=False)
    try:  # what the draft reads as it is, before any correction
        report = read_export(path, load_mapping(target), on_error="skip").report
        assert report is not None
        said = f"{report.rows_read:,} rows read, {report.bad_rows:,} with problems"
        kinds = ", ".join(f"{kind} ({n:,})" for kind, n in report.counts.most_common(3))
        console.print(f"as drafted: {said}" + (f": {kinds}" if kinds else ""))
    except ForecastError as exc:
        console.print(f"as drafted it does not import yet: {exc}", markup=False)
        for note in exc.report.notes if isinstance(exc, ImportRejected) else []:
            console.print(f"  note: {note}", markup=False)  # what would read the rows
    console.print(f"then: forecast import {path} --mapping {target}")


def _datasets(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return set(store.list_datasets(conn))


def _demo_track_record(dataset: str, settings: Settings) -> str:
    """`forecast backtest --data DATASET --refit-weeks 4` as the demo's first run makes it (a
    monthly retraining replayed; every origin refitted takes about twice as long): without a
    track record, nothing says which forecast has been most accurate, nor how far off it was."""
    from forecast.errors import ForecastError
    from forecast.forecasting.backtest import backtest
    from forecast.modeling.registry import log_backtest
    from training.forecast_cli import keep_track_record, record_kept_note
    from training.models_cli import Kind, _quiet_mlflow, load_training_data
    from training.run_data import replayed

    loaded = load_training_data(dataset, None, Kind.deals, settings)
    try:
        report = backtest(
            loaded["history"], settings=settings, dataset=dataset, every="week", refit_weeks=4
        )
    except ForecastError as exc:  # e.g. `forecast demo --deals 50`: too little history
        return f"no track record made: {exc}"
    _quiet_mlflow()
    replay, digest = replayed(loaded, dataset, None)
    log_backtest(report, settings, data=replay, fingerprint=digest)
    kept, why_not = keep_track_record(report, "quarter", settings, stored=True, replace=False)
    return why_not or record_kept_note(dataset, report.forecast_table(), report.to_dict())


def _track_import(engine: Any, dataset: str, settings: Settings) -> dict[str, Any] | None:
    """`forecast track` on the dataset just imported; a dataset too small to forecast is said
    so, and the import stands."""
    from forecast.errors import ForecastError
    from forecast.forecasting import forecast_runs
    from forecast.history import load_deal_history

    with engine.connect() as conn:
        if store.get_dataset(conn, dataset)["kind"] != "opportunities":
            return None
    try:
        history = load_deal_history(engine, dataset)
        lines = forecast_runs.track(engine, history, dataset, settings=settings)
    except ForecastError as exc:
        return {"ok": False, "message": f"not tracked: {exc}"}
    day = history.now().date()
    return {"ok": True, "as_of": str(day), "lines": lines, "message": f"{lines} lines as of {day}"}


@app.command()
@handles_errors
def snapshot(
    as_of: Annotated[str, typer.Option("--as-of", help="Date, e.g. 2017-06-30")],
    dataset: DatasetOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write every deal of the snapshot (CSV)")] = None,
    json_: JsonOpt = False,
) -> None:
    """The pipeline as known at the start of a past date (stage and field histories)."""
    from forecast.forecasting.forecast_runs import date_of

    engine = store.get_engine()
    when = date_of(as_of, "--as-of")
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
    history = load_deal_history(engine, name)
    snap = history.as_of(when)
    rows = snapshot_summary(snap, list(history.stages.all_stages))
    if out:
        snap.to_csv(out, index=False)
    if json_:
        print_json(
            {
                "dataset": name,
                "as_of": str(when.date()),
                "stages": rows,
                "open_deals": int(snap["is_open"].sum()),
                "deals": len(snap),
            }
        )
    else:
        print_snapshot(rows, str(when.date()), console)
        console.print(f"{int(snap['is_open'].sum()):,} open of {len(snap):,} deals created by then")


class PeriodFreq(StrEnum):
    month = "month"
    quarter = "quarter"


@app.command()
@handles_errors
def kpis(
    by: Annotated[GroupBy | None, typer.Option(help="Group the figures")] = None,
    period: Annotated[PeriodFreq | None, typer.Option(help="Split by month or quarter")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Judge 'open' at this date")] = None,
    dataset: DatasetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The pipeline KPIs managers track: funnel, win rate, sale value, cycle, velocity, CSAT."""
    from forecast.date_reach import check_kpi_as_of
    from forecast.kpis import compute_kpis
    from training.kpi_tables import kpi_tables

    engine = store.get_engine()
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
    history = load_deal_history(engine, name)
    check_kpi_as_of(history, as_of)  # a date far past the data, or before it, as the API says
    report = compute_kpis(
        history,
        by=by.value if by else None,
        period=period.value if period else None,
        as_of=as_of,
    )
    if json_:
        print_json({"dataset": name, **report.to_dict()})
        return
    for table in kpi_tables(report):
        console.print(table)
    print_notes(report.notes)


@app.command()
@handles_errors
def datasets(json_: JsonOpt = False) -> None:
    """The datasets in the store."""
    engine = store.get_engine()
    with engine.connect() as conn:
        rows = [store.get_dataset(conn, n) for n in store.list_datasets(conn)]
    if json_:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['name']}  ({r['kind']}, updated {moment(r['updated_at'])})")
    if not rows:
        console.print("The store is empty: run `forecast import` or `forecast demo`.")


@app.command()
@handles_errors
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the export into")] = Path(
        "data/generated"
    ),
    deals: Annotated[int, typer.Option(min=1, help="How many deals")] = 5000,
    leads: Annotated[int, typer.Option(min=0, help="How many leads (0: none)")] = 5000,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same data")] = 42,
    start: Annotated[str, typer.Option(help="First creation day")] = "2023-01-01",
    end: Annotated[str, typer.Option(help="Last day, the export date")] = "2024-12-31",
    win_rate_change: Annotated[
        str | None,
        typer.Option(
            "--win-rate-change",
            help="DATE:FACTOR: deals created from DATE are won FACTOR times as often "
            "(2024-01-01:0.5 halves the win rate)",
        ),
    ] = None,
    seasonality: Annotated[
        float,
        typer.Option(
            help="Annual pattern in deal creation, amplitude 0 to <1 (most in mid-November, "
            "fewest in mid-May)"
        ),
    ] = 0.0,
    format_: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="canonical: opportunities.csv with stage_history.csv; hubspot, salesforce: "
            "one flat deal export in that CRM's shape (its columns, stages and Close Date); "
            "salesforce_api: Salesforce's Data Export (Opportunity.csv, OpportunityHistory.csv)",
        ),
    ] = ExportFormat.canonical,
    durations: Annotated[
        bool,
        typer.Option(
            "--durations",
            help="hubspot: add 'Date entered <stage>' and 'Cumulative time in <stage>' columns",
        ),
    ] = False,
) -> None:
    """Write a realistic generated pipeline (and leads) as a canonical or CRM-shaped export."""
    from forecast.data.crm_exports import crm_stages, write_crm_export
    from forecast.data.generator import generate_leads, generate_pipeline, write_export, write_leads

    crm = format_ is not ExportFormat.canonical
    if durations and format_ is not ExportFormat.hubspot:
        raise InvalidInput("--durations: only HubSpot exports carry per-stage dates and times")
    change = _date_and_factor(win_rate_change) if win_rate_change is not None else None
    pipeline = generate_pipeline(
        deals,
        seed=seed,
        start=start,
        end=end,
        win_rate_change=change,
        seasonality=seasonality,
        **({"stages": crm_stages(format_.value)} if crm else {}),
    )
    out.mkdir(parents=True, exist_ok=True)
    if crm:
        files = [write_crm_export(pipeline, out, format_.value, durations=durations, seed=seed)]
    else:
        files = write_export(pipeline, out)
    if leads:
        lead_file = out / "leads" / "leads.csv"
        lead_file.parent.mkdir(exist_ok=True)
        write_leads(generate_leads(leads, seed=seed), lead_file)
        files.append(lead_file)
    for f in files:
        console.print(f"wrote {f}")


def _date_and_factor(text: str) -> tuple[str, float]:
    """`2024-01-01:0.5` as (date, factor); the generator checks the values."""
    day, sep, factor = text.rpartition(":")
    try:
        value = float(factor)
    except ValueError:
        value = None
    if not sep or not day or value is None:
        raise InvalidInput(
            f"--win-rate-change must be DATE:FACTOR (e.g. 2024-01-01:0.5), got {text!r}"
        )
    return day, value


@app.command()
@handles_errors
def demo(
    deals: Annotated[int, typer.Option(min=1)] = 20000,
    seed: Annotated[int, typer.Option(min=0)] = 42,
) -> None:
    """Make the service usable out of the box: demo data into an empty store, models trained,
    and where to sign in with which key (made once per state folder, shown on every run)."""
    from forecast.demo import DEMO_DEALS, DEMO_LEADS, prepare_demo, sign_in_lines
    from forecast.modeling import registry
    from training.models_cli import Kind, train_and_report

    settings = get_settings()
    for line in prepare_demo(settings, deals=deals, seed=seed):
        console.print(line)
    present = _datasets(store.get_engine(settings))
    for kind, dataset in ((Kind.leads, DEMO_LEADS), (Kind.deals, DEMO_DEALS)):
        # Each dataset has its own model: a champion of another dataset (or an earlier install's
        # model without a dataset) does not count.
        if dataset in registry.champion_datasets(kind.value, settings):
            console.print(f"a {kind.value} model of '{dataset}' is champion already: not retrained")
        elif dataset in present:
            console.print(f"training the {kind.value} model on '{dataset}'...")
            train_and_report(kind, dataset, seed=seed)
    engine = store.get_engine(settings)
    if DEMO_DEALS in present:
        from forecast.forecasting import forecast_runs, track_record

        if track_record.saved_at(engine, DEMO_DEALS, "quarter") is None:
            console.print(
                "backtesting the forecast on the demo's past quarters, once (a minute or two): "
                "the dashboard then leads with the method most accurate on them..."
            )
            console.print(_demo_track_record(DEMO_DEALS, settings))
        if forecast_runs.latest_as_of(engine, DEMO_DEALS) is None:
            console.print("tracking the forecast (the dashboard's first view reads it)...")
            tracked = _track_import(engine, DEMO_DEALS, settings)
            if tracked is not None:
                console.print(f"forecast tracking: {tracked['message']}")
    for row in registry.list_models(settings):
        if "champion" in row["aliases"] and row["roc_auc"] is not None:
            ci = row.get("roc_auc_ci")
            console.print(
                f"serving {row['kind']} of '{row['dataset']}': {row['name']} v{row['version']} "
                f"({row.get('family') or 'model'}), holdout AUC {row['roc_auc']:.3f}"
                + (f" (95% CI {ci[0]:.3f}–{ci[1]:.3f})" if ci else "")
            )
    for line in sign_in_lines(settings):
        console.print(line, soft_wrap=True)  # the key whole, never wrapped mid-way


@app.command()
@handles_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Default from settings (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Default from settings (8000)")] = None,
    workers: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Serve the API and the dashboard with uvicorn."""
    import uvicorn

    settings = get_settings()
    if port is not None and not 1 <= port <= 65535:
        raise InvalidInput(f"--port must be 1–65535, got {port}")
    store.get_engine(settings)  # migrate before the workers start
    if (workers or settings.workers) > 1:  # /metrics adds up every worker's counts
        from serving.observability import prepare_multiprocess

        prepare_multiprocess(settings.state_dir)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level="info",
    )


keys_app = typer.Typer(help="API keys: create (shown once), list, revoke", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@handles_errors
def keys_create(
    role: Annotated[str, typer.Option(help="scorer (CRM), viewer (managers) or admin")],
    name: Annotated[str, typer.Option(help="Who holds it, e.g. 'HubSpot production'")],
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Bind the key to one dataset: its scoring requests score that dataset's models "
            "only (a dataset in the store or one with a champion)"
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a key. The key is printed once; only its hash is stored."""
    from forecast import keys

    settings = get_settings()
    engine = store.get_engine(settings)
    known: list[str] = []
    if dataset is not None:  # the registry is asked only for a dataset the store does not hold
        with engine.connect() as conn:
            if dataset.strip() not in store.list_datasets(conn):
                known = _champion_datasets(settings)
    with engine.begin() as conn:
        record, plain = keys.create_key(conn, role, name, dataset, known)
    if json_:
        print_json(
            {
                "id": record.id,
                "role": record.role,
                "name": record.name,
                "dataset": record.dataset,
                "key": plain,
            }
        )
    else:
        bound = f", dataset {record.dataset}" if record.dataset else ""
        console.print(
            f"key {record.id} ({record.role}, {record.name}{bound}):\n{plain}\n"
            "Store it now: it cannot be shown again."
        )


def _champion_datasets(settings: Settings) -> list[str]:
    """The datasets with a lead or deal champion, as far as the registry answers (a key may be
    bound to one that is not in the store); none when it cannot be read."""
    from forecast.errors import ForecastError
    from forecast.modeling import registry
    from forecast.modeling.registry.client import visit

    found: list[str] = []
    with visit(settings):
        for kind in ("leads", "deals"):
            try:
                found += registry.champion_datasets(kind, settings)
            except ForecastError as exc:
                err_console.print(f"could not list the {kind} champions: {exc}")
    return found


@keys_app.command("list")
@handles_errors
def keys_list(json_: JsonOpt = False) -> None:
    """Keys by id, role, name and the dataset a key is bound to (never the keys themselves)."""
    from forecast import keys

    with store.get_engine().connect() as conn:
        rows = keys.list_keys(conn)
    if json_:
        print_json(rows)
        return
    for r in rows:
        state = f"revoked {r['revoked_at']:%Y-%m-%d}" if r["revoked_at"] else "active"
        bound = f"  dataset {r['dataset']}" if r["dataset"] else ""
        console.print(f"{r['id']:>4}  {r['role']:<7} {r['prefix']}…  {r['name']}{bound}  ({state})")


@keys_app.command("revoke")
@handles_errors
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Id from `keys list`")]) -> None:
    """Revoke a key; it stops working within seconds."""
    from forecast import keys

    with store.get_engine().begin() as conn:
        record = keys.revoke_key(conn, key_id)
    console.print(f"revoked key {record.id} ({record.role}, {record.name})")


app.command("retrain")(retrain)
app.command("score")(score)
app.add_typer(train_app, name="train", help="Train and evaluate models (logged to MLflow)")
app.add_typer(models_app, name="models", help="List, show, promote and roll back models")
app.add_typer(forecast_app)  # revenue, backtest, timing: top-level commands
app.add_typer(targets_app, name="targets")

if __name__ == "__main__":  # pragma: no cover
    app()
