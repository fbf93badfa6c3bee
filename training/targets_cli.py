"""`forecast targets`: targets (quotas) per group and period — import a CSV, set one, list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from forecast.formatting import moment
from training.console import console, handles_errors, print_json

targets_app = typer.Typer(
    help="Targets (quotas) per team, rep, product, region or in total", no_args_is_help=True
)

DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset", "-d", help="Dataset in the store (default: the only opportunities dataset)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]


@targets_app.command("import")
@handles_errors
def import_(
    path: Annotated[Path, typer.Argument(help="CSV with level,name,period,amount[,currency]")],
    dataset: DatasetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Load targets from a CSV in one transaction: any bad row writes nothing, each named."""
    from forecast.data import store
    from forecast.forecasting import targets

    written = targets.import_targets(store.get_engine(), path, dataset=dataset)
    if json_:
        print_json(written.to_dict())
        return
    console.print(
        f"{written.dataset}: {written.inserted} new, {written.changed} changed, "
        f"{written.unchanged} unchanged target(s)"
    )


@targets_app.command("set")
@handles_errors
def set_(
    level: Annotated[str, typer.Option(help="all, team, rep, product or region")],
    period: Annotated[str, typer.Option(help="2017 (year), 2017-Q3 (quarter) or 2017-07")],
    amount: Annotated[float, typer.Option(help="Revenue to win in the period")],
    name: Annotated[str, typer.Option(help="The group as the deals name it")] = "total",
    currency: Annotated[str | None, typer.Option(help="Default: the deals' currency")] = None,
    dataset: DatasetOpt = None,
) -> None:
    """Set one target (replacing the one for the same group and period)."""
    from forecast.data import store
    from forecast.forecasting import targets

    written = targets.set_targets(
        store.get_engine(),
        [{"level": level, "name": name, "period": period, "amount": amount, "currency": currency}],
        dataset=dataset,
        where="target",
    )
    t = written.targets[0]
    state = "new" if written.inserted else "changed" if written.changed else "unchanged"
    console.print(
        f"{written.dataset}: {t.level} {t.name!r} {t.period}: "
        f"{t.amount:,.0f} {t.currency} ({state})"
    )


@targets_app.command("list")
@handles_errors
def list_(
    period: Annotated[str | None, typer.Option(help="Only this period")] = None,
    level: Annotated[str | None, typer.Option(help="Only this level")] = None,
    dataset: DatasetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The stored targets by period, level and name."""
    from forecast.data import store
    from forecast.forecasting import targets

    name, rows = targets.list_targets(
        store.get_engine(), dataset=dataset, period=period, level=level
    )
    if json_:
        print_json({"dataset": name, "targets": [t.to_dict() for t in rows]})
        return
    table = Table(title=f"Targets ({name})", box=box.SIMPLE_HEAD)
    for head in ("period", "level", "name", "amount", "currency", "updated (UTC)"):
        table.add_column(head, justify="right" if head == "amount" else "left")
    for t in rows:
        table.add_row(
            t.period,
            t.level,
            t.name,
            f"{t.amount:,.0f}",
            t.currency,
            moment(t.updated_at, zone=False),
        )
    console.print(table if rows else f"{name}: no targets yet (forecast targets import FILE)")
