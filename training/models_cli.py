"""`forecast train leads|deals` and `forecast models list|show|promote|rollback`.

Two typer sub-apps, mounted by `training/cli.py`. The logic lives in
`forecast.modeling.lead_fitting` and `forecast.modeling.deal_fitting` (fit and evaluate) and
`forecast.modeling.registry` (MLflow); this module reads options, shows progress and tables.
"""

from __future__ import annotations

import logging
import warnings
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from forecast.errors import ForecastError
from forecast.formatting import moment
from forecast.settings import get_settings
from training.console import console, err_console, handles_errors, print_json
from training.model_marks import print_decision, version_cell
from training.run_data import described, print_data, print_left_out
from training.training_data import (
    Kind,
    load_training_data,
    partitioned_deals,
    partitioned_leads,
)

train_app = typer.Typer(
    help="Train and evaluate models (logged to MLflow)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="List, show, promote and roll back models (leads, deals and timing)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        "--dataset",  # as `forecast kpis`, `revenue`, `score` name a stored dataset
        help="Dataset name in the store, or a path to an export file or folder "
        "(default: the only dataset of that kind in the store); a folder of "
        "opportunities.parquet and stage_history.parquet in canonical columns is read as is, "
        "by partition with --cluster",
    ),
]
MappingOpt = Annotated[
    str | None,
    typer.Option(help="Built-in mapping name or YAML file, for a path (default: detect)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON")]
ModelDatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        help="The dataset whose model to act on (each dataset has its own; default: the only "
        "dataset with a model of that kind)",
    ),
]
SeedOpt = Annotated[int | None, typer.Option(min=0, help="Random seed (default: FORECAST_SEED)")]
PromoteOpt = Annotated[
    bool, typer.Option("--promote/--no-promote", help="Make the new model champion if it wins")
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Dask scheduler (tcp://HOST:8786) or 'local' for a LocalCluster on this machine: "
        "rows built and LightGBM fitted there (default: FORECAST_DASK_SCHEDULER, else in-process)",
    ),
]


def _quiet_mlflow() -> None:
    import mlflow  # noqa: F401 - configures its loggers on import; quiet them afterwards

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=UserWarning)


# --- loading data -------------------------------------------------------------------------------


# --- output -------------------------------------------------------------------------------------

_COLUMNS = (
    ("roc_auc", "AUC"),
    ("pr_auc", "PR AUC"),
    ("brier", "Brier"),
    ("log_loss", "LogLoss"),
    ("ece", "ECE"),
    ("top_decile_lift", "Lift10"),
    ("top_decile_capture", "Capt10"),
)


_SHOWN = {
    "stage_win_rate": "stage rate",
    "naive_bayes": "naive Bayes",
    "logistic_regression": "logistic",
    "lightgbm": "LightGBM",
    "base_rate": "base rate",
}


def _ci(values: dict[str, Any], key: str) -> str:
    """A metric's bootstrap 95% interval as "low–high" ("" where none was measured)."""
    low, high = values.get(f"{key}_ci_low"), values.get(f"{key}_ci_high")
    return "" if low is None or high is None else f"{low:.3f}–{high:.3f}"


def families_table(summary: dict[str, Any]) -> Table | None:
    """Each model family on the holdout with its intervals, and which one was registered."""
    families = summary.get("families") or {}
    if not families:
        return None
    rival = ", ".join(_SHOWN.get(r, r) for r in summary.get("rivals") or {}) or "the baselines"
    table = Table(
        title=f"model families (registered: {_SHOWN.get(summary['family'], summary['family'])})",
        box=box.SIMPLE_HEAD,
    )
    for col in ("family", "AUC", "AUC 95%", "Brier", "Brier 95%", f"really beats {rival}"):
        table.add_column(col, justify="left" if col == "family" else "right", no_wrap=True)
    for who, v in families.items():
        table.add_row(
            _SHOWN.get(who, who),
            f"{v['roc_auc']:.4f}" if v.get("roc_auc") is not None else "n/a",
            _ci(v, "roc_auc"),
            f"{v['brier']:.4f}" if v.get("brier") is not None else "n/a",
            _ci(v, "brier"),
            "yes" if v.get("beats_naive") else "no",
        )
    return table


def summary_table(summary: dict[str, Any]) -> Table:
    """The model against each baseline (and the champion) on the holdout."""
    table = Table(
        title=f"{summary['kind']}: holdout ({summary['split']['method']})", box=box.SIMPLE_HEAD
    )
    table.add_column("scorer", style="bold", no_wrap=True)
    for _, title in _COLUMNS:
        table.add_column(title, justify="right", no_wrap=True, min_width=6)
    table.add_column("AUC 95%", justify="right", no_wrap=True)
    model = summary["metrics"].get("model", {})
    family = summary.get("family")
    for who, values in summary["metrics"].items():
        cells = []
        for key, _ in _COLUMNS:
            v = values.get(key)
            cell = "n/a" if v is None else f"{v:.4f}"
            if who != "model" and key in ("roc_auc", "brier") and v is not None:
                mine = model.get(key)
                better = mine is not None and (mine > v if key == "roc_auc" else mine < v)
                cell = f"[{'green' if better else 'red'}]{cell}[/]"
            cells.append(cell)
        if who == "model":
            name = f"model ({_SHOWN.get(family, family)})" if family else who
        elif who == "champion":
            name = who
        else:  # the baselines as CRMs ship them, beside the families below
            name = f"{_SHOWN.get(who, who)} baseline"
        table.add_row(name, *cells, _ci(values, "roc_auc"))
    return table


def _print_summary(summary: dict[str, Any], out: Console) -> None:
    rows = summary["rows"]
    out.print(
        f"data {summary.get('dataset')}  fingerprint {summary['fingerprint']}  "
        f"seed {summary['seed']}  rows {rows}"
    )
    split = summary["split"]
    if split.get("cut"):
        out.print(f"holdout by time: cut {split['cut']}")
    out.print(summary_table(summary))
    families = families_table(summary)
    if families is not None:
        out.print(families)
    if summary.get("cv"):
        cv = Table(title="stratified cross-validation on the training part")
        for col in ("scorer", "ROC AUC", "Brier"):
            cv.add_column(col, justify="right" if col != "scorer" else "left")
        for who, v in summary["cv"].items():
            cv.add_row(
                who,
                f"{v['roc_auc_mean']:.4f} ± {v['roc_auc_std']:.4f}",
                f"{v['brier_mean']:.4f} ± {v['brier_std']:.4f}",
            )
        out.print(cv)
    teams = summary.get("teams") or {}
    used = [t for t, e in teams.items() if e.get("used")]
    if teams:
        out.print(
            f"per-team models: {', '.join(used) if used else 'none'} "
            f"(global model for the other {len(teams) - len(used)} team(s))"
        )
    for note in summary.get("read_notes", []):
        out.print(f"read: {note}")
    for warning in summary.get("warnings", []):
        out.print(f"[yellow]warning:[/] {warning}")
    print_left_out(summary.get("columns") or {}, out)
    for example in summary.get("examples", [])[:2]:
        out.print(f"example {example['id']} (p={example['probability']:.2f}):")
        for side in ("for", "against"):
            for r in example[side]:
                out.print(f"  {'+' if side == 'for' else '-'} {r['sentence']}")


def _print_registration(reg: dict[str, Any], out: Console) -> None:
    color = "green" if reg["promoted"] else "yellow"
    out.print(
        f"[bold]{reg['name']} v{reg['version']}[/] (dataset {reg.get('dataset')}): "
        f"[{color}]{reg['decision']}[/] "
        f"(dataset's champion before: {reg['champion_before'] or 'none'})"
    )
    for reason in reg["reasons"]:
        out.print(f"  {reason}")


# --- train --------------------------------------------------------------------------------------


def train_and_report(kind: Kind, data: str | None, *, seed: int | None = None) -> None:
    """Train, register (promoting if it wins) and print the summary: what `forecast demo` runs."""
    _train(kind, data, None, False, seed, True)


def _train(
    kind: Kind,
    data: str | None,
    mapping: str | None,
    json_: bool,
    seed: int | None,
    promote: bool,
    *,
    show: bool = True,
    cluster: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Train, register and (with `show`) print the summary, which is returned. With a `cluster`
    (or the setting), rows are built and the booster fitted on Dask; the rest runs here."""
    from forecast.cluster import dask_client, resolve
    from training.data_arg import check_not_a_path, mapping_read

    check_not_a_path(data)
    mapping_read(data, mapping)
    _quiet_mlflow()
    with dask_client(cluster) as client:
        engine = None
        if client is not None:
            from forecast.modeling.dask_training import DaskEngine

            source = partitioned_deals(client, data) if kind is Kind.deals else None
            engine = DaskEngine(client, str(resolve(cluster)), source=source)
            leads = partitioned_leads(client, data) if kind is Kind.leads else None
            if leads is not None:
                extra = {**extra, "frames": leads}
        return _train_with(kind, data, mapping, json_, seed, promote, show, engine, extra)


def _train_with(
    kind: Kind,
    data: str | None,
    mapping: str | None,
    json_: bool,
    seed: int | None,
    promote: bool,
    show: bool,
    engine: Any,
    extra: dict[str, Any],
) -> dict[str, Any]:
    from forecast.modeling import deal_fitting, lead_fitting, registry

    settings = get_settings()
    shown = err_console if json_ else console
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=shown,
        transient=True,
    ) as bar:
        task = bar.add_task("reading the data", total=None)

        def step(text: str) -> None:
            bar.update(task, description=text)

        source = getattr(engine, "source", None)
        if "frames" in extra:  # leads read by partition on the cluster
            frames = extra.pop("frames")
        elif source is not None:
            frames = {
                "dataset": source.summary.name,
                "history": source.summary,
                "field_names": source.field_names,
            }
        else:
            frames = load_training_data(data, mapping, kind, settings)
        step("loading the dataset's current champion")
        try:  # only this dataset's: a model is never weighed against another dataset's
            dataset = frames["dataset"] or registry.NO_DATASET
            champion = registry.load_champion(kind.value, settings, dataset=dataset)
        except ForecastError:
            champion = None
        incumbent = champion.model if champion else None
        if kind is Kind.leads:
            result = lead_fitting.train_leads(
                frames["leads"],
                leak_columns=frames["leak_columns"],
                settings=settings,
                seed=seed,
                incumbent=incumbent,
                dataset=frames["dataset"],
                progress=step,
                engine=engine,
                notation=frames.get("notation"),
                date_formats=frames.get("date_formats") or (),
                outcome_days=frames.get("outcome_days"),
                **extra,
            )
        else:
            history = frames["history"]
            if extra.get("include_leaks"):
                history = history.keeping_all()
            result = deal_fitting.train_deals(
                history,
                settings=settings,
                seed=seed,
                incumbent=incumbent,
                field_names=frames["field_names"],
                dataset=frames["dataset"],
                progress=step,
                engine=engine,
                notation=frames.get("notation"),
            )
        if kind is Kind.leads and frames.get("options"):  # served, a CRM's lead is read as the
            result.model.export_options_ = frames["options"]  # file was (`read_as_imported`)
        step("logging to MLflow and registering")
        # Leaky columns kept: its holdout figures flatter it, so it never serves by itself.
        leaky = bool(extra.get("include_leaks"))
        if leaky:
            result.params["include_leaks"] = True  # logged with the run's params
        reg = registry.log_training(
            result,
            settings,
            promote=promote and not leaky,
            champion_version_scored=champion.version if champion else None,
            data=described(kind, frames, data, engine),
        )
        if leaky and promote:
            reg.reasons.append(
                "not promoted by itself: trained with --include-leaks, its holdout figures "
                f"flatter it (`forecast models promote {kind.value} --version {reg.version}"
                f"{' --dataset ' + reg.dataset if reg.dataset != registry.NO_DATASET else ''}` "
                "makes it champion if you mean to serve it)"
            )
    summary = result.summary()
    summary["read_notes"] = frames.get("read_notes") or []  # a file's; none from the store
    summary["registration"] = reg.to_dict()
    if not show:
        return summary
    if json_:
        print_json(summary)
        return summary
    _print_summary(summary, console)
    _print_registration(summary["registration"], console)
    return summary


@train_app.command("leads")
@handles_errors
def train_leads(
    data: DataOpt = None,
    mapping: MappingOpt = None,
    json_: JsonOpt = False,
    seed: SeedOpt = None,
    promote: PromoteOpt = True,
    include_leaks: Annotated[
        bool,
        typer.Option(
            "--include-leaks",
            help="Keep the columns declared as leaking and those the outcome wrote (metrics "
            "will flatter)",
        ),
    ] = False,
    cv: Annotated[bool, typer.Option("--cv/--no-cv", help="Cross-validate where no dates")] = True,
    cluster: ClusterOpt = None,
) -> None:
    """Train the lead-qualification model against naive Bayes and logistic regression."""
    _train(
        Kind.leads,
        data,
        mapping,
        json_,
        seed,
        promote,
        cluster=cluster,
        include_leaks=include_leaks,
        cross_validate=cv,
    )


@train_app.command("deals")
@handles_errors
def train_deals(
    data: DataOpt = None,
    mapping: MappingOpt = None,
    json_: JsonOpt = False,
    seed: SeedOpt = None,
    promote: PromoteOpt = True,
    include_leaks: Annotated[
        bool,
        typer.Option(
            "--include-leaks",
            help="Keep fields the export-state leak check leaves out (fields "
            "whose blankness or values give away which deals were open at the export)",
        ),
    ] = False,
    cluster: ClusterOpt = None,
) -> None:
    """Train the close-probability model on as-of snapshots, with a holdout by time."""
    _train(
        Kind.deals,
        data,
        mapping,
        json_,
        seed,
        promote,
        cluster=cluster,
        include_leaks=include_leaks,
    )


# --- models -------------------------------------------------------------------------------------


class ModelKind(StrEnum):
    """The kinds of registered model `forecast models` manages: the two scorers, and the
    time-to-close model `forecast timing` trains."""

    leads = "leads"
    deals = "deals"
    timing = "timing"


KIND_HELP = "leads, deals or timing (the time-to-close model)"


@models_app.command("list")
@handles_errors
def list_(json_: JsonOpt = False) -> None:
    """Every registered version (leads, deals and timing), with its aliases, when it was
    trained and its holdout ROC AUC (a timing model's concordance) and Brier; one trained with
    --include-leaks is marked "(leaks kept)" (`leaks_kept` in --json)."""
    from forecast.modeling import registry

    _quiet_mlflow()
    rows = registry.list_models(get_settings())
    if json_:
        print_json(rows)
        return
    if not rows:
        console.print(
            "no models registered yet: run `forecast train leads|deals` or `forecast timing`"
        )
        return
    table = Table(title="registered models")
    columns = ("kind", "dataset", "name", "version", "aliases", "trained (UTC)", "family")
    for col in (*columns, "ROC AUC", "AUC 95%", "concordance", "Brier"):
        table.add_column(col)
    for r in rows:
        ci = r.get("roc_auc_ci")
        table.add_row(
            r["kind"],
            r["dataset"],
            r["name"],
            version_cell(r),  # "3 (leaks kept)": trained with --include-leaks
            ", ".join(r["aliases"]),
            moment(r.get("trained_at"), zone=False),
            r.get("family") or "",
            _number(r["roc_auc"]),
            "" if not ci else f"{ci[0]:.3f}–{ci[1]:.3f}",
            _number(r.get("concordance")),
            _number(r["brier"]),
        )
    console.print(table)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@models_app.command("show")
@handles_errors
def show(
    kind: Annotated[ModelKind, typer.Argument(help=KIND_HELP)],
    version: Annotated[str | None, typer.Option(help="Version (default: the champion)")] = None,
    dataset: ModelDatasetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """One model version: metrics against the baselines, parameters, and its promotion decision."""
    from forecast.modeling import registry
    from forecast.modeling.registry.inputs import logged_inputs

    _quiet_mlflow()
    info = registry.show_model(kind.value, version, get_settings(), dataset=dataset, notes=True)
    info["inputs"] = logged_inputs(info["run_id"])  # the data it learnt from, where logged
    if json_:
        print_json(info)
        return
    console.print(
        f"[bold]{info['name']} v{info['version']}[/] dataset {info['dataset']}  "
        f"aliases: {', '.join(info['aliases']) or 'none'}  run {info['run_id']}"
        + (f"  family {info['family']}" if info.get("family") else "")
        + (f"  trained {moment(info['trained_at'])}" if info.get("trained_at") else "")
    )
    print_data(info, console)
    table = Table(title="holdout")
    # The gate's metrics of its kind: ROC AUC and Brier for a scorer, concordance and Brier for
    # the time-to-close model.
    names = list(dict.fromkeys(m for v in info["metrics"].values() for m in v))
    table.add_column("scorer")
    for name in names:
        table.add_column(METRIC_TITLES.get(name, name))
        table.add_column(f"{METRIC_TITLES.get(name, name)} 95%")
    logged = info.get("all_metrics") or {}
    for who, v in info["metrics"].items():
        own = {k[len(who) + 1 :]: x for k, x in logged.items() if k.startswith(f"{who}_")}
        cells = [(_number(v.get(name)), _ci(own, name)) for name in names]
        table.add_row(who, *(text for pair in cells for text in pair))
    console.print(table)
    console.print(f"decision: {info['decision']}")
    console.print(f"champion history: {info['champion_history']}")
    for said in info.get("warnings", []):
        console.print(f"training said: {said}", markup=False)
    print_left_out(info.get("columns") or {}, console)


#: How `models show` titles a gate metric.
METRIC_TITLES = {"roc_auc": "ROC AUC", "brier": "Brier", "concordance": "concordance"}


@models_app.command("promote")
@handles_errors
def promote_(
    kind: Annotated[ModelKind, typer.Argument(help=KIND_HELP)],
    version: Annotated[str | None, typer.Option(help="Version (default: the candidate)")] = None,
    dataset: ModelDatasetOpt = None,
) -> None:
    """Make a version champion if it beats its dataset's champion and every baseline; says why
    or why not (and first, for one trained with --include-leaks, that its figures flatter it)."""
    from forecast.modeling import registry

    _quiet_mlflow()
    decision = registry.promote(kind.value, version, get_settings(), dataset=dataset)
    print_decision(decision, console)  # a version trained with its leaks kept: said first
    if not decision.promote:
        raise typer.Exit(1)


@models_app.command("rollback")
@handles_errors
def rollback(
    kind: Annotated[ModelKind, typer.Argument(help=KIND_HELP)],
    dataset: ModelDatasetOpt = None,
) -> None:
    """Give `champion` of a dataset's model back to its previous champion."""
    from forecast.modeling import registry

    _quiet_mlflow()
    settings = get_settings()
    version = registry.rollback(kind.value, settings, dataset=dataset)
    chosen = dataset or registry.show_model(kind.value, version, settings)["dataset"]
    console.print(f"champion of {kind.value} (dataset {chosen}) is now version {version}")
